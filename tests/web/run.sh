#!/usr/bin/env bash
# The browser tests and the UI benchmark (DEVELOPERS.md): installs
# playwright-core from npm into tests/web/node_modules when it is missing or
# not the locked version, then runs one of them against the given baton.
# Usage: run.sh ui|bench BATON ARTIFACTS_DIR [bench options...]
# Exit 77 (skipped) when node or chromium is missing and BATON_WEB_OPTIONAL=1.
set -euo pipefail
what=$1 baton=$2 artifacts=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
missing=""
command -v node >/dev/null || missing="node"
command -v npm >/dev/null || missing="$missing npm"
[ -x "${BATON_CHROMIUM:-/usr/bin/chromium}" ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  echo "missing:$missing (scripts/install-deps.sh test installs them)"
  [ "${BATON_WEB_OPTIONAL:-0}" = 1 ] && exit 77
  exit 1
fi
want=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' "$here/package-lock.json")
have=$(node -e 'try { console.log(require(process.argv[1]).version) } catch { console.log("") }' \
  "$here/node_modules/playwright-core/package.json")
if [ "$want" != "$have" ]; then
  # A lock of its own per process: two test runs may start at once.
  (cd "$here" && flock "$here/.npm-lock" npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$artifacts"
case "$what" in
  ui) exec node "$here/ui_test.mjs" "$baton" "$artifacts" ;;
  bench) node "$here/bench.mjs" "$baton" --artifacts "$artifacts" "$@" | tee "$artifacts/bench.json" ;;
  *) echo "usage: run.sh ui|bench BATON ARTIFACTS_DIR"; exit 2 ;;
esac
