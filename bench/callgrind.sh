#!/usr/bin/env bash
# Instructions a `slim` node executes per forwarded message, under `valgrind --tool=callgrind`,
# for a fixed number of messages: repeatable to about ±0.1 % however loaded the machine is,
# so it is the primary evidence for CPU-side optimisations. (valgrind runs SHA-256 without
# SHA-NI, which overstates the header MAC's share.)
#
#   bench/callgrind.sh SLIM [SLIM_BENCH] [OUT_DIR]
#   COUNT=30000 CASE="pubsub:-s:64" bench/callgrind.sh target/release/slim
#
# Prints total instructions and instructions per message, and leaves callgrind.out in OUT_DIR
# (default: a temporary directory, printed) for `callgrind_annotate`.
set -euo pipefail
SLIM=$1
BENCH=${2:-$(dirname "$0")/../target/release/slim-bench}
OUT=${3:-$(mktemp -d)}
COUNT=${COUNT:-30000}
CASE=${CASE:-"pubsub:-s:64"}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
mkdir -p "$OUT"
NODE=""
cleanup() { [ -n "$NODE" ] && kill "$NODE" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

PORT=$(free_port)
node_config "$OUT/node.yaml" "$PORT"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$SLIM" --config "$OUT/node.yaml" > "$OUT/node.log" 2>&1 &
NODE=$!
wait_port "$PORT" "$NODE" "$OUT/node.log" 120  # valgrind starts slowly
# shellcheck disable=SC2086
"$BENCH" ${CASE//:/ } -e "http://127.0.0.1:$PORT" -n "$COUNT" --warmup 0 --no-progress > "$OUT/bench.log" 2>&1
kill -TERM "$NODE"; wait "$NODE" 2>/dev/null || true; NODE=""
total=$(awk '/Collected :/ {print $NF}' "$OUT/node.log" | tail -n 1)
echo "case $CASE, $COUNT messages: $total instructions, $((total / COUNT)) per message (profile: $OUT/callgrind.out)"
