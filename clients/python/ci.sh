#!/usr/bin/env bash
# CI for the Python SDK: a venv at /opt/runnel-ci/sdk-venv (made once), the package installed
# editable with its test extras, then the four gates: ruff format, ruff check, mypy --strict,
# pytest (against a real `runnel serve`: RUNNEL_BIN, default target/debug/runnel).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${RUNNEL_SDK_VENV:-/opt/runnel-ci/sdk-venv}"
python=/usr/bin/python3

export RUNNEL_BIN="${RUNNEL_BIN:-$repo/target/debug/runnel}"
if [[ ! -x "$RUNNEL_BIN" ]]; then
    echo "ci.sh: no runnel binary at $RUNNEL_BIN: build it (cargo build) or set RUNNEL_BIN" >&2
    exit 1
fi

if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "ci.sh: installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
fi
if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$here[test]"

cd "$here"
status=0
run_gate() {
    echo "== $*"
    if ! "$@"; then
        echo "ci.sh: gate failed: $*" >&2
        status=1
    fi
}
run_gate "$venv/bin/ruff" format --check .
run_gate "$venv/bin/ruff" check .
run_gate "$venv/bin/mypy" --strict
# pytest prints its own closing summary ("N passed in ...").
run_gate "$venv/bin/pytest" -q -p no:cacheprovider tests
exit "$status"
