"""Nodes for the scenarios: upstream `slim` (agntcy-slim 3.4.6) configs and launchers.

The runner normally talks to a node it is given (`--node URL`). It can also start nodes:
* `start_upstream` runs the upstream binary with a generated YAML config (`upstream_config`),
  listening on 127.0.0.1 port 0, optionally with a client link to another node;
* `start_py_node` runs `apps/py_node.py`, upstream's data plane embedded in the Python wheel.

Upstream logs the *configured* endpoint ("dataplane server started endpoint=127.0.0.1:0"),
not the bound port, so the port is read from /proc: the LISTEN socket owned by the pid.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

from .procs import Proc, Procs, ScenarioFailure

NODE_START_TIMEOUT = 20.0
LINK_UP_TIMEOUT = 30.0


# -- config ----------------------------------------------------------------------------
def upstream_config(node_id: str, listen: str = "127.0.0.1:0",
                    link_to: str | None = None, link_type: str = "peer",
                    log_level: str = "info") -> dict[str, Any]:
    """An upstream node config: one insecure (h2c) data-plane server, optional client link.

    Schema facts checked against the 3.4.6 binary: top-level keys are only `tracing`,
    `runtime`, `services`; the service key is `<kind>/<name>`; an h2c server or client needs
    `tls: {insecure: true}`; a node-to-node client link that carries subscriptions must be
    `connection_type: peer` (with `edge` or `remote` the link comes up but no subscription
    crosses it, so sessions across it fail with "message send retries exhausted").
    """
    dataplane: dict[str, Any] = {
        "servers": [{"endpoint": listen, "tls": {"insecure": True}}],
    }
    if link_to is not None:
        dataplane["clients"] = [{
            "endpoint": link_to,
            "tls": {"insecure": True},
            "connection_type": link_type,
        }]
    return {
        "tracing": {"log_level": log_level, "display_thread_names": False},
        "runtime": {"n_cores": 0, "drain_timeout": "2s"},
        "services": {"slim/0": {"node_id": node_id, "dataplane": dataplane}},
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """Minimal YAML emitter for dicts, lists, str, int, bool (all we generate)."""
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(out)
    if isinstance(value, list):
        out = []
        for item in value:
            body = to_yaml(item, indent + 1)
            out.append(f"{pad}- {body.lstrip()}" if isinstance(item, (dict, list))
                       else f"{pad}- {_scalar(item)}")
        return "\n".join(out)
    return pad + _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value in ({}, []):
        return "{}" if value == {} else "[]"
    raise TypeError(f"cannot write {value!r} as YAML")


# -- port discovery ----------------------------------------------------------------------
def listening_ports(pid: int) -> list[int]:
    """TCP ports in LISTEN state whose socket belongs to process `pid` (Linux /proc)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    ports = []
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def wait_listening(proc: Proc, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.exited():
            raise ScenarioFailure(f"{proc.label} exited with code {proc.popen.returncode} "
                                  "while starting")
        ports = listening_ports(proc.popen.pid)
        if len(ports) == 1:
            return ports[0]
        if len(ports) > 1:
            raise ScenarioFailure(f"{proc.label} listens on several ports {ports}")
        time.sleep(0.05)  # polling /proc; bounded by the deadline
    raise ScenarioFailure(f"{proc.label} is not listening after {timeout:.0f} s")


# -- launchers ---------------------------------------------------------------------------
class StartedNode:
    def __init__(self, proc: Proc, endpoint: str, config_path: Path | None) -> None:
        self.proc, self.endpoint, self.config_path = proc, endpoint, config_path


def start_upstream(procs: Procs, binary: str, label: str, node_id: str,
                   link_to: str | None = None, link_type: str = "peer") -> StartedNode:
    config = upstream_config(node_id, link_to=link_to, link_type=link_type)
    config_path = procs.log_dir / f"{label}.yaml"
    config_path.write_text(to_yaml(config) + "\n")
    proc = procs.start(label, [binary, "--config", str(config_path)])
    port = wait_listening(proc, NODE_START_TIMEOUT)
    node = StartedNode(proc, f"http://127.0.0.1:{port}", config_path)
    if link_to is not None:
        # Upstream logs "client connected endpoint=<link_to> conn_id=N" once the link is up.
        proc.wait_line(r"client connected .*endpoint=" + re.escape(link_to),
                       LINK_UP_TIMEOUT)
    return node


def start_command(procs: Procs, label: str, argv: list[str],
                  endpoint: str | None = None) -> StartedNode:
    """Run any node command (e.g. our own `slim`). With `endpoint`, wait until it accepts
    TCP connections there; without, find its single listening port in /proc."""
    proc = procs.start(label, argv)
    if endpoint is None:
        port = wait_listening(proc, NODE_START_TIMEOUT)
        return StartedNode(proc, f"http://127.0.0.1:{port}", None)
    host, port = _host_port(endpoint)
    deadline = time.monotonic() + NODE_START_TIMEOUT
    while True:
        if proc.exited():
            raise ScenarioFailure(f"{label} exited with code {proc.popen.returncode} "
                                  "while starting")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return StartedNode(proc, endpoint, None)
        except OSError:
            if time.monotonic() > deadline:
                raise ScenarioFailure(f"{label} does not accept connections on {endpoint} "
                                      f"after {NODE_START_TIMEOUT:.0f} s") from None
            time.sleep(0.05)  # polling the port; bounded by the deadline


def _host_port(endpoint: str) -> tuple[str, int]:
    rest = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ScenarioFailure(f"cannot read host:port from endpoint {endpoint!r}")
    return host.strip("[]"), int(port)


def start_py_node(procs: Procs, python: str, apps_dir: Path, label: str) -> StartedNode:
    proc = procs.start(label, [python, str(apps_dir / "py_node.py"),
                               "--listen", "127.0.0.1:0"])
    proc.wait_event("ready", NODE_START_TIMEOUT)
    port = wait_listening(proc, NODE_START_TIMEOUT)
    return StartedNode(proc, f"http://127.0.0.1:{port}", None)
