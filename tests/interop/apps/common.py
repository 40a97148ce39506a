"""Plumbing shared by the interop role apps (run with upstream's `slim_bindings` 3.3.8).

Every role app is a small CLI that talks to one SLIM node and reports what it saw as JSON
lines, so the scenario runner (and a human at a shell) can check the outcome:

* Only JSON events go to the process's stdout. Upstream's Rust tracing also writes to
  stdout, so at import time the original stdout file descriptor is kept for events and
  fd 1 is pointed at stderr; tracing and any stray `print` land in stderr.
* Every wait has a timeout, and a watchdog ends the process (exit code 124, after an
  `error` event) if the whole run exceeds `--deadline` seconds: a role app never hangs.
* Failures are `{"event": "error", ...}` plus a non-zero exit code; `main()` wraps a role
  function so that an uncaught exception becomes exactly that.

Data payloads are small JSON documents (`{"k": "data", "seq": 17, "from": "org/ns/a"}`)
so every receiver can check order and attribute each message to its sender.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable

# Keep the real stdout for events; send everything else written to fd 1 to stderr.
_EVENT_FD = os.dup(1)
os.dup2(2, 1)
_EVENTS = os.fdopen(_EVENT_FD, "w", buffering=1, encoding="utf-8")
_EVENTS_LOCK = threading.Lock()
_T0 = time.monotonic()

import slim_bindings as sb  # noqa: E402  (must come after the fd juggling above)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DEADLINE = 124


def td(seconds: float) -> datetime.timedelta:
    """uniffi maps Rust `Duration` to `datetime.timedelta`."""
    return datetime.timedelta(seconds=seconds)


def emit(event: str, **fields: Any) -> None:
    """Write one JSON event line on the real stdout (thread-safe, flushed)."""
    record = {"event": event, "t": round(time.monotonic() - _T0, 4)}
    record.update(fields)
    line = json.dumps(record, default=str, separators=(",", ":"))
    with _EVENTS_LOCK:
        _EVENTS.write(line + "\n")
        _EVENTS.flush()


class RoleFailure(Exception):
    """A check inside a role failed; reported as an `error` event, exit code 1."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--node", required=True, help="node endpoint, e.g. http://127.0.0.1:46357")
    p.add_argument("--secret", required=True, help="shared secret (>= 32 bytes)")
    p.add_argument("--name", required=True, help="own name, org/ns/app")
    p.add_argument("--deadline", type=float, default=120.0,
                   help="hard limit for the whole run in seconds (watchdog)")
    p.add_argument("--connect-timeout", type=float, default=15.0,
                   help="how long to keep retrying the first connection to the node")
    p.add_argument("--log-level", default=os.environ.get("SLIM_INTEROP_LOG", "warn"),
                   help="upstream tracing level, to stderr (env SLIM_INTEROP_LOG)")
    return p


def add_session_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-mls", dest="mls", action="store_false", help="disable MLS")
    p.add_argument("--unreliable", dest="reliable", action="store_false",
                   help="fire-and-forget data (no max_retries/interval)")
    p.add_argument("--max-retries", type=int, default=10)
    p.add_argument("--interval", type=float, default=1.0, help="retransmission interval, s")


def parse_name(text: str) -> "sb.Name":
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise RoleFailure(f"name must be org/ns/app, got {text!r}")
    return sb.Name(*parts)


def name_str(name: "sb.Name | None", with_id: bool = False) -> str | None:
    if name is None:
        return None
    text = "/".join(name.components())
    if with_id:
        text += "/" + name.id()
    return text


def session_config(kind: str, args: argparse.Namespace,
                   metadata: dict[str, str] | None = None) -> "sb.SessionConfig":
    """SessionConfig from the common flags; `kind` is "p2p" or "group"."""
    session_type = sb.SessionType.POINT_TO_POINT if kind == "p2p" else sb.SessionType.GROUP
    mls = (sb.MlsSettings(header_integrity_validation_percent=100,
                          max_seen_control_message_ids_size=None) if args.mls else None)
    return sb.SessionConfig(
        session_type=session_type,
        max_retries=args.max_retries if args.reliable else None,
        interval=td(args.interval) if args.reliable else None,
        metadata=metadata or {},
        mls_settings=mls,
    )


def describe_session(session: "sb.Session") -> dict[str, Any]:
    cfg = session.config()
    return {
        "session_id": session.session_id(),
        "type": "group" if cfg.session_type == sb.SessionType.GROUP else "p2p",
        "source": name_str(session.source()),
        "destination": name_str(session.destination()),
        "mls": cfg.mls_settings is not None,
        "reliable": cfg.max_retries is not None and cfg.interval is not None,
        "initiator": session.is_initiator(),
    }


class Node:
    """One connection from this process to a node, and the app on it."""

    def __init__(self, args: argparse.Namespace) -> None:
        if len(args.secret.encode()) < 32:
            raise RoleFailure("shared secret must be at least 32 bytes")
        sb.initialize_with_configs(
            sb.new_runtime_config(),
            sb.new_tracing_config_with(args.log_level, False, False, []),
            [sb.new_service_config()],
        )
        self.service = sb.get_global_service()
        self.conn = self._connect(args.node, args.connect_timeout)
        self.name = parse_name(args.name)
        self.app = self.service.create_app_with_secret(self.name, args.secret)
        # Subscribe our own name upstream so the node can deliver to us.
        self.app.subscribe(self.name, self.conn)

    def _connect(self, endpoint: str, timeout: float) -> int:
        # The bindings retry a refused connection forever by default (fixed 2 s backoff),
        # which would hang `connect`; bound the attempts so it fails after ~`timeout` s.
        config = sb.new_insecure_client_config(endpoint)
        interval = 0.25
        config.backoff = sb.BackoffConfig.FIXED_INTERVAL(sb.FixedIntervalBackoff(
            interval=td(interval), max_attempts=max(1, int(timeout / interval))))
        try:
            return self.service.connect(config)
        except sb.SlimError as exc:
            raise RoleFailure(f"cannot connect to {endpoint}: "
                              f"{' '.join(describe_error(exc).split())}") from exc

    def route(self, name: "sb.Name") -> None:
        """Messages for `name` leave through the node connection."""
        self.app.set_route(name, self.conn)

    def ready_fields(self) -> dict[str, Any]:
        return {"name": name_str(self.name), "id": self.app.id(), "conn": self.conn}

    def delete_session(self, session: "sb.Session", timeout: float) -> bool:
        """Delete a session, waiting at most `timeout` s; False if it did not finish."""
        try:
            self.app.delete_session(session).wait_for(td(timeout))
            return True
        except sb.SlimError as exc:
            emit("warning", what="delete_session", error=describe_error(exc))
            return False


def wait_completion(handle: "sb.CompletionHandle", timeout: float, what: str) -> None:
    """Wait for a completion handle; a timeout or failure names what was awaited."""
    try:
        handle.wait_for(td(timeout))
    except sb.SlimError as exc:
        if isinstance(exc, sb.SlimError.Timeout):
            raise RoleFailure(f"{what}: not completed within {timeout} s") from exc
        raise


def describe_error(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return f"{type(exc).__name__}: {message}" if message is not None else repr(exc)


def is_closed_error(exc: BaseException) -> bool:
    return "session closed" in (getattr(exc, "message", None) or str(exc))


def is_timeout_error(exc: BaseException) -> bool:
    text = getattr(exc, "message", None) or str(exc)
    return isinstance(exc, getattr(sb.SlimError, "Timeout", ())) or "timeout" in text.lower()


def data_payload(seq: int, sender: str, size: int, kind: str = "data", **extra: Any) -> bytes:
    """A JSON payload padded to at least `size` bytes."""
    doc: dict[str, Any] = {"k": kind, "seq": seq, "from": sender}
    doc.update(extra)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    if len(raw) < size:
        doc["pad"] = "x" * (size - len(raw) - 9)
        raw = json.dumps(doc, separators=(",", ":")).encode()
    return raw


def parse_payload(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RoleFailure("payload is not one of ours", payload=raw[:64].hex()) from exc
    if not isinstance(doc, dict) or "k" not in doc:
        raise RoleFailure("payload is not one of ours", payload=raw[:64].hex())
    doc.pop("pad", None)
    return doc


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/max of latencies in seconds, reported in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 3)}


def _watchdog(deadline_s: float) -> None:
    def fire() -> None:
        emit("error", error=f"deadline of {deadline_s} s exceeded", where="watchdog")
        os._exit(EXIT_DEADLINE)

    timer = threading.Timer(deadline_s, fire)
    timer.daemon = True
    timer.start()


def main(role: str, parser: argparse.ArgumentParser,
         body: Callable[[argparse.Namespace], int]) -> None:
    """Parse args, arm the watchdog, run `body`, turn failures into `error` events.

    Ends with `os._exit` so that no runtime thread of the bindings can keep the process
    alive after the result is known.
    """
    args = parser.parse_args()
    _watchdog(args.deadline)
    code = EXIT_FAILED
    try:
        code = body(args)
    except RoleFailure as exc:
        emit("error", role=role, error=str(exc), **exc.details)
    except sb.SlimError as exc:
        emit("error", role=role, error=describe_error(exc),
             trace=traceback.format_exc(limit=3))
    except KeyboardInterrupt:
        emit("error", role=role, error="interrupted")
        code = 130
    except Exception as exc:  # noqa: BLE001 - any crash must become an event
        emit("error", role=role, error=repr(exc), trace=traceback.format_exc(limit=5))
    _shutdown_bindings(timeout=5.0)
    with _EVENTS_LOCK:
        _EVENTS.flush()
    sys.stderr.flush()
    os._exit(code)


def _shutdown_bindings(timeout: float) -> None:
    """Shut the bindings' runtime down so that queued outbound messages (e.g. the reply to
    the peer's close) reach the node before the process ends; bounded by `timeout`."""
    if not sb.is_initialized():
        return
    t0 = time.monotonic()
    worker = threading.Thread(target=sb.shutdown_blocking, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        emit("warning", what="bindings shutdown did not finish", timeout_s=timeout)
    elif os.environ.get("SLIM_INTEROP_DEBUG"):
        emit("debug", what="bindings shutdown", seconds=round(time.monotonic() - t0, 3))
