//! [`Inbound::from_frame`]: data messages and acknowledgements read from the received
//! [`Frame`] without decoding it.
//!
//! The link already validated the bytes into a [`Frame`] (routing header, names, session
//! header). Decoding them again with prost for the session layer copies all six name strings
//! and the identity token of every message, and the name cache then throws the names away
//! again. For the two message types sent per application message — `Msg` and `MsgAck` — this
//! builds the [`Inbound`] from the view instead: names and token from the header cache when
//! the frame repeats a recent routing header (`headers.rs`), else from the caches by key and
//! strings; payload and metadata from [`Frame::plain_publish`] (the blob copied when small,
//! shared with the frame's bytes when large: `payload.rs`); held as `Contents::Plain` rather
//! than as a rebuilt `proto::Message`.
//!
//! It answers `None` whenever anything is unusual (another message type, a name not in the
//! cache, a token that is not UTF-8, a payload layout prost must decide, a message
//! `parse_with` would refuse): the caller then decodes and takes the general path, which gives
//! the same result, errors included. Only sessions without MLS use it, because plain contents
//! keep no routing header: MLS rebuilds the authenticated data from it, and nothing else reads
//! it (the validated names are `Inbound::source` and `destination`).

use std::collections::HashMap;

use slim_wire::proto::{self, SessionMessageType, SessionType};
use slim_wire::{Frame, FrameKind};

use super::{Contents, HeaderCache, Inbound, NameCache, PlainContents, TokenCache};

impl Inbound {
    /// The `Inbound` that `parse_with(frame.decode())` gives, for a `Msg` or `MsgAck` in the
    /// usual layout whose names are cached; `None` for everything else (see the module docs).
    pub fn from_frame(
        frame: &Frame,
        headers: &mut HeaderCache,
        names: &mut NameCache,
        tokens: &mut TokenCache,
    ) -> Option<Box<Inbound>> {
        if frame.kind() != FrameKind::Publish {
            return None;
        }
        let session = frame.session()?;
        let kind = SessionMessageType::try_from(session.message_type).ok()?;
        if !matches!(kind, SessionMessageType::Msg | SessionMessageType::MsgAck) {
            return None;
        }
        let session_type = SessionType::try_from(session.session_type).ok()?;
        if session_type == SessionType::Unspecified {
            return None;
        }
        let plain = frame.plain_publish()?;
        // A Msg must carry an application payload (`parse_with` refuses it otherwise).
        if kind == SessionMessageType::Msg && plain.app.is_none() {
            return None;
        }
        // The token travels beside the message, shared with the sender's earlier messages;
        // acknowledgements never reach the application, so theirs is not kept at all.
        let with_token = kind == SessionMessageType::Msg;
        let (source, destination, token) = headers.resolve(frame, with_token, names, tokens)?;
        let metadata: HashMap<String, String> = plain
            .metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let contents = PlainContents {
            error: frame.error_flag().unwrap_or(false),
            session: proto::SessionHeader {
                session_type: session.session_type,
                session_message_type: session.message_type,
                session_id: session.session_id,
                message_id: session.message_id,
                takes_ack_ranges: session.takes_ack_ranges,
                ack_range_first: session.ack_range_first,
            },
            app: plain
                .app
                .map(|(payload_type, blob)| proto::ApplicationPayload {
                    payload_type: payload_type.to_owned(),
                    blob: super::payload::from_buffer(frame.bytes(), blob),
                }),
            metadata,
        };
        Some(Box::new(Inbound {
            contents: Contents::Plain(contents),
            token,
            source,
            destination,
            kind,
            session_type,
            session_id: session.session_id,
            message_id: session.message_id,
        }))
    }
}
