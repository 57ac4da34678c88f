#!/usr/bin/env bash
# Secrets stay out of what Baton shows (SPEC §12), against the real binary:
#  - `baton config show` (text and JSON) with a database URL holding a
#    password with `@`, `?password=` and a percent-encoded `pass%77ord=`;
#  - the start-up lines and errors of a server whose database URL holds them
#    (an unreachable PostgreSQL; a real one under scripts/with-postgres.sh);
#  - GET /connections and `baton connections list` with `pass%77ord=`,
#    `sslpassword=` and a libpq keyword string;
#  - a secret variable: GET /variables, `variables get|list`, the audit log,
#    and the log of a task that echoes it (masked); a plain one is not;
#  - the log of an http task whose URL holds user info, and of a sql task
#    whose connection cannot be reached;
#  - sensor.file outside sensor_roots (/etc/passwd, `..`, a link from the
#    temporary folder to /etc) fails the try with a reason naming the roots;
#    a file under the DAGs folder is found.
# Usage: masking_test.sh BATON   (KEEP=1 keeps its temporary folder)
# With BATON_TEST_STORE=postgres the server runs on a fresh schema of the
# database BATON_TEST_PG_URL names (exit 77, skipped, without one).
set -u
if [ "${BATON_TEST_STORE:-}" = postgres ] && [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: BATON_TEST_STORE=postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"
baton=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# Each secret must not appear in the file.
clean() {
  local what=$1 file=$2
  shift 2
  local leaked=""
  for s in "$@"; do grep -qF -- "$s" "$file" && leaked="$leaked $s"; done
  if [ -z "$leaked" ]; then ok; else bad "$what shows$leaked: $(head -c 2000 "$file")"; fi
}
has() {
  local what=$1 file=$2 text=$3
  grep -qF -- "$text" "$file" && ok || bad "$what: no \"$text\" in $(head -c 2000 "$file")"
}

# ---- config show -------------------------------------------------------------
pw_at='Pa@ss@W0rd-at'
q_pw='QueryPw-77'
enc_pw='EncPw-99'
ssl_pw='SslPw-55'
db_url="postgresql://ada:${pw_at}@127.0.0.1:1/db?sslmode=disable&password=${q_pw}&pass%77ord=${enc_pw}&SSLPASSWORD=${ssl_pw}"
secrets=("W0rd-at" "$q_pw" "$enc_pw" "$ssl_pw")
BATON_DB="$db_url" BATON_SERVER="http://bot:SrvPw-11@127.0.0.1:9/" "$baton" config show > "$work/config.txt" 2>&1
clean "config show" "$work/config.txt" "${secrets[@]}" "SrvPw-11"
has "config show" "$work/config.txt" "postgresql://ada:***@127.0.0.1:1/db?sslmode=disable&password=***&pass%77ord=***"
BATON_DB="$db_url" "$baton" config show --output json > "$work/config.json" 2>&1
clean "config show --output json" "$work/config.json" "${secrets[@]}"
cat > "$work/baton.yaml" <<YAML
db: "$db_url"
YAML
(cd "$work" && "$baton" config show) > "$work/config_yaml.txt" 2>&1
clean "config show (baton.yaml)" "$work/config_yaml.txt" "${secrets[@]}"
rm "$work/baton.yaml"

# ---- a server whose database cannot be reached: its errors -------------------
for cmd in "server --listen 127.0.0.1:0 --dags $work" "scheduler --dags $work" "standalone --listen 127.0.0.1:0 --dags $work" \
  "db migrate" "db status" "tokens list"; do
  # shellcheck disable=SC2086
  timeout 20 "$baton" $cmd --db "$db_url" > "$work/unreachable.txt" 2>&1
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "baton $cmd on an unreachable database: exit $rc"
  clean "baton $cmd on an unreachable database" "$work/unreachable.txt" "${secrets[@]}"
  has "baton $cmd on an unreachable database" "$work/unreachable.txt" "ada:***@127.0.0.1:1"
done
# libpq cuts a password holding `/` and quotes a piece of it in its error.
timeout 20 "$baton" db status --db "postgresql://ada:CutHere1/rest-of-it@127.0.0.1:1/db" > "$work/cut.txt" 2>&1
clean "an error about a password libpq could not parse" "$work/cut.txt" "CutHere1" "rest-of-it"
"$baton" db status --db "mysql://ada:MyPw-33@host/db" > "$work/unsupported.txt" 2>&1
clean "an unsupported database URL's error" "$work/unsupported.txt" "MyPw-33"

# ---- a running server ------------------------------------------------------------
mkdir -p "$work/dags" "$work/inbox"
: > "$work/dags/here.flag"
ln -s /etc "$work/etc_link"
cat > "$work/dags/secrets.yaml" <<'YAML'
dag: secrets
tasks:
  echo_it:
    command: |
      echo "key={{ var.api_key }} plain={{ var.region }}"
      # The value across two writes (two reads of the log pipe), and at the end.
      printf 'twice: %s' "{{ var.api_key }}" | head -c 12; sleep 0.3
      printf '%s\n' "{{ var.api_key }}" | tail -c +6; printf '%s' "{{ var.api_key }}"
YAML
cat > "$work/dags/urls.yaml" <<'YAML'
dag: urls
tasks:
  fetch: {type: http, url: "http://bot:HttpPw-42@127.0.0.1:1/x", timeout: 5s}
  load: {type: sql, connection: wh, sql: "SELECT 1"}
YAML
cat > "$work/dags/sensors.yaml" <<YAML
dag: sensors
tasks:
  passwd: {type: sensor.file, path: /etc/passwd, poke_interval: 1s}
  dotdot: {type: sensor.file, path: "$work/inbox/../../../etc/passwd", poke_interval: 1s}
  link: {type: sensor.file, path: "$work/etc_link/passwd", poke_interval: 1s}
  here: {type: sensor.file, path: here.flag, poke_interval: 1s}
YAML

if [ "${BATON_TEST_STORE:-}" = postgres ]; then
  # The test cluster trusts its users: the passwords are there to be shown
  # (libpq wants the @ of a password percent-encoded).
  base=${BATON_TEST_PG_URL/postgresql:\/\/baton@/postgresql:\/\/baton:${pw_at//@/%40}@}
  db="$(pg_schema_url "baton_sec_$$" "$base")&sslpassword=${ssl_pw}&password=${q_pw}"
else
  db="sqlite:$work/baton.db"
fi
start_standalone server "$db" --logs logs --workers 2 --heartbeat-interval 1s || abort "the server did not start"
export BATON_SERVER=$url BATON_TOKEN=$token
clean "the start-up lines" "$work/server.out" "${secrets[@]}"
clean "the start-up errors" "$work/server.err" "${secrets[@]}"
[ "${BATON_TEST_STORE:-}" = postgres ] && has "the start-up line" "$work/server.out" "password=***"
auth=(-H "Authorization: Bearer $token")

# ---- connections ---------------------------------------------------------------------
put_conn() {
  curl -s -o "$work/put.json" -w '%{http_code}' -X PUT "${auth[@]}" "$url/api/v1/connections/$1" \
    -H 'Content-Type: application/json' -d "{\"url\": \"$2\"}"
}
code=$(put_conn enc "postgresql://h/db?pass%77ord=${enc_pw}&sslpassword=${ssl_pw}")
[ "$code" = 201 ] && ok || bad "PUT /connections/enc: HTTP $code $(cat "$work/put.json")"
clean "PUT /connections/enc's answer" "$work/put.json" "$enc_pw" "$ssl_pw"
code=$(put_conn at "postgresql://ada:${pw_at}@h/db?PassWord=${q_pw}")
[ "$code" = 201 ] && ok || bad "PUT /connections/at: HTTP $code $(cat "$work/put.json")"
"$baton" connections set wh "postgresql://ada:ConnPw-66@127.0.0.1:1/db?connect_timeout=2" > /dev/null && ok \
  || bad "connections set wh"
curl -s "${auth[@]}" "$url/api/v1/connections" > "$work/conns.json"
clean "GET /connections" "$work/conns.json" "${secrets[@]}" "ConnPw-66"
has "GET /connections" "$work/conns.json" 'pass%77ord=***'
curl -s "${auth[@]}" "$url/api/v1/connections/enc" > "$work/conn.json"
clean "GET /connections/enc" "$work/conn.json" "$enc_pw" "$ssl_pw"
"$baton" connections list > "$work/conns.txt" 2>&1
clean "baton connections list" "$work/conns.txt" "${secrets[@]}" "ConnPw-66"
code=$(put_conn bad "mysql://ada:MyPw-33@h/db")
[ "$code" = 400 ] && ok || bad "PUT a mysql:// connection: HTTP $code"
clean "a refused connection's error" "$work/put.json" "MyPw-33"

# ---- secret variables ------------------------------------------------------------------
secret_value='Sup3r-Secret-Value-123'
"$baton" variables set api_key "$secret_value" --secret > /dev/null && ok || bad "variables set --secret"
"$baton" variables set region eu-west-1 > /dev/null && ok || bad "variables set region"
curl -s "${auth[@]}" "$url/api/v1/variables/api_key" > "$work/var.json"
clean "GET /variables/api_key" "$work/var.json" "$secret_value"
grep -q '"secret": *true' "$work/var.json" && grep -q '"value": *"\*\*\*"' "$work/var.json" && ok \
  || bad "GET /variables/api_key: not shown as a secret: $(cat "$work/var.json")"
curl -s "${auth[@]}" "$url/api/v1/variables" > "$work/vars.json"
clean "GET /variables" "$work/vars.json" "$secret_value"
has "GET /variables" "$work/vars.json" "eu-west-1"
[ "$("$baton" variables get api_key)" = '***' ] && ok || bad "variables get api_key: $("$baton" variables get api_key)"
"$baton" variables list > "$work/vars.txt"
clean "variables list" "$work/vars.txt" "$secret_value"
# Changed without --secret: it stays secret.
"$baton" variables set api_key "$secret_value" > /dev/null
curl -s "${auth[@]}" "$url/api/v1/variables/api_key" | grep -q '"secret": *true' && ok \
  || bad "a secret variable set again without --secret became plain"
curl -s "${auth[@]}" "$url/api/v1/audit?action=variable.set" > "$work/audit.json"
clean "the audit log" "$work/audit.json" "$secret_value"
has "the audit log" "$work/audit.json" "eu-west-1"

run=$("$baton" trigger secrets --wait 2> "$work/trigger.log"); rc=$?
[ $rc -eq 0 ] && ok || bad "trigger secrets: exit $rc $(cat "$work/trigger.log")"
"$baton" tasks logs secrets "$run" echo_it > "$work/task.log" 2>&1
clean "the task's log" "$work/task.log" "$secret_value"
has "the task's log" "$work/task.log" "key=*** plain=eu-west-1"
has "the task's log" "$work/task.log" "twice: ***"
[ "$(tail -n 1 "$work/task.log")" = '***' ] && ok || bad "the value at the very end of the log: $(tail -n 1 "$work/task.log")"
logfile=$(find "$work/logs" -path '*secrets*' -name '*.log' | head -n 1)
if [ -n "$logfile" ]; then clean "the log file on disk" "$logfile" "$secret_value"; else bad "no log file of secrets"; fi

# ---- URLs in the logs of http and sql tasks -------------------------------------------------
run=$("$baton" trigger urls --wait 2> /dev/null)
"$baton" tasks logs urls "$run" fetch > "$work/fetch.log" 2>&1
clean "the http task's log" "$work/fetch.log" "HttpPw-42"
has "the http task's log" "$work/fetch.log" "bot:***@127.0.0.1"
"$baton" tasks logs urls "$run" load > "$work/load.log" 2>&1
clean "the sql task's log" "$work/load.log" "ConnPw-66"
"$baton" runs show urls "$run" --output json > "$work/urls.json"
clean "the reasons of the http and sql tries" "$work/urls.json" "HttpPw-42" "ConnPw-66"

# ---- sensor_roots ---------------------------------------------------------------------------
run=$(timeout 120 "$baton" trigger sensors --wait 2> /dev/null)
"$baton" runs show sensors "$run" --output json > "$work/sensors.json"
# One line per task instance: TASK STATE REASON.
tr -d '\n' < "$work/sensors.json" | grep -o '{[^{}]*"task_id"[^{}]*}' > "$work/sensor_tis.txt"
ti() { grep "\"task_id\": *\"$1\"" "$work/sensor_tis.txt"; }
for t in passwd dotdot link; do
  case "$(ti "$t")" in
    *'"reason": "path '*' is outside sensor_roots ('*'/tmp)'*'"state": "failed"'*) ok ;;
    *) bad "sensor $t outside the roots did not fail as such: $(ti "$t")" ;;
  esac
done
case "$(ti here)" in *'"state": "success"'*) ok ;; *) bad "sensor here (under the DAGs folder) did not succeed: $(ti here)" ;; esac
"$baton" tasks logs sensors "$run" link > "$work/link.log" 2>&1
has "the link sensor's log" "$work/link.log" "/etc/passwd once resolved"

finish
