"""P2P responder: waits for a point-to-point session, receives numbered messages, checks order.

With `--echo publish` every message is sent back with a normal session publish (reliable and
ordered like the initiator's stream); `--echo publish_to` answers with `publish_to`, which
upstream sends out of band (PUBLISH_TO metadata, no ordering guarantee). The run ends when
`--count` messages arrived (then it waits for its echoes to complete and for the initiator to
close the session) or, without `--count`, when the initiator closes the session.

Events: ready, session, received {seq, sender} (unless --quiet), done | error.
"""

from __future__ import annotations

import argparse
import collections
import time

import common
from common import RoleFailure, emit, sb, td


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help="messages expected (optional)")
    p.add_argument("--echo", choices=["none", "publish", "publish_to"], default="none")
    p.add_argument("--listen-timeout", type=float, default=60.0,
                   help="max wait for the initiator to open the session")
    p.add_argument("--recv-timeout", type=float, default=30.0, help="max silence between messages")
    p.add_argument("--ack-timeout", type=float, default=30.0,
                   help="max wait for one echo publish to complete")
    p.add_argument("--close-timeout", type=float, default=20.0,
                   help="after the last message, max wait for the initiator to close")
    p.add_argument("--window", type=int, default=256, help="max echo publishes in flight")
    p.add_argument("--expect-mls", choices=["any", "on", "off"], default="any")
    p.add_argument("--quiet", dest="report_each", action="store_false",
                   help="no `received` event per message, only the summary")
    return p


def run(args: argparse.Namespace) -> int:
    node = common.Node(args)
    emit("ready", **node.ready_fields())

    session = node.app.listen_for_session(td(args.listen_timeout))
    info = common.describe_session(session)
    emit("session", **info)
    if args.expect_mls != "any" and info["mls"] != (args.expect_mls == "on"):
        raise RoleFailure(f"session MLS is {info['mls']}, expected {args.expect_mls}")

    seqs: list[int] = []
    senders: set[str] = set()
    pending: collections.deque = collections.deque()
    closed_by_peer = False
    first_at = None
    while args.count is None or len(seqs) < args.count:
        try:
            msg = session.get_message(td(args.recv_timeout))
        except sb.SlimError as exc:
            if common.is_closed_error(exc):
                closed_by_peer = True
                break
            raise RoleFailure(f"receive failed after {len(seqs)} messages: "
                              f"{common.describe_error(exc)}", received=len(seqs)) from exc
        first_at = first_at or time.monotonic()
        doc = common.parse_payload(msg.payload)
        seq = doc.get("seq")
        sender = common.name_str(msg.context.source_name)
        seqs.append(seq)
        senders.add(sender)
        if args.report_each:
            emit("received", seq=seq, sender=sender)
        if args.echo == "publish":
            pending.append(session.publish(msg.payload, None, None))
        elif args.echo == "publish_to":
            pending.append(session.publish_to(msg.context, msg.payload, None, None))
        while len(pending) >= args.window:
            common.wait_completion(pending.popleft(), args.ack_timeout, "echo publish")
    while pending:
        common.wait_completion(pending.popleft(), args.ack_timeout, "echo publish")
    receive_s = time.monotonic() - first_at if first_at else 0.0

    if not closed_by_peer:
        # Wait (bounded) for the initiator to delete the session: proof it got what it needed.
        try:
            extra = session.get_message(td(args.close_timeout))
            raise RoleFailure("unexpected message after the expected count",
                              payload=extra.payload[:80].decode(errors="replace"))
        except sb.SlimError as exc:
            closed_by_peer = common.is_closed_error(exc)
            if not closed_by_peer:
                emit("warning", what="initiator did not close the session",
                     error=common.describe_error(exc))
                node.delete_session(session, timeout=10.0)

    in_order = seqs == list(range(len(seqs)))
    complete = args.count is None or len(seqs) == args.count
    result = {"count": len(seqs), "in_order": in_order, "complete": complete,
              "senders": sorted(senders), "closed_by_peer": closed_by_peer,
              "receive_s": round(receive_s, 3)}
    if not (in_order and complete):
        raise RoleFailure("messages missing or out of order", **result)
    emit("done", **result)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("p2p_responder", parse_args(), run)
