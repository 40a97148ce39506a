//! `SessionLayer::handle_frame` and `poll_transmit_frame` against `handle_message` of the
//! decoded frame and `poll_transmit`: two layers in the same state, fed the same bytes one
//! way each, must answer identically — the same
//! messages to send, events, deliveries and counters — for recorded traffic of point-to-point
//! (reliable and fire-and-forget) and group sessions, and for mutated copies of it (missing
//! content, wrong payload kinds, unknown session types and message types, unknown senders,
//! metadata, corrupted bytes).

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slim_session::{Delivery, LayerConfig, Payload, SessionConfig, SessionId, Unverified};
use slim_wire::proto::{self, content::ContentType, message::MessageType};
use slim_wire::{Frame, Name};

use sim::{NetConfig, Sim};

/// Alice (0) with bob (1) in a reliable and a fire-and-forget point-to-point session, and in
/// a group with carol (2) that alice moderates.
fn world(seed: u64) -> (Sim, Vec<SessionId>) {
    let mut sim = Sim::new(seed, NetConfig::perfect());
    for (name, id) in [("org/ns/alice", 1), ("org/ns/bob", 2), ("org/ns/carol", 3)] {
        sim.add(
            name,
            id,
            Unverified::new(name),
            None,
            LayerConfig::default(),
        );
    }
    let name = |s: &str| s.parse::<Name>().unwrap();
    let mut sessions = Vec::new();
    let configs = [
        (SessionConfig::point_to_point(), name("org/ns/bob")),
        (
            SessionConfig::point_to_point().with_reliability(None),
            name("org/ns/bob"),
        ),
        (SessionConfig::group(), name("org/ns/chan")),
    ];
    for (config, destination) in configs {
        let now = sim.now;
        let (session, done) = sim.endpoints[0]
            .layer
            .create_session(now, config, destination)
            .unwrap();
        assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
        sessions.push(session);
    }
    let group = sessions[2];
    for member in ["org/ns/bob", "org/ns/carol"] {
        let now = sim.now;
        let done = sim.endpoints[0]
            .layer
            .invite(now, group, name(member))
            .unwrap();
        assert!(sim.run_until(Duration::from_secs(60), |s| s.completion(0, done).is_some()));
    }
    (sim, sessions)
}

/// Recorded traffic: every session publishes, with and without type and metadata, and the
/// group also one member to one member.
fn corpus(seed: u64) -> Vec<proto::Message> {
    let (mut sim, sessions) = world(seed);
    sim.record();
    for n in 0..30u32 {
        for (i, &session) in sessions.iter().enumerate() {
            let mut payload = Payload::new(n.to_be_bytes().to_vec());
            if n % 3 == 1 {
                payload = payload.with_type("text/plain");
            }
            if n % 4 == 2 {
                payload = payload.with_metadata("k", format!("v{n}"));
            }
            let now = sim.now;
            let from = if n % 2 == 0 { 0 } else { 1 };
            let layer = &mut sim.endpoints[from].layer;
            let _ = if i == 2 && n % 5 == 0 {
                let carol = sim.endpoints[2].name.clone();
                sim.endpoints[from]
                    .layer
                    .publish_to(now, session, &carol, payload)
            } else {
                layer.publish(now, session, payload)
            };
        }
        sim.run_for(Duration::from_millis(5));
    }
    sim.run_for(Duration::from_secs(5));
    sim.trace
        .take()
        .unwrap()
        .into_iter()
        .map(|t| t.message)
        .collect()
}

/// Changes one thing of a message.
fn mutate(message: &mut proto::Message, rng: &mut StdRng) {
    let Some(MessageType::Publish(publish)) = &mut message.message_type else {
        return;
    };
    let session = publish.session.as_mut().unwrap();
    match rng.gen_range(0..12) {
        0 => session.session_message_type = rng.gen_range(-1..25),
        1 => session.session_type = rng.gen_range(-1..4),
        2 => session.message_id = rng.gen_range(0..40),
        3 => session.message_id = rng.r#gen(),
        4 => publish.msg = None,
        5 => publish.msg = Some(proto::Content { content_type: None }),
        6 => {
            publish.msg = Some(proto::Content {
                content_type: Some(ContentType::CommandPayload(proto::CommandPayload::default())),
            })
        }
        7 => {
            let header = publish.header.as_mut().unwrap();
            header.error = Some(rng.r#gen());
        }
        8 => {
            // A sender the layer never heard of, with or without its strings.
            let header = publish.header.as_mut().unwrap();
            let mut stranger = "org/ns/mallory"
                .parse::<Name>()
                .unwrap()
                .with_id(slim_wire::InstanceId(9))
                .to_proto();
            if rng.r#gen() {
                stranger.str_name = None;
            }
            header.source = Some(stranger);
        }
        9 => {
            message.metadata.insert("PUBLISH_TO".into(), "TRUE".into());
        }
        10 => {
            if let Some(ContentType::AppPayload(app)) =
                publish.msg.as_mut().and_then(|c| c.content_type.as_mut())
            {
                app.payload_type = "other".into();
                app.blob = Bytes::new();
            }
        }
        _ => {
            // A name whose strings do not hash to its key.
            let header = publish.header.as_mut().unwrap();
            if let Some(strings) = header.source.as_mut().and_then(|s| s.str_name.as_mut()) {
                strings.str_component_2 = "impostor".into();
            }
        }
    }
}

/// What the application reads, comparable across the two layers.
fn normalized(delivery: Delivery) -> String {
    match delivery {
        Ok(message) => {
            let c = message.context;
            let mut metadata: Vec<_> = c.metadata.iter().collect();
            metadata.sort();
            format!(
                "{:?} {} {} {} {:?} {} {} {} {:?}",
                c.session,
                c.source,
                c.destination,
                c.payload_type,
                metadata,
                message.message_id,
                c.identity,
                c.direct,
                message.payload
            )
        }
        Err(error) => format!("{error:?}"),
    }
}

/// Everything the layer of endpoint `index` has to say now.
/// With `frames`, messages are taken encoded (`poll_transmit_frame`) and decoded here.
fn outputs(sim: &mut Sim, index: usize, sessions: &[SessionId], frames: bool) -> Vec<String> {
    let now = sim.now;
    let layer = &mut sim.endpoints[index].layer;
    let mut out = Vec::new();
    let mut next = || {
        if frames {
            let frame = layer.poll_transmit_frame()?.unwrap();
            Some(proto::Message::decode(frame.bytes().clone()).unwrap())
        } else {
            layer.poll_transmit()
        }
    };
    while let Some(mut message) = next() {
        // Metadata is a hash map: sorted, so it compares by content.
        let mut metadata: Vec<_> = std::mem::take(&mut message.metadata).into_iter().collect();
        metadata.sort();
        out.push(format!("transmit {message:?} {metadata:?}"));
    }
    while let Some(event) = layer.poll_event() {
        out.push(format!("event {event:?}"));
    }
    for &session in sessions {
        while let Some(delivery) = layer.recv(now, session) {
            out.push(format!("recv {}", normalized(delivery)));
        }
    }
    out.push(format!("stats {:?}", layer.stats()));
    out
}

fn check_identical(seed: u64, rounds: usize) {
    let corpus = corpus(seed);
    assert!(corpus.len() > 100, "recorded {} messages", corpus.len());
    let (mut fast, sessions) = world(seed);
    let (mut decoded, same_sessions) = world(seed);
    assert_eq!(sessions, same_sessions, "the twins must start alike");
    let bob = 1;
    // Both twins drained, so only what the inputs below cause is compared.
    outputs(&mut fast, bob, &sessions, true);
    outputs(&mut decoded, bob, &sessions, false);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut undecodable = 0;
    let mut answered = 0;
    for round in 0..rounds {
        let mut message = corpus[rng.gen_range(0..corpus.len())].clone();
        if rng.gen_bool(0.5) {
            mutate(&mut message, &mut rng);
        }
        let mut bytes = message.encode_to_vec();
        if round % 5 == 0 {
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.r#gen();
            }
        }
        let Ok(frame) = Frame::parse(Bytes::from(bytes)) else {
            continue;
        };
        let (now_fast, now_decoded) = (fast.now, decoded.now);
        match frame.decode() {
            Ok(message) => decoded.endpoints[bob]
                .layer
                .handle_message(now_decoded, message),
            Err(_) => undecodable += 1,
        }
        fast.endpoints[bob].layer.handle_frame(now_fast, frame);
        if round % 50 == 49 {
            // Let timers run (acks, retransmission requests, heartbeats) on both.
            for sim in [&mut fast, &mut decoded] {
                sim.now += Duration::from_millis(300);
                let now = sim.now;
                sim.endpoints[bob].layer.handle_timeout(now);
            }
        }
        let mut expected = outputs(&mut decoded, bob, &sessions, false);
        let got = outputs(&mut fast, bob, &sessions, true);
        // handle_frame also counts frames prost cannot decode (the old driver only logged).
        if let Some(stats) = expected.last_mut() {
            let mut counted = decoded.endpoints[bob].layer.stats().clone();
            counted.invalid += undecodable;
            *stats = format!("stats {counted:?}");
        }
        if got.len() > 1 {
            answered += 1;
        }
        assert_eq!(got, expected, "round {round}");
    }
    assert!(
        answered > rounds / 10,
        "only {answered} inputs had an effect"
    );
}

#[test]
fn frames_and_decoded_messages_lead_to_the_same_behaviour() {
    check_identical(3, 3000);
}

#[test]
fn the_same_holds_for_another_history() {
    check_identical(17, 3000);
}

/// The fast path reads metadata and payload types as the decode does.
#[test]
fn metadata_and_payload_types_reach_the_application() {
    let (mut sim, sessions) = world(5);
    let payload = Payload::new(&b"x"[..])
        .with_type("text/plain")
        .with_metadata("k", "v");
    sim.try_publish(0, sessions[0], payload).unwrap().unwrap();
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.read_count(1, sessions[0])
            == 1)
    );
    let delivery = sim.endpoints[1].inbox[&sessions[0]][0].as_ref().unwrap();
    assert_eq!(delivery.context.payload_type, "text/plain");
    assert_eq!(
        delivery.context.metadata,
        HashMap::from([("k".to_owned(), "v".to_owned())])
    );
    assert_eq!(&*delivery.context.identity, "org/ns/alice");
    assert_eq!(&delivery.payload[..], b"x");
}

/// Consecutive messages whose contexts say the same share one; any difference (payload type,
/// metadata) gets its own, and a context with metadata is never shared.
#[test]
fn alike_contexts_are_shared_and_different_ones_are_not() {
    let (mut sim, sessions) = world(9);
    let session = sessions[0];
    let sent = [
        Payload::new(&b"1"[..]),
        Payload::new(&b"2"[..]),
        Payload::new(&b"3"[..]).with_type("text/plain"),
        Payload::new(&b"4"[..]).with_type("text/plain"),
        Payload::new(&b"5"[..])
            .with_type("text/plain")
            .with_metadata("k", "v"),
        Payload::new(&b"6"[..])
            .with_type("text/plain")
            .with_metadata("k", "v"),
        Payload::new(&b"7"[..]).with_type("text/plain"),
    ];
    for payload in sent {
        sim.try_publish(0, session, payload).unwrap().unwrap();
        // One at a time: their order of arrival is then their order of publishing.
        let read = sim.read_count(1, session) + 1;
        assert!(sim.run_until(Duration::from_secs(5), |s| s.read_count(1, session) == read));
    }
    let got: Vec<_> = sim.endpoints[1].inbox[&session]
        .iter()
        .map(|d| d.as_ref().unwrap())
        .collect();
    assert_eq!(got.len(), 7);
    let types: Vec<_> = got
        .iter()
        .map(|m| m.context.payload_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "msg",
            "msg",
            "text/plain",
            "text/plain",
            "text/plain",
            "text/plain",
            "text/plain"
        ]
    );
    let shared = |a: usize, b: usize| Arc::ptr_eq(&got[a].context, &got[b].context);
    assert!(shared(0, 1) && shared(2, 3));
    assert!(!shared(1, 2), "another payload type");
    assert!(got[4].context.metadata.contains_key("k"));
    assert!(!shared(4, 5), "metadata: never shared, even when alike");
    assert_eq!(Arc::strong_count(&got[5].context), 1);
    assert!(got[6].context.metadata.is_empty() && !shared(5, 6));
    assert_eq!(
        got.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
}
