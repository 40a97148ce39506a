//! [`Frame::build`]: encode a `Message` and record its view in the same pass.
//!
//! [`Frame::from_message`] encodes with prost and then runs [`Frame::parse`] over the result,
//! validating bytes this process has just written. Applications send every session message
//! (data and acknowledgements alike) that way, so the second walk cost as much as the
//! receiving side's parse. Here the publish arm — the only kind sent per message — is written
//! field by field in prost's order (field-number order, proto3 defaults omitted, `optional`
//! fields whenever set), and each span and value [`Frame::parse`] would record is noted as it
//! is written. The payload (`Content`) and the metadata map are opaque to the view and are
//! written by prost's own field encoders.
//!
//! What cannot be built this way falls back to `from_message`, so its errors stay the same:
//! other kinds (subscriptions, link messages: rare), and publishes that `parse` would refuse
//! (no header, no session header, a name without its encoded form). The tests check, for
//! arbitrary messages, that the bytes are exactly prost's and that parsing them gives the
//! same view.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use prost::Message as _;

use super::{
    Frame, FrameData, FrameError, FrameKind, HeaderView, NameView, PublishLayout, SessionInfo, Span,
};
use crate::pb::{Fields, WireType, bytes_field_len, put_key, put_varint, varint_field_len};
use crate::proto::{self, message::MessageType};

impl Frame {
    /// Encodes `message` and builds its frame without parsing the bytes again. The result is
    /// the frame `Frame::from_message(message)` returns (same bytes, same view), and so are
    /// the errors.
    pub fn build(message: &proto::Message) -> Result<Frame, FrameError> {
        let Some(MessageType::Publish(publish)) = &message.message_type else {
            return Frame::from_message(message);
        };
        let (Some(header), Some(session)) = (&publish.header, &publish.session) else {
            return Frame::from_message(message);
        };
        let encoded = |name: &Option<proto::Name>| name.as_ref().is_some_and(|n| n.name.is_some());
        if !encoded(&header.source) || !encoded(&header.destination) {
            return Frame::from_message(message);
        }
        let total = message.encoded_len();
        if total > crate::MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(total));
        }
        let mut out = Vec::with_capacity(total);
        let data = write_publish(&mut out, message, publish, header, session);
        Ok(Frame {
            data: Arc::new(FrameData {
                bytes: Bytes::from(out),
                ..data
            }),
        })
    }
}

/// Writes the whole message (publish arm, then metadata, as prost orders them) and returns
/// the view, bytes still empty.
fn write_publish(
    out: &mut Vec<u8>,
    message: &proto::Message,
    publish: &proto::Publish,
    header: &proto::SlimHeader,
    session: &proto::SessionHeader,
) -> FrameData {
    let body_start = out.len();
    put_key(
        out,
        FrameKind::Publish.field_number(),
        WireType::LengthDelimited,
    );
    put_varint(out, publish.encoded_len() as u64);
    let content_start = out.len();

    let header_view = write_header(out, header);
    prost::encoding::message::encode(2, session, out);
    let content_at = out.len();
    if let Some(content) = &publish.msg {
        prost::encoding::message::encode(3, content, out);
    }
    let layout = PublishLayout::written(out, content_at, !message.metadata.is_empty());
    let body = Span::new(body_start, out.len());
    let body_content = Span::new(content_start, out.len());

    prost::encoding::hash_map::encode(
        prost::encoding::string::encode,
        prost::encoding::string::encoded_len,
        prost::encoding::string::encode,
        prost::encoding::string::encoded_len,
        4,
        &message.metadata,
        out,
    );
    FrameData {
        bytes: Bytes::new(),
        kind: FrameKind::Publish,
        body,
        body_content,
        header: Some(Arc::new(header_view)),
        subscription_id: 0,
        session: Some(SessionInfo::of(session)),
        publish_layout: Some(layout),
        forwarded: Default::default(),
    }
}

impl PublishLayout {
    /// The layout of a publish being written: its content, if any, is the field written
    /// from `content_at` to the end of `out`.
    pub(super) fn written(out: &[u8], content_at: usize, has_metadata: bool) -> PublishLayout {
        PublishLayout {
            content: Fields::new(out, content_at, out.len())
                .next()
                .and_then(Result::ok),
            has_metadata,
        }
    }
}

/// Writes field 1 of the body (the routing header) and records where everything is.
fn write_header(out: &mut Vec<u8>, header: &proto::SlimHeader) -> HeaderView {
    let field_start = out.len();
    put_key(out, 1, WireType::LengthDelimited);
    put_varint(out, header.encoded_len() as u64);
    let content_start = out.len();
    let source = header.source.as_ref().map(|name| write_name(out, 1, name));
    let destination = header
        .destination
        .as_ref()
        .map(|name| write_name(out, 2, name));
    let mut view = HeaderView {
        source,
        destination,
        fanout: header.fanout,
        ttl: header.ttl,
        recv_from: header.recv_from,
        forward_to: header.forward_to,
        error: header.error,
        ..HeaderView::default()
    };
    if !header.identity.is_empty() {
        view.identity = put_bytes(out, 3, header.identity.as_bytes());
    }
    if header.fanout != 0 {
        put_uint(out, 4, u64::from(header.fanout));
    }
    if !header.version.is_empty() {
        put_bytes(out, 5, header.version.as_bytes());
    }
    if header.ttl != 0 {
        let start = out.len();
        view.replaced_len += put_uint(out, 6, u64::from(header.ttl));
        view.ttl_field = Some(Span::new(start, out.len()));
    }
    for (number, value) in [
        (7, header.recv_from),
        (8, header.forward_to),
        (9, header.incoming_conn),
    ] {
        if let Some(value) = value {
            view.replaced_len += put_uint(out, number, value);
        }
    }
    if let Some(error) = header.error {
        put_uint(out, 10, u64::from(error));
    }
    if let Some(mac) = &header.header_mac {
        let span = put_bytes(out, 11, mac);
        view.mac = Some(span);
        view.replaced_len += bytes_field_len(11, span.len());
    }
    if let Some(signature) = &header.e2e_header_sig {
        put_bytes(out, 12, signature);
        view.fields_after_mac = true;
    }
    view.field = Span::new(field_start, out.len());
    view.content = Span::new(content_start, out.len());
    view
}

/// Writes a `Name` as field `number` and returns its view.
fn write_name(out: &mut Vec<u8>, number: u32, name: &proto::Name) -> NameView {
    put_key(out, number, WireType::LengthDelimited);
    put_varint(out, name.encoded_len() as u64);
    let mut view = NameView::default();
    if let Some(encoded) = &name.name {
        put_key(out, 1, WireType::LengthDelimited);
        put_varint(out, encoded.encoded_len() as u64);
        let components = [
            encoded.component_0,
            encoded.component_1,
            encoded.component_2,
        ];
        for (number, value) in (1..=3).zip(components) {
            if value != 0 {
                put_uint(out, number, value);
            }
        }
        view.encoded = Some(components);
        if let Some(id) = &encoded.name_id {
            put_key(out, 4, WireType::LengthDelimited);
            put_varint(out, id.encoded_len() as u64);
            for (number, value) in [(1, id.id_0), (2, id.id_1)] {
                if value != 0 {
                    put_uint(out, number, value);
                }
            }
            view.id = Some((id.id_0, id.id_1));
        }
    }
    if let Some(strings) = &name.str_name {
        put_key(out, 2, WireType::LengthDelimited);
        put_varint(out, strings.encoded_len() as u64);
        let parts = [
            &strings.str_component_0,
            &strings.str_component_1,
            &strings.str_component_2,
        ];
        // `parse` places an absent (empty) component at the end of the StringName.
        let mut spans = [None; 3];
        for (slot, (number, part)) in spans.iter_mut().zip((1..=3).zip(parts)) {
            if !part.is_empty() {
                *slot = Some(put_bytes(out, number, part.as_bytes()));
            }
        }
        let end = Span::new(out.len(), out.len());
        view.strings = Some(spans.map(|span| span.unwrap_or(end)));
    }
    view
}

/// Writes a varint field; returns its encoded length.
fn put_uint(out: &mut Vec<u8>, number: u32, value: u64) -> usize {
    put_key(out, number, WireType::Varint);
    put_varint(out, value);
    varint_field_len(number, value)
}

/// Writes a length-delimited field; returns the span of its payload.
fn put_bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) -> Span {
    put_key(out, number, WireType::LengthDelimited);
    put_varint(out, payload.len() as u64);
    let start = out.len();
    out.put_slice(payload);
    Span::new(start, out.len())
}

mod template;
#[cfg(test)]
mod tests;

pub use template::PublishTemplate;
