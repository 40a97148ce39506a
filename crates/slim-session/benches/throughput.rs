//! Throughput of the session layer itself: two (or nine) layers wired through the simulator's
//! network with no loss and no delay, every message encoded and decoded with prost as a real
//! driver would. Figures are per core and include the simulator's own bookkeeping, so they
//! are a lower bound of what the layer sustains; the end-to-end benchmark through a node lives
//! in `slim-bench`.
//!
//! Run: `cargo bench -p slim-session --bench throughput`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
use slim_auth::{SignatureScheme, SigningKey};
use slim_session::{
    AuthIdentity, LayerConfig, Payload, SessionConfig, SessionId, SlimMls, Unverified,
};

use sim::{NetConfig, Sim};

const MESSAGES: u32 = 20_000;
const SECRET: &str = "benchmark-secret-of-at-least-32-bytes!!";

fn instant_network() -> NetConfig {
    NetConfig {
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        ..NetConfig::perfect()
    }
}

fn add(sim: &mut Sim, service: &str, id: u128, mls: bool) -> usize {
    let name = format!("org/ns/{service}");
    if !mls {
        return sim.add(
            &name,
            id,
            Unverified::new(service),
            None,
            LayerConfig::default(),
        );
    }
    let key = SigningKey::generate(
        SignatureScheme::EcdsaP256Sha256,
        &mut StdRng::seed_from_u64(id as u64),
    );
    let provider =
        IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new(name.clone(), SECRET))
            .build(key)
            .unwrap();
    let verifier = IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(SECRET))
        .build(None)
        .unwrap();
    let identity = AuthIdentity::new(Arc::clone(&provider), Arc::clone(&verifier));
    let mls = SlimMls::new(provider, verifier, slim_mls::Suite::P256);
    sim.add(
        &name,
        id,
        identity,
        Some(Box::new(mls)),
        LayerConfig::default(),
    )
}

/// A session from 0 to the others; returns once every invite finished.
fn setup(config: SessionConfig, members: usize, mls: bool) -> (Sim, SessionId) {
    let mut sim = Sim::new(1, instant_network());
    add(&mut sim, "sender", 1, mls);
    for i in 1..=members {
        add(&mut sim, &format!("receiver{i}"), 1 + i as u128, mls);
    }
    let now = sim.now;
    let group = members > 1;
    let target = if group {
        "org/ns/chan"
    } else {
        "org/ns/receiver1"
    };
    let (session, done) = sim.endpoints[0]
        .layer
        .create_session(now, config, target.parse().unwrap())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    if group {
        for i in 1..=members {
            let now = sim.now;
            let name = format!("org/ns/receiver{i}").parse().unwrap();
            let done = sim.endpoints[0].layer.invite(now, session, name).unwrap();
            assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
        }
    }
    (sim, session)
}

/// Publishes `MESSAGES` payloads of 64 bytes and runs until every receiver read them.
fn pump(sim: &mut Sim, session: SessionId, members: usize) {
    let targets: Vec<usize> = (1..=members)
        .map(|i| sim.read_count(i, session) + MESSAGES as usize)
        .collect();
    let mut sent = 0;
    let payload = bytes::Bytes::from(vec![7u8; 64]);
    assert!(sim.run_until(Duration::from_secs(36_000), |s| {
        while sent < MESSAGES {
            match s.try_publish(0, session, Payload::new(payload.clone())) {
                Ok(Some(_)) => sent += 1,
                _ => break,
            }
        }
        (1..=members).all(|i| s.read_count(i, session) >= targets[i - 1])
    }));
    for endpoint in &mut sim.endpoints {
        endpoint.inbox.clear();
        endpoint.events.clear();
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_layer");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let cases: [(&str, SessionConfig, usize, bool); 4] = [
        (
            "p2p_reliable_64B",
            SessionConfig::point_to_point(),
            1,
            false,
        ),
        (
            "p2p_reliable_mls_64B",
            SessionConfig::point_to_point().with_mls(),
            1,
            true,
        ),
        (
            "p2p_fire_and_forget_64B",
            SessionConfig::point_to_point().with_reliability(None),
            1,
            false,
        ),
        (
            "group_1_to_8_fire_and_forget_64B",
            SessionConfig::group().with_reliability(None),
            8,
            false,
        ),
    ];
    for (label, config, members, mls) in cases {
        let (mut sim, session) = setup(config, members, mls);
        group.throughput(Throughput::Elements(u64::from(MESSAGES) * members as u64));
        group.bench_function(label, |b| b.iter(|| pump(&mut sim, session, members)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
