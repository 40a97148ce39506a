use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use slim_client::{Message, MessageContext, Name, Payload};

use super::*;

fn received(payload: Payload) -> Message {
    Message {
        payload: payload.blob,
        message_id: 1,
        context: Arc::new(MessageContext {
            session: slim_client::SessionId(7),
            source: "org/ns/caller".parse().unwrap(),
            destination: "org/ns/server".parse().unwrap(),
            payload_type: payload.payload_type.unwrap_or_default(),
            metadata: payload.metadata,
            identity: "".into(),
            direct: false,
        }),
    }
}

fn header() -> CallHeader {
    CallHeader {
        method: Method::new("example.Tools", "Run"),
        deadline: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
        metadata: [("x-user".to_owned(), "ada".to_owned())].into(),
        idempotency_key: Some("k-1".into()),
    }
}

#[test]
fn deadlines_are_epoch_seconds_as_f64_text() {
    let deadline = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    assert_eq!(encode_deadline(deadline), "1700000000.25");
    assert_eq!(encode_deadline(UNIX_EPOCH + Duration::from_secs(5)), "5");
    assert_eq!(decode_deadline("1700000000.25"), Some(deadline));
    assert_eq!(
        encode_deadline(UNIX_EPOCH + Duration::new(1_700_000_000, 1)),
        "1700000000.000000001"
    );
    assert_eq!(
        encode_deadline(UNIX_EPOCH + Duration::new(7, 120_000_000)),
        "7.12"
    );
    // Our text and upstream's (Rust f64 Display of now + 36000 s) read back within a
    // microsecond.
    let now = SystemTime::now() + DEFAULT_TIMEOUT;
    let upstream = now
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .to_string();
    for text in [encode_deadline(now), upstream] {
        let back = decode_deadline(&text).unwrap();
        let error = back.duration_since(now).unwrap_or_else(|e| e.duration());
        assert!(error < Duration::from_micros(1), "{text}: {error:?}");
    }
}

#[test]
fn bad_deadlines_are_ignored() {
    for text in ["", "soon", "NaN", "inf", "-1", "1e400", "-0.5"] {
        assert_eq!(decode_deadline(text), None, "{text:?}");
    }
}

#[test]
fn first_request_frame_carries_the_header_and_parses_back() {
    let frame = request_data("id-1", Bytes::from_static(b"req"), Some(&header()));
    // Unset: the session's default payload type, which is upstream's "msg".
    assert_eq!(frame.payload_type, None);
    assert_eq!(slim_session::wire::DEFAULT_PAYLOAD_TYPE, PAYLOAD_TYPE);
    let m = &frame.metadata;
    assert_eq!(m[RPC_ID], "id-1");
    assert_eq!(m[DIRECTION], "req");
    assert_eq!(m[SERVICE], "example.Tools");
    assert_eq!(m[METHOD], "Run");
    assert_eq!(m[TIMEOUT], "1700000000.25");
    assert_eq!(m[IDEMPOTENCY_KEY], "k-1");
    assert_eq!(m["x-user"], "ada");
    assert!(!m.contains_key(CODE), "no status on data frames");

    let inbound = Inbound::parse(received(frame)).unwrap();
    assert!(inbound.request);
    assert_eq!(inbound.kind, FrameKind::Data(Bytes::from_static(b"req")));
    let parsed = inbound.header().unwrap();
    assert_eq!(parsed.method, Method::new("example.Tools", "Run"));
    assert_eq!(parsed.deadline, header().deadline);
    assert_eq!(
        parsed.metadata,
        header().metadata,
        "only the caller's metadata"
    );
    assert_eq!(parsed.idempotency_key.as_deref(), Some("k-1"));
}

#[test]
fn later_request_frames_and_ends_are_small() {
    let frame = request_data("id-1", Bytes::from_static(b"x"), None);
    assert_eq!(frame.metadata.len(), 2);
    let end = request_end("id-1", None);
    assert_eq!(end.metadata[CODE], "0");
    assert_eq!(end.metadata[DIRECTION], "req");
    assert!(end.blob.is_empty());
    let inbound = Inbound::parse(received(end)).unwrap();
    assert_eq!(inbound.kind, FrameKind::End(Ok(Bytes::new())));
    assert!(inbound.header().is_none());
    // An empty request stream: the end carries the header.
    let empty = request_end("id-2", Some(&header()));
    assert_eq!(
        Inbound::parse(received(empty))
            .unwrap()
            .header()
            .unwrap()
            .method
            .method(),
        "Run"
    );
}

#[test]
fn cancellation_is_a_terminal_request_frame_with_the_code() {
    let cancel = request_cancel("id-1", &Status::cancelled("caller went away"));
    assert_eq!(cancel.metadata[CODE], "1");
    assert_eq!(cancel.metadata[DIRECTION], "req");
    assert!(
        !cancel.metadata.contains_key(SERVICE),
        "never mistaken for a new call"
    );
    let inbound = Inbound::parse(received(cancel)).unwrap();
    assert_eq!(
        inbound.kind,
        FrameKind::End(Err(Status::cancelled("caller went away")))
    );
}

#[test]
fn responses_have_no_direction_and_a_code_only_at_the_end() {
    let data = response_data("id-1", Bytes::from_static(b"out"));
    assert!(!data.metadata.contains_key(DIRECTION));
    assert!(!data.metadata.contains_key(CODE));
    let ok = response_end("id-1", &Ok(Bytes::new()));
    assert_eq!(ok.metadata[CODE], "0");
    assert!(ok.blob.is_empty());
    // A unary response rides in its end frame.
    let reply = response_end("id-1", &Ok(Bytes::from_static(b"reply")));
    assert_eq!(reply.metadata[CODE], "0");
    let inbound = Inbound::parse(received(reply)).unwrap();
    assert_eq!(
        inbound.kind,
        FrameKind::End(Ok(Bytes::from_static(b"reply")))
    );
    let failed = response_end("id-1", &Err(Status::not_found("no tool")));
    assert_eq!(failed.metadata[CODE], "5");
    assert_eq!(&failed.blob[..], b"no tool");
    let inbound = Inbound::parse(received(failed)).unwrap();
    assert!(!inbound.request);
    assert_eq!(
        inbound.kind,
        FrameKind::End(Err(Status::not_found("no tool")))
    );
    // An error status built with code OK still reads as a failure.
    let odd = response_end("id-1", &Err(Status::new(Code::Ok, "?")));
    assert_eq!(odd.metadata[CODE], "2");
}

#[test]
fn messages_without_rpc_id_are_not_frames_and_bad_codes_are_errors() {
    let mut plain = response_data("x", Bytes::new());
    plain.metadata.clear();
    assert!(Inbound::parse(received(plain)).is_none());
    let mut weird = response_data("id", Bytes::from_static(b"\xff"));
    weird.metadata.insert(CODE.into(), "banana".into());
    let inbound = Inbound::parse(received(weird)).unwrap();
    match inbound.kind {
        FrameKind::End(Err(status)) => assert_eq!(status.code(), Code::Unknown),
        other => panic!("{other:?}"),
    }
    let _: Name = inbound.source;
}
