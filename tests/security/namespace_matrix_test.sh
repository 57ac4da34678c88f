#!/usr/bin/env bash
# Security: the route x role x namespace matrix against the real `baton
# standalone` (SPEC §13, issue 17). Two namespaces, alpha and bravo, of the
# same shape and with greppable names (a DAG, a task, a run with a note, a
# backfill, a variable, a connection, a dataset, a description, run logs and
# audit entries). Tokens of every role (viewer, operator, admin) scoped to
# alpha, to bravo, to both, and unscoped. Every route of GET
# /api/v1/openapi.json (not a hand list: a route added later is covered),
# filled with each namespace's objects, with its query filters (?namespace=,
# ?dag_id=, ...) set to each namespace's, for every token:
#  - a token scoped to one namespace never gets, in a status line, header or
#    body, a name, marker or run id of the other: on its own namespace's
#    objects not at all; on the other's (which it sent) the answer is the
#    one the same call with made-up names gets, names replaced back;
#  - routes that change state are called only against the other namespace,
#    by the tokens scoped to one namespace, and change nothing there;
#  - tokens scoped to both and unscoped ones see both namespaces: 200, and
#    the namespace's name, where the namespace's own token of their role
#    gets them, and every list that shows alpha to alpha's token and bravo
#    to bravo's shows them both;
#  - the other namespace's run id on the token's own DAG answers as a
#    made-up run id; paging one entry at a time shows nothing of the other
#    namespace and as many entries as one page; a consumer DAG's runs,
#    started by the other namespace's dataset, name nothing of it;
#  - a probe DAG of each namespace names the other's variable and
#    connection: its tries fail as on missing ones (it reads the global
#    variable); token names are one set, so a scoped admin creating a token
#    with a name of the other namespace's must get what a new name gets;
#  - /metrics holds for a scoped token only its namespaces' series, and the
#    DAG summary counts only its DAGs.
# Worker routes are left out: only a worker token may use them, and a worker
# token cannot be scoped. MATRIX_LOG=FILE writes every call to FILE.
# With BATON_TEST_STORE=postgres the server runs on a fresh schema of the
# database BATON_TEST_PG_URL names (exit 77, skipped, without one).
# Usage: namespace_matrix_test.sh BATON
set -u
if [ "${BATON_TEST_STORE:-}" = postgres ] && [ -z "${BATON_TEST_PG_URL:-}" ]; then
  echo "skipped: BATON_TEST_STORE=postgres needs BATON_TEST_PG_URL (run under scripts/with-postgres.sh)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"
baton=$1

mkdir -p "$work/dags"
# Each namespace hands a dataset of a neutral name to the other's consumer
# DAG (datasets are shared between namespaces): alpha's task produces
# shared://h2, which bravo_consumer waits for, and bravo's shared://h1.
declare -A hand_out=([alpha]=h2 [bravo]=h1) hand_in=([alpha]=h1 [bravo]=h2)
# Each namespace also keeps a variable and a connection of neutral names
# (alpha: pv1 and pc1, bravo: pv2 and pc2) that the other's probe DAG names:
# a task reads its namespace's entry, else the global one, never another
# namespace's. The probe also reads the global variable.
declare -A mine_idx=([alpha]=1 [bravo]=2) theirs_idx=([alpha]=2 [bravo]=1)
for n in alpha bravo; do
  # A schedule (backfills need one) whose last tick is long past: the
  # scheduler makes no run of its own while the matrix runs.
  cat > "$work/dags/$n.yaml" <<YAML
dag: ${n}_dag_q7
namespace: $n
schedule: "0 3 * * *"
start_date: 2026-01-01
end_date: 2026-01-03
catchup: false
tags: [${n}_tag]
tasks:
  ${n}_task: {command: 'echo ${n}_log_line', produces: ['${n}://ds', 'shared://${hand_out[$n]}']}
YAML
  cat > "$work/dags/${n}_consumer.yaml" <<YAML
dag: ${n}_consumer
namespace: $n
schedule: {datasets: ['shared://${hand_in[$n]}']}
tasks:
  ${n}_consume: {command: 'echo ${n}_consumed'}
YAML
  cat > "$work/dags/${n}_probe.yaml" <<YAML
dag: ${n}_probe
namespace: $n
tasks:
  ${n}_probe_var: {command: 'echo got:{{ var.pv${theirs_idx[$n]} }}'}
  ${n}_probe_conn: {type: sql, connection: pc${theirs_idx[$n]}, sql: 'select 1'}
  ${n}_probe_global: {command: 'echo got:{{ var.global_var_g1 }}'}
YAML
done
db="sqlite:$work/baton.db"
[ "${BATON_TEST_STORE:-}" = postgres ] && db=$(pg_schema_url "baton_nsmatrix_$$")
start_standalone server "$db" --logs logs || abort "the server did not start"
admin=$token

# req TOKEN METHOD PATH [BODY]: the status in $status, the body in $body, the
# headers (without Date and Content-Length) in $headers. An empty TOKEN sends
# none. With MATRIX_LOG=FILE every call is written to FILE.
declare -A tok tokname
req() {
  local t=$1 m=$2 p=$3 b=${4:-} args=(-s -o "$work/body" -D "$work/hdr" -w '%{http_code}' -X "$2")
  [ -n "$t" ] && args+=(-H "Authorization: Bearer $t")
  [ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data "$b")
  status=$(curl "${args[@]}" "$url/api/v1$p")
  # Read without a subshell: the matrix makes thousands of calls.
  IFS= read -r -d '' body < "$work/body"
  local line
  headers=""
  while IFS= read -r line; do
    [[ ${line,,} == date:* || ${line,,} == content-length:* ]] || headers+=$line$'\n'
  done < "$work/hdr"
  [ -n "${MATRIX_LOG:-}" ] && printf '%s %s %s -> %s %s\n' "$([ -n "$t" ] && echo "${tokname[$t]:-admin}")" "$m" "$p" "$status" "${body:0:300}" >> "$MATRIX_LOG"
  return 0
}

# ---- tokens: 3 roles x {alpha, bravo, both, unscoped}; victims for DELETE /tokens ----
mktoken() { # NAME ROLE NAMESPACES_JSON
  req "$admin" POST /tokens "{\"name\": \"$1\", \"role\": \"$2\", \"namespaces\": $3}"
  [ "$status" = 201 ] || abort "create token $1: $status $body"
  tok[$1]=$(jq -r .token <<<"$body")
  tokname[${tok[$1]}]=$1
}
roles=(viewer operator admin)
scopes=(alpha bravo both all)
for r in "${roles[@]}"; do
  mktoken "alpha_$r" "$r" '["alpha"]'
  mktoken "bravo_$r" "$r" '["bravo"]'
  mktoken "both_$r" "$r" '["alpha", "bravo"]'
  mktoken "all_$r" "$r" '[]'
done
mktoken alpha_victim_tok viewer '["alpha"]'
mktoken bravo_victim_tok viewer '["bravo"]'

# ---- each namespace's objects ----
for _ in $(seq 1 100); do
  req "${tok[all_viewer]}" GET /dags
  [ "$(jq '.items | length' <<<"$body")" = 6 ] && break
  sleep 0.1
done
declare -A run bf
declare -A day=([alpha]=05 [bravo]=06)
req "$admin" PUT /pools/shared_pool '{"slots": 3}'
[[ $status == 20[01] ]] || bad "PUT /pools/shared_pool: $status $body"
req "$admin" PUT /variables/global_var_g1 '{"value": "global_val"}'
[[ $status == 20[01] ]] || bad "PUT the global variable: $status $body"
for n in alpha bravo; do
  req "$admin" PUT "/namespaces/$n" "{\"description\": \"${n}_desc\", \"weight\": 2}"
  [[ $status == 20[01] ]] || bad "PUT /namespaces/$n: $status $body"
  req "${tok[${n}_admin]}" PUT "/variables/${n}_var_x1?namespace=$n" "{\"value\": \"${n}_val\"}"
  [[ $status == 20[01] ]] || bad "PUT ${n}_var_x1: $status $body"
  req "${tok[${n}_admin]}" PUT "/connections/${n}_conn_x1?namespace=$n" "{\"url\": \"sqlite:$work/${n}_conn.db\"}"
  [[ $status == 20[01] ]] || bad "PUT ${n}_conn_x1: $status $body"
  req "${tok[${n}_admin]}" PUT "/variables/pv${mine_idx[$n]}?namespace=$n" "{\"value\": \"${n}_pv_val\"}"
  [[ $status == 20[01] ]] || bad "PUT pv${mine_idx[$n]}: $status $body"
  req "${tok[${n}_admin]}" PUT "/connections/pc${mine_idx[$n]}?namespace=$n" "{\"url\": \"sqlite:$work/${n}_pc.db\"}"
  [[ $status == 20[01] ]] || bad "PUT pc${mine_idx[$n]}: $status $body"
  # Distinct logical dates: the run ids differ, and are markers too.
  req "${tok[${n}_operator]}" POST "/dags/${n}_dag_q7/runs" \
    "{\"note\": \"${n}_note\", \"logical_date\": \"2026-02-${day[$n]}T00:00:00Z\"}"
  [ "$status" = 201 ] || abort "trigger ${n}_dag_q7: $status $body"
  run[$n]=$(jq -r .run_id <<<"$body")
  req "${tok[${n}_operator]}" POST /backfills "{\"dag_id\": \"${n}_dag_q7\", \"from\": \"2026-01-01\", \"to\": \"2026-01-02\"}"
  [ "$status" = 201 ] || abort "backfill ${n}_dag_q7: $status $body"
  bf[$n]=$(jq -r .id <<<"$body")
done
# Everything finished: the manual run, the backfill's two, and the one the
# scheduler makes for the last interval (catchup: false).
for n in alpha bravo; do
  for _ in $(seq 1 200); do
    req "$admin" GET "/backfills/${bf[$n]}"
    b=$body
    req "$admin" GET "/dags/${n}_dag_q7/runs?limit=100"
    [[ $b == *'"state":"success"'* ]] && [ "$(jq '[.items[] | select(.state != "success")] | length' <<<"$body")" = 0 ] \
      && break
    sleep 0.1
  done
  [[ $b == *'"state":"success"'* ]] && ok || bad "${n}_dag_q7's backfill did not succeed: $b"
  [ "$(jq --arg r "${run[$n]}" '[.items[] | select(.state == "success" and .run_id == $r)] | length' <<<"$body")" = 1 ] \
    && [ "$(jq '[.items[] | select(.state != "success")] | length' <<<"$body")" = 0 ] && ok \
    || bad "${n}_dag_q7's runs did not all succeed: $body"
done
# The other namespace's events started the consumers: their runs, started
# by another namespace's task, are this namespace's. The producers are done:
# wait until the consumers' runs have all succeeded and no more come (the
# list is the same for 1 s), so that the lists hold still.
declare -A crun
for n in alpha bravo; do
  last="" same=0
  for _ in $(seq 1 150); do
    req "$admin" GET "/dags/${n}_consumer/runs?limit=100"
    crun[$n]=$(jq -r '[.items[] | select(.state == "success")][0].run_id // empty' <<<"$body")
    now=$(jq -c '[.items[] | [.run_id, .state]]' <<<"$body")
    if [ -n "${crun[$n]}" ] && [ "$(jq '[.items[] | select(.state != "success")] | length' <<<"$body")" = 0 ] \
      && [ "$now" = "$last" ]; then
      same=$((same + 1))
      [ "$same" -ge 4 ] && break
    else
      same=0
    fi
    last=$now
    sleep 0.25
  done
  [ -n "${crun[$n]}" ] && ok || bad "no successful run of ${n}_consumer: $body"
done
req "$admin" GET "/datasets/events?limit=100"
[[ $body == *alpha://ds* && $body == *bravo://ds* ]] && ok || bad "no dataset events of both namespaces: $body"
# The probes: the other namespace's variable and connection are not there
# for them (both tries fail); the global variable is.
declare -A prun
for n in alpha bravo; do
  req "${tok[${n}_operator]}" POST "/dags/${n}_probe/runs" '{}'
  [ "$status" = 201 ] || abort "trigger ${n}_probe: $status $body"
  prun[$n]=$(jq -r .run_id <<<"$body")
done
for n in alpha bravo; do
  for _ in $(seq 1 200); do
    req "$admin" GET "/dags/${n}_probe/runs/${prun[$n]}"
    [[ $body == *'"state":"success"'* || $body == *'"state":"failed"'* ]] && break
    sleep 0.1
  done
  req "$admin" GET "/dags/${n}_probe/runs/${prun[$n]}/tasks"
  states=$(jq -c '[.items[] | [.task_id, .state]] | sort' <<<"$body")
  [ "$states" = "[[\"${n}_probe_conn\",\"failed\"],[\"${n}_probe_global\",\"success\"],[\"${n}_probe_var\",\"failed\"]]" ] && ok \
    || bad "${n}_probe read the other namespace's variable or connection, or not the global variable: $states"
  req "$admin" GET "/dags/${n}_probe/runs/${prun[$n]}/tasks/${n}_probe_global/logs"
  [[ $body == *got:global_val* ]] && ok || bad "${n}_probe_global's log: $body"
done

# ---- what the tokens must not see ----
declare -A other=([alpha]=bravo [bravo]=alpha)
made_run=manual__19990101T000000Z_00000000 # stands for the other namespace's run id
made_bf=999999                        # and for its backfill id

# fill ROUTE NS: the path of ROUTE with its parameters set to namespace NS's
# objects (NS may be a made-up name: names then use it, ids the made-up ones).
fill() {
  local p=$1 n=$2 r=${run[$2]:-$made_run} b=${bf[$2]:-$made_bf} name dag=${2}_dag_q7 task=${2}_task
  # fill ROUTE NS consumer: NS's consumer DAG, its run and its task.
  [ "${3:-}" = consumer ] && dag=${n}_consumer r=${crun[$n]} task=${n}_consume
  # fill ROUTE NS probe:TASK: NS's probe DAG, its run and TASK.
  [[ ${3:-} == probe:* ]] && dag=${n}_probe r=${prun[$n]} task=${n}_${3#probe:}
  # fill ROUTE NS run:ID: NS's DAG and task, with run ID.
  [[ ${3:-} == run:* ]] && r=${3#run:}
  case "$p" in
    /connections/*) name=${n}_conn_x1 ;;
    /variables/*) name=${n}_var_x1 ;;
    /namespaces/*) name=$n ;;
    /pools/*) name=shared_pool ;; # pools belong to no namespace
    /tokens/*) name=${n}_victim_tok ;;
    *) name=${n}_unknown ;;
  esac
  p=${p//\{dag_id\}/$dag}
  p=${p//\{run_id\}/$r}
  p=${p//\{task_id\}/$task}
  p=${p//\{id\}/$b}
  p=${p//\{name\}/$name}
  # A parameter a later route adds: a name of the namespace.
  while [[ $p =~ \{[a-z_]*\} ]]; do p=${p/${BASH_REMATCH[0]}/${n}_param}; done
  echo "$p"
}

# queries ROUTE_KEY NS: the query strings to try, one a line: none, and one
# per filter the route takes (from the OpenAPI document), set to NS's.
queries() {
  local key=$1 n=$2 base="" q
  [[ " ${qparams[$key]} " == *" limit "* ]] && base="limit=100"
  echo "$base"
  for q in ${qparams[$key]}; do
    case "$q" in
      namespace) echo "${base:+$base&}namespace=$n" ;;
      dag_id) echo "${base:+$base&}dag_id=${n}_dag_q7" ;;
      task_id) echo "${base:+$base&}task_id=${n}_task" ;;
      run_id) echo "${base:+$base&}run_id=${run[$n]:-$made_run}" ;;
      uri) echo "${base:+$base&}uri=$n://ds" ;;
      actor) echo "${base:+$base&}actor=${n}_operator" ;;
      q) echo "${base:+$base&}q=$n" ;;
      tag) echo "${base:+$base&}tag=${n}_tag" ;;
      try) echo "${base:+$base&}try=1" ;;
    esac
  done
}

# body_for METHOD ROUTE NS OWN: plausible bodies, one a line, for a call that
# changes state, by a token of namespace OWN against namespace NS.
body_for() {
  local n=$3 own=$4
  case "$1 $2" in
    "PATCH /dags/{dag_id}") echo '{"paused": true}' ;;
    "POST /dags/{dag_id}/runs") echo "{\"note\": \"${n}_note2\"}" ;;
    "POST /dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear") echo '{"downstream": false}' ;;
    "POST /dags/{dag_id}/runs/{run_id}/tasks/{task_id}/state") echo '{"state": "failed"}' ;;
    "POST /backfills") echo "{\"dag_id\": \"${n}_dag_q7\", \"from\": \"2026-01-01\", \"to\": \"2026-01-03\", \"reprocess\": \"all\"}" ;;
    "PUT /connections/{name}") echo "{\"url\": \"sqlite:/tmp/${n}_conn_changed.db\"}" ;;
    "PUT /variables/{name}") echo "{\"value\": \"${n}_changed\"}" ;;
    "PUT /namespaces/{name}") echo "{\"description\": \"${n}_desc_changed\", \"weight\": 7}" ;;
    "PUT /pools/{name}") echo '{"slots": 9}' ;;
    "POST /tokens")
      echo "{\"name\": \"${n}_new_tok\", \"role\": \"viewer\", \"namespaces\": [\"$n\"]}"
      # Token names are one set for all namespaces: the name of one of NS's
      # tokens, for a token of OWN, must not answer otherwise than a new name.
      echo "{\"name\": \"${n}_admin\", \"role\": \"viewer\", \"namespaces\": [\"$own\"]}" ;;
    # Shared between namespaces (docs/namespaces.md): a URI of neither.
    "POST /datasets/events") echo '{"uri": "ext://shared_ds"}' ;;
    *) echo '{}' ;;
  esac
}

# norm TEXT NS [MADE]: TEXT with NS's names (MADE, default zzzzz, in their
# place), run id and backfill id replaced by the made-up ones, to compare with
# the answer to the made-up call.
norm() {
  local t=$1 n=$2
  t=${t//${run[$n]}/$made_run}
  t=${t//"no backfill ${bf[$n]}"/"no backfill $made_bf"}
  echo "${t//$n/${3:-zzzzz}}"
}

# flat TEXT: TEXT on one line, for a message.
flat() {
  local x=${1//$'\r'/}
  echo "${x//$'\n'/ }"
}

# leaks TEXT NS: true when TEXT names namespace NS or holds its run id.
leaks() {
  [[ $1 == *"$2"* || $1 == *"${run[$2]}"* ]]
}

# The state of both namespaces' objects, as an unscoped admin reads it.
snapshot() {
  local n
  for n in alpha bravo; do
    req "$admin" GET "/dags/${n}_dag_q7"; jq -c '{paused}' <<<"$body"
    req "$admin" GET "/dags/${n}_dag_q7/runs?limit=100"; jq -c '[.items[] | {run_id, state, note}]' <<<"$body"
    req "$admin" GET "/dags/${n}_dag_q7/runs/${run[$n]}/tasks"; jq -c '[.items[] | {task_id, state, try_number}]' <<<"$body"
    req "$admin" GET "/backfills?dag_id=${n}_dag_q7"; jq -c '[.items[] | {id, state}]' <<<"$body"
    req "$admin" GET "/variables/${n}_var_x1?namespace=$n"; echo "$status $body"
    req "$admin" GET "/connections/${n}_conn_x1?namespace=$n"; echo "$status $body"
    req "$admin" GET "/namespaces/$n"; jq -c '{name, weight, description, folder, max_running_tasks}' <<<"$body"
  done
  # Without the tokens the made-up calls may create (zz...).
  req "$admin" GET "/tokens?limit=100"; jq -c '[.items[] | select(.name | startswith("zz") | not) | {name, revoked_at}]' <<<"$body"
  req "$admin" GET /pools; jq -c '[.items[] | {name, slots}]' <<<"$body"
  req "$admin" GET /variables/global_var_g1; echo "$status $body"
}
before=$(snapshot)

# ---- the routes ----
curl -s -H "Authorization: Bearer $admin" "$url/api/v1/openapi.json" > "$work/openapi.json"
declare -A qparams
routes=()
while read -r m p qs; do
  case "$p" in
    # Only a worker token may use them, and a worker token cannot be scoped
    # (docs/namespaces.md); a claim by any token could take a try.
    /workers/*) continue ;;
  esac
  routes+=("$m $p")
  qparams["$m $p"]=${qs//,/ }
done < <(jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[]
  | select(.key | test("^(get|put|post|patch|delete)$"))
  | "\(.key | ascii_upcase) \($p) \([.value.parameters // [] | .[] | select(.in == "query") | .name] | join(","))"' \
  "$work/openapi.json")
[ "${#routes[@]}" -ge 40 ] && ok || abort "the OpenAPI document lists ${#routes[@]} routes: $(head -c 300 "$work/openapi.json")"

# Reads: every GET, every token, both namespaces' objects and filters.
declare -A seen_status seen_body
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] || continue
  for n in alpha bravo; do
    mapfile -t qsl < <(queries "$key" "$n")
    mapfile -t madeqsl < <(queries "$key" zzzzz)
    for i in "${!qsl[@]}"; do
      qs=${qsl[$i]} madeq=${madeqsl[$i]}
      path=$(fill "$route" "$n")${qs:+?$qs}
      made=$(fill "$route" zzzzz)${madeq:+?$madeq}
      for r in "${roles[@]}"; do
        for s in "${scopes[@]}"; do
          t=${tok[${s}_$r]}
          [ "$route" = /health ] && t=""
          req "$t" GET "$path"
          seen_status["$s $r $n $path"]=$status
          seen_body["$s $r $n $path"]=$body
          if [ "$s" = alpha ] || [ "$s" = bravo ]; then
            o=${other[$s]}
            if [ "$n" = "$s" ] || [ "$path" = "$made" ]; then
              # Nothing of the other namespace was sent: none may come back.
              leaks "$status $headers $body" "$o" \
                && bad "GET $path with ${s}_$r leaks $o: $status $(head -c 400 <<<"$body")" || ok
            else
              real="$status $(norm "$headers $body" "$o")"
              req "$t" GET "$made"
              [ "$real" = "$status $headers $body" ] && ok \
                || bad "GET $path with ${s}_$r: not the answer for made-up names: $(flat "$real") <> GET $made: $(flat "$status $headers $body")"
            fi
          fi
        done
      done
    done
  done
done

# The other namespace's run id on the token's own DAG: the answer for a
# made-up run id.
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] && [[ $route == *\{run_id\}* ]] || continue
  for r in "${roles[@]}"; do
    for s in alpha bravo; do
      o=${other[$s]} t=${tok[${s}_$r]}
      req "$t" GET "$(fill "$route" "$s" "run:${run[$o]}")"
      real="$status $(norm "$headers $body" "$o")"
      req "$t" GET "$(fill "$route" "$s" "run:$made_run")"
      [ "$real" = "$status $headers $body" ] && ok \
        || bad "GET $(fill "$route" "$s" "run:${run[$o]}") with ${s}_$r: not the answer for a made-up run: $(flat "$real") <> $(flat "$status $headers $body")"
    done
  done
done

# Tokens that see both namespaces get what each namespace's own token gets.
for k in "${!seen_status[@]}"; do
  read -r s r n path <<<"$k"
  [ "$s" = "$n" ] || continue
  [ "$path" = /me ] && continue # about the token itself
  [ "${seen_status[$k]}" = 200 ] || continue
  for w in both all; do
    st=${seen_status["$w $r $n $path"]}
    [ "$st" = 200 ] && ok || bad "GET $path: ${w}_$r gets $st, ${n}_$r gets 200"
    if [[ ${seen_body[$k]} == *"$n"* ]]; then
      [[ ${seen_body["$w $r $n $path"]} == *"$n"* ]] && ok || bad "GET $path: ${w}_$r does not see $n: $(head -c 300 <<<"${seen_body["$w $r $n $path"]}")"
    fi
  done
done
# Lists (no path parameter, no filter): what alpha's token sees of alpha
# and bravo's of bravo, one that sees both sees together.
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] && [[ $route != *\{* ]] && [ "$route" != /me ] || continue
  path=$route$([[ " ${qparams[$key]} " == *" limit "* ]] && echo "?limit=100")
  for r in "${roles[@]}"; do
    [ "${seen_status["alpha $r alpha $path"]}" = 200 ] && [ "${seen_status["bravo $r bravo $path"]}" = 200 ] || continue
    [[ ${seen_body["alpha $r alpha $path"]} == *alpha* && ${seen_body["bravo $r bravo $path"]} == *bravo* ]] || continue
    for w in both all; do
      b=${seen_body["$w $r alpha $path"]}
      [[ $b == *alpha* && $b == *bravo* ]] && ok || bad "GET $path with ${w}_$r does not show both namespaces: $(head -c 300 <<<"$b")"
    done
  done
done

# Pages: a scoped token paging one entry at a time through a list gets
# nothing of the other namespace on any page or in any cursor, and as many
# entries as in one long page (lists keep full pages).
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] && [[ $route != *\{* ]] && [[ " ${qparams[$key]} " == *" limit "* ]] || continue
  for r in "${roles[@]}"; do
    for s in alpha bravo; do
      t=${tok[${s}_$r]} o=${other[$s]}
      req "$t" GET "$route?limit=100"
      [ "$status" = 200 ] || continue
      want=$(jq '.items | length' <<<"$body")
      got=0 cursor=""
      for _ in $(seq 1 $((want + 2))); do
        req "$t" GET "$route?limit=1${cursor:+&cursor=$cursor}"
        leaks "$status $headers $body" "$o" && bad "GET $route?limit=1 (page $((got + 1))) with ${s}_$r leaks $o: $body"
        [ "$status" = 200 ] || break
        got=$((got + $(jq '.items | length' <<<"$body")))
        cursor=$(jq -r '.next_cursor // empty | @uri' <<<"$body")
        [ -n "$cursor" ] || break
      done
      [ "$got" = "$want" ] && [ -z "$cursor" ] && ok \
        || bad "GET $route with ${s}_$r: $got entries one page at a time, $want in one page (cursor ${cursor:-none})"
    done
  done
done

# Counts: a scoped token's /metrics holds only its namespace's series; its
# DAG summary counts its three DAGs.
for r in "${roles[@]}"; do
  for n in alpha bravo; do
    req "${tok[${n}_$r]}" GET /metrics
    if [ "$status" = 200 ]; then
      extra=$(grep -v '^#' <<<"$body" | grep -v "^baton_namespace_[a-z0-9_]*{namespace=\"$n\"" | grep -v '^$' | head -3)
      [ -z "$extra" ] && ok || bad "/metrics for ${n}_$r holds series of all namespaces: $extra"
      grep -q "^baton_namespace_[a-z0-9_]*{namespace=\"$n\"" <<<"$body" && ok || bad "/metrics for ${n}_$r lacks its own: $body"
    fi
    req "${tok[${n}_$r]}" GET /dag-summary
    [ "$(jq -c '[.total, .matched, .namespaces, .tags]' <<<"$body")" = "[3,3,[\"$n\"],[\"${n}_tag\"]]" ] && ok \
      || bad "/dag-summary for ${n}_$r counts more than its three DAGs: $body"
  done
  req "${tok[all_$r]}" GET /metrics
  if [ "$status" = 200 ]; then
    [[ $body == *'namespace="alpha"'* && $body == *'namespace="bravo"'* ]] && ok \
      || bad "/metrics for all_$r lacks a namespace"
  fi
done

# Writes: every route that changes state, by every token scoped to one
# namespace, against the other namespace's objects only: the answer is the
# one for made-up names, and nothing changes.
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] && continue
  for r in "${roles[@]}"; do
    for s in alpha bravo; do
      # A made-up name of each side's own (zzazz, zzbzz): what one side's
      # made-up call creates is not there for the other's.
      o=${other[$s]} t=${tok[${s}_$r]} mk=zz${s:0:1}zz
      qs=""
      [[ " ${qparams[$key]} " == *" namespace "* ]] && qs="?namespace=$o"
      path=$(fill "$route" "$o")$qs
      made=$(fill "$route" $mk)${qs:+?namespace=$mk}
      mapfile -t bs < <(body_for "$m" "$route" "$o" "$s")
      mapfile -t mbs < <(body_for "$m" "$route" $mk "$s")
      for i in "${!bs[@]}"; do
        b=${bs[$i]} mb=${mbs[$i]}
        req "$t" "$m" "$path" "$b"
        if [ "$path" = "$made" ] && [ "$b" = "$mb" ]; then
          # Nothing of the other namespace was sent: none may come back.
          leaks "$status $headers $body" "$o" && bad "$m $path with ${s}_$r leaks $o: $status $body" || ok
        else
          real="$status $(norm "$headers $body" "$o" $mk)"
          req "$t" "$m" "$made" "$mb"
          [ "$real" = "$status $headers $body" ] && ok \
            || bad "$m $path $b with ${s}_$r: not the answer for made-up names: $(flat "$real") <> $m $made $mb: $(flat "$status $headers $body")"
        fi
      done
    done
  done
done
after=$(snapshot)
[ "$before" = "$after" ] && ok || bad "tokens of one namespace changed the other's: $(diff <(echo "$before") <(echo "$after"))"

# After all of the above (the other namespace's tokens posted dataset events,
# tried every write): every list, and the routes of the consumer DAG (its
# run was started by the other namespace's task) and of the probe's tasks
# (their tries failed on the other namespace's names), as each scoped token
# reads them.
for key in "${routes[@]}"; do
  m=${key%% *} route=${key#* }
  [ "$m" = GET ] && [ "$route" != /health ] || continue
  [[ $route != *\{* ]] || [[ $route == /dags/\{dag_id\}* ]] || continue
  modes=(consumer)
  [[ $route == */\{task_id\}* ]] && modes+=(probe:probe_var probe:probe_conn)
  for r in "${roles[@]}"; do
    for s in alpha bravo; do
      for mode in "${modes[@]}"; do
        path=$(fill "$route" "$s" "$mode")
        [[ " ${qparams[$key]} " == *" limit "* ]] && path="$path?limit=100"
        req "${tok[${s}_$r]}" GET "$path"
        leaks "$status $headers $body" "${other[$s]}" \
          && bad "GET $path with ${s}_$r leaks ${other[$s]}: $status $(head -c 400 <<<"$body")" || ok
        if [[ $route == /dags/\{dag_id\}* ]]; then
          [ "$status" = 200 ] && ok || bad "GET $path with ${s}_$r: $status $body"
        fi
      done
    done
  done
done
finish
