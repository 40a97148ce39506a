//! Acknowledgement ranges in the simulator: between two of our applications a stream of
//! messages is acknowledged with a few MsgAcks covering many ids each; behind an upstream
//! node, which drops the fields upstream does not know, every message gets its own ack again;
//! and ranges that lose their first id on the way back cost retransmissions, never messages.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::{CompletionId, LayerConfig, Payload, Retries, SessionConfig, SessionId};
use slim_wire::proto::{self, SessionMessageType as T, message::MessageType};

use sim::{NetConfig, Sim};

const ALICE: usize = 0;
const BOB: usize = 1;
const MESSAGES: u32 = 2_000;

fn pair(net: NetConfig, seed: u64) -> (Sim, SessionId) {
    let session = SessionConfig::point_to_point()
        .with_reliability(Some(Retries::new(Duration::from_millis(200), 10)));
    let (mut sim, session) = Sim::pair(seed, net, LayerConfig::default(), session);
    sim.batched = true;
    (sim, session)
}

/// Publishes `MESSAGES` numbered messages from alice as fast as flow control allows, until
/// bob has read them all and every publish has completed; returns the completions.
fn stream(sim: &mut Sim, session: SessionId) -> Vec<CompletionId> {
    let mut completions = Vec::new();
    let mut next = 0u32;
    let done = sim.run_until(Duration::from_secs(300), |s| {
        while next < MESSAGES {
            match s.try_publish(ALICE, session, Payload::new(next.to_be_bytes().to_vec())) {
                Ok(Some(id)) => {
                    completions.push(id);
                    next += 1;
                }
                Ok(None) => break,
                Err(e) => panic!("publish: {e}"),
            }
        }
        next == MESSAGES
            && s.read_count(BOB, session) >= MESSAGES as usize
            && completions
                .iter()
                .all(|c| s.completion(ALICE, *c).is_some())
    });
    assert!(done, "the stream did not finish");
    completions
}

/// Bob read every message exactly once and in order, and every publish succeeded.
fn assert_delivered(sim: &Sim, session: SessionId, completions: &[CompletionId]) {
    let read: Vec<u32> = sim.received_by_sender(BOB, session)[&sim.endpoints[ALICE].name]
        .iter()
        .map(|p| u32::from_be_bytes(p.as_ref().expect("lost").as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(read, (0..MESSAGES).collect::<Vec<_>>());
    for id in completions {
        assert_eq!(sim.completion(ALICE, *id), Some(Ok(())));
    }
}

/// The MsgAcks bob sent as they crossed the network: (last id, first id of the range or 0).
fn acks_from_bob(sim: &Sim) -> Vec<(u32, u32)> {
    sim.trace
        .as_ref()
        .expect("recording")
        .iter()
        .filter(|t| t.from == BOB && sim::kind(&t.message) == T::MsgAck)
        .filter_map(|t| match &t.message.message_type {
            Some(MessageType::Publish(proto::Publish {
                session: Some(s), ..
            })) => Some((s.message_id, s.ack_range_first)),
            _ => None,
        })
        .collect()
}

/// How many data ids the acks cover in all.
fn covered(acks: &[(u32, u32)]) -> u32 {
    acks.iter()
        .map(|&(last, first)| if first == 0 { 1 } else { last - first + 1 })
        .sum()
}

#[test]
fn between_our_applications_a_stream_is_acknowledged_in_ranges() {
    let (mut sim, session) = pair(NetConfig::perfect(), 11);
    sim.record();
    let completions = stream(&mut sim, session);
    assert_delivered(&sim, session, &completions);
    let acks = acks_from_bob(&sim);
    assert_eq!(covered(&acks), MESSAGES, "each id acknowledged once");
    assert!(
        acks.len() * 8 <= MESSAGES as usize,
        "{} acks for {MESSAGES} messages",
        acks.len()
    );
    assert_eq!(sim.endpoints[ALICE].layer.stats().retransmissions, 0);
}

#[test]
fn behind_an_upstream_node_every_message_gets_its_own_ack() {
    let (mut sim, session) = pair(NetConfig::perfect(), 12);
    sim.via_upstream.extend([ALICE, BOB]);
    sim.record();
    let completions = stream(&mut sim, session);
    assert_delivered(&sim, session, &completions);
    let acks = acks_from_bob(&sim);
    assert_eq!(acks.len(), MESSAGES as usize);
    assert!(acks.iter().all(|&(_, first)| first == 0));
    assert_eq!(sim.endpoints[ALICE].layer.stats().retransmissions, 0);
}

#[test]
fn ranges_that_lose_their_first_id_on_the_way_back_cost_retransmissions_not_messages() {
    // Alice's data reaches bob marked, but bob's acks cross an upstream node: each range
    // arrives as an ack of its last id only.
    let (mut sim, session) = pair(NetConfig::perfect(), 13);
    sim.via_upstream.insert(BOB);
    let completions = stream(&mut sim, session);
    assert_delivered(&sim, session, &completions);
    assert!(sim.endpoints[ALICE].layer.stats().retransmissions > 0);
}

#[test]
fn ranges_survive_loss_reordering_and_duplication() {
    let (mut sim, session) = pair(NetConfig::hostile(0.1, 0.05), 14);
    sim.record();
    let completions = stream(&mut sim, session);
    assert_delivered(&sim, session, &completions);
    let ranged = acks_from_bob(&sim)
        .iter()
        .filter(|&&(_, first)| first != 0)
        .count();
    assert!(ranged > 0, "some acks were ranges");
}
