#!/usr/bin/env bash
# Builds and starts a routing node with the default configuration (127.0.0.1:46357).
# Extra arguments go to `slim`, e.g. `scripts/run.sh --config config/reference.yaml`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p slim-node --bin slim -- "$@"
