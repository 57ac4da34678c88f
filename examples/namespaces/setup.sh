#!/usr/bin/env bash
# A platform team sets up three teams on one Baton deployment, for the
# example DAGs of examples/dags (docs/namespaces.md walks through it).
# Needs a running server and an unscoped admin token:
#   BATON_SERVER=http://127.0.0.1:8080 BATON_TOKEN=... examples/namespaces/setup.sh
set -euo pipefail
baton=${BATON:-baton}

# Weights: sales gets three slots for every one of ops' when both wait;
# finance two, and never more than 8 tries at once. Each team's DAGs must
# live under its folder of the DAGs folder.
"$baton" namespaces set sales --weight 3 --description "Sales analytics: daily loads and reports"
"$baton" namespaces set finance --weight 2 --max-running-tasks 8 --folder finance \
  --description "Finance: FX rates and billing"
"$baton" namespaces set ops --weight 1 --folder ops --description "Platform jobs: vacuum, dashboards"

# One token per team, scoped to its namespace: the team sees and acts on
# its own DAGs, runs, variables and connections only.
# Each is printed once, here: hand it to the team.
for t in "sales-ci operator sales" "finance-admin admin finance" "ops-viewer viewer ops"; do
  set -- $t
  echo "$1 token: $("$baton" tokens create "$1" --role "$2" --namespace "$3")"
done

# A variable of finance's own: its tasks read it before the global one of
# the same name; no other team's task ever reads it.
"$baton" variables set fx_api_token finance-token --namespace finance

"$baton" namespaces list
