//! Group sessions in the simulator: invitations, delivery to every member under a hostile
//! network, crashes, removal, leaving and closing, soft close and rejoin, and the channel
//! subscriptions of members and moderator (the driver's answers reach the session that
//! asked, and only while they still mean something).

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::{
    CloseReason, CompletionError, Event, LayerConfig, MemberStatus, ParticipantChange, Payload,
    PublishError, SessionConfig, SessionId, SubscriptionId, Unverified,
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
        let Some(update) = trace
            .iter()
            .find(|t| sim::kind(&t.message) == T::GroupUpdate)
        else {
            return false;
        };
        let id = message_id(&update.message);
        trace.iter().any(|t| {
            t.from == 2 && sim::kind(&t.message) == T::GroupAck && message_id(&t.message) == id
        })
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
        .position(|t| t.to == vec![2] && sim::kind(&t.message) == T::LeaveRequest)
        .expect("a LeaveRequest to the removed member");
    assert!(
        trace[leave..]
            .iter()
            .any(|t| t.from == 2 && sim::kind(&t.message) == T::LeaveReply),
        "answered"
    );
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

/// Gives endpoint `index` the answer `result` for each of `ids` and for an id the layer never
/// handed out, as a driver repeating or delaying the node's answers would, and checks that the
/// layer neither reported, sent nor asked anything because of them.
fn answers_change_nothing(
    sim: &mut Sim,
    index: usize,
    ids: &[SubscriptionId],
    result: Result<(), String>,
) {
    let endpoint = &sim.endpoints[index];
    let before = (
        endpoint.events.len(),
        endpoint.subscribe_requests.len(),
        endpoint.unsubscribed.len(),
    );
    sim.record();
    for &id in ids.iter().chain([&SubscriptionId(u64::MAX)]) {
        sim.answer_subscription(index, id, result.clone());
    }
    let trace = sim.trace.take().unwrap();
    assert!(
        trace.iter().all(|t| t.from != index),
        "{index} sent something on an answer it no longer waited for"
    );
    let endpoint = &sim.endpoints[index];
    let after = (
        endpoint.events.len(),
        endpoint.subscribe_requests.len(),
        endpoint.unsubscribed.len(),
    );
    assert_eq!(
        after, before,
        "events, subscribes and unsubscribes of {index}"
    );
}

/// A `run_until` limit `seconds` from now (its limit counts from the start of the
/// simulation, and these tests run long phases one after another).
/// An application `org/ns/member1` the tests invite themselves.
fn add_uninvited(sim: &mut Sim) -> usize {
    sim.add(
        "org/ns/member1",
        101,
        Unverified::new("p"),
        None,
        LayerConfig::default(),
    )
}

fn within(sim: &Sim, seconds: u64) -> Duration {
    sim.elapsed() + Duration::from_secs(seconds)
}

fn run_to_completion(sim: &mut Sim, index: usize, id: slim_session::CompletionId) {
    let limit = within(sim, 120);
    assert!(sim.run_until(limit, |s| s.completion(index, id).is_some()));
}

#[test]
fn soft_close_and_rejoin_keep_the_join_subscriptions_and_repeated_answers_change_nothing() {
    // A soft-closed member keeps its membership and, with it, the channel subscriptions of
    // its join: the rejoin asks the driver for nothing, so those are the only ids it ever
    // has. A driver may still repeat their answers in any phase (dormant, back, gone); none
    // of that may move the session.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 2, 9);
    let joined = sim.subscription_ids(1, 0);
    assert_eq!(joined.len(), 2, "data and control channel");
    // From here a subscription request waits for the test, so a rejoin that needed one
    // would not complete by itself.
    sim.endpoints[1].hold_subscriptions = true;

    let now = sim.now;
    let done = sim.endpoints[1].layer.soft_close(now, session).unwrap();
    run_to_completion(&mut sim, 1, done);
    assert_eq!(sim.completion(1, done), Some(Ok(())));
    assert!(sim.endpoints[1].unsubscribed.is_empty(), "still subscribed");
    answers_change_nothing(&mut sim, 1, &joined, Ok(()));
    let now = sim.now;
    assert_eq!(
        sim.endpoints[1]
            .layer
            .publish(now, session, Payload::new(vec![0])),
        Err(PublishError::NotActive),
        "still dormant"
    );

    let now = sim.now;
    let back = sim.endpoints[1].layer.rejoin(now, session).unwrap();
    run_to_completion(&mut sim, 1, back);
    assert_eq!(sim.completion(1, back), Some(Ok(())));
    assert_eq!(sim.subscription_ids(1, 0), joined, "no new subscription");
    answers_change_nothing(&mut sim, 1, &joined, Ok(()));
    pump_all(&mut sim, session, &[0, 1], 100, &[0, 1, 2]);

    let now = sim.now;
    let closed = sim.endpoints[1].layer.close(now, session).unwrap();
    run_to_completion(&mut sim, 1, closed);
    assert!(sim.endpoints[1].layer.session_info(session).is_none());
    assert_eq!(sim.endpoints[1].unsubscribed.len(), 2);
    answers_change_nothing(&mut sim, 1, &joined, Ok(()));
    answers_change_nothing(&mut sim, 1, &joined, Err("refused late".into()));
    let after = sim
        .try_publish(2, session, Payload::new(&b"after"[..]))
        .unwrap()
        .expect("room");
    run_to_completion(&mut sim, 2, after);
    assert_eq!(sim.completion(2, after), Some(Ok(())), "the others go on");
}

#[test]
fn a_refused_channel_is_asked_again_with_new_ids_and_answers_to_the_old_ones_are_ignored() {
    // The moderator subscribes the group's channels on its first invite. When the node
    // refuses one, that invite fails, both channels are dropped, and the next invite asks
    // again with new ids; answers to the first pair (the other channel's, late, or repeated)
    // must neither start the second invite before its own answers nor fail it.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 0, 10);
    let member = add_uninvited(&mut sim);
    sim.endpoints[0].hold_subscriptions = true;
    let invite = |sim: &mut Sim| {
        let now = sim.now;
        let name = "org/ns/member1".parse().unwrap();
        let done = sim.endpoints[0].layer.invite(now, session, name).unwrap();
        let limit = within(sim, 30);
        assert!(sim.run_until(limit, |s| s.endpoints[0].held.len() == 2));
        done
    };

    let refused = invite(&mut sim);
    let first = sim.subscription_ids(0, 0);
    sim.answer_subscription(0, first[0], Err("refused by the node".into()));
    run_to_completion(&mut sim, 0, refused);
    assert!(matches!(
        sim.completion(0, refused),
        Some(Err(CompletionError::Subscription(reason))) if reason.contains("refused by the node")
    ));
    assert_eq!(
        sim.endpoints[0].unsubscribed.len(),
        2,
        "both channels dropped"
    );
    answers_change_nothing(&mut sim, 0, &first[1..], Ok(()));

    let accepted = invite(&mut sim);
    let second = sim.subscription_ids(0, 2);
    assert!(second.iter().all(|id| !first.contains(id)), "new ids");
    answers_change_nothing(&mut sim, 0, &first, Ok(()));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.completion(0, accepted),
        None,
        "still waiting for its own answers"
    );
    assert!(sim.endpoints[member].new_sessions.is_empty());

    for id in second {
        sim.answer_subscription(0, id, Ok(()));
    }
    run_to_completion(&mut sim, 0, accepted);
    assert_eq!(sim.completion(0, accepted), Some(Ok(())));
    let every = sim.subscription_ids(0, 0);
    answers_change_nothing(&mut sim, 0, &every, Ok(()));
    pump_all(&mut sim, session, &[0, member], 100, &[0, member]);
}

#[test]
fn answers_for_a_join_that_gave_up_do_not_reach_the_next_join_of_the_same_session() {
    // A member whose channel subscriptions are never answered gives up its join (the
    // moderator's invite runs out of retries, the member's join times out). Invited again,
    // it joins the same session id and asks for new ids; the first join's answers arriving
    // now must not count for the second join, which waits for its own.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 0, 11);
    let member = add_uninvited(&mut sim);
    sim.endpoints[member].hold_subscriptions = true;
    let invite = |sim: &mut Sim| {
        let now = sim.now;
        let name = "org/ns/member1".parse().unwrap();
        sim.endpoints[0].layer.invite(now, session, name).unwrap()
    };

    let abandoned = invite(&mut sim);
    let gave_up = |s: &mut Sim| {
        s.endpoints[member].events.iter().any(|e| {
            matches!(e, Event::SessionClosed { reason: CloseReason::JoinTimeout, session: closed } if *closed == session)
        })
    };
    assert!(sim.run_until(within(&sim, 300), |s| {
        s.completion(0, abandoned).is_some() && gave_up(s)
    }));
    assert!(matches!(
        sim.completion(0, abandoned),
        Some(Err(CompletionError::NoReply(_)))
    ));
    let first = sim.subscription_ids(member, 0);
    assert_eq!(first.len(), 2);
    assert_eq!(sim.endpoints[member].unsubscribed.len(), 2);
    answers_change_nothing(&mut sim, member, &first, Ok(()));

    let accepted = invite(&mut sim);
    assert!(sim.run_until(within(&sim, 30), |s| {
        s.endpoints[member].held.len() == 2
    }));
    assert!(sim.endpoints[member].layer.session_info(session).is_some());
    let second = sim.subscription_ids(member, 2);
    assert!(second.iter().all(|id| !first.contains(id)), "new ids");
    answers_change_nothing(&mut sim, member, &first, Ok(()));

    for id in second {
        sim.answer_subscription(member, id, Ok(()));
    }
    run_to_completion(&mut sim, 0, accepted);
    assert_eq!(sim.completion(0, accepted), Some(Ok(())));
    assert_eq!(sim.endpoints[member].new_sessions.len(), 1);
    pump_all(&mut sim, session, &[0, member], 100, &[0, member]);
}

#[test]
fn answers_reach_the_session_that_asked_while_another_one_closes() {
    // One member in two groups: an answer must reach the session that asked for it, not
    // another one open beside it, and forgetting a closed session's ids must leave the other
    // session's ids alone.
    let (mut sim, first) = group(NetConfig::perfect(), SessionConfig::group(), 1, 12);
    let joined_first = sim.subscription_ids(1, 0);
    let now = sim.now;
    let (second, _) = sim.endpoints[0]
        .layer
        .create_session(now, SessionConfig::group(), "org/ns/chan2".parse().unwrap())
        .unwrap();
    sim.endpoints[1].hold_subscriptions = true;
    let now = sim.now;
    let invited = sim.endpoints[0]
        .layer
        .invite(now, second, "org/ns/member1".parse().unwrap())
        .unwrap();
    let limit = within(&sim, 30);
    assert!(sim.run_until(limit, |s| s.endpoints[1].held.len() == 2));
    let asked = sim.subscription_ids(1, 2);
    answers_change_nothing(&mut sim, 1, &joined_first, Ok(()));

    // One answer while both sessions are open, the other once the first one closed.
    sim.answer_subscription(1, asked[0], Ok(()));
    let now = sim.now;
    let left = sim.endpoints[1].layer.close(now, first).unwrap();
    run_to_completion(&mut sim, 1, left);
    assert!(sim.endpoints[1].layer.session_info(first).is_none());
    assert_eq!(
        sim.completion(0, invited),
        None,
        "one channel still unanswered"
    );
    sim.answer_subscription(1, asked[1], Ok(()));
    run_to_completion(&mut sim, 0, invited);
    assert_eq!(sim.completion(0, invited), Some(Ok(())));
    answers_change_nothing(&mut sim, 1, &joined_first, Ok(()));
    pump_all(&mut sim, second, &[0, 1], 100, &[0, 1]);
}

#[test]
fn a_late_refusal_of_a_confirmed_channel_leaves_the_live_session_alone() {
    // A driver may hand over a refusal late, or twice (a node answering a re-sent Subscribe
    // after a reconnect). Once a channel is confirmed, the session built on it (a member
    // whose join is long done, the moderator's group) must neither end nor drop its
    // channels because of it; nor may a repeated confirmation start anything again.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 2, 13);
    let moderator = sim.subscription_ids(0, 0);
    let member = sim.subscription_ids(1, 0);
    assert_eq!((moderator.len(), member.len()), (2, 2), "data and control");
    sim.run_for(Duration::from_secs(60));
    let stale = |sim: &Sim, i: usize| sim.endpoints[i].layer.stats().stale_subscription_answers;
    let before = (stale(&sim, 0), stale(&sim, 1));

    answers_change_nothing(&mut sim, 1, &member, Err("refused late".into()));
    answers_change_nothing(&mut sim, 1, &member, Ok(()));
    answers_change_nothing(&mut sim, 0, &moderator, Err("refused late".into()));
    answers_change_nothing(&mut sim, 0, &moderator, Ok(()));
    // Per endpoint: each of its two ids twice, and twice an id never handed out.
    assert_eq!(
        (stale(&sim, 0), stale(&sim, 1)),
        (before.0 + 6, before.1 + 6)
    );
    for i in 0..=2 {
        assert!(
            sim.endpoints[i].layer.session_info(session).is_some(),
            "{i}"
        );
    }
    pump_all(&mut sim, session, &[0, 1, 2], 100, &[0, 1, 2]);
}

#[test]
fn a_moderator_gives_up_channel_subscriptions_that_are_never_answered() {
    // A driver that never answers the moderator's channel subscriptions (a lost
    // acknowledgement, a node gone quiet) must not stall its task queue: the invite waiting
    // for them fails within the control retry budget as a refusal would, the channels are
    // dropped, and the invite queued behind it runs and asks again with new ids.
    let (mut sim, session) = group(NetConfig::perfect(), SessionConfig::group(), 0, 14);
    for (i, name) in ["org/ns/member1", "org/ns/member2"].into_iter().enumerate() {
        sim.add(
            name,
            101 + i as u128,
            Unverified::new("p"),
            None,
            LayerConfig::default(),
        );
    }
    sim.endpoints[0].hold_subscriptions = true;
    let now = sim.now;
    let mut invite = |name: &str| {
        let name = name.parse().unwrap();
        sim.endpoints[0].layer.invite(now, session, name).unwrap()
    };
    let stalled = invite("org/ns/member1");
    let queued = invite("org/ns/member2");
    let limit = within(&sim, 30);
    assert!(sim.run_until(limit, |s| s.endpoints[0].held.len() == 2));
    let asked = sim.elapsed();
    let first = sim.subscription_ids(0, 0);

    run_to_completion(&mut sim, 0, stalled);
    assert!(matches!(
        sim.completion(0, stalled),
        Some(Err(CompletionError::Subscription(reason))) if reason.contains("not confirmed")
    ));
    let budget = LayerConfig::default().control.budget();
    let waited = sim.elapsed() - asked;
    assert!(
        waited >= budget && waited <= budget + Duration::from_secs(1),
        "gave up after {waited:?}"
    );
    assert_eq!(
        sim.endpoints[0].unsubscribed.len(),
        2,
        "both channels dropped"
    );

    let limit = within(&sim, 30);
    assert!(sim.run_until(limit, |s| s.endpoints[0].subscribe_requests.len() == 4));
    let second = sim.subscription_ids(0, 2);
    assert!(second.iter().all(|id| !first.contains(id)), "new ids");
    answers_change_nothing(&mut sim, 0, &first, Ok(()));
    assert_eq!(sim.completion(0, queued), None);
    for id in second {
        sim.answer_subscription(0, id, Ok(()));
    }
    run_to_completion(&mut sim, 0, queued);
    assert_eq!(sim.completion(0, queued), Some(Ok(())));
    assert_eq!(sim.endpoints[2].new_sessions.len(), 1);
    pump_all(&mut sim, session, &[0, 2], 100, &[0, 2]);
}
