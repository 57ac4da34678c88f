#!/usr/bin/env bash
# W9 (BENCHMARKS.md): N idle `baton worker` processes (default 200) long-polling one `baton server`: the
# server's threads and RSS before and after (from /proc/PID/status).
# Usage: scripts/with-postgres.sh bash bench/idle_workers.sh build/baton [N]
set -u
if [ -z "${BATON_TEST_PG_URL:-}" ]; then echo "needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)"; exit 77; fi
baton=$1
n=${2:-200}
work=$(mktemp -d)
schema="w9idle_$$"
case "$BATON_TEST_PG_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
db="$BATON_TEST_PG_URL${sep}options=-csearch_path%3D$schema"
mkdir -p "$work/dags"
printf 'dag: one\ntasks:\n  a: {command: "true"}\n' > "$work/dags/one.yaml"
"$baton" db migrate --db "$db" >/dev/null
wt=$("$baton" tokens create w --role worker --db "$db" | grep -o 'baton_[0-9a-f]*' | head -n 1)
"$baton" server --db "$db" --dags "$work/dags" --listen 127.0.0.1:0 --logs "$work/logs" > "$work/server.log" 2>&1 &
sp=$!
for _ in $(seq 1 100); do port=$(sed -n 's#^UI and API: http://[0-9.]*:\([0-9]*\)/ .*#\1#p' "$work/server.log"); [ -n "$port" ] && break; sleep 0.1; done
status() { awk '/^Threads|^VmRSS/ {printf "%s %s %s  ", $1, $2, $3}' /proc/$sp/status; echo; }
# one worker first (the claim path and the queue waker warmed up)
"$baton" worker --server "http://127.0.0.1:$port" --token "$wt" --slots 4 --dir "$work/w0" --name w0 > "$work/w0.log" 2>&1 &
wps=($!)
sleep 5
echo "server with 1 worker:    $(status)"
for i in $(seq 1 "$n"); do
  "$baton" worker --server "http://127.0.0.1:$port" --token "$wt" --slots 4 --dir "$work/w$i" --name "w$i" > "$work/w$i.log" 2>&1 &
  wps+=($!)
done
sleep 20
echo "server with $((n + 1)) workers: $(status)"
cpu() { awk '{print $14 + $15}' /proc/$sp/stat; }
c0=$(cpu)
sleep 10
echo "server 10 s later:       $(status) CPU in those 10 s: $(( $(cpu) - c0 )) ticks of 1/$(getconf CLK_TCK) s"
echo "connections to the server: $(ss -tn state established "( sport = :$port )" | tail -n +2 | wc -l)"
echo "worker RSS (KiB) of w1: $(awk '/^VmRSS/ {print $2}' /proc/${wps[1]}/status), threads: $(awk '/^Threads/ {print $2}' /proc/${wps[1]}/status)"
grep -c "claiming" "$work"/w*.log | awk -F: '{s += $2} END {print "claim errors logged by the workers: " s}'
kill "${wps[@]}" 2>/dev/null; wait "${wps[@]}" 2>/dev/null
kill $sp; wait $sp 2>/dev/null
PGOPTIONS="-c search_path=$schema" psql -qAt "$BATON_TEST_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
rm -rf "$work"
