#!/usr/bin/env bash
# Quick start, command 2: builds Baton and runs every test.
#  1. the normal build (GCC): unit tests and the command line run as a process;
#  2. a clang build with AddressSanitizer + UndefinedBehaviorSanitizer: the unit
#     tests again, and the DAG compiler's fuzz target over its regression corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=${BATON_JOBS:-$(nproc)}

echo "== build (gcc, RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

echo "== build (clang, ASan + UBSan, fuzz targets)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DBATON_SANITIZE=ON -DBATON_FUZZ=ON >/dev/null
cmake --build build-asan -j "$jobs"

echo "== tests under ASan + UBSan"
(cd build-asan && ctest --output-on-failure -j "$jobs" -L 'unit|fuzz')

echo "== all tests"
(cd build && ctest --output-on-failure -j "$jobs")
