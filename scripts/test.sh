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
cargo test --workspace --locked -- --test-threads 2

step "done"
