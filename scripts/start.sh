#!/usr/bin/env bash
# Quick start, command 1: builds Baton and starts `baton standalone` on the
# example DAGs with the embedded SQLite store (./baton.db). It prints the URL
# of the UI and API and, on first start, the admin token. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target baton
build/baton dags validate examples/dags
exec build/baton standalone --dags examples/dags --db "${BATON_DB:-sqlite:./baton.db}" \
  --listen "${BATON_LISTEN:-127.0.0.1:8080}" --logs "${BATON_LOGS:-./logs}"
