#!/usr/bin/env bash
# Retention end to end (docs/running.md "Retention"): the real binary runs
# `baton standalone` on SQLite, makes some history, ages part of it (as if it
# were months old), then `baton db clean` first with --dry-run (counts,
# nothing changed), then for real (the same counts; rows and log files gone;
# the latest run of each DAG kept), while the server goes on serving the
# runs that remain; bad input changes nothing; the audit log verifies.
# Usage: retention_test.sh BATON
set -u
baton=$1
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
sql() { sqlite3 "$work/baton.db" "$1"; }
db="sqlite:$work/baton.db"

mkdir -p "$work/dags"
cat > "$work/dags/hist.yaml" <<'YAML'
dag: hist
tasks:
  greet: {command: 'echo "hello from $BATON_RUN_ID"'}
  done: {type: noop, depends_on: [greet]}
YAML
cat > "$work/dags/solo.yaml" <<'YAML'
dag: solo
tasks:
  one: {command: 'echo solo'}
YAML

(cd "$work" && exec "$baton" standalone --dags dags --db "$db" --listen 127.0.0.1:0 --logs logs --workers 2 \
  > "$work/out.log" 2> "$work/err.log") &
server_pid=$!
pids+=("$server_pid")
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's#^UI and API: \(http://[0-9.:]*\)/ .*#\1#p' "$work/out.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start:"; cat "$work/out.log" "$work/err.log"; exit 1; }
export BATON_SERVER=$url BATON_TOKEN=$(sed -n 's/^admin token: //p' "$work/out.log")
for _ in $(seq 1 100); do "$baton" dags list 2>/dev/null | grep -q solo && break; sleep 0.1; done

# History: four runs of hist, one of solo.
runs=()
for i in 1 2 3 4; do
  r=$("$baton" trigger hist --date "2026-01-0${i}T00:00:00Z" --wait 2>/dev/null) && ok || bad "trigger hist $i"
  runs+=("$r")
done
solo=$("$baton" trigger solo --wait 2>/dev/null) && ok || bad "trigger solo"
[ -f "$work/logs/hist/${runs[0]}/greet/1.log" ] && ok || bad "no log file of the first run"

# The first three runs of hist and solo's run ended 100 days ago.
day=86400000000
old="(strftime('%s','now') * 1000000 - 100 * $day)"
sql "UPDATE dag_runs SET ended_at = $old, created_at = $old WHERE run_id IN ('${runs[0]}', '${runs[1]}', '${runs[2]}', '$solo')"
sql "UPDATE task_tries SET ended_at = $old WHERE ti_id IN (SELECT t.id FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk WHERE r.run_id IN ('${runs[0]}', '${runs[1]}', '${runs[2]}', '$solo'))"
counts() { sql "SELECT (SELECT COUNT(*) FROM dag_runs) || ' ' || (SELECT COUNT(*) FROM task_instances) || ' ' || (SELECT COUNT(*) FROM task_tries) || ' ' || (SELECT COUNT(*) FROM audit_log)"; }
before_counts=$(counts)
before=$(date -u -d '-30 days' +%Y-%m-%d)

# Bad input: a clear error, exit 2, nothing changed.
out=$("$baton" db clean --db "$db" --before notadate --yes 2>&1); rc=$?
[ $rc -eq 2 ] && ok || bad "--before notadate: exit $rc"
echo "$out" | grep -q -- '--before "notadate"' && echo "$out" | grep -q "allowed: YYYY-MM-DD" && ok || bad "notadate: $out"
out=$("$baton" db clean --db "$db" --before 2999-01-01 --yes 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "in the future" && ok || bad "future date: exit $rc: $out"
out=$("$baton" db clean --db "$db" --before "$before" --tables runs,files --yes 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q 'unknown kind "files" (allowed: runs, tries, logs' && ok || bad "--tables: exit $rc: $out"
out=$("$baton" db clean --db "$db" --before "$before" 2>&1 < /dev/null); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "give --yes" && ok || bad "no --yes, no terminal: exit $rc: $out"
[ "$(counts)" = "$before_counts" ] && ok || bad "bad input changed the database: $before_counts -> $(counts)"

# The dry run: what would go, nothing changed.
dry=$("$baton" db clean --db "$db" --before "$before" --logs "$work/logs" --dry-run 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "dry run: exit $rc: $dry"
echo "$dry" | grep -q "^dry run (nothing removed)" && ok || bad "dry run header: $dry"
echo "$dry" | grep -Eq "^  dag_runs +3 " && ok || bad "dry run: 3 runs (hist's first three; solo's only run stays): $dry"
echo "$dry" | grep -Eq "^  task_instances +6 " && ok || bad "dry run: 6 task instances: $dry"
# Tries: the removed runs' six, and the old try of solo's run, which stays.
echo "$dry" | grep -Eq "^  task_tries +7 " && ok || bad "dry run: 7 tries: $dry"
echo "$dry" | grep -Eq "^  log files +7 " && ok || bad "dry run: 7 log files: $dry"
[ "$(counts)" = "$before_counts" ] && ok || bad "the dry run changed the database"
[ -f "$work/logs/hist/${runs[0]}/greet/1.log" ] && ok || bad "the dry run removed a log file"

# A logs folder that is not there, with log files to remove: refused, nothing changed.
out=$("$baton" db clean --db "$db" --before "$before" --logs "$work/no-such-logs" --yes 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--logs: $work/no-such-logs is not a folder" && ok || bad "missing --logs: exit $rc: $out"
[ "$(counts)" = "$before_counts" ] && ok || bad "a missing --logs folder changed the database"

# The clean, for real, while the server runs: the same counts.
done_out=$("$baton" db clean --db "$db" --before "$before" --logs "$work/logs" --yes 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "clean: exit $rc: $done_out"
echo "$done_out" | grep -q "^removed runs, tries, logs ended before" && ok || bad "clean header: $done_out"
# The same rows; of the 7 log files named, the 4 there (a noop task writes none) are removed.
diff <(echo "$dry" | sed -n '/^  table/,/^  dag_versions/p') \
     <(echo "$done_out" | sed -n '/^  table/,/^  dag_versions/p') >/dev/null \
  && ok || bad "the clean's counts differ from the dry run's: $dry --- $done_out"
echo "$done_out" | grep -Eq "^  log files +4 " && echo "$done_out" | grep -q "^total: 16 rows, 4 log files" \
  && ok || bad "log files removed: $done_out"
[ "$(sql 'SELECT COUNT(*) FROM dag_runs')" = 2 ] && ok || bad "runs left: $(sql 'SELECT run_id FROM dag_runs')"
[ ! -e "$work/logs/hist/${runs[0]}" ] && ok || bad "the removed run's log folder is still there"
[ -f "$work/logs/hist/${runs[3]}/greet/1.log" ] && ok || bad "the kept run's log went"
[ ! -e "$work/logs/solo/$solo/one/1.log" ] && ok || bad "solo's kept run still has its old try's log"

# The server serves what remains.
list=$("$baton" runs list hist 2>&1)
echo "$list" | grep -q "${runs[3]}" && ok || bad "runs list: the latest run is missing: $list"
echo "$list" | grep -q "${runs[0]}" && bad "runs list: a removed run is still listed: $list" || ok
"$baton" tasks logs hist "${runs[3]}" greet 2>&1 | grep -q "hello from ${runs[3]}" && ok || bad "logs of the kept run"
"$baton" runs show solo "$solo" 2>&1 | grep -Eq "one +success" && ok || bad "solo's run (the latest of its DAG): $("$baton" runs show solo "$solo" 2>&1)"
r=$("$baton" trigger hist --wait 2>/dev/null) && ok || bad "a new run after the clean"

# The audit log: one db.cleaned entry by cli, and the chain verifies.
"$baton" audit list --db "$db" --action db.cleaned 2>&1 | grep -q "cli  db.cleaned" && ok || bad "no db.cleaned entry: $("$baton" audit list --db "$db" --action db.cleaned 2>&1)"
"$baton" audit verify --db "$db" >/dev/null 2>&1 && ok || bad "audit verify: $("$baton" audit verify --db "$db" 2>&1)"

# Nothing left to remove: the JSON says so.
json=$("$baton" db clean --db "$db" --before "$before" --dry-run --output json 2>&1)
echo "$json" | grep -q '"total": 0' && ok || bad "a second dry run: $json"

kill "$server_pid"
wait "$server_pid" 2>/dev/null
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
