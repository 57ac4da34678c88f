#!/usr/bin/env bash
# Security: a flood of unauthenticated requests with 8 KiB paths adds a
# bounded number of bytes to the audit log (SPEC §12): at most one
# auth.failed entry per client address and minute, its path cut to 256
# bytes, and the count of the others kept (written when the server stops at
# the latest) — against the real `baton standalone`, measured with
# `baton audit list --db`. Usage: audit_flood_test.sh BATON
set -u
source "$(dirname "$0")/lib.sh"
baton=$1

mkdir -p "$work/dags"
db="sqlite:$work/baton.db"
start_server() { start_standalone server "$db" --logs logs; }
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid"
}
# The auth.failed entries as `baton audit list --db --output json` prints them.
failures_json() { "$baton" audit list --db "$db" --action auth.failed --limit 100000 --output json; }

start_server || abort "the server did not start"
before_rows=$("$baton" audit list --db "$db" --limit 100000 | wc -l)
before_bytes=$("$baton" audit list --db "$db" --limit 100000 --output json | wc -c)

# 2,000 requests without a token (and 1 in 4 with a bad one), each with an
# 8,000-byte path (the request line stays under the 8 KiB limit), over
# kept-alive connections: one curl, one operation per request (`next`
# keeps each request's header its own).
long=$(head -c 7980 /dev/zero | tr '\0' x)
path="/api/v1/dags/$long"
flood_config() {
  local i
  : > "$work/flood.cfg"
  for i in $(seq 1 2000); do
    printf 'url = "%s%s"\nsilent\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$url" "$path" >> "$work/flood.cfg"
    [ $((i % 4)) -eq 0 ] && printf 'header = "Authorization: Bearer not-a-token-%d"\n' "$i" >> "$work/flood.cfg"
    [ "$i" -lt 2000 ] && echo next >> "$work/flood.cfg"
  done
}
flood_config
started=$(date +%s)
curl -K "$work/flood.cfg" > "$work/codes.txt"
took=$(( $(date +%s) - started ))
[ "$(grep -c '^401$' "$work/codes.txt")" -eq 2000 ] && ok \
  || bad "expected 2000 answers 401: $(sort "$work/codes.txt" | uniq -c | tr '\n' ' ')"

failures_json > "$work/failed.json"
rows=$(grep -c '"action": "auth.failed"' "$work/failed.json")
bytes=$(wc -c < "$work/failed.json")
echo "2000 failed requests in ${took}s: $rows auth.failed entries, $bytes bytes as JSON"
# One client, well within a minute: one entry (two if the flood took more than a minute).
if [ "$took" -lt 60 ]; then
  [ "$rows" -eq 1 ] && ok || bad "auth.failed entries after the flood: $rows (expected 1)"
else
  [ "$rows" -le 2 ] && ok || bad "auth.failed entries after a ${took}s flood: $rows (expected at most 2)"
fi
[ "$bytes" -lt 4096 ] && ok || bad "the flood added $bytes bytes of auth.failed entries (expected under 4 KiB)"
# Paths cut to 256 bytes, the length kept.
if grep -q 'x\{257,\}' "$work/failed.json"; then bad "a path longer than 256 bytes was audited"; else ok; fi
grep -q '"path_bytes": 7993' "$work/failed.json" && ok || bad "no path_bytes: $(head -c 600 "$work/failed.json")"
grep -q '"address": "' "$work/failed.json" && ok || bad "no client address"
# Never a token.
if grep -q 'not-a-token' "$work/failed.json"; then bad "a bearer token was audited"; else ok; fi
# The whole log grew by as little.
after_rows=$("$baton" audit list --db "$db" --limit 100000 | wc -l)
after_bytes=$("$baton" audit list --db "$db" --limit 100000 --output json | wc -c)
[ $((after_rows - before_rows)) -le 2 ] && ok || bad "the audit log grew by $((after_rows - before_rows)) entries"
[ $((after_bytes - before_bytes)) -lt 4096 ] && ok || bad "the audit log grew by $((after_bytes - before_bytes)) bytes"

# Authenticated requests still work during and after, and are not counted.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/api/v1/dags")  # the token of the first start
[ "$code" = 200 ] && ok || bad "an authenticated request after the flood: HTTP $code"

# Nothing is lost but the detail: at stop, the count of the failures not
# audited one by one is written, and the counts add up to 2,000.
stop_server
failures_json > "$work/failed.json"
rows=$(grep -c '"action": "auth.failed"' "$work/failed.json")
suppressed=$(grep -o '"suppressed": [0-9]*' "$work/failed.json" | awk '{n += $2} END {print n + 0}')
[ $((rows - $(grep -c '"reason": "not audited one by one"' "$work/failed.json") + suppressed)) -eq 2000 ] && ok \
  || bad "failures accounted for: $rows entries, $suppressed suppressed: $(cat "$work/failed.json")"
[ "$rows" -le 3 ] && ok || bad "auth.failed entries after the stop: $rows"

# A second flood, from a fresh server: the same bound.
start_server || bad "restart"
flood_config  # the new server's port
curl -K "$work/flood.cfg" > "$work/codes.txt"
[ "$(grep -c '^401$' "$work/codes.txt")" -eq 2000 ] && ok || bad "second flood: not all 401"
rows2=$(failures_json | grep -c '"action": "auth.failed"')
[ $((rows2 - rows)) -le 2 ] && ok || bad "second flood: $((rows2 - rows)) more entries"
"$baton" audit verify --db "$db" > /dev/null && ok || bad "audit verify after the floods"

finish
