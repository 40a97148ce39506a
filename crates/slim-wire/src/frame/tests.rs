//! The frame view checked against prost, which serves as the reference decoder.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::builders;
use crate::mac::MacInput;
use crate::name::{InstanceId, Name};
use crate::proto::message::MessageType;

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn sample_publish() -> proto::Message {
    let mut message = builders::publish(
        &name("org/ns/alice").with_id(InstanceId(42)),
        &name("org/ns/bob"),
        1,
        "msg",
        Bytes::from_static(b"hello"),
    );
    message.metadata.insert("k".into(), "v".into());
    if let Some(MessageType::Publish(p)) = message.message_type.as_mut() {
        let h = p.header.as_mut().unwrap();
        h.identity = "token".into();
        h.recv_from = Some(3);
        h.forward_to = Some(4);
        h.incoming_conn = Some(5);
        h.error = Some(false);
        h.header_mac = Some(Bytes::from_static(&[9; 32]));
        h.e2e_header_sig = Some(Bytes::from_static(b"sig"));
        p.session = Some(proto::SessionHeader {
            session_type: 1,
            session_message_type: 5,
            session_id: 77,
            message_id: 12,
            takes_ack_ranges: true,
            ack_range_first: 3,
        });
    }
    message
}

fn header_of(message: &proto::Message) -> &proto::SlimHeader {
    match message.message_type.as_ref().unwrap() {
        MessageType::Publish(p) => p.header.as_ref().unwrap(),
        MessageType::Subscribe(s) => s.header.as_ref().unwrap(),
        MessageType::Unsubscribe(u) => u.header.as_ref().unwrap(),
        _ => panic!("no header"),
    }
}

#[test]
fn accessors_agree_with_prost() {
    let message = sample_publish();
    let frame = Frame::from_message(&message).unwrap();
    assert_eq!(frame.kind(), FrameKind::Publish);
    assert_eq!(frame.destination(), Some(name("org/ns/bob").key()));
    assert_eq!(
        frame.source(),
        Some(name("org/ns/alice").with_id(InstanceId(42)).key())
    );
    assert_eq!(
        frame.source_name().unwrap().to_string(),
        "org/ns/alice/00000000-0000-0000-0000-00000000002a"
    );
    assert_eq!(frame.identity(), "token");
    assert_eq!(frame.fanout(), 1);
    assert_eq!(frame.ttl(), crate::DEFAULT_TTL);
    assert_eq!(frame.recv_from(), Some(3));
    assert_eq!(frame.forward_to(), Some(4));
    assert_eq!(frame.error_flag(), Some(false));
    assert_eq!(frame.header_mac(), Some(&[9u8; 32][..]));
    assert_eq!(
        frame.session(),
        Some(SessionInfo {
            session_type: 1,
            message_type: 5,
            session_id: 77,
            message_id: 12,
            takes_ack_ranges: true,
            ack_range_first: 3,
        })
    );
    assert_eq!(frame.decode().unwrap(), message);
}

#[test]
fn forwarding_rewrites_only_the_hop_fields() {
    let message = sample_publish();
    let frame = Frame::from_message(&message).unwrap();
    let tag = [7u8; 32];
    let out = frame.to_forwarded_bytes(5, Some(&tag));
    assert_eq!(out.len(), frame.forwarded_len(5, true));

    let mut expected = message.clone();
    if let Some(MessageType::Publish(p)) = expected.message_type.as_mut() {
        let h = p.header.as_mut().unwrap();
        h.ttl = 5;
        h.recv_from = None;
        h.forward_to = None;
        h.incoming_conn = None;
        h.header_mac = Some(Bytes::copy_from_slice(&tag));
    }
    assert_eq!(proto::Message::decode(out.clone()).unwrap(), expected);
    // Canonical in, canonical out: byte-identical to prost's own encoding.
    assert_eq!(out.as_ref(), expected.encode_to_vec().as_slice());

    let no_mac = frame.to_forwarded_bytes(0, None);
    assert_eq!(no_mac.len(), frame.forwarded_len(0, false));
    let decoded = proto::Message::decode(no_mac).unwrap();
    assert_eq!(header_of(&decoded).ttl, 0);
    assert_eq!(header_of(&decoded).header_mac, None);
}

#[test]
fn forwarded_frame_parses_again() {
    let frame = Frame::from_message(&sample_publish()).unwrap();
    let again = Frame::parse(frame.to_forwarded_bytes(3, Some(&[1; 32]))).unwrap();
    assert_eq!(again.ttl(), 3);
    assert_eq!(again.recv_from(), None);
    assert_eq!(again.destination(), frame.destination());
    assert_eq!(again.header_mac(), Some(&[1u8; 32][..]));
}

#[test]
fn mac_inputs_match_the_prost_view() {
    let message = sample_publish();
    let frame = Frame::from_message(&message).unwrap();
    let mut from_frame = Vec::new();
    let mut from_proto = Vec::new();
    frame
        .mac_input_received()
        .unwrap()
        .write_preimage(b"link", &mut from_frame);
    MacInput::from_proto(header_of(&message)).write_preimage(b"link", &mut from_proto);
    assert_eq!(from_frame, from_proto);

    // The forwarded view equals the prost view of the forwarded bytes.
    let forwarded = proto::Message::decode(frame.to_forwarded_bytes(6, None)).unwrap();
    frame
        .mac_input_forwarded(6)
        .unwrap()
        .write_preimage(b"link", &mut from_frame);
    MacInput::from_proto(header_of(&forwarded)).write_preimage(b"link", &mut from_proto);
    assert_eq!(from_frame, from_proto);
}

#[test]
fn subscriptions_and_acks_expose_their_ids() {
    let sub = builders::subscribe(&name("a/b/c"), &name("x/y/z"), 99);
    let frame = Frame::from_message(&sub).unwrap();
    assert_eq!(frame.kind(), FrameKind::Subscribe);
    assert_eq!(frame.subscription_id(), 99);
    assert_eq!(frame.destination(), Some(name("x/y/z").key()));

    let unsub = builders::unsubscribe(&name("a/b/c"), &name("x/y/z"), 7);
    assert_eq!(
        Frame::from_message(&unsub).unwrap().kind(),
        FrameKind::Unsubscribe
    );

    let ack = Frame::from_message(&builders::subscription_ack(99, Some("no".into()))).unwrap();
    assert_eq!(ack.kind(), FrameKind::SubscriptionAck);
    assert_eq!(ack.subscription_id(), 99);
    assert!(!ack.has_header());
    // Header-less frames are forwarded verbatim.
    assert_eq!(ack.to_forwarded_bytes(1, Some(&[0; 32])), *ack.bytes());
}

fn with_header(
    mut message: proto::Message,
    edit: impl FnOnce(&mut proto::SlimHeader),
) -> proto::Message {
    if let Some(MessageType::Publish(p)) = message.message_type.as_mut() {
        edit(p.header.as_mut().unwrap());
    }
    message
}

#[test]
fn incomplete_messages_are_rejected() {
    let empty = proto::Message::default();
    assert_eq!(
        Frame::from_message(&empty).unwrap_err(),
        FrameError::NoMessageType
    );

    let no_dest = with_header(sample_publish(), |h| h.destination = None);
    assert_eq!(
        Frame::from_message(&no_dest).unwrap_err(),
        FrameError::Missing("header destination name")
    );
    let no_encoded = with_header(sample_publish(), |h| {
        h.source.as_mut().unwrap().name = None;
    });
    assert_eq!(
        Frame::from_message(&no_encoded).unwrap_err(),
        FrameError::Missing("header source name")
    );

    let mut no_session = sample_publish();
    if let Some(MessageType::Publish(p)) = no_session.message_type.as_mut() {
        p.session = None;
    }
    assert_eq!(
        Frame::from_message(&no_session).unwrap_err(),
        FrameError::Missing("publish session header")
    );

    let no_header = proto::Message {
        message_type: Some(MessageType::Subscribe(proto::Subscribe::default())),
        ..Default::default()
    };
    assert_eq!(
        Frame::from_message(&no_header).unwrap_err(),
        FrameError::Missing("header")
    );

    let empty_link = proto::Message {
        message_type: Some(MessageType::Link(proto::Link::default())),
        ..Default::default()
    };
    assert_eq!(
        Frame::from_message(&empty_link).unwrap_err(),
        FrameError::Missing("link negotiation payload")
    );
}

#[test]
fn ambiguous_encodings_are_rejected() {
    let bytes = sample_publish().encode_to_vec();

    // Two message_type arms: append a second publish body.
    let mut doubled = bytes.clone();
    doubled.extend_from_slice(&bytes);
    assert!(matches!(
        Frame::parse(Bytes::from(doubled)),
        Err(FrameError::Duplicate {
            message: "Message",
            ..
        })
    ));

    // Identity that is not UTF-8.
    let bad_identity = with_header(sample_publish(), |h| h.identity = "\u{1}".into());
    let mut raw = bad_identity.encode_to_vec();
    // Patch the single identity byte (0x01) into 0xFF.
    let identity_pos = raw
        .windows(3)
        .position(|w| w == [0x1A, 0x01, 0x01])
        .unwrap();
    raw[identity_pos + 2] = 0xFF;
    assert!(matches!(
        Frame::parse(Bytes::from(raw)),
        Err(FrameError::NotUtf8 {
            message: "SLIMHeader",
            field: 3
        })
    ));
}

#[test]
fn oversize_frames_are_rejected_before_parsing() {
    let big = Bytes::from(vec![0u8; crate::MAX_FRAME_LEN + 1]);
    assert_eq!(
        Frame::parse(big).unwrap_err(),
        FrameError::TooLarge(crate::MAX_FRAME_LEN + 1)
    );
}

fn arb_name() -> impl Strategy<Value = proto::Name> {
    (
        "[a-z]{1,8}",
        "[a-z]{1,8}",
        "[a-z]{1,8}",
        any::<u128>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, id, with_id, with_strings)| {
            let mut n = Name::new(&a, &b, &c)
                .unwrap()
                .with_id(InstanceId(id))
                .to_proto();
            if !with_id {
                n.name.as_mut().unwrap().name_id = None;
            }
            if !with_strings {
                n.str_name = None;
            }
            n
        })
}

prop_compose! {
    fn arb_publish()(
        source in arb_name(),
        destination in arb_name(),
        identity in ".{0,40}",
        fanout in any::<u32>(),
        ttl in prop_oneof![Just(0u32), 1u32..300, any::<u32>()],
        recv_from in proptest::option::of(any::<u64>()),
        forward_to in proptest::option::of(any::<u64>()),
        incoming in proptest::option::of(any::<u64>()),
        error in proptest::option::of(any::<bool>()),
        mac in proptest::option::of(prop_oneof![
            proptest::collection::vec(any::<u8>(), 32..=32),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]),
        signature in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        blob in proptest::collection::vec(any::<u8>(), 0..64),
        metadata in proptest::collection::hash_map("[a-z]{1,4}", "[a-z]{0,4}", 0..3),
    ) -> proto::Message {
        proto::Message {
            message_type: Some(MessageType::Publish(proto::Publish {
                header: Some(proto::SlimHeader {
                    source: Some(source),
                    destination: Some(destination),
                    identity,
                    fanout,
                    version: "1.0".into(),
                    ttl,
                    recv_from,
                    forward_to,
                    incoming_conn: incoming,
                    error,
                    header_mac: mac.map(Bytes::from),
                    e2e_header_sig: signature.map(Bytes::from),
                }),
                session: Some(proto::SessionHeader::default()),
                msg: Some(proto::Content {
                    content_type: Some(proto::content::ContentType::AppPayload(
                        proto::ApplicationPayload { payload_type: "msg".into(), blob: Bytes::from(blob) },
                    )),
                }),
            })),
            metadata,
        }
    }
}

/// Leaving on a link, a canonical frame gives the same bytes whether it is copied with its
/// TTL patched (`emit.rs`'s shortcut, taken where it applies) or its header re-emitted field
/// by field, for the TTL it has, the next hop's, and with a MAC.
pub(super) fn assert_patch_is_reemission(frame: &Frame) -> Result<(), TestCaseError> {
    let tag = [7u8; super::emit::MAC_LEN];
    let old = frame.ttl();
    for (ttl, mac) in [
        (old, None),
        (old.saturating_sub(1), None),
        (old.wrapping_add(1), None),
        (127, None),
        (128, None),
        (old, Some(&tag)),
    ] {
        let forwarded = frame.to_forwarded_bytes(ttl, mac);
        prop_assert_eq!(forwarded.len(), frame.forwarded_len(ttl, mac.is_some()));
        let mut walked = bytes::BytesMut::new();
        frame.encode_forwarded_walking(&mut walked, ttl, mac);
        prop_assert_eq!(forwarded, walked.freeze());
    }
    Ok(())
}

/// The encoding kept for a frame's second link is used: by the links after it, not by a
/// frame sent once, nor for a TTL it was not made for.
#[test]
fn the_forwarded_encoding_is_kept_from_the_second_link_on() {
    let name = |s: &str| s.parse::<Name>().unwrap();
    let message = builders::publish(&name("org/ns/a"), &name("org/ns/b"), 1, "msg", "hi".into());
    let sent = Frame::from_message(&message)
        .unwrap()
        .to_forwarded_bytes(8, Some(&[1; 32]));
    let frame = Frame::parse(sent).unwrap();
    frame.to_forwarded_bytes(7, Some(&[2; 32]));
    assert!(frame.image(7, true).is_none(), "one link: nothing kept");
    let second = frame.to_forwarded_bytes(7, Some(&[3; 32]));
    assert!(frame.image(7, true).is_some());
    assert!(frame.image(6, true).is_none() && frame.image(7, false).is_none());
    let third = frame.to_forwarded_bytes(7, Some(&[4; 32]));
    assert_eq!(second.len(), third.len());
    assert_ne!(second, third, "each link's own tag");
    let mac = |bytes: bytes::Bytes| Frame::parse(bytes).unwrap().header_mac().unwrap().to_vec();
    assert_eq!(mac(third), vec![4; 32]);
}

/// `bytes` with each `(place, value)` written in (a place picked within the length).
fn with_flips(bytes: Bytes, flips: Vec<(prop::sample::Index, u8)>) -> Vec<u8> {
    let mut raw = bytes.to_vec();
    for (index, byte) in flips {
        let i = index.index(raw.len());
        raw[i] = byte;
    }
    raw
}

/// A frame's whole view, bytes included (`FrameData` has no `PartialEq`; its `Debug` shows
/// every field), with the header key left out: keys name a parse, not the bytes, so the same
/// bytes parsed twice, or built and parsed, differ only there.
pub(super) fn view_without_key(frame: &Frame) -> String {
    let view = format!("{:?}", frame.data);
    match view.find("key: Some(HeaderKey(") {
        Some(start) => match view[start..].find("))") {
            Some(len) => format!("{}key: None{}", &view[..start], &view[start + len + 2..]),
            None => view,
        },
        None => view,
    }
}

proptest! {
    #[test]
    fn any_valid_publish_round_trips(message in arb_publish(), ttl in 1u32..100, with_mac in any::<bool>()) {
        let frame = Frame::from_message(&message).unwrap();
        prop_assert_eq!(frame.decode().unwrap(), message.clone());
        assert_patch_is_reemission(&frame)?;

        let tag = [3u8; 32];
        let mac = with_mac.then_some(&tag);
        let out = frame.to_forwarded_bytes(ttl, mac);
        prop_assert_eq!(out.len(), frame.forwarded_len(ttl, with_mac));
        let mut expected = message;
        if let Some(MessageType::Publish(p)) = expected.message_type.as_mut() {
            let h = p.header.as_mut().unwrap();
            h.ttl = ttl;
            h.recv_from = None;
            h.forward_to = None;
            h.incoming_conn = None;
            h.header_mac = mac.map(|t| Bytes::copy_from_slice(t));
        }
        prop_assert_eq!(proto::Message::decode(out).unwrap(), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(frame) = Frame::parse(Bytes::from(bytes)) {
            // Whatever we accept, we can re-emit and parse again.
            let again = Frame::parse(frame.to_forwarded_bytes(1, Some(&[0; 32]))).unwrap();
            prop_assert_eq!(again.kind(), frame.kind());
        }
    }

    /// The header memo answers exactly as parsing does: a frame is read the same on a thread
    /// that just parsed its header with another MAC (a memo hit, or a near miss when the
    /// flips land outside the MAC) as on a fresh thread, errors included.
    #[test]
    fn remembered_headers_read_as_on_a_fresh_thread(
        message in arb_publish(),
        tag in any::<[u8; 32]>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let frame = Frame::from_message(&message).unwrap();
        Frame::parse(frame.to_forwarded_bytes(5, Some(&[1; 32]))).unwrap();
        let raw = with_flips(frame.to_forwarded_bytes(5, Some(&tag)), flips);
        let read = |raw: Vec<u8>| Frame::parse(Bytes::from(raw)).map(|f| view_without_key(&f));
        let here = read(raw.clone());
        let fresh = std::thread::spawn(move || read(raw)).join().unwrap();
        prop_assert_eq!(here, fresh);
    }

    /// A frame sent to many links reads on each as if encoded alone: the encoding kept from
    /// the second link on, with each link's tag written in, is the fresh encoding; a link
    /// asking for another TTL or no MAC gets its own.
    #[test]
    fn a_frame_sent_to_many_links_is_encoded_on_each_as_if_alone(
        message in arb_publish(),
        incoming in any::<bool>(),
        ttl in 1u32..300,
        tags in proptest::collection::vec(any::<[u8; 32]>(), 1..5),
    ) {
        let built = Frame::from_message(&message).unwrap();
        // As a node holds it: parsed from a previous hop, with or without that hop's tag.
        let frame = Frame::parse(built.to_forwarded_bytes(ttl + 1, incoming.then_some(&[9; 32])))
            .unwrap();
        let alone = |ttl: u32, tag: Option<&[u8; 32]>| {
            Frame::parse(frame.bytes().clone()).unwrap().to_forwarded_bytes(ttl, tag)
        };
        for tag in &tags {
            let expected = alone(ttl, Some(tag));
            prop_assert_eq!(frame.forwarded_len(ttl, true), expected.len());
            prop_assert_eq!(frame.to_forwarded_bytes(ttl, Some(tag)), expected);
        }
        for (other_ttl, tag) in [(ttl, None), (ttl + 1, Some(&tags[0]))] {
            let expected = alone(other_ttl, tag);
            prop_assert_eq!(frame.forwarded_len(other_ttl, tag.is_some()), expected.len());
            prop_assert_eq!(frame.to_forwarded_bytes(other_ttl, tag), expected);
        }
    }

    /// Two frames share a header key only when their headers are equal outside the MAC's
    /// value; a short header that parsed always gets a key.
    #[test]
    fn a_header_key_is_shared_only_by_equal_headers(
        message in arb_publish(),
        tag in any::<[u8; 32]>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let frame = Frame::from_message(&message).unwrap();
        let first = Frame::parse(frame.to_forwarded_bytes(5, Some(&[1; 32]))).unwrap();
        let header_len = first.data.header.as_ref().unwrap().field.len();
        prop_assert_eq!(first.header_key().is_some(), header_len <= 1024);
        let raw = with_flips(frame.to_forwarded_bytes(5, Some(&tag)), flips);
        if let Ok(second) = Frame::parse(Bytes::from(raw)) {
            // A mutation can turn the frame into a kind without a header (no key then).
            let outside_mac = |f: &Frame| {
                let header = f.data.header.as_ref()?;
                let mac = header.mac.map(|m| m.relative_to(header.field.start));
                let mut bytes = f.bytes()[header.field.range()].to_vec();
                if let Some(mac) = mac {
                    bytes[mac.range()].fill(0);
                }
                Some((bytes, mac))
            };
            let same = outside_mac(&first) == outside_mac(&second);
            prop_assert_eq!(first.header_key() == second.header_key(), same);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        message in arb_publish(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut raw = message.encode_to_vec();
        for (index, byte) in flips {
            let i = index.index(raw.len());
            raw[i] = byte;
        }
        if let Ok(frame) = Frame::parse(Bytes::from(raw)) {
            let again = Frame::parse(frame.to_forwarded_bytes(2, None)).unwrap();
            prop_assert_eq!(again.destination(), frame.destination());
        }
    }
}

/// A frame is moved through several queues per hop: it must stay one pointer.
#[test]
fn a_frame_is_one_pointer() {
    assert_eq!(std::mem::size_of::<Frame>(), std::mem::size_of::<usize>());
}

/// A publish whose session header carries our extension fields in shapes we never send, as
/// a future upstream field with the same number might.
#[derive(Clone, PartialEq, prost::Message)]
struct OddSession {
    #[prost(int32, tag = "1")]
    session_type: i32,
    #[prost(int32, tag = "2")]
    message_type: i32,
    #[prost(uint32, tag = "4")]
    message_id: u32,
    #[prost(bytes = "vec", tag = "48")]
    not_a_flag: Vec<u8>,
    #[prost(uint64, tag = "49")]
    too_big: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OddPublish {
    #[prost(message, optional, tag = "1")]
    header: Option<proto::SlimHeader>,
    #[prost(message, optional, tag = "2")]
    session: Option<OddSession>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OddMessage {
    #[prost(message, optional, tag = "3")]
    publish: Option<OddPublish>,
}

#[test]
fn extension_fields_in_unexpected_shapes_read_as_absent_and_the_frame_still_routes() {
    let header = header_of(&sample_publish()).clone();
    let odd = OddMessage {
        publish: Some(OddPublish {
            header: Some(header),
            session: Some(OddSession {
                session_type: 1,
                message_type: 3,
                message_id: 9,
                not_a_flag: b"?".to_vec(),
                too_big: u64::MAX,
            }),
        }),
    };
    let frame = Frame::parse(Bytes::from(odd.encode_to_vec())).expect("routable");
    let session = frame.session().unwrap();
    assert_eq!((session.message_type, session.message_id), (3, 9));
    assert!(!session.takes_ack_ranges);
    assert_eq!(session.ack_range_first, 0);
}

/// A publish from `org/ns/alice` to `org/ns/bob` whose header ends with `ttl_field` (raw
/// bytes, after the error flag: out of order), encoded by hand, and the message it decodes
/// to.
fn publish_with_trailing_ttl(ttl_field: &[u8]) -> (Bytes, proto::Message) {
    let alice = Name::new("org", "ns", "alice").unwrap();
    let bob = Name::new("org", "ns", "bob").unwrap();
    let mut message = builders::publish(&alice, &bob, 1, "msg", Bytes::from_static(b"hi"));
    let Some(MessageType::Publish(publish)) = message.message_type.as_mut() else {
        unreachable!()
    };
    let mut header = publish.header.take().unwrap();
    header.ttl = 0;
    header.error = Some(true);
    let mut header_bytes = header.encode_to_vec();
    header_bytes.extend_from_slice(ttl_field);
    let mut body = Vec::new();
    crate::pb::put_key(&mut body, 1, crate::pb::WireType::LengthDelimited);
    crate::pb::put_varint(&mut body, header_bytes.len() as u64);
    body.extend_from_slice(&header_bytes);
    body.extend_from_slice(&publish.encode_to_vec());
    let mut bytes = Vec::new();
    crate::pb::put_key(
        &mut bytes,
        FrameKind::Publish.field_number(),
        crate::pb::WireType::LengthDelimited,
    );
    crate::pb::put_varint(&mut bytes, body.len() as u64);
    bytes.extend_from_slice(&body);
    publish.header = Some(header);
    (Bytes::from(bytes), message)
}

/// The message `message` is once forwarded with `ttl`.
fn with_ttl(mut message: proto::Message, ttl: u32) -> proto::Message {
    if let Some(MessageType::Publish(p)) = message.message_type.as_mut() {
        p.header.as_mut().unwrap().ttl = ttl;
    }
    message
}

#[test]
fn a_ttl_out_of_order_is_rewritten_in_place() {
    let (bytes, message) = publish_with_trailing_ttl(&[0x30, 5]);
    let frame = Frame::parse(bytes.clone()).unwrap();
    assert_eq!(frame.ttl(), 5);
    let forwarded = frame.to_forwarded_bytes(4, None);
    // Same length, one byte changed: the TTL's value, still after field 12.
    assert_eq!(forwarded.len(), frame.forwarded_len(4, false));
    assert_eq!(forwarded.len(), bytes.len());
    let changed: Vec<(u8, u8)> = bytes
        .iter()
        .zip(forwarded.iter())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(changed, [(5, 4)]);
    let ttl_at = bytes.windows(2).position(|w| w == [0x30, 5]).unwrap();
    assert_eq!(forwarded[ttl_at + 1], 4);
    assert_eq!(
        proto::Message::decode(forwarded).unwrap(),
        with_ttl(message, 4)
    );
}

#[test]
fn a_ttl_that_changes_length_or_was_not_minimal_is_re_emitted() {
    // 5 in two bytes (not minimal), and 200 → 199 (two bytes each, but 128 → 127 shrinks).
    for (field, old, new) in [
        (&[0x30, 0x85, 0x00][..], 5, 4),
        (&[0x30, 0x80, 0x01][..], 128, 127),
    ] {
        let (bytes, message) = publish_with_trailing_ttl(field);
        let frame = Frame::parse(bytes).unwrap();
        assert_eq!(frame.ttl(), old);
        let forwarded = frame.to_forwarded_bytes(new, None);
        assert_eq!(forwarded.len(), frame.forwarded_len(new, false));
        assert_eq!(
            proto::Message::decode(forwarded).unwrap(),
            with_ttl(message, new)
        );
    }
}
