#!/usr/bin/env bash
# Security: `baton audit list` goes through the server with a token (a
# viewer's is enough; none, a bad one or a worker's is refused), and with
# --db straight to the database; both give the same entries, with the
# filters --dag, --action, --actor, --since, --limit and --output json.
# Usage: audit_list_test.sh BATON
set -u
source "$(dirname "$0")/lib.sh"
baton=$1

mkdir -p "$work/dags"
cat > "$work/dags/hello.yaml" <<'YAML'
dag: hello
tasks:
  greet: {command: 'echo hello'}
YAML
db="sqlite:$work/baton.db"
start_standalone server "$db" --logs logs || abort "the server did not start"
admin=$token
unset BATON_TOKEN BATON_SERVER BATON_DB
export BATON_SERVER=$url

viewer=$("$baton" tokens create vic --role viewer --token "$admin")
ops=$("$baton" tokens create ops --role operator --token "$admin")
worker=$("$baton" tokens create w1 --role worker --token "$admin")
for _ in $(seq 1 100); do "$baton" dags list --token "$viewer" 2>/dev/null | grep -q hello && break; sleep 0.1; done
"$baton" trigger hello --token "$ops" >/dev/null || bad "trigger"
"$baton" pools set etl 2 --token "$admin" >/dev/null || bad "pools set"
sleep 1.1  # --since takes whole seconds: this one is after the first pools set
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
"$baton" pools set etl 3 --token "$admin" >/dev/null || bad "pools set again"

# Through the server, with a viewer's token.
out=$("$baton" audit list --token "$viewer" 2>&1) && ok || bad "audit list through the server: $out"
case "$out" in *"token.created  token:vic"*) ok ;; *) bad "audit list: $out" ;; esac
out=$("$baton" audit list --token "$viewer" --actor ops --output json)
echo "$out" | grep -q '"action": "run.triggered"' && ok || bad "--actor ops: $out"
if echo "$out" | grep -q '"actor": "admin"'; then bad "--actor ops lists admin's entries"; else ok; fi
out=$("$baton" audit list --token "$viewer" --dag hello)
case "$out" in *"run.triggered  dag:hello/manual__"*) ok ;; *) bad "--dag hello: $out" ;; esac
[ -z "$(echo "$out" | awk '$5 != "dag:hello" && index($5, "dag:hello/") != 1')" ] && ok \
  || bad "--dag hello lists other entries: $out"
out=$("$baton" audit list --token "$viewer" --action pool.set --since "$since" --output json)
[ "$(echo "$out" | grep -c '"action": "pool.set"')" -eq 1 ] && echo "$out" | grep -q '"slots": 3' && ok \
  || bad "--action pool.set --since: $out"
out=$("$baton" audit list --token "$viewer" --limit 2)
[ "$(echo "$out" | grep -c .)" -eq 2 ] && ok || bad "--limit 2: $out"
# The server and the database agree.
a=$("$baton" audit list --token "$viewer" --output json --limit 100000)
b=$("$baton" audit list --db "$db" --output json --limit 100000)
[ "$a" = "$b" ] && ok || bad "the server and --db differ: $(diff <(echo "$a") <(echo "$b") | head)"
[ "$(echo "$a" | grep -c '"id":')" -ge 6 ] && ok || bad "too few entries: $a"
# More than one page (the API gives at most 1000 a page): every entry, once.
for i in $(seq 1 30); do "$baton" pools set "p$i" 1 --token "$admin" >/dev/null; done
a=$("$baton" audit list --token "$viewer" --output json --limit 100000 | grep -c '"id":')
b=$("$baton" audit list --db "$db" --output json --limit 100000 | grep -c '"id":')
[ "$a" = "$b" ] && ok || bad "all entries: $a through the server, $b in the database"

# No token, a bad one, a worker's: refused (401, 401, 403), nothing listed.
out=$("$baton" audit list 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "HTTP 401" && ok || bad "no token: exit $rc $out"
out=$("$baton" audit list --token not-a-token 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "HTTP 401" && ok || bad "bad token: exit $rc $out"
out=$("$baton" audit list --token "$worker" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "HTTP 403" && ok || bad "worker token: exit $rc $out"
# Bad filters are bad input.
"$baton" audit list --token "$viewer" --since yesterday >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--since yesterday"
"$baton" audit list --token "$viewer" --limit 0 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--limit 0"
# No server: exit 3, unless --db.
"$baton" audit list --token "$viewer" --server http://127.0.0.1:1 >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "no server"
"$baton" audit list --server http://127.0.0.1:1 --db "$db" --actor vic >/dev/null && ok || bad "--db needs no server"

finish
