#!/usr/bin/env bash
# Applications sharing one connection (slim_client::Connection) through upstream's node:
# group fan-out to members on one connection, fire-and-forget and reliable with MLS; every
# message must arrive, in order, every completion Ok. Upstream's node sees one edge connection
# subscribing several names and sends it one copy of each group message.
#
# Usage: tests/interop/shared_connection_upstream.sh UPSTREAM_SLIM_BIN SLIM_BENCH_BIN
set -euo pipefail
cd "$(dirname "$0")/../.."
upstream_bin=$1
bench_bin=$2
source bench/lib.sh

port=$(free_port)
log=$(mktemp)
SLIM_LISTEN=127.0.0.1:$port "$upstream_bin" --config tests/interop/configs/upstream-node.yaml >"$log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true; rm -f "$log"' EXIT
wait_port "$port" "$node" "$log" 60

check() {
  local report
  report=$("$bench_bin" session --pattern fanout --shared-connection --no-progress \
    --drain-timeout 30s -e "http://127.0.0.1:$port" "$@" | grep '^{')
  python3 - "$report" "$*" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); s = r["session"]; what = sys.argv[2]
assert s["shared_connection"], what
assert r["delivered"] == r["expected"] > 0 and r["lost"] == 0, (what, r)
assert s["out_of_order"] == 0 and s["completions_failed"] == 0, (what, s)
print(f"shared connection via upstream's node ({what}): {r['delivered']} delivered, nothing lost")
PY
}
check --members 4 -n 5000
check --members 4 -n 1000 --delivery reliable --mls
