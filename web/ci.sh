#!/usr/bin/env bash
# The web console's gates and tests, for CI and for people:
#   RUNNEL_BIN=target/debug/runnel bash web/ci.sh
# 1. installs what the tests need when absent (Debian's chromium, the npm packages of
#    package-lock.json), 2. type-checks, 3. rebuilds web/dist and fails if it differs from the
#    committed files (the build is reproducible; the binary embeds web/dist), 4. runs the
#    end-to-end tests in chromium against a real `runnel serve` (screenshots in
#    web/test-artifacts/). Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")"
web=$(pwd)
repo=$(cd .. && pwd)
export RUNNEL_BIN="${RUNNEL_BIN:-$repo/target/debug/runnel}"
failed=0
step() { printf '\n== web: %s\n' "$*"; }

step "prerequisites"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null | grep -i chromium || { echo "chromium is not usable at /usr/bin/chromium"; exit 1; }
command -v node >/dev/null || { echo "node is missing (Node 20 or newer is needed)"; exit 1; }
node --version
npm ci --no-audit --no-fund --loglevel=error

step "typecheck (tsc --strict)"
if ! npx --no-install tsc --noEmit -p tsconfig.json; then failed=1; fi

step "build and reproducibility of web/dist"
if node build.mjs; then
  if ! git -C "$repo" diff --exit-code --stat -- web/dist || [ -n "$(git -C "$repo" status --porcelain -- web/dist)" ]; then
    git -C "$repo" status --short -- web/dist
    echo "web/dist differs from the committed build: run 'npm run build' in web/ and commit web/dist"
    echo "(the console bundles clients/js/src, so an SDK change needs a rebuild too)"
    failed=1
  else
    echo "web/dist is identical to the committed files"
  fi
else
  failed=1
fi

step "end-to-end tests (chromium, runnel at $RUNNEL_BIN)"
if [ ! -x "$RUNNEL_BIN" ]; then
  echo "runnel binary not found at $RUNNEL_BIN: build it (cargo build -p runnel-cli) or set RUNNEL_BIN"
  failed=1
else
  mkdir -p test-artifacts
  if ! node --test --test-concurrency=1 --test-reporter=spec tests/; then failed=1; fi
  echo "screenshots: $web/test-artifacts/"
fi

if [ "$failed" -ne 0 ]; then
  echo "web: FAILED"
  exit 1
fi
echo "web: all gates and tests passed"
