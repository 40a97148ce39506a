//! Point-to-point sessions in the simulator: handshake, reliable delivery under a hostile
//! network, fire-and-forget, close.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::{
    CloseReason, Event, LayerConfig, Payload, Role, SessionConfig, SessionId, Unverified,
};
use slim_wire::Name;

use sim::{NetConfig, Sim};

fn bob() -> Name {
    "org/ns/bob".parse().unwrap()
}

/// Two apps; alice creates a P2P session to bob and waits for the handshake.
fn connected(net: NetConfig, config: SessionConfig, seed: u64) -> (Sim, SessionId, SessionId) {
    let mut sim = Sim::new(seed, net);
    let alice = sim.add(
        "org/ns/alice",
        1,
        Unverified::new("alice"),
        None,
        LayerConfig::default(),
    );
    let bob_ix = sim.add(
        "org/ns/bob",
        2,
        Unverified::new("bob"),
        None,
        LayerConfig::default(),
    );
    let now = sim.now;
    let (session, done) = sim.endpoints[alice]
        .layer
        .create_session(now, config, bob())
        .unwrap();
    assert!(
        sim.run_until(Duration::from_secs(60), |s| s
            .completion(alice, done)
            .is_some()),
        "handshake did not finish"
    );
    assert_eq!(sim.completion(alice, done), Some(Ok(())));
    let info = sim.endpoints[bob_ix]
        .new_sessions
        .first()
        .cloned()
        .expect("bob's session");
    assert_eq!(info.id, session);
    assert_eq!(info.role, Role::Participant);
    (sim, session, info.id)
}

/// Publishes `count` numbered messages from `from` as fast as flow control allows, until
/// every one is read by the `readers`.
fn pump(sim: &mut Sim, from: usize, session: SessionId, count: u32, readers: &[usize]) -> bool {
    let mut next = 0u32;
    sim.run_until(Duration::from_secs(3600), |s| {
        while next < count {
            match s.try_publish(from, session, Payload::new(next.to_be_bytes().to_vec())) {
                Ok(Some(_)) => next += 1,
                Ok(None) => break,
                Err(e) => panic!("publish failed: {e}"),
            }
        }
        readers
            .iter()
            .all(|r| s.read_count(*r, session) >= count as usize)
    })
}

fn numbers(payloads: &[Option<Vec<u8>>]) -> Vec<u32> {
    payloads
        .iter()
        .map(|p| {
            let bytes = p.as_ref().expect("no message may be lost");
            u32::from_be_bytes(bytes.as_slice().try_into().unwrap())
        })
        .collect()
}

#[test]
fn handshake_completes_and_both_sides_know_each_other() {
    let (sim, session, _) = connected(NetConfig::perfect(), SessionConfig::point_to_point(), 1);
    let alice = &sim.endpoints[0];
    let roster = alice.layer.participants(session).unwrap();
    assert_eq!(roster.len(), 2);
    assert_eq!(roster[1].name, sim.endpoints[1].name);
    let bob = &sim.endpoints[1];
    let info = bob.layer.session_info(session).unwrap();
    assert_eq!(info.moderator, alice.name);
    assert_eq!(info.destination, alice.name);
}

#[test]
fn ten_thousand_messages_survive_loss_duplication_and_reordering() {
    let (mut sim, session, _) = connected(
        NetConfig::hostile(0.10, 0.05),
        SessionConfig::point_to_point(),
        7,
    );
    assert!(
        pump(&mut sim, 0, session, 10_000, &[1]),
        "not everything arrived"
    );
    let received = sim.received_by_sender(1, session);
    let from_alice = received
        .get(&sim.endpoints[0].name)
        .expect("alice's messages");
    assert_eq!(numbers(from_alice), (0..10_000).collect::<Vec<_>>());
    // Nothing else was delivered (exactly once).
    assert_eq!(sim.read_count(1, session), 10_000);
}

#[test]
fn both_directions_at_once_stay_ordered() {
    let (mut sim, session, _) = connected(
        NetConfig::hostile(0.10, 0.05),
        SessionConfig::point_to_point(),
        11,
    );
    let mut sent = [0u32; 2];
    let ok = sim.run_until(Duration::from_secs(3600), |s| {
        for (from, count) in sent.iter_mut().enumerate() {
            while *count < 3000 {
                let payload = Payload::new(count.to_be_bytes().to_vec());
                match s.try_publish(from, session, payload) {
                    Ok(Some(_)) => *count += 1,
                    _ => break,
                }
            }
        }
        s.read_count(0, session) >= 3000 && s.read_count(1, session) >= 3000
    });
    assert!(ok);
    for (reader, writer) in [(0, 1), (1, 0)] {
        let got = sim.received_by_sender(reader, session);
        let from = got.get(&sim.endpoints[writer].name).unwrap();
        assert_eq!(numbers(from), (0..3000).collect::<Vec<_>>());
    }
}

#[test]
fn fire_and_forget_delivers_without_acks() {
    let config = SessionConfig::point_to_point().with_reliability(None);
    let (mut sim, session, _) = connected(NetConfig::perfect(), config, 3);
    assert!(pump(&mut sim, 0, session, 500, &[1]));
    // No MsgAck ever crosses the network in fire-and-forget mode.
    sim.record();
    assert!(pump(&mut sim, 0, session, 1000, &[1]));
    let acks = sim
        .trace
        .as_ref()
        .unwrap()
        .iter()
        .filter(|t| sim::kind(&t.message) == slim_wire::proto::SessionMessageType::MsgAck)
        .count();
    assert_eq!(acks, 0);
}

#[test]
fn moderator_close_ends_both_sides() {
    let (mut sim, session, _) = connected(NetConfig::perfect(), SessionConfig::point_to_point(), 5);
    let now = sim.now;
    let done = sim.endpoints[0].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(0, done).is_some()));
    assert_eq!(sim.completion(0, done), Some(Ok(())));
    let closed = |i: usize, sim: &Sim| {
        sim.endpoints[i].events.iter().find_map(|e| match e {
            Event::SessionClosed { session: s, reason } if *s == session => Some(reason.clone()),
            _ => None,
        })
    };
    assert_eq!(closed(0, &sim), Some(CloseReason::Local));
    assert_eq!(closed(1, &sim), Some(CloseReason::ClosedByPeer));
    assert!(sim.endpoints[1].layer.session_info(session).is_none());
    // A driver resolving `close()` on the completion must already know the session closed.
    let position = |matches: &dyn Fn(&Event) -> bool| {
        sim.endpoints[0].events.iter().position(matches).unwrap()
    };
    let announced =
        position(&|e| matches!(e, Event::SessionClosed { session: s, .. } if *s == session));
    let completed = position(&|e| matches!(e, Event::Completed { id, .. } if *id == done));
    assert!(
        announced < completed,
        "close announced at {announced}, completed at {completed}"
    );
}

#[test]
fn participant_close_ends_both_sides() {
    let (mut sim, session, _) = connected(NetConfig::perfect(), SessionConfig::point_to_point(), 6);
    let now = sim.now;
    let done = sim.endpoints[1].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(1, done).is_some()));
    assert!(sim.endpoints[0].layer.session_info(session).is_none());
    assert!(sim.endpoints[1].layer.session_info(session).is_none());
}
