#!/usr/bin/env python3
"""Summarises `perf script` output (recorded with --call-graph dwarf) by where time goes.

Each sample is attributed to the first category whose marker appears in its stack (leaf
first), so the shares add up to 100 %. Also lists who calls memmove/memcpy.

    perf record -e cpu-clock --call-graph dwarf -p PID -o perf.data -- sleep 5
    perf script -i perf.data | bench/profile_summary.py
"""
import collections
import re
import sys

# (category, markers): the first marker found walking from the leaf up decides.
CATEGORIES = [
    ("header MAC verify (HMAC-SHA256)", ["InboundMac::check", "HeaderMac::verify"]),
    ("header MAC sign (HMAC-SHA256)", ["HeaderMac::sign", "sign_forwarded"]),
    ("frame parse (validation)", ["FrameDecoder", "frame::parse::parse"]),
    ("frame encode (copy into HTTP/2 buffer)", ["FrameEncoder", "encode_forwarded"]),
    ("routing (slim-router)", ["slim_router::"]),
    ("memory allocation", ["malloc", "_int_free", "cfree", "realloc"]),
    ("node outbox / fan-out", ["slim_node::node::outbox", "Outbox::"]),
    ("HTTP/2 + gRPC framing (h2, tonic, hyper)", ["h2::", "tonic::", "hyper::"]),
    ("socket syscalls (kernel TCP)", ["tcp_", "sock_", "__sys_sendmsg", "__sys_recvmsg", "sendmsg", "recvmsg", "do_writev", "ksys_read", "ksys_write"]),
    ("tokio scheduling and wake-ups", ["tokio::runtime::scheduler", "tokio::runtime::park", "tokio::runtime::io", "tokio::runtime::time", "tokio::runtime::task::waker", "tokio::sync", "futex", "epoll", "schedule", "eventfd", "wake"]),
    ("node receive loop (slim-node core, link)", ["slim_node::", "slim_transport::link", "slim_transport::queue"]),
]


def frames_of(sample):
    out = []
    for line in sample.split("\n")[1:]:
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            out.append(re.sub(r"\+0x[0-9a-f]+", "", parts[1]))
    return out


def main():
    text = sys.stdin.read()
    samples = [s for s in text.split("\n\n") if s.strip()]
    cats = collections.Counter()
    leaves = collections.Counter()
    copies = collections.Counter()
    for s in samples:
        frames = frames_of(s)
        if not frames:
            continue
        leaf = re.sub(r" \(.*\)$", "", frames[0])
        leaves[leaf[:100]] += 1
        cat = "other"
        if "sha2::" in leaf or "digest::" in leaf:
            # SHA-NI code has no unwind info: the caller is unknown, but only the MAC hashes.
            cat = "header MAC, sign or verify (SHA-256 blocks)"
        for frame in frames if cat == "other" else []:
            hit = next((c for c, ms in CATEGORIES if any(m in frame for m in ms)), None)
            if hit:
                cat = hit
                break
        cats[cat] += 1
        if "memmove" in leaf or "memcpy" in leaf:
            caller = next((f for f in frames[1:] if "memmove" not in f and "memcpy" not in f
                           and not f.startswith(("copy_", "core::", "alloc::", "<alloc", "bytes::", "<bytes", "put_slice", "extend_from_slice"))), "?")
            copies[re.sub(r" \(.*\)$", "", caller)[:110]] += 1
    total = sum(cats.values()) or 1
    print(f"{total} samples")
    print("\nwhere the time goes (first matching frame from the leaf):")
    for c, n in cats.most_common():
        print(f"  {100 * n / total:5.1f} %  {c}")
    print("\nhottest functions (leaf):")
    for f, n in leaves.most_common(15):
        print(f"  {100 * n / total:5.1f} %  {f}")
    if copies:
        print("\nmemmove/memcpy called from:")
        for f, n in copies.most_common(8):
            print(f"  {100 * n / total:5.1f} %  {f}")


if __name__ == "__main__":
    main()
