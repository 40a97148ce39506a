//! Held acknowledgements in the simulator: an ack waits for the session's next message (the
//! answer it shares a write with), for the application to have read everything, for a full
//! batch or for `ack_delay`, whichever comes first, and never makes a sender retransmit.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::{LayerConfig, Payload, Retries, SessionConfig, SessionId};
use slim_wire::proto::SessionMessageType as T;

use sim::{NetConfig, Reader, Sim};

const ALICE: usize = 0;
const BOB: usize = 1;

/// A reliable pair whose acks may be held up to `ack_delay`, with a retransmission interval
/// long enough that the cap (a quarter of it) does not apply.
fn pair(ack_delay: Duration) -> (Sim, SessionId) {
    let layer = LayerConfig {
        ack_delay,
        ..LayerConfig::default()
    };
    let session = SessionConfig::point_to_point()
        .with_reliability(Some(Retries::new(Duration::from_secs(60), 3)));
    Sim::pair(7, NetConfig::perfect(), layer, session)
}

fn publish(sim: &mut Sim, from: usize, session: SessionId, n: u8) -> slim_session::CompletionId {
    sim.try_publish(from, session, Payload::new(vec![n]))
        .unwrap()
        .expect("room in the window")
}

/// The session message types `from` sent, in order, with the virtual time they left at.
fn sent_by(sim: &Sim, from: usize) -> Vec<(Duration, T)> {
    sim.trace
        .as_ref()
        .expect("recording")
        .iter()
        .filter(|t| t.from == from)
        .map(|t| (t.at, sim::kind(&t.message)))
        .collect()
}

#[test]
fn the_answer_carries_the_held_ack_in_front_of_it() {
    let (mut sim, session) = pair(Duration::from_secs(10));
    sim.endpoints[BOB].reader = Reader::Stalled;
    sim.record();
    publish(&mut sim, ALICE, session, 1);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.endpoints[BOB].layer.readable(session) == 1
    }));
    sim.run_for(Duration::from_millis(100));
    assert!(sim.endpoints[BOB].layer.holds_acks(session));
    assert!(
        sent_by(&sim, BOB).is_empty(),
        "nothing may leave before the answer"
    );

    publish(&mut sim, BOB, session, 2);
    sim.flush();
    let sent = sent_by(&sim, BOB);
    let kinds: Vec<T> = sent.iter().map(|(_, kind)| *kind).collect();
    assert_eq!(kinds, [T::MsgAck, T::Msg]);
    assert_eq!(
        sent[0].0, sent[1].0,
        "the ack and the answer leave together"
    );
    assert!(!sim.endpoints[BOB].layer.holds_acks(session));
}

#[test]
fn a_reader_that_has_read_everything_releases_the_acks_at_once() {
    let (mut sim, session) = pair(Duration::from_secs(10));
    let start = sim.elapsed();
    let done = publish(&mut sim, ALICE, session, 1);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(ALICE, done).is_some()
    }));
    assert_eq!(sim.completion(ALICE, done), Some(Ok(())));
    // One network round trip (1 ms each way), nowhere near the 10 s bound.
    assert!(sim.elapsed() - start < Duration::from_millis(10));
}

#[test]
fn a_reader_that_neither_reads_nor_answers_is_acknowledged_after_the_delay() {
    let delay = Duration::from_millis(50);
    let (mut sim, session) = pair(delay);
    sim.endpoints[BOB].reader = Reader::Stalled;
    let start = sim.elapsed();
    let done = publish(&mut sim, ALICE, session, 1);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(ALICE, done).is_some()
    }));
    assert_eq!(sim.completion(ALICE, done), Some(Ok(())));
    let took = sim.elapsed() - start;
    assert!(took >= delay, "acknowledged after {took:?}");
    assert!(took < delay * 2, "acknowledged after {took:?}");
    // Below the first retransmission timeout (200 ms before any round-trip sample).
    assert_eq!(sim.endpoints[ALICE].layer.stats().retransmissions, 0);
}

#[test]
fn a_full_batch_of_acks_goes_without_waiting() {
    let (mut sim, session) = pair(Duration::from_secs(10));
    sim.endpoints[BOB].reader = Reader::Stalled;
    let batch = LayerConfig::default().ack_batch;
    let first: Vec<_> = (0..batch - 1)
        .map(|n| publish(&mut sim, ALICE, session, n as u8))
        .collect();
    // Shorter than the sender's first retransmission timeout (200 ms before any sample).
    sim.run_for(Duration::from_millis(100));
    assert!(
        first.iter().all(|c| sim.completion(ALICE, *c).is_none()),
        "one ack short of a batch, everything waits"
    );
    let last = publish(&mut sim, ALICE, session, 0xff);
    let start = sim.elapsed();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(ALICE, last).is_some()
    }));
    assert!(sim.elapsed() - start < Duration::from_millis(10));
    assert!(
        first
            .iter()
            .all(|c| sim.completion(ALICE, *c) == Some(Ok(())))
    );
}

#[test]
fn zero_delay_acknowledges_every_message_at_once() {
    let (mut sim, session) = pair(Duration::ZERO);
    sim.endpoints[BOB].reader = Reader::Stalled;
    sim.record();
    publish(&mut sim, ALICE, session, 1);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.endpoints[BOB].layer.readable(session) == 1
    }));
    assert!(!sim.endpoints[BOB].layer.holds_acks(session));
    let kinds: Vec<T> = sent_by(&sim, BOB).iter().map(|(_, kind)| *kind).collect();
    assert_eq!(kinds, [T::MsgAck]);
}

#[test]
fn a_closing_session_sends_its_held_acks_first() {
    let (mut sim, session) = pair(Duration::from_secs(10));
    sim.endpoints[BOB].reader = Reader::Stalled;
    let done = publish(&mut sim, ALICE, session, 1);
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.endpoints[BOB].layer.holds_acks(session)
    }));
    let start = sim.elapsed();
    let now = sim.now;
    sim.endpoints[BOB].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.completion(ALICE, done).is_some()
    }));
    assert_eq!(sim.completion(ALICE, done), Some(Ok(())));
    assert!(sim.elapsed() - start < Duration::from_millis(10));
}
