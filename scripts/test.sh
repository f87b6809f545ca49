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

step "cargo test"
# Integration tests start real servers and sandboxes; two test threads suit two cores.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked -- --test-threads 2 2>&1 | tee "$log"

step "done"
# One closing line for the whole run (cargo prints one per test binary, the last often the
# doc tests' "0 passed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
