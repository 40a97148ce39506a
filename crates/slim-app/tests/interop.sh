#!/usr/bin/env bash
# Interoperability of our client stack (slim-app, built on slim-client and slim-session) with
# upstream's Python apps (slim-bindings 3.3.8), through our own `slim` node.
#
# Every role combination of issues 3 and 4 runs through tests/interop/run.py with `--role`
# replacements (see tests/interop/README.md, "Contracts for replacing a role"):
#   1. our P2P initiator  -> upstream responder   (p2p, ff, large)
#   2. upstream initiator -> our P2P responder    (p2p, ff, large)
#   3. our group moderator, upstream members      (group, remove)
#   4. upstream moderator, our group members      (group, remove)
#   5. only our apps, every role replaced         (p2p, group, remove, rpc)
#   6. our RPC server, upstream RPC client         (rpc: all four patterns, status, metadata,
#                                                   deadline)
#   7. upstream RPC server, our RPC client         (rpc)
# MLS is on in every scenario. Upstream apps run with SLIM_IDENTITY_BINDING=warn (upstream's
# own default): `enforce` also requires a `slim-payload-sig` metadata signature on control
# messages, which we do not produce yet.
#
# Usage (from anywhere):  crates/slim-app/tests/interop.sh
# Needs: SLIM_INTEROP_PYTHON = an interpreter with slim-bindings==3.3.8 (default
# .venv-interop/bin/python), python3 for the runner, and the debug binaries `slim` and
# `slim-app` (built here with the workspace build scripts/test.sh does).
# Exit code 0 only if every run passed; each failing run prints its reason and log folder.
set -euo pipefail
cd "$(dirname "$0")/../../.."

export SLIM_INTEROP_PYTHON="${SLIM_INTEROP_PYTHON:-$PWD/.venv-interop/bin/python}"
if [ ! -x "$SLIM_INTEROP_PYTHON" ]; then
  echo "interop: no interpreter at SLIM_INTEROP_PYTHON=$SLIM_INTEROP_PYTHON (needs slim-bindings==3.3.8)" >&2
  exit 2
fi

# The same build as scripts/test.sh (a no-op after it): building only these two packages
# would unify features differently and rebuild most dependencies.
cargo build --locked --workspace --all-targets
target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
app="$target_dir/debug/slim-app"
node="$target_dir/debug/slim --config tests/interop/configs/our-node.yaml"

failed=()
run() {
  local label="$1"
  shift
  echo "=== $label"
  if ! python3 tests/interop/run.py --node-cmd "$node" --identity-binding warn "$@"; then
    failed+=("$label")
  fi
}

run "our initiator, upstream responder" --role p2p_initiator="$app p2p-initiator" p2p ff large
run "upstream initiator, our responder" --role p2p_responder="$app p2p-responder" p2p ff large
run "our moderator, upstream members" --role group_moderator="$app group-moderator" group remove
run "upstream moderator, our members" --role group_member="$app group-member" group remove
run "only our apps" \
  --role p2p_initiator="$app p2p-initiator" --role p2p_responder="$app p2p-responder" \
  --role group_moderator="$app group-moderator" --role group_member="$app group-member" \
  --role rpc_server="$app rpc-server" --role rpc_client="$app rpc-client" \
  p2p group remove rpc
run "our RPC server, upstream RPC client" --role rpc_server="$app rpc-server" rpc
run "upstream RPC server, our RPC client" --role rpc_client="$app rpc-client" rpc

if [ ${#failed[@]} -gt 0 ]; then
  printf 'interop: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "interop: every role combination passed"
