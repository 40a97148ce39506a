#!/usr/bin/env bash
# Interleaved comparison of two or more `slim-bench` builds against one running node, for
# client-side changes (slim-client, the session layer, the bench itself): `ab.sh` varies the
# node and keeps the client, this keeps the node and varies the client. The builds take turns
# (A, B, A, B, ...) because this machine's figures drift over minutes; running all of A, then
# all of B, would measure the drift as well.
#
#   bench/ab_clients.sh [--rounds N] [--node SLIM] [--node-extra YAML] --metric PYEXPR \
#       BIN_DIR_A BIN_DIR_B [BIN_DIR ...] -- SLIM_BENCH_ARGS...
#   bench/ab_clients.sh --metric 'd["latency_us"]["p50"]' /tmp/before /tmp/after -- rtt -s 64 -d 3s
#   bench/ab_clients.sh --rounds 5 --node-extra $'runtime: {cpu_idle_poll: 1s}\n' \
#       --metric 'round(d["msgs_per_s"])' /tmp/before /tmp/after -- pubsub -s 64 -d 3s
#
# Each BIN_DIR holds a `slim-bench`; the node is --node (default: the `slim` of the first
# BIN_DIR), started once with --node-extra (YAML) in front of its generated configuration.
# Every run is `slim-bench SLIM_BENCH_ARGS -e <node> --json --no-progress`; PYEXPR is a Python
# expression over the run's JSON line, bound to `d`. Rounds default to 3. Prints one line per
# BIN_DIR: its values in round order and their median (progress goes to stderr).
#
# Build each variant into its own CARGO_TARGET_DIR (or check the binaries differ): cargo
# names workspace artifacts independently of the checkout's path, so building a second git
# worktree into the same target directory can leave the first worktree's binary in place.
set -euo pipefail

usage() { sed -n '2,18s/^# \{0,1\}//p' "$0" >&2; exit 2; }

ROUNDS=3 NODE_BIN="" NODE_EXTRA="" METRIC=""
DIRS=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --node) NODE_BIN=${2:?--node needs a binary}; shift 2 ;;
    --node-extra) NODE_EXTRA=${2?--node-extra needs YAML}; shift 2 ;;
    --metric) METRIC=${2:?--metric needs a Python expression}; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) DIRS+=("$1"); shift ;;
  esac
done
BENCH_ARGS=("$@")
if [ -z "$METRIC" ] || [ ${#DIRS[@]} -lt 2 ] || [ ${#BENCH_ARGS[@]} -eq 0 ]; then usage; fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds must be a positive number" >&2; exit 2; }
NODE_BIN=${NODE_BIN:-${DIRS[0]}/slim}
for dir in "${DIRS[@]}"; do
  [ -x "$dir/slim-bench" ] || { echo "no executable $dir/slim-bench" >&2; exit 2; }
done
[ -x "$NODE_BIN" ] || { echo "no executable node $NODE_BIN" >&2; exit 2; }
# A YAML block must end its last line, or the generated configuration would be glued to it.
if [ -n "$NODE_EXTRA" ] && [ "${NODE_EXTRA: -1}" != $'\n' ]; then NODE_EXTRA+=$'\n'; fi

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d)
NODE=""
cleanup() { if [ -n "$NODE" ]; then kill "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$(free_port)
node_config "$WORK/node.yaml" "$PORT" "$NODE_EXTRA"
"$NODE_BIN" --config "$WORK/node.yaml" > "$WORK/node.log" 2>&1 &
NODE=$!
wait_port "$PORT" "$NODE" "$WORK/node.log"

# Fails at the first run whose JSON the expression cannot read, not after every round.
metric() { python3 -c 'import json, sys; d = json.loads(sys.argv[2]); v = eval(sys.argv[1]); float(v); print(v)' "$METRIC" "$1"; }

echo "uptime: $(uptime)" >&2
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!DIRS[@]}"; do
    line=$("${DIRS[$i]}/slim-bench" "${BENCH_ARGS[@]}" -e "http://127.0.0.1:$PORT" --json --no-progress | tail -n 1)
    value=$(metric "$line")
    echo "$value" >> "$WORK/values.$i"
    echo "round $round ${DIRS[$i]}: $value" >&2
  done
done
echo "uptime: $(uptime)" >&2

python3 - "$WORK" "${DIRS[@]}" <<'EOF'
import statistics, sys
work, dirs = sys.argv[1], sys.argv[2:]
width = max(len(d) for d in dirs)
for i, d in enumerate(dirs):
    values = [line.strip() for line in open(f"{work}/values.{i}")]
    median = statistics.median(float(v) for v in values)
    median = int(median) if median.is_integer() else round(median, 3)
    # A letter too: the same directory may be given twice (an A/A run to see the noise).
    print(f"{chr(65 + i)}  {d:{width}}  median {median}  values {' '.join(values)}")
EOF
