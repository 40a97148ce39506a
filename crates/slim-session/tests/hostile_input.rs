//! Hostile input from the network, in the simulator: the real traffic of a group (with a
//! member's removal) or of a point-to-point pair, real identities and signed commands, with
//! MLS or without (its whole handshake and data), mutated and injected into its members.
//!
//! Anyone who can reach an application's name can send it anything: copies of what they
//! overheard with fields changed (message type, ids, session, names, flags, metadata), command
//! and payload bytes corrupted, payloads moved between messages, frames cut short or with bits
//! flipped. Each case injects a few hundred such messages, interleaved with the group's own
//! timers, and then requires:
//!
//! - no layer panics (the driver would lose every session of the application);
//! - the garbage was noticed: the layers counted refusals;
//! - with MLS, nothing forged is delivered: every reader has read exactly the numbers the
//!   others really sent, each once, in order, no loss was reported, no session ended, and a
//!   second exchange after the injection arrives complete.
//!
//! Without MLS nothing authenticates data (a copy with the next message id is taken for the
//! real one, which then counts as a duplicate), so there the session only has to survive: the
//! fast path that reads data and acknowledgements straight from the frame (`wire/frame.rs`)
//! is only taken by sessions without MLS, and it gets the same garbage.
//!
//! The mutations come from a seeded generator, so a failing case reproduces from its seed
//! (printed in the assertion message). Cases are many and short rather than few and long:
//! the handshake of every case is recorded afresh, so copies carry that case's ids.

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slim_session::{Event, SessionId, Stats};
use slim_wire::proto::{self, message::MessageType};
use slim_wire::{Frame, Name};

use sim::real::{exchange, group_in, pair_in};
use sim::{NetConfig, Sim};

/// Members besides the moderator in a group case; the last one is removed while recording,
/// so the recording holds the removal's commands (leave request and reply, the group update).
const MEMBERS: usize = 3;
/// Who publishes: a group's moderator and first member, or both ends of a pair.
const SENDERS: [usize; 2] = [0, 1];
/// Numbers each sender publishes before the injection and again after it.
const BATCH: u32 = 10;
/// Mutated messages injected per case.
const INJECTED: usize = 300;
/// Cases run by the test (each with its own seed).
const CASES: u64 = 24;

/// Metadata keys the session protocol gives a meaning to, and one it does not.
const METADATA_KEYS: [&str; 4] = ["PUBLISH_TO", "LEAVING_SESSION", "DELETE_GROUP", "X-NOISE"];

/// What kind of session a case records and attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A moderator and `MEMBERS` members, the last one removed while recording.
    Group,
    /// Two applications (endpoints 0 and 1), both sending.
    PointToPoint,
}

/// One case: a recorded session, its traffic mutated into `INJECTED` messages, the checks.
fn case(seed: u64, shape: Shape, mls: bool) {
    let mut sim = Sim::new(seed, NetConfig::perfect());
    sim.record();
    let session = match shape {
        Shape::Group => group_in(&mut sim, MEMBERS, mls),
        Shape::PointToPoint => pair_in(&mut sim, mls),
    };
    exchange(&mut sim, session, &SENDERS, &readers(shape), 0..BATCH);
    if shape == Shape::Group {
        remove_last_member(&mut sim, session, seed);
    }
    let pool: Vec<proto::Message> = sim
        .trace
        .take()
        .unwrap()
        .into_iter()
        .map(|traced| traced.message)
        .collect();
    let names: Vec<Name> = sim.endpoints.iter().map(|e| e.name.clone()).collect();
    let before: Vec<Stats> = sim
        .endpoints
        .iter()
        .map(|e| e.layer.stats().clone())
        .collect();

    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut parsed = 0;
    for round in 0..INJECTED {
        let victim = rng.gen_range(0..sim.endpoints.len());
        let bytes = mutated(&mut rng, &pool, &names, session);
        // What the link would refuse never reaches a layer.
        if let Ok(frame) = Frame::parse(bytes) {
            parsed += 1;
            let now = sim.now;
            sim.endpoints[victim].layer.handle_frame(now, frame);
        }
        sim.flush();
        if round % 25 == 0 {
            // Let timers (retransmissions, heartbeats, held acks) run among the garbage.
            sim.run_for(Duration::from_millis(rng.gen_range(1..400)));
        }
    }
    assert!(
        parsed > INJECTED / 2,
        "seed {seed}: only {parsed} frames parsed"
    );
    sim.run_for(Duration::from_secs(5));
    let refused: u64 = sim
        .endpoints
        .iter()
        .zip(&before)
        .map(|(endpoint, earlier)| refusals(endpoint.layer.stats()) - refusals(earlier))
        .sum();
    assert!(refused > 0, "seed {seed}: no layer noticed the garbage");
    if mls {
        nothing_forged_got_through(&mut sim, shape, session, seed);
    }
}

/// The moderator removes the last member (so the recording holds a removal).
fn remove_last_member(sim: &mut Sim, session: SessionId, seed: u64) {
    let now = sim.now;
    let removed = sim.endpoints[MEMBERS].name.clone();
    let done = sim.endpoints[0]
        .layer
        .remove(now, session, removed)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    assert_eq!(
        sim.completion(0, done),
        Some(Ok(())),
        "seed {seed}: removal"
    );
}

/// The checks that hold only with MLS (see the module docs).
fn nothing_forged_got_through(sim: &mut Sim, shape: Shape, session: SessionId, seed: u64) {
    let readers = readers(shape);
    for (index, endpoint) in sim.endpoints.iter().enumerate().take(readers.len()) {
        assert!(
            !endpoint
                .events
                .iter()
                .any(|e| matches!(e, Event::SessionClosed { .. })),
            "seed {seed}: endpoint {index} lost its session: {:?}",
            endpoint.events
        );
        let inbox = endpoint.inbox.get(&session).map_or(&[][..], Vec::as_slice);
        assert!(
            inbox.iter().all(Result::is_ok),
            "seed {seed}: endpoint {index} was told of a loss"
        );
    }
    // Exactly the numbers really sent, once and in order, before and after the injection.
    exchange(sim, session, &SENDERS, &readers, BATCH..2 * BATCH);
    for index in readers {
        let expected = SENDERS.iter().filter(|&&s| s != index).count() * 2 * BATCH as usize;
        assert_eq!(
            sim.read_count(index, session),
            expected,
            "seed {seed}: endpoint {index} read something nobody sent"
        );
    }
}

/// The endpoints that read: in a group all but the removed member, point to point both.
fn readers(shape: Shape) -> Vec<usize> {
    match shape {
        Shape::Group => (0..MEMBERS).collect(),
        Shape::PointToPoint => vec![0, 1],
    }
}

/// Messages a layer refused or could not use, of every kind.
fn refusals(stats: &Stats) -> u64 {
    stats.invalid
        + stats.unknown_session
        + stats.misaddressed
        + stats.unknown_sender
        + stats.verification_failed
        + stats.replayed
        + stats.decrypt_failed
}

/// A message of `pool`, changed in one to three ways, encoded; sometimes cut or bit-flipped
/// after encoding.
fn mutated(rng: &mut StdRng, pool: &[proto::Message], names: &[Name], session: SessionId) -> Bytes {
    let mut message = pool[rng.gen_range(0..pool.len())].clone();
    for _ in 0..rng.gen_range(1..=3) {
        mutate(rng, &mut message, pool, names, session);
    }
    let mut bytes = message.encode_to_vec();
    match rng.gen_range(0..10) {
        0 if !bytes.is_empty() => {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] ^= 1 << rng.gen_range(0..8);
        }
        1 if !bytes.is_empty() => bytes.truncate(rng.gen_range(0..bytes.len())),
        _ => {}
    }
    Bytes::from(bytes)
}

/// One change to a copy of overheard traffic.
fn mutate(
    rng: &mut StdRng,
    message: &mut proto::Message,
    pool: &[proto::Message],
    names: &[Name],
    session: SessionId,
) {
    let choice = rng.gen_range(0..11);
    if choice == 0 {
        let key = METADATA_KEYS[rng.gen_range(0..METADATA_KEYS.len())];
        message.metadata.insert(key.to_owned(), "TRUE".to_owned());
        return;
    }
    let Some(MessageType::Publish(publish)) = message.message_type.as_mut() else {
        return;
    };
    match choice {
        1 => {
            if let Some(header) = publish.session.as_mut() {
                header.session_message_type = rng.gen_range(0..24);
            }
        }
        2 => {
            if let Some(header) = publish.session.as_mut() {
                header.message_id = match rng.gen_range(0..5) {
                    0 => 0,
                    1 => header.message_id.wrapping_add(1),
                    2 => header.message_id.wrapping_sub(1),
                    3 => u32::MAX / 2 + rng.gen_range(0..3),
                    _ => rng.r#gen(),
                };
            }
        }
        3 => {
            if let Some(header) = publish.session.as_mut() {
                header.session_id = if rng.gen_bool(0.5) {
                    session.0
                } else {
                    rng.r#gen()
                };
                header.session_type = rng.gen_range(0..4);
            }
        }
        4 => {
            // Corrupt the content's bytes (a command's fields, MLS messages, ciphertext).
            if let Some(content) = publish.msg.as_ref() {
                let mut bytes = content.encode_to_vec();
                for _ in 0..rng.gen_range(1..4) {
                    if bytes.is_empty() {
                        break;
                    }
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.r#gen();
                }
                if let Ok(corrupted) = proto::Content::decode(bytes.as_slice()) {
                    publish.msg = Some(corrupted);
                }
            }
        }
        5 => {
            // Another message's content under this header.
            let donor = &pool[rng.gen_range(0..pool.len())];
            if let Some(MessageType::Publish(other)) = &donor.message_type {
                publish.msg = other.msg.clone();
            }
        }
        6 => {
            if let Some(header) = publish.header.as_mut() {
                header.error = Some(rng.r#gen());
            }
        }
        7 => {
            if let Some(header) = publish.header.as_mut() {
                let name = names[rng.gen_range(0..names.len())].to_proto();
                if rng.gen_bool(0.5) {
                    header.source = Some(name);
                } else {
                    header.destination = Some(name);
                }
            }
        }
        8 => {
            if let Some(header) = publish.session.as_mut() {
                header.takes_ack_ranges = rng.r#gen();
                header.ack_range_first = rng.gen_range(0..header.message_id.saturating_add(2));
            }
        }
        9 => match rng.gen_range(0..3) {
            0 => publish.session = None,
            1 => publish.msg = None,
            _ => {
                if let Some(header) = publish.header.as_mut() {
                    header.e2e_header_sig = None;
                }
            }
        },
        _ => {
            if let Some(header) = publish.header.as_mut() {
                header.identity = match rng.gen_range(0..3) {
                    0 => String::new(),
                    1 => "not a token".to_owned(),
                    _ => header.identity.chars().rev().collect(),
                };
            }
        }
    }
}

#[test]
fn a_members_removal_handed_to_another_member_is_dropped() {
    // A relay (or anyone who can write to a member's link) replays the moderator's signed
    // LeaveRequest for member 3 to member 1: valid signature, fresh id for member 1.
    let mut sim = Sim::new(7, NetConfig::perfect());
    let session = group_in(&mut sim, MEMBERS, true);
    sim.record();
    let now = sim.now;
    let removed = sim.endpoints[MEMBERS].name.clone();
    let done = sim.endpoints[0]
        .layer
        .remove(now, session, removed)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    let leave = sim
        .trace
        .take()
        .unwrap()
        .into_iter()
        .find(|t| sim::kind(&t.message) == proto::SessionMessageType::LeaveRequest)
        .expect("the removal sent a LeaveRequest")
        .message;
    let frame = Frame::parse(Bytes::from(leave.encode_to_vec())).unwrap();
    let now = sim.now;
    sim.endpoints[1].layer.handle_frame(now, frame);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.endpoints[1].layer.stats().misaddressed, 1);
    assert!(
        !sim.endpoints[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. })),
        "member 1 left on a removal meant for member 3"
    );
    exchange(
        &mut sim,
        session,
        &SENDERS,
        &readers(Shape::Group),
        0..BATCH,
    );
}

/// Every seed of one variant.
fn cases(shape: Shape, mls: bool) {
    for seed in 0..CASES {
        case(seed, shape, mls);
    }
}

#[test]
fn mutated_traffic_never_crashes_an_mls_group_nor_reaches_its_applications() {
    cases(Shape::Group, true);
}

#[test]
fn mutated_traffic_never_crashes_a_group_without_mls() {
    cases(Shape::Group, false);
}

#[test]
fn mutated_traffic_never_crashes_an_mls_pair_nor_reaches_its_applications() {
    cases(Shape::PointToPoint, true);
}

#[test]
fn mutated_traffic_never_crashes_a_pair_without_mls() {
    cases(Shape::PointToPoint, false);
}
