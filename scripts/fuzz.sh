#!/usr/bin/env bash
# Fuzzes the DAG compiler for a while (default 300 s). Crashing inputs are
# written to build-asan/tests/fuzz/; copy them into tests/fuzz/corpus/ once
# fixed, so the test suite replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
scripts/install-deps.sh test
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DBATON_SANITIZE=ON -DBATON_FUZZ=ON >/dev/null
cmake --build build-asan --target dsl_fuzz
work=build-asan/tests/fuzz/corpus-work
mkdir -p "$work"
cd build-asan/tests/fuzz
./dsl_fuzz -max_total_time="$seconds" -max_len=8192 -dict=../../../tests/fuzz/dag.dict \
  corpus-work ../../../tests/fuzz/corpus ../../../examples/dags
