"""Group member: joins the group it is invited to, receives, reports, optionally publishes.

Sequence (every step bounded by a timeout):
 1. wait for an invitation (`listen_for_session`);
 2. with `--publish K`: after the moderator's `start`, publish K numbered messages;
 3. with `--checkpoint C`: after C data messages in total, publish a `checkpoint`;
 4. after `--expect` data messages in total, publish `done` (the moderator closes the group
    once every member said done);
 5. wait for the session to close; report everything seen.

A member may be removed before step 4: with `--expect-removal` that is the expected end.

Events: ready, session, received {seq, sender} (unless --quiet), control, closed,
done | error.
`done` carries per-sender counts and order checks, and `removed` (closed before all
expected messages arrived).
"""

from __future__ import annotations

import argparse
import threading
import time

import common
import groupio
from common import RoleFailure, emit, td


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--expect", type=int, required=True,
                   help="data messages (from all senders) to receive before saying done")
    p.add_argument("--publish", type=int, default=0, help="own messages to publish after start")
    p.add_argument("--checkpoint", type=int, default=None,
                   help="send a checkpoint after this many data messages")
    p.add_argument("--expect-removal", action="store_true",
                   help="being removed before --expect messages is success")
    p.add_argument("--payload-size", type=int, default=64)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--listen-timeout", type=float, default=60.0)
    p.add_argument("--ack-timeout", type=float, default=30.0)
    p.add_argument("--wait-timeout", type=float, default=60.0,
                   help="max wait for each step (start, messages, close)")
    p.add_argument("--recv-timeout", type=float, default=5.0, help="receive poll interval")
    p.add_argument("--quiet", dest="report_each", action="store_false",
                   help="no `received` event per message, only the summary")
    return p


def wait_closed(inbox: groupio.Inbox, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with inbox.cond:
        while inbox.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            inbox.cond.wait(left)
    return True


def run(args: argparse.Namespace) -> int:
    node = common.Node(args)
    me = common.name_str(node.name)
    emit("ready", **node.ready_fields())

    session = node.app.listen_for_session(td(args.listen_timeout))
    joined_at = time.monotonic()
    emit("session", **common.describe_session(session))

    inbox = groupio.Inbox(args.report_each)
    receiver = threading.Thread(target=groupio.receive_loop,
                                args=(session, inbox, args.recv_timeout), daemon=True)
    receiver.start()
    pub = groupio.Publisher(session, me, args.payload_size, args.window, args.ack_timeout)

    said_done = False
    try:
        if args.publish > 0:
            inbox.wait_until("start", lambda: bool(inbox.control.get("start")), args.wait_timeout)
            elapsed = pub.publish_run(args.publish)
            emit("published", count=args.publish, elapsed_s=round(elapsed, 3))
        if args.checkpoint is not None:
            inbox.wait_until(f"{args.checkpoint} messages for the checkpoint",
                             lambda: inbox.total() >= args.checkpoint, args.wait_timeout)
            # Not awaited: upstream never completes a publish that a member removed right
            # after receiving it had to ack (see README), and the moderator removes one as
            # soon as it has every checkpoint.
            pub.control("checkpoint", wait=False, received=inbox.total())
        inbox.wait_until(f"{args.expect} messages", lambda: inbox.total() >= args.expect,
                         args.wait_timeout)
        said_done = True  # once handed over, the moderator may close before our acks return
        pub.control("done", closing_ok=True, received=inbox.total())
    except RoleFailure:
        if not (args.expect_removal and inbox.closed is not None):
            raise

    if not wait_closed(inbox, args.wait_timeout):
        raise RoleFailure("the session was not closed by the moderator",
                          received=inbox.summary())
    inbox.raise_if_failed()
    pub.check_unfinished(timeout=1.0)
    summary = inbox.summary()
    removed = not said_done
    emit("closed", reason=inbox.closed, removed=removed,
         after_s=round(time.monotonic() - joined_at, 3))
    result = {"count": summary["total"], "in_order": summary["in_order"], "removed": removed,
              "published": pub.next_seq, "per_sender": summary["per_sender"]}
    if not summary["in_order"]:
        raise RoleFailure("messages out of order", **result)
    if summary["total"] > args.expect:
        raise RoleFailure("more messages than expected", **result)
    emit("done", **result)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("group_member", parse_args(), run)
