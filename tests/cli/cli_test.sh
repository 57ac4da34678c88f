#!/usr/bin/env bash
# The command line as a user runs it: the real binary, real files, exit codes
# and output of SPEC §3, §4 and §11.
# Usage: cli_test.sh BATON_BINARY SOURCE_DIR
set -u
baton=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME EXPECTED_EXIT COMMAND... ; output in $out (stdout+stderr)
check() {
  local name=$1 want=$2
  shift 2
  out=$("$@" 2>&1)
  local rc=$?
  if [ "$rc" -eq "$want" ]; then
    return 0
  fi
  echo "FAIL: $name: exit $rc, expected $want"
  echo "$out" | head -20
  failed=$((failed + 1))
  return 1
}
# expect NAME TEXT : $out contains TEXT
expect() {
  if printf '%s' "$out" | grep -qF -- "$2"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $1: output lacks: $2"
    echo "$out" | head -20
    failed=$((failed + 1))
  fi
}
# same NAME EXPECTED : $out is exactly EXPECTED
same() {
  if [ "$out" = "$2" ]; then
    passed=$((passed + 1))
  else
    echo "FAIL: $1"
    diff <(printf '%s\n' "$2") <(printf '%s\n' "$out") | head -20
    failed=$((failed + 1))
  fi
}

# --- version and help -------------------------------------------------------
check version 0 "$baton" version && expect version "baton "
check help 0 "$baton" --help && expect help "dags"
check dags-validate-help 0 "$baton" dags validate --help && expect validate-help "paths"
check schedule-next-help 0 "$baton" schedule next --help && expect next-help "--cron"
check unknown-flag 2 "$baton" dags validate --bogus x && expect unknown-flag "bogus"
check no-subcommand 2 "$baton"
check unknown-command 2 "$baton" frobnicate

# --- dags validate ----------------------------------------------------------
check examples-valid 0 "$baton" dags validate "$src/examples/dags" && expect examples-valid "0 invalid, 0 error(s)"
mkdir -p "$work/dags/sub"
cat > "$work/dags/good.yaml" <<'YAML'
dag: good
schedule: "0 3 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  a:
    command: echo {{ ds }}
  b: {type: noop, depends_on: [a]}
YAML
cat > "$work/dags/sub/bad.yaml" <<'YAML'
dag: bad
schedule: "61 * * * *"
tasks:
  a:
    comand: echo
  b:
    type: noop
    depends_on: [a, zz]
YAML
cat > "$work/dags/sub/dup.yml" <<'YAML'
dag: good
tasks: {a: {type: noop}}
YAML
echo "dag: hidden" > "$work/dags/.hidden.yaml"
check validate-errors 1 "$baton" dags validate "$work/dags"
expect cron-error "$work/dags/sub/bad.yaml:2:11: error: schedule: invalid cron \"61 * * * *\": minute field \"61\": 61 is out of range 0-59"
expect unknown-key "$work/dags/sub/bad.yaml:5:5: error: tasks.a.comand: unknown key \"comand\" (did you mean \"command\"?)"
expect unknown-dep "$work/dags/sub/bad.yaml:8:21: error: tasks.b.depends_on[1]: unknown task \"zz\""
expect dup-id "$work/dags/sub/dup.yml:1:6: error: dag: duplicate DAG id \"good\": already defined in $work/dags/good.yaml:1"
expect summary "3 file(s) checked, 1 valid, 2 invalid"
check validate-one-file 0 "$baton" dags validate "$work/dags/good.yaml"
check validate-missing 2 "$baton" dags validate "$work/nope"
expect validate-missing "no such file or folder"
check validate-json 1 "$baton" dags validate "$work/dags" --output json && true
expect validate-json '"valid": false'

# --- dags list / show ---------------------------------------------------------
check list 0 "$baton" dags list --dags "$work/dags"
expect list "good"
expect list-invalid "invalid: $work/dags/sub/bad.yaml"
check list-json 0 "$baton" dags list --dags "$work/dags" --output json
expect list-json '"dag_id": "good"'
expect list-json '"import_errors"'
check list-env 0 env BATON_DAGS="$work/dags" "$baton" dags list
expect list-env "good"
check show-text 0 "$baton" dags show good --dags "$work/dags"
expect show-text "0 3 * * * (Europe/Berlin)"
expect show-text "b     noop  <- a"
check show-dot 0 "$baton" dags show "$work/dags/good.yaml" --format dot
expect show-dot '"a" -> "b";'
check show-json 0 "$baton" dags show good --dags "$work/dags" --format json
expect show-json '"edges"'
expect show-json '"version"'
check show-unknown 2 "$baton" dags show nope --dags "$work/dags"
expect show-unknown 'no DAG "nope"'
check show-invalid 1 "$baton" dags show "$work/dags/sub/bad.yaml"
check show-bad-format 2 "$baton" dags show good --dags "$work/dags" --format png

# --- schedule next --------------------------------------------------------------
check next-cron-dst 0 "$baton" schedule next --cron "30 2 * * *" --tz Europe/Berlin --after 2026-03-28T00:00:00Z --count 3
same next-cron-dst "2026-03-28T01:30:00Z
2026-03-29T01:00:00Z
2026-03-30T00:30:00Z"
check next-wildcard-fallback 0 "$baton" schedule next --cron "0 * * * *" --tz America/New_York --after 2026-11-01T04:30:00Z --count 3
same next-wildcard-fallback "2026-11-01T05:00:00Z
2026-11-01T06:00:00Z
2026-11-01T07:00:00Z"
check next-cron-after-2037 0 "$baton" schedule next --cron "0 12 1 7 *" --tz Europe/Berlin --after 2037-06-01 --count 3
same next-cron-after-2037 "2037-07-01T10:00:00Z
2038-07-01T10:00:00Z
2039-07-01T10:00:00Z"
check next-every 0 "$baton" schedule next --every 15m --start 2026-01-01T00:05:00Z --after 2026-01-01T00:00:00Z --count 2
same next-every "2026-01-01T00:05:00Z
2026-01-01T00:20:00Z"
check next-dag 0 "$baton" schedule next good --dags "$work/dags" --after 2026-06-01 --count 1
same next-dag "2026-06-01T01:00:00Z"
check next-file 0 "$baton" schedule next "$work/dags/good.yaml" --after 2026-01-01T00:00:00Z --count 1
same next-file "2026-01-01T02:00:00Z"
check next-default-count 0 "$baton" schedule next --cron @daily
[ "$(printf '%s\n' "$out" | wc -l)" -eq 10 ] && passed=$((passed + 1)) || { echo "FAIL: default count"; failed=$((failed + 1)); }
check next-bad-cron 2 "$baton" schedule next --cron "0 24 * * *"
expect next-bad-cron 'hour field "24": 24 is out of range 0-23'
check next-bad-tz 2 "$baton" schedule next --cron @daily --tz Mars/Olympus
expect next-bad-tz 'unknown time zone "Mars/Olympus"'
check next-bad-after 2 "$baton" schedule next --cron @daily --after yesterday
check next-two-sources 2 "$baton" schedule next --cron @daily --every 1h --start 2026-01-01
check next-every-no-start 2 "$baton" schedule next --every 1h
check next-bad-count 2 "$baton" schedule next --cron @daily --count x
check next-zero-count 2 "$baton" schedule next --cron @daily --count 0

# --- dags test: a DAG in the foreground, no server, no database -------------------
check dags-test 0 "$baton" dags test "$src/examples/dags/getting_started/hello_baton.yaml" --params '{"name": "Ada"}'
expect dags-test "Ada has 3 letters"
expect dags-test "run success"
check dags-test-task 0 "$baton" dags test "$src/examples/dags/getting_started/hello_baton.yaml" --task greet --date 2026-03-29
expect dags-test-task "Today is 2026-03-29"
printf 'dag: f\ntasks:\n  a: {command: "exit 4"}\n  b: {type: noop, depends_on: [a]}\n' > "$work/fail.yaml"
check dags-test-fail 1 "$baton" dags test "$work/fail.yaml"
expect dags-test-fail "a: failed (exit code 4)"
expect dags-test-fail "run failed"
cat > "$work/fan.yaml" <<'YAML'
dag: fan
tasks:
  list: {command: 'printf "{\"xs\": [\"a\", \"b\", \"c\"]}" > "$BATON_OUTPUT_FILE"'}
  each:
    command: 'echo "got {{ item }} at {{ map_index }}"; test {{ item }} != c'
    foreach: '{{ outputs.list.xs }}'
    retries: 3
    depends_on: [list]
  after: {command: "echo '{{ outputs.each }}'", trigger_rule: all_done, depends_on: [each]}
YAML
check dags-test-foreach 1 timeout 60 "$baton" dags test "$work/fan.yaml"
expect dags-test-foreach "each: mapped over 3 items"
expect dags-test-foreach "got b at 1"
expect dags-test-foreach "each[2]: failed (exit code 1)"
expect dags-test-foreach "[null,null,null]"
expect dags-test-foreach "run failed"
printf 'dag: g\ntasks:\n  each: {command: "echo {{ item }}", foreach: "{{ var.nope }}"}\n' > "$work/fan_bad.yaml"
check dags-test-foreach-bad 1 timeout 60 "$baton" dags test "$work/fan_bad.yaml"
expect dags-test-foreach-bad "each: failed (foreach:"
check dags-test-bad-params 2 "$baton" dags test "$work/fail.yaml" --params '[1]'
check dags-test-undeclared-param 2 "$baton" dags test "$work/fail.yaml" --params '{"nope": 1}'
expect dags-test-undeclared-param '"nope" is not a param of DAG'
check dags-test-bad-task 2 "$baton" dags test "$work/fail.yaml" --task zz
check dags-test-invalid 1 "$baton" dags test "$work/dags/sub/bad.yaml"

# --- database: migrations, tokens, audit ------------------------------------------
db="sqlite:$work/baton.db"
check db-status-new 0 "$baton" db status --db "$db"
expect db-status-new "0001_init  pending"
check db-migrate 0 "$baton" db migrate --db "$db"
expect db-migrate "applied $(ls "$src"/migrations/sqlite/*.sql | wc -l) migration(s)"
check db-migrate-again 0 "$baton" db migrate --db "$db"
expect db-migrate-again "applied 0 migration(s)"
check db-status 0 "$baton" db status --db "$db"
expect db-status "up to date"
check db-bad-url 2 "$baton" db status --db "mysql://localhost/x"
expect db-bad-url "use sqlite:PATH or postgresql://"
check db-unreachable 3 "$baton" db status --db "sqlite:$work/no/such/dir/x.db"
check token-create 0 "$baton" tokens create ci --role operator --db "$db"
token=$out
case "$token" in baton_*) passed=$((passed + 1)) ;; *) echo "FAIL: token shape: $token"; failed=$((failed + 1)) ;; esac
check token-dup 1 "$baton" tokens create ci --role viewer --db "$db"
expect token-dup 'a token named "ci" already exists'
check token-bad-role 2 "$baton" tokens create x --role god --db "$db"
check token-list 0 "$baton" tokens list --db "$db" --output json
expect token-list '"role": "operator"'
if printf '%s' "$out" | grep -qF "$token"; then echo "FAIL: token list shows the secret"; failed=$((failed + 1)); else passed=$((passed + 1)); fi
check token-other 0 "$baton" tokens create other --role viewer --db "$db"
# Without --db, tokens go through the server's API.
check token-no-server 3 "$baton" tokens list --server http://127.0.0.1:1 --token x
expect token-no-server "cannot reach the server at http://127.0.0.1:1"
check token-revoke 0 "$baton" tokens revoke ci --db "$db"
check token-revoke-again 1 "$baton" tokens revoke ci --db "$db"
check audit-list 0 "$baton" audit list --db "$db"
expect audit-list "token.created  token:ci"
expect audit-list "token.revoked  token:ci"
check audit-list-filter 0 "$baton" audit list --db "$db" --action token.revoked --output json
expect audit-list-filter '"action": "token.revoked"'
check audit-bad-since 2 "$baton" audit list --db "$db" --since yesterday
check audit-verify 0 "$baton" audit verify --db "$db"
expect audit-verify "audit log intact: 3 entries"
if command -v sqlite3 >/dev/null; then
  cp "$work/baton.db" "$work/tampered.db"
  sqlite3 "$work/tampered.db" "UPDATE audit_log SET actor = 'mallory' WHERE id = 2"
  check audit-altered 1 "$baton" audit verify --db "sqlite:$work/tampered.db"
  expect audit-altered "audit log broken at entry 2: its contents do not match its hash"
  cp "$work/baton.db" "$work/cut.db"
  sqlite3 "$work/cut.db" "DELETE FROM audit_log WHERE id = 2"
  check audit-removed 1 "$baton" audit verify --db "sqlite:$work/cut.db"
  expect audit-removed "audit log broken at entry 3: entries 2 to 2 are missing"
  cp "$work/baton.db" "$work/tail.db"
  sqlite3 "$work/tail.db" "DELETE FROM audit_log WHERE id = 3"
  check audit-tail 1 "$baton" audit verify --db "sqlite:$work/tail.db"
  expect audit-tail "entries were removed from the end"
else
  echo "FAIL: sqlite3 is not installed (scripts/install-deps.sh test installs it)"
  failed=$((failed + 1))
fi
# Scoped tokens (SPEC §13): --namespace N,M, checked like a DAG file's namespace.
check token-scoped 0 "$baton" tokens create hr_ci --role operator --namespace hr,ops --db "$db"
check token-scoped-list 0 "$baton" tokens list --db "$db"
expect token-scoped-list "hr,ops"
expect token-scoped-list "(all)"
check token-scoped-json 0 "$baton" tokens list --db "$db" --output json
expect token-scoped-json '"hr",'
check token-scoped-bad 2 "$baton" tokens create x --role viewer --namespace "hr,a/b" --db "$db"
expect token-scoped-bad 'invalid namespace "a/b"'
check token-scoped-worker 2 "$baton" tokens create x --role worker --namespace hr --db "$db"
check audit-scoped 0 "$baton" audit list --db "$db" --action token.created --output json
expect audit-scoped '"namespaces"'

# --- configuration: flag > BATON_* > baton.yaml > default ---------------------
mkdir -p "$work/cfg"
printf 'db: postgresql://ops:s3cret@127.0.0.1:5432/baton\nworkers: 8\ndags: ./from-file\n' > "$work/cfg/baton.yaml"
check config-show 0 env -C "$work/cfg" BATON_DAGS=./from-env BATON_TOKEN=baton_0123456789 "$baton" config show
expect config-file "# configuration file: baton.yaml"
expect config-masked "postgresql://ops:***@127.0.0.1:5432/baton"
expect config-env-wins "./from-env"
expect config-token-masked "baton_***"
if printf '%s' "$out" | grep -q 's3cret\|0123456789'; then
  echo "FAIL: config show prints a secret"; failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
check config-json 0 env -C "$work/cfg" "$baton" config show --output json
expect config-json-source '"source": "baton.yaml"'
printf 'wokers: 8\n' > "$work/cfg/typo.yaml"
check config-unknown-key 2 "$baton" --config "$work/cfg/typo.yaml" config show
expect config-unknown-key "typo.yaml:1:1: error: unknown key \"wokers\""
check config-missing-file 2 "$baton" config show --config "$work/cfg/none.yaml"
expect config-missing-file "none.yaml: error: the configuration file does not exist"
check config-unknown-env 0 env BATON_WROKERS=3 "$baton" version
expect config-unknown-env "warning: unknown environment variable BATON_WROKERS"
check config-bad-workers 2 env -C "$work/cfg" BATON_WORKERS=many "$baton" standalone --db "sqlite:$work/cfg/x.db"
expect config-bad-workers '--workers: "many" must be a whole number from 1 to 1024'
check config-bad-zombie 2 "$baton" standalone --db "sqlite:$work/cfg/x.db" --zombie-timeout 5s
expect config-bad-zombie "--zombie-timeout: must be more than twice the heartbeat interval (5s)"
# retention (docs/running.md "Retention"): a group in baton.yaml, checked at start
printf 'retention: {runs_days: 90, logs_days: 14}\n' > "$work/cfg/ret.yaml"
check config-retention 0 env BATON_RETENTION_TRIES_DAYS=30 "$baton" --config "$work/cfg/ret.yaml" config show
expect config-retention-file "retention.runs_days  90"
expect config-retention-env "BATON_RETENTION_TRIES_DAYS"
printf 'retention: {run_days: 90}\n' > "$work/cfg/ret-typo.yaml"
check config-retention-typo 2 "$baton" --config "$work/cfg/ret-typo.yaml" config show
expect config-retention-typo 'unknown key "run_days" in retention (allowed: runs_days, tries_days, logs_days)'
check config-retention-bad 2 env BATON_RETENTION_RUNS_DAYS=0 "$baton" standalone --db "sqlite:$work/cfg/x.db"
expect config-retention-bad 'retention.runs_days (BATON_RETENTION_RUNS_DAYS): "0" must be a whole number of days from 1 to 36500'
check config-retention-flag 2 "$baton" standalone --db "sqlite:$work/cfg/x.db" --retention-logs-days 7d
expect config-retention-flag '--retention-logs-days: "7d" must be a whole number of days'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
