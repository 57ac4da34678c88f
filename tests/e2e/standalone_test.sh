#!/usr/bin/env bash
# End to end: the real `baton standalone` binary over HTTP, with the CLI as
# its client; crash safety by kill -9; notifications to a real webhook
# receiver. Usage: standalone_test.sh BATON SOURCE_DIR WEBHOOK_RECEIVER
# With BATON_TEST_STORE=postgres it runs on a fresh schema of the database
# BATON_TEST_PG_URL names (exit 77, skipped, without one).
set -u
if [ "${BATON_TEST_STORE:-}" = postgres ] && [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: BATON_TEST_STORE=postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)"
  exit 77
fi
baton=$1
receiver=${3:-}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

mkdir -p "$work/dags" "$work/hooks"
hook=""
if [ -n "$receiver" ]; then
  "$receiver" "$work/hooks" &
  pids+=("$!")
  for _ in $(seq 1 50); do [ -s "$work/hooks/port" ] && break; sleep 0.1; done
  hook="http://127.0.0.1:$(cat "$work/hooks/port")"
fi
cat > "$work/dags/notified.yaml" <<YAML
dag: notified
notify:
  on_failure: [{webhook: "$hook/ok"}, {webhook: "$hook/fail"}, {webhook: "$hook/hang"}, {command: "cat >> notified.log"}]
tasks:
  a: {command: 'exit 1'}
YAML
# http and sql tasks against real services: the receiver, and a database
# (a SQLite file, or the PostgreSQL test database) named by a connection.
cat > "$work/dags/adapters.yaml" <<YAML
dag: adapters
tasks:
  fetch: {type: http, url: "$hook/json"}
  post:
    type: http
    method: POST
    url: "$hook/ok"
    body: '{"rows": {{ outputs.fetch.rows }}}'
    depends_on: [fetch]
  load:
    type: sql
    connection: wh
    sql: "CREATE TABLE IF NOT EXISTS e2e_loaded (n INT); INSERT INTO e2e_loaded VALUES ({{ outputs.fetch.rows }});"
    depends_on: [fetch]
  down: {type: http, method: POST, url: "$hook/fail"}
  hang: {type: http, method: POST, url: "$hook/hang", timeout: 2s}
  nowhere: {type: sql, connection: missing, sql: "SELECT 1"}
YAML
# Datasets: a producer's task and an outside event make a consumer's run.
cat > "$work/dags/ds_producer.yaml" <<'YAML'
dag: ds_producer
tasks:
  export: {command: 'echo exported', produces: ['s3://e2e/orders']}
YAML
cat > "$work/dags/ds_consumer.yaml" <<'YAML'
dag: ds_consumer
schedule: {datasets: ['s3://e2e/orders', 'e2e://external']}
tasks:
  read: {command: 'echo "$BATON_PARAMS"'}
YAML
# foreach: 10,000 mapped instances from an upstream output; downstream gets
# their outputs as one list (null where one wrote none).
cat > "$work/dags/fanout.yaml" <<'YAML'
dag: fanout
tasks:
  list:
    command: |
      printf '{"items": [%s]}' "$(seq -s, 0 9999)" > "$BATON_OUTPUT_FILE"
  each:
    command: |
      echo "item {{ item }} at {{ map_index }}"
      if [ $(( {{ item }} % 1000 )) = 0 ]; then printf '{"k": %d}' {{ item }} > "$BATON_OUTPUT_FILE"; fi
    foreach: '{{ outputs.list.items }}'
    depends_on: [list]
  sum:
    command: echo '{{ outputs.each }}' | tr ',' '\n' | grep -c '"k"'
    depends_on: [each]
YAML
cat > "$work/dags/hello.yaml" <<'YAML'
dag: hello
params: {who: world}
tasks:
  greet:
    command: |
      echo "hello {{ params.who }} on {{ ds }}"; printf '{"n": 1}' > "$BATON_OUTPUT_FILE"
  done: {type: noop, depends_on: [greet]}
YAML
cat > "$work/dags/broken.yaml" <<'YAML'
dag: broken
tasks:
  a: {command: 'exit 7'}
YAML
cat > "$work/dags/resume.yaml" <<'YAML'
dag: resume
tasks:
  work:
    command: >-
      if [ -f "$BATON_CHECKPOINT_FILE" ]; then echo "resumed at $(cat $BATON_CHECKPOINT_FILE)";
      else echo row-500 > "$BATON_CHECKPOINT_FILE"; echo started; sleep 60; fi
    retries: 1
    retry_delay: 0
YAML
cat > "$work/dags/days.yaml" <<'YAML'
dag: days
schedule: '0 0 * * *'
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  a: {command: 'test {{ ds }} != 2026-02-03'}
YAML
cat > "$work/dags/slowdays.yaml" <<'YAML'
dag: slowdays
schedule: '@daily'
start_date: 2026-01-01
tasks:
  a: {command: 'sleep 20'}
YAML
start_date=$(date -u -d '-5 seconds' +%Y-%m-%dT%H:%M:%SZ)
cat > "$work/dags/ticker.yaml" <<YAML
dag: ticker
schedule: every 1s
start_date: $start_date
tasks:
  t: {type: noop}
YAML

if [ "${BATON_TEST_STORE:-}" = postgres ]; then
  schema="baton_e2e_$$"
  case "$BATON_TEST_PG_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
  db="$BATON_TEST_PG_URL${sep}options=-csearch_path%3D$schema"
  sql() { PGOPTIONS="-c search_path=$schema" psql -qAt "$BATON_TEST_PG_URL" -c "$1"; }
  sql_on_connection() { sql "$1"; }
else
  db="sqlite:$work/baton.db"
  sql() { sqlite3 "$work/baton.db" "$1"; }
  sql_on_connection() { sqlite3 "$work/wh.db" "$1"; }
fi
start_server() {
  : > "$work/out.log"
  # Relative folders, as a user in their project folder would give them.
  (cd "$work" && exec "$baton" standalone --dags dags --db "$db" --listen 127.0.0.1:0 --logs logs --workers 4 \
    --heartbeat-interval 1s >> "$work/out.log" 2> "$work/err.log") &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do
    url=$(sed -n 's#^UI and API: \(http://[0-9.:]*\)/ .*#\1#p' "$work/out.log")
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "server did not start:"; cat "$work/out.log" "$work/err.log"
    return 1
  fi
  # The API answers while the DAGs folder loads: until /health stops saying `loading`.
  local h
  for _ in $(seq 1 400); do
    h=$(curl -s "$url/api/v1/health")
    [ -n "$h" ] && ! grep -q '"loading"' <<<"$h" && return 0
    sleep 0.05
  done
  return 0
}

start_server || { echo "0 passed, 1 failed"; exit 1; }
token=$(sed -n 's/^admin token: //p' "$work/out.log")
[ -n "$token" ] && ok || bad "no admin token printed"
export BATON_SERVER=$url BATON_TOKEN=$token

# health, auth
body=$(curl -s "$url/api/v1/health")
case "$body" in *'"status":"ok"'*|*'"status": "ok"'*) ok ;; *) bad "health: $body" ;; esac
echo "$body" | grep -q '"partitions":64' && ok || bad "health: no member owning the 64 partitions: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/dags")
[ "$code" = 401 ] && ok || bad "no token: HTTP $code"

# http and sql tasks
if [ -n "$receiver" ]; then
  if [ "${BATON_TEST_STORE:-}" = postgres ]; then
    "$baton" connections set wh "$db" >/dev/null && ok || bad "connections set"
  else
    "$baton" connections set wh "sqlite:$work/wh.db" >/dev/null && ok || bad "connections set"
  fi
  run=$("$baton" trigger adapters --wait 2>/dev/null); rc=$?
  [ $rc -eq 1 ] && ok || bad "adapters: the run should fail (down, hang, nowhere): exit $rc"
  "$baton" runs show adapters "$run" > "$work/adapters.txt"
  for t in fetch post load; do
    grep -Eq "^ *$t +success" "$work/adapters.txt" && ok || bad "adapters: $t did not succeed: $(cat "$work/adapters.txt")"
  done
  for t in down hang nowhere; do
    grep -Eq "^ *$t +failed" "$work/adapters.txt" && ok || bad "adapters: $t did not fail: $(cat "$work/adapters.txt")"
  done
  grep -q '{"rows": 42}' "$work/hooks/ok.log" && ok || bad "post: the receiver did not get the rendered body"
  [ "$(sql_on_connection 'SELECT n FROM e2e_loaded')" = 42 ] && ok || bad "load: the row is not in the database"
  "$baton" tasks logs adapters "$run" load | grep -q "1 rows affected" && ok || bad "load: no rows affected in its log"
  "$baton" tasks logs adapters "$run" down | grep -q "HTTP 500 (expected 2xx)" && ok || bad "down: no status in its log"
  "$baton" runs show adapters "$run" --output json > "$work/adapters.json"
  grep -q '"reason": *"timeout"' "$work/adapters.json" && ok || bad "hang: not a timeout: $(cat "$work/adapters.json")"
  grep -q 'no connection named' "$work/adapters.json" && ok || bad "nowhere: no reason naming the connection"
fi

# datasets: producer, then an outside event; one dataset run with both
"$baton" trigger ds_producer --wait >/dev/null 2>&1 && ok || bad "ds_producer did not succeed"
"$baton" runs list ds_consumer --output json | grep -q '"run_id"' && bad "a consumer run before its second dataset had news" || ok
code=$(curl -s -o "$work/event.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  "$url/api/v1/datasets/events" -d '{"uri": "e2e://external", "extra": {"batch": 7}}')
[ "$code" = 201 ] && ok || bad "POST /datasets/events: HTTP $code $(cat "$work/event.json")"
ds_run=""
for _ in $(seq 1 100); do
  ds_run=$("$baton" runs list ds_consumer --output json | grep -o '"run_id": *"dataset__[^"]*"' | head -n 1 | cut -d'"' -f4)
  [ -n "$ds_run" ] && break
  sleep 0.1
done
[ -n "$ds_run" ] && ok || bad "no dataset run of ds_consumer"
if [ -n "$ds_run" ]; then
  for _ in $(seq 1 100); do "$baton" runs show ds_consumer "$ds_run" | grep -q "success" && break; sleep 0.1; done
  "$baton" tasks logs ds_consumer "$ds_run" read > "$work/ds.log"
  grep -q '"uri":"s3://e2e/orders"' "$work/ds.log" && grep -q '"batch":7' "$work/ds.log" && ok \
    || bad "the dataset run's params.dataset_events: $(cat "$work/ds.log")"
fi

# foreach: a 10,000-item fan-out runs, and the CLI and API page through it
start_fan=$(date +%s%N)
fan=$(timeout 600 "$baton" trigger fanout --wait 2>"$work/fan.log"); rc=$?
fan_ms=$(( ($(date +%s%N) - start_fan) / 1000000 ))
echo "foreach: 10,000 mapped shell tasks in ${fan_ms} ms (4 worker slots)"
[ $rc -eq 0 ] && ok || bad "fanout: exit $rc $(cat "$work/fan.log")"
"$baton" runs show fanout "$fan" > "$work/fan.txt"
grep -Eq '^ *each +success +10000 mapped +.* success 10000' "$work/fan.txt" && ok \
  || bad "runs show: each is not rolled up: $(cat "$work/fan.txt")"
[ "$(grep -c '^ *each ' "$work/fan.txt")" -eq 1 ] && ok || bad "runs show lists mapped instances one by one"
"$baton" runs show fanout "$fan" --mapped each --output json > "$work/fan.json"
[ "$(grep -c '"map_index":' "$work/fan.json")" -eq 10000 ] && ok \
  || bad "runs show --mapped each: $(grep -c '"map_index":' "$work/fan.json") of 10000 instances"
"$baton" tasks logs fanout "$fan" each --map-index 9999 | grep -qx "item 9999 at 9999" && ok \
  || bad "the log of each[9999]"
[ "$("$baton" tasks logs fanout "$fan" sum)" = 10 ] && ok || bad "sum did not get the 10 outputs in its list"
"$baton" tasks logs fanout "$fan" each 2>&1 | grep -q "is a foreach task: its 10000 mapped instances have the logs" && ok \
  || bad "the logs of a foreach task without --map-index do not say where the logs are"
curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/fanout/grid" \
  | grep -q '{"counts":{"success":10000},"mapped":10000,"state":"success"}' && ok || bad "the grid cell of each"
body=$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/fanout/runs/$fan/tasks?task_id=each&map_index=4321")
case "$body" in *'"item":4321'*'"state":"success"'*) ok ;; *) bad "GET tasks?map_index=4321: $body" ;; esac
[ "$(sql "SELECT count(*) FROM task_instances WHERE task_id = 'each' AND map_index >= 0")" = 10000 ] && ok \
  || bad "the store does not have 10,000 mapped instances"

# trigger --wait: success and failure
run=$("$baton" trigger hello --params '{"who": "e2e"}' --wait 2>"$work/wait.log")
rc=$?
[ $rc -eq 0 ] && ok || bad "trigger --wait hello: exit $rc $(cat "$work/wait.log")"
logs=$("$baton" tasks logs hello "$run" greet)
case "$logs" in "hello e2e on "*) ok ;; *) bad "logs: $logs" ;; esac
"$baton" runs show hello "$run" | grep -q "greet .*success" && ok || bad "runs show"
curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/hello/runs/$run/tasks/greet" | grep -q '"output":{"n":1}' \
  && ok || bad "the task's output was not stored"
"$baton" trigger broken --wait >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] && ok || bad "trigger --wait broken: exit $rc"

# bad input: clear errors, right exit codes, nothing stored
"$baton" trigger nope >/dev/null 2>"$work/e.log"; rc=$?
[ $rc -eq 1 ] && grep -q 'nope' "$work/e.log" && ok || bad "unknown DAG: exit $rc $(cat "$work/e.log")"
"$baton" trigger hello --params 'not json' >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok || bad "bad params: exit $rc"
"$baton" trigger hello --params '{"whoo": "typo"}' >/dev/null 2>"$work/e.log"; rc=$?
[ $rc -eq 2 ] && grep -q '"whoo" is not a param of DAG hello' "$work/e.log" && ok \
  || bad "undeclared param: exit $rc $(cat "$work/e.log")"
BATON_TOKEN=wrong "$baton" runs list hello >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ok || bad "wrong token: exit $rc"
"$baton" runs list hello --server http://127.0.0.1:1 >/dev/null 2>&1; rc=$?
[ $rc -eq 3 ] && ok || bad "unreachable: exit $rc"
n=$("$baton" runs list hello --output json | grep -c '"run_id"')
[ "$n" -eq 1 ] && ok || bad "runs after bad input: $n"

# pools, variables, connections through the CLI
"$baton" pools set etl 3 >/dev/null && ok || bad "pools set"
"$baton" pools list | grep -qE "^etl +3 +0" && ok || bad "pools list: $("$baton" pools list)"
"$baton" pools set etl many >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "pools set bad number"
"$baton" variables set bucket s3://data >/dev/null && ok || bad "variables set"
[ "$("$baton" variables get bucket)" = "s3://data" ] && ok || bad "variables get"
"$baton" connections set wh 'postgresql://u:secret@127.0.0.1:5432/wh' >/dev/null && ok || bad "connections set"
"$baton" connections list | grep -q secret && bad "a connection's password is shown" || ok
"$baton" variables delete bucket >/dev/null && ok || bad "variables delete"
"$baton" variables get bucket >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "deleted variable still there"

# namespaces through the CLI (docs/namespaces.md): set merges with what is stored
"$baton" namespaces --help | grep -q "set" && ok || bad "namespaces --help"
"$baton" namespaces set --help | grep -q -- "--no-max-running-tasks" && ok || bad "namespaces set --help"
"$baton" namespaces list | grep -qE "^default +1 +- +- +[0-9]+ +[0-9]+ +[0-9.]+ +no" && ok || bad "namespaces list: $("$baton" namespaces list)"
[ "$("$baton" namespaces set etl --weight 2.5 --max-running-tasks 4 --folder team//etl/ --description loads)" = "created etl" ] && ok || bad "namespaces set (new)"
"$baton" namespaces list | grep -qE "^etl +2.5 +4 +team/etl +0 +0 +0 +yes" && ok || bad "namespaces list after set: $("$baton" namespaces list)"
"$baton" namespaces set etl --description 'nightly loads' >/dev/null && ok || bad "namespaces set (merge)"
ns_json=$("$baton" namespaces list --output json)
printf '%s' "$ns_json" | grep -qF '"description": "nightly loads"' && printf '%s' "$ns_json" | grep -qF '"weight": 2.5' &&
  printf '%s' "$ns_json" | grep -qF '"max_running_tasks": 4' && ok || bad "namespaces set did not merge: $ns_json"
"$baton" namespaces set etl --no-max-running-tasks --no-folder >/dev/null && ok || bad "namespaces set --no-..."
"$baton" namespaces list | grep -qE "^etl +2.5 +- +- " && ok || bad "namespaces --no-...: $("$baton" namespaces list)"
for args in "etl --weight 0" "etl --weight nan" "etl --weight many" "etl --max-running-tasks 0" "etl --folder /abs" \
            "etl --folder a/../.." "bad%name --weight 2" "etl --max-running-tasks 3 --no-max-running-tasks"; do
  # shellcheck disable=SC2086
  "$baton" namespaces set $args >/dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] && ok || bad "namespaces set $args: exit $rc, expected 2"
done
"$baton" namespaces list --output json | grep -qF '"weight": 2.5' && ok || bad "a refused set changed etl"
"$baton" namespaces list --server http://127.0.0.1:1 >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "namespaces list unreachable"
"$baton" namespaces delete etl >/dev/null && ok || bad "namespaces delete"
"$baton" namespaces delete etl >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "namespaces delete of one not configured"
"$baton" namespaces list | grep -q "^etl " && bad "a deleted namespace no DAG names is listed" || ok

# tokens through the server: created once, used, listed without secrets, revoked
viewer=$("$baton" tokens create e2e-viewer --role viewer)
case "$viewer" in baton_*) ok ;; *) bad "tokens create through the API: $viewer" ;; esac
BATON_TOKEN=$viewer "$baton" runs list hello >/dev/null 2>&1 && ok || bad "the new viewer token does not work"
BATON_TOKEN=$viewer "$baton" trigger hello >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "a viewer may trigger"
BATON_TOKEN=$viewer "$baton" tokens list >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "a viewer may list tokens"
BATON_TOKEN=$viewer "$baton" namespaces set etl --weight 2 >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "a viewer may set a namespace"
BATON_TOKEN=$viewer "$baton" namespaces list >/dev/null && ok || bad "a viewer may not list namespaces"
"$baton" tokens list | grep -qE "^e2e-viewer +viewer" && ok || bad "tokens list: $("$baton" tokens list)"
"$baton" tokens list --output json | grep -qF "$viewer" && bad "tokens list shows a secret" || ok
"$baton" tokens create e2e-viewer --role viewer >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "a duplicate token name"
"$baton" tokens create 'bad name' --role viewer >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "a bad token name"
"$baton" tokens revoke e2e-viewer >/dev/null && ok || bad "tokens revoke"
BATON_TOKEN=$viewer "$baton" runs list hello >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "a revoked token still works"
"$baton" config show | grep -q "^token .*baton_\*\*\* *# BATON_TOKEN" && ok || bad "config show: $("$baton" config show)"

# notifications: a failed run notifies a webhook (and one that fails, one
# that hangs) and a command; scheduling goes on while they are tried
if [ -n "$hook" ]; then
  "$baton" trigger notified --wait >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "the notified run did not fail"
  started=$(date +%s)
  "$baton" trigger hello --wait >/dev/null 2>&1 && ok || bad "a run while a webhook hangs"
  [ $(( $(date +%s) - started )) -lt 5 ] && ok || bad "a hanging webhook slowed scheduling down"
  for _ in $(seq 1 100); do [ -s "$work/hooks/ok.log" ] && [ -s "$work/dags/notified.log" ] && break; sleep 0.1; done
  grep -q '"event":"on_failure"' "$work/hooks/ok.log" && grep -q '"dag_id":"notified"' "$work/hooks/ok.log" && ok \
    || bad "webhook body: $(cat "$work/hooks/ok.log" 2>/dev/null)"
  grep -q '"state":"failed"' "$work/dags/notified.log" && ok || bad "command input: $(cat "$work/dags/notified.log" 2>/dev/null)"
  [ -s "$work/hooks/fail.log" ] && [ -s "$work/hooks/hang.log" ] && ok || bad "the failing and hanging webhooks were not tried"
else
  bad "no webhook receiver given"
fi

# metrics: Prometheus's own checker accepts them
if command -v promtool >/dev/null; then
  curl -s -H "Authorization: Bearer $token" "$url/api/v1/metrics" > "$work/metrics.txt"
  promtool check metrics < "$work/metrics.txt" > "$work/promtool.log" 2>&1 && ok || bad "promtool: $(cat "$work/promtool.log")"
  grep -q '^baton_task_scheduling_latency_seconds_count [1-9]' "$work/metrics.txt" && ok || bad "no latency counted"
  grep -q '^baton_runs{state="success"} [1-9]' "$work/metrics.txt" && ok || bad "metrics: no successful runs"
else
  bad "promtool is not installed (scripts/install-deps.sh test installs prometheus)"
fi

# backfill: the plan, --wait with plain progress lines, exit codes, list and status
out=$("$baton" backfill days --from 2026-01-02 --to 2026-01-04 --dry-run)
case "$out" in *"3 to create, 0 to rerun, 0 to skip"*) ok ;; *) bad "backfill --dry-run: $out" ;; esac
echo "$out" | grep -q "2026-01-01T23:00:00Z  create" && ok || bad "backfill plan is not in local days: $out"
[ "$("$baton" runs list days --output json | grep -c backfill__)" = 0 ] && ok || bad "a dry run created runs"
id=$("$baton" backfill days --from 2026-01-02 --to 2026-01-04 --wait 2>"$work/bf.log"); rc=$?
[ $rc -eq 0 ] && grep -q "backfill $id success: 3 of 3 runs done, 0 failed" "$work/bf.log" && ok \
  || bad "backfill --wait: exit $rc $(cat "$work/bf.log")"
"$baton" backfill days --from 2026-02-01 --to 2026-02-05 --wait >/dev/null 2>"$work/bf.log"; rc=$?
[ $rc -eq 1 ] && grep -q "failed: 5 of 5 runs done, 1 failed" "$work/bf.log" && ok || bad "failing backfill: exit $rc $(cat "$work/bf.log")"
again=$("$baton" backfill days --from 2026-01-01 --to 2026-01-04 --dry-run)
echo "$again" | grep -q "1 to create, 0 to rerun, 3 to skip" && ok || bad "second plan: $again"
"$baton" backfill list | grep -qE "^$id +days +2026-01-02 +2026-01-04 +success +3 +0 +3" && ok || bad "backfill list: $("$baton" backfill list)"
"$baton" backfill status "$id" | grep -q "success, 3/3 runs" && ok || bad "backfill status"
"$baton" backfill cancel "$id" >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "cancel of a finished backfill"
"$baton" backfill days --from 2026-01-05 --to 2026-01-01 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bounds in the wrong order"
"$baton" backfill days --from 2026-01-01 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "no --to"
# On a terminal, a progress bar (a pseudo-terminal from script(1)).
script -qec "'$baton' backfill days --from 2026-03-01 --to 2026-03-03 --wait" /dev/null >"$work/tty.log" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q '\[##########' "$work/tty.log" && grep -q '3/3 runs, 0 failed, .* runs/s, ETA' "$work/tty.log" \
  && ok || bad "progress bar: exit $rc $(tr '\r' '\n' < "$work/tty.log" | tail -3)"
# Ctrl-C detaches; the backfill goes on until canceled, running tasks included.
"$baton" backfill slowdays --from 2026-01-01 --to 2026-01-03 --wait >"$work/slow.id" 2>"$work/slow.log" &
waiter=$!
for _ in $(seq 1 100); do grep -q running "$work/slow.log" 2>/dev/null && break; sleep 0.1; done
kill -INT "$waiter"; wait "$waiter"; rc=$?
slow=$(cat "$work/slow.id")
[ $rc -eq 130 ] && grep -q "detached: backfill $slow goes on" "$work/slow.log" && ok || bad "Ctrl-C: exit $rc $(cat "$work/slow.log")"
"$baton" backfill status "$slow" | grep -q ": running" && ok || bad "the detached backfill stopped"
"$baton" backfill cancel "$slow" >/dev/null && ok || bad "backfill cancel"
"$baton" backfill status "$slow" | grep -q ": canceled" && ok || bad "canceled state"
n=$("$baton" runs list slowdays --output json | grep -c '"state": "canceled"')
[ "$n" -eq 3 ] && ok || bad "canceled runs of the backfill: $n"

# the folder is watched: a new DAG appears, an invalid edit keeps the last version
cat > "$work/dags/late.yaml" <<'YAML'
dag: late
tasks: {a: {type: noop}}
YAML
found=0
for _ in $(seq 1 20); do
  curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/late" | grep -q '"dag_id"' && { found=1; break; }
  sleep 0.1
done
[ $found -eq 1 ] && ok || bad "new DAG file not picked up within 2 s"
echo "dag: late
tasks: {a: {type: noop, depends_on: [zz]}}" > "$work/dags/late.yaml"
errs=0
for _ in $(seq 1 20); do
  curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/late" | grep -q 'zz' && { errs=1; break; }
  sleep 0.1
done
[ $errs -eq 1 ] && ok || bad "import error not shown"
"$baton" trigger late --wait >/dev/null 2>&1 && ok || bad "the last valid version of late does not run"

# crash safety: kill -9 while a shell task runs, start again on the same database
resume_run=$("$baton" trigger resume)
for _ in $(seq 1 100); do
  grep -q started "$work/logs/resume/$resume_run/work/1.log" 2>/dev/null && break
  sleep 0.1
done
# A heartbeat saves the checkpoint: wait until the database has it.
for _ in $(seq 1 50); do
  [ "$(sql "SELECT count(*) FROM task_instances WHERE checkpoint IS NOT NULL")" -ge 1 ] && break
  sleep 0.1
done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null
start_server || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
export BATON_SERVER=$url
state=""
for _ in $(seq 1 100); do
  state=$("$baton" runs list resume --output json | sed -n 's/.*"state": "\([a-z_]*\)".*/\1/p' | head -1)
  [ "$state" = success ] || [ "$state" = failed ] && break
  sleep 0.1
done
[ "$state" = success ] && ok || bad "resume run after kill -9: $state"
"$baton" tasks logs resume "$resume_run" work --try 2 | grep -q "resumed at row-500" && ok || bad "try 2 did not see the checkpoint"
curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/resume/runs/$resume_run/tasks/work/tries" | grep -q worker_lost \
  && ok || bad "the killed try is not worker_lost"
dups=$(sql "SELECT count(*) FROM (SELECT dag_id, logical_date FROM dag_runs WHERE run_type IN ('scheduled','backfill') GROUP BY 1, 2 HAVING count(*) > 1) AS d")
[ "$dups" = 0 ] && ok || bad "intervals with two runs: $dups"
ticks=$(sql "SELECT count(*) FROM dag_runs WHERE dag_id = 'ticker'")
[ "$ticks" -ge 1 ] && ok || bad "ticker has no scheduled runs"

# one scheduling process per database (SQLite; PostgreSQL until partitions)
"$baton" standalone --dags "$work/dags" --db "$db" --listen 127.0.0.1:0 --logs "$work/logs" >/dev/null 2>"$work/second.log"
rc=$?
[ $rc -eq 1 ] && grep -q "already scheduling" "$work/second.log" && ok || bad "second standalone: exit $rc $(cat "$work/second.log")"

# SIGTERM: a clean exit 0
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
[ $rc -eq 0 ] && ok || bad "SIGTERM exit $rc"

# The audit chain finds an entry edited straight in the database.
"$baton" audit verify --db "$db" >/dev/null 2>&1 && ok || bad "audit verify of an untouched log"
sql "UPDATE audit_log SET actor = 'mallory' WHERE id = 3" >/dev/null
"$baton" audit verify --db "$db" >"$work/verify.log" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "entry 3" "$work/verify.log" && ok || bad "audit verify after an edit: exit $rc $(cat "$work/verify.log")"

# PostgreSQL: the scheduling lock lives with its session; when that session
# ends (a server restart, an operator), standalone stops at once.
if [ "${BATON_TEST_STORE:-}" = postgres ]; then
  start_server || bad "restart for the lock test"
  # Only this test's lock: other tests share the cluster (their own schemas)
  # and run at the same time. The advisory lock of a bigint key k shows in
  # pg_locks as classid = the high 32 bits of k, objid = the low 32 bits.
  ended=$(sql "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l,
      (SELECT hashtext('baton.scheduler:' || current_setting('search_path'))::bigint AS k) x
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = ((x.k >> 32) & 4294967295) AND l.objid::bigint = (x.k & 4294967295)")
  [ "$ended" -ge 1 ] && ok || bad "no advisory lock session to end"
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  wait "$server_pid"
  rc=$?
  [ $rc -eq 3 ] && grep -q "the session holding the scheduling lock is gone" "$work/err.log" && ok \
    || bad "lost lock: exit $rc $(tail -3 "$work/err.log")"
fi

# Fencing: when another process takes this scheduler's partitions (new
# epochs), its next write is refused by the database and it stops.
start_server || bad "restart for the fencing test"
sql "UPDATE partitions SET owner = 'someone-else', epoch = epoch + 1" >/dev/null
"$baton" trigger hello >/dev/null 2>&1
for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
wait "$server_pid"
rc=$?
[ $rc -eq 70 ] && cat "$work/out.log" "$work/err.log" | grep -q "another scheduler owns this scheduler's partitions now" && ok \
  || bad "a fenced-out scheduler: exit $rc $(tail -3 "$work/out.log")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
