#!/usr/bin/env bash
# Side-by-side benchmark of our node, upstream's node (agntcy-slim 3.4.6) and nats-server on
# this machine, in one run: every case is run against the three back to back, the whole set
# is repeated (default 3 times) and the report takes the median. Results, a Markdown table
# and plots go to docs/bench/ (or --out).
#
#   bench/compare.sh                       # everything, 3 repeats
#   bench/compare.sh --quick               # 1 repeat, short cases (a minute or two)
#   bench/compare.sh --upstream-bin PATH   # use this agntcy-slim binary
#   bench/compare.sh --only ours,nats      # skip a system
#   bench/compare.sh --stages scaling --out docs/bench/scaling   # one stage (main, soak, scaling)
#
# What it needs, and installs when missing: a release build of `slim` and `slim-bench`
# (cargo, into $CARGO_TARGET_DIR or target/); upstream's node (`cargo install agntcy-slim
# --version 3.4.6 --locked` into $SLIM_BENCH_CACHE/upstream, about 15 minutes once, reused
# afterwards); `nats-server` (apt-get); matplotlib for the plots (a venv in
# $SLIM_BENCH_CACHE/venv; without it the tables are still written).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ARGS="$*"

REPEATS=3
DURATION=3s
WARMUP=1s
SIZES="64 256 1024 4096 16384"
RTT_SIZES="64 1024 4096"
SOAK=20s
STAGES="main,soak,scaling"
ONLY="ours,upstream,nats"
OUT="$ROOT/docs/bench"
CACHE="${SLIM_BENCH_CACHE:-$HOME/.cache/slim-bench}"
UPSTREAM_BIN="${SLIM_UPSTREAM_BIN:-}"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --upstream-bin) UPSTREAM_BIN=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) REPEATS=1; DURATION=1s; WARMUP=300ms; SIZES="64 4096"; RTT_SIZES="64"; SOAK=5s; STAGES="main,soak"; shift ;;
    -h|--help) usage ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
stage() { case ",$STAGES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

log() { printf '== %s\n' "$*" >&2; }

# --- binaries --------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log "building slim and slim-bench (release)"
cargo build --release --locked -p slim-node -p slim-bench >&2
OURS_BIN="$TARGET_DIR/release/slim"
BENCH="$TARGET_DIR/release/slim-bench"

if wants upstream; then
  if [ -z "$UPSTREAM_BIN" ]; then
    UPSTREAM_BIN="$CACHE/upstream/bin/slim"
    if [ ! -x "$UPSTREAM_BIN" ]; then
      log "installing agntcy-slim 3.4.6 into $CACHE/upstream (about 15 minutes, once)"
      cargo install agntcy-slim --version 3.4.6 --locked --root "$CACHE/upstream" >&2
    fi
  fi
  [ -x "$UPSTREAM_BIN" ] || { echo "no upstream binary at $UPSTREAM_BIN" >&2; exit 1; }
fi

if wants nats && ! command -v nats-server >/dev/null; then
  log "installing nats-server (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q nats-server >&2
fi

PYTHON=python3
if [ ! -x "$CACHE/venv/bin/python" ]; then
  log "creating a venv with matplotlib in $CACHE/venv (for the plots)"
  mkdir -p "$CACHE"
  if python3 -m venv "$CACHE/venv" >&2 && "$CACHE/venv/bin/pip" install -q matplotlib >&2; then :; else
    log "matplotlib unavailable: tables only"
  fi
fi
[ -x "$CACHE/venv/bin/python" ] && PYTHON="$CACHE/venv/bin/python"

# --- servers ---------------------------------------------------------------------------
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source bench/lib.sh  # the working directory is the repository root (above)

declare -A ENDPOINT PID SYSTEM
start_ours() {
  local port; port=$(free_port)
  cat > "$WORK/ours.yaml" <<EOF
tracing:
  log_level: warn
services:
  slim/0:
    node_id: bench-ours
    dataplane:
      servers:
        - endpoint: 127.0.0.1:$port
EOF
  "$OURS_BIN" --config "$WORK/ours.yaml" > "$WORK/ours.log" 2>&1 &
  PID[ours]=$!; PIDS+=($!); wait_port "$port" "${PID[ours]}" "$WORK/ours.log"
  ENDPOINT[ours]="http://127.0.0.1:$port"; SYSTEM[ours]=slim
}
start_upstream() {
  local port; port=$(free_port)
  # Accepted by agntcy-slim 3.4.6 (see tests/interop/README.md): h2c needs tls.insecure.
  cat > "$WORK/upstream.yaml" <<EOF
tracing:
  log_level: "warn"
  display_thread_names: false
runtime:
  n_cores: 0
  drain_timeout: "2s"
services:
  slim/0:
    node_id: "bench-upstream"
    dataplane:
      servers:
        - endpoint: "127.0.0.1:$port"
          tls:
            insecure: true
EOF
  "$UPSTREAM_BIN" --config "$WORK/upstream.yaml" > "$WORK/upstream.log" 2>&1 &
  PID[upstream]=$!; PIDS+=($!); wait_port "$port" "${PID[upstream]}" "$WORK/upstream.log"
  ENDPOINT[upstream]="http://127.0.0.1:$port"; SYSTEM[upstream]=slim
}
start_nats() {
  local port; port=$(free_port)
  nats-server -a 127.0.0.1 -p "$port" > "$WORK/nats.log" 2>&1 &
  PID[nats]=$!; PIDS+=($!); wait_port "$port" "${PID[nats]}" "$WORK/nats.log"
  ENDPOINT[nats]="nats://127.0.0.1:$port"; SYSTEM[nats]=nats
}

TARGETS=()
for t in ours upstream nats; do
  if wants "$t"; then "start_$t"; TARGETS+=("$t"); log "$t: ${ENDPOINT[$t]} (pid ${PID[$t]})"; fi
done

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

# run CASE REPEAT TARGET slim-bench-args...: one measurement, one JSON line in $RESULTS.
run() {
  local case=$1 repeat=$2 target=$3; shift 3
  local line
  if line=$("$BENCH" "$@" --system "${SYSTEM[$target]}" -e "${ENDPOINT[$target]}" \
      --node-pid "${PID[$target]}" --label "$target" --json --no-progress | tail -n 1); then :; else
    log "$case/$target failed (exit $?)"; return 0
  fi
  printf '{"case":"%s","repeat":%s,"target":"%s","result":%s}\n' "$case" "$repeat" "$target" "$line" >> "$RESULTS"
  "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); l=r.get("latency_us") or {};
print("   %-22s %-9s %12.0f msg/s %10.1f MB/s%s" % (sys.argv[2], sys.argv[3], r["msgs_per_s"], r["bytes_per_s"]/1e6,
  ("  p50 %.1f µs p99 %.1f µs" % (l["p50"], l["p99"])) if l else ""))' "$line" "$case" "$target" >&2
}

# A fresh server, so memory figures start from a clean process.
restart() {
  kill "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
  "start_$1"
}

log "uptime at start: $(uptime)"
stage main && for repeat in $(seq 1 "$REPEATS"); do
  log "repeat $repeat of $REPEATS"
  for size in $SIZES; do
    for t in "${TARGETS[@]}"; do run "pubsub-1to1-$size" "$repeat" "$t" pubsub -s "$size" -d "$DURATION" --warmup "$WARMUP"; done
  done
  for size in $RTT_SIZES; do
    for t in "${TARGETS[@]}"; do run "rtt-$size" "$repeat" "$t" rtt -s "$size" -d "$DURATION" --warmup "$WARMUP"; done
  done
  for t in "${TARGETS[@]}"; do run "pubsub-4to4-64" "$repeat" "$t" pubsub --pub 4 --sub 4 -s 64 -d "$DURATION" --warmup "$WARMUP"; done
  for t in "${TARGETS[@]}"; do run "fanout-1to4-64" "$repeat" "$t" fanout --sub 4 -s 64 -d "$DURATION" --warmup "$WARMUP"; done
done

if stage soak; then
  log "soak: pubsub 64 B for $SOAK against each, freshly started (memory over time)"
  for t in "${TARGETS[@]}"; do restart "$t"; run "soak-64" 1 "$t" pubsub -s 64 -d "$SOAK" --warmup 0; done
fi

if stage scaling; then
  log "scaling: connected clients and subscriptions, each against a freshly started server"
  for t in "${TARGETS[@]}"; do
    for n in 10 100 1000; do restart "$t"; run "scale-clients-$n" 1 "$t" pubsub -s 64 -d "$DURATION" --warmup "$WARMUP" --idle-clients "$n"; done
    for n in 10000 100000; do restart "$t"; run "scale-subs-$n" 1 "$t" pubsub -s 64 -d "$DURATION" --warmup "$WARMUP" --extra-subscriptions "$n"; done
  done
fi
log "uptime at end: $(uptime)"

{
  echo "command: bench/compare.sh $ARGS"
  echo "repeats: $REPEATS, duration: $DURATION, warm-up: $WARMUP"
  echo "uptime: $(uptime)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
  echo "upstream: $UPSTREAM_BIN"
  echo "nats-server: $(nats-server --version 2>/dev/null || echo -)"
} > "$OUT/run-info.txt"

"$PYTHON" bench/report.py "$RESULTS" --out "$OUT" --info "$OUT/run-info.txt"
