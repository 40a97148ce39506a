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

# Interoperability: upstream's Python apps (slim-bindings 3.3.8) talking through our node.
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
python3 tests/interop/run.py --node-cmd "$target_dir/debug/slim --config tests/interop/configs/our-node.yaml"
# Our client stack (slim-app) against upstream's Python apps, in every role combination.
crates/slim-app/tests/interop.sh

# Opt-in (builds upstream's node from crates.io, about 15 minutes the first time): an upstream
# agntcy-slim node links to our node and routes sessions across the link.
if [ "${SLIM_INTEROP_UPSTREAM_NODE:-0}" = 1 ]; then
  upstream_root="${SLIM_UPSTREAM_ROOT:-$HOME/.cache/slim-rs/upstream-slim}"
  [ -x "$upstream_root/bin/slim" ] ||
    cargo install agntcy-slim --version 3.4.6 --locked --root "$upstream_root"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  SLIM_INTEROP_OUR_PORT=$port python3 tests/interop/run.py --upstream-bin "$upstream_root/bin/slim" \
    --other-node-cmd "$target_dir/debug/slim --config tests/interop/configs/our-node-fixed-port.yaml" \
    --other-node "http://127.0.0.1:$port" link
  # Our applications sharing one connection, through upstream's node.
  tests/interop/shared_connection_upstream.sh "$upstream_root/bin/slim" "$target_dir/debug/slim-bench"
fi

# Fuzz smoke: each cargo-fuzz target for a short time. cargo-fuzz wants nightly-only rustc
# flags; this machine kind has only the stable toolchain, so RUSTC_BOOTSTRAP=1 unlocks them
# (fuzz/ is its own workspace with its own target directory). Longer runs: fuzz/README.md.
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" -- -max_total_time="${SLIM_FUZZ_SECONDS:-20}"
done
