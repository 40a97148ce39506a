#!/usr/bin/env bash
# Context switches and CPU time of a `slim` node per message, for a fixed number of messages:
# the evidence for changes that remove task hops (wall-clock figures on the shared 2-core
# machine are too noisy for that). `perf stat` counts the node's context switches (voluntary
# and involuntary, all its threads) while one `slim-bench` run sends COUNT messages through it.
#
#   bench/cswitch.sh SLIM [SLIM_BENCH]
#   COUNT=200000 CASES="pubsub:-s:64 rtt:-s:64" bench/cswitch.sh target/release/slim
#   NODE_CONFIG=$'runtime:\n  n_cores: 1\n' bench/cswitch.sh target/release/slim
#
# A case is a scenario and its arguments joined with ':'. `rtt` sends one message at a time,
# so its figure is per one-way crossing pair (request and reply: two crossings per message).
set -euo pipefail
SLIM=$1
BENCH=${2:-$(dirname "$0")/../target/release/slim-bench}
COUNT=${COUNT:-200000}
CASES=${CASES:-"pubsub:-s:64 pubsub:-s:4096 rtt:-s:64"}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d)
NODE="" PERF=""
cleanup() {
  [ -n "$PERF" ] && kill -INT "$PERF" 2>/dev/null
  [ -n "$NODE" ] && kill "$NODE" 2>/dev/null
  wait 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT

printf '%-18s %10s %14s %14s %12s\n' case messages "cswitch/msg" "cpu µs/msg" "elapsed s"
for case in $CASES; do
  PORT=$(free_port)
  node_config "$WORK/node.yaml" "$PORT" "${NODE_CONFIG:-}"
  "$SLIM" --config "$WORK/node.yaml" > "$WORK/node.log" 2>&1 &
  NODE=$!
  wait_port "$PORT" "$NODE" "$WORK/node.log"
  perf stat -x, -e context-switches,task-clock -p "$NODE" -o "$WORK/perf" &
  PERF=$!
  sleep 0.2
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$BENCH" ${case//:/ } -e "http://127.0.0.1:$PORT" -n "$COUNT" --warmup 0 --json --no-progress > "$WORK/bench" 2>&1
  end=$(date +%s.%N)
  kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true; PERF=""
  kill "$NODE"; wait "$NODE" 2>/dev/null || true; NODE=""
  python3 - "$WORK/perf" "$case" "$COUNT" "$start" "$end" <<'EOF'
import sys
path, case, count, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
values = {}
for line in open(path):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0] and parts[0][0].isdigit():
        values[parts[2]] = float(parts[0])
cs = values.get("context-switches", 0.0)
ms = values.get("task-clock", 0.0)
print(f"{case:18} {count:10} {cs / count:14.3f} {ms * 1000 / count:14.3f} {end - start:12.2f}")
EOF
done
