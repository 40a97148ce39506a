"""SLIM RPC client: calls the rpc_server methods, checks every answer, reports latencies.

Checks run in this order, each optional (0 disables it):
  --unary N        N sequential Say calls: exact echo, latency p50/p99
  --concurrent C   C Say calls at once on the same channel: every answer matches its request
  --stream K       Count(K): K items, in order, then a clean end; items/s
  --client-stream K  Sum over K items: server reports K items and their total size
  --bidi K         Chat with K items: every item echoed, in order
  --fail-code C    Fail(C): the call fails with gRPC code C and the server's message

Events: ready, one event per check (unary, concurrent, stream, client_stream, bidi, fail),
done {ok} | error. Exit 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import common
from common import RoleFailure, emit, sb, td

METADATA = {"x-interop": "slim-rs"}


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="RPC server name, org/ns/app")
    p.add_argument("--service", default="interop.Echo")
    p.add_argument("--unary", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=20)
    p.add_argument("--stream", type=int, default=1000)
    p.add_argument("--client-stream", type=int, default=100)
    p.add_argument("--bidi", type=int, default=100)
    p.add_argument("--fail-code", type=int, default=5, help="gRPC code for Fail (0 = skip)")
    p.add_argument("--call-timeout", type=float, default=30.0, help="deadline of each call")
    return p


async def check_unary(ch, args) -> dict:
    latencies = []
    for i in range(args.unary):
        request = f"hello-{i}".encode()
        t0 = time.monotonic()
        reply = await ch.call_unary_async(args.service, "Say", request, td(args.call_timeout),
                                          METADATA)
        latencies.append(time.monotonic() - t0)
        if reply != b"echo:" + request:
            raise RoleFailure("unary reply mismatch", request=request, reply=reply[:80])
    # The first call also pays for session setup (discovery, MLS welcome): report it apart.
    return {"count": args.unary, "first_call_ms": round(latencies[0] * 1000, 3),
            **common.percentiles(latencies[1:] or latencies)}


async def check_concurrent(ch, args) -> dict:
    requests = [f"parallel-{i}".encode() for i in range(args.concurrent)]
    t0 = time.monotonic()
    replies = await asyncio.gather(*(
        ch.call_unary_async(args.service, "Say", r, td(args.call_timeout), METADATA)
        for r in requests))
    elapsed = time.monotonic() - t0
    bad = [i for i, (q, a) in enumerate(zip(requests, replies)) if a != b"echo:" + q]
    if bad:
        raise RoleFailure("concurrent replies mismatch", indexes=bad[:10])
    return {"count": len(requests), "elapsed_s": round(elapsed, 3)}


async def check_stream(ch, args) -> dict:
    t0 = time.monotonic()
    reader = await ch.call_unary_stream_async(args.service, "Count", str(args.stream).encode(),
                                              td(args.call_timeout), METADATA)
    items = []
    while True:
        msg = await reader.next_async()
        if msg.is_data():
            items.append(msg[0])
        elif msg.is_error():
            raise RoleFailure(f"stream failed after {len(items)} items: {msg[0]!r}")
        else:
            break
    elapsed = time.monotonic() - t0
    expected = [str(i).encode() for i in range(args.stream)]
    if items != expected:
        first_bad = next((i for i, (a, b) in enumerate(zip(items, expected)) if a != b),
                         min(len(items), len(expected)))
        raise RoleFailure("stream items missing or out of order", received=len(items),
                          first_bad=first_bad)
    return {"items": len(items), "in_order": True, "elapsed_s": round(elapsed, 3),
            "items_per_s": round(len(items) / elapsed, 1) if elapsed > 0 else None}


async def check_client_stream(ch, args) -> dict:
    writer = ch.call_stream_unary(args.service, "Sum", td(args.call_timeout), METADATA)
    total = 0
    for i in range(args.client_stream):
        item = f"item-{i}".encode()
        total += len(item)
        await writer.send_async(item)
    reply = await writer.finalize_async()
    if reply != f"{args.client_stream}:{total}".encode():
        raise RoleFailure("client-stream result mismatch", reply=reply[:80],
                          expected=f"{args.client_stream}:{total}")
    return {"items": args.client_stream, "reply": reply.decode()}


async def check_bidi(ch, args) -> dict:
    handler = ch.call_stream_stream(args.service, "Chat", td(args.call_timeout), METADATA)
    sent = [f"chat-{i}".encode() for i in range(args.bidi)]

    async def send_all() -> None:
        for item in sent:
            await handler.send_async(item)
        await handler.close_send_async()

    async def recv_all() -> list:
        got = []
        while True:
            msg = await handler.recv_async()
            if msg.is_data():
                got.append(msg[0])
            elif msg.is_error():
                raise RoleFailure(f"bidi stream failed after {len(got)} items: {msg[0]!r}")
            else:
                return got

    _, got = await asyncio.gather(send_all(), recv_all())
    if got != sent:
        raise RoleFailure("bidi echoes missing or out of order", received=len(got))
    return {"items": len(got), "in_order": True}


async def check_fail(ch, args) -> dict:
    code = sb.RpcCode(args.fail_code)
    try:
        reply = await ch.call_unary_async(args.service, "Fail", str(code.value).encode(),
                                          td(args.call_timeout), METADATA)
    except sb.RpcError.Rpc as exc:
        if exc.code != code or exc.message != f"interop failure {code.value}":
            raise RoleFailure("wrong error from Fail", code=str(exc.code),
                              message=exc.message) from exc
        return {"code": exc.code.name, "message": exc.message}
    raise RoleFailure("Fail call succeeded", reply=reply[:80])


async def call_all(args: argparse.Namespace) -> int:
    sb.uniffi_set_event_loop(asyncio.get_running_loop())
    node = common.Node(args)
    server = common.parse_name(args.server)
    node.route(server)
    emit("ready", **node.ready_fields())
    ch = sb.Channel.new_with_connection(node.app, server, node.conn)
    checks = [("unary", args.unary, check_unary), ("concurrent", args.concurrent, check_concurrent),
              ("stream", args.stream, check_stream),
              ("client_stream", args.client_stream, check_client_stream),
              ("bidi", args.bidi, check_bidi), ("fail", args.fail_code, check_fail)]
    ran = []
    for label, amount, check in checks:
        if amount:
            emit(label, ok=True, **await check(ch, args))
            ran.append(label)
    try:
        await asyncio.wait_for(ch.close_async(td(5)), timeout=10.0)
    except (asyncio.TimeoutError, sb.SlimError) as exc:
        emit("warning", what="channel close", error=common.describe_error(exc))
    emit("done", ok=True, checks=ran)
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("rpc_client", parse_args(), lambda args: asyncio.run(call_all(args)))
