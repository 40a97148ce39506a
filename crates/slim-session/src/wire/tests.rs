//! Field-by-field checks of every session message against the reference (§2.2, §4.3).

use std::time::Duration;

use bytes::Bytes;
use slim_wire::proto::{
    self, GroupUpdateOp, ParticipantState, SessionMessageType as T, SessionType,
    command_payload::CommandPayloadType as C,
};
use slim_wire::{InstanceId, Name};

use super::*;
use crate::config::{MlsSettings, Retries};

fn name(s: &str, id: u128) -> Name {
    Name::new("org", "ns", s).unwrap().with_id(InstanceId(id))
}

fn envelope<'a>(from: &'a Name, to: &'a Name, fanout: u32) -> Envelope<'a> {
    Envelope {
        source: from,
        destination: to,
        fanout,
        session_type: SessionType::Multicast,
        session_id: 4242,
    }
}

fn publish(out: &Outbound) -> &proto::Publish {
    match &out.message.message_type {
        Some(proto::message::MessageType::Publish(p)) => p,
        other => panic!("not a publish: {other:?}"),
    }
}

#[test]
fn every_message_has_the_routing_and_session_headers_of_the_reference() {
    let (a, b) = (name("a", 1), name("b", 2));
    let out =
        envelope(&a, &b, 256).command(T::GroupClose, 99, group_close(std::slice::from_ref(&a)));
    let header = publish(&out).header.as_ref().unwrap();
    assert_eq!(header.source, Some(a.to_proto()));
    assert_eq!(header.destination, Some(b.to_proto()));
    let id = header
        .destination
        .as_ref()
        .unwrap()
        .name
        .unwrap()
        .name_id
        .unwrap();
    assert_eq!(
        (id.id_0, id.id_1),
        (0, 2),
        "the instance id is always written"
    );
    assert_eq!(header.fanout, 256);
    assert_eq!(header.ttl, slim_wire::DEFAULT_TTL);
    assert_eq!(header.version, slim_wire::WIRE_VERSION);
    assert_eq!(header.identity, "", "the token is set when sealing");
    assert_eq!(header.recv_from, None);
    assert_eq!(header.forward_to, None);
    assert_eq!(header.incoming_conn, None);
    assert_eq!(header.error, None);
    assert_eq!(header.header_mac, None);
    assert_eq!(header.e2e_header_sig, None);
    let session = publish(&out).session.unwrap();
    assert_eq!(session.session_type, SessionType::Multicast as i32);
    assert_eq!(session.session_message_type, T::GroupClose as i32);
    assert_eq!(session.session_id, 4242);
    assert_eq!(session.message_id, 99);
    assert!(is_command(T::GroupClose));
    assert!(!is_command(T::RtxReply));
    assert!(is_command(T::DiscoveryRequest));
}

#[test]
fn empty_payload_messages_match_upstream_acks() {
    let (a, b) = (name("a", 1), name("b", 2));
    for (kind, publish_to) in [(T::MsgAck, true), (T::RtxRequest, false)] {
        let out = envelope(&a, &b, 1).empty(kind, 7, publish_to);
        match publish(&out)
            .msg
            .as_ref()
            .and_then(|c| c.content_type.as_ref())
        {
            Some(proto::content::ContentType::AppPayload(app)) => {
                assert_eq!(app.payload_type, "");
                assert!(app.blob.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out.message.metadata.get(PUBLISH_TO).map(String::as_str),
            publish_to.then_some(TRUE_VALUE)
        );
    }
    let mut error = envelope(&a, &b, 1).empty(T::RtxReply, 7, false);
    error.set_error();
    assert_eq!(publish(&error).header.as_ref().unwrap().error, Some(true));
}

#[test]
fn an_ack_range_is_read_back_only_when_it_is_one_we_send() {
    let (a, b) = (name("a", 1), name("b", 2));
    let ack = |last: u32, first: u32| {
        let mut out = envelope(&a, &b, 1).empty(T::MsgAck, last, false);
        if first != 0 {
            out.set_ack_range_first(first);
        }
        Inbound::parse(out.message).unwrap()
    };
    assert_eq!(ack(9, 0).acked_ids(512), (9, 9), "no range");
    assert_eq!(ack(9, 3).acked_ids(512), (3, 9));
    assert_eq!(
        ack(1, MAX_PUBLISH_ID - 1).acked_ids(512),
        (MAX_PUBLISH_ID - 1, 1),
        "wraps"
    );
    assert_eq!(
        ack(600, 1).acked_ids(512),
        (600, 600),
        "longer than the window"
    );
    assert_eq!(ack(3, 9).acked_ids(512), (3, 3), "backwards is a huge span");
    assert_eq!(
        ack(MAX_PUBLISH_ID + 5, 3).acked_ids(512),
        (MAX_PUBLISH_ID + 5, MAX_PUBLISH_ID + 5)
    );

    let mut data = envelope(&a, &b, 1).app(
        T::Msg,
        4,
        "msg",
        Bytes::from_static(b"x"),
        Default::default(),
    );
    assert!(
        !Inbound::parse(data.message.clone())
            .unwrap()
            .takes_ack_ranges()
    );
    data.set_takes_ack_ranges();
    assert!(Inbound::parse(data.message).unwrap().takes_ack_ranges());
}

#[test]
fn application_messages_keep_type_blob_and_metadata() {
    let (a, b) = (name("a", 1), name("b", 2));
    let metadata = std::collections::HashMap::from([("k".to_owned(), "v".to_owned())]);
    let out = envelope(&a, &b, 256).app(T::Msg, 1, "msg", Bytes::from_static(b"hi"), metadata);
    match publish(&out)
        .msg
        .as_ref()
        .and_then(|c| c.content_type.as_ref())
    {
        Some(proto::content::ContentType::AppPayload(app)) => {
            assert_eq!(app.payload_type, "msg");
            assert_eq!(&app.blob[..], b"hi");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.message.metadata.get("k").map(String::as_str), Some("v"));
}

#[test]
fn join_request_fields_are_present_exactly_when_the_reference_says() {
    let (data, control) = (name("chan", 5), name("chan", 6));
    let reliable = Some(Retries::new(Duration::from_millis(1500), 7));
    let mls = Some(MlsSettings {
        header_integrity_validation_percent: 100,
    });
    let C::JoinRequest(full) = join_request(reliable, Some((&data, &control)), mls) else {
        panic!()
    };
    let timers = full.timer_settings.unwrap();
    assert_eq!((timers.timeout, timers.max_retries), (1500, 7));
    assert_eq!(full.channel, Some(data.to_proto()));
    assert_eq!(full.control, Some(control.to_proto()));
    assert_eq!(
        full.mls_settings
            .unwrap()
            .header_integrity_validation_percent,
        100
    );

    let C::JoinRequest(bare) = join_request(None, None, None) else {
        panic!()
    };
    assert_eq!(bare.timer_settings, None, "fire-and-forget sends no timers");
    assert_eq!(bare.channel, None, "point-to-point sends no channel");
    assert_eq!(bare.control, None);
    assert_eq!(bare.mls_settings, None, "no MLS, no settings");
}

#[test]
fn join_reply_carries_the_participant_and_its_key_package() {
    let me = name("b", 2);
    let C::JoinReply(reply) = join_reply(&me, Some(Bytes::from_static(b"kp"))) else {
        panic!()
    };
    assert_eq!(reply.key_package.as_deref(), Some(&b"kp"[..]));
    let participant = reply.participant.unwrap();
    assert_eq!(participant.name, Some(me.to_proto()));
    assert_eq!(participant.status, ParticipantState::Online as i32);
    let settings = participant.settings.unwrap();
    assert!(settings.sends_data && settings.receives_data);
    let C::JoinReply(plain) = join_reply(&me, None) else {
        panic!()
    };
    assert_eq!(plain.key_package, None);
}

#[test]
fn group_update_welcome_and_close_payloads() {
    let (m, x, y) = (name("m", 1), name("x", 2), name("y", 3));
    let roster = vec![
        participant(&m, true),
        participant(&x, true),
        participant(&y, false),
    ];
    let commit = mls_payload(3, Bytes::from_static(b"commit"));
    let C::GroupUpdate(update) = group_update(
        GroupUpdateOp::Remove,
        participant(&y, false),
        roster.clone(),
        Some(commit.clone()),
    ) else {
        panic!()
    };
    assert_eq!(update.op, GroupUpdateOp::Remove as i32);
    assert_eq!(update.participant.unwrap().name, Some(y.to_proto()));
    assert_eq!(update.participants, roster);
    assert_eq!(
        update.participants[2].status,
        ParticipantState::Offline as i32
    );
    let mls = update.mls.unwrap();
    assert_eq!((mls.commit_id, &mls.mls_content[..]), (3, &b"commit"[..]));

    let C::GroupWelcome(welcome) = group_welcome(
        roster.clone(),
        Some(mls_payload(3, Bytes::from_static(b"w"))),
    ) else {
        panic!()
    };
    assert_eq!(welcome.participants, roster);
    assert_eq!(welcome.mls.unwrap().commit_id, 3);
    let C::GroupWelcome(plain) = group_welcome(roster, None) else {
        panic!()
    };
    assert_eq!(plain.mls, None);

    let C::GroupClose(close) = group_close(&[m.clone(), x.clone()]) else {
        panic!()
    };
    assert_eq!(close.participants, vec![m.to_proto(), x.to_proto()]);
}

#[test]
fn liveness_and_rejoin_payloads() {
    let me = name("x", 2);
    assert!(matches!(heartbeat(NO_MLS_EPOCH), C::Heartbeat(h) if h.epoch == u64::MAX));
    let C::UpdateParticipantState(state) = update_participant_state(&me, false, 4) else {
        panic!()
    };
    assert_eq!(state.participant, Some(me.to_proto()));
    assert_eq!(state.new_state, ParticipantState::Offline as i32);
    assert_eq!(state.epoch, 4);
    let C::RejoinRequest(request) = rejoin_request(&me, Bytes::from_static(b"kp")) else {
        panic!()
    };
    assert_eq!(request.participant, Some(me.to_proto()));
    assert_eq!(&request.key_package[..], b"kp");
    let C::RejoinReply(reply) = rejoin_reply(8, Bytes::from_static(b"welcome")) else {
        panic!()
    };
    assert_eq!(
        (reply.commit_id, &reply.mls_content[..]),
        (8, &b"welcome"[..])
    );
    assert!(matches!(discovery_request(), C::DiscoveryRequest(_)));
    assert!(matches!(discovery_reply(), C::DiscoveryReply(_)));
    assert!(matches!(leave_request(), C::LeaveRequest(_)));
    assert!(matches!(leave_reply(), C::LeaveReply(_)));
    assert!(matches!(group_ack(), C::GroupAck(_)));
    assert!(matches!(group_nack(), C::GroupNack(_)));
}

#[test]
fn inbound_validation_rejects_what_cannot_be_a_session_message() {
    let (a, b) = (name("a", 1), name("b", 2));
    let good = envelope(&a, &b, 1).command(T::GroupAck, 5, group_ack());
    let parsed = Inbound::parse(good.message.clone()).unwrap();
    assert_eq!(parsed.kind, T::GroupAck);
    assert_eq!(parsed.source, a);
    assert_eq!(parsed.destination, b);
    assert_eq!((parsed.session_id, parsed.message_id), (4242, 5));

    // A command type with another command's payload.
    let wrong = envelope(&a, &b, 1).command(T::GroupAck, 5, group_nack());
    assert_eq!(
        Inbound::parse(wrong.message).unwrap_err(),
        InboundError::PayloadMismatch(T::GroupAck)
    );
    // Data without an application payload.
    let mut hollow = envelope(&a, &b, 1).empty(T::Msg, 1, false);
    if let Some(proto::message::MessageType::Publish(p)) = &mut hollow.message.message_type {
        p.msg = None;
    }
    assert_eq!(
        Inbound::parse(hollow.message).unwrap_err(),
        InboundError::PayloadMismatch(T::Msg)
    );
    // Unknown and unspecified types.
    let mut unknown = good.message.clone();
    if let Some(proto::message::MessageType::Publish(p)) = &mut unknown.message_type {
        p.session.as_mut().unwrap().session_message_type = 99;
    }
    assert!(matches!(
        Inbound::parse(unknown),
        Err(InboundError::UnknownType(_, 99))
    ));
    let mut unspecified = good.message.clone();
    if let Some(proto::message::MessageType::Publish(p)) = &mut unspecified.message_type {
        p.session.as_mut().unwrap().session_type = 0;
    }
    assert!(Inbound::parse(unspecified).is_err());
    // Missing headers.
    let mut headless = good.message.clone();
    if let Some(proto::message::MessageType::Publish(p)) = &mut headless.message_type {
        p.header = None;
    }
    assert_eq!(
        Inbound::parse(headless).unwrap_err(),
        InboundError::Missing("header")
    );
    let mut sessionless = good.message;
    if let Some(proto::message::MessageType::Publish(p)) = &mut sessionless.message_type {
        p.session = None;
    }
    assert_eq!(
        Inbound::parse(sessionless).unwrap_err(),
        InboundError::Missing("session header")
    );
    // Not a publish at all.
    let subscribe = slim_wire::builders::subscribe(&a, &b, 0);
    assert_eq!(
        Inbound::parse(subscribe).unwrap_err(),
        InboundError::NotPublish
    );
}
