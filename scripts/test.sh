#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotently), then runs every gate
# and every test. Needs root (the sandbox uses namespaces and cgroups) on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - started))"; }

step "install test prerequisites"
bash scripts/ci-setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "generated files up to date (runnel-codegen --check)"
cargo run -q --locked -p runnel-codegen -- --check

step "cargo test (scripts/run-tests.py: the test binaries in two lanes)"
# Integration tests start real servers and sandboxes; the language suites run in a lane of
# their own beside the rest, each binary two tests at a time.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
/usr/bin/python3 scripts/run-tests.py 2>&1 | tee "$log"

step "fuzz targets: scripts/fuzz.sh (frame decoding, driver events; bounded runs)"
bash scripts/fuzz.sh

# The SDK and console suites run against the binary `cargo test` just built.
export RUNNEL_BIN="$PWD/target/debug/runnel"

step "Python SDK: clients/python/ci.sh"
bash clients/python/ci.sh 2>&1 | tee -a "$log"

step "JavaScript SDK: clients/js/ci.sh"
bash clients/js/ci.sh 2>&1 | tee -a "$log"

step "web console: web/ci.sh"
bash web/ci.sh 2>&1 | tee -a "$log"

step "done"
# One closing line for the whole run, from the runners' own summaries: cargo's "test result:"
# lines, pytest's "N passed, M failed in S" and node's test runner "# pass N" / "# fail N".
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
  /^(=+ )?[0-9]+ (passed|failed).* in [0-9.]+s/ {
    for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
  /^(#|ℹ) pass [0-9]+$/ { p += $3 }
  /^(#|ℹ) fail [0-9]+$/ { f += $3 }
  END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
