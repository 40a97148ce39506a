# Shared by the bench scripts (sourced, not run): pick a free loopback port, write a minimal
# node configuration, and wait for a started server to listen, failing with its log if it
# exits or does not listen in time.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# node_config FILE PORT [EXTRA]: a node with one plain-text data-plane server on PORT; EXTRA
# (YAML) goes in front, e.g. $'runtime:\n  n_cores: 1\n'.
node_config() {
  printf '%s' "${3:-}" > "$1"
  printf 'tracing:\n  log_level: warn\nservices:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: 127.0.0.1:%s\n' "$2" >> "$1"
}

# wait_port PORT PID LOG [SECONDS]: returns once PORT accepts connections.
wait_port() {
  local deadline=$((SECONDS + ${4:-20}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null; then echo "server exited:" >&2; cat "$3" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "port $1 not open after ${4:-20} s" >&2; cat "$3" >&2; exit 1; fi
    sleep 0.1
  done
}
