#!/usr/bin/env bash
# http and sql tasks on a remote `baton worker` (SPEC §3, §9): one `baton
# server` on PostgreSQL schedules, one worker claims the tries over HTTP and
# runs them against a real HTTP receiver and the PostgreSQL database (through
# a connection); the results come back through the worker endpoints.
# Usage: remote_adapters_test.sh BATON WEBHOOK_RECEIVER  (exit 77 without BATON_TEST_PG_URL)
set -u
if [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: needs PostgreSQL (run under scripts/with-postgres.sh)"
  exit 77
fi
baton=$1
receiver=$2
work=$(mktemp -d)
schema="baton_remote_$$"
case "$BATON_TEST_PG_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
db="$BATON_TEST_PG_URL${sep}options=-csearch_path%3D$schema"
sql() { PGOPTIONS="-c search_path=$schema" psql -qAt "$BATON_TEST_PG_URL" -c "$1"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  psql -qAt "$BATON_TEST_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

mkdir -p "$work/dags" "$work/hooks"
"$receiver" "$work/hooks" &
pids+=("$!")
for _ in $(seq 1 50); do [ -s "$work/hooks/port" ] && break; sleep 0.1; done
hook="http://127.0.0.1:$(cat "$work/hooks/port")"
cat > "$work/dags/remote.yaml" <<YAML
dag: remote
tasks:
  fetch: {type: http, url: "$hook/json"}
  post: {type: http, method: POST, url: "$hook/ok", body: '{"n": {{ outputs.fetch.rows }}}', depends_on: [fetch]}
  load:
    type: sql
    connection: wh
    sql: "CREATE TABLE remote_loaded (n INT); INSERT INTO remote_loaded VALUES ({{ outputs.fetch.rows }}), (1);"
    depends_on: [fetch]
  hang: {type: http, method: POST, url: "$hook/hang", timeout: 2s}
YAML

"$baton" db migrate --db "$db" >/dev/null || { echo "FAIL: migrate"; exit 1; }
admin=$("$baton" tokens create remote-admin --role admin --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
wtoken=$("$baton" tokens create remote-worker --role worker --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
port=$((20000 + RANDOM % 20000))
"$baton" server --db "$db" --dags "$work/dags" --listen "127.0.0.1:$port" --logs "$work/logs" \
  --heartbeat-interval 1s >> "$work/server.log" 2>&1 &
pids+=("$!")
"$baton" worker --server "http://127.0.0.1:$port" --token "$wtoken" --slots 4 --dir "$work/worker" --name w1 \
  --heartbeat-interval 1s >> "$work/worker.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/health" | grep -q '"leader":"' && break
  sleep 0.2
done
export BATON_SERVER="http://127.0.0.1:$port" BATON_TOKEN=$admin
"$baton" connections set wh "$db" >/dev/null && ok || bad "connections set"
for _ in $(seq 1 50); do "$baton" dags list --output json 2>/dev/null | grep -q '"remote"' && break; sleep 0.2; done
run=$("$baton" trigger remote --wait 2>"$work/wait.log"); rc=$?
[ $rc -eq 1 ] && ok || bad "the run should fail (hang times out): exit $rc $(cat "$work/wait.log")"
"$baton" runs show remote "$run" > "$work/run.txt"
for t in fetch post load; do
  grep -Eq "^ *$t +success" "$work/run.txt" && ok || bad "$t did not succeed: $(cat "$work/run.txt")"
done
grep -Eq "^ *hang +failed" "$work/run.txt" && ok || bad "hang did not fail: $(cat "$work/run.txt")"
"$baton" runs show remote "$run" --output json > "$work/run.json"
[ "$(grep -o '"worker": *"w1"' "$work/run.json" | wc -l)" -eq 4 ] && ok \
  || bad "the tries did not all run on the remote worker w1: $(cat "$work/run.json")"
grep -q '{"n": 42}' "$work/hooks/ok.log" && ok || bad "post: the receiver did not get the rendered body"
[ "$(sql 'SELECT sum(n) FROM remote_loaded')" = 43 ] && ok || bad "load: the rows are not in the database"
"$baton" tasks logs remote "$run" load | grep -q "2 rows affected" && ok || bad "load: its log (from the worker) has no rows affected"
"$baton" tasks logs remote "$run" fetch | grep -q '"rows": 42' && ok || bad "fetch: its log has no response body"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
