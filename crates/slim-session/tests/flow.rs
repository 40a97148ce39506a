//! Flow control in the simulator: a publisher faster than its reader never loses, never
//! stalls for good, and memory stays bounded on both sides.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::collections::HashMap;
use std::time::Duration;

use slim_session::{
    CompletionError, CompletionId, Event, LayerConfig, MessageError, Payload, SessionConfig,
    SessionId, Unverified,
};

use sim::{NetConfig, Reader, Sim};

const WINDOW: u32 = 128;
const RECEIVE_BUFFER: usize = 256;
/// The inbox may overshoot `RECEIVE_BUFFER` by one reorder range (2 × window) when a gap
/// fills and the buffered messages behind it become deliverable at once.
const INBOX_BOUND: usize = RECEIVE_BUFFER + 2 * WINDOW as usize;

fn config() -> LayerConfig {
    LayerConfig {
        window: WINDOW,
        receive_buffer: RECEIVE_BUFFER,
        ..LayerConfig::default()
    }
}

fn pair(net: NetConfig, session_config: SessionConfig, seed: u64) -> (Sim, SessionId) {
    Sim::pair(seed, net, config(), session_config)
}

/// Watches bounds while publishing `count` numbered messages from 0 to 1.
struct Publisher {
    next: u32,
    count: u32,
    /// Payload size: the message number, then zeros.
    size: usize,
    completions: Vec<CompletionId>,
    would_block: u32,
    max_outstanding: usize,
    max_readable: usize,
}

impl Publisher {
    fn new(count: u32) -> Self {
        Publisher {
            next: 0,
            count,
            size: 4,
            completions: Vec::new(),
            would_block: 0,
            max_outstanding: 0,
            max_readable: 0,
        }
    }

    /// Publishes what flow control allows and records the bounds.
    fn tick(&mut self, sim: &mut Sim, session: SessionId, from: usize, readers: &[usize]) {
        while self.next < self.count {
            let mut payload = self.next.to_be_bytes().to_vec();
            payload.resize(self.size.max(4), 0);
            match sim.try_publish(from, session, Payload::new(payload)) {
                Ok(Some(id)) => {
                    self.completions.push(id);
                    self.next += 1;
                }
                Ok(None) => {
                    self.would_block += 1;
                    break;
                }
                Err(e) => panic!("publish: {e}"),
            }
        }
        self.max_outstanding = self
            .max_outstanding
            .max(sim.endpoints[from].layer.outstanding(session));
        for &r in readers {
            self.max_readable = self
                .max_readable
                .max(sim.endpoints[r].layer.readable(session));
        }
    }
}

/// Publishes all of `publisher`'s messages from endpoint 0 to endpoint 1, whose reader
/// stalls for `stall` and then reads eagerly, until it has read them all.
fn publish_through_a_stall(
    sim: &mut Sim,
    session: SessionId,
    publisher: &mut Publisher,
    stall: Duration,
) {
    sim.endpoints[1].reader = Reader::Stalled;
    let resume_at = sim.elapsed() + stall;
    let count = publisher.count as usize;
    assert!(sim.run_until(Duration::from_secs(300), |s| {
        publisher.tick(s, session, 0, &[1]);
        if s.elapsed() >= resume_at {
            s.endpoints[1].reader = Reader::Eager;
        }
        s.read_count(1, session) >= count
    }));
}

fn in_order(sim: &Sim, reader: usize, writer: usize, session: SessionId) -> Vec<u32> {
    sim.received_by_sender(reader, session)[&sim.endpoints[writer].name]
        .iter()
        .map(|p| u32::from_be_bytes(p.as_ref().expect("lost")[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn a_fast_publisher_and_a_slow_reader_lose_nothing_and_stay_bounded() {
    let (mut sim, session) = pair(
        NetConfig::hostile(0.02, 0.01),
        SessionConfig::point_to_point(),
        1,
    );
    // Bob reads 20 messages every 10 ms (2 000/s); Alice could publish far faster.
    sim.endpoints[1].reader = Reader::Paced {
        every: Duration::from_millis(10),
        batch: 20,
        next: sim.now,
    };
    let mut publisher = Publisher::new(20_000);
    assert!(sim.run_until(Duration::from_secs(600), |s| {
        publisher.tick(s, session, 0, &[1]);
        s.read_count(1, session) >= 20_000
    }));
    assert_eq!(
        in_order(&sim, 1, 0, session),
        (0..20_000).collect::<Vec<_>>()
    );
    assert!(publisher.would_block > 0, "the publisher was pushed back");
    assert!(
        publisher.max_outstanding <= WINDOW as usize,
        "{}",
        publisher.max_outstanding
    );
    assert!(publisher.max_readable <= INBOX_BOUND);
    assert!(
        sim.max_in_flight <= 4 * WINDOW as usize,
        "{}",
        sim.max_in_flight
    );
    assert!(
        sim.endpoints[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Writable(_)))
    );
    sim.run_for(Duration::from_secs(2));
    for id in &publisher.completions {
        assert_eq!(sim.completion(0, *id), Some(Ok(())));
    }
    // Flow control, not retransmission, did the pacing: few retransmissions for 2% loss.
    let retransmissions = sim.endpoints[0].layer.stats().retransmissions;
    assert!(retransmissions < 2_000, "{retransmissions}");
}

#[test]
fn a_stalled_reader_holds_the_publisher_back_and_everything_flows_when_it_resumes() {
    let (mut sim, session) = pair(NetConfig::perfect(), SessionConfig::point_to_point(), 2);
    let mut publisher = Publisher::new(5_000);
    publish_through_a_stall(&mut sim, session, &mut publisher, Duration::from_secs(5));
    assert_eq!(
        in_order(&sim, 1, 0, session),
        (0..5_000).collect::<Vec<_>>()
    );
    assert!(publisher.max_outstanding <= WINDOW as usize);
    assert!(publisher.max_readable <= INBOX_BOUND);
    sim.run_for(Duration::from_secs(2));
    for id in &publisher.completions {
        assert_eq!(
            sim.completion(0, *id),
            Some(Ok(())),
            "a 5 s stall is within the retry budget"
        );
    }
}

#[test]
fn large_messages_are_bounded_in_bytes_on_both_sides() {
    const SIZE: usize = 4096;
    let layer = LayerConfig {
        window_bytes: 16 * SIZE,
        receive_buffer_bytes: 8 * SIZE,
        ..config()
    };
    let (mut sim, session) = Sim::pair(
        2,
        NetConfig::perfect(),
        layer,
        SessionConfig::point_to_point(),
    );
    let mut publisher = Publisher::new(2_000);
    publisher.size = SIZE;
    publish_through_a_stall(&mut sim, session, &mut publisher, Duration::from_secs(3));
    assert_eq!(
        in_order(&sim, 1, 0, session),
        (0..2_000).collect::<Vec<_>>()
    );
    // Far below the message bounds (128 in flight, 256 held): the byte bounds held, each
    // overshot by at most the message that crossed it.
    assert!(
        publisher.max_outstanding <= 16 + 1,
        "{}",
        publisher.max_outstanding
    );
    assert!(
        publisher.max_readable <= 8 + 1,
        "{}",
        publisher.max_readable
    );
    assert!(publisher.would_block > 0);
}

#[test]
fn a_reader_stalled_beyond_the_retry_budget_gets_a_truthful_account() {
    let (mut sim, session) = pair(NetConfig::perfect(), SessionConfig::point_to_point(), 3);
    sim.endpoints[1].reader = Reader::Stalled;
    let mut publisher = Publisher::new(3_000);
    let resume_at = sim.elapsed() + Duration::from_secs(40);
    let done = sim.run_until(Duration::from_secs(900), |s| {
        publisher.tick(s, session, 0, &[1]);
        if s.elapsed() >= resume_at {
            s.endpoints[1].reader = Reader::Eager;
        }
        s.elapsed() >= resume_at && publisher.next == publisher.count && {
            let all_reported = publisher
                .completions
                .iter()
                .all(|c| s.completion(0, *c).is_some());
            all_reported && s.read_count(1, session) > 0
        }
    });
    assert!(done);
    sim.run_for(Duration::from_secs(30));
    // Every message is accounted for at the reader exactly once: delivered or reported lost.
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let mut lost_ids = 0;
    for delivery in &sim.endpoints[1].inbox[&session] {
        match delivery {
            Ok(m) => {
                *seen
                    .entry(u32::from_be_bytes(m.payload[..].try_into().unwrap()))
                    .or_default() += 1
            }
            Err(MessageError::Lost { .. }) => lost_ids += 1,
        }
    }
    assert!(seen.values().all(|n| *n == 1), "no duplicates");
    assert_eq!(seen.len() + lost_ids, 3_000, "delivered + lost = published");
    // The publisher's outcomes are truthful: success means delivered.
    let bob = sim.endpoints[1].name.clone();
    let mut not_acked = 0;
    for (i, id) in publisher.completions.iter().enumerate() {
        match sim.completion(0, *id).unwrap() {
            Ok(()) => assert!(
                seen.contains_key(&(i as u32)),
                "message {i} reported delivered"
            ),
            Err(CompletionError::NotAcknowledged(names)) => {
                assert_eq!(names, vec![bob.clone()]);
                not_acked += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(not_acked > 0, "a 40 s stall exceeds the 11 s retry budget");
    // The session survived.
    assert!(sim.endpoints[0].layer.session_info(session).is_some());
    assert!(sim.endpoints[1].layer.session_info(session).is_some());
}

#[test]
fn the_slowest_group_member_paces_the_group_without_loss() {
    let mut sim = Sim::new(4, NetConfig::hostile(0.02, 0.0));
    for (i, name) in ["moderator", "fast", "slow"].iter().enumerate() {
        sim.add(
            &format!("org/ns/{name}"),
            10 + i as u128,
            Unverified::new(*name),
            None,
            config(),
        );
    }
    let now = sim.now;
    let (session, _) = sim.endpoints[0]
        .layer
        .create_session(now, SessionConfig::group(), "org/ns/chan".parse().unwrap())
        .unwrap();
    for name in ["org/ns/fast", "org/ns/slow"] {
        let now = sim.now;
        let done = sim.endpoints[0]
            .layer
            .invite(now, session, name.parse().unwrap())
            .unwrap();
        assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    }
    sim.endpoints[2].reader = Reader::Paced {
        every: Duration::from_millis(10),
        batch: 10,
        next: sim.now,
    };
    let mut publisher = Publisher::new(5_000);
    assert!(sim.run_until(Duration::from_secs(600), |s| {
        publisher.tick(s, session, 0, &[1, 2]);
        s.read_count(1, session) >= 5_000 && s.read_count(2, session) >= 5_000
    }));
    for reader in [1, 2] {
        assert_eq!(
            in_order(&sim, reader, 0, session),
            (0..5_000).collect::<Vec<_>>()
        );
    }
    assert!(publisher.max_outstanding <= WINDOW as usize);
    assert!(publisher.max_readable <= INBOX_BOUND);
}

#[test]
fn a_full_transmit_queue_pushes_back_even_without_acks() {
    let (mut sim, session) = pair(
        NetConfig::perfect(),
        SessionConfig::point_to_point().with_reliability(None),
        5,
    );
    let limit = sim.endpoints[0].layer.config().transmit_queue;
    // The driver stops draining Alice's transmit queue (a slow connection).
    sim.endpoints[0].clogged = true;
    let mut accepted = 0;
    while sim
        .try_publish(0, session, Payload::new(vec![0]))
        .unwrap()
        .is_some()
    {
        accepted += 1;
        assert!(accepted <= limit, "the queue is bounded");
    }
    assert_eq!(accepted, limit);
    // Draining it lets the session write again, signalled by Writable.
    sim.endpoints[0].clogged = false;
    sim.flush();
    assert!(
        sim.endpoints[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Writable(s) if *s == session))
    );
    assert!(
        sim.try_publish(0, session, Payload::new(vec![0]))
            .unwrap()
            .is_some()
    );
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s.read_count(1, session)
            == limit + 1)
    );
}

#[test]
fn messages_received_before_the_peer_closed_stay_readable_after_the_close() {
    // Upstream hands an application every message that arrived before a session closed;
    // the close must not discard what a slow reader has not taken yet.
    let (mut sim, session) = pair(NetConfig::perfect(), SessionConfig::point_to_point(), 4);
    sim.endpoints[1].reader = Reader::Stalled;
    let mut publisher = Publisher::new(100);
    assert!(sim.run_until(Duration::from_secs(30), |s| {
        publisher.tick(s, session, 0, &[1]);
        publisher.next == publisher.count
            && publisher
                .completions
                .iter()
                .all(|c| s.completion(0, *c) == Some(Ok(())))
    }));
    assert_eq!(
        sim.read_count(1, session),
        0,
        "bob has not read anything yet"
    );
    let now = sim.now;
    sim.endpoints[0].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.endpoints[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. }))
    }));
    assert!(sim.endpoints[1].layer.session_info(session).is_none());

    sim.endpoints[1].reader = Reader::Eager;
    sim.run_for(Duration::from_secs(1));
    assert_eq!(in_order(&sim, 1, 0, session), (0..100).collect::<Vec<_>>());
    // Once read, nothing of the session is left.
    let now = sim.now;
    assert!(sim.endpoints[1].layer.recv(now, session).is_none());
}

#[test]
fn leftovers_of_a_closed_session_can_be_discarded() {
    let (mut sim, session) = pair(NetConfig::perfect(), SessionConfig::point_to_point(), 5);
    sim.endpoints[1].reader = Reader::Stalled;
    let mut publisher = Publisher::new(10);
    assert!(sim.run_until(Duration::from_secs(30), |s| {
        publisher.tick(s, session, 0, &[1]);
        publisher.next == publisher.count
            && publisher
                .completions
                .iter()
                .all(|c| s.completion(0, *c) == Some(Ok(())))
    }));
    let now = sim.now;
    sim.endpoints[0].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.endpoints[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. }))
    }));
    assert_eq!(sim.endpoints[1].layer.readable(session), 10);
    sim.endpoints[1].layer.discard(session);
    assert_eq!(sim.endpoints[1].layer.readable(session), 0);
    let now = sim.now;
    assert!(sim.endpoints[1].layer.recv(now, session).is_none());
}
