"""P2P ping-pong: one message in flight, each sent only after the previous one's echo.

Measures what an upstream application waits for per request through a node: the time from
`publish` to the echo's arrival, with nothing else on the wire to hide a stalled write (the
pipelined `p2p_initiator --echo` keeps writes flowing). Run it against `p2p_responder.py
--echo publish`. A node whose sockets delay their ACKs to a Nagle sender shows up here as
round trips of 40-90 ms instead of about a millisecond.

Events: ready, session, pingpong {p50_ms, p99_ms, max_ms}, done | error.
"""

from __future__ import annotations

import argparse
import time

import common
from common import RoleFailure, emit, td


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    common.add_session_args(p)
    p.add_argument("--peer", required=True, help="name of the responder, org/ns/app")
    p.add_argument("--count", type=int, default=200, help="round trips")
    p.add_argument("--payload-size", type=int, default=64)
    p.add_argument("--session-timeout", type=float, default=30.0,
                   help="max time to establish the session")
    p.add_argument("--echo-timeout", type=float, default=10.0, help="max wait for one echo")
    return p


def run(args: argparse.Namespace) -> int:
    node = common.Node(args)
    peer = common.parse_name(args.peer)
    node.route(peer)
    emit("ready", **node.ready_fields())

    started = time.monotonic()
    created = node.app.create_session(common.session_config("p2p", args), peer)
    common.wait_completion(created.completion, args.session_timeout, "session setup")
    session = created.session
    emit("session", setup_s=round(time.monotonic() - started, 3), **common.describe_session(session))

    sender = common.name_str(node.name)
    latencies: list[float] = []
    for seq in range(args.count):
        sent = time.monotonic()
        session.publish(common.data_payload(seq, sender, args.payload_size), None, None)
        echo = common.parse_payload(session.get_message(td(args.echo_timeout)).payload)
        if echo.get("seq") != seq:
            raise RoleFailure("echo out of step", expected=seq, got=echo.get("seq"))
        latencies.append(time.monotonic() - sent)
    emit("pingpong", count=args.count, **common.percentiles(latencies))
    deleted = node.delete_session(session, timeout=10.0)
    emit("done", count=args.count, deleted=deleted)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("p2p_pingpong", parse_args(), run)
