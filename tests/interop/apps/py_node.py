"""A stand-in node: upstream's embedded data plane from `slim_bindings`, serving one endpoint.

This is *not* the upstream `slim` binary (agntcy-slim); it is the same data-plane code
embedded in the Python wheel. It is handy to develop scenarios without building the upstream
node, and as a second reference node. Apps must still run in other processes: apps inside
this process would route locally and never touch the wire.

Runs until SIGTERM/SIGINT or `--deadline`. Events: ready {endpoint}, error.
"""

from __future__ import annotations

import argparse
import signal
import threading

import common
from common import emit, sb


def parse_args() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="host:port to serve, e.g. 127.0.0.1:47000")
    p.add_argument("--deadline", type=float, default=3600.0)
    p.add_argument("--log-level", default="warn")
    return p


def run(args: argparse.Namespace) -> int:
    sb.initialize_with_configs(
        sb.new_runtime_config(),
        sb.new_tracing_config_with(args.log_level, False, False, []),
        [sb.new_service_config()],
    )
    service = sb.get_global_service()
    service.run_server(sb.new_insecure_server_config(args.listen))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    emit("ready", endpoint=f"http://{args.listen}")
    stop.wait(args.deadline)
    emit("stopped")
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("py_node", parse_args(), run)
