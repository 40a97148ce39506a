"""Bookkeeping shared by the group moderator and group member apps.

Group traffic mixes three kinds of payloads (see `common.data_payload`):
* `data`  — numbered messages, counted per sender and checked for order;
* `start` — moderator to all: every participant is in, members may start publishing;
* `checkpoint` / `done` — member to all: "I have seen N data messages" (the moderator uses
  them to know when it may remove a member or close the group; other members ignore them).

`Inbox` records all of it, thread-safely, and lets a thread wait (with a timeout) for a
condition over what has arrived. `Publisher` sends a run of numbered data messages with a
bounded number of unfinished publishes.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable

import common
from common import RoleFailure, emit, sb, td


class Inbox:
    def __init__(self, report_each: bool) -> None:
        self.report_each = report_each
        self.cond = threading.Condition()
        self.seqs: dict[str, list[int]] = collections.defaultdict(list)
        self.control: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.closed: str | None = None  # why receiving stopped, once it has
        self.failed = False  # receiving stopped on an error, not a normal close

    def record(self, msg: "sb.ReceivedMessage") -> dict[str, Any]:
        doc = common.parse_payload(msg.payload)
        sender = common.name_str(msg.context.source_name)
        if doc.get("from") != sender:
            raise RoleFailure("payload sender differs from the wire source",
                              wire=sender, payload=doc.get("from"))
        with self.cond:
            if doc["k"] == "data":
                self.seqs[sender].append(doc["seq"])
            else:
                self.control[doc["k"]].append(doc)
            self.cond.notify_all()
        if doc["k"] == "data":
            if self.report_each:
                emit("received", seq=doc["seq"], sender=sender)
        else:
            emit("control", kind=doc["k"], sender=sender,
                 **{k: v for k, v in doc.items() if k not in ("k", "from", "seq")})
        return doc

    def mark_closed(self, why: str, failed: bool = False) -> None:
        with self.cond:
            self.closed = why
            self.failed = failed
            self.cond.notify_all()

    def raise_if_failed(self) -> None:
        with self.cond:
            if self.failed:
                raise RoleFailure(f"receiving failed: {self.closed}",
                                  summary=self.summary_locked())

    def total(self) -> int:
        with self.cond:
            return sum(len(s) for s in self.seqs.values())

    def count_from(self, sender: str) -> int:
        with self.cond:
            return len(self.seqs.get(sender, ()))

    def senders_of(self, kind: str) -> set[str]:
        with self.cond:
            return {c["from"] for c in self.control.get(kind, ())}

    def wait_until(self, what: str, cond: Callable[[], bool], timeout: float) -> None:
        """Wait until `cond()` holds (evaluated under the lock) or fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not cond():
                if self.closed is not None:
                    raise RoleFailure(f"session ended ({self.closed}) while waiting for {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RoleFailure(f"timed out after {timeout} s waiting for {what}",
                                      summary=self.summary_locked())
                self.cond.wait(left)

    def summary(self) -> dict[str, Any]:
        with self.cond:
            return self.summary_locked()

    def summary_locked(self) -> dict[str, Any]:
        per_sender = {}
        for sender, seqs in self.seqs.items():
            first = seqs[0] if seqs else 0
            per_sender[sender] = {
                "count": len(seqs),
                "first": first,
                "last": seqs[-1] if seqs else None,
                "in_order": seqs == list(range(first, first + len(seqs))),
            }
        return {"total": sum(len(s) for s in self.seqs.values()), "per_sender": per_sender,
                "in_order": all(v["in_order"] for v in per_sender.values())}


def receive_loop(session: "sb.Session", inbox: Inbox, recv_timeout: float) -> None:
    """Receive until the session closes or fails. Silence is not an error here (the loop
    polls every `recv_timeout` s); whoever waits on the inbox has its own timeout."""
    while True:
        try:
            msg = session.get_message(td(recv_timeout))
        except sb.SlimError as exc:
            if common.is_closed_error(exc):
                inbox.mark_closed("session closed")
                return
            if common.is_timeout_error(exc):
                continue
            inbox.mark_closed(f"receive failed: {common.describe_error(exc)}", failed=True)
            return
        try:
            inbox.record(msg)
        except RoleFailure as exc:
            inbox.mark_closed(f"bad message: {exc} {exc.details}", failed=True)
            return


class Publisher:
    """Publishes numbered data messages with at most `window` unfinished completions."""

    def __init__(self, session: "sb.Session", sender: str, payload_size: int,
                 window: int, ack_timeout: float) -> None:
        self.session, self.sender = session, sender
        self.payload_size, self.window, self.ack_timeout = payload_size, window, ack_timeout
        self.next_seq = 0
        self.unfinished: list[tuple[str, Any]] = []  # (kind, handle) published with wait=False

    def check_unfinished(self, timeout: float) -> None:
        """Report control publishes that did not complete (bounded wait for each)."""
        for kind, handle in self.unfinished:
            try:
                handle.wait_for(td(timeout))
            except sb.SlimError as exc:
                if not common.is_closed_error(exc):  # closing drops what is still pending
                    emit("warning", what=f"{kind} publish never completed",
                         error=common.describe_error(exc))
        self.unfinished.clear()

    def publish_run(self, count: int) -> float:
        """Publish `count` messages and wait for all completions; returns seconds taken."""
        started = time.monotonic()
        pending: collections.deque = collections.deque()
        for _ in range(count):
            payload = common.data_payload(self.next_seq, self.sender, self.payload_size)
            self.next_seq += 1
            pending.append(self.session.publish(payload, None, None))
            while len(pending) >= self.window:
                common.wait_completion(pending.popleft(), self.ack_timeout, "publish")
        while pending:
            common.wait_completion(pending.popleft(), self.ack_timeout, "publish")
        return time.monotonic() - started

    def control(self, kind: str, closing_ok: bool = False, wait: bool = True,
                **fields: Any) -> None:
        """Publish a control payload and wait for its completion. With `closing_ok`, a
        session closed meanwhile is fine: the message was handed over, and the moderator
        may legitimately close the group (or remove us) as soon as it has it. With
        `wait=False` the completion is only checked by `check_unfinished`."""
        payload = common.data_payload(0, self.sender, 0, kind=kind, **fields)
        handle = self.session.publish(payload, None, None)
        if not wait:
            self.unfinished.append((kind, handle))
            return
        try:
            common.wait_completion(handle, self.ack_timeout, f"{kind} publish")
        except sb.SlimError as exc:
            if not (closing_ok and common.is_closed_error(exc)):
                raise


def participants(session: "sb.Session") -> list[dict[str, str]]:
    return [{"name": common.name_str(p.name), "status": p.status.name}
            for p in session.participants_list()]
