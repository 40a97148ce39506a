"""P2P initiator: opens a point-to-point session to a peer and sends numbered messages.

Reliable (max_retries + interval) with MLS by default. Publishing is pipelined: up to
`--window` publishes may be unacknowledged at once, so a run of 1000 messages does not pay
one delayed-ACK round trip per message. With `--echo` it also collects the peer's echoes
on a second thread, checks that they arrive complete and in order, and reports per-message
round-trip latency (send time to echo receipt).

Events: ready, session, published, echoes, done | error. Exit 0 only if every publish
completed and (with --echo) every echo came back in order.
"""

from __future__ import annotations

import argparse
import collections
import threading
import time

import common
from common import RoleFailure, emit, sb, td


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    common.add_session_args(p)
    p.add_argument("--peer", required=True, help="name of the responder, org/ns/app")
    p.add_argument("--count", type=int, default=1000, help="messages to send")
    p.add_argument("--payload-size", type=int, default=64)
    p.add_argument("--window", type=int, default=256,
                   help="max publishes awaiting completion (1 = strictly sequential)")
    p.add_argument("--echo", action="store_true", help="expect every message echoed back")
    p.add_argument("--session-timeout", type=float, default=30.0,
                   help="max time to establish the session")
    p.add_argument("--ack-timeout", type=float, default=30.0,
                   help="max wait for one publish to complete")
    p.add_argument("--recv-timeout", type=float, default=30.0,
                   help="max silence while waiting for echoes")
    p.add_argument("--report-each", action="store_true", help="one event per echo")
    return p


class EchoCollector(threading.Thread):
    """Receives echoes until `expected` arrived, the session closes, or silence times out."""

    def __init__(self, session: "sb.Session", expected: int, sent_at: dict[int, float],
                 recv_timeout: float, report_each: bool) -> None:
        super().__init__(daemon=True)
        self.session, self.expected, self.sent_at = session, expected, sent_at
        self.recv_timeout, self.report_each = recv_timeout, report_each
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        self.failure: str | None = None

    def run(self) -> None:
        while len(self.seqs) < self.expected:
            try:
                msg = self.session.get_message(td(self.recv_timeout))
            except sb.SlimError as exc:
                self.failure = common.describe_error(exc)
                return
            now = time.monotonic()
            try:
                doc = common.parse_payload(msg.payload)
            except RoleFailure as exc:
                self.failure = f"{exc} {exc.details}"
                return
            seq = doc.get("seq")
            if not isinstance(seq, int):
                self.failure = f"echo without a sequence number: {doc}"
                return
            self.seqs.append(seq)
            sent = self.sent_at.get(seq)
            if sent is not None:
                self.latencies.append(now - sent)
            if self.report_each:
                emit("received", seq=seq, sender=common.name_str(msg.context.source_name))


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
    sent_at: dict[int, float] = {}
    collector = None
    if args.echo:
        collector = EchoCollector(session, args.count, sent_at, args.recv_timeout, args.report_each)
        collector.start()

    pending: collections.deque = collections.deque()
    t0 = time.monotonic()
    for seq in range(args.count):
        payload = common.data_payload(seq, sender, args.payload_size)
        sent_at[seq] = time.monotonic()
        pending.append(session.publish(payload, None, None))
        while len(pending) >= args.window:
            common.wait_completion(pending.popleft(), args.ack_timeout, "publish")
    while pending:
        common.wait_completion(pending.popleft(), args.ack_timeout, "publish")
    publish_s = time.monotonic() - t0
    emit("published", count=args.count, elapsed_s=round(publish_s, 3),
         msgs_per_s=round(args.count / publish_s, 1) if publish_s > 0 else None)

    ok = True
    result: dict = {"count": args.count}
    if collector is not None:
        collector.join(args.recv_timeout * 2 + 5)
        if collector.is_alive():
            raise RoleFailure("echo collector did not finish", received=len(collector.seqs))
        in_order = collector.seqs == list(range(args.count))
        echo_s = time.monotonic() - t0
        emit("echoes", received=len(collector.seqs), in_order=in_order,
             elapsed_s=round(echo_s, 3), **common.percentiles(collector.latencies))
        result.update(echoes=len(collector.seqs), in_order=in_order)
        if collector.failure is not None:
            result["echo_error"] = collector.failure
        ok = in_order and collector.failure is None
        if not in_order:
            result["first_mismatch"] = next(
                (i for i, s in enumerate(collector.seqs) if s != i), len(collector.seqs))
    else:
        result["in_order"] = True  # nothing to check on the sending side

    deleted = node.delete_session(session, timeout=10.0)
    result.update(elapsed_s=round(time.monotonic() - started, 3), deleted=deleted)
    if not ok:
        raise RoleFailure("echoes incomplete or out of order", **result)
    emit("done", **result)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("p2p_initiator", parse_args(), run)
