#!/usr/bin/env bash
# Chaos (issue: PostgreSQL and high availability; SPEC §9): three `baton
# server` processes (each a scheduler member with its API) and two `baton
# worker` processes share one PostgreSQL schema. 30 DAGs run on 5-second
# `every` schedules with catchup (half of them with a foreach task over three
# items), plus manual triggers through the API. For
# CHAOS_SECONDS (default 70) random servers (the leader among them) and
# workers are killed with SIGKILL and brought back; one server is paused with
# SIGSTOP past its lease and then continued (the leader), and so is one worker. Then,
# checked from the database and from a ledger the tasks themselves write:
#   - no interval has two runs;
#   - no task instance had two tries running at the same time (neither in
#     the tries the store recorded nor in the processes that really ran);
#   - no accepted trigger was lost, and every run finished, successfully;
#   - every run of a DAG with foreach has its three mapped instances, once;
#   - after every kill, scheduling resumed within 10 s: the worst delay
#     between an interval's end and its run's creation is reported.
# Usage: chaos_test.sh BATON   (needs BATON_TEST_PG_URL; exit 77 without it)
set -u
if [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: the chaos test needs PostgreSQL (run under scripts/with-postgres.sh)"
  exit 77
fi
baton=$1
chaos_seconds=${CHAOS_SECONDS:-70}
work=$(mktemp -d)
schema="baton_chaos_$$"
case "$BATON_TEST_PG_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
db="$BATON_TEST_PG_URL${sep}options=-csearch_path%3D$schema"
sql() { PGOPTIONS="-c search_path=$schema" psql -qAt "$BATON_TEST_PG_URL" -c "$1"; }

declare -A server_pid worker_pid
cleanup() {
  for p in "${server_pid[@]}" "${worker_pid[@]}" ${trigger_loop:-}; do
    kill -CONT "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
  done
  # Task processes outlive a killed worker (their own process groups).
  pkill -9 -f "$work/ledger" 2>/dev/null
  sql "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
log() { echo "[$(date +%T)] $*"; }

# ---- the DAGs: 30 on 5 s schedules from now until the chaos ends ----
mkdir -p "$work/dags"
start=$(date -u +%s)
start_date=$(date -u -d "@$((start / 5 * 5))" +%Y-%m-%dT%H:%M:%SZ)
end_date=$(date -u -d "@$((start + chaos_seconds))" +%Y-%m-%dT%H:%M:%SZ)
ledger="$work/ledger"
: > "$ledger"
# Each line of the ledger: TASK_INSTANCE TRY s|e NANOSECONDS (mapped
# instances as TASK[MAP_INDEX]). The odd DAGs fan out over three items
# between extract and load (foreach): their mapped instances go through the
# same kills.
for i in $(seq -w 1 30); do
  fan_task=""
  fan_dep=extract
  if [ $((10#$i % 2)) = 1 ]; then
    fan_dep=fan
    fan_task="  fan:
    depends_on: [extract]
    foreach: [a, b, c]
    command: 'echo \"\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID[\$BATON_MAP_INDEX] \$BATON_TRY_NUMBER s \$(date +%s%N)\" >> $ledger; sleep 0.1; echo \"\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID[\$BATON_MAP_INDEX] \$BATON_TRY_NUMBER e \$(date +%s%N)\" >> $ledger'"
  fi
  cat > "$work/dags/chaos_$i.yaml" <<YAML
dag: chaos_$i
schedule: every 5s
start_date: $start_date
end_date: $end_date
catchup: true
max_active_runs: 16
defaults:
  retries: 8
  retry_delay: 1s
tasks:
  extract:
    command: 'echo "\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID \$BATON_TRY_NUMBER s \$(date +%s%N)" >> $ledger; sleep 0.3; echo "\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID \$BATON_TRY_NUMBER e \$(date +%s%N)" >> $ledger'
$fan_task
  load:
    depends_on: [$fan_dep]
    command: 'echo "\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID \$BATON_TRY_NUMBER s \$(date +%s%N)" >> $ledger; sleep 0.2; echo "\$BATON_DAG_ID/\$BATON_RUN_ID/\$BATON_TASK_ID \$BATON_TRY_NUMBER e \$(date +%s%N)" >> $ledger'
  done:
    depends_on: [load]
    type: noop
YAML
done

"$baton" db migrate --db "$db" >/dev/null || { echo "FAIL: migrate"; exit 1; }
admin=$("$baton" tokens create chaos-admin --role admin --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
wtoken=$("$baton" tokens create chaos-worker --role worker --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
[ -n "$admin" ] && [ -n "$wtoken" ] || { echo "FAIL: tokens"; exit 1; }

# Below 32768: ports from there up are the kernel's for outgoing connections.
free_port() { for _ in 1 2 3 4 5; do p=$((20000 + RANDOM % 12000)); (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
declare -A port
for n in 1 2 3; do port[$n]=$(free_port); done
servers="http://127.0.0.1:${port[1]},http://127.0.0.1:${port[2]},http://127.0.0.1:${port[3]}"

start_server() {
  local n=$1
  "$baton" server --db "$db" --dags "$work/dags" --listen "127.0.0.1:${port[$n]}" --logs "$work/logs$n" \
    --heartbeat-interval 1s --zombie-timeout 5s --shutdown-grace 0s >> "$work/server$n.log" 2>&1 &
  server_pid[$n]=$!
  disown "$!"  # no job notices when it is killed
}
start_worker() {
  local n=$1
  "$baton" worker --server "$servers" --token "$wtoken" --slots 4 --dir "$work/worker$n" --name "worker$n" \
    --heartbeat-interval 1s --shutdown-grace 0s >> "$work/worker$n.log" 2>&1 &
  worker_pid[$n]=$!
  disown "$!"
}
for n in 1 2 3; do start_server $n; done
for n in 1 2; do start_worker $n; done
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:${port[1]}/api/v1/health" | grep -q '"leader":"' && break
  sleep 0.2
done

live_port() {
  for n in 1 2 3; do
    if curl -sf -m 2 "http://127.0.0.1:${port[$n]}/api/v1/health" >/dev/null; then echo "${port[$n]}"; return; fi
  done
}
leader_index() {
  local p l
  p=$(live_port)
  [ -n "$p" ] || return
  l=$(curl -sf -m 2 "http://127.0.0.1:$p/api/v1/health" | grep -o '"leader":"[^"]*"' | cut -d'"' -f4)
  for n in 1 2 3; do
    pid=${l##*:}
    [ "$pid" = "${server_pid[$n]}" ] && echo "$n"
  done
}

# ---- manual triggers, with idempotency keys, against whichever server answers ----
(
  k=0
  while true; do
    k=$((k + 1))
    d=$(printf "chaos_%02d" $(((RANDOM % 30) + 1)))
    p=$(live_port)
    if [ -n "$p" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -m 40 -X POST -H "Authorization: Bearer $admin" \
        "http://127.0.0.1:$p/api/v1/dags/$d/runs" -d "{\"idempotency_key\": \"chaos-$k\", \"note\": \"chaos\"}")
      case "$code" in 200 | 201) echo "$d chaos-$k" >> "$work/accepted" ;; esac
    fi
    sleep 1.5
  done
) &
trigger_loop=$!

# ---- chaos ----
log "chaos for ${chaos_seconds}s: 3 servers on ports ${port[*]}, 2 workers"
kills=0
deadline=$((start + chaos_seconds))
round=0
stopped_server=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  case $((round % 6)) in
    1 | 4)  # the leader
      n=$(leader_index)
      [ -n "$n" ] || n=$(((RANDOM % 3) + 1))
      log "kill -9 server $n (the leader, pid ${server_pid[$n]})"
      kill -9 "${server_pid[$n]}"
      kills=$((kills + 1))
      sleep 3
      start_server "$n"
      ;;
    2 | 5)  # a worker
      n=$(((RANDOM % 2) + 1))
      log "kill -9 worker $n"
      kill -9 "${worker_pid[$n]}"
      kills=$((kills + 1))
      sleep 2
      start_worker "$n"
      ;;
    3)  # any server
      n=$(((RANDOM % 3) + 1))
      log "kill -9 server $n (pid ${server_pid[$n]})"
      kill -9 "${server_pid[$n]}"
      kills=$((kills + 1))
      sleep 2
      start_server "$n"
      ;;
    0)
      if [ "$stopped_server" = 0 ]; then
        # The leader, past its 5 s lease: its session (and leader lock) lives
        # on, so the others end that session, one of them leads, and its
        # partitions move; when it wakes, its writes under the old epochs
        # are refused.
        stopped_server=$(leader_index)
        stopped_leader=${stopped_server:+yes}
        [ -n "$stopped_server" ] || stopped_server=$(((RANDOM % 3) + 1))
        log "SIGSTOP server $stopped_server (the leader) for 9s, and worker 1 for 8s"
        kill -STOP "${server_pid[$stopped_server]}" "${worker_pid[1]}"
        sleep 8
        kill -CONT "${worker_pid[1]}"
        sleep 1
        kill -CONT "${server_pid[$stopped_server]}"
      fi
      ;;
  esac
  sleep 2
done
log "chaos over: $kills kills"
kill "$trigger_loop" 2>/dev/null
wait "$trigger_loop" 2>/dev/null
trigger_loop=""

# ---- every run finishes ----
for _ in $(seq 1 120); do
  left=$(sql "SELECT count(*) FROM dag_runs WHERE state NOT IN ('success', 'failed', 'canceled')")
  [ "$left" = 0 ] && break
  sleep 1
done
runs=$(sql "SELECT count(*) FROM dag_runs")
log "$runs runs; $left unfinished"
if [ "$left" = 0 ]; then ok "every run finished ($runs runs)"; else
  bad "$left runs did not finish"
  sql "SELECT dag_id, run_id, state FROM dag_runs WHERE state NOT IN ('success','failed','canceled') LIMIT 10"
  sql "SELECT r.run_id, t.task_id, t.state, t.try_number, t.attempt_token FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk WHERE r.state NOT IN ('success','failed','canceled') LIMIT 20"
fi
notok=$(sql "SELECT count(*) FROM dag_runs WHERE state <> 'success'")
if [ "$notok" = 0 ]; then ok "every run succeeded"; else bad "$notok runs did not succeed"; sql "SELECT dag_id, run_id, state FROM dag_runs WHERE state <> 'success' LIMIT 10"; fi

# ---- every run of a DAG with foreach has its three mapped instances, once ----
fans=$(sql "SELECT count(*) FROM dag_runs r WHERE r.dag_id IN (SELECT dag_id FROM dags WHERE (right(dag_id, 2)::int % 2) = 1)")
badfan=$(sql "SELECT count(*) FROM dag_runs r WHERE r.dag_id IN (SELECT dag_id FROM dags WHERE (right(dag_id, 2)::int % 2) = 1)
              AND (SELECT count(*) FROM task_instances t WHERE t.run_pk = r.id AND t.task_id = 'fan' AND t.map_index >= 0
                   AND t.state = 'success') <> 3")
if [ "$fans" -gt 0 ] && [ "$badfan" = 0 ]; then
  ok "every foreach run has its 3 mapped instances, all succeeded ($fans runs)"
else
  bad "$badfan of $fans foreach runs do not have 3 successful mapped instances"
  sql "SELECT r.dag_id, r.run_id, r.state, t.map_index, t.state, t.try_number, t.id FROM dag_runs r JOIN task_instances t
       ON t.run_pk = r.id AND t.task_id = 'fan' WHERE r.dag_id IN (SELECT dag_id FROM dags WHERE (right(dag_id, 2)::int % 2) = 1)
       AND (SELECT count(*) FROM task_instances u WHERE u.run_pk = r.id AND u.task_id = 'fan' AND u.map_index >= 0
            AND u.state = 'success') <> 3 ORDER BY r.id, t.map_index LIMIT 40"
fi

# ---- no interval has two runs ----
dups=$(sql "SELECT count(*) FROM (SELECT dag_id, logical_date FROM dag_runs WHERE run_type = 'scheduled' GROUP BY 1, 2 HAVING count(*) > 1) x")
[ "$dups" = 0 ] && ok "no interval has two runs" || bad "$dups intervals have two runs"
# ... and none was skipped: each DAG has one run per interval from start to end.
expected=$(( ( $(date -u -d "$end_date" +%s) - $(date -u -d "$start_date" +%s) ) / 5 ))
short=$(sql "SELECT count(*) FROM (SELECT dag_id FROM dag_runs WHERE run_type = 'scheduled' GROUP BY 1 HAVING count(*) < $expected - 1) x")
[ "$short" = 0 ] && ok "every DAG has its scheduled runs ($expected intervals each)" || bad "$short DAGs miss scheduled runs (expected $expected each)"

# ---- no task instance had two tries running at once ----
overlap=$(sql "SELECT count(*) FROM task_tries a JOIN task_tries b ON a.ti_id = b.ti_id AND b.try_number > a.try_number
               WHERE b.started_at IS NOT NULL AND (a.ended_at IS NULL OR b.started_at < a.ended_at)")
[ "$overlap" = 0 ] && ok "no recorded tries of one task instance overlap" || bad "$overlap pairs of recorded tries overlap"
# The same try run twice is a duplicate too (its lines share the try number).
twice=$(awk '$3 == "s" { n[$1, $2]++ } END { d = 0; for (k in n) if (n[k] > 1) d++; print d }' "$ledger")
[ "$twice" = 0 ] && ok "no try was run twice" || bad "$twice tries were run twice"
real=$(awk '
  { key = $1; t = $2; if ($3 == "s") s[key, t] = $4; else e[key, t] = $4; tries[key] = tries[key] " " t }
  END {
    n = 0
    for (k in tries) {
      m = split(tries[k], ts, " ")
      for (i = 1; i <= m; i++) for (j = 1; j <= m; j++) {
        a = ts[i]; b = ts[j]
        if (a + 0 >= b + 0) continue
        if (((k, a) in s) && ((k, b) in s) && ((k, a) in e) && s[k, b] < e[k, a]) n++
      }
    }
    print n
  }' "$ledger")
ran=$(grep -c ' s ' "$ledger")
[ "$real" = 0 ] && ok "no two processes of one task instance ran at once ($ran processes)" || bad "$real pairs of task processes overlapped"

# ---- no accepted trigger was lost ----
accepted=0
lost=0
while read -r d key; do
  accepted=$((accepted + 1))
  c=$(sql "SELECT count(*) FROM dag_runs WHERE dag_id = '$d' AND idempotency_key = '$key'")
  [ "$c" = 1 ] || { lost=$((lost + 1)); echo "trigger $key of $d: $c runs"; }
done < <(cat "$work/accepted" 2>/dev/null)
[ "$accepted" -gt 0 ] && [ "$lost" = 0 ] && ok "every accepted trigger has its one run ($accepted triggers)" ||
  bad "$lost of $accepted accepted triggers lost (or none accepted)"

# ---- the paused server lost its partitions and came back ----
# Whether it wrote under its old epochs (refused) or saw the move first
# depends on which of its timers runs first when it wakes; the invariants
# above hold either way. (tests/integration/scheduler_test.cpp refuses a
# paused member's writes deterministically.)
if [ "$stopped_server" != 0 ]; then
  f="$work/server$stopped_server.log"
  if grep -q "a write was refused" "$f"; then
    log "server $stopped_server, paused past its lease, had writes refused (stale epoch) and reloaded"
  else
    log "server $stopped_server, paused past its lease, saw its partitions move before writing"
  fi
  if [ "${stopped_leader:-}" = yes ]; then
    grep -q "missed its lease: ending its leader lock's session" "$work"/server*.log &&
      ok "the paused leader's session was ended past its lease, and another member led" ||
      bad "the paused leader kept the leader lock"
  fi
  moved=$(sql "SELECT count(*) FROM audit_log WHERE action = 'partitions.assigned' AND at > $(( (start) * 1000000 ))")
  [ "$moved" -gt 0 ] && ok "partitions moved $moved times under the chaos" || bad "no partition ever moved"
fi
stale=$(cat "$work"/worker*.log | grep -c "no longer this worker's\|refused" || true)
log "worker-side stale tries (killed or refused reports): $stale"

# ---- scheduling resumed within 10 s after every kill ----
worst=$(sql "SELECT round(max(created_at - data_interval_end) / 1e6, 2) FROM dag_runs WHERE run_type = 'scheduled'")
worst_start=$(sql "SELECT round(max(started_at - data_interval_end) / 1e6, 2) FROM dag_runs WHERE run_type = 'scheduled'")
lost_tries=$(sql "SELECT count(*) FROM task_tries WHERE reason = 'worker_lost'")
log "worst delay from an interval's end to its run: created ${worst}s, started ${worst_start}s; $lost_tries tries failed as worker_lost"
awk -v w="$worst" 'BEGIN { exit !(w <= 10) }' && ok "scheduling resumed within 10 s (worst gap ${worst}s)" ||
  bad "scheduling stalled for ${worst}s (more than 10 s)"
echo "chaos: $kills kills in ${chaos_seconds}s; worst gap ${worst}s; $runs runs; $ran task processes; $lost_tries worker_lost tries" \
  > "${CHAOS_REPORT:-/dev/null}"

echo "chaos_test: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  for f in "$work"/server*.log "$work"/worker*.log; do echo "== $f"; grep -E "error|critical|warn" "$f" | tail -n 15; done
  exit 1
fi
exit 0
