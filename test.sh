#!/usr/bin/env bash
# test.sh - the project's test command: installs what is missing, builds (Release, warnings
# as errors) and runs every test through ctest. Exits with ctest's status. Extra arguments go
# to ctest (e.g. ./test.sh -L unit, ./test.sh -R integration.faults).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHOCVU_WERROR=ON
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure "$@"
