#!/usr/bin/env bash
# fuzz/run.sh - builds the libFuzzer targets with clang in build-fuzz/ and runs each one for a
# bounded time over a scratch copy of its committed corpus; exits non-zero on any finding.
#
# Usage: fuzz/run.sh [seconds-per-target]        (default 20)
#   HOCVU_FUZZ_TARGETS="event query"  run only these targets
#   HOCVU_FUZZ_BUILD=DIR              build directory (default <repo>/build-fuzz)
# A crash, sanitizer report, broken invariant, timeout or OOM leaves the input in
# $BUILD/fuzz-artifacts/<target>/ and the log in $BUILD/fuzz-logs/<target>.log; reproduce with
#   $BUILD/fuzz/fuzz_<target> $BUILD/fuzz-artifacts/<target>/crash-...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-20}
build=${HOCVU_FUZZ_BUILD:-$root/build-fuzz}
targets=${HOCVU_FUZZ_TARGETS:-"signature event citizen ward query ndjson csv time validate frame targets jcs cohorts"}
cc=${HOCVU_FUZZ_CC:-clang}

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
    echo "usage: fuzz/run.sh [seconds-per-target]" >&2
    exit 2
fi
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz/run.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

# CC only matters when the build directory is first configured; an existing cache keeps its
# compiler, so refuse a cache made with another one rather than silently build without libFuzzer.
if [[ -f "$build/CMakeCache.txt" ]] &&
    ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang[^/]*$' "$build/CMakeCache.txt"; then
    echo "fuzz/run.sh: $build was configured with a compiler other than clang; remove it" >&2
    exit 1
fi
CC=$cc cmake -S "$root" -B "$build" -DHOCVU_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_all -j "$(nproc)" >/dev/null

# Scratch corpora: libFuzzer adds every new input to the first corpus directory, and the
# committed seeds must stay a small reviewed set.
scratch="$build/fuzz-corpus"
rm -rf "$scratch" "$build/fuzz-artifacts" "$build/fuzz-logs"
mkdir -p "$scratch" "$build/fuzz-artifacts" "$build/fuzz-logs"

failed=()
printf '%-10s %10s %10s %8s  %s\n' target execs exec/s corpus result
for t in $targets; do
    bin="$build/fuzz/fuzz_$t"
    [[ -x "$bin" ]] || { echo "fuzz/run.sh: no target $t" >&2; exit 2; }
    cp -R "$root/fuzz/corpus/$t" "$scratch/$t"
    mkdir -p "$build/fuzz-artifacts/$t"
    log="$build/fuzz-logs/$t.log"
    dict=()
    [[ -f "$root/fuzz/$t.dict" ]] && dict=(-dict="$root/fuzz/$t.dict")
    rc=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or blow-up is a finding.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" "$scratch/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$t/" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    files=$(find "$scratch/$t" -type f | wc -l)
    if [[ $rc -eq 0 ]] && ! ls "$build/fuzz-artifacts/$t/"* >/dev/null 2>&1; then
        result=ok
    else
        result="FAILED (exit $rc, see $log)"
        failed+=("$t")
    fi
    printf '%-10s %10s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$files" "$result"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    for t in "${failed[@]}"; do
        echo "---- $t: $(ls "$build/fuzz-artifacts/$t/" 2>/dev/null | tr '\n' ' ')" >&2
        grep -E -m 20 'ERROR|invariant failed|SUMMARY|runtime error|#[0-9]+ 0x' \
            "$build/fuzz-logs/$t.log" >&2 || tail -20 "$build/fuzz-logs/$t.log" >&2
    done
    echo "fuzz/run.sh: findings in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz/run.sh: all targets clean (${seconds}s each)"
