#!/usr/bin/env bash
# Before/after comparison of two `slim` node binaries, driven by one `slim-bench` binary so
# only the node differs. The two nodes run alternately, REPEATS times each (default 3), and
# the medians are printed. Used to back every node/transport optimisation with figures.
#
#   bench/ab.sh OLD_SLIM NEW_SLIM [SLIM_BENCH] [-- extra slim-bench args]
#   REPEATS=5 CASES="pubsub:-s:64 rtt:-s:64" bench/ab.sh /tmp/slim.before target/release/slim
#
# A case is a scenario and its arguments joined with ':' (default: 1→1 pubsub at 64 B and
# 4 KiB, rtt at 64 B, each for DURATION=3s). OLD_NODE_CONFIG and NEW_NODE_CONFIG, if set, are
# YAML put before each node's generated configuration (e.g. $'runtime:\n  n_cores: 1\n'), to
# compare settings of one binary.
set -euo pipefail
OLD=$1 NEW=$2
BENCH=${3:-$(dirname "$0")/../target/release/slim-bench}
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-3s}
CASES=${CASES:-"pubsub:-s:64 pubsub:-s:4096 rtt:-s:64"}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d)
NODE=""
cleanup() { [ -n "$NODE" ] && kill "$NODE" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # binary, extra leading config -> sets NODE, PORT
  PORT=$(free_port)
  node_config "$WORK/node.yaml" "$PORT" "$2"
  "$1" --config "$WORK/node.yaml" > "$WORK/node.log" 2>&1 &
  NODE=$!
  wait_port "$PORT" "$NODE" "$WORK/node.log"
}

echo "uptime: $(uptime)"
: > "$WORK/results"
for repeat in $(seq 1 "$REPEATS"); do
  for which in old new; do
    bin=$OLD extra=${OLD_NODE_CONFIG:-}
    [ "$which" = new ] && bin=$NEW extra=${NEW_NODE_CONFIG:-}
    start "$bin" "$extra"
    for case in $CASES; do
      # shellcheck disable=SC2086
      line=$("$BENCH" ${case//:/ } -e "http://127.0.0.1:$PORT" -d "$DURATION" --warmup 500ms --json --no-progress | tail -n 1)
      echo "$case $which $line" >> "$WORK/results"
    done
    kill "$NODE"; wait "$NODE" 2>/dev/null || true; NODE=""
  done
done
echo "uptime: $(uptime)"
python3 - "$WORK/results" <<'EOF'
import json, statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    case, which, js = line.split(" ", 2)
    rows[(case, which)].append(json.loads(js))
print(f"{'case':22} {'old':>14} {'new':>14} {'new/old':>8}")
for case in dict.fromkeys(c for c, _ in rows):
    def med(which, key):
        vals = [key(r) for r in rows[(case, which)]]
        return statistics.median(vals)
    if case.startswith("rtt"):
        for q in ("p50", "p99"):
            o, n = med("old", lambda r: r["latency_us"][q]), med("new", lambda r: r["latency_us"][q])
            print(f"{case + ' ' + q + ' µs':22} {o:14.1f} {n:14.1f} {o / n:7.2f}×")
    else:
        o, n = med("old", lambda r: r["msgs_per_s"]), med("new", lambda r: r["msgs_per_s"])
        print(f"{case + ' msg/s':22} {o:14.0f} {n:14.0f} {n / o:7.2f}×")
EOF
