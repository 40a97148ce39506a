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
