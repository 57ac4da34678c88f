#!/usr/bin/env bash
# The HTTP server against hostile clients (SPEC §12), with the real binary:
# Range and header floods (the server's memory measured), slowloris and 1,000
# idle connections (GET /health must answer within 100 ms meanwhile), worker
# long polls, request smuggling (a request after a 413 on the same
# connection, two Content-Lengths), the request line and header limits,
# keep-alive, and the static files of --web (NUL, symlinks).
# Usage: http_test.sh BATON HOSTILE_CLIENT
set -u
source "$(dirname "$0")/lib.sh"
baton=$1
client=$2

mkdir -p "$work/dags" "$work/web"
cat > "$work/dags/hello.yaml" <<'YAML'
dag: hello
tasks:
  greet: {command: 'echo hello'}
YAML

# start_server NAME [ARGS...]: starts `baton standalone` on the SQLite file
# NAME.db, sets url, port, token and server_pid.
start_server() {
  local name=$1
  shift
  start_standalone "$name" "sqlite:$work/$name.db" --logs "logs-$name" --workers 2 "$@"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
value() { sed -n "s/^$1=//p" "$2"; }
alive() { kill -0 "$1" 2>/dev/null; }

start_server main || abort "the server did not start"
server=$server_pid

# ---- keep-alive: many requests on one connection, no request cap ----
curl -sv -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  $(for i in 1 2 3 4 5 6 7; do echo "$url/api/v1/health"; done) 2> "$work/keepalive.txt"
reused=$(grep -c 'Re-using existing connection' "$work/keepalive.txt")
[ "$reused" -ge 6 ] && ok || bad "keep-alive: $reused of 6 requests re-used the connection"
grep -qi 'max=' "$work/keepalive.txt" && bad "keep-alive: a request cap was announced" || ok

# ---- Range is not honoured: 8 × 2,700 ranges ----
before=$(rss_kb "$server")
"$client" flood "$port" range 8 > "$work/range.txt"
after=$(rss_kb "$server")
received=$(value received_bytes "$work/range.txt")
openapi=$(curl -s "$url/api/v1/openapi.json" | wc -c)
[ "$received" -le $(( 8 * (openapi + 2000) )) ] && ok || bad "Range flood: $received bytes answered (one document is $openapi)"
[ $((after - before)) -lt 51200 ] && ok || bad "Range flood: the server grew by $((after - before)) KiB"
echo "range flood: answered $received bytes; RSS $before -> $after KiB"

# ---- 60,000 header lines of 8 KB, 8 at once ----
before=$(rss_kb "$server")
"$client" flood "$port" headers 8 > "$work/headers.txt"
after=$(rss_kb "$server")
sent=$(value sent_bytes "$work/headers.txt")
[ "$(value answers_431 "$work/headers.txt")" = 8 ] && ok || bad "header flood: $(value answers_431 "$work/headers.txt") of 8 got 431"
[ $((after - before)) -lt 51200 ] && ok || bad "header flood: the server grew by $((after - before)) KiB"
alive "$server" && ok || bad "header flood: the server died"
echo "header flood: $sent bytes sent before the server closed; RSS $before -> $after KiB"

# ---- the request line and the header limits ----
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/$(head -c 9000 /dev/zero | tr '\0' a)")
[ "$code" = 414 ] && ok || bad "9 KB request line: HTTP $code, wanted 414"
args=()
for i in $(seq 1 101); do args+=(-H "X-H$i: v"); done
code=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$url/api/v1/health")
[ "$code" = 431 ] && ok || bad "101 header lines: HTTP $code, wanted 431"

# ---- a 413 closes the connection: its body is never read as a request ----
big=2000000
inner=$'GET /api/v1/dags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '"$token"$'\r\n\r\n'
printf 'POST /api/v1/dags/hello/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
  "$token" "$big" "$inner" | "$client" send "$port" > "$work/413.txt"
statuses=$(grep -ac '^HTTP/1.1 ' "$work/413.txt")
grep -aq '^HTTP/1.1 413' "$work/413.txt" && ok || bad "oversized body: no 413: $(head -c 300 "$work/413.txt")"
[ "$statuses" = 1 ] && ok || bad "after a 413 the connection answered $statuses times (the body was read as a request)"

# ---- two Content-Length, or one beside Transfer-Encoding ----
printf 'POST /api/v1/dags/hello/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}' \
  "$token" | "$client" send "$port" > "$work/cl2.txt"
grep -aq '^HTTP/1.1 400' "$work/cl2.txt" && ok || bad "two Content-Length: $(head -c 200 "$work/cl2.txt")"
printf 'POST /api/v1/dags/hello/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' \
  "$token" | "$client" send "$port" > "$work/clte.txt"
grep -aq '^HTTP/1.1 400' "$work/clte.txt" && ok || bad "Content-Length with Transfer-Encoding: $(head -c 200 "$work/clte.txt")"
runs=$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/hello/runs" | grep -o '"run_id"' | wc -l)
[ "$runs" = 0 ] && ok || bad "a refused request created $runs runs"

# ---- trailers: never read as headers; an endless chunk line is cut off ----
printf 'GET /api/v1/dags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer %s\r\n\r\n' \
  "$token" | "$client" send "$port" > "$work/trailer.txt"
grep -aq '^HTTP/1.1 400' "$work/trailer.txt" && ok || bad "a token in a trailer: $(head -c 200 "$work/trailer.txt")"
before=$(rss_kb "$server")
{ printf 'POST /api/v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: '
  head -c 50000000 /dev/zero | tr '\0' a; } | "$client" send "$port" 2 > "$work/chunkline.txt"
after=$(rss_kb "$server")
grep -aq '^HTTP/1.1 400' "$work/chunkline.txt" && ok || bad "an endless trailer: $(head -c 200 "$work/chunkline.txt")"
[ $((after - before)) -lt 51200 ] && ok || bad "an endless trailer grew the server by $((after - before)) KiB"

# ---- slowloris: 200 connections sending a header line every 2 s ----
"$client" hold "$port" slow 200 14 > "$work/slow.txt"
max=$(value health_max_ms "$work/slow.txt")
echo "slowloris: $(tr '\n' ' ' < "$work/slow.txt")"
awk -v m="$max" 'BEGIN { exit !(m >= 0 && m < 100) }' && ok || bad "slowloris: /health took up to $max ms"
[ "$(value health_failed "$work/slow.txt")" = 0 ] && ok || bad "slowloris: /health failed"
[ "$(value dropped "$work/slow.txt")" = 200 ] && ok || bad "slowloris: $(value dropped "$work/slow.txt") of 200 dropped"
awk -v f="$(value dropped_first_s "$work/slow.txt")" -v l="$(value dropped_last_s "$work/slow.txt")" \
  'BEGIN { exit !(f >= 9 && l <= 12.5) }' && ok || bad "slowloris: dropped between $(value dropped_first_s "$work/slow.txt") and $(value dropped_last_s "$work/slow.txt") s, wanted 10 s"

# ---- 1,000 idle connections ----
threads_before=$(ls "/proc/$server/task" | wc -l)
"$client" hold "$port" idle 1000 13 > "$work/idle.txt" &
holder=$!
sleep 5
threads_during=$(ls "/proc/$server/task" | wc -l)
wait "$holder"
echo "idle: $(tr '\n' ' ' < "$work/idle.txt") threads $threads_before -> $threads_during"
[ "$(value opened "$work/idle.txt")" = 1000 ] && ok || bad "idle: opened $(value opened "$work/idle.txt") of 1000"
max=$(value health_max_ms "$work/idle.txt")
awk -v m="$max" 'BEGIN { exit !(m >= 0 && m < 100) }' && ok || bad "1,000 idle connections: /health took up to $max ms"
[ "$threads_during" -le $((threads_before + 2)) ] && ok || bad "idle connections cost threads: $threads_before -> $threads_during"
[ "$(value dropped "$work/idle.txt")" = 1000 ] && ok || bad "idle: $(value dropped "$work/idle.txt") of 1000 dropped after 10 s"

# ---- 40 worker long polls hold no thread and do not slow /health ----
# Remote workers need PostgreSQL: a standalone on a fresh schema of the
# cluster scripts/with-postgres.sh started (skipped without one).
if [ -n "${BATON_TEST_PG_URL:-}" ]; then
  schema="baton_sec_http_$$"
  pgdb=$(pg_schema_url "$schema")
  # Sets pgserver and pgurl; the main server's url, port and token stay.
  start_pg() {
    local url port token server_pid
    start_standalone pg "$pgdb" --logs logs-pg --workers 2
    pgserver=$server_pid pgurl=$url
  }
  start_pg
  wtoken=$("$baton" tokens create poller --role worker --db "$pgdb" 2>/dev/null | tail -1)
  threads_before=$(ls "/proc/$pgserver/task" | wc -l)
  pollers=()
  for i in $(seq 1 40); do
    curl -s -o "$work/poll-$i.json" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $wtoken" \
      -H 'Content-Type: application/json' -d '{"worker": "w'"$i"'", "queues": ["nothing-here"], "wait_ms": 6000}' \
      "$pgurl/api/v1/workers/claim" > "$work/poll-$i.code" &
    pollers+=($!)
  done
  sleep 1
  threads_during=$(ls "/proc/$pgserver/task" | wc -l)
  worst=0
  for _ in $(seq 1 10); do
    t=$(curl -s -o /dev/null -w '%{time_total}' "$pgurl/api/v1/health")
    worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
  done
  start_wait=$(date +%s.%N)
  wait "${pollers[@]}"
  waited=$(awk -v a="$start_wait" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  answered=$(cat "$work"/poll-*.code | grep -c 200)
  [ "$answered" = 40 ] && ok || bad "long polls: $answered of 40 answered 200: $(head -c 300 "$work/poll-1.json")"
  grep -q '"items":\[\]' "$work/poll-1.json" && ok || bad "long poll answer: $(head -c 200 "$work/poll-1.json")"
  awk -v w="$waited" 'BEGIN { exit !(w > 3 && w < 7) }' && ok || bad "long polls answered after ${waited}s more, wanted their 6 s"
  awk -v w="$worst" 'BEGIN { exit !(w < 0.1) }' && ok || bad "40 long polls: /health took up to ${worst}s"
  [ "$threads_during" -le $((threads_before + 2)) ] && ok || bad "long polls cost threads: $threads_before -> $threads_during"
  echo "long polls: /health worst ${worst}s; threads $threads_before -> $threads_during"
  # Stopping the server answers the parked polls (empty) before it goes.
  pollers=()
  for i in $(seq 1 20); do
    curl -s -o "$work/stop-$i.json" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $wtoken" \
      -H 'Content-Type: application/json' -d '{"worker": "s'"$i"'", "queues": ["nothing-here"], "wait_ms": 30000}' \
      "$pgurl/api/v1/workers/claim" > "$work/stop-$i.code" &
    pollers+=($!)
  done
  sleep 1
  kill "$pgserver"
  wait "${pollers[@]}"
  wait "$pgserver"
  answered=$(cat "$work"/stop-*.code | grep -c '^200$')
  [ "$answered" = 20 ] && ok || bad "at stop: $answered of 20 parked polls answered"
  psql -q "$BATON_TEST_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
else
  echo "long polls: skipped (remote workers need PostgreSQL: run under scripts/with-postgres.sh)"
fi

# ---- static files of --web: no NUL, no symlink out of the folder ----
echo 'plain text' > "$work/web/a.txt"
echo '<p>ui</p>' > "$work/web/index.html"
echo 'outside' > "$work/secret.txt"
ln -s "$work/secret.txt" "$work/web/link.html"
ln -s /etc "$work/web/etc"
start_server web --web "$work/web" || bad "the --web server did not start"
[ "$(curl -s "$url/")" = '<p>ui</p>' ] && ok || bad "--web: / is not index.html"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$url/a.txt%00.html")
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/a.txt%00.html")
[ "$code" = 400 ] && ok || bad "a.txt%00.html: HTTP $code ($ctype)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/link.html")
[ "$code" = 404 ] && ok || bad "a symlink out of the folder: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/etc/passwd")
[ "$code" = 404 ] && ok || bad "a symlinked folder: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$url/../secret.txt")
[ "$code" = 400 ] || [ "$code" = 404 ] && ok || bad "../ out of the folder: HTTP $code"

alive "$server" && ok || bad "the server died"
finish
