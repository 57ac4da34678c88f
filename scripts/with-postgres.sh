#!/usr/bin/env bash
# Runs a command with a private PostgreSQL cluster: initdb in a temporary
# folder, the server on 127.0.0.1 on a free port (and a socket in that
# folder), a database `baton_test`; BATON_TEST_PG_URL names it for the
# command. The cluster is stopped (by its pid file) and removed afterwards,
# whatever the command's outcome; the command's exit code is returned.
# BATON_PG_DURABLE=1 keeps fsync on (for benchmarks); tests run without it.
# BATON_PG_OPTIONS adds server settings (e.g. "-c shared_preload_libraries=
# pg_stat_statements" to see which statements a benchmark runs).
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "error: PostgreSQL's server is not installed (scripts/install-deps.sh test installs postgresql-15)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/baton-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  # initdb and postgres refuse to run as root: the cluster belongs to `postgres`.
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi
stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U baton --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
durability="-c fsync=off -c full_page_writes=off"
[ "${BATON_PG_DURABLE:-0}" = 1 ] && durability=""
port=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 12000))
  if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $candidate -k $dir $durability -c max_connections=200 ${BATON_PG_OPTIONS:-}" \
      start >/dev/null 2>&1; then
    port=$candidate
    break
  fi
done
if [ -z "$port" ]; then
  echo "error: the private PostgreSQL cluster did not start:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
fi
"$bin/psql" -h 127.0.0.1 -p "$port" -U baton -d postgres -q -c "CREATE DATABASE baton_test" >/dev/null
export BATON_TEST_PG_URL="postgresql://baton@127.0.0.1:$port/baton_test"
echo "private PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"
set +e
"$@"
rc=$?
set -e
exit $rc
