//! Golden transcripts: the exact messages of a point-to-point handshake (with MLS), data,
//! and close, and of a group's invite, heartbeat, removal and leave — types, directions,
//! destinations, fanouts, ids echoed, payload fields and metadata, as the reference
//! describes them (§4.3–§4.5, §13 items 8–12).

// Test helpers outside #[test] functions may unwrap too (clippy.toml allows it in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use slim_session::wire::{LEAVING_SESSION, PUBLISH_TO};
use slim_session::{LayerConfig, Payload, SessionConfig};
use slim_wire::proto::{
    self, GroupUpdateOp, ParticipantState, SessionMessageType as T, SessionType,
    command_payload::CommandPayloadType as C, message::MessageType,
};
use slim_wire::{InstanceId, Name};

use sim::fake_identity::FakeIdentity;
use sim::fake_mls::MlsWorld;
use sim::{NetConfig, Sim, Traced};

/// A decoded view of one traced message.
struct Seen<'a> {
    traced: &'a Traced,
    header: &'a proto::SlimHeader,
    session: proto::SessionHeader,
    content: Option<&'a proto::content::ContentType>,
}

impl<'a> Seen<'a> {
    fn new(traced: &'a Traced) -> Self {
        let Some(MessageType::Publish(publish)) = &traced.message.message_type else {
            panic!("not a publish")
        };
        Seen {
            traced,
            header: publish.header.as_ref().unwrap(),
            session: publish.session.unwrap(),
            content: publish.msg.as_ref().and_then(|c| c.content_type.as_ref()),
        }
    }

    fn kind(&self) -> T {
        T::try_from(self.session.session_message_type).unwrap()
    }

    fn id(&self) -> u32 {
        self.session.message_id
    }

    fn destination(&self) -> Name {
        Name::from_proto(self.header.destination.as_ref().unwrap()).unwrap()
    }

    fn source(&self) -> Name {
        Name::from_proto(self.header.source.as_ref().unwrap()).unwrap()
    }

    fn command(&self) -> &'a C {
        match self.content {
            Some(proto::content::ContentType::CommandPayload(c)) => {
                c.command_payload_type.as_ref().unwrap()
            }
            other => panic!("{:?} has no command: {other:?}", self.kind()),
        }
    }

    fn app(&self) -> &'a proto::ApplicationPayload {
        match self.content {
            Some(proto::content::ContentType::AppPayload(a)) => a,
            other => panic!("{:?} has no app payload: {other:?}", self.kind()),
        }
    }

    fn metadata(&self, key: &str) -> Option<&'a str> {
        self.traced.message.metadata.get(key).map(String::as_str)
    }
}

/// Common header facts of every session message.
fn check_common(seen: &Seen<'_>, session_id: u32, session_type: SessionType) {
    let kind = seen.kind();
    assert_eq!(seen.session.session_id, session_id, "{kind:?}");
    assert_eq!(seen.session.session_type, session_type as i32, "{kind:?}");
    assert_eq!(seen.header.ttl, 8);
    assert!(!seen.header.identity.is_empty(), "{kind:?} carries a token");
    assert_eq!(seen.header.recv_from, None);
    assert_eq!(seen.header.forward_to, None);
    assert_eq!(seen.header.incoming_conn, None);
    let command = kind as i32 >= T::DiscoveryRequest as i32;
    assert_eq!(
        seen.header.e2e_header_sig.is_some(),
        command,
        "{kind:?} signed iff command"
    );
    if command {
        assert_ne!(seen.id(), 0, "control ids are non-zero");
    }
}

fn mls_app(sim: &mut Sim, world: &MlsWorld, service: &str, id: u128) -> usize {
    sim.add(
        &format!("org/ns/{service}"),
        id,
        FakeIdentity::new(service, "acme"),
        Some(Box::new(world.provider(service))),
        LayerConfig::default(),
    )
}

#[test]
fn point_to_point_handshake_data_and_close() {
    let world = MlsWorld::default();
    let mut sim = Sim::new(1, NetConfig::perfect());
    let (a, b) = (
        mls_app(&mut sim, &world, "alice", 1),
        mls_app(&mut sim, &world, "bob", 2),
    );
    let alice = sim.endpoints[a].name.clone();
    let bob = sim.endpoints[b].name.clone();
    sim.record();
    let now = sim.now;
    let config = SessionConfig::point_to_point()
        .with_mls()
        .with_metadata("topic", "weather");
    let (session, done) = sim.endpoints[a]
        .layer
        .create_session(now, config, "org/ns/bob".parse().unwrap())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.completion(a, done).is_some()));
    let now = sim.now;
    sim.endpoints[a]
        .layer
        .publish(
            now,
            session,
            Payload::new(&b"hi"[..]).with_metadata("k", "v"),
        )
        .unwrap();
    sim.run_for(Duration::from_millis(100));
    let reply_to = sim.endpoints[b].inbox[&session][0].clone().unwrap();
    let now = sim.now;
    sim.endpoints[b]
        .layer
        .publish_to(
            now,
            session,
            &reply_to.context.source,
            Payload::new(&b"ho"[..]),
        )
        .unwrap();
    sim.run_for(Duration::from_millis(100));
    let now = sim.now;
    let closed = sim.endpoints[a].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.completion(a, closed).is_some()
    }));
    sim.run_for(Duration::from_millis(100));

    let trace = sim.trace.take().unwrap();
    let seen: Vec<Seen<'_>> = trace.iter().map(Seen::new).collect();
    let flow: Vec<(usize, Vec<usize>, T)> = seen
        .iter()
        .map(|s| (s.traced.from, s.traced.to.clone(), s.kind()))
        .collect();
    assert_eq!(
        flow,
        vec![
            (a, vec![b], T::DiscoveryRequest),
            (b, vec![a], T::DiscoveryReply),
            (a, vec![b], T::JoinRequest),
            (b, vec![a], T::JoinReply),
            (a, vec![b], T::GroupWelcome),
            (b, vec![a], T::GroupAck),
            (a, vec![b], T::Msg),
            (b, vec![a], T::MsgAck),
            (b, vec![a], T::Msg),
            (a, vec![b], T::MsgAck),
            (a, vec![b], T::GroupClose),
            (b, vec![a], T::GroupAck),
        ]
    );
    for s in &seen {
        check_common(s, session.0, SessionType::PointToPoint);
        assert_eq!(s.header.fanout, 1, "{:?}", s.kind());
    }
    let [
        discovery,
        discovery_reply,
        join,
        join_reply,
        welcome,
        welcome_ack,
        msg,
        ack,
        reply,
        reply_ack,
        close,
        close_ack,
    ] = &seen[..]
    else {
        panic!()
    };

    // Discovery goes to the name as given (any instance); the reply comes from the
    // requested name with the replier's id and echoes the id.
    assert_eq!(discovery.source(), alice);
    assert!(discovery.destination().id().is_any());
    assert!(discovery.destination().same_service(&bob));
    assert!(matches!(discovery.command(), C::DiscoveryRequest(_)));
    assert_eq!(discovery_reply.source(), bob);
    assert_eq!(discovery_reply.destination(), alice);
    assert_eq!(discovery_reply.id(), discovery.id());

    // JoinRequest: to the discovered instance; timers iff reliable, MLS settings iff MLS,
    // no channels for point-to-point; session metadata as message metadata.
    assert_eq!(join.destination(), bob);
    let C::JoinRequest(request) = join.command() else {
        panic!()
    };
    let timers = request.timer_settings.unwrap();
    assert_eq!((timers.timeout, timers.max_retries), (1000, 10));
    assert_eq!(
        request
            .mls_settings
            .unwrap()
            .header_integrity_validation_percent,
        100
    );
    assert_eq!(
        (request.channel.as_ref(), request.control.as_ref()),
        (None, None)
    );
    assert_eq!(join.metadata("topic"), Some("weather"));

    let C::JoinReply(reply_payload) = join_reply.command() else {
        panic!()
    };
    assert_eq!(join_reply.id(), join.id());
    assert!(
        reply_payload
            .key_package
            .as_ref()
            .is_some_and(|k| !k.is_empty())
    );
    let participant = reply_payload.participant.as_ref().unwrap();
    assert_eq!(participant.name, Some(bob.to_proto()));
    assert_eq!(participant.status, ParticipantState::Online as i32);

    // Welcome: roster of both, MLS welcome with the commit id of the add (1).
    let C::GroupWelcome(w) = welcome.command() else {
        panic!()
    };
    let roster: Vec<Name> = w
        .participants
        .iter()
        .map(|p| Name::from_proto(p.name.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(roster, vec![alice.clone(), bob.clone()]);
    let mls = w.mls.as_ref().unwrap();
    assert_eq!(mls.commit_id, 1);
    assert!(!mls.mls_content.is_empty());
    assert_eq!(welcome_ack.id(), welcome.id());
    assert!(matches!(welcome_ack.command(), C::GroupAck(_)));

    // Data: id 1 of the sender's stream, payload type kept, blob encrypted, metadata kept;
    // the ack echoes the id with an empty payload.
    assert_eq!(msg.id(), 1);
    assert_eq!(msg.destination(), bob);
    assert_eq!(msg.app().payload_type, "msg");
    assert_ne!(&msg.app().blob[..], b"hi");
    assert_eq!(msg.metadata("k"), Some("v"));
    assert_eq!(ack.id(), 1);
    assert_eq!(
        (ack.app().payload_type.as_str(), ack.app().blob.len()),
        ("", 0)
    );
    // publish_to in a point-to-point session is an ordinary publish (id 1 of Bob's stream).
    assert_eq!(reply.id(), 1);
    assert_eq!(reply.metadata(PUBLISH_TO), None);
    assert_eq!(reply_ack.id(), 1);

    // Close: GroupClose naming both, acknowledged.
    let C::GroupClose(c) = close.command() else {
        panic!()
    };
    assert_eq!(c.participants, vec![alice.to_proto(), bob.to_proto()]);
    assert_eq!(close_ack.id(), close.id());
}

#[test]
fn group_invite_heartbeat_remove_and_leave() {
    let world = MlsWorld::default();
    let mut sim = Sim::new(2, NetConfig::perfect());
    let m = mls_app(&mut sim, &world, "moderator", 10);
    let x = mls_app(&mut sim, &world, "x", 11);
    let y = mls_app(&mut sim, &world, "y", 12);
    let z = mls_app(&mut sim, &world, "z", 13);
    let names: Vec<Name> = sim.endpoints.iter().map(|e| e.name.clone()).collect();
    let now = sim.now;
    let (session, _) = sim.endpoints[m]
        .layer
        .create_session(
            now,
            SessionConfig::group().with_mls(),
            "org/ns/chan".parse().unwrap(),
        )
        .unwrap();
    let invite = |sim: &mut Sim, who: &str| {
        let now = sim.now;
        let done = sim.endpoints[m]
            .layer
            .invite(now, session, who.parse().unwrap())
            .unwrap();
        assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(m, done).is_some()));
    };
    invite(&mut sim, "org/ns/x");
    sim.record();
    invite(&mut sim, "org/ns/y");
    let second = sim.trace.take().unwrap();
    let seen: Vec<Seen<'_>> = second.iter().map(Seen::new).collect();
    for s in &seen {
        check_common(s, session.0, SessionType::Multicast);
    }
    let kinds: Vec<(usize, T)> = seen.iter().map(|s| (s.traced.from, s.kind())).collect();
    assert_eq!(
        kinds,
        vec![
            (m, T::DiscoveryRequest),
            (y, T::DiscoveryReply),
            (m, T::JoinRequest),
            (y, T::JoinReply),
            (m, T::GroupUpdate),
            (m, T::GroupWelcome),
            (x, T::GroupAck),
            (y, T::GroupAck),
        ]
    );
    let join = &seen[2];
    let C::JoinRequest(request) = join.command() else {
        panic!()
    };
    let channel = Name::from_proto(request.channel.as_ref().unwrap()).unwrap();
    let control = Name::from_proto(request.control.as_ref().unwrap()).unwrap();
    assert!(channel.same_service(&"org/ns/chan".parse().unwrap()));
    assert!(control.same_service(&channel) && control != channel);
    assert!(!channel.id().is_any() && !control.id().is_any());

    // GroupUpdate(ADD): to the control channel, fanout 256, roster of three, commit 2;
    // only the existing member x acknowledges it; y gets the welcome with commit 2.
    let update = &seen[4];
    assert_eq!(update.destination(), control);
    assert_eq!(update.header.fanout, 256);
    let C::GroupUpdate(u) = update.command() else {
        panic!()
    };
    assert_eq!(u.op, GroupUpdateOp::Add as i32);
    assert_eq!(
        u.participant.as_ref().unwrap().name,
        Some(names[y].to_proto())
    );
    assert_eq!(u.participants.len(), 3);
    assert_eq!(u.mls.as_ref().unwrap().commit_id, 2);
    assert_eq!(seen[6].id(), update.id());
    let welcome = &seen[5];
    assert_eq!(welcome.destination(), names[y]);
    assert_eq!(welcome.header.fanout, 1);
    let C::GroupWelcome(w) = welcome.command() else {
        panic!()
    };
    assert_eq!(w.mls.as_ref().unwrap().commit_id, 2);
    assert_eq!(seen[7].id(), welcome.id());

    // Data goes to the data channel with fanout 256 and reaches everyone else.
    invite(&mut sim, "org/ns/z");
    sim.record();
    let now = sim.now;
    sim.endpoints[x]
        .layer
        .publish(now, session, Payload::new(&b"all"[..]))
        .unwrap();
    sim.run_for(Duration::from_millis(50));
    let data = sim.trace.take().unwrap();
    let first = Seen::new(&data[0]);
    assert_eq!(first.kind(), T::Msg);
    assert_eq!(first.destination(), channel);
    assert_eq!(first.header.fanout, 256);
    let mut reached = data[0].to.clone();
    reached.sort();
    assert_eq!(reached, vec![m, y, z]);

    // Heartbeats: every 10 s to the control channel, fanout 256, with the MLS epoch; each
    // participant also answers the moderator's heartbeat, echoing its id, to the moderator.
    sim.record();
    sim.run_for(Duration::from_secs(11));
    let beats = sim.trace.take().unwrap();
    let beats: Vec<Seen<'_>> = beats
        .iter()
        .map(Seen::new)
        .filter(|s| s.kind() == T::Heartbeat)
        .collect();
    let (broadcasts, echoes): (Vec<&Seen<'_>>, Vec<&Seen<'_>>) =
        beats.iter().partition(|b| b.destination() == control);
    assert_eq!(broadcasts.len(), 4, "one per member");
    for beat in beats.iter() {
        let C::Heartbeat(h) = beat.command() else {
            panic!()
        };
        assert_eq!(h.epoch, 3, "three members added: epoch 3");
    }
    for beat in &broadcasts {
        assert_eq!(beat.header.fanout, 256);
    }
    let from_moderator = broadcasts.iter().find(|b| b.traced.from == m).unwrap();
    assert_eq!(echoes.len(), 3, "one echo per participant");
    for echo in &echoes {
        assert_eq!(echo.destination(), names[m]);
        assert_eq!(echo.header.fanout, 1);
        assert_eq!(echo.id(), from_moderator.id());
    }

    // Remove z: GroupUpdate(REMOVE) to the rest first, then a LeaveRequest to z.
    sim.record();
    let now = sim.now;
    let done = sim.endpoints[m]
        .layer
        .remove(now, session, names[z].clone())
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(m, done).is_some()));
    let removal = sim.trace.take().unwrap();
    let removal: Vec<Seen<'_>> = removal
        .iter()
        .map(Seen::new)
        .filter(|s| s.kind() != T::Heartbeat)
        .collect();
    let kinds: Vec<T> = removal.iter().map(Seen::kind).collect();
    assert_eq!(
        kinds,
        vec![
            T::GroupUpdate,
            T::GroupAck,
            T::GroupAck,
            T::GroupAck,
            T::LeaveRequest,
            T::LeaveReply
        ]
    );
    let C::GroupUpdate(u) = removal[0].command() else {
        panic!()
    };
    assert_eq!(u.op, GroupUpdateOp::Remove as i32);
    assert_eq!(
        u.participant.as_ref().unwrap().name,
        Some(names[z].to_proto())
    );
    assert_eq!(u.participants.len(), 3);
    assert_eq!(u.mls.as_ref().unwrap().commit_id, 4);
    assert_eq!(removal[4].destination(), names[z]);
    assert_eq!(removal[4].header.fanout, 1);
    assert_eq!(removal[5].id(), removal[4].id());

    // y leaves on its own: LeaveRequest with LEAVING_SESSION=TRUE to the moderator, a
    // LeaveReply, then the moderator's GroupUpdate(REMOVE) to the remaining member.
    sim.record();
    let now = sim.now;
    let left = sim.endpoints[y].layer.close(now, session).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(y, left).is_some()));
    sim.run_for(Duration::from_millis(100));
    let leave = sim.trace.take().unwrap();
    let leave: Vec<Seen<'_>> = leave
        .iter()
        .map(Seen::new)
        .filter(|s| s.kind() != T::Heartbeat)
        .collect();
    let kinds: Vec<(usize, T)> = leave.iter().map(|s| (s.traced.from, s.kind())).collect();
    assert_eq!(
        kinds,
        vec![
            (y, T::LeaveRequest),
            (m, T::LeaveReply),
            (m, T::GroupUpdate),
            (x, T::GroupAck)
        ]
    );
    assert_eq!(leave[0].metadata(LEAVING_SESSION), Some("TRUE"));
    assert_eq!(leave[0].destination(), names[m]);
    assert_eq!(leave[1].id(), leave[0].id());
    let _ = InstanceId::ANY;
}
