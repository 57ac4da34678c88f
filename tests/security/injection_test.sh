#!/usr/bin/env bash
# Security, end to end (SPEC §3 "Rendering depends on where a template
# stands"): the real `baton standalone` on a temporary folder, runs triggered
# over REST with hostile params into a command (plain, '...', "..." and the
# environment), sql on a SQLite connection (inside a literal and as bound
# values), an http task's url, header and body, and a trigger_dag's params.
# Nothing may run that the DAG's author did not write: no file appears, every
# value arrives exactly as it was given, the table keeps its rows; a 40 KB
# param in a url fails its try cleanly and the server lives on; a
# notification to a 100 KB URL fails for good instead of crashing the server.
# Usage: injection_test.sh BATON [WEBHOOK_RECEIVER]
set -u
source "$(dirname "$0")/lib.sh"
baton=$1
receiver=${2:-}

mkdir -p "$work/dags" "$work/hooks"
hook=""
if [ -n "$receiver" ]; then
  "$receiver" "$work/hooks" &
  pids+=("$!")
  for _ in $(seq 1 50); do [ -s "$work/hooks/port" ] && break; sleep 0.1; done
  hook="http://127.0.0.1:$(cat "$work/hooks/port")"
fi

pwned="$work/pwned"
# The hostile values: each would create $pwned if it were run.
a="x; touch $pwned"
b="\$(touch $pwned)"
c="\`touch $pwned\`"
d="'; touch $pwned; echo '"
e="\"; touch $pwned; echo \""
f="a
touch $pwned"

# ---- the DAGs
cat > "$work/dags/inj_shell.yaml" <<'YAML'
dag: inj_shell
params: {a: x, b: x, c: x, d: x, e: x, f: x, day: 'day={{ ds }}'}
tasks:
  plain:
    command: |
      printf '[%s]\n' {{ params.a }} {{ params.b }} {{ params.c }} {{ params.d }} {{ params.e }} {{ params.f }}
  single:
    command: |
      printf '[%s]\n' '{{ params.a }}' '{{ params.b }}' '{{ params.c }}' '{{ params.d }}' '{{ params.e }}' '{{ params.f }}'
  double:
    command: |
      printf '[%s]\n' "{{ params.a }}" "{{ params.b }}" "{{ params.c }}" "{{ params.d }}" "{{ params.e }}" "{{ params.f }}"
  environment:
    command: |
      printf '[%s]\n' "$BATON_PARAM_a" "$BATON_PARAM_b" "$BATON_PARAM_c" "$BATON_PARAM_d" "$BATON_PARAM_e" "$BATON_PARAM_f"
  default:
    command: echo {{ params.day }}
YAML
cat > "$work/dags/inj_sql.yaml" <<'YAML'
dag: inj_sql
params: {a: x, b: '1'}
tasks:
  load:
    type: sql
    connection: wh
    sql: |
      CREATE TABLE IF NOT EXISTS inj (v TEXT);
      INSERT INTO inj VALUES ('{{ params.a }}');
      INSERT INTO inj VALUES ({{ params.a }});
      INSERT INTO inj VALUES ({{ params.b }});
YAML
cat > "$work/dags/inj_child.yaml" <<'YAML'
dag: inj_child
params: {name: x}
tasks:
  say:
    command: printf '[%s]' {{ params.name }}
YAML
cat > "$work/dags/inj_parent.yaml" <<'YAML'
dag: inj_parent
params: {name: x}
tasks:
  go: {type: trigger_dag, dag: inj_child, params: {name: '{{ params.name }}'}}
YAML
cat > "$work/dags/inj_longurl.yaml" <<'YAML'
dag: inj_longurl
params: {big: x}
tasks:
  call: {type: http, url: 'http://127.0.0.1:1/x/{{ params.big }}?q={{ params.big }}'}
YAML
if [ -n "$hook" ]; then
  cat > "$work/dags/inj_http.yaml" <<YAML
dag: inj_http
params: {p: x, h: x}
tasks:
  call:
    type: http
    method: POST
    url: "$hook/record/{{ params.p }}?q={{ params.p }}&z=1"
    headers: {X-P: '{{ params.h }}'}
    body: '{{ params.p }}'
YAML
fi

# ---- the server
db="sqlite:$work/baton.db"
start_standalone server "$db" --logs logs --workers 4 --heartbeat-interval 1s || abort "the server did not start"
export BATON_SERVER=$url BATON_TOKEN=$token
# Waits up to 5 s for the server to have loaded DAG $1.
wait_dag() {
  for _ in $(seq 1 50); do
    curl -s -H "Authorization: Bearer $token" "$url/api/v1/dags/$1" | grep -q '"dag_id"' && break
    sleep 0.1
  done
}
for dag in inj_shell inj_sql inj_child inj_parent inj_longurl; do wait_dag "$dag"; done

api() { curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
# A JSON string of $1.
json_str() { printf "%s" "$1" | jq -Rs .; }
# Triggers DAG $1 with the params object $2 over REST; prints the run id.
trigger() {
  printf '{"params": %s}' "$2" > "$work/body.json"
  api -X POST "$url/api/v1/dags/$1/runs" --data-binary @"$work/body.json" | jq -r '.run_id // empty'
}
# Waits for run $2 of DAG $1 to end; prints its state.
wait_run() {
  local state=""
  for _ in $(seq 1 300); do
    state=$(api "$url/api/v1/dags/$1/runs/$2" | jq -r '.state // empty')
    case "$state" in success|failed|canceled) break ;; esac
    sleep 0.1
  done
  echo "$state"
}
logs() { "$baton" tasks logs "$1" "$2" "$3" 2>&1; }
alive() { kill -0 "$server_pid" 2>/dev/null && curl -s "$url/api/v1/health" | grep -q '"status"'; }

# ---- command: plain, '...', "...", environment; a default param's template
params=$(printf '{"a": %s, "b": %s, "c": %s, "d": %s, "e": %s, "f": %s}' "$(json_str "$a")" "$(json_str "$b")" \
  "$(json_str "$c")" "$(json_str "$d")" "$(json_str "$e")" "$(json_str "$f")")
run=$(trigger inj_shell "$params")
[ -n "$run" ] && ok || bad "trigger inj_shell: $(cat "$work/body.json")"
state=$(wait_run inj_shell "$run")
[ "$state" = success ] && ok || bad "inj_shell ended $state: $(api "$url/api/v1/dags/inj_shell/runs/$run/tasks")"
want=$(printf '[%s]\n' "$a" "$b" "$c" "$d" "$e" "$f")
for t in plain single double environment; do
  got=$(logs inj_shell "$run" "$t")
  [ "$got" = "$want" ] && ok || bad "inj_shell $t: each value is not exactly one word: got
$got
want
$want"
done
logs inj_shell "$run" default | grep -Eq '^day=[0-9]{4}-[0-9]{2}-[0-9]{2}$' && ok \
  || bad "a default param's template was not rendered when the run was made: $(logs inj_shell "$run" default)"
[ ! -e "$pwned" ] && ok || bad "a command ran a param: $pwned exists"

# ---- sql on SQLite: a literal, bound values
"$baton" connections set wh "sqlite:$work/wh.db" >/dev/null && ok || bad "connections set"
sa="x'); DROP TABLE inj; --"
sb="1); INSERT INTO inj VALUES ('injected'); --"
run=$(trigger inj_sql "$(printf '{"a": %s, "b": %s}' "$(json_str "$sa")" "$(json_str "$sb")")")
state=$(wait_run inj_sql "$run")
[ "$state" = success ] && ok || bad "inj_sql ended $state: $(logs inj_sql "$run" load)"
rows=$(sqlite3 "$work/wh.db" "SELECT v FROM inj ORDER BY rowid" 2>&1)
[ "$rows" = "$(printf '%s\n%s\n%s' "$sa" "$sa" "$sb")" ] && ok || bad "inj_sql: the table holds
$rows"
[ "$(sqlite3 "$work/wh.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table'")" = 1 ] && ok \
  || bad "inj_sql: a value changed the schema"

# ---- sql on PostgreSQL (when BATON_TEST_PG_URL names a database): a literal,
# an E'' literal, bound values in a multi-statement text, a dollar-quoted body
if [ -n "${BATON_TEST_PG_URL:-}" ]; then
  table="inj_pg_$$"
  cat > "$work/dags/inj_sql_pg.yaml" <<YAML
dag: inj_sql_pg
params: {a: x, b: '1'}
tasks:
  load:
    type: sql
    connection: whpg
    sql: |
      CREATE TABLE $table (v TEXT);
      INSERT INTO $table VALUES ('{{ params.a }}');
      INSERT INTO $table VALUES ({{ params.a }});
      INSERT INTO $table VALUES (E'{{ params.a }}');
      INSERT INTO $table VALUES ({{ params.b }});
      DO \$\$ BEGIN PERFORM '{{ ds }}'; END \$\$;
YAML
  "$baton" connections set whpg "$BATON_TEST_PG_URL" >/dev/null && ok || bad "connections set whpg"
  wait_dag inj_sql_pg
  pa="x\\'); DROP TABLE $table; --"
  pb="1); INSERT INTO $table VALUES ('injected'); --"
  run=$(trigger inj_sql_pg "$(printf '{"a": %s, "b": %s}' "$(json_str "$pa")" "$(json_str "$pb")")")
  state=$(wait_run inj_sql_pg "$run")
  [ "$state" = success ] && ok || bad "inj_sql_pg ended $state: $(logs inj_sql_pg "$run" load)"
  rows=$(psql -qAt "$BATON_TEST_PG_URL" -c "SELECT v FROM $table" 2>&1)
  [ "$rows" = "$(printf '%s\n%s\n%s\n%s' "$pa" "$pa" "$pa" "$pb")" ] && ok || bad "inj_sql_pg: the table holds
$rows"
  psql -qAt "$BATON_TEST_PG_URL" -c "DROP TABLE IF EXISTS $table" >/dev/null 2>&1
fi

# ---- trigger_dag: the params stay data
tp="x\", \"extra\": \"1; touch $pwned"
run=$(trigger inj_parent "$(printf '{"name": %s}' "$(json_str "$tp")")")
state=$(wait_run inj_parent "$run")
[ "$state" = success ] && ok || bad "inj_parent ended $state: $(api "$url/api/v1/dags/inj_parent/runs/$run/tasks")"
child=$(api "$url/api/v1/dags/inj_child/runs" | jq -r '.items[0].run_id // empty')
[ -n "$child" ] && ok || bad "no run of inj_child"
if [ -n "$child" ]; then
  [ "$(wait_run inj_child "$child")" = success ] && ok || bad "inj_child did not succeed"
  cp=$(api "$url/api/v1/dags/inj_child/runs/$child" | jq -c '.params')
  [ "$cp" = "$(jq -c -n --arg n "$tp" '{name: $n}')" ] && ok || bad "inj_child's params: $cp"
  [ "$(logs inj_child "$child" say)" = "[$tp]" ] && ok || bad "inj_child: $(logs inj_child "$child" say)"
fi
[ ! -e "$pwned" ] && ok || bad "a trigger_dag param ran: $pwned exists"

# ---- http: url path and query, header, body; CR/LF in a header
if [ -n "$hook" ]; then
  wait_dag inj_http
  hp="a/../b?c=d&z=2#f g'\"\$(touch $pwned)%2F"
  hh="it's \"quoted\" \$(touch $pwned)"
  run=$(trigger inj_http "$(printf '{"p": %s, "h": %s}' "$(json_str "$hp")" "$(json_str "$hh")")")
  state=$(wait_run inj_http "$run")
  [ "$state" = success ] && ok || bad "inj_http ended $state: $(logs inj_http "$run" call)"
  [ "$(cat "$work/hooks/record-path" 2>/dev/null)" = "/record/$hp" ] && ok \
    || bad "inj_http: the path arrived as $(cat "$work/hooks/record-path" 2>/dev/null)"
  [ "$(cat "$work/hooks/record-q" 2>/dev/null)" = "$hp" ] && ok || bad "inj_http: q arrived as $(cat "$work/hooks/record-q")"
  [ "$(cat "$work/hooks/record-z" 2>/dev/null)" = 1 ] && ok || bad "inj_http: a value added a query parameter"
  [ "$(cat "$work/hooks/record-h" 2>/dev/null)" = "$hh" ] && ok || bad "inj_http: the header arrived as $(cat "$work/hooks/record-h")"
  [ "$(cat "$work/hooks/record-body" 2>/dev/null)" = "$hp" ] && ok || bad "inj_http: the body arrived as $(cat "$work/hooks/record-body")"
  crlf="a
X-Injected: 1"
  run=$(trigger inj_http "$(printf '{"p": "x", "h": %s}' "$(json_str "$crlf")")")
  state=$(wait_run inj_http "$run")
  [ "$state" = failed ] && ok || bad "inj_http with a line break in a header ended $state"
  api "$url/api/v1/dags/inj_http/runs/$run/tasks" | grep -q 'header \\"X-P\\"' && ok \
    || bad "the reason does not name the header: $(api "$url/api/v1/dags/inj_http/runs/$run/tasks")"
  [ ! -e "$pwned" ] && ok || bad "an http param ran: $pwned exists"
fi

# ---- a 40 KB param in a url: the try fails with a message, the server lives on
big=$(head -c 40960 /dev/zero | tr '\0' "'")
run=$(trigger inj_longurl "$(printf '{"big": "%s"}' "$big")")
[ -n "$run" ] && ok || bad "trigger inj_longurl"
state=$(wait_run inj_longurl "$run")
[ "$state" = failed ] && ok || bad "inj_longurl ended $state"
api "$url/api/v1/dags/inj_longurl/runs/$run/tasks" | grep -q '8192' && ok \
  || bad "the long url's reason does not give the limit: $(api "$url/api/v1/dags/inj_longurl/runs/$run/tasks" | head -c 600)"
alive && ok || bad "the server died on a 40 KB url"

# ---- a notification that can never be delivered fails for good
now_us=$(( $(date +%s) * 1000000 ))
long_hook="http://127.0.0.1:1/$(head -c 102400 /dev/zero | tr '\0' 'a')"
sqlite3 "$work/baton.db" ".timeout 5000" "INSERT INTO notifications (event, dag_id, target_kind, target, payload,
  attempts, next_attempt_at, state, created_at) VALUES ('on_failure', 'inj_shell', 'webhook', '$long_hook', '{}', 0,
  $now_us, 'pending', $now_us), ('on_failure', 'inj_shell', 'webhook', 'gopher://127.0.0.1/x', '{}', 0, $now_us,
  'pending', $now_us)" && ok || bad "could not add the notifications"
states=""
for _ in $(seq 1 100); do
  states=$(sqlite3 "$work/baton.db" ".timeout 5000" "SELECT state || ' ' || attempts FROM notifications WHERE dag_id = 'inj_shell' ORDER BY id")
  [ "$states" = "$(printf 'failed 1\nfailed 1')" ] && break
  sleep 0.1
done
[ "$states" = "$(printf 'failed 1\nfailed 1')" ] && ok || bad "undeliverable notifications: $states"
sqlite3 "$work/baton.db" ".timeout 5000" "SELECT last_error FROM notifications WHERE dag_id = 'inj_shell' ORDER BY id" \
  | grep -q 8192 && ok || bad "the notification's reason does not give the limit"
alive && ok || bad "the server died on an undeliverable notification"

[ ! -e "$pwned" ] && ok || bad "$pwned exists"
finish
