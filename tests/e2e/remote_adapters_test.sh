#!/usr/bin/env bash
# http and sql tasks on a remote `baton worker` (SPEC §3, §9): two `baton
# server` members on PostgreSQL schedule, one worker claims the tries over HTTP
# and runs them against a real HTTP receiver and the PostgreSQL database
# (through a connection); the results come back through the worker endpoints.
# Then a foreach whose 20 mapped instances run on the worker, and trigger_dag
# across members: a DAG triggers eight others, which the
# partitions spread over both members, and waits for them; a sensor waits
# for a file.
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
{
  echo "dag: fanout"
  echo "tasks:"
  for n in 1 2 3 4 5 6 7 8; do echo "  kick_$n: {type: trigger_dag, dag: leaf_$n, params: {n: $n}}"; done
  echo "  flag: {type: sensor.file, path: $work/flag, poke_interval: 1s}"
} > "$work/dags/fanout.yaml"
cat > "$work/dags/fanremote.yaml" <<'YAML'
dag: fanremote
tasks:
  list: {command: 'printf "{\"n\": [%s]}" "$(seq -s, 1 20)" > "$BATON_OUTPUT_FILE"'}
  each:
    command: 'echo "item {{ item }} on the worker"; printf "{\"sq\": %d}" $(( {{ item }} * {{ item }} )) > "$BATON_OUTPUT_FILE"'
    foreach: '{{ outputs.list.n }}'
    depends_on: [list]
  total: {command: "echo '{{ outputs.each }}'", depends_on: [each]}
YAML
# A try of a queue only the idle-exiting worker takes (--exit-when-idle).
printf 'dag: napper\ntasks:\n  nap: {command: "sleep 3; echo napped", queue: idle}\n' > "$work/dags/napper.yaml"
for n in 1 2 3 4 5 6 7 8; do
  printf 'dag: leaf_%s\nparams: {n: 0}\ntasks:\n  echo: {command: "echo leaf {{ params.n }}"}\n' "$n" > "$work/dags/leaf_$n.yaml"
done
# Four DAGs, which the partitions spread over both members, with one task
# each in a pool of one slot: each writes when it ran to a ledger.
for n in 1 2 3 4; do
  cat > "$work/dags/pooled_$n.yaml" <<YAML
dag: pooled_$n
tasks:
  use: {command: 's=\$(date +%s%N); sleep 2; echo "\$s \$(date +%s%N) $n" >> $work/pool.ledger', pool: one}
YAML
done

"$baton" db migrate --db "$db" >/dev/null || { echo "FAIL: migrate"; exit 1; }
admin=$("$baton" tokens create remote-admin --role admin --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
wtoken=$("$baton" tokens create remote-worker --role worker --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
# Each member binds a port the kernel picks (a fixed or random one may be
# taken by a parallel test's connections) and prints it.
start_member() {  # LOG LOGS_DIR VAR: sets VAR to the member's port
  "$baton" server --db "$db" --dags "$work/dags" --listen 127.0.0.1:0 --logs "$2" \
    --heartbeat-interval 1s >> "$1" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 150); do
    p=$(sed -n 's#^UI and API: http://[0-9.]*:\([0-9]*\)/ .*#\1#p' "$1")
    [ -n "$p" ] && { printf -v "$3" '%s' "$p"; return 0; }
    sleep 0.1
  done
  return 1
}
port= port2=
start_member "$work/server.log" "$work/logs" port && start_member "$work/server2.log" "$work/logs2" port2 || {
  echo "FAIL: a server did not start:"; cat "$work/server.log" "$work/server2.log" 2>/dev/null
  echo "0 passed, 1 failed"; exit 1
}
"$baton" worker --server "http://127.0.0.1:$port" --token "$wtoken" --slots 4 --dir "$work/worker" --name w1 \
  --heartbeat-interval 1s >> "$work/worker.log" 2>&1 &
pids+=("$!")
led=
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/health" | grep -q '"leader":"' && { led=1; break; }
  sleep 0.2
done
[ -n "$led" ] || { echo "FAIL: no leader after 20 s:"; tail -n 30 "$work/server.log" "$work/server2.log"; echo "0 passed, 1 failed"; exit 1; }
export BATON_SERVER="http://127.0.0.1:$port" BATON_TOKEN=$admin
"$baton" connections set wh "$db" >/dev/null && ok || bad "connections set"
"$baton" pools set one 1 >/dev/null && ok || bad "pools set"
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

# foreach on the remote worker: every mapped instance is claimed, run and
# reported there, with its item and a log of its own
for _ in $(seq 1 50); do "$baton" dags list --output json 2>/dev/null | grep -q '"fanremote"' && break; sleep 0.2; done
frun=$("$baton" trigger fanremote --wait 2>"$work/fwait.log"); rc=$?
[ $rc -eq 0 ] && ok || bad "fanremote: exit $rc $(cat "$work/fwait.log"); $("$baton" runs show fanremote "$frun" 2>&1)"
"$baton" runs show fanremote "$frun" --mapped each --output json > "$work/fmapped.json"
[ "$(grep -o '"worker": *"w1"' "$work/fmapped.json" | wc -l)" -eq 20 ] && ok \
  || bad "the 20 mapped instances did not all run on w1: $(head -c 2000 "$work/fmapped.json")"
"$baton" tasks logs fanremote "$frun" each --map-index 19 | grep -q "item 20 on the worker" && ok \
  || bad "each[19]: its log from the worker"
"$baton" tasks logs fanremote "$frun" total | grep -q '^\[{"sq":1},{"sq":4},.*{"sq":400}\]$' && ok \
  || bad "total: the outputs of the mapped instances: $("$baton" tasks logs fanremote "$frun" total)"

# trigger_dag across the two members, and a sensor
for _ in $(seq 1 50); do
  [ "$(curl -s "http://127.0.0.1:$port/api/v1/health" | grep -o '"partitions":[1-9][0-9]*' | wc -l)" -ge 2 ] && break
  sleep 0.2
done
# Nine DAGs over two members by rendezvous hashing: all on one member has a
# chance of 1 in 256; then the cross-member path is not exercised this time.
owners=$(sql "SELECT count(DISTINCT owner) FROM partitions WHERE partition_no IN (SELECT partition_no FROM dags WHERE dag_id LIKE 'leaf_%' OR dag_id = 'fanout')")
case "$owners" in
  2) ok ;;
  1) echo "note: the fanout and leaf DAGs all landed on one member this time" ;;
  *) bad "partition owners of the fanout and leaf DAGs: '$owners'" ;;
esac
(sleep 3; touch "$work/flag") &
fan=$("$baton" trigger fanout --wait 2>"$work/fan.log"); rc=$?
[ $rc -eq 0 ] && ok || bad "fanout: exit $rc $(cat "$work/fan.log"); $("$baton" runs show fanout "$fan" 2>&1)"
for n in 1 2 3 4 5 6 7 8; do
  "$baton" runs list "leaf_$n" --output json > "$work/leaf.json"
  [ "$(grep -o '"run_id"' "$work/leaf.json" | wc -l)" -eq 1 ] && grep -q '"state": *"success"' "$work/leaf.json" && ok \
    || bad "leaf_$n: not exactly one successful run: $(cat "$work/leaf.json")"
done
leaf_run=$("$baton" runs list leaf_3 --output json | grep -o '"run_id": *"[^"]*"' | cut -d'"' -f4)
"$baton" tasks logs leaf_3 "$leaf_run" echo | grep -q "leaf 3" && ok || bad "leaf_3 did not get its params"

# A pool holds across members: the four tries of the pool of one slot ran
# one at a time, whichever member queued them; one waiting says why.
prun=()
for n in 1 2 3 4; do prun+=("$("$baton" trigger "pooled_$n")"); done
why=
for _ in $(seq 1 60); do
  for n in 1 2 3 4; do
    w=$("$baton" tasks why "pooled_$n" "${prun[$((n - 1))]}" use 2>&1)
    # "... by tries on workers (of all members)" when the other member's
    # try holds the slot; the member's own count when it queued that one.
    case "$w" in *"pool one: 1 of 1 slots taken"*) why=$w ;; esac
  done
  [ -n "$why" ] && break
  sleep 0.2
done
[ -n "$why" ] && ok || bad "no queued try said it waits for the pool: $w"
for n in 1 2 3 4; do
  for _ in $(seq 1 100); do
    "$baton" runs list "pooled_$n" --output json 2>/dev/null | grep -q '"state": *"\(success\|failed\)"' && break
    sleep 0.2
  done
done
[ "$(wc -l < "$work/pool.ledger" 2>/dev/null)" = 4 ] && ok || bad "the pooled tries did not all run: $(cat "$work/pool.ledger" 2>&1)"
overlap=$(sort -n "$work/pool.ledger" | awk 'NR > 1 && $1 < end { print "DAG " $3 " started before DAG " last " ended" } { end = $2; last = $3 }')
[ -z "$overlap" ] && ok || bad "a pool of one slot ran two tries at once: $overlap"
pool_owners=$(sql "SELECT count(DISTINCT owner) FROM partitions WHERE partition_no IN (SELECT partition_no FROM dags WHERE dag_id LIKE 'pooled_%')")
[ "$pool_owners" = 2 ] || echo "note: the pooled DAGs all landed on one member this time"

# --exit-when-idle: bad values are refused; a worker exits 0 once it has run
# no try and held none for that long — not while its try runs.
"$baton" worker --server "http://127.0.0.1:$port" --token "$wtoken" --exit-when-idle 0s > "$work/idle-bad.log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q -- "--exit-when-idle: must be at least 1s" "$work/idle-bad.log" && ok \
  || bad "--exit-when-idle 0s: exit $rc $(cat "$work/idle-bad.log")"
for _ in $(seq 1 50); do "$baton" dags list --output json 2>/dev/null | grep -q '"napper"' && break; sleep 0.2; done
nap=$("$baton" trigger napper)
for _ in $(seq 1 100); do
  "$baton" runs show napper "$nap" 2>/dev/null | grep -Eq "^ *nap +queued" && break
  sleep 0.2
done
"$baton" worker --server "http://127.0.0.1:$port" --token "$wtoken" --queues idle --slots 2 --dir "$work/worker-idle" \
  --name w-idle --heartbeat-interval 1s --exit-when-idle 2s > "$work/worker-idle.log" 2>&1 &
idle_pid=$!
pids+=("$idle_pid")
ended=
for _ in $(seq 1 300); do kill -0 "$idle_pid" 2>/dev/null || { ended=1; break; }; sleep 0.1; done
if [ -n "$ended" ]; then
  wait "$idle_pid"; rc=$?
  [ $rc -eq 0 ] && ok || bad "the idle worker exited $rc: $(tail -n 20 "$work/worker-idle.log")"
else
  bad "the worker with --exit-when-idle 2s did not exit within 30 s: $(tail -n 20 "$work/worker-idle.log")"
fi
grep -q "exiting (--exit-when-idle)" "$work/worker-idle.log" && ok || bad "the idle worker did not say why it exited"
for _ in $(seq 1 50); do
  "$baton" runs show napper "$nap" --output json > "$work/nap.json"
  grep -q '"state": *"success"' "$work/nap.json" && break
  sleep 0.2
done
grep -q '"state": *"success"' "$work/nap.json" && grep -q '"worker": *"w-idle"' "$work/nap.json" && ok \
  || bad "napper: its try did not run to its end on the idle-exiting worker: $(cat "$work/nap.json")"
"$baton" tasks logs napper "$nap" nap | grep -q napped && ok || bad "napper: its log from the worker"

echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  for f in server.log server2.log worker.log worker-idle.log; do echo "== the last lines of $f"; tail -n 40 "$work/$f"; done
fi
[ "$failed" -eq 0 ]
