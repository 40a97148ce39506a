//! Micro-benchmarks of what a node does per message, for 64 B and 4 KiB publishes:
//!
//! - `name_hash`: hashing a name component (XXH64 + 0xFF) and building a `Name`;
//! - `frame_parse`: `Frame::parse` of a received publish (header MAC and identity included);
//! - `frame_encode_forwarded`: `Frame::encode_forwarded` into a reused buffer, as the
//!   transport's encoder does for each output link;
//! - `header_mac`: HMAC-SHA256 over the header preimage, signing (outbound) and verifying
//!   (inbound) with slim-transport's implementation;
//! - `hop`: all four together, the per-message work of one forwarding hop minus routing and
//!   I/O.
//!
//! Routing-table lookup is measured in `slim-router` (`cargo bench -p slim-router --bench
//! lookup`) and MLS in `slim-mls` (`cargo bench -p slim-mls --bench encrypt_decrypt`).
//!
//! Run: `cargo bench -p slim-bench --bench hot_paths`.

// A bench may stop on a setup error; criterion's macros generate undocumented items.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use slim_transport::mac::{InboundMac, MacKey};
use slim_wire::hash::component_hash;
use slim_wire::{Frame, InstanceId, Name, builders};

const SIZES: [usize; 2] = [64, 4096];

/// A publish as a node receives it from a client: signed for the link, with an identity
/// token of typical size (about 230 bytes, as upstream's shared-secret tokens).
fn received_publish(size: usize, key: &MacKey) -> Bytes {
    let source = Name::new("org", "bench", "publisher")
        .unwrap()
        .with_id(InstanceId(42));
    let destination = Name::new("org", "bench", "subscriber").unwrap();
    let mut message = builders::publish(
        &source,
        &destination,
        1,
        "msg",
        Bytes::from(vec![0xa5; size]),
    );
    if let Some(slim_wire::proto::message::MessageType::Publish(publish)) =
        &mut message.message_type
        && let Some(header) = &mut publish.header
    {
        header.identity = "x".repeat(230);
    }
    let frame = Frame::from_message(&message).unwrap();
    let tag = key.header_mac().sign_forwarded(&frame, 8).unwrap();
    frame.to_forwarded_bytes(8, Some(&tag))
}

fn name_hash(c: &mut Criterion) {
    let mut group = c.benchmark_group("name_hash");
    group.bench_function("component", |b| {
        b.iter(|| component_hash(black_box("agntcy-service")))
    });
    group.bench_function("name_new", |b| {
        b.iter(|| {
            Name::new(
                black_box("org"),
                black_box("namespace"),
                black_box("service"),
            )
        })
    });
    group.finish();
}

fn frame(c: &mut Criterion) {
    let key = MacKey::new("link-id", &[7; 32]);
    let mut parse = c.benchmark_group("frame_parse");
    for size in SIZES {
        let bytes = received_publish(size, &key);
        parse.throughput(Throughput::Elements(1));
        parse.bench_with_input(BenchmarkId::from_parameter(size), &bytes, |b, bytes| {
            b.iter(|| Frame::parse(black_box(bytes.clone())).unwrap())
        });
    }
    parse.finish();

    let mut encode = c.benchmark_group("frame_encode_forwarded");
    for size in SIZES {
        let frame = Frame::parse(received_publish(size, &key)).unwrap();
        let tag = [9u8; 32];
        let mut out = BytesMut::with_capacity(64 * 1024);
        encode.throughput(Throughput::Bytes(frame.len() as u64));
        encode.bench_with_input(BenchmarkId::from_parameter(size), &frame, |b, frame| {
            b.iter(|| {
                out.clear();
                frame.encode_forwarded(&mut out, black_box(7), Some(&tag));
                black_box(out.len())
            })
        });
    }
    encode.finish();
}

fn header_mac(c: &mut Criterion) {
    let key = MacKey::new("link-id", &[7; 32]);
    let frame = Frame::parse(received_publish(64, &key)).unwrap();
    let mut group = c.benchmark_group("header_mac");
    let mut signer = key.header_mac();
    group.bench_function("sign", |b| {
        b.iter(|| signer.sign_forwarded(black_box(&frame), 7).unwrap())
    });
    let mut inbound = InboundMac::new(Some(&key), true);
    group.bench_function("verify", |b| {
        b.iter(|| inbound.check(black_box(&frame)).unwrap())
    });
    group.finish();
}

fn hop(c: &mut Criterion) {
    let inbound_key = MacKey::new("inbound-link", &[7; 32]);
    let outbound_key = MacKey::new("outbound-link", &[8; 32]);
    let mut group = c.benchmark_group("hop");
    for size in SIZES {
        let bytes = received_publish(size, &inbound_key);
        let mut inbound = InboundMac::new(Some(&inbound_key), true);
        let mut signer = outbound_key.header_mac();
        let mut out = BytesMut::with_capacity(64 * 1024);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &bytes, |b, bytes| {
            b.iter(|| {
                let frame = Frame::parse(bytes.clone()).unwrap();
                inbound.check(&frame).unwrap();
                let ttl = frame.ttl() - 1;
                let tag = signer.sign_forwarded(&frame, ttl).unwrap();
                out.clear();
                frame.encode_forwarded(&mut out, ttl, Some(&tag));
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, name_hash, frame, header_mac, hop);
criterion_main!(benches);
