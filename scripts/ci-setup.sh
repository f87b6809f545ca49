#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine, idempotently:
# language runtimes (scripts/install-languages.sh) and the test clients (a Python with the
# `websockets` package for the seed's quickstart, curl, Node for the JS quickstart) and the
# fleet's bus, Debian's nats-server (the fleet tests start their own, on a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
for package in curl python3-venv nats-server; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
if ((${#need_apt[@]})); then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

bash scripts/install-languages.sh

venv=/opt/runnel-ci/venv
if ! "$venv/bin/python" -c 'import websockets' >/dev/null 2>&1; then
  mkdir -p /opt/runnel-ci
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'websockets==15.*'
fi
echo "ci-setup: ok"
