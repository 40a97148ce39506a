//! [`Frame::plain_publish`] checked against prost: whenever it answers, it answers what a
//! full decode finds, and it never answers for bytes prost refuses.

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::name::{InstanceId, Name};
use crate::proto::{self, content::ContentType, message::MessageType};

/// A payload (type, blob) and the metadata, owned.
type Reading = (Option<(String, Bytes)>, HashMap<String, String>);

/// What prost finds, in the shape `plain_publish` reports.
fn prost_view(frame: &Frame) -> Option<Reading> {
    let message = frame.decode().ok()?;
    let Some(MessageType::Publish(publish)) = message.message_type else {
        return None;
    };
    let app = match publish.msg {
        None => None,
        Some(proto::Content {
            content_type: Some(ContentType::AppPayload(app)),
        }) => Some((app.payload_type, app.blob)),
        Some(_) => return None,
    };
    Some((app, message.metadata))
}

/// Checks the plain reading of `bytes` against prost, if `bytes` are a frame at all; returns
/// whether the plain reading answered.
fn check(bytes: Bytes) -> Result<bool, TestCaseError> {
    let Ok(frame) = Frame::parse(bytes) else {
        return Ok(false);
    };
    let Some(plain) = frame.plain_publish() else {
        return Ok(false);
    };
    let expected = prost_view(&frame);
    prop_assert!(
        expected.is_some(),
        "plain answered where prost refuses or sees a command"
    );
    let (app, metadata) = expected.unwrap_or_default();
    prop_assert_eq!(
        plain
            .app
            .map(|(t, b)| (t.to_owned(), Bytes::copy_from_slice(b))),
        app
    );
    let map: HashMap<String, String> = plain
        .metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    prop_assert_eq!(map, metadata);
    Ok(true)
}

fn publish(content: Option<proto::Content>, metadata: HashMap<String, String>) -> proto::Message {
    let name = |s: &str| s.parse::<Name>().unwrap();
    let mut message = crate::builders::publish(
        &name("org/ns/alice").with_id(InstanceId(7)),
        &name("org/ns/bob"),
        1,
        "msg",
        Bytes::new(),
    );
    if let Some(MessageType::Publish(p)) = message.message_type.as_mut() {
        p.msg = content;
        p.session = Some(proto::SessionHeader {
            session_type: 1,
            session_message_type: 1,
            session_id: 5,
            message_id: 9,
            ..Default::default()
        });
    }
    message.metadata = metadata;
    message
}

fn app(payload_type: &str, blob: &'static [u8]) -> Option<proto::Content> {
    Some(proto::Content {
        content_type: Some(ContentType::AppPayload(proto::ApplicationPayload {
            payload_type: payload_type.into(),
            blob: Bytes::from_static(blob),
        })),
    })
}

fn bytes_of(message: &proto::Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

#[test]
fn usual_publishes_are_read_plainly() {
    let meta = HashMap::from([
        ("k".to_owned(), "v".to_owned()),
        ("e".to_owned(), String::new()),
    ]);
    for message in [
        publish(app("msg", b"hello"), HashMap::new()),
        publish(app("", b"hello"), meta.clone()),
        publish(app("msg", b""), meta.clone()),
        publish(app("", b""), HashMap::new()),
        publish(None, meta),
    ] {
        assert!(check(bytes_of(&message)).unwrap(), "{message:?}");
    }
    let frame = Frame::parse(bytes_of(&publish(app("t", b"xyz"), HashMap::new()))).unwrap();
    let plain = frame.plain_publish().unwrap();
    assert_eq!(plain.app, Some(("t", &b"xyz"[..])));
    assert!(plain.metadata.is_empty());
}

#[test]
fn commands_and_unusual_layouts_are_left_to_prost() {
    let command = Some(proto::Content {
        content_type: Some(ContentType::CommandPayload(proto::CommandPayload::default())),
    });
    let empty_content = Some(proto::Content { content_type: None });
    for message in [
        publish(command, HashMap::new()),
        publish(empty_content, HashMap::new()),
    ] {
        let frame = Frame::parse(bytes_of(&message)).unwrap();
        assert_eq!(frame.plain_publish(), None);
    }
    let subscribe = proto::Message {
        message_type: Some(MessageType::Subscribe(proto::Subscribe {
            header: match publish(None, HashMap::new()).message_type {
                Some(MessageType::Publish(p)) => p.header,
                _ => None,
            },
            ..Default::default()
        })),
        metadata: HashMap::new(),
    };
    assert_eq!(
        Frame::parse(bytes_of(&subscribe)).unwrap().plain_publish(),
        None
    );

    // Blob before payload type; the payload type twice; a non-UTF-8 payload type; an unknown
    // field in the payload: legal or not for prost, none of them is the usual layout.
    let base = bytes_of(&publish(app("ab", b"cd"), HashMap::new()));
    let tail = |payload: &[u8]| {
        // A publish without `msg`, then `msg` (field 3) holding an app payload of `payload`.
        let Some(MessageType::Publish(p)) = publish(None, HashMap::new()).message_type else {
            unreachable!()
        };
        let mut body = p.encode_to_vec();
        body.extend_from_slice(&[0x1a, payload.len() as u8 + 2, 0x0a, payload.len() as u8]);
        body.extend_from_slice(payload);
        let mut raw = vec![0x1a];
        prost::encoding::encode_varint(body.len() as u64, &mut raw);
        raw.extend_from_slice(&body);
        Bytes::from(raw)
    };
    assert!(check(base).unwrap());
    assert!(check(tail(&[0x0a, 1, b'a', 0x12, 1, b'b'])).unwrap());
    for payload in [
        &[0x12, 1, b'b', 0x0a, 1, b'a'][..],
        &[0x0a, 1, b'a', 0x0a, 1, b'b'],
        &[0x0a, 1, 0xff],
        &[0x0a, 1, b'a', 0x18, 1],
    ] {
        let frame = Frame::parse(tail(payload)).unwrap();
        assert_eq!(frame.plain_publish(), None, "{payload:?}");
    }
}

fn arb_content() -> impl Strategy<Value = Option<proto::Content>> {
    prop_oneof![
        Just(None),
        ("[a-z]{0,4}", proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, b)| Some(
            proto::Content {
                content_type: Some(ContentType::AppPayload(proto::ApplicationPayload {
                    payload_type: t,
                    blob: Bytes::from(b),
                })),
            }
        )),
        Just(Some(proto::Content {
            content_type: Some(ContentType::CommandPayload(proto::CommandPayload::default())),
        })),
    ]
}

proptest! {
    #[test]
    fn plain_agrees_with_prost(
        content in arb_content(),
        metadata in proptest::collection::hash_map("[a-zé]{0,3}", "[a-z]{0,3}", 0..3),
    ) {
        let message = publish(content.clone(), metadata);
        let answered = check(bytes_of(&message))?;
        // A built frame (no layout from parsing: the walk) reads the same as its parse.
        let built = Frame::build(&message).unwrap();
        let parsed = Frame::parse(built.bytes().clone()).unwrap();
        prop_assert_eq!(built.plain_publish(), parsed.plain_publish());
        let is_app = matches!(
            &content,
            None | Some(proto::Content { content_type: Some(ContentType::AppPayload(_)) })
        );
        prop_assert_eq!(answered, is_app);
    }

    #[test]
    fn mutated_publishes_agree_with_prost(
        content in arb_content(),
        metadata in proptest::collection::hash_map("[a-z]{0,3}", "[a-z]{0,3}", 0..3),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut raw = publish(content, metadata).encode_to_vec();
        for (index, byte) in flips {
            let i = index.index(raw.len());
            raw[i] = byte;
        }
        check(Bytes::from(raw))?;
    }
}
