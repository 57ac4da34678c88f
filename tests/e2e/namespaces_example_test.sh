#!/usr/bin/env bash
# The worked example of docs/namespaces.md end to end: `baton standalone` on
# a copy of examples/dags, examples/namespaces/setup.sh run against it with
# the real CLI, then what the example says a team sees: the namespaces with
# their weights, caps and folders; a scoped token that lists its own DAGs
# and finds another team's missing; a namespace bound to its folder, which
# makes a file elsewhere that claims it invalid, and lets it back when the
# binding is lifted. Usage: namespaces_example_test.sh BATON SOURCE_DIR
set -u
baton=$1
src=$2
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

cp -r "$src/examples/dags" "$work/dags"
(cd "$work" && exec "$baton" standalone --dags dags --db "sqlite:$work/baton.db" --listen 127.0.0.1:0 \
  --logs logs --workers 2 > "$work/out.log" 2> "$work/err.log") &
pids+=($!)
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's#^UI and API: \(http://[0-9.:]*\)/ .*#\1#p' "$work/out.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start:"; cat "$work/out.log" "$work/err.log"; echo "0 passed, 1 failed"; exit 1; }
for _ in $(seq 1 200); do
  curl -s "$url/api/v1/health" | grep -q '"loading"' || break
  sleep 0.05
done
export BATON_SERVER=$url BATON_TOKEN=$(sed -n 's/^admin token: //p' "$work/out.log")

out=$(BATON="$baton" bash "$src/examples/namespaces/setup.sh" 2>&1) && ok || bad "setup.sh failed: $out"
grep -qE "^sales +3 +- +- " <<<"$out" && ok || bad "sales as configured: $out"
grep -qE "^finance +2 +8 +finance " <<<"$out" && ok || bad "finance as configured: $out"
grep -qE "^ops +1 +- +ops " <<<"$out" && ok || bad "ops as configured: $out"
sales_token=$(sed -n 's/^sales-ci token: //p' <<<"$out")
[ -n "$sales_token" ] && ok || bad "no sales-ci token printed: $out"

# The sales team's token: its two DAGs, nothing of finance's.
dags=$(curl -s -H "Authorization: Bearer $sales_token" "$url/api/v1/dags")
grep -q daily_sales <<<"$dags" && grep -q sales_reporting <<<"$dags" && ok || bad "sales-ci's DAG list: $dags"
grep -qE "fx_rates|monthly_billing|warehouse_vacuum" <<<"$dags" && bad "sales-ci sees other teams' DAGs: $dags" || ok
msg=$(BATON_TOKEN=$sales_token "$baton" trigger fx_rates 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no DAG" <<<"$msg" && ok || bad "sales-ci triggering fx_rates: exit $rc: $msg"
BATON_TOKEN=$sales_token "$baton" variables get fx_api_token --namespace finance >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ok || bad "sales-ci read finance's variable: exit $rc"

# sales bound to sales/: reporting/sales_reporting.yaml, which claims sales
# from another folder, is refused within the scheduler's next polls.
"$baton" namespaces set sales --folder sales >/dev/null && ok || bad "namespaces set sales --folder sales"
refused=
for _ in $(seq 1 100); do
  d=$(curl -s -H "Authorization: Bearer $BATON_TOKEN" "$url/api/v1/dags/sales_reporting")
  if grep -q 'only DAG files under sales/' <<<"$d" && grep -q '"active":false' <<<"$d"; then refused=1; break; fi
  sleep 0.1
done
[ -n "$refused" ] && ok || bad "sales_reporting not refused: $d"
grep -q 'this file is reporting/sales_reporting.yaml' <<<"$d" && ok || bad "the error does not name the file: $d"
curl -s -H "Authorization: Bearer $BATON_TOKEN" "$url/api/v1/dags/daily_sales" | grep -q '"active":true' && ok ||
  bad "daily_sales (under sales/) was refused too"
"$baton" namespaces set sales --no-folder >/dev/null && ok || bad "namespaces set sales --no-folder"
back=
for _ in $(seq 1 100); do
  curl -s -H "Authorization: Bearer $BATON_TOKEN" "$url/api/v1/dags/sales_reporting" | grep -q '"active":true' && { back=1; break; }
  sleep 0.1
done
[ -n "$back" ] && ok || bad "sales_reporting not back after --no-folder"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
