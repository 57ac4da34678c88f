#!/usr/bin/env bash
# Quick start, command 2: builds Baton and runs every test.
#  1. the normal build (GCC): unit, integration (store, scheduler, API; on
#     SQLite and on a private PostgreSQL cluster the script starts and stops),
#     end-to-end (the real binary: CLI, `baton standalone` over HTTP, kill -9),
#     the web UI in headless chromium (tests/web: screenshots and the UI
#     benchmark's figures in build/web-artifacts) and the benchmark harnesses
#     at a tiny size;
#  2. a clang build with AddressSanitizer + UndefinedBehaviorSanitizer: the unit
#     and integration tests again, and the DAG compiler's fuzz target over its
#     regression corpus.
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

# One private PostgreSQL cluster (scripts/with-postgres.sh) for both runs:
# the store conformance suite and the scheduler tests run on it as well as on
# SQLite (BATON_TEST_PG_URL).
scripts/with-postgres.sh bash -c '
  set -e
  echo "== tests under ASan + UBSan"
  (supp="$PWD/tests/lsan.supp" && cd build-asan && LSAN_OPTIONS="suppressions=$supp" \
    ctest --output-on-failure -j "$0" -L "unit|integration|fuzz")
  echo "== all tests"
  (cd build && ctest --output-on-failure -j "$0")
' "$jobs"
if [ -s build/web-artifacts/bench.json ]; then
  echo "== UI benchmark (build/web-artifacts/bench.json; screenshots beside it)"
  cat build/web-artifacts/bench.json
fi
