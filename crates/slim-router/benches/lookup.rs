//! Routing-table lookup speed: how long [`Router::handle_frame`] takes to route one publish
//! with 10 000 and 1 000 000 subscriptions installed.
//!
//! The table holds `n` exact-name subscriptions: services of 100 instances each
//! (`org/bench/svc<s>/<i>`), spread over 64 edge connections. Each measured call hands the
//! router one publish (a cheap clone of a prepared frame) and clears the reused output `Vec`,
//! which is exactly what the node does per message. Destinations cycle through 4096 random
//! names so large tables are measured with cold caches, as in production.
//!
//! Run: `cargo bench -p slim-router --bench lookup`.

// A bench may stop on a setup error; criterion's macros generate undocumented items.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use slim_router::{ConnId, ConnKind, Output, Router, RouterConfig};
use slim_wire::{Frame, InstanceId, Name, builders};

const CONNECTIONS: u64 = 64;
const INSTANCES: u64 = 100;
const SENDER: ConnId = ConnId(1_000);

fn service(s: u64) -> Name {
    Name::new("org", "bench", &format!("svc{s}")).expect("valid name")
}

/// Resident memory of this process in KiB (Linux), for a rough cost per subscription.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A router holding `n` subscriptions.
fn loaded_router(n: u64) -> Router {
    let rss_before = rss_kib();
    let now = Instant::now();
    let mut router = Router::new(RouterConfig::default(), 7);
    let mut out = Vec::new();
    for conn in 0..CONNECTIONS {
        router.add_connection(ConnId(conn), ConnKind::Edge, now, &mut out);
    }
    router.add_connection(SENDER, ConnKind::Edge, now, &mut out);
    let started = Instant::now();
    for s in 0..n / INSTANCES {
        let svc = service(s);
        for i in 0..INSTANCES {
            let name = svc.with_id(InstanceId(u128::from(i)));
            let message = builders::subscribe(&name, &name, s * INSTANCES + i + 1);
            let frame = Frame::from_message(&message).expect("valid frame");
            let conn = ConnId((s * INSTANCES + i) % CONNECTIONS);
            router.handle_frame(conn, frame, now, &mut out);
            out.clear();
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{n} subscriptions installed in {elapsed:.2?} ({:.0} subscribe/s, frame building included)",
        n as f64 / elapsed.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (rss_before, rss_kib()) {
        let bytes = after.saturating_sub(before) * 1024;
        eprintln!(
            "resident memory grew by {} MiB ({} bytes per subscription)",
            bytes >> 20,
            bytes / n.max(1)
        );
    }
    router
}

/// 4096 publishes to random existing names; `any` for anycast, `fanout` as given.
fn publishes(n: u64, any: bool, fanout: u32) -> Vec<Frame> {
    let mut rng = StdRng::seed_from_u64(3);
    let sender = Name::new("org", "bench", "sender").expect("valid name");
    (0..4096)
        .map(|_| {
            let svc = service(rng.gen_range(0..n / INSTANCES));
            let dst = if any {
                svc
            } else {
                svc.with_id(InstanceId(u128::from(rng.gen_range(0..INSTANCES))))
            };
            let message = builders::publish(&sender, &dst, fanout, "msg", vec![0u8; 64].into());
            Frame::from_message(&message).expect("valid frame")
        })
        .collect()
}

fn route_all(c: &mut Criterion) {
    for n in [10_000u64, 1_000_000] {
        let mut router = loaded_router(n);
        let now = Instant::now();
        let mut group = c.benchmark_group(format!("route_publish/{n}_subscriptions"));
        let cases = [
            ("unicast", publishes(n, false, 1)),
            ("anycast", publishes(n, true, 1)),
            ("broadcast_to_64_conns", publishes(n, true, 256)),
        ];
        for (label, frames) in cases {
            let mut out: Vec<Output> = Vec::with_capacity(128);
            let mut next = 0usize;
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter(|| {
                    let frame = frames[next % frames.len()].clone();
                    next += 1;
                    router.handle_frame(SENDER, frame, now, &mut out);
                    black_box(out.len());
                    out.clear();
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = route_all
}
criterion_main!(benches);
