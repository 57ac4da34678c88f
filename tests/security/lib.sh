# Shared boilerplate of the security suite (tests/security/*_test.sh), sourced
# first thing by each script: source "$(dirname "$0")/lib.sh"
#
# On sourcing it makes a temporary folder, $work, and sets a trap that at exit
# kill -9s every process whose id is in the array pids and removes $work
# (kept when KEEP is set, to look at after a failure). It sets the counters
# passed and failed to 0. It reads no arguments and sets no shell options:
# the script keeps its own `set -u` and its own `baton=...`.
#
# Functions:
#   ok                      counts a check that passed.
#   bad MESSAGE...          counts a check that failed and prints "FAIL: MESSAGE".
#   finish                  prints "P passed, F failed" and exits 0 when no
#                           check failed, 1 otherwise: the last line of a script.
#   abort MESSAGE...        bad MESSAGE, then finish: for a failure the rest of
#                           the script cannot go on from (its server did not start).
#   start_standalone NAME DB [ARGS...]
#                           starts `$baton standalone --dags dags --db DB
#                           --listen 127.0.0.1:0 ARGS...` in $work (give --logs
#                           and the like in ARGS), its standard output in
#                           $work/NAME.out and its errors in $work/NAME.err (both
#                           emptied first), and waits up to 10 s for the line
#                           `UI and API: URL/ ...`.
#                           Sets server_pid (also added to pids), url
#                           (http://127.0.0.1:PORT), port, and token (the admin
#                           token the server printed; empty on a database that
#                           already had one). Returns 1, after printing both
#                           files, when the server did not start.
#   pg_schema_url SCHEMA [BASE]
#                           prints BASE (default: $BATON_TEST_PG_URL) with
#                           options=-csearch_path=SCHEMA added to its query:
#                           the URL of a fresh schema of the test cluster
#                           scripts/with-postgres.sh starts.

work=$(mktemp -d)
pids=()
passed=0
failed=0

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}
abort() {
  bad "$@"
  finish
}

start_standalone() {
  local name=$1 db=$2
  shift 2
  # Emptied before the server starts, so that a former server's lines (a
  # restart) are never read as this one's.
  : > "$work/$name.out"
  : > "$work/$name.err"
  (cd "$work" && exec "$baton" standalone --dags dags --db "$db" --listen 127.0.0.1:0 "$@" \
    > "$work/$name.out" 2> "$work/$name.err") &
  server_pid=$!
  pids+=("$server_pid")
  url=""
  for _ in $(seq 1 100); do
    url=$(sed -n 's#^UI and API: \(http://[0-9.:]*\)/ .*#\1#p' "$work/$name.out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "server did not start:"; cat "$work/$name.out" "$work/$name.err"
    return 1
  fi
  port=${url##*:}
  token=$(sed -n 's/^admin token: //p' "$work/$name.out")
  wait_loaded "$url"
}

# The API answers while the DAGs folder loads: wait until /health stops saying `loading`.
wait_loaded() {
  local h
  for _ in $(seq 1 400); do
    h=$(curl -s "$1/api/v1/health")
    [ -n "$h" ] && ! grep -q '"loading"' <<<"$h" && return 0
    sleep 0.05
  done
  return 0
}

pg_schema_url() {
  local schema=$1 base=${2:-$BATON_TEST_PG_URL} sep='?'
  case "$base" in *\?*) sep='&' ;; esac
  printf '%s%soptions=-csearch_path%%3D%s\n' "$base" "$sep" "$schema"
}
