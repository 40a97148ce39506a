//! [`PublishTemplate`]: a routing header encoded once, for the many publishes that share it.
//!
//! A session sends every data message and acknowledgement to the same peer (or channel) with
//! the same source, fanout and identity token, so all those publishes begin with the same
//! encoded `SLIMHeader`: two names with their strings (most of a small message's bytes) and
//! the token. The template keeps those bytes and their view; each publish then copies them
//! and writes only the session header, the content and the metadata. The frame is exactly
//! what [`Frame::build`] gives for the same message (bytes and view), which the tests check
//! for arbitrary messages.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use prost::encoding::{hash_map, message, string};

use super::super::{
    Frame, FrameData, FrameError, FrameKind, HeaderView, PublishLayout, SessionInfo, Span,
};
use super::write_header;
use crate::pb::{WireType, bytes_field_len, put_key, put_varint, varint_field_len, varint_len};
use crate::proto;

/// An encoded routing header and where its fields are, ready to start publishes.
#[derive(Debug, Clone)]
pub struct PublishTemplate {
    /// The `header` field of a `Publish` (key and length included), as if at offset 0.
    header: Vec<u8>,
    /// Its view, offsets relative to the start of `header`.
    view: HeaderView,
    /// The view moved to where a publish puts the header, one per length of the publish's
    /// length prefix (1 to 4 bytes below MAX_FRAME_LEN), made on first use and shared by
    /// the frames built with it.
    placed: [OnceLock<Arc<HeaderView>>; 4],
}

impl PublishTemplate {
    /// Encodes `header`. Refused as [`Frame::build`] refuses a publish with this header:
    /// both names need their encoded form.
    pub fn new(header: &proto::SlimHeader) -> Result<PublishTemplate, FrameError> {
        let encoded = |name: &Option<proto::Name>| name.as_ref().is_some_and(|n| n.name.is_some());
        if !encoded(&header.source) {
            return Err(FrameError::Missing("header source name"));
        }
        if !encoded(&header.destination) {
            return Err(FrameError::Missing("header destination name"));
        }
        let mut out = Vec::new();
        let view = write_header(&mut out, header);
        Ok(PublishTemplate {
            header: out,
            view,
            placed: Default::default(),
        })
    }

    /// The view of the header placed at `header_at` in a publish.
    fn placed_view(&self, header_at: usize) -> Arc<HeaderView> {
        let place = || self.view.rebased(0, header_at as u32);
        match self.placed.get(header_at.wrapping_sub(2)) {
            Some(slot) => Arc::clone(slot.get_or_init(|| Arc::new(place()))),
            None => Arc::new(place()),
        }
    }

    /// The frame of a publish with this header and the given session header, content and
    /// metadata: [`Frame::build`] of that message, without encoding the header again.
    pub fn publish(
        &self,
        session: &proto::SessionHeader,
        content: Option<&proto::Content>,
        metadata: &HashMap<String, String>,
    ) -> Result<Frame, FrameError> {
        let session_len = session_body_len(session);
        let app = content
            .and_then(app_payload)
            .map(|app| (app, app_body_len(app)));
        let content_len = match (app, content) {
            (Some((_, app_len)), _) => bytes_field_len(3, bytes_field_len(1, app_len)),
            (None, Some(other)) => message::encoded_len(3, other),
            (None, None) => 0,
        };
        let publish_len = self.header.len() + bytes_field_len(2, session_len) + content_len;
        let metadata_len =
            hash_map::encoded_len(string::encoded_len, string::encoded_len, 4, metadata);
        let header_at = 1 + varint_len(publish_len as u64);
        let total = header_at + publish_len + metadata_len;
        if total > crate::MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(total));
        }
        let mut out = Vec::with_capacity(total);
        put_key(
            &mut out,
            FrameKind::Publish.field_number(),
            WireType::LengthDelimited,
        );
        put_varint(&mut out, publish_len as u64);
        out.extend_from_slice(&self.header);
        put_session(&mut out, session, session_len);
        let content_at = out.len();
        match (app, content) {
            (Some((app, app_len)), _) => put_app_content(&mut out, app, app_len),
            (None, Some(other)) => message::encode(3, other, &mut out),
            (None, None) => {}
        }
        let layout = PublishLayout::written(&out, content_at, !metadata.is_empty());
        let body = Span::new(0, out.len());
        let body_content = Span::new(header_at, out.len());
        hash_map::encode(
            string::encode,
            string::encoded_len,
            string::encode,
            string::encoded_len,
            4,
            metadata,
            &mut out,
        );
        Ok(Frame {
            data: Arc::new(FrameData {
                bytes: Bytes::from(out),
                kind: FrameKind::Publish,
                body,
                body_content,
                header: Some(self.placed_view(header_at)),
                subscription_id: 0,
                session: Some(SessionInfo::of(session)),
                publish_layout: Some(layout),
                forwarded: Default::default(),
            }),
        })
    }
}

// The session header and an application payload are written here rather than by prost,
// whose generic message encoding computes every nested length again while writing; the
// bytes are the same (proto3: zero and empty fields omitted, enums as sign-extended int32),
// which the tests check against `Frame::build` for arbitrary messages.

/// The session header's fields, as `(number, varint value)`, in field order (as prost).
fn session_fields(session: &proto::SessionHeader) -> [(u32, u64); 6] {
    [
        (1, i64::from(session.session_type) as u64),
        (2, i64::from(session.session_message_type) as u64),
        (3, u64::from(session.session_id)),
        (4, u64::from(session.message_id)),
        (48, u64::from(session.takes_ack_ranges)),
        (49, u64::from(session.ack_range_first)),
    ]
}

fn session_body_len(session: &proto::SessionHeader) -> usize {
    session_fields(session)
        .iter()
        .filter(|(_, value)| *value != 0)
        .map(|&(number, value)| varint_field_len(number, value))
        .sum()
}

/// Writes `Publish.session` (field 2) whose content is `len` bytes.
fn put_session(out: &mut Vec<u8>, session: &proto::SessionHeader, len: usize) {
    put_key(out, 2, WireType::LengthDelimited);
    put_varint(out, len as u64);
    for (number, value) in session_fields(session) {
        if value != 0 {
            put_key(out, number, WireType::Varint);
            put_varint(out, value);
        }
    }
}

/// The `ApplicationPayload` inside `content`; `None` for any other content (left to prost).
fn app_payload(content: &proto::Content) -> Option<&proto::ApplicationPayload> {
    match &content.content_type {
        Some(proto::content::ContentType::AppPayload(app)) => Some(app),
        _ => None,
    }
}

/// Encoded length of `app`'s fields.
fn app_body_len(app: &proto::ApplicationPayload) -> usize {
    let field = |number, len| {
        if len == 0 {
            0
        } else {
            bytes_field_len(number, len)
        }
    };
    field(1, app.payload_type.len()) + field(2, app.blob.len())
}

/// Writes `Publish.msg` (field 3): a `Content` holding `app`, whose fields are `len` bytes.
fn put_app_content(out: &mut Vec<u8>, app: &proto::ApplicationPayload, len: usize) {
    put_key(out, 3, WireType::LengthDelimited);
    put_varint(out, bytes_field_len(1, len) as u64);
    put_key(out, 1, WireType::LengthDelimited);
    put_varint(out, len as u64);
    for (number, bytes) in [(1, app.payload_type.as_bytes()), (2, &app.blob[..])] {
        if !bytes.is_empty() {
            put_key(out, number, WireType::LengthDelimited);
            put_varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
}
