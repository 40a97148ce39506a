"""Group moderator: creates a group session, invites members, publishes, optionally removes one.

Sequence (every step bounded by a timeout):
 1. create the group session on `--channel` (MLS on unless --no-mls) and invite each member;
 2. publish `start` (members given --publish K begin publishing their own messages);
 3. publish `--count` numbered messages and wait until every publish completed;
 4. with `--remove NAME`: wait for a `checkpoint` from every member (each has seen all of
    phase 1) and remove NAME; then publish `--count-after` more messages;
 5. wait for a `done` from every remaining member and for `--expect` data messages from the
    members, then close the group (members see the session close).

Events: ready, session, invited, participants, start, published, removed, member_report,
done | error. `member_report` carries what each member said it had seen (its checkpoint/done
message), which is how the moderator observes acknowledgement beyond the transport acks.
"""

from __future__ import annotations

import argparse
import threading
import time

import common
import groupio
from common import RoleFailure, emit


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    common.add_session_args(p)
    p.add_argument("--channel", required=True, help="group channel name, org/ns/chan")
    p.add_argument("--members", required=True, help="comma-separated member names")
    p.add_argument("--count", type=int, default=100, help="messages in phase 1")
    p.add_argument("--remove", default=None, help="member to remove after phase 1")
    p.add_argument("--count-after", type=int, default=0,
                   help="messages in phase 2 (after the removal, if any)")
    p.add_argument("--expect", type=int, default=0,
                   help="data messages the moderator must receive from members")
    p.add_argument("--payload-size", type=int, default=64)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--invite-timeout", type=float, default=30.0)
    p.add_argument("--ack-timeout", type=float, default=30.0)
    p.add_argument("--wait-timeout", type=float, default=60.0,
                   help="max wait for checkpoints / done reports from members")
    p.add_argument("--recv-timeout", type=float, default=5.0, help="receive poll interval")
    p.add_argument("--report-each", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    node = common.Node(args)
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    if args.remove is not None and args.remove not in members:
        raise RoleFailure(f"--remove {args.remove} is not in --members")
    me = common.name_str(node.name)
    emit("ready", **node.ready_fields())

    started = time.monotonic()
    channel = common.parse_name(args.channel)
    created = node.app.create_session(common.session_config("group", args), channel)
    common.wait_completion(created.completion, args.invite_timeout, "group creation")
    session = created.session
    emit("session", **common.describe_session(session))

    for member in members:
        name = common.parse_name(member)
        node.route(name)
        t0 = time.monotonic()
        common.wait_completion(session.invite(name), args.invite_timeout, f"invite {member}")
        emit("invited", member=member, elapsed_s=round(time.monotonic() - t0, 3))
    emit("participants", list=groupio.participants(session))

    inbox = groupio.Inbox(args.report_each)
    receiver = threading.Thread(target=groupio.receive_loop,
                                args=(session, inbox, args.recv_timeout), daemon=True)
    receiver.start()
    pub = groupio.Publisher(session, me, args.payload_size, args.window, args.ack_timeout)
    pub.control("start", members=len(members))
    emit("start")

    elapsed = pub.publish_run(args.count)
    emit("published", phase=1, count=args.count, elapsed_s=round(elapsed, 3),
         msgs_per_s=round(args.count / elapsed, 1) if elapsed > 0 else None)

    remaining = list(members)
    if args.remove is not None:
        inbox.wait_until("checkpoints from every member",
                         lambda: set(members) <= inbox.senders_of("checkpoint"),
                         args.wait_timeout)
        t0 = time.monotonic()
        common.wait_completion(session.remove(common.parse_name(args.remove)),
                               args.invite_timeout, f"remove {args.remove}")
        remaining.remove(args.remove)
        emit("removed", member=args.remove, elapsed_s=round(time.monotonic() - t0, 3),
             after_seq=pub.next_seq - 1)
        emit("participants", list=groupio.participants(session))
    if args.count_after > 0:
        elapsed = pub.publish_run(args.count_after)
        emit("published", phase=2, count=args.count_after, elapsed_s=round(elapsed, 3))

    inbox.wait_until("done from every remaining member and all member data",
                     lambda: set(remaining) <= inbox.senders_of("done")
                     and inbox.total() >= args.expect,
                     args.wait_timeout)
    with inbox.cond:
        reports = {kind: list(docs) for kind, docs in inbox.control.items()}
    for kind in ("checkpoint", "done"):
        for doc in reports.get(kind, []):
            emit("member_report", kind=kind, member=doc["from"], received=doc.get("received"))

    inbox.raise_if_failed()
    summary = inbox.summary()
    deleted = node.delete_session(session, timeout=15.0)
    result = {"published": pub.next_seq, "members": members, "removed": args.remove,
              "received": summary, "deleted": deleted,
              "elapsed_s": round(time.monotonic() - started, 3)}
    if summary["total"] != args.expect or not summary["in_order"]:
        raise RoleFailure("moderator did not receive the members' messages in order", **result)
    emit("done", count=pub.next_seq, in_order=True, **result)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("group_moderator", parse_args(), run)
