#!/usr/bin/env bash
# Run-time forecasts end to end (SPEC §7, docs/sla.md) with the real binary:
# a DAG whose history says its tasks take about a second is run once with a
# task that takes six; the on_sla_risk webhook arrives before the deadline
# and the on_sla_miss one after it. Also: the duration history
# (GET .../stats), the forecast on the run, GET /sla-risks, a progress line
# seen while its try runs, and a silent try failed as stuck and retried.
# Usage: sla_forecast_test.sh BATON WEBHOOK_RECEIVER
set -u
baton=$1
receiver=$2
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
# Whether instant $1 is before instant $2 (ISO 8601, fractions of a second too).
before() { awk -v a="$(date -d "$1" +%s.%N)" -v b="$(date -d "$2" +%s.%N)" 'BEGIN { exit !(a < b) }'; }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

mkdir -p "$work/hooks" "$work/dags"
"$receiver" "$work/hooks" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/hooks/port" ] && break; sleep 0.05; done
hook="http://127.0.0.1:$(cat "$work/hooks/port")/ok"

# a then b, each `sleep SECS`; the run must end within 4 s of its start.
cat > "$work/dags/late.yaml" <<EOF
dag: late
params: {secs: 0.3}
sla: {run_duration: 4s}
notify:
  on_sla_risk: [{webhook: "$hook"}]
  on_sla_miss: [{webhook: "$hook"}]
tasks:
  a: {command: "sleep {{ params.secs }}"}
  b: {command: "sleep 0.3", depends_on: [a]}
EOF
cat > "$work/dags/watched.yaml" <<'EOF'
dag: watched
tasks:
  progress: {command: 'echo "0.42 loaded 42 of 100 rows" > "$BATON_PROGRESS_FILE"; sleep 3'}
  silent: {command: "sleep 60", stuck_after: 1s, on_stuck: fail, retries: 1, retry_delay: 0s}
EOF

(cd "$work" && BATON_HEARTBEAT_INTERVAL=1s exec "$baton" standalone --dags dags --db "sqlite:$work/baton.db" \
  --listen 127.0.0.1:0 --logs logs --workers 4 > "$work/out.log" 2> "$work/err.log") &
pids+=($!)
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's#^UI and API: \(http://[0-9.:]*\)/ .*#\1#p' "$work/out.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start:"; cat "$work/out.log" "$work/err.log"; echo "0 passed, 1 failed"; exit 1; }
token=$(sed -n 's/^admin token: //p' "$work/out.log")
api() { curl -s -H "Authorization: Bearer $token" "$@"; }
for _ in $(seq 1 200); do
  api "$url/api/v1/dags/late" | grep -q '"dag_id"' && break
  sleep 0.05
done
trigger() { api -X POST -H 'Content-Type: application/json' -d "$2" "$url/api/v1/dags/$1/runs" | jq -r .run_id; }
wait_state() {  # DAG RUN STATE...
  local s
  for _ in $(seq 1 300); do
    s=$(api "$url/api/v1/dags/$1/runs/$2" | jq -r .state)
    for want in "${@:3}"; do [ "$s" = "$want" ] && return 0; done
    sleep 0.1
  done
  echo "$s"
  return 1
}

# History: three quick runs (each task about 0.3 s).
for i in 1 2 3; do
  r=$(trigger late '{}')
  wait_state late "$r" success >/dev/null && ok || bad "warm-up run $i did not succeed"
done
stats=$(api "$url/api/v1/dags/late/tasks/a/stats")
[ "$(jq .count <<<"$stats")" = 3 ] && ok || bad "a's history after 3 runs: $stats"
jq -e '.p90 > 0.2 and .p90 < 2 and (.durations | length) == 3' <<<"$stats" >/dev/null && ok || bad "a's p90: $stats"
[ "$(api -o /dev/null -w '%{http_code}' "$url/api/v1/dags/late/tasks/nope/stats")" = 404 ] && ok || bad "stats of no task"

# The late run: a sleeps 6 s, far past its p90. Expected end = now + b's
# p90 once a is past its own: past the 4 s deadline from about 3.7 s on.
r=$(trigger late '{"params": {"secs": 6}}')
for _ in $(seq 1 100); do
  run=$(api "$url/api/v1/dags/late/runs/$r")
  [ "$(jq -r .expected_end <<<"$run")" != null ] && break
  sleep 0.05
done
jq -e '.expected_end != null and .sla_deadline != null' <<<"$run" >/dev/null && ok || bad "no forecast on the run: $run"
for _ in $(seq 1 100); do grep -q sla_at_risk "$work/hooks/ok.log" 2>/dev/null && break; sleep 0.1; done
risk=$(grep sla_at_risk "$work/hooks/ok.log" 2>/dev/null | head -1)
[ -n "$risk" ] && ok || bad "no sla_at_risk webhook"
deadline=$(jq -r .sla_deadline <<<"$run")
risk_at=$(jq -r .at <<<"$risk")
before "$risk_at" "$deadline" && ok || bad "the risk came at $risk_at, not before the deadline $deadline"
jq -e '.dag_id == "late" and .kind == "run_duration"' <<<"$risk" >/dev/null &&
  before "$(jq -r .deadline <<<"$risk")" "$(jq -r .expected_end <<<"$risk")" && ok || bad "risk payload: $risk"
run=$(api "$url/api/v1/dags/late/runs/$r")
[ "$(jq -r .at_risk <<<"$run")" = true ] && ok || bad "the run is not shown at risk: $run"
risks=$(api "$url/api/v1/sla-risks?dag_id=late")
jq -e --arg r "$r" '.items | length == 1 and .[0].run_id == $r and .[0].recovered_at == null' <<<"$risks" >/dev/null &&
  ok || bad "GET /sla-risks: $risks"
wait_state late "$r" success >/dev/null && ok || bad "the late run did not succeed"
for _ in $(seq 1 50); do grep -q '"sla_miss"\|on_sla_miss' "$work/hooks/ok.log" && break; sleep 0.1; done
miss=$(grep 'on_sla_miss' "$work/hooks/ok.log" | head -1)
[ -n "$miss" ] && ok || bad "no SLA miss webhook: $(cat "$work/hooks/ok.log")"
before "$risk_at" "$(jq -r .at <<<"$miss")" && ok || bad "the miss did not come after the risk"
before "$deadline" "$(jq -r .at <<<"$miss")" && ok || bad "the miss came before the deadline"
[ "$(grep -c sla_at_risk "$work/hooks/ok.log")" = 1 ] && ok || bad "more than one risk webhook"

# Progress while the try runs; the silent try is stuck after 1 s, failed
# and retried, then the run fails.
w=$(trigger watched '{}')
seen=
for _ in $(seq 1 60); do
  seen=$(api "$url/api/v1/dags/watched/runs/$w/tasks/progress" | jq -c .progress)
  [ "$seen" != null ] && break
  sleep 0.1
done
jq -e '.fraction == 0.42 and .text == "loaded 42 of 100 rows"' <<<"$seen" >/dev/null && ok || bad "progress: $seen"
wait_state watched "$w" failed >/dev/null && ok || bad "the run with a stuck task did not fail"
tries=$(api "$url/api/v1/dags/watched/runs/$w/tasks/silent/tries")
jq -e '.items | length == 2 and all(.reason == "stuck")' <<<"$tries" >/dev/null && ok || bad "stuck tries: $tries"
metrics=$(api "$url/api/v1/metrics")
grep -q '^baton_stuck_tries_total 2' <<<"$metrics" && ok || bad "stuck metric: $(grep stuck <<<"$metrics")"
grep -q '^baton_sla_risks_total 1' <<<"$metrics" && ok || bad "risk metric: $(grep sla_risk <<<"$metrics")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
