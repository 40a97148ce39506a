//! Group sessions in the simulator: invitations, delivery to every member under a hostile
//! network, crashes, removal, leaving and closing.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::{
    CloseReason, CompletionError, Event, LayerConfig, MemberStatus, ParticipantChange, Payload,
    SessionConfig, SessionId, Unverified,
};
use slim_wire::Name;
use slim_wire::proto::{self, SessionMessageType as T, message::MessageType};

use sim::{NetConfig, Sim};

/// A moderator (index 0) and `members` participants (1..=members) in one group session.
pub fn group(net: NetConfig, config: SessionConfig, members: usize, seed: u64) -> (Sim, SessionId) {
    let mut sim = Sim::new(seed, net);
    sim.add(
        "org/ns/moderator",
        100,
        Unverified::new("m"),
        None,
        LayerConfig::default(),
    );
    for i in 1..=members {
        let name = format!("org/ns/member{i}");
        sim.add(
            &name,
            100 + i as u128,
            Unverified::new("p"),
            None,
            LayerConfig::default(),
        );
    }
    let now = sim.now;
    let channel: Name = "org/ns/chan".parse().unwrap();
    let (session, created) = sim.endpoints[0]
        .layer
        .create_session(now, config, channel)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.completion(0, created).is_some()
    }));
    for i in 1..=members {
        let now = sim.now;
        let name: Name = format!("org/ns/member{i}").parse().unwrap();
        let done = sim.endpoints[0].layer.invite(now, session, name).unwrap();
        assert!(
            sim.run_until(Duration::from_secs(600), |s| s
                .completion(0, done)
                .is_some()),
            "invite {i} did not finish"
        );
        assert_eq!(sim.completion(0, done), Some(Ok(())), "invite {i}");
        assert_eq!(
            sim.endpoints[i].new_sessions.len(),
            1,
            "member {i} announced"
        );
    }
    (sim, session)
}

fn numbers(payloads: &[Option<Vec<u8>>]) -> Vec<u32> {
    payloads
        .iter()
        .map(|p| u32::from_be_bytes(p.as_ref().expect("lost").as_slice().try_into().unwrap()))
        .collect()
}

/// Every sender in `senders` publishes `count` numbered messages as fast as allowed; runs
/// until every endpoint in `readers` read all of the others' messages.
fn pump_all(sim: &mut Sim, session: SessionId, senders: &[usize], count: u32, readers: &[usize]) {
    let mut sent = vec![0u32; sim.endpoints.len()];
    let ok = sim.run_until(Duration::from_secs(7200), |s| {
        for &from in senders {
            while sent[from] < count {
                match s.try_publish(
                    from,
                    session,
                    Payload::new(sent[from].to_be_bytes().to_vec()),
                ) {
                    Ok(Some(_)) => sent[from] += 1,
                    Ok(None) => break,
                    Err(e) => panic!("publish: {e}"),
                }
            }
        }
        readers.iter().all(|&r| {
            let expected = senders.iter().filter(|&&w| w != r).count() * count as usize;
            s.read_count(r, session) >= expected
        })
    });
    assert!(ok, "not everything was delivered");
    for &reader in readers {
        let got = sim.received_by_sender(reader, session);
        for &writer in senders.iter().filter(|&&w| w != reader) {
            let from = got.get(&sim.endpoints[writer].name).unwrap();
            assert_eq!(
                numbers(from),
                (0..count).collect::<Vec<_>>(),
                "{writer} -> {reader}"
            );
        }
        assert_eq!(
            got.keys()
                .filter(|n| !senders.iter().any(|&w| &sim.endpoints[w].name == *n))
                .count(),
            0
        );
    }
}

#[test]
fn invitations_build_the_same_roster_everywhere() {
    let (sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 3, 1);
    let expected: Vec<Name> = (0..=3).map(|i| sim.endpoints[i].name.clone()).collect();
    for i in 0..=3 {
        let mut roster: Vec<Name> = sim.endpoints[i]
            .layer
            .participants(session)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        roster.sort_by_key(|n| n.id());
        assert_eq!(roster, expected, "roster of {i}");
    }
    let info = sim.endpoints[2].layer.session_info(session).unwrap();
    assert_eq!(info.moderator, sim.endpoints[0].name);
    assert!(
        info.destination
            .same_service(&"org/ns/chan".parse().unwrap())
    );
}

#[test]
fn every_member_gets_every_message_exactly_once_in_order_under_loss() {
    let (mut sim, session) = group(NetConfig::hostile(0.10, 0.05), SessionConfig::group(), 3, 2);
    // Two senders (the moderator and one member), 10 000 messages each, four readers.
    pump_all(&mut sim, session, &[0, 2], 10_000, &[0, 1, 2, 3]);
}

#[test]
fn fire_and_forget_groups_deliver_on_a_clean_network() {
    let config = SessionConfig::group().with_reliability(None);
    let (mut sim, session) = group(NetConfig::perfect(), config, 3, 3);
    pump_all(&mut sim, session, &[1], 2000, &[0, 2, 3]);
}

#[test]
fn a_crashed_member_is_marked_offline_and_the_group_goes_on() {
    let (mut sim, session) = group(NetConfig::hostile(0.02, 0.0), SessionConfig::group(), 3, 4);
    let crashed = sim.endpoints[3].name.clone();
    sim.crash(3);
    let start = sim.elapsed();
    let offline = |s: &Sim, i: usize| {
        s.endpoints[i].events.iter().any(|e| {
            matches!(e, Event::Participant { name, change: ParticipantChange::Offline, .. } if *name == crashed)
        })
    };
    assert!(sim.run_until(Duration::from_secs(600), |s| offline(s, 0)
        && offline(s, 1)
        && offline(s, 2)));
    // Three missed heartbeats (10 s each) plus at most one more period.
    assert!(
        sim.elapsed() - start <= Duration::from_secs(45),
        "took {:?}",
        sim.elapsed() - start
    );
    let status = sim.endpoints[0].layer.participants(session).unwrap();
    assert!(
        status
            .iter()
            .any(|p| p.name == crashed && p.status == MemberStatus::Offline)
    );
    // The survivors keep talking, and publishes complete successfully.
    let before: Vec<usize> = (0..3).map(|i| sim.read_count(i, session)).collect();
    let mut completions = Vec::new();
    let ok = sim.run_until(Duration::from_secs(3600), |s| {
        while completions.len() < 200 {
            match s.try_publish(1, session, Payload::new(vec![1])) {
                Ok(Some(id)) => completions.push(id),
                _ => break,
            }
        }
        completions.len() == 200 && completions.iter().all(|c| s.completion(1, *c).is_some())
    });
    assert!(ok);
    for c in &completions {
        assert_eq!(sim.completion(1, *c), Some(Ok(())));
    }
    for i in [0, 2] {
        assert_eq!(sim.read_count(i, session), before[i] + 200);
    }
}

#[test]
fn a_removed_member_leaves_and_hears_nothing_more() {
    let (mut sim, session) = group(NetConfig::hostile(0.05, 0.02), SessionConfig::group(), 3, 5);
    let now = sim.now;
    let removed: Name = "org/ns/member2".parse().unwrap(); // any instance: resolved by roster
    let done = sim.endpoints[0]
        .layer
        .remove(now, session, removed)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(120), |s| {
        s.completion(0, done).is_some()
    }));
    assert_eq!(sim.completion(0, done), Some(Ok(())));
    let closed = sim.endpoints[2].events.iter().any(|e| {
        matches!(e, Event::SessionClosed { reason: CloseReason::Removed, session: s } if *s == session)
    });
    assert!(closed, "the removed member was told");
    for i in [0, 1, 3] {
        let roster = sim.endpoints[i].layer.participants(session).unwrap();
        assert_eq!(roster.len(), 3, "roster of {i}");
        assert!(!roster.iter().any(|p| p.name == sim.endpoints[2].name));
    }
    let before = sim.read_count(2, session);
    pump_all(&mut sim, session, &[0, 1], 300, &[0, 1, 3]);
    assert_eq!(sim.read_count(2, session), before);
}

#[test]
fn a_member_removed_by_a_group_update_stays_until_the_leave_request() {
    // Interop regression: upstream's moderator follows the GroupUpdate(REMOVE) with a
    // LeaveRequest and fails the removal unless the member answers it. Our member ended its
    // session on the update, so an application that exited on that close never answered.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 3, 6);
    sim.record();
    let now = sim.now;
    let done = sim.endpoints[0]
        .layer
        .remove(now, session, "org/ns/member2".parse().unwrap())
        .unwrap();
    let member = sim.endpoints[2].name.clone();
    let update_acked = |s: &Sim| {
        let trace = s.trace.as_ref().unwrap();
        let Some(update) = trace.iter().find(|t| kind(&t.message) == T::GroupUpdate) else {
            return false;
        };
        let id = message_id(&update.message);
        trace
            .iter()
            .any(|t| t.from == 2 && kind(&t.message) == T::GroupAck && message_id(&t.message) == id)
    };
    assert!(sim.run_until(Duration::from_secs(30), |s| update_acked(s)));
    let closed = |s: &Sim| {
        s.endpoints[2].events.iter().any(|e| {
            matches!(
                e,
                Event::SessionClosed {
                    reason: CloseReason::Removed,
                    ..
                }
            )
        })
    };
    assert!(!closed(&sim), "{member} waits for the LeaveRequest");
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(0, done).is_some()));
    assert_eq!(sim.completion(0, done), Some(Ok(())));
    assert!(closed(&sim));
    let trace = sim.trace.take().unwrap();
    let leave = trace
        .iter()
        .position(|t| t.to == vec![2] && kind(&t.message) == T::LeaveRequest)
        .expect("a LeaveRequest to the removed member");
    assert!(
        trace[leave..]
            .iter()
            .any(|t| t.from == 2 && kind(&t.message) == T::LeaveReply),
        "answered"
    );
}

fn kind(message: &proto::Message) -> T {
    match &message.message_type {
        Some(MessageType::Publish(p)) => p
            .session
            .as_ref()
            .and_then(|s| T::try_from(s.session_message_type).ok())
            .unwrap_or(T::Unspecified),
        _ => T::Unspecified,
    }
}

fn message_id(message: &proto::Message) -> u32 {
    match &message.message_type {
        Some(MessageType::Publish(p)) => p.session.as_ref().map_or(0, |s| s.message_id),
        _ => 0,
    }
}

#[test]
fn a_member_that_closes_is_removed_by_the_moderator() {
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 3, 6);
    let now = sim.now;
    let done = sim.endpoints[1].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(1, done).is_some()
            && s.endpoints[3].layer.participants(session).unwrap().len() == 3
    }));
    assert!(sim.endpoints[1].layer.session_info(session).is_none());
    let left = sim.endpoints[3].events.iter().any(|e| {
        matches!(e, Event::Participant { change: ParticipantChange::Left, name, .. } if *name == sim.endpoints[1].name)
    });
    assert!(left);
    // The group stays open for the others.
    pump_all(&mut sim, session, &[2], 100, &[0, 3]);
}

#[test]
fn the_moderator_closes_the_group_for_everyone() {
    let (mut sim, session) = group(NetConfig::hostile(0.10, 0.0), SessionConfig::group(), 4, 7);
    let now = sim.now;
    let done = sim.endpoints[0].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(120), |s| {
        s.completion(0, done).is_some()
            && (1..=4).all(|i| s.endpoints[i].layer.session_info(session).is_none())
    }));
    for i in 1..=4 {
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
fn inviting_an_existing_member_or_nobody_fails_cleanly() {
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 1, 8);
    let now = sim.now;
    let member = sim.endpoints[1].name.clone();
    assert!(sim.endpoints[0].layer.invite(now, session, member).is_err());
    // Any-instance name of an existing member: discovered, then refused.
    let again = sim.endpoints[0]
        .layer
        .invite(now, session, "org/ns/member1".parse().unwrap())
        .unwrap();
    let nobody = sim.endpoints[0]
        .layer
        .invite(now, session, "org/ns/nobody".parse().unwrap())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(0, again).is_some() && s.completion(0, nobody).is_some()
    }));
    assert!(matches!(
        sim.completion(0, again),
        Some(Err(CompletionError::AlreadyMember(_)))
    ));
    assert!(matches!(
        sim.completion(0, nobody),
        Some(Err(CompletionError::NoReply(_)))
    ));
    // Bounded by the control retry budget (1 s x 10, plus the first send).
    assert!(sim.elapsed() < Duration::from_secs(30));
    // The group still works.
    pump_all(&mut sim, session, &[0], 10, &[1]);
}
