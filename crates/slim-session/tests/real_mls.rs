//! The session layer with real cryptography: `slim-auth` shared-secret identities (tokens,
//! ECDSA/Ed25519 header signatures) and `slim-mls` (RFC 9420 over mls-rs), in the simulator.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_mls::Suite;
use slim_session::{CloseReason, Event, Payload, SessionConfig, SessionId};
use slim_wire::proto::{SessionMessageType as T, message::MessageType};

use sim::real::{SECRET, app, exchange, group};
use sim::{NetConfig, Sim};

fn texts(sim: &Sim, reader: usize, session: SessionId) -> Vec<String> {
    sim.endpoints[reader]
        .inbox
        .get(&session)
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_ref().ok())
        .map(|m| String::from_utf8(m.payload.to_vec()).unwrap())
        .collect()
}

fn p2p(suite: Suite, seed: u64) {
    let mut sim = Sim::new(seed, NetConfig::hostile(0.05, 0.02));
    let alice = app(&mut sim, "alice", 1, SECRET, suite);
    let bob = app(&mut sim, "bob", 2, SECRET, suite);
    let now = sim.now;
    let (session, done) = sim.endpoints[alice]
        .layer
        .create_session(
            now,
            SessionConfig::point_to_point().with_mls(),
            "org/ns/bob".parse().unwrap(),
        )
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(alice, done).is_some()
    }));
    assert_eq!(sim.completion(alice, done), Some(Ok(())));
    sim.record();
    exchange(&mut sim, session, &[alice, bob], &[alice, bob], 0..300);
    // Payloads crossed the network as MLS ciphertext.
    let trace = sim.trace.take().unwrap();
    let data = trace.iter().find(|t| {
        matches!(&t.message.message_type, Some(MessageType::Publish(p))
            if p.session.is_some_and(|s| s.session_message_type == T::Msg as i32))
    });
    if let Some(MessageType::Publish(p)) = data.and_then(|t| t.message.message_type.as_ref()) {
        let Some(slim_wire::proto::content::ContentType::AppPayload(app)) =
            p.msg.as_ref().and_then(|m| m.content_type.as_ref())
        else {
            panic!("no payload")
        };
        assert!(
            app.blob.len() > 4,
            "a 4-byte payload became an MLS PrivateMessage"
        );
    }
    assert_eq!(sim.endpoints[alice].layer.stats().verification_failed, 0);
    assert_eq!(sim.endpoints[bob].layer.stats().verification_failed, 0);
}

#[test]
fn point_to_point_with_p256_mls_under_loss() {
    p2p(Suite::P256, 1);
}

#[test]
fn point_to_point_with_the_post_quantum_suite() {
    p2p(Suite::PostQuantum, 2);
}

#[test]
fn point_to_point_with_curve25519() {
    p2p(Suite::Curve25519, 3);
}

#[test]
fn a_group_with_real_mls_delivers_under_loss() {
    let (mut sim, session) = group(3, 4, NetConfig::hostile(0.10, 0.05));
    exchange(&mut sim, session, &[0, 2], &[0, 1, 2, 3], 0..500);
}

#[test]
fn a_removed_member_cannot_decrypt_later_messages_with_real_mls() {
    let (mut sim, session) = group(3, 5, NetConfig::perfect());
    let now = sim.now;
    sim.endpoints[2]
        .layer
        .publish(now, session, Payload::new(&b"before"[..]))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(texts(&sim, 3, session), vec!["before"]);
    // Member 3 never hears from the moderator again, keeps its keys and subscriptions.
    sim.cut_one_way(0, 3, true);
    let now = sim.now;
    let removed = sim.endpoints[3].name.clone();
    let done = sim.endpoints[0]
        .layer
        .remove(now, session, removed)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(120), |s| {
        s.completion(0, done).is_some()
    }));
    assert_eq!(sim.completion(0, done), Some(Ok(())));
    let failed_before = sim.endpoints[3].layer.stats().decrypt_failed;
    let now = sim.now;
    sim.endpoints[2]
        .layer
        .publish(now, session, Payload::new(&b"after"[..]))
        .unwrap();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        texts(&sim, 3, session),
        vec!["before"],
        "the removed member read nothing new"
    );
    assert!(sim.endpoints[3].layer.stats().decrypt_failed > failed_before);
    assert_eq!(texts(&sim, 1, session), vec!["before", "after"]);
    assert_eq!(texts(&sim, 0, session), vec!["before", "after"]);
}

#[test]
fn a_foreign_secret_cannot_join() {
    let mut sim = Sim::new(6, NetConfig::perfect());
    let alice = app(&mut sim, "alice", 1, SECRET, Suite::P256);
    let mallory = app(
        &mut sim,
        "mallory",
        3,
        "another-secret-that-is-at-least-32-bytes",
        Suite::P256,
    );
    let now = sim.now;
    let (_, done) = sim.endpoints[mallory]
        .layer
        .create_session(
            now,
            SessionConfig::point_to_point().with_mls(),
            "org/ns/alice".parse().unwrap(),
        )
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(mallory, done).is_some()
    }));
    assert!(sim.completion(mallory, done).unwrap().is_err());
    assert!(sim.endpoints[alice].layer.stats().verification_failed > 0);
    assert!(sim.endpoints[alice].new_sessions.is_empty());
}

#[test]
fn soft_close_and_rejoin_with_real_mls() {
    let (mut sim, session) = group(2, 7, NetConfig::perfect());
    let now = sim.now;
    let gone = sim.endpoints[2].layer.soft_close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(2, gone).is_some()));
    // The group moves on to a new epoch without member 2 taking part.
    app(&mut sim, "member3", 13, SECRET, Suite::P256);
    let now = sim.now;
    let invited = sim.endpoints[0]
        .layer
        .invite(now, session, "org/ns/member3".parse().unwrap())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(0, invited).is_some()
    }));
    let now = sim.now;
    let back = sim.endpoints[2].layer.rejoin(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(2, back).is_some()));
    assert_eq!(sim.completion(2, back), Some(Ok(())));
    sim.run_for(Duration::from_secs(2));
    let now = sim.now;
    sim.endpoints[3]
        .layer
        .publish(now, session, Payload::new(&b"hello again"[..]))
        .unwrap();
    sim.run_for(Duration::from_secs(3));
    assert_eq!(texts(&sim, 2, session), vec!["hello again"]);
    assert_eq!(texts(&sim, 1, session), vec!["hello again"]);
}

#[test]
fn closing_an_mls_group_ends_every_member() {
    let (mut sim, session) = group(3, 8, NetConfig::hostile(0.05, 0.0));
    let now = sim.now;
    let done = sim.endpoints[0].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    for i in 1..=3 {
        assert!(sim.endpoints[i].events.iter().any(|e| matches!(
            e,
            Event::SessionClosed {
                reason: CloseReason::ClosedByPeer,
                ..
            }
        )));
    }
}

#[test]
fn retransmissions_to_one_lagging_member_do_not_cut_the_others_off() {
    // Regression: every retransmitted copy was encrypted again, spending an MLS generation
    // the other members never see. mls-rs refuses a generation more than 1024 ahead of the
    // last one it decrypted, so a member whose acknowledgements stalled for a few seconds
    // (hundreds of messages in flight, each retransmitted with backoff) left the rest of
    // the group unable to decrypt anything more from that sender for the whole epoch.
    let (mut sim, session) = group(2, 31, NetConfig::perfect());
    let (moderator, member1, member2) = (0, 1, 2);
    exchange(&mut sim, session, &[moderator], &[member1, member2], 0..10);
    // Member 2 still receives, but its acknowledgements are lost for three seconds.
    sim.cut_one_way(member2, moderator, true);
    let mut sent = 10u32;
    let heal_at = sim.elapsed() + Duration::from_secs(3);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        while let Ok(Some(_)) = s.try_publish(
            moderator,
            session,
            Payload::new(sent.to_be_bytes().to_vec()),
        ) {
            sent += 1;
        }
        s.elapsed() >= heal_at
    }));
    sim.cut_one_way(member2, moderator, false);
    let target = sent + 600;
    assert!(
        sim.run_until(Duration::from_secs(120), |s| {
            while sent < target {
                match s.try_publish(
                    moderator,
                    session,
                    Payload::new(sent.to_be_bytes().to_vec()),
                ) {
                    Ok(Some(_)) => sent += 1,
                    _ => break,
                }
            }
            [member1, member2]
                .iter()
                .all(|&r| s.read_count(r, session) >= target as usize)
        }),
        "member1 read {}, member2 read {} of {target}",
        sim.read_count(member1, session),
        sim.read_count(member2, session)
    );
    for reader in [member1, member2] {
        let got = sim.received_by_sender(reader, session);
        let numbers: Vec<u32> = got[&sim.endpoints[moderator].name]
            .iter()
            .map(|p| u32::from_be_bytes(p.as_deref().expect("nothing lost").try_into().unwrap()))
            .collect();
        assert_eq!(numbers, (0..target).collect::<Vec<_>>(), "reader {reader}");
    }
}

#[test]
fn point_to_point_retransmissions_do_not_exhaust_the_peers_ratchet() {
    // Regression (seen through slim-rpc: a server stream stalled its caller for good):
    // point-to-point retransmissions were encrypted again, each spending a generation the
    // peer never decrypts; after a few seconds of lost acknowledgements the sender was more
    // than mls-rs' 1024 generations ahead and the peer could decrypt nothing more from it.
    let mut sim = Sim::new(41, NetConfig::perfect());
    let alice = app(&mut sim, "alice", 1, SECRET, Suite::P256);
    let bob = app(&mut sim, "bob", 2, SECRET, Suite::P256);
    let now = sim.now;
    let (session, done) = sim.endpoints[alice]
        .layer
        .create_session(
            now,
            SessionConfig::point_to_point().with_mls(),
            "org/ns/bob".parse().unwrap(),
        )
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(alice, done).is_some()
    }));
    // Bob still receives, but his acknowledgements are lost for three seconds.
    sim.cut_one_way(bob, alice, true);
    let mut sent = 0u32;
    let heal_at = sim.elapsed() + Duration::from_secs(3);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        while let Ok(Some(_)) =
            s.try_publish(alice, session, Payload::new(sent.to_be_bytes().to_vec()))
        {
            sent += 1;
        }
        s.elapsed() >= heal_at
    }));
    sim.cut_one_way(bob, alice, false);
    let target = sent + 600;
    assert!(
        sim.run_until(Duration::from_secs(120), |s| {
            while sent < target {
                match s.try_publish(alice, session, Payload::new(sent.to_be_bytes().to_vec())) {
                    Ok(Some(_)) => sent += 1,
                    _ => break,
                }
            }
            s.read_count(bob, session) >= target as usize
        }),
        "bob read {} of {target}",
        sim.read_count(bob, session)
    );
    let got = sim.received_by_sender(bob, session);
    let numbers: Vec<u32> = got[&sim.endpoints[alice].name]
        .iter()
        .map(|p| u32::from_be_bytes(p.as_deref().expect("nothing lost").try_into().unwrap()))
        .collect();
    assert_eq!(numbers, (0..target).collect::<Vec<_>>());
}
