//! Applications with real cryptography for the simulator: `slim-auth` shared-secret
//! identities (tokens, header signatures) and `slim-mls` (RFC 9420 over mls-rs), a group of
//! them, and a numbered exchange whose delivery is checked exactly.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
use slim_auth::{SignatureScheme, SigningKey};
use slim_mls::Suite;
use slim_session::{AuthIdentity, LayerConfig, Payload, SessionConfig, SessionId, SlimMls};
use slim_wire::Name;

use super::{NetConfig, Sim};

/// The secret every application of a test shares.
pub const SECRET: &str = "a-shared-secret-of-at-least-32-bytes-for-tests";

/// Adds an application `org/ns/{service}` with a shared-secret identity and MLS in `suite`.
pub fn app(sim: &mut Sim, service: &str, id: u128, secret: &str, suite: Suite) -> usize {
    let scheme = match suite {
        Suite::P256 => SignatureScheme::EcdsaP256Sha256,
        Suite::Curve25519 | Suite::PostQuantum => SignatureScheme::Ed25519,
    };
    let key = SigningKey::generate(scheme, &mut StdRng::seed_from_u64(id as u64));
    let name = format!("org/ns/{service}");
    let provider =
        IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new(name.clone(), secret))
            .build(key)
            .unwrap();
    let verifier = IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(secret))
        .build(None)
        .unwrap();
    let identity = AuthIdentity::new(Arc::clone(&provider), Arc::clone(&verifier));
    let mls = SlimMls::new(provider, verifier, suite);
    sim.add(
        &name,
        id,
        identity,
        Some(Box::new(mls)),
        LayerConfig::default(),
    )
}

/// A moderator (endpoint 0) and `members` members (endpoints 1..) in a P-256 MLS group on
/// `org/ns/chan`, every invite finished.
pub fn group(members: usize, seed: u64, net: NetConfig) -> (Sim, SessionId) {
    let mut sim = Sim::new(seed, net);
    let session = group_in(&mut sim, members, true);
    (sim, session)
}

/// [`group`] in a simulation the caller made (to record the handshake, for example), with
/// or without MLS (the identities are real either way).
pub fn group_in(sim: &mut Sim, members: usize, mls: bool) -> SessionId {
    app(sim, "moderator", 10, SECRET, Suite::P256);
    for i in 1..=members {
        app(
            sim,
            &format!("member{i}"),
            10 + i as u128,
            SECRET,
            Suite::P256,
        );
    }
    let now = sim.now;
    let config = if mls {
        SessionConfig::group().with_mls()
    } else {
        SessionConfig::group()
    };
    let (session, _) = sim.endpoints[0]
        .layer
        .create_session(now, config, "org/ns/chan".parse().unwrap())
        .unwrap();
    for i in 1..=members {
        let now = sim.now;
        let name: Name = format!("org/ns/member{i}").parse().unwrap();
        let done = sim.endpoints[0].layer.invite(now, session, name).unwrap();
        // The completion arrives only once the invitee joined the MLS group.
        loop {
            sim.flush();
            if let Some(result) = sim.completion(0, done) {
                assert_eq!(result, Ok(()), "invite {i}");
                break;
            }
            assert!(sim.step(), "idle before invite {i} finished");
        }
        assert_eq!(
            sim.endpoints[i].new_sessions.len(),
            1,
            "member {i} joined first"
        );
    }
    session
}

/// alice (endpoint 0) and bob (endpoint 1), and a point-to-point session alice created to
/// bob, with or without MLS, handshake done.
pub fn pair_in(sim: &mut Sim, mls: bool) -> SessionId {
    app(sim, "alice", 1, SECRET, Suite::P256);
    app(sim, "bob", 2, SECRET, Suite::P256);
    let config = if mls {
        SessionConfig::point_to_point().with_mls()
    } else {
        SessionConfig::point_to_point()
    };
    let now = sim.now;
    let (session, done) = sim.endpoints[0]
        .layer
        .create_session(now, config, "org/ns/bob".parse().unwrap())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    assert_eq!(sim.completion(0, done), Some(Ok(())), "session set up");
    session
}

/// Publishes the numbers `numbers` (4 bytes, big-endian) from each sender, and checks that
/// every reader has by then read each other sender's numbers `0..numbers.end` exactly once
/// and in order (earlier exchanges sent the ones below `numbers.start`).
pub fn exchange(
    sim: &mut Sim,
    session: SessionId,
    senders: &[usize],
    readers: &[usize],
    numbers: Range<u32>,
) {
    let mut next = vec![numbers.start; sim.endpoints.len()];
    let count = (numbers.end - numbers.start) as usize;
    let before: Vec<usize> = (0..sim.endpoints.len())
        .map(|i| sim.read_count(i, session))
        .collect();
    let ok = sim.run_until(Duration::from_secs(3600), |s| {
        for &from in senders {
            while next[from] < numbers.end {
                match s.try_publish(
                    from,
                    session,
                    Payload::new(next[from].to_be_bytes().to_vec()),
                ) {
                    Ok(Some(_)) => next[from] += 1,
                    Ok(None) => break,
                    Err(e) => panic!("publish: {e}"),
                }
            }
        }
        readers.iter().all(|&r| {
            let others = senders.iter().filter(|&&w| w != r).count();
            s.read_count(r, session) >= before[r] + others * count
        })
    });
    assert!(ok, "not everything arrived");
    for &reader in readers {
        let got = sim.received_by_sender(reader, session);
        for &writer in senders.iter().filter(|&&w| w != reader) {
            let numbers_read: Vec<u32> = got[&sim.endpoints[writer].name]
                .iter()
                .filter_map(|p| p.as_ref())
                .filter(|p| p.len() == 4)
                .map(|p| u32::from_be_bytes(p.as_slice().try_into().unwrap()))
                .collect();
            assert_eq!(
                numbers_read,
                (0..numbers.end).collect::<Vec<_>>(),
                "{writer} -> {reader}"
            );
        }
    }
}
