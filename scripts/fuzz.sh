#!/usr/bin/env bash
# The cargo-fuzz targets in fuzz/: installs cargo-fuzz if it is missing, builds both targets and
# runs each one from its committed seed corpus, bounded both in time and in runs (new inputs go
# to a scratch directory, so the corpus stays as committed). Fails on a crash; libFuzzer then
# leaves the input under fuzz/artifacts/<target>/.
#
# The pinned toolchain is stable. cargo-fuzz's default sanitizer (address) needs nightly's
# `-Zsanitizer`; with none (`-s none`) its flags are stable ones (sancov passes, `--cfg
# fuzzing`), so no RUSTC_BOOTSTRAP is needed. The code fuzzed is safe Rust.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each target stops at whichever bound it reaches first.
max_seconds=${FUZZ_SECONDS:-20}
max_runs=${FUZZ_RUNS:-2000000}
targets=(client_frame driver_event)

started=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "== building the fuzz targets ($((SECONDS - started))s)"
cargo fuzz build -s none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    echo "== fuzzing $target for at most ${max_seconds}s or $max_runs runs ($((SECONDS - started))s)"
    mkdir -p "$scratch/$target"
    cargo fuzz run -s none "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$max_seconds" -runs="$max_runs" -max_len=65536 -timeout=10
done
echo "== fuzzing passed ($((SECONDS - started))s)"
