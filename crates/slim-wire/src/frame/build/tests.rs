//! [`Frame::build`] against [`Frame::parse`] of prost's encoding: same bytes, same view.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;

use super::super::{Frame, FrameError};
use crate::proto::{self, message::MessageType};

use super::super::tests::view_without_key as view;

fn assert_same(message: &proto::Message) -> Result<(), TestCaseError> {
    let built = Frame::build(message);
    let parsed = Frame::parse(Bytes::from(message.encode_to_vec()));
    match (built, parsed) {
        (Ok(built), Ok(parsed)) => {
            prop_assert_eq!(built.bytes(), parsed.bytes());
            prop_assert_eq!(view(&built), view(&parsed));
            super::super::tests::assert_patch_is_reemission(&built)?;
        }
        (Err(built), Err(parsed)) => prop_assert_eq!(built, parsed),
        (built, parsed) => prop_assert!(false, "build {built:?} but parse {parsed:?}"),
    }
    Ok(())
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z]{1,6}", ".{0,8}"]
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..200, any::<u64>()]
}

fn arb_name() -> BoxedStrategy<Option<proto::Name>> {
    let encoded = proptest::option::weighted(
        0.9,
        (
            arb_u64(),
            arb_u64(),
            arb_u64(),
            proptest::option::of((arb_u64(), arb_u64())),
        )
            .prop_map(|(c0, c1, c2, id)| proto::EncodedName {
                component_0: c0,
                component_1: c1,
                component_2: c2,
                name_id: id.map(|(id_0, id_1)| proto::NameId { id_0, id_1 }),
            }),
    );
    let strings = proptest::option::of((arb_string(), arb_string(), arb_string()).prop_map(
        |(a, b, c)| proto::StringName {
            str_component_0: a,
            str_component_1: b,
            str_component_2: c,
        },
    ));
    proptest::option::weighted(
        0.95,
        (encoded, strings).prop_map(|(name, str_name)| proto::Name { name, str_name }),
    )
    .boxed()
}

fn arb_bytes() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
}

prop_compose! {
    fn arb_header()(
        source in arb_name(),
        destination in arb_name(),
        identity in arb_string(),
        fanout in prop_oneof![Just(0u32), Just(1), any::<u32>()],
        version in arb_string(),
        ttl in prop_oneof![Just(0u32), 1u32..20, any::<u32>()],
        recv_from in proptest::option::of(arb_u64()),
        forward_to in proptest::option::of(arb_u64()),
        incoming_conn in proptest::option::of(arb_u64()),
        error in proptest::option::of(any::<bool>()),
        header_mac in arb_bytes(),
        e2e_header_sig in arb_bytes(),
    ) -> proto::SlimHeader {
        proto::SlimHeader {
            source, destination, identity, fanout, version, ttl, recv_from, forward_to,
            incoming_conn, error, header_mac, e2e_header_sig,
        }
    }
}

fn arb_content() -> BoxedStrategy<Option<proto::Content>> {
    let app = (arb_string(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
        |(payload_type, blob)| {
            proto::content::ContentType::AppPayload(proto::ApplicationPayload {
                payload_type,
                blob: Bytes::from(blob),
            })
        },
    );
    let command = Just(proto::content::ContentType::CommandPayload(
        proto::CommandPayload {
            command_payload_type: Some(
                proto::command_payload::CommandPayloadType::DiscoveryRequest(
                    proto::DiscoveryRequestPayload::default(),
                ),
            ),
        },
    ));
    proptest::option::weighted(
        0.9,
        proptest::option::weighted(0.95, prop_oneof![app, command])
            .prop_map(|content_type| proto::Content { content_type }),
    )
    .boxed()
}

prop_compose! {
    fn arb_publish()(
        header in proptest::option::weighted(0.95, arb_header().boxed()),
        session in proptest::option::weighted(0.95, (
            prop_oneof![0i32..4, any::<i32>()],
            prop_oneof![0i32..22, any::<i32>()],
            arb_u64(),
            arb_u64(),
            any::<bool>(),
            prop_oneof![Just(0u32), any::<u32>()],
        )
            .prop_map(|(session_type, kind, session_id, message_id, ranges, first)| {
                proto::SessionHeader {
                    session_type,
                    session_message_type: kind,
                    session_id: session_id as u32,
                    message_id: message_id as u32,
                    takes_ack_ranges: ranges,
                    ack_range_first: first,
                }
            })),
        msg in arb_content(),
        metadata in proptest::collection::hash_map("[A-Z_]{1,6}", "[a-z]{0,4}", 0..3),
    ) -> proto::Message {
        proto::Message {
            message_type: Some(MessageType::Publish(proto::Publish { header, session, msg })),
            metadata,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn build_gives_the_bytes_and_view_of_parse(message in arb_publish()) {
        assert_same(&message)?;
    }

    #[test]
    fn a_template_gives_the_frame_of_build(message in arb_publish()) {
        assert_template_same(&message)?;
    }
}

/// [`super::PublishTemplate`] of the message's header, then its publish: the same frame (or
/// error) as [`Frame::build`] of the whole message.
fn assert_template_same(message: &proto::Message) -> Result<(), TestCaseError> {
    let Some(MessageType::Publish(publish)) = &message.message_type else {
        return Ok(());
    };
    let (Some(header), Some(session)) = (&publish.header, &publish.session) else {
        return Ok(());
    };
    let built = super::PublishTemplate::new(header)
        .and_then(|t| t.publish(session, publish.msg.as_ref(), &message.metadata));
    match (built, Frame::build(message)) {
        (Ok(from_template), Ok(built)) => {
            prop_assert_eq!(from_template.bytes(), built.bytes());
            prop_assert_eq!(view(&from_template), view(&built));
        }
        (Err(from_template), Err(built)) => prop_assert_eq!(from_template, built),
        (t, b) => prop_assert!(false, "template {t:?} but build {b:?}"),
    }
    Ok(())
}

#[test]
fn other_kinds_and_invalid_publishes_fall_back_with_the_same_result() {
    let alice = crate::Name::new("org", "ns", "alice").unwrap();
    let bob = crate::Name::new("org", "ns", "bob").unwrap();
    let mut no_header = crate::builders::publish(&alice, &bob, 1, "msg", Bytes::new());
    if let Some(MessageType::Publish(p)) = no_header.message_type.as_mut() {
        p.header = None;
    }
    for message in [
        crate::builders::subscribe(&alice, &bob, 7),
        crate::builders::subscription_ack(7, Some("no".into())),
        no_header,
        proto::Message::default(),
    ] {
        assert_same(&message).unwrap();
    }
    assert!(matches!(
        Frame::build(&proto::Message::default()),
        Err(FrameError::NoMessageType)
    ));
}

#[test]
fn oversized_publishes_are_refused() {
    let alice = crate::Name::new("org", "ns", "alice").unwrap();
    let blob = Bytes::from(vec![0u8; crate::MAX_FRAME_LEN]);
    let message = crate::builders::publish(&alice, &alice, 1, "msg", blob);
    assert!(matches!(
        Frame::build(&message),
        Err(FrameError::TooLarge(len)) if len == message.encoded_len()
    ));
    assert_template_same(&message).unwrap();
}
