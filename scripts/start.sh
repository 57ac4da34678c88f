#!/usr/bin/env bash
# Quick start, command 1: builds Baton and runs it on the example DAGs.
# (Until the standalone server lands, it validates the examples, lists them
# and shows one DAG's compiled graph and next fire times.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target baton
echo
echo "== baton dags validate examples/dags"
build/baton dags validate examples/dags
echo
echo "== baton dags list --dags examples/dags"
build/baton dags list --dags examples/dags
echo
echo "== baton dags show daily_sales --dags examples/dags"
build/baton dags show daily_sales --dags examples/dags
echo
echo "== baton schedule next daily_sales --dags examples/dags --count 5"
build/baton schedule next daily_sales --dags examples/dags --count 5
