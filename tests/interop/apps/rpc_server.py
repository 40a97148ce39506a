"""SLIM RPC server with generic handlers on raw bytes (service `interop.Echo` by default).

Methods:
  Say    unary-unary    returns b"echo:" + request
  Count  unary-stream   request = decimal N; streams N items b"0", b"1", ... then ends
  Sum    stream-unary   returns b"<items>:<total bytes>" of the request stream
  Chat   stream-stream  echoes every item back, in order
  Fail   unary-unary    request = decimal gRPC code; fails with that code and message
                        b"interop failure <code>"

Serves until SIGTERM/SIGINT, `--serve-for` seconds, or `--deadline`, then reports per-method
call counts. Events: ready, call (first call of each method, with the caller's metadata and
the remaining time of its deadline, or every call with --report-each), done | error.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal

import common
from common import emit, sb


def parse_args() -> argparse.ArgumentParser:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--service", default="interop.Echo", help="RPC service name")
    p.add_argument("--serve-for", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--report-each", action="store_true")
    return p


class Calls:
    """Counts calls per method and reports the first one of each (or all)."""

    def __init__(self, report_each: bool) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.report_each = report_each

    def saw(self, method: str, context: "sb.Context", **fields) -> None:
        self.counts[method] += 1
        if self.report_each or self.counts[method] == 1:
            try:
                remaining = context.remaining_time().total_seconds()
            except Exception:  # noqa: BLE001 - reporting only
                remaining = None
            metadata = {k: v for k, v in context.metadata().items() if not k.startswith("slim")}
            emit("call", method=method, n=self.counts[method], metadata=metadata,
                 deadline_remaining_s=round(remaining, 3) if remaining is not None else None,
                 **fields)


def make_handlers(calls: Calls) -> dict[str, tuple[str, object]]:
    class Say(sb.UnaryUnaryHandler):
        async def handle(self, request: bytes, context) -> bytes:
            calls.saw("Say", context, size=len(request))
            return b"echo:" + request

    class Count(sb.UnaryStreamHandler):
        async def handle(self, request: bytes, context, sink) -> None:
            n = int(request.decode())
            calls.saw("Count", context, items=n)
            for i in range(n):
                await sink.send_async(str(i).encode())
            await sink.close_async()

    class Sum(sb.StreamUnaryHandler):
        async def handle(self, stream, context) -> bytes:
            items = total = 0
            while True:
                msg = await stream.next_async()
                if msg.is_data():
                    items += 1
                    total += len(msg[0])
                elif msg.is_error():
                    raise msg[0]
                else:
                    break
            calls.saw("Sum", context, items=items)
            return f"{items}:{total}".encode()

    class Chat(sb.StreamStreamHandler):
        async def handle(self, stream, context, sink) -> None:
            items = 0
            while True:
                msg = await stream.next_async()
                if msg.is_data():
                    items += 1
                    await sink.send_async(msg[0])
                elif msg.is_error():
                    raise msg[0]
                else:
                    break
            calls.saw("Chat", context, items=items)
            await sink.close_async()

    class Fail(sb.UnaryUnaryHandler):
        async def handle(self, request: bytes, context) -> bytes:
            code = sb.RpcCode(int(request.decode()))
            calls.saw("Fail", context, code=code.name)
            raise sb.RpcError.Rpc(code=code, message=f"interop failure {code.value}",
                                  details=None)

    return {"Say": ("unary_unary", Say()), "Count": ("unary_stream", Count()),
            "Sum": ("stream_unary", Sum()), "Chat": ("stream_stream", Chat()),
            "Fail": ("unary_unary", Fail())}


async def serve(args: argparse.Namespace) -> int:
    sb.uniffi_set_event_loop(asyncio.get_running_loop())
    node = common.Node(args)
    calls = Calls(args.report_each)
    server = sb.Server.new_with_connection(node.app, node.name, node.conn)
    for method, (kind, handler) in make_handlers(calls).items():
        getattr(server, f"register_{kind}")(args.service, method, handler)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve_async())
    emit("ready", service=args.service, **node.ready_fields())

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({serving, stopper}, timeout=args.serve_for,
                                 return_when=asyncio.FIRST_COMPLETED)
    if serving in done:
        serving.result()  # re-raises a serve failure
        raise common.RoleFailure("server stopped on its own")
    try:
        await asyncio.wait_for(server.shutdown_async(), timeout=5.0)
    except (asyncio.TimeoutError, sb.SlimError) as exc:
        emit("warning", what="server shutdown", error=common.describe_error(exc))
    emit("done", calls=dict(calls.counts), count=sum(calls.counts.values()))
    return common.EXIT_OK


if __name__ == "__main__":
    common.main("rpc_server", parse_args(), lambda args: asyncio.run(serve(args)))
