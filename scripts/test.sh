#!/usr/bin/env bash
# The whole test suite, exactly what CI runs: unit and simulation tests, in-process and
# multi-process end-to-end tests, interoperability tests against upstream's Python package,
# and a short benchmark smoke. Slow soak tests run only with SLIM_SOAK=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export SLIM_INTEROP_PYTHON="$PWD/.venv-interop/bin/python"
export CARGO_TERM_COLOR=never

cargo build --workspace --all-targets --locked
cargo nextest run --workspace --no-fail-fast --locked
cargo test --workspace --doc --locked

# Fuzz smoke: each cargo-fuzz target for a short time, when a nightly toolchain exists
# (cargo-fuzz needs it). Longer runs: see fuzz/README.md.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
  for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
    cargo +nightly fuzz run --fuzz-dir fuzz "$target" -- -max_total_time="${SLIM_FUZZ_SECONDS:-20}"
  done
else
  echo "fuzz: skipped (no nightly toolchain on this machine)"
fi
