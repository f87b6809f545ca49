#!/usr/bin/env bash
# CI for the JavaScript/TypeScript SDK (clients/js): install, type check, build, test.
#
# Needs: RUNNEL_BIN pointing at a built `runnel` (default: the workspace's target/debug/runnel),
# root (the server sandboxes runs), Node 20+ with npm (installed from Debian if absent).
# Prints the test runner's closing summary; exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ci.sh: installing nodejs and npm from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "ci.sh: Node $(node --version) is too old: the SDK needs Node 20 or newer" >&2
  exit 1
fi

export RUNNEL_BIN="${RUNNEL_BIN:-$(cd "$here/../.." && pwd)/target/debug/runnel}"
if [ ! -x "$RUNNEL_BIN" ]; then
  echo "ci.sh: no runnel binary at $RUNNEL_BIN: build it (cargo build -p runnel-cli) or set RUNNEL_BIN" >&2
  exit 1
fi

echo "== npm ci"
npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' || true
test -d node_modules/typescript || { echo "ci.sh: npm ci failed" >&2; exit 1; }

echo "== tsc --strict (sources and tests, no emit)"
npx --no-install tsc -p tsconfig.test.json --noEmit --strict

echo "== build (dist/, committed so that \`npm install path/to/clients/js\` works from a clone)"
rm -rf dist .test-build
npx --no-install tsc -p tsconfig.json
if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
  if [ -n "$(git -C "$here" status --porcelain -- dist)" ]; then
    git -C "$here" status --short -- dist
    echo "ci.sh: dist/ is out of date with src/: run \`npm run build\` and commit dist/" >&2
    exit 1
  fi
fi

echo "== tests against $RUNNEL_BIN"
npx --no-install tsc -p tsconfig.test.json
# One file at a time (each starts its own server); the machine is small and shared.
node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec .test-build/test/*.test.js
