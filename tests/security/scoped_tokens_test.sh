#!/usr/bin/env bash
# Security: scoped tokens against the real `baton standalone` (SPEC §13). A
# token scoped to namespace hr, whatever its role, gets for every route of a
# DAG of namespace finance (and the runs, task instances, tries, logs and
# backfills under it) the 404 a missing DAG gets, changes nothing there,
# and finds finance's entries left out of every list; on hr's own DAG its
# role applies. A scoped admin gets 403 for pools, namespaces and unscoped
# tokens, and 404 for finance's variables. Unscoped tokens see everything.
# With BATON_TEST_STORE=postgres the server runs on a fresh schema of the
# database BATON_TEST_PG_URL names (exit 77, skipped, without one).
# Usage: scoped_tokens_test.sh BATON
set -u
if [ "${BATON_TEST_STORE:-}" = postgres ] && [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: BATON_TEST_STORE=postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"
baton=$1

mkdir -p "$work/dags"
cat > "$work/dags/fin.yaml" <<'YAML'
dag: fin_daily
namespace: finance
schedule: "0 3 * * *"
start_date: 2026-01-01
catchup: false
tasks:
  book: {command: 'echo booked'}
YAML
cat > "$work/dags/hr.yaml" <<'YAML'
dag: hr_daily
namespace: hr
tasks:
  pay: {command: 'echo paid'}
YAML
db="sqlite:$work/baton.db"
[ "${BATON_TEST_STORE:-}" = postgres ] && db=$(pg_schema_url "baton_scoped_$$")
start_standalone server "$db" --logs logs || abort "the server did not start"
admin=$token
unset BATON_TOKEN BATON_SERVER BATON_DB
export BATON_SERVER=$url

vic=$("$baton" tokens create vic --role viewer --token "$admin") || bad "create vic"
ops=$("$baton" tokens create ops --role operator --token "$admin") || bad "create ops"
hrv=$("$baton" tokens create hrv --role viewer --namespace hr --token "$admin") || bad "create hrv"
hro=$("$baton" tokens create hro --role operator --namespace hr --token "$admin") || bad "create hro"
hra=$("$baton" tokens create hra --role admin --namespace hr --token "$admin") || bad "create hra"
for _ in $(seq 1 100); do
  [ "$("$baton" dags list --token "$vic" 2>/dev/null | grep -c '_daily')" -eq 2 ] && break
  sleep 0.1
done

# call TOKEN METHOD PATH [BODY]: the status in $status, the body in $body.
call() {
  local t=$1 m=$2 p=$3 b=${4:-}
  if [ -n "$b" ]; then
    status=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t" \
      -H 'Content-Type: application/json' --data "$b" "$url/api/v1$p")
  else
    status=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t" "$url/api/v1$p")
  fi
  body=$(cat "$work/body")
}

call "$ops" POST /dags/fin_daily/runs '{}'
[ "$status" = 201 ] && ok || bad "unscoped trigger of fin_daily: $status $body"
run=$(sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p' <<<"$body")
for _ in $(seq 1 100); do
  call "$vic" GET "/dags/fin_daily/runs/$run"
  grep -q '"state":"success"' <<<"$body" && break
  sleep 0.1
done
call "$ops" POST /backfills '{"dag_id": "fin_daily", "from": "2026-01-01", "to": "2026-01-02"}'
bf=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$body")
[ "$status" = 201 ] && [ -n "$bf" ] && ok || bad "unscoped backfill: $status $body"
"$baton" variables set region eu-fin --namespace finance --token "$admin" >/dev/null || bad "variables set finance"

# Every route of finance's DAG, for every hr token: 404, as a missing DAG.
reads=(/dags/fin_daily /dags/fin_daily/versions /dags/fin_daily/graph /dags/fin_daily/grid /dags/fin_daily/runs
  "/dags/fin_daily/runs/$run" "/dags/fin_daily/runs/$run/tries" "/dags/fin_daily/runs/$run/tasks"
  "/dags/fin_daily/runs/$run/tasks/book" "/dags/fin_daily/runs/$run/tasks/book/tries"
  "/dags/fin_daily/runs/$run/tasks/book/logs")
for t in "$hrv" "$hro" "$hra"; do
  for p in "${reads[@]}"; do
    call "$t" GET "$p"
    [ "$status" = 404 ] && grep -qF '"message":"no DAG named \"fin_daily\""' <<<"$body" && ok \
      || bad "GET $p with an hr token: $status $body"
    call "$vic" GET "$p"
    [ "$status" = 200 ] && ok || bad "GET $p unscoped: $status $body"
  done
  call "$t" GET "/backfills/$bf"
  [ "$status" = 404 ] && grep -qF "\"message\":\"no backfill $bf\"" <<<"$body" && ok || bad "GET backfill: $status $body"
done
# Acting on it: 404, nothing changes.
call "$vic" GET "/dags/fin_daily/runs?limit=1000"
runs_before=$(grep -o '"run_id"' <<<"$body" | wc -l)
for t in "$hro" "$hra"; do
  call "$t" POST /dags/fin_daily/runs '{}'
  [ "$status" = 404 ] && ok || bad "trigger fin_daily with an hr token: $status $body"
  call "$t" PATCH /dags/fin_daily '{"paused": true}'
  [ "$status" = 404 ] && ok || bad "pause fin_daily with an hr token: $status $body"
  call "$t" POST "/dags/fin_daily/runs/$run/tasks/book/clear" '{}'
  [ "$status" = 404 ] && ok || bad "clear with an hr token: $status $body"
  call "$t" POST "/dags/fin_daily/runs/$run/tasks/book/state" '{"state": "failed"}'
  [ "$status" = 404 ] && ok || bad "mark with an hr token: $status $body"
  call "$t" POST "/dags/fin_daily/runs/$run/cancel" '{}'
  [ "$status" = 404 ] && ok || bad "cancel with an hr token: $status $body"
  call "$t" POST /backfills '{"dag_id": "fin_daily", "from": "2026-02-01", "to": "2026-02-02"}'
  [ "$status" = 404 ] && ok || bad "backfill with an hr token: $status $body"
  call "$t" POST "/backfills/$bf/cancel" '{}'
  [ "$status" = 404 ] && ok || bad "cancel backfill with an hr token: $status $body"
done
call "$vic" GET "/dags/fin_daily/runs?limit=1000"
[ "$(grep -o '"run_id"' <<<"$body" | wc -l)" -eq "$runs_before" ] && ok || bad "fin_daily's runs changed: $body"
call "$vic" GET /backfills
grep -q '"state":"canceled"' <<<"$body" && bad "an hr token canceled the backfill: $body" || ok
call "$vic" GET /dags/fin_daily
grep -q '"paused":false' <<<"$body" && ok || bad "fin_daily paused by an hr token: $body"
call "$vic" GET "/dags/fin_daily/runs/$run/tasks/book"
grep -q '"state":"success"' <<<"$body" && ok || bad "book changed by an hr token: $body"

# Lists leave finance out; hr's own DAG works with the token's role.
call "$hrv" GET /dags
grep -q hr_daily <<<"$body" && ! grep -q fin_daily <<<"$body" && ok || bad "GET /dags for hr: $body"
call "$vic" GET /dags
grep -q hr_daily <<<"$body" && grep -q fin_daily <<<"$body" && ok || bad "GET /dags unscoped: $body"
for p in /backfills /sla-misses "/audit?limit=1000" "/backfills?dag_id=fin_daily" "/audit?dag_id=fin_daily"; do
  call "$hrv" GET "$p"
  [ "$status" = 200 ] && ! grep -q fin_daily <<<"$body" && ok || bad "GET $p for hr: $status $body"
done
call "$vic" GET "/audit?dag_id=fin_daily"
grep -q fin_daily <<<"$body" && ok || bad "the unscoped audit log lacks fin_daily: $body"
call "$hrv" POST /dags/hr_daily/runs '{}'
[ "$status" = 403 ] && ok || bad "an hr viewer triggered: $status"
call "$hro" POST /dags/hr_daily/runs '{}'
[ "$status" = 201 ] && ok || bad "an hr operator could not trigger hr_daily: $status $body"

# A scoped admin: its namespace's variables; 403 for pools, namespaces and unscoped tokens.
call "$hra" PUT /pools/big '{"slots": 3}'
[ "$status" = 403 ] && ok || bad "a scoped admin set a pool: $status $body"
call "$hra" PUT /namespaces/hr '{"weight": 5}'
[ "$status" = 403 ] && ok || bad "a scoped admin set a namespace: $status $body"
out=$("$baton" tokens create x --role viewer --token "$hra" 2>&1) && bad "a scoped admin made an unscoped token" || ok
out=$("$baton" tokens create hr-2 --role viewer --namespace hr --token "$hra" 2>&1) && ok \
  || bad "a scoped admin could not make an hr token: $out"
out=$("$baton" variables get region --namespace finance --token "$hra" 2>&1) && bad "read finance's variable: $out" || ok
grep -q 'no variable named "region" in namespace "finance"' <<<"$out" && ok || bad "variables get: $out"
"$baton" variables set region eu-hr --namespace hr --token "$hra" >/dev/null && ok || bad "variables set hr"
out=$("$baton" variables list --token "$hra")
grep -q eu-hr <<<"$out" && ! grep -q eu-fin <<<"$out" && ok || bad "variables list for hr: $out"
out=$("$baton" variables list --token "$admin")
grep -q eu-hr <<<"$out" && grep -q eu-fin <<<"$out" && ok || bad "variables list unscoped: $out"
out=$("$baton" tokens list --token "$admin")
grep -q 'hrv .*hr ' <<<"$out" && ok || bad "tokens list: $out"
finish
