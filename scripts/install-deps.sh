#!/usr/bin/env bash
# Installs, from Debian 12's packages, whatever Baton needs that is missing, and
# nothing when all is there. `install-deps.sh build` is enough to build and run
# Baton; `install-deps.sh test` adds what the tests need (clang for the
# sanitizer and fuzzer build).
set -euo pipefail

need_build=(
  g++ cmake ninja-build ccache pkg-config git tzdata
  libyaml-cpp-dev libboost-dev libpqxx-dev libsqlite3-dev libcpp-httplib-dev libspdlog-dev
  nlohmann-json3-dev libhowardhinnant-date-dev libcli11-dev libssl-dev catch2
)
# prometheus: for promtool, which checks the /metrics output; jq: the
# security scripts read the API's JSON with it.
need_test=(clang libclang-rt-14-dev sqlite3 curl jq postgresql-15 prometheus)

# The browser tests: Debian's chromium, driven by playwright-core from npm
# (tests/web/run.sh installs it); fonts with the UI's state glyphs. Node.js
# and npm may come from elsewhere (a nodesource nodejs carries its own npm
# and conflicts with Debian's): only missing commands are installed.
need_web=(chromium fonts-dejavu-core)

packages=("${need_build[@]}")
if [ "${1:-build}" = "test" ]; then
  packages+=("${need_test[@]}" "${need_web[@]}")
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing from Debian: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The server packages (postgresql-15, prometheus) would start system-wide
# services on install; the tests start their own private ones. A
# policy-rc.d that refuses keeps them from starting (and from listening).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  own_policy=1
fi
status=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
[ "$own_policy" = 1 ] && $SUDO rm -f "$policy"
exit $status
