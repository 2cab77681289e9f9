#!/usr/bin/env bash
# bench/run.sh - hocvu's standard benchmark suite (issue 4). Builds (Release) into
# build-bench/, starts its own throwaway PostgreSQL and Redis on private loopback ports, and for
# every measurement starts a fresh hocvud on a free port and, back to back in the same run, the
# reference (bench/ceiling, the minimal libevent responder; or dbceiling, the service's batched
# SQL run directly), so every figure comes with a ratio that survives a noisy machine. Writes
# bench/RESULTS.md (results table, exact commands, machine, CPU split) and removes everything it
# started on exit.
#
# Usage: bench/run.sh [--quick] [--out FILE] [--keep]
#   --quick     smoke test: every step ~3 s, a 99,600-event replay, tables of 0/50k/250k rows
#   --out FILE  where to write the report (default bench/RESULTS.md)
#   --keep      keep the work directory (JSON of every run, logs) instead of deleting it
#
# The suite (full mode; durations in brackets):
#   a. single-event max throughput: hocvu-bench --max, 64 connections [15 s], then the same
#      against bench/ceiling and the two Node peers of ../shared/peers (node-batched, group
#      commit; node-naive, a transaction per event), each on a fresh database of its own
#   b. open-loop latency at 25/50/75 % of a's maximum (hocvu-bench --rate) [10 s each], and the
#      ceiling at the same rates; node-batched at 50 %
#   c. batch ingest: hocvu-bench --batch 1000 and --batch 100, 4 connections [10 s each]; the
#      ceiling with --batch 1000; dbceiling with batches of 1000 and 100 (one connection per
#      hocvud event loop, as the service's writers) [10 s each]
#   d. city replay: 996,000 events through the batch endpoint (--batch 1000 --events 996000
#      --verify) into empty tables, then hocvuctl reconcile
#   e. GET /v1/progress --max, 64 connections [10 s], and the ceiling
#   f. hocvud RSS (VmHWM of /proc/PID/status) of every hocvud run
#   g. single-event max throughput [10 s] with 0, 1 M and 5 M stored certificates (bulk-loaded
#      with SQL consistent with the schema, checked by hocvuctl reconcile), with the ceiling
#   h. at each of those sizes: the as-of ward report (GET /v1/reports/wards.csv?as_of=today)
#      and `hocvuctl report freeze` as of today
#   i. single-event max throughput [10 s] of this build and of HOCVU_BENCH_BASELINE's hocvud
#      (a git revision, default 60740f5, the last before issue 12), alternating, 2 rounds each
#   j. 5,000 cohorts with 500,000 members: single-event max [10 s] twice without and twice with
#      them, the cohort read model's rebuild time, the pending list of a 10,000-member cohort
#
# Database settings: PostgreSQL 15 defaults for durability (fsync=on, synchronous_commit=on,
# full_page_writes=on, wal_level=replica): every acknowledged event is flushed to the WAL on
# disk. Raised modestly: shared_buffers=256MB (default 128MB), max_wal_size=2GB (default 1GB).
# Redis: no persistence (--save '' --appendonly no), as it is only a fast path.
#
# Environment: HOCVU_BENCH_PEERS (the peers' folder, default ../shared/peers beside the
# checkout; the peers are skipped, and the report says so, when it or node/npm is missing),
# HOCVU_BENCH_THREADS (hocvu-bench event loops, default 2 so the load generator is
# not the limit of the ceiling), HOCVU_BENCH_PORT_BASE (first port to probe, default random
# 20000-29999); HOCVU_THREADS, HOCVU_EVENT_WRITERS and HOCVU_BATCH_MAX pass through to hocvud
# and are recorded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0
KEEP=0
OUT=$ROOT/bench/RESULTS.md
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    --out)
        [[ $# -ge 2 ]] || { echo "run.sh: --out needs a file" >&2; exit 2; }
        OUT=$2
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown option $1 (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
[[ "$OUT" == /* ]] || OUT=$PWD/$OUT

if [[ $QUICK -eq 1 ]]; then
    D_MAX=3 D_RATE=3 D_BATCH=3 D_GET=3 D_SIZE=3
    REPLAY=99600 REPLAY_CAP=60
    SIZES=(0 50000 250000)
    FILL_CHUNK=25000
else
    D_MAX=15 D_RATE=10 D_BATCH=10 D_GET=10 D_SIZE=10
    REPLAY=996000 REPLAY_CAP=240
    SIZES=(0 1000000 5000000)
    FILL_CHUNK=250000
fi
CONNS=64
BATCH_CONNS=4
NPROC=$(nproc)
BENCH_THREADS=${HOCVU_BENCH_THREADS:-2}
CLK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RUN_STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T_START=$(date +%s)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "run.sh: $*"
    exit 1
}

# --- build ----------------------------------------------------------------------------------
# What is built, recorded now: the tree may change while the suite runs.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c . || true)
BUILD=$ROOT/build-bench
BUILD_CMD="cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench -j"
log "building: $BUILD_CMD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$NPROC" >/dev/null
for bin in hocvud hocvuctl hocvu-bench ceiling dbceiling; do
    [[ -x "$BUILD/$bin" ]] || die "build did not produce $BUILD/$bin"
done

PGBINS=(/usr/lib/postgresql/*/bin)
PGBIN=$(printf '%s\n' "${PGBINS[@]}" | sort -V | tail -n 1)
[[ -x "$PGBIN/initdb" ]] || PGBIN=$(pg_config --bindir)
command -v redis-server >/dev/null || die "redis-server not found (scripts/deps.sh installs it)"
command -v curl >/dev/null || die "curl not found (scripts/deps.sh installs it)"

# --- work directory and cleanup ---------------------------------------------------------------
# Under /var/tmp so that the postgres user (PostgreSQL refuses to run as root) can reach it.
WORK=$(mktemp -d /var/tmp/hocvu-bench.XXXXXX)
chmod 755 "$WORK"
J=$WORK/json
L=$WORK/logs
mkdir -p "$J" "$L"
PGDATA_DIR=$WORK/pg/data
as_pg() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

SVC_PID=
REDIS_PID=
PG_STARTED=0
# shellcheck disable=SC2317 # called by the traps
cleanup() {
    trap - EXIT INT TERM
    if [[ -n "$SVC_PID" ]] && kill -0 "$SVC_PID" 2>/dev/null; then
        kill -TERM "$SVC_PID" 2>/dev/null || true
        wait "$SVC_PID" 2>/dev/null || true
    fi
    if [[ $PG_STARTED -eq 1 ]]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    if [[ $KEEP -eq 1 ]]; then
        log "kept $WORK (JSON of every run in json/, logs in logs/)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports --------------------------------------------------------------------------------------
# Below the kernel's ephemeral range (ip_local_port_range, 32768+ by default), where an outgoing
# connection's source port could take a port that looked free.
PORT_NEXT=${HOCVU_BENCH_PORT_BASE:-$((20000 + RANDOM % 10000))}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Sets FREE_PORT to a free loopback port (never the same one twice in a run).
free_port() {
    local i
    for ((i = 0; i < 500; i++)); do
        PORT_NEXT=$((PORT_NEXT + 1))
        ((PORT_NEXT < 32700)) || PORT_NEXT=20001
        if ! port_busy "$PORT_NEXT"; then
            FREE_PORT=$PORT_NEXT
            return 0
        fi
    done
    die "no free port found"
}

# --- PostgreSQL and Redis -----------------------------------------------------------------------
PG_OPTS="-c shared_buffers=256MB -c max_wal_size=2GB"
mkdir -p "$WORK/pg"
[[ "$(id -u)" -eq 0 ]] && chown postgres: "$WORK/pg"
chmod 700 "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    >"$L/initdb.log" 2>&1 || die "initdb failed (see $L/initdb.log)"
free_port
PGPORT=$FREE_PORT
PG_STARTED=1
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/pg/postgres.log" -w -t 60 \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' $PG_OPTS" \
    start >/dev/null || die "PostgreSQL did not start (see $WORK/pg/postgres.log)"
PG_PM=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
DBURL="postgresql://postgres@127.0.0.1:$PGPORT/hocvu"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DBURL")
psql -X -q -d "postgresql://postgres@127.0.0.1:$PGPORT/postgres" -c 'CREATE DATABASE hocvu'
PG_SETTINGS=$("${PSQL[@]}" -At -F'=' -c "SELECT name, current_setting(name) FROM pg_settings
    WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level',
                   'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'max_connections')
    ORDER BY name" | tr '\n' ' ')

free_port
REDISPORT=$FREE_PORT
mkdir -p "$WORK/redis"
redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/redis" >"$L/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do
    [[ "$(redis-cli -p "$REDISPORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.1
done
[[ "$(redis-cli -p "$REDISPORT" ping 2>/dev/null)" == PONG ]] || die "Redis did not start"
REDISURL="redis://127.0.0.1:$REDISPORT/0"

"$BUILD/hocvuctl" --database-url "$DBURL" migrate >/dev/null
"$BUILD/hocvuctl" --database-url "$DBURL" wards import data/cantho_wards_2025.csv >/dev/null
"$BUILD/hocvuctl" --database-url "$DBURL" wards import-legacy data/cantho_old_units_pre2025.csv \
    >/dev/null
SECRET=$("$BUILD/hocvuctl" gen-secret | tr -d '[:space:]')
PEPPER=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')
log "PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT, work dir $WORK"

# The Node peers (../shared/peers), installed into the work directory (the folder itself is not
# written to), each with a database of its own on the same server and Redis database 1.
PEERS_SRC=${HOCVU_BENCH_PEERS:-$ROOT/../shared/peers}
PEERS=()
PEERS_NOTE=
if [[ ! -f "$PEERS_SRC/node-batched/server.js" ]]; then
    PEERS_NOTE="not measured: no peers at $PEERS_SRC (HOCVU_BENCH_PEERS)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PEERS_NOTE="not measured: node or npm is missing"
else
    for peer in node-batched node-naive; do
        cp -r "$PEERS_SRC/$peer" "$WORK/$peer"
        if (cd "$WORK/$peer" && npm ci --no-audit --no-fund --loglevel=error) \
            >"$L/npm-$peer.log" 2>&1; then
            PEERS+=("$peer")
            psql -X -q -d "postgresql://postgres@127.0.0.1:$PGPORT/postgres" \
                -c "CREATE DATABASE \"peer_$peer\""
        else
            PEERS_NOTE+="$peer: npm ci failed (see npm-$peer.log); "
            FAILED+=("peer $peer: npm ci failed")
        fi
    done
fi
[[ -z "$PEERS_NOTE" ]] || log "peers: $PEERS_NOTE"

# Empties the event tables (wards stay) and Redis, and checkpoints, so a step starts clean.
reset_data() {
    "${PSQL[@]}" -c 'TRUNCATE event_ledger, certificates, revocations, persons, counters' \
        -c 'CHECKPOINT'
    redis-cli -p "$REDISPORT" flushall >/dev/null
}

# --- services -----------------------------------------------------------------------------------
SVC_KIND=
SVC_URL=

# Starts a fresh hocvud on a free port (SVC_PID, SVC_URL); another port if that one was taken.
start_hocvud() {
    for _ in 1 2 3; do
        try_start_hocvud "$1" && return 0
        grep -q 'could not listen' "$L/hocvud-$1.log" 2>/dev/null || break
        log "hocvud could not listen (port taken meanwhile); another port"
    done
    die "hocvud did not become ready (see $L/hocvud-$1.log)"
}
try_start_hocvud() {
    local name=$1 port
    free_port
    port=$FREE_PORT
    local envs=(PATH="$PATH" HOCVU_LISTEN="127.0.0.1:$port" HOCVU_DATABASE_URL="$DBURL"
        HOCVU_REDIS_URL="$REDISURL" HOCVU_WEBHOOK_SECRETS="$SECRET" HOCVU_ID_PEPPER="$PEPPER"
        HOCVU_ADMIN_TOKENS="$ADMIN_TOKEN")
    [[ -n "${HOCVU_THREADS:-}" ]] && envs+=(HOCVU_THREADS="$HOCVU_THREADS")
    [[ -n "${HOCVU_EVENT_WRITERS:-}" ]] && envs+=(HOCVU_EVENT_WRITERS="$HOCVU_EVENT_WRITERS")
    [[ -n "${HOCVU_BATCH_MAX:-}" ]] && envs+=(HOCVU_BATCH_MAX="$HOCVU_BATCH_MAX")
    env -i "${envs[@]}" "${HOCVUD_BIN:-$BUILD/hocvud}" >"$L/hocvud-$name.log" 2>&1 &
    SVC_PID=$!
    SVC_KIND=hocvud
    SVC_URL="http://127.0.0.1:$port"
    for _ in $(seq 150); do
        curl -sf -o /dev/null "$SVC_URL/readyz" && return 0
        kill -0 "$SVC_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
    SVC_PID=
    return 1
}
# Starts bench/ceiling with one event loop per CPU, as hocvud.
start_ceiling() {
    local port
    free_port
    port=$FREE_PORT
    "$BUILD/ceiling" --listen "127.0.0.1:$port" --threads "$NPROC" >"$L/ceiling.log" 2>&1 &
    SVC_PID=$!
    SVC_KIND=ceiling
    SVC_URL="http://127.0.0.1:$port"
    for _ in $(seq 100); do
        port_busy "$port" && return 0
        sleep 0.05
    done
    die "ceiling did not start"
}
# Starts a Node peer (NAME = node-batched | node-naive) with one worker per CPU on a free port,
# on its own emptied database (its tables created by the peer, then the current ward codes) and
# an emptied Redis database 1.
start_peer() {
    local peer=$1 port db
    db="postgresql://postgres@127.0.0.1:$PGPORT/peer_$peer"
    free_port
    port=$FREE_PORT
    psql -X -q -d "$db" -c 'DROP TABLE IF EXISTS peer_wards, peer_certs, peer_events' \
        -c 'CHECKPOINT'
    redis-cli -p "$REDISPORT" -n 1 flushdb >/dev/null
    (cd "$WORK/$peer" && exec env PORT="$port" WORKERS="$NPROC" PGURL="$db" \
        REDIS_URL="redis://127.0.0.1:$REDISPORT/1" SECRET="$SECRET" PEPPER="$PEPPER" \
        node server.js) >"$L/$peer.log" 2>&1 &
    SVC_PID=$!
    SVC_KIND=$peer
    SVC_URL="http://127.0.0.1:$port"
    for _ in $(seq 150); do
        curl -sf -o /dev/null "$SVC_URL/v1/progress" && break
        kill -0 "$SVC_PID" 2>/dev/null || break
        sleep 0.1
    done
    curl -sf -o /dev/null "$SVC_URL/v1/progress" || die "$peer did not start (see $L/$peer.log)"
    tail -n +2 data/cantho_wards_2025.csv | cut -d, -f1 |
        psql -X -q -d "$db" -c 'COPY peer_wards (code) FROM STDIN'
}
# Stops the service; for hocvud records its peak RSS (VmHWM, KiB) as HWM[name].
declare -A HWM
stop_service() {
    local name=${1:-}
    if [[ "$SVC_KIND" == hocvud && -n "$name" ]]; then
        HWM[$name]=$(awk '/^VmHWM:/ {print $2}' "/proc/$SVC_PID/status" 2>/dev/null || echo 0)
    fi
    local kids
    kids=$(ps -o pid= --ppid "$SVC_PID" 2>/dev/null || true)
    kill -TERM "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
    # (a peer's cluster workers, should they outlive their primary)
    # shellcheck disable=SC2086 # a list of pids
    [[ -z "$kids" ]] || kill -TERM $kids 2>/dev/null || true
    SVC_PID=
}

# --- CPU accounting (/proc, clock ticks) --------------------------------------------------------
# utime+stime of a process; with "all" also of its waited-for children (cutime+cstime).
ticks_of() {
    local s mode=${2:-}
    s=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo 0
        return
    }
    s=${s##*) }
    # shellcheck disable=SC2086 # split the fields on purpose
    set -- $s
    if [[ "$mode" == all ]]; then
        echo $((${12} + ${13} + ${14} + ${15}))
    else
        echo $((${12} + ${13}))
    fi
}
# The service and its children (a Node peer's cluster workers).
svc_ticks() {
    local t pid
    [[ -n "$SVC_PID" ]] || {
        echo 0
        return
    }
    t=$(ticks_of "$SVC_PID")
    for pid in $(ps -o pid= --ppid "$SVC_PID"); do
        t=$((t + $(ticks_of "$pid")))
    done
    echo "$t"
}
# Every PostgreSQL process: the postmaster, its live children and the children that exited.
pg_ticks() {
    local t pid
    t=$(ticks_of "$PG_PM" all)
    for pid in $(ps -o pid= --ppid "$PG_PM"); do
        t=$((t + $(ticks_of "$pid")))
    done
    echo "$t"
}
# Busy and total ticks of the whole machine (all CPUs).
machine_ticks() {
    local _cpu u n s i w x y z rest
    read -r _cpu u n s i w x y z rest </proc/stat
    echo "$((u + n + s + x + y + z)) $((u + n + s + i + w + x + y + z))"
}

# --- measurements -------------------------------------------------------------------------------
CMDS=()
FAILED=()
declare -A CPU CPU_US
# measure NAME TIMEOUT_S CMD...: runs a load command with --json output into $J/NAME.json and
# records its command line, and the CPU used meanwhile by the service, PostgreSQL, Redis, the
# load generator itself and everything else on the machine.
measure() {
    local name=$1 tmo=$2
    shift 2
    local shown="$*" rc=0
    shown=${shown//"$SECRET"/\$SECRET}
    shown=${shown//"$BUILD"\//build-bench/}
    CMDS+=("$name|$SVC_KIND|$shown")
    log "$name: $shown"
    local svc0 pg0 rd0 m0 svc1 pg1 rd1 m1
    svc0=$(svc_ticks)
    pg0=$(pg_ticks)
    local kids0
    kids0=" $(ps -o pid= --ppid "$PG_PM" | tr -s '\n ' ' ') "
    rd0=$(ticks_of "$REDIS_PID")
    m0=$(machine_ticks)
    local TIMEFORMAT='%3R %3U %3S'
    { time timeout --kill-after=10 "$tmo" "$@" >"$J/$name.json" 2>"$L/$name.err"; } \
        2>"$L/$name.time" || rc=$?
    svc1=$(svc_ticks)
    rd1=$(ticks_of "$REDIS_PID")
    m1=$(machine_ticks)
    # Backends that the command opened are reaped (and their time added to the postmaster's
    # cutime) only once they have exited: wait up to 3 s for them.
    local i pid new
    for ((i = 0; i < 30; i++)); do
        new=0
        for pid in $(ps -o pid= --ppid "$PG_PM"); do
            [[ "$kids0" == *" $pid "* ]] || new=1
        done
        [[ $new -eq 0 ]] && break
        sleep 0.1
    done
    pg1=$(pg_ticks)
    local tline
    tline=$(tail -n 1 "$L/$name.time")
    CPU[$name]=$(awk -v svc=$((svc1 - svc0)) -v pg=$((pg1 - pg0)) -v rd=$((rd1 - rd0)) \
        -v b0="${m0% *}" -v a0="${m0#* }" -v b1="${m1% *}" -v a1="${m1#* }" -v clk="$CLK" \
        -v t="$tline" 'BEGIN {
            split(t, f, " "); bench = (f[2] + f[3]) * clk; busy = b1 - b0; all = a1 - a0;
            if (all <= 0) all = 1;
            other = busy - svc - pg - rd - bench; if (other < 0) other = 0;
            printf "%.1f %.0f %.0f %.0f %.0f %.0f %.0f", f[1], 100*svc/all, 100*pg/all,
                   100*rd/all, 100*bench/all, 100*other/all, 100*(all-busy)/all }')
    # CPU time in µs of the service, PostgreSQL and Redis, for the cost per event.
    CPU_US[$name]="$(((svc1 - svc0) * 1000000 / CLK)) $(((pg1 - pg0) * 1000000 / CLK)) $(((rd1 - rd0) * 1000000 / CLK))"
    if [[ $rc -ne 0 ]]; then
        FAILED+=("$name (exit $rc: $(tail -n 2 "$L/$name.err" | tr '\n' ' '))")
        log "$name FAILED with exit status $rc; see $L/$name.err"
    fi
    return 0
}

# JSON fields of a run (the keys read here are unique in hocvu-bench's and dbceiling's output).
jnum() { { grep -o "\"$2\":[-0-9.eE+]*" "$J/$1.json" 2>/dev/null || true; } | head -n 1 | cut -d: -f2; }
jstr() { { grep -o "\"$2\":\"[^\"]*\"" "$J/$1.json" 2>/dev/null || true; } | head -n 1 | cut -d'"' -f4; }
calc() { awk "BEGIN { printf \"$1\", $2 }" 2>/dev/null || echo "n/a"; }
eps() { local v; v=$(jnum "$1" events_per_s); echo "${v:-0}"; }
rps() { local v; v=$(jnum "$1" requests_per_s); echo "${v:-0}"; }

BENCH=("$BUILD/hocvu-bench" --json --secret "$SECRET" --threads "$BENCH_THREADS")

# a. single-event max throughput -----------------------------------------------------------------
log "== a. single-event max throughput"
reset_data
start_hocvud a
measure a_hocvud $((D_MAX + 60)) "${BENCH[@]}" --url "$SVC_URL" --max --connections $CONNS \
    --duration "$D_MAX"
stop_service a_hocvud
start_ceiling
measure a_ceiling $((D_MAX + 60)) "${BENCH[@]}" --url "$SVC_URL" --max --connections $CONNS \
    --duration "$D_MAX"
stop_service
for peer in "${PEERS[@]}"; do
    start_peer "$peer"
    measure "a_$peer" $((D_MAX + 60)) "${BENCH[@]}" --url "$SVC_URL" --max --connections $CONNS \
        --duration "$D_MAX"
    stop_service
done
MAX=$(eps a_hocvud)

# b. open-loop latency at 25/50/75 % of the maximum ----------------------------------------------
log "== b. open-loop latency"
for pct in 25 50 75; do
    rate=$(calc '%.0f' "$MAX * $pct / 100")
    ((rate >= 1)) || rate=1
    start_hocvud "b$pct"
    measure "b${pct}_hocvud" $((D_RATE + 60)) "${BENCH[@]}" --url "$SVC_URL" --rate "$rate" \
        --connections $CONNS --duration "$D_RATE"
    stop_service "b${pct}_hocvud"
    start_ceiling
    measure "b${pct}_ceiling" $((D_RATE + 60)) "${BENCH[@]}" --url "$SVC_URL" --rate "$rate" \
        --connections $CONNS --duration "$D_RATE"
    stop_service
    if [[ $pct == 50 && " ${PEERS[*]} " == *" node-batched "* ]]; then
        start_peer node-batched
        measure "b${pct}_node-batched" $((D_RATE + 60)) "${BENCH[@]}" --url "$SVC_URL" \
            --rate "$rate" --connections $CONNS --duration "$D_RATE"
        stop_service
    fi
done

# c. batch ingest ----------------------------------------------------------------------------------
log "== c. batch ingest"
reset_data
for bs in 1000 100; do
    start_hocvud "c$bs"
    measure "c${bs}_hocvud" $((D_BATCH + 90)) "${BENCH[@]}" --url "$SVC_URL" --max --batch "$bs" \
        --connections $BATCH_CONNS --duration "$D_BATCH"
    stop_service "c${bs}_hocvud"
done
start_ceiling
measure c1000_ceiling $((D_BATCH + 60)) "${BENCH[@]}" --url "$SVC_URL" --max --batch 1000 \
    --connections $BATCH_CONNS --duration "$D_BATCH"
stop_service
SVC_KIND=dbceiling
DB_CONNS=${HOCVU_THREADS:-0}
((DB_CONNS > 0)) || DB_CONNS=$NPROC
for bs in 1000 100; do
    measure "c${bs}_dbceiling" $((D_BATCH + 60)) "$BUILD/dbceiling" --json --database-url "$DBURL" \
        --connections "$DB_CONNS" --batch "$bs" --duration "$D_BATCH"
done

# d. city replay ------------------------------------------------------------------------------------
log "== d. city replay of $REPLAY events"
reset_data
start_hocvud d
measure d_hocvud $((REPLAY_CAP + 120)) "${BENCH[@]}" --url "$SVC_URL" --max --batch 1000 \
    --connections $BATCH_CONNS --events "$REPLAY" --duration "$REPLAY_CAP" --verify
stop_service d_hocvud
if "$BUILD/hocvuctl" --database-url "$DBURL" reconcile >"$L/d_reconcile.log" 2>&1; then
    D_RECONCILE="no drift ($(tail -n 1 "$L/d_reconcile.log"))"
else
    D_RECONCILE="DRIFT: $(tail -n 3 "$L/d_reconcile.log" | tr '\n' ' ')"
    FAILED+=("d reconcile: $D_RECONCILE")
fi
D_ROWS=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM certificates')

# e. GET /v1/progress ------------------------------------------------------------------------------
log "== e. GET /v1/progress"
start_hocvud e
measure e_hocvud $((D_GET + 60)) "${BENCH[@]}" --url "$SVC_URL" --get /v1/progress --max \
    --connections $CONNS --duration "$D_GET"
stop_service e_hocvud
start_ceiling
measure e_ceiling $((D_GET + 60)) "${BENCH[@]}" --url "$SVC_URL" --get /v1/progress --max \
    --connections $CONNS --duration "$D_GET"
stop_service

# The bulk load of certificates used by j and g.
cat >"$WORK/fill.sql" <<'SQL'
-- Bulk load of :n issued certificates numbered :start+1 .. :start+:n, each of a new person,
-- consistent with the schema: ledger, certificate, attribution (persons) and counters (shard
-- :shard) in one transaction. Timestamps spread from 2025-07-01 to now; wards uniform over the
-- current units; groups 60/20/12/8 %; 5 % minors.
BEGIN;
CREATE TEMP TABLE hv_fill ON COMMIT DROP AS
WITH w AS (SELECT array_agg(code ORDER BY code) AS codes FROM wards)
SELECT 'fill_' || :'tag' || '_' || g AS id,
       'FILL-' || :'tag' || '-' || lpad(g::text, 10, '0') AS cert,
       sha256(convert_to(:'tag' || '/' || g, 'UTF8')) AS person,
       w.codes[1 + (hashint8(g) & 2147483647) % cardinality(w.codes)] AS ward,
       (CASE WHEN g % 25 < 15 THEN 1 WHEN g % 25 < 20 THEN 4 WHEN g % 25 < 23 THEN 3
             ELSE 2 END)::smallint AS grp,
       t.ts, (t.ts AT TIME ZONE '+07:00')::date AS day, g % 20 <> 0 AS adult
FROM generate_series(:start + 1, :start + :n) AS g, w,
     LATERAL (SELECT timestamptz '2025-07-01 00:00+07'
                     + ((hashint8(-g) & 2147483647)
                        % extract(epoch FROM now() - timestamptz '2025-07-01 00:00+07')::bigint)
                       * interval '1 second' AS ts) t;
INSERT INTO event_ledger (id, kind, cert_id) SELECT id, 1, cert FROM hv_fill;
INSERT INTO certificates (cert_id, person, ward, grp, issued_at, day, adult, course_id, score,
                          event_id)
SELECT cert, person, ward, grp, ts, day, adult, 'kns-co-ban', 80, id FROM hv_fill;
INSERT INTO persons (person, cert_id, ward, grp, day, adult)
SELECT person, cert, ward, grp, day, adult FROM hv_fill ORDER BY person;
INSERT INTO counters AS k (ward, grp, day, shard, adults, total)
SELECT ward, grp, day, :shard, count(*) FILTER (WHERE adult), count(*) FROM hv_fill
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (ward, grp, day, shard) DO UPDATE
    SET adults = k.adults + EXCLUDED.adults, total = k.total + EXCLUDED.total;
COMMIT;
SQL
FILL_TAG=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Adds certificates FROM+1 .. TO in chunks, two sessions in parallel (counter shards 62, 63).
fill_rows() {
    local from=$1 to=$2 part pids=() p rc=0
    for part in 0 1; do
        (
            for ((s = from + part * FILL_CHUNK; s < to; s += 2 * FILL_CHUNK)); do
                n=$((to - s < FILL_CHUNK ? to - s : FILL_CHUNK))
                "${PSQL[@]}" -v start="$s" -v n="$n" -v tag="$FILL_TAG" -v shard=$((62 + part)) \
                    -f "$WORK/fill.sql" || exit 1
            done
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=1
    done
    return $rc
}

# i. single-event ingest beside the build before issue 12 ---------------------------------------
# The same measurement as a, on empty tables, alternating this build and BASE_REV's hocvud
# (built here from git; the schema it finds is a superset of its own), so the cost of targets,
# per-year views and frozen reports on the write path is a same-run ratio.
BASE_REV=${HOCVU_BENCH_BASELINE:-60740f5}
I_ROUNDS=$([[ $QUICK -eq 1 ]] && echo 1 || echo 2)
I_NOTE=
log "== i. single-event ingest: this build beside $BASE_REV"
mkdir -p "$WORK/base-src"
if git -C "$ROOT" archive "$BASE_REV" 2>"$L/i_base_build.log" | tar -x -C "$WORK/base-src" &&
    cmake -S "$WORK/base-src" -B "$WORK/base-build" -DCMAKE_BUILD_TYPE=Release \
        >>"$L/i_base_build.log" 2>&1 &&
    cmake --build "$WORK/base-build" -j "$NPROC" --target hocvud >>"$L/i_base_build.log" 2>&1; then
    for ((r = 1; r <= I_ROUNDS; r++)); do
        for who in base head; do
            reset_data
            if [[ $who == base ]]; then
                HOCVUD_BIN=$WORK/base-build/hocvud start_hocvud "i_${who}_$r"
            else
                start_hocvud "i_${who}_$r"
            fi
            measure "i_${who}_$r" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
                --connections $CONNS --duration "$D_SIZE"
            stop_service "i_${who}_$r"
        done
    done
else
    I_NOTE="the build of $BASE_REV failed (see i_base_build.log)"
    FAILED+=("i: $I_NOTE")
fi

# j. cohorts: 5,000 cohorts with 500,000 members ---------------------------------------------------
# Single-event ingest without and then with them (two runs each), the rebuild time of the cohort
# read model beside the snapshot's (from /metrics), and the pending list of a 10,000-member
# cohort. Members are persons of a bulk load of which ~40 % hold a certificate.
J_COHORTS=$([[ $QUICK -eq 1 ]] && echo 500 || echo 5000)
J_MEMBERS=$([[ $QUICK -eq 1 ]] && echo 50000 || echo 500000)
J_BIG=$([[ $QUICK -eq 1 ]] && echo 2000 || echo 10000)
J_CERTS=$((J_MEMBERS * 2 / 5))
log "== j. cohorts: $J_COHORTS cohorts, $J_MEMBERS members"
reset_data
"${PSQL[@]}" -c 'TRUNCATE cohorts, cohort_members, cohort_supported, cohort_counts, cohort_sizes'
fill_rows 0 "$J_CERTS" || die "bulk load failed"
"${PSQL[@]}" -c 'VACUUM (ANALYZE) event_ledger, certificates, persons, counters' -c 'CHECKPOINT'
for r in 1 2; do
    start_hocvud "j_without_$r"
    measure "j_without_$r" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
        --connections $CONNS --duration "$D_SIZE"
    stop_service "j_without_$r"
done
cat >"$WORK/cohorts.sql" <<'SQL'
-- :cohorts cohorts of every kind over the current wards; cohort 1 has :big members, the others
-- share the rest. A member is the person of fill.sql's number n (tag :tag) for n spread over
-- 2.5 x :certs, so about 40 % of them hold a certificate. Then every figure is counted.
BEGIN;
INSERT INTO cohorts (code, name, kind, ward)
SELECT 'BENCH-' || lpad(k::text, 5, '0'), 'Đơn vị ' || k,
       (ARRAY['agency', 'enterprise', 'school', 'village', 'team', 'mentor'])[1 + k % 6],
       w.codes[1 + k % cardinality(w.codes)]
FROM generate_series(1, :cohorts) k, (SELECT array_agg(code ORDER BY code) AS codes FROM wards) w;
INSERT INTO cohort_members (cohort, member_ref, person)
SELECT 'BENCH-' || lpad(x.c::text, 5, '0'), 'M-' || g,
       sha256(convert_to(:'tag' || '/' || (1 + (hashint8(g) & 2147483647) % (:certs * 5 / 2)), 'UTF8'))
FROM generate_series(1, :members) g,
     LATERAL (SELECT CASE WHEN g <= :big THEN 1 ELSE 2 + (g - :big) % (:cohorts - 1) END AS c) x
ON CONFLICT DO NOTHING;
SELECT hv_cohort_repair();
COMMIT;
SQL
t0=$(date +%s.%N)
"${PSQL[@]}" -v cohorts="$J_COHORTS" -v members="$J_MEMBERS" -v big="$J_BIG" -v certs="$J_CERTS" \
    -v tag="$FILL_TAG" -f "$WORK/cohorts.sql" >/dev/null || die "cohort load failed"
J_LOAD_S=$(calc '%.1f' "$(date +%s.%N) - $t0")
J_MEMBERS_STORED=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM cohort_members')
J_BIG_MEMBERS=$("${PSQL[@]}" -At -c "SELECT count(*) FROM cohort_members WHERE cohort = 'BENCH-00001'")
J_BIG_PENDING=
J_PENDING_S=
J_BUILD=
for r in 1 2; do
    start_hocvud "j_with_$r"
    if ((r == 1)); then
        # The cohort read model rebuilt three times (a version bump each), its build time read
        # from /metrics with the snapshot's; then the pending list of the big cohort.
        for _ in 1 2 3; do
            "${PSQL[@]}" -c 'INSERT INTO cohort_versions AS v VALUES (0, 1)
                ON CONFLICT (shard) DO UPDATE SET version = v.version + 1' >/dev/null
            sleep 1.5
            J_BUILD+="$(curl -s "$SVC_URL/metrics" | awk '/^hocvu_cohorts_build_seconds / { c = $2 }
                /^hocvu_snapshot_build_seconds / { s = $2 } END { printf "%s/%s ", c, s }')"
        done
        J_PENDING_S=$(curl -s -o "$L/j_pending.json" -w '%{time_total}' \
            -H "Authorization: Bearer $ADMIN_TOKEN" "$SVC_URL/v1/cohorts/BENCH-00001/pending")
        J_BIG_PENDING=$(grep -o '"M-[0-9]*"' "$L/j_pending.json" | wc -l)
    fi
    measure "j_with_$r" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
        --connections $CONNS --duration "$D_SIZE"
    stop_service "j_with_$r"
done
if "$BUILD/hocvuctl" --database-url "$DBURL" reconcile >"$L/j_reconcile.log" 2>&1; then
    J_RECONCILE="no drift"
else
    J_RECONCILE="DRIFT"
    FAILED+=("j reconcile: $(tail -n 3 "$L/j_reconcile.log" | tr '\n' ' ')")
fi
"${PSQL[@]}" -c 'TRUNCATE cohorts, cohort_members, cohort_supported, cohort_counts, cohort_sizes'

# g. throughput vs table size ----------------------------------------------------------------------
log "== g. throughput vs table size"
reset_data
declare -A FILL_S RECONCILE ASOF_S FREEZE_S
have=0
TODAY=$(TZ=Asia/Ho_Chi_Minh date +%F)
for size in "${SIZES[@]}"; do
    if ((size > have)); then
        log "filling the tables to $size certificates"
        t0=$(date +%s.%N)
        fill_rows "$have" "$size" || die "bulk load failed"
        "${PSQL[@]}" -c 'VACUUM (ANALYZE) event_ledger, certificates, persons, counters' \
            -c 'CHECKPOINT'
        FILL_S[$size]=$(calc '%.0f' "$(date +%s.%N) - $t0")
        have=$size
        if "$BUILD/hocvuctl" --database-url "$DBURL" reconcile >"$L/g_reconcile_$size.log" 2>&1
        then
            RECONCILE[$size]="no drift"
        else
            RECONCILE[$size]="DRIFT"
            FAILED+=("g reconcile at $size rows: $(tail -n 2 "$L/g_reconcile_$size.log")")
        fi
    fi
    rows=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM certificates')
    start_hocvud "g$size"
    # h. the as-of ward report (built on request from the day rows) and a freeze (the report
    # object plus one evidence row per certified person, in one transaction) at this size.
    ASOF_S[$size]=$(curl -s -o "$L/h_asof_$size.csv" -w '%{time_total}' \
        "$SVC_URL/v1/reports/wards.csv?as_of=$TODAY")
    t0=$(date +%s.%N)
    if "$BUILD/hocvuctl" --database-url "$DBURL" report freeze --as-of "$TODAY" \
        --label "bench $size" >"$L/h_freeze_$size.log" 2>&1; then
        FREEZE_S[$size]=$(calc '%.2f' "$(date +%s.%N) - $t0")
    else
        FREEZE_S[$size]=failed
        FAILED+=("h freeze at $size rows: $(tail -n 2 "$L/h_freeze_$size.log")")
    fi
    measure "g${size}_hocvud" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
        --connections $CONNS --duration "$D_SIZE"
    stop_service "g${size}_hocvud"
    start_ceiling
    measure "g${size}_ceiling" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
        --connections $CONNS --duration "$D_SIZE"
    stop_service
    FILL_S[rows_$size]=$rows
done
# The largest tables once more with wal_compression = lz4 (deploy/postgresql/hocvu.conf): after
# a checkpoint, the first change to each page of a random-key index is written whole to the WAL.
"${PSQL[@]}" -c "ALTER SYSTEM SET wal_compression = 'lz4'" -c 'SELECT pg_reload_conf()' \
    -c 'CHECKPOINT' >/dev/null
start_hocvud "g${SIZES[-1]}_lz4"
measure "g${SIZES[-1]}_lz4_hocvud" $((D_SIZE + 60)) "${BENCH[@]}" --url "$SVC_URL" --max \
    --connections $CONNS --duration "$D_SIZE"
stop_service "g${SIZES[-1]}_lz4"
"${PSQL[@]}" -c 'ALTER SYSTEM RESET wal_compression' -c 'SELECT pg_reload_conf()' >/dev/null

# --- report -------------------------------------------------------------------------------------
log "writing $OUT"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
T_TOTAL=$(($(date +%s) - T_START))
CPU_MODEL=$(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
PG_VERSION=$("$PGBIN/postgres" --version)
REDIS_VERSION=$(redis-server --version | grep -o 'v=[^ ]*' | cut -d= -f2)
LIBEVENT_VERSION=$(pkg-config --modversion libevent 2>/dev/null || echo '?')

yes_no() { awk "BEGIN { print (($1) ? \"yes\" : \"**no**\") }" 2>/dev/null || echo "n/a"; }
pct() { calc '%.1f %%' "100 * ($1) / ($2)"; }
ms() { calc '%.2f' "${1:-0} / 1000"; }
mib() { calc '%.1f' "${1:-0} / 1024"; }
fmt() { awk -v x="${1:-0}" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = "";
    for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," }
    print o }'; }

A_H=$(eps a_hocvud)
A_C=$(rps a_ceiling)
A_NB=$(eps a_node-batched)
A_NN=$(eps a_node-naive)
# cpu_per_event RUN FIELD: µs of CPU per acknowledged event (FIELD 1 service, 2 PostgreSQL,
# 3 Redis), from the /proc deltas of the run.
cpu_per_event() {
    local us ev
    us=$(echo "${CPU_US[$1]:-0 0 0}" | cut -d' ' -f"$2")
    ev=$(jnum "$1" events)
    calc '%.0f' "${us:-0} / (${ev:-0} + 1e-9)"
}
A_CPU_H=$(cpu_per_event a_hocvud 1)
A_CPU_P=$(cpu_per_event a_hocvud 2)
A_CPU_R=$(cpu_per_event a_hocvud 3)
B50_NB99=$(jnum b50_node-batched p99)
if [[ ${#PEERS[@]} -gt 0 ]]; then
    PEER_REF="; node-batched $(fmt "$A_NB"), node-naive $(fmt "$A_NN") events/s"
    PEER_RATIO="; $(calc '%.2f' "$A_H / ($A_NB + 1e-9)") × node-batched"
    PEER_MET="$A_H >= 3 * $A_NB"
    PEER_CPU="node-batched: service $(cpu_per_event a_node-batched 1) µs, PostgreSQL $(cpu_per_event a_node-batched 2) µs, Redis $(cpu_per_event a_node-batched 3) µs"
else
    PEER_REF="; peers $PEERS_NOTE"
    PEER_RATIO=
    PEER_MET=0
    PEER_CPU="peers $PEERS_NOTE"
fi
B50_P99=$(jnum b50_hocvud p99)
B50_C99=$(jnum b50_ceiling p99)
B50_UNSENT=$(jnum b50_hocvud unsent_backlog)
C1_H=$(eps c1000_hocvud)
C1_D=$(eps c1000_dbceiling)
C1_C=$(eps c1000_ceiling)
C2_H=$(eps c100_hocvud)
C2_D=$(eps c100_dbceiling)
D_T=$(jnum d_hocvud elapsed_s)
D_EV=$(jnum d_hocvud events)
D_EPS=$(eps d_hocvud)
D_VERIFY=$(jstr d_hocvud result)
E_H=$(rps e_hocvud)
E_C=$(rps e_ceiling)
HWM_SINGLE=${HWM[a_hocvud]:-0}
HWM_BATCH=$(printf '%s\n' "${HWM[c1000_hocvud]:-0}" "${HWM[c100_hocvud]:-0}" "${HWM[d_hocvud]:-0}" |
    sort -n | tail -n 1)
HWM_ALL=$(printf '%s\n' "${HWM[@]}" | sort -n | tail -n 1)
S0=${SIZES[0]}
S1=${SIZES[1]}
S2=${SIZES[2]}
G0=$(eps "g${S0}_hocvud")
G1=$(eps "g${S1}_hocvud")
G2=$(eps "g${S2}_hocvud")
G0C=$(rps "g${S0}_ceiling")
G1C=$(rps "g${S1}_ceiling")
G2C=$(rps "g${S2}_ceiling")
G2Z=$(eps "g${S2}_lz4_hocvud")
I_BASE=$(for ((r = 1; r <= I_ROUNDS; r++)); do eps "i_base_$r"; done | awk '{ s += $1 } END { print NR ? s / NR : 0 }')
I_HEAD=$(for ((r = 1; r <= I_ROUNDS; r++)); do eps "i_head_$r"; done | awk '{ s += $1 } END { print NR ? s / NR : 0 }')
J_WITHOUT=$(for r in 1 2; do eps "j_without_$r"; done | awk '{ s += $1 } END { print NR ? s / NR : 0 }')
J_WITH=$(for r in 1 2; do eps "j_with_$r"; done | awk '{ s += $1 } END { print NR ? s / NR : 0 }')
J_BUILD_C=$(echo "$J_BUILD" | tr ' ' '\n' | awk -F/ 'NF == 2 && $1 > m { m = $1 } END { printf "%.3f", m }')
J_BUILD_S=$(echo "$J_BUILD" | tr ' ' '\n' | awk -F/ 'NF == 2 && $2 > m { m = $2 } END { printf "%.3f", m }')
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%g M", n / 1e6; else if (n >= 1e3) printf "%g k", n / 1e3; else printf "%d", n }'; }

{
    echo "# hocvu benchmark results"
    echo
    if [[ $QUICK -eq 1 ]]; then
        echo "**Quick smoke run (\`bench/run.sh --quick\`): every step ~3 s, smaller replay and"
        echo "tables. The numbers only show that the suite works; run \`bench/run.sh\` for figures.**"
        echo
    fi
    echo "Generated by \`bench/run.sh$([[ $QUICK -eq 1 ]] && echo ' --quick')\` on $RUN_STARTED" \
        "(commit $COMMIT$([[ $DIRTY -gt 0 ]] && echo ", $DIRTY uncommitted changes in the tree"))," \
        "in $((T_TOTAL / 60)) min $((T_TOTAL % 60)) s."
    echo "**Load average before the run: $LOAD_BEFORE** (1/5/15 min); after: $LOAD_AFTER."
    if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "The machine was NOT idle before the run: other processes shared the CPU (see \"other %\""
        echo "in the CPU split), so absolute numbers are depressed and noisy; compare the same-run ratios."
    fi
    echo "Every figure is hocvud measured back to back with its reference in the same run. Where the"
    echo "time goes, and what would have to change to meet the targets: \`bench/PROFILE.md\`."
    echo
    echo "## Results"
    echo
    echo "| | figure | hocvud | same-run reference | ratio | target | met? |"
    echo "|---|---|---|---|---|---|---|"
    echo "| a | single-event max throughput, $CONNS connections, ${D_MAX} s | $(fmt "$A_H") events/s | ceiling $(fmt "$A_C") req/s$PEER_REF | $(pct "$A_H" "$A_C") of ceiling$PEER_RATIO | ≥ 45 % of ceiling and ≥ 3 × node-batched | $(yes_no "$A_H >= 0.45 * $A_C && $PEER_MET") |"
    echo "| a | CPU per acknowledged single event (run a, from /proc) | hocvud $A_CPU_H µs, PostgreSQL $A_CPU_P µs, Redis $A_CPU_R µs | $PEER_CPU | | hocvud ≤ 20 µs, PostgreSQL ≤ 40 µs | $(yes_no "$A_CPU_H <= 20 && $A_CPU_P <= 40") |"
    echo "| b | open-loop p99 latency at 50 % of max ($(fmt "$(jnum b50_hocvud rate)") req/s) | $(ms "$B50_P99") ms | ceiling $(ms "$B50_C99") ms$([[ -n "$B50_NB99" ]] && echo ", node-batched $(ms "$B50_NB99") ms") at the same rate | | ≤ 10 ms | $(yes_no "${B50_P99:-1e12} <= 10000 && ${B50_UNSENT:-1} == 0") |"
    echo "| c | batch ingest, --batch 1000, $BATCH_CONNS connections | $(fmt "$C1_H") events/s | dbceiling $(fmt "$C1_D") events/s (HTTP ceiling $(fmt "$C1_C")) | $(pct "$C1_H" "$C1_D") of DB ceiling | ≥ 100,000 events/s | $(yes_no "$C1_H >= 100000") |"
    echo "| c | batch ingest, --batch 100, $BATCH_CONNS connections | $(fmt "$C2_H") events/s | dbceiling $(fmt "$C2_D") events/s (batches of 100) | $(pct "$C2_H" "$C2_D") of DB ceiling | | |"
    echo "| d | city replay, $(fmt "$REPLAY") events via --batch 1000, --verify | $(calc '%.1f' "${D_T:-0}") s ($(fmt "$D_EPS") events/s), verify: ${D_VERIFY:-n/a}, $(fmt "${D_EV:-0}") acknowledged | dbceiling at 1000/call: $(calc '%.1f' "$REPLAY / ($C1_D + 1e-9)") s | $(pct "$D_EPS" "$C1_D") of DB ceiling | ≤ 10 s$([[ $QUICK -eq 1 ]] && echo " (for 996,000)") | $(yes_no "${D_T:-1e9} * 996000 / $REPLAY <= 10 && \"${D_VERIFY:-}\" == \"ok\"") |"
    echo "| e | GET /v1/progress, $CONNS connections, ${D_GET} s | $(fmt "$E_H") req/s | ceiling $(fmt "$E_C") req/s | $(pct "$E_H" "$E_C") | ≥ 80 % of ceiling | $(yes_no "$E_H >= 0.8 * $E_C") |"
    echo "| f | hocvud peak RSS (VmHWM): single-event / batch / any run | $(mib "$HWM_SINGLE") / $(mib "$HWM_BATCH") / $(mib "$HWM_ALL") MiB | | | ≤ 64 MiB | $(yes_no "$HWM_ALL <= 65536") |"
    echo "| g | single-event max at $(human "$S1") stored certificates, ${D_SIZE} s | $(fmt "$G1") events/s | $(fmt "$G0") at 0 rows (ceiling $(fmt "$G1C") vs $(fmt "$G0C")) | $(pct "$G1" "$G0") of empty ($(calc '%.1f %%' "100 * ($G1 / $G1C) / ($G0 / $G0C + 1e-9)") ceiling-normalised) | | |"
    for s_ in "${SIZES[@]}"; do
        echo "| h | as-of ward report (\`GET /v1/reports/wards.csv?as_of=\`) at $(human "$s_") stored certificates | $(calc '%.0f' "1000 * ${ASOF_S[$s_]:-0}") ms | | | sub-second | $(yes_no "${ASOF_S[$s_]:-9} < 1") |"
        freeze_ok=no
        if [[ "${FREEZE_S[$s_]:-failed}" != failed ]]; then
            freeze_ok=$(yes_no "${FREEZE_S[$s_]} < 10")
        fi
        echo "| h | \`hocvuctl report freeze\` at $(human "$s_") stored certificates | ${FREEZE_S[$s_]:-?} s | | | a few seconds | $freeze_ok |"
    done
    echo "| i | single-event max, this build beside $BASE_REV (before issue 12), $I_ROUNDS alternating rounds of ${D_SIZE} s on empty tables | $(fmt "$I_HEAD") events/s | $BASE_REV: $(fmt "$I_BASE") events/s${I_NOTE:+ ($I_NOTE)} | $(pct "$I_HEAD" "$I_BASE") | within 5 % | $(yes_no "$I_HEAD >= 0.95 * $I_BASE && $I_BASE > 0") |"
    echo "| j | single-event max with $(fmt "$J_COHORTS") cohorts and $(fmt "$J_MEMBERS_STORED") members (2 runs of ${D_SIZE} s; $(fmt "$J_CERTS") stored certificates) | $(fmt "$J_WITH") events/s | without cohorts, same tables: $(fmt "$J_WITHOUT") events/s | $(pct "$J_WITH" "$J_WITHOUT") | within 10 % | $(yes_no "$J_WITH >= 0.9 * $J_WITHOUT && $J_WITHOUT > 0") |"
    echo "| j | cohort read model rebuild (\`hocvu_cohorts_build_seconds\`, worst of 3) | $(calc '%.0f' "1000 * ${J_BUILD_C:-0}") ms | snapshot rebuild $(calc '%.0f' "1000 * ${J_BUILD_S:-0}") ms | | within the 2 s of §11 | $(yes_no "${J_BUILD_C:-9} < 1.5") |"
    echo "| j | pending list of a $(fmt "$J_BIG_MEMBERS")-member cohort ($(fmt "${J_BIG_PENDING:-0}") pending) | $(calc '%.0f' "1000 * ${J_PENDING_S:-0}") ms | | | | |"
    echo "| j | bulk load of the cohorts and members, with the recount (\`hv_cohort_repair\`) | ${J_LOAD_S:-?} s | reconcile after the runs: ${J_RECONCILE:-?} | | | |"
    echo "| g | single-event max at $(human "$S2") stored certificates, ${D_SIZE} s | $(fmt "$G2") events/s | $(fmt "$G0") at 0 rows (ceiling $(fmt "$G2C") vs $(fmt "$G0C")) | $(pct "$G2" "$G0") of empty ($(calc '%.1f %%' "100 * ($G2 / $G2C) / ($G0 / $G0C + 1e-9)") ceiling-normalised) | ≥ 80 % of empty$([[ $QUICK -eq 1 ]] && echo " (at 5 M)") | $(yes_no "$G2 >= 0.8 * $G0") |"
    echo "| g | the same with \`wal_compression = lz4\` (run after it, same tables) | $(fmt "$G2Z") events/s | without: $(fmt "$G2") events/s | $(pct "$G2Z" "$G2") | | |"
    echo
    echo "### Latency (open loop, from the intended send time; µs)"
    echo
    echo "| load | target rate | achieved req/s | p50 | p90 | p99 | p99.9 | max | non-200 | unsent |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for pct_ in 25 50 75; do
        for who in hocvud ceiling node-batched; do
            n="b${pct_}_$who"
            [[ -f "$J/$n.json" ]] || continue
            non200=$(awk -v r="$(jnum "$n" requests)" -v ok="$(grep -o '"200":[0-9]*' "$J/$n.json" 2>/dev/null | head -n 1 | cut -d: -f2)" 'BEGIN { print r - ok }')
            echo "| $who at $pct_ % | $(fmt "$(jnum "$n" rate)") | $(fmt "$(rps "$n")") | $(jnum "$n" p50) | $(jnum "$n" p90) | $(jnum "$n" p99) | $(jnum "$n" p999) | $(jnum "$n" max) | $non200 | $(jnum "$n" unsent_backlog) |"
        done
    done
    echo
    echo "### Every run"
    echo
    echo "| run | against | events/s | req/s | p50 µs | p99 µs | max µs | elapsed s | notes |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for entry in "${CMDS[@]}"; do
        n=${entry%%|*}
        rest=${entry#*|}
        kind=${rest%%|*}
        note=""
        [[ -n "${HWM[$n]:-}" ]] && note="VmHWM $(mib "${HWM[$n]}") MiB"
        v=$(jstr "$n" result)
        [[ -n "$v" ]] && note="$note; verify $v"
        if [[ "$kind" == dbceiling ]]; then
            note="$note; $(jnum "$n" us_per_event) µs/event, $(jnum "$n" calls) calls (latency per call)"
        else
            e=$(jnum "$n" unexpected_status)
            [[ "${e:-0}" != 0 ]] && note="$note; unexpected status $e"
            e=$(jnum "$n" timeout)
            [[ "${e:-0}" != 0 ]] && note="$note; timeouts $e"
        fi
        echo "| $n | $kind | $(fmt "$(eps "$n")") | $(fmt "$(rps "$n")") | $(jnum "$n" p50) | $(jnum "$n" p99) | $(jnum "$n" max) | $(jnum "$n" elapsed_s) | ${note#; } |"
    done
    echo
    echo "Table sizes in g: $(for s in "${SIZES[@]}"; do printf '%s rows (' "$(fmt "${FILL_S[rows_$s]:-0}")"; [[ -n "${FILL_S[$s]:-}" ]] && printf 'bulk load %s s, reconcile: %s' "${FILL_S[$s]}" "${RECONCILE[$s]}" || printf 'empty'; printf '); '; done)"
    echo "the replay in d left $(fmt "${D_ROWS:-0}") certificates; hocvuctl reconcile after it: $D_RECONCILE."
    echo
    echo "## CPU split"
    echo
    echo "Share of the machine's CPU capacity ($NPROC cores × wall time of the load command, from"
    echo "\`/proc/PID/stat\` utime+stime deltas; PostgreSQL = postmaster + all backends, including"
    echo "exited ones; load generator = its own rusage; other = busy time of every other process on"
    echo "the machine, e.g. other jobs; idle = unused). The last three columns are the same CPU"
    echo "time per acknowledged event, in µs."
    echo
    echo "| run | service | wall s | service % | PostgreSQL % | Redis % | load generator % | other % | idle % | service µs/event | PostgreSQL µs/event | Redis µs/event |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for entry in "${CMDS[@]}"; do
        n=${entry%%|*}
        rest=${entry#*|}
        kind=${rest%%|*}
        read -r wall svc pg rd bn ot idle <<<"${CPU[$n]:-0 0 0 0 0 0 0}"
        if [[ "$kind" == ceiling || "$(jstr "$n" mode)" == get || "$(jnum "$n" events)" == 0 ]]; then
            per="– | – | –"
        else
            per="$(cpu_per_event "$n" 1) | $(cpu_per_event "$n" 2) | $(cpu_per_event "$n" 3)"
        fi
        echo "| $n | $kind | $wall | $svc | $pg | $rd | $bn | $ot | $idle | $per |"
    done
    echo
    echo "## Commands"
    echo
    echo "Build: \`$BUILD_CMD\`. \`\$SECRET\` is a fresh \`hocvuctl gen-secret\`; hocvud ran with"
    echo "HOCVU_LISTEN=127.0.0.1:PORT HOCVU_DATABASE_URL=$DBURL HOCVU_REDIS_URL=$REDISURL,"
    echo "a fresh HOCVU_WEBHOOK_SECRETS/HOCVU_ID_PEPPER, HOCVU_THREADS=${HOCVU_THREADS:-default (one per CPU)}," \
        "HOCVU_EVENT_WRITERS=${HOCVU_EVENT_WRITERS:-default (1)}," \
        "HOCVU_BATCH_MAX=${HOCVU_BATCH_MAX:-default (1000)}, log level info; \`build-bench/ceiling --listen 127.0.0.1:PORT --threads $NPROC\`."
    echo "A fresh hocvud (or ceiling) on a new port for every run; ports below are those of this run."
    echo
    echo '```'
    for entry in "${CMDS[@]}"; do
        n=${entry%%|*}
        rest=${entry#*|}
        printf '%-16s %s\n' "$n" "${rest#*|}"
    done
    echo "# g bulk load: psql -v start=S -v n=N -v tag=T -v shard=62|63 -f fill.sql (two sessions"
    echo "#   in parallel, chunks of $(fmt "$FILL_CHUNK")), then VACUUM (ANALYZE), CHECKPOINT, hocvuctl reconcile;"
    echo "#   fill.sql is the heredoc in bench/run.sh"
    echo '```'
    echo
    echo "## Machine and settings"
    echo
    echo "- $NPROC CPUs: $CPU_MODEL; $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- $PG_VERSION; Redis $REDIS_VERSION; libevent $LIBEVENT_VERSION"
    echo "- PostgreSQL settings: $PG_SETTINGS(durable defaults kept: fsync and"
    echo "  synchronous_commit on, so a 200 means the batch's WAL is flushed; only shared_buffers"
    echo "  (default 128MB) and max_wal_size (default 1GB) were raised). Loopback TCP only."
    echo "- Redis: no persistence (\`--save '' --appendonly no\`)."
    echo "- hocvu-bench: $BENCH_THREADS event loops (\`--threads $BENCH_THREADS\`), one request in flight per connection."
    echo "- **$NPROC cores are shared by hocvud (or the ceiling), PostgreSQL, Redis and the load"
    echo "  generator**, so every process competes for the same CPUs; the ceiling's figure is what"
    echo "  this load generator reaches against a server doing no work on this machine."
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        echo
        echo "## Failures"
        echo
        for f in "${FAILED[@]}"; do
            echo "- $f"
        done
    fi
} >"$OUT"

log "done in ${T_TOTAL} s: $OUT"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "some steps failed:"
    printf '  %s\n' "${FAILED[@]}" >&2
    exit 1
fi
