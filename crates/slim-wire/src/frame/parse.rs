//! Validation of received bytes into a [`Frame`].
//!
//! The rules follow upstream's `validate` (a message type must be set; publish, subscribe and
//! unsubscribe need a header whose source and destination both carry an encoded name; publish
//! needs a session header; link needs its payload) and are stricter where a lenient parser
//! would let two implementations disagree about a message: a non-repeated field that appears
//! twice is rejected (protobuf would merge or overwrite it), scalar values must fit their
//! declared width, and strings must be UTF-8. Unknown fields are skipped and forwarded
//! untouched, so newer peers can extend messages.

use bytes::Bytes;

use std::sync::Arc;

use super::header_memo::HeaderMemo;
use super::name_memo::NameMemo;
use super::{
    Frame, FrameData, FrameError, FrameKind, HeaderView, NameView, PublishLayout, SessionInfo, Span,
};
use crate::pb::{Field, Fields, decode_varint};

/// Tracks which field numbers (below 64) were already seen in one message.
struct Seen {
    message: &'static str,
    bits: u64,
}

impl Seen {
    fn new(message: &'static str) -> Self {
        Seen { message, bits: 0 }
    }

    /// Errors when a singular field repeats. Numbers of 64 and above are unknown to us and not
    /// tracked.
    fn once(&mut self, field: u32) -> Result<(), FrameError> {
        if field >= 64 {
            return Ok(());
        }
        let bit = 1u64 << field;
        if self.bits & bit != 0 {
            return Err(FrameError::Duplicate {
                message: self.message,
                field,
            });
        }
        self.bits |= bit;
        Ok(())
    }

    fn bad(&self, field: u32) -> FrameError {
        FrameError::BadField {
            message: self.message,
            field,
        }
    }

    fn varint(&self, field: &Field) -> Result<u64, FrameError> {
        field.varint().ok_or_else(|| self.bad(field.number))
    }

    fn u32(&self, field: &Field) -> Result<u32, FrameError> {
        u32::try_from(self.varint(field)?).map_err(|_| self.bad(field.number))
    }

    fn bool(&self, field: &Field) -> Result<bool, FrameError> {
        match self.varint(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad(field.number)),
        }
    }

    fn bytes(&self, field: &Field) -> Result<Span, FrameError> {
        let (start, end) = field.bytes().ok_or_else(|| self.bad(field.number))?;
        Ok(Span::new(start, end))
    }

    fn string(&self, buf: &[u8], field: &Field) -> Result<Span, FrameError> {
        let span = self.bytes(field)?;
        let text = &buf[span.range()];
        // Names and tokens are nearly always ASCII, which is checked without the general
        // decoder's setup.
        if !all_ascii(text) && std::str::from_utf8(text).is_err() {
            return Err(FrameError::NotUtf8 {
                message: self.message,
                field: field.number,
            });
        }
        Ok(span)
    }
}

/// `text.is_ascii()`, in a form the compiler turns into vector instructions: the bytes of
/// each 32-byte chunk are OR-ed together and the top bit tested once per chunk. std checks a
/// word at a time, which made the identity token (about 230 bytes, in every frame) a tenth of
/// the instructions of parsing a frame.
fn all_ascii(text: &[u8]) -> bool {
    let mut chunks = text.chunks_exact(32);
    for chunk in &mut chunks {
        if chunk.iter().fold(0u8, |acc, byte| acc | byte) >= 0x80 {
            return false;
        }
    }
    chunks.remainder().iter().fold(0u8, |acc, byte| acc | byte) < 0x80
}

pub(super) fn parse(bytes: Bytes) -> Result<Frame, FrameError> {
    if bytes.len() > crate::MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(bytes.len()));
    }
    let buf: &[u8] = &bytes;
    let seen = Seen::new("Message");
    let mut body: Option<(FrameKind, Field)> = None;
    let mut has_metadata = false;
    for field in Fields::new(buf, 0, buf.len()) {
        let field = field?;
        let kind = match field.number {
            1 => FrameKind::Subscribe,
            2 => FrameKind::Unsubscribe,
            3 => FrameKind::Publish,
            5 => FrameKind::Link,
            6 => FrameKind::SubscriptionAck,
            4 => {
                // A metadata map entry: the map is repeated, only its framing matters here.
                seen.bytes(&field)?;
                has_metadata = true;
                continue;
            }
            _ => continue,
        };
        seen.bytes(&field)?;
        if body.is_some() {
            // Two arms of the oneof (or one twice): upstream would keep the last; we refuse
            // to guess.
            return Err(FrameError::Duplicate {
                message: "Message",
                field: field.number,
            });
        }
        body = Some((kind, field));
    }
    let (kind, body_field) = body.ok_or(FrameError::NoMessageType)?;
    let (start, end) = body_field.bytes().ok_or(FrameError::NoMessageType)?;
    let mut frame = FrameData {
        kind,
        body: Span::new(body_field.start as usize, body_field.end as usize),
        body_content: Span::new(start, end),
        header: None,
        subscription_id: 0,
        session: None,
        publish_layout: None,
        bytes: Bytes::new(),
        forwarded: Default::default(),
    };
    match kind {
        FrameKind::Subscribe | FrameKind::Unsubscribe => parse_subscription(buf, &mut frame)?,
        FrameKind::Publish => {
            let content = parse_publish(buf, &mut frame)?;
            frame.publish_layout = Some(PublishLayout {
                content,
                has_metadata,
            });
        }
        FrameKind::Link => parse_link(buf, frame.body_content)?,
        FrameKind::SubscriptionAck => parse_subscription_ack(buf, &mut frame)?,
    }
    frame.bytes = bytes;
    Ok(Frame {
        data: Arc::new(frame),
    })
}

fn parse_subscription(buf: &[u8], frame: &mut FrameData) -> Result<(), FrameError> {
    let message = if frame.kind == FrameKind::Subscribe {
        "Subscribe"
    } else {
        "Unsubscribe"
    };
    let mut seen = Seen::new(message);
    let content = frame.body_content;
    for field in Fields::new(buf, content.start as usize, content.end as usize) {
        let field = field?;
        match field.number {
            1 => {
                seen.once(1)?;
                frame.header = Some(parse_header(buf, &field)?);
            }
            2 => {
                seen.once(2)?;
                frame.subscription_id = seen.varint(&field)?;
            }
            _ => {}
        }
    }
    require_routable(frame.header.as_ref())
}

/// Validates a publish's body; answers its `msg` field (the `Content`), if present.
fn parse_publish(buf: &[u8], frame: &mut FrameData) -> Result<Option<Field>, FrameError> {
    let mut seen = Seen::new("Publish");
    let mut msg = None;
    let content = frame.body_content;
    for field in Fields::new(buf, content.start as usize, content.end as usize) {
        let field = field?;
        match field.number {
            1 => {
                seen.once(1)?;
                frame.header = Some(parse_header(buf, &field)?);
            }
            2 => {
                seen.once(2)?;
                frame.session = Some(parse_session(buf, seen.bytes(&field)?)?);
            }
            3 => {
                seen.once(3)?;
                let span = seen.bytes(&field)?;
                // The content stays opaque to nodes, but its framing must hold.
                for inner in Fields::new(buf, span.start as usize, span.end as usize) {
                    inner?;
                }
                msg = Some(field);
            }
            _ => {}
        }
    }
    require_routable(frame.header.as_ref())?;
    if frame.session.is_none() {
        return Err(FrameError::Missing("publish session header"));
    }
    Ok(msg)
}

fn require_routable(header: Option<&Arc<HeaderView>>) -> Result<(), FrameError> {
    let header = header.ok_or(FrameError::Missing("header"))?;
    let encoded = |name: Option<&NameView>| name.and_then(|n| n.encoded).is_some();
    if !encoded(header.source.as_ref()) {
        return Err(FrameError::Missing("header source name"));
    }
    if !encoded(header.destination.as_ref()) {
        return Err(FrameError::Missing("header destination name"));
    }
    Ok(())
}

/// The routing header's view: from the thread's memo when these bytes (the MAC's value
/// aside) were parsed before (see `header_memo.rs`), otherwise parsed.
fn parse_header(buf: &[u8], header_field: &Field) -> Result<Arc<HeaderView>, FrameError> {
    let field = Span::new(header_field.start as usize, header_field.end as usize);
    HeaderMemo::view(buf, field, || parse_header_uncached(buf, header_field))
}

fn parse_header_uncached(buf: &[u8], header_field: &Field) -> Result<HeaderView, FrameError> {
    let mut seen = Seen::new("SLIMHeader");
    let content = seen.bytes(header_field)?;
    let mut header = HeaderView {
        field: Span::new(header_field.start as usize, header_field.end as usize),
        content,
        ..HeaderView::default()
    };
    for field in Fields::new(buf, content.start as usize, content.end as usize) {
        let field = field?;
        let number = field.number;
        if number <= 12 {
            seen.once(number)?;
        }
        match number {
            1 => header.source = Some(parse_name(buf, seen.bytes(&field)?)?),
            2 => header.destination = Some(parse_name(buf, seen.bytes(&field)?)?),
            3 => header.identity = seen.string(buf, &field)?,
            4 => header.fanout = seen.u32(&field)?,
            5 => {
                seen.string(buf, &field)?;
            }
            6 => {
                header.ttl = seen.u32(&field)?;
                header.replaced_len += field.len();
                header.ttl_field = Some(Span::new(field.start as usize, field.end as usize));
            }
            7 => {
                header.recv_from = Some(seen.varint(&field)?);
                header.replaced_len += field.len();
            }
            8 => {
                header.forward_to = Some(seen.varint(&field)?);
                header.replaced_len += field.len();
            }
            9 => {
                seen.varint(&field)?;
                header.replaced_len += field.len();
            }
            10 => header.error = Some(seen.bool(&field)?),
            11 => {
                header.mac = Some(seen.bytes(&field)?);
                header.replaced_len += field.len();
            }
            12 => {
                seen.bytes(&field)?;
                header.fields_after_mac = true;
            }
            _ => header.fields_after_mac |= number > 12,
        }
    }
    Ok(header)
}

/// A name's view: from the thread's memo when these bytes were parsed before (see
/// `name_memo.rs`: the outcome depends on the bytes only), otherwise parsed.
fn parse_name(buf: &[u8], span: Span) -> Result<NameView, FrameError> {
    NameMemo::view(buf, span, parse_name_uncached)
}

fn parse_name_uncached(buf: &[u8], span: Span) -> Result<NameView, FrameError> {
    match parse_usual_name(buf, span) {
        Some(view) => Ok(view),
        None => parse_any_name(buf, span),
    }
}

/// The general walk over a `Name`: any field order, omitted fields, unknown fields.
fn parse_any_name(buf: &[u8], span: Span) -> Result<NameView, FrameError> {
    let mut seen = Seen::new("Name");
    let mut view = NameView::default();
    for field in Fields::new(buf, span.start as usize, span.end as usize) {
        let field = field?;
        match field.number {
            1 => {
                seen.once(1)?;
                let (encoded, id) = parse_encoded_name(buf, seen.bytes(&field)?)?;
                view.encoded = Some(encoded);
                view.id = id;
            }
            2 => {
                seen.once(2)?;
                view.strings = Some(parse_string_name(buf, seen.bytes(&field)?)?);
            }
            _ => {}
        }
    }
    Ok(view)
}

type EncodedParts = ([u64; 3], Option<(u64, u64)>);

fn parse_encoded_name(buf: &[u8], span: Span) -> Result<EncodedParts, FrameError> {
    let mut seen = Seen::new("EncodedName");
    let mut components = [0u64; 3];
    let mut id = None;
    for field in Fields::new(buf, span.start as usize, span.end as usize) {
        let field = field?;
        match field.number {
            n @ 1..=3 => {
                seen.once(n)?;
                components[(n - 1) as usize] = seen.varint(&field)?;
            }
            4 => {
                seen.once(4)?;
                id = Some(parse_name_id(buf, seen.bytes(&field)?)?);
            }
            _ => {}
        }
    }
    Ok((components, id))
}

fn parse_name_id(buf: &[u8], span: Span) -> Result<(u64, u64), FrameError> {
    let mut seen = Seen::new("NameId");
    let mut halves = (0, 0);
    for field in Fields::new(buf, span.start as usize, span.end as usize) {
        let field = field?;
        match field.number {
            1 => {
                seen.once(1)?;
                halves.0 = seen.varint(&field)?;
            }
            2 => {
                seen.once(2)?;
                halves.1 = seen.varint(&field)?;
            }
            _ => {}
        }
    }
    Ok(halves)
}

fn parse_string_name(buf: &[u8], span: Span) -> Result<[Span; 3], FrameError> {
    let mut seen = Seen::new("StringName");
    // Absent components are empty strings, at the end of the StringName.
    let mut parts = [Span::new(span.end as usize, span.end as usize); 3];
    for field in Fields::new(buf, span.start as usize, span.end as usize) {
        let field = field?;
        if let n @ 1..=3 = field.number {
            seen.once(n)?;
            parts[(n - 1) as usize] = seen.string(buf, &field)?;
        }
    }
    Ok(parts)
}

fn parse_session(buf: &[u8], span: Span) -> Result<SessionInfo, FrameError> {
    let mut seen = Seen::new("SessionHeader");
    let mut info = SessionInfo::default();
    for field in Fields::new(buf, span.start as usize, span.end as usize) {
        let field = field?;
        let number = field.number;
        // Our extensions are read leniently: upstream does not know them, so a value it would
        // forward must never make us refuse the message. Anything unexpected reads as absent.
        match number {
            48 => info.takes_ack_ranges = field.varint().is_some_and(|v| v != 0),
            49 => {
                info.ack_range_first = field
                    .varint()
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
        if !(1..=4).contains(&number) {
            continue;
        }
        seen.once(number)?;
        // Enums are int32 on the wire; unknown values are kept (proto3 open enums).
        match number {
            1 => info.session_type = seen.varint(&field)? as i32,
            2 => info.message_type = seen.varint(&field)? as i32,
            3 => info.session_id = seen.u32(&field)?,
            _ => info.message_id = seen.u32(&field)?,
        }
    }
    Ok(info)
}

fn parse_link(buf: &[u8], content: Span) -> Result<(), FrameError> {
    let mut seen = Seen::new("Link");
    let mut has_payload = false;
    for field in Fields::new(buf, content.start as usize, content.end as usize) {
        let field = field?;
        if field.number == 1 {
            seen.once(1)?;
            seen.bytes(&field)?;
            has_payload = true;
        }
    }
    if has_payload {
        Ok(())
    } else {
        Err(FrameError::Missing("link negotiation payload"))
    }
}

fn parse_subscription_ack(buf: &[u8], frame: &mut FrameData) -> Result<(), FrameError> {
    let mut seen = Seen::new("SubscriptionAck");
    let content = frame.body_content;
    for field in Fields::new(buf, content.start as usize, content.end as usize) {
        let field = field?;
        match field.number {
            1 => {
                seen.once(1)?;
                frame.subscription_id = seen.varint(&field)?;
            }
            2 => {
                seen.once(2)?;
                seen.bool(&field)?;
            }
            3 => {
                seen.once(3)?;
                seen.string(buf, &field)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The two names are most of a frame's fields, and nearly every sender (prost, upstream, us)
/// writes them in one layout: `EncodedName` with its three components and, optionally, a
/// `NameId` of two non-zero halves, then optionally a `StringName` with three non-empty
/// strings, each field once, in field order. This reads exactly that layout in one pass,
/// without the general walk's per-field dispatch and duplicate tracking. Anything else (another
/// order, a zero field proto3 omitted, unknown fields, anything malformed or not UTF-8) returns
/// `None` and the general walk decides, so what is accepted or rejected, and with which
/// error, never depends on this path.
fn parse_usual_name(buf: &[u8], span: Span) -> Option<NameView> {
    let mut name = Cursor::new(buf, span)?;
    let mut encoded = Cursor::new(buf, name.delimited(0x0a)?)?;
    let components = [
        encoded.varint_field(0x08)?,
        encoded.varint_field(0x10)?,
        encoded.varint_field(0x18)?,
    ];
    let id = if encoded.is_done() {
        None
    } else {
        let mut id = Cursor::new(buf, encoded.delimited(0x22)?)?;
        let halves = (id.varint_field(0x08)?, id.varint_field(0x10)?);
        id.finish()?;
        encoded.finish()?;
        Some(halves)
    };
    let strings = if name.is_done() {
        None
    } else {
        let mut strings = Cursor::new(buf, name.delimited(0x12)?)?;
        let parts = [
            strings.string(0x0a)?,
            strings.string(0x12)?,
            strings.string(0x1a)?,
        ];
        strings.finish()?;
        name.finish()?;
        Some(parts)
    };
    Some(NameView {
        encoded: Some(components),
        id,
        strings,
    })
}

/// A reader over one message's bytes for [`parse_usual_name`]: every step either matches the
/// expected layout or gives `None`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], span: Span) -> Option<Self> {
        let (pos, end) = (span.start as usize, span.end as usize);
        (pos <= end && end <= buf.len()).then_some(Cursor { buf, pos, end })
    }

    fn is_done(&self) -> bool {
        self.pos == self.end
    }

    fn finish(&self) -> Option<()> {
        self.is_done().then_some(())
    }

    /// Consumes `key` (a one-byte field key) if it is next.
    fn key(&mut self, key: u8) -> Option<()> {
        if self.pos < self.end && self.buf.get(self.pos) == Some(&key) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn varint(&mut self) -> Option<u64> {
        // Lengths are one byte: no need for the general decoder.
        if self.pos < self.end
            && let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Some(u64::from(byte));
        }
        let (value, len) = decode_varint(self.buf.get(self.pos..self.end)?).ok()?;
        self.pos += len;
        Some(value)
    }

    fn varint_field(&mut self, key: u8) -> Option<u64> {
        self.key(key)?;
        self.varint()
    }

    /// The payload of the length-delimited field `key`, which must fit in this message.
    fn delimited(&mut self, key: u8) -> Option<Span> {
        self.key(key)?;
        let len = usize::try_from(self.varint()?).ok()?;
        let start = self.pos;
        let end = start.checked_add(len)?;
        if end > self.end {
            return None;
        }
        self.pos = end;
        Some(Span::new(start, end))
    }

    /// A non-empty UTF-8 string field.
    fn string(&mut self, key: u8) -> Option<Span> {
        let span = self.delimited(key)?;
        let text = self.buf.get(span.range())?;
        let valid = !text.is_empty() && (all_ascii(text) || std::str::from_utf8(text).is_ok());
        valid.then_some(span)
    }
}

#[cfg(test)]
mod usual_name_tests {
    //! The fast path must agree with the general walk whenever it answers.
    use prost::Message as _;

    use super::*;
    use crate::proto;

    fn name(id: Option<(u64, u64)>, strings: Option<[&str; 3]>) -> Vec<u8> {
        proto::Name {
            name: Some(proto::EncodedName {
                component_0: 0x9e37_79b9_7f4a_7c15,
                component_1: 300,
                component_2: u64::MAX,
                name_id: id.map(|(id_0, id_1)| proto::NameId { id_0, id_1 }),
            }),
            str_name: strings.map(|[a, b, c]| proto::StringName {
                str_component_0: a.into(),
                str_component_1: b.into(),
                str_component_2: c.into(),
            }),
        }
        .encode_to_vec()
    }

    fn assert_same(buf: &[u8], span: Span) {
        let Some(fast) = parse_usual_name(buf, span) else {
            return;
        };
        let general =
            parse_any_name(buf, span).expect("the fast path accepted what the walk rejects");
        assert_eq!(fast.encoded, general.encoded);
        assert_eq!(fast.id, general.id);
        assert_eq!(fast.strings, general.strings);
    }

    #[test]
    fn the_usual_layouts_take_the_fast_path_and_agree() {
        for bytes in [
            name(Some((u64::MAX, 1)), Some(["org", "ns", "svc"])),
            name(Some((1, 2)), None),
            name(None, Some(["a", "é", "c"])),
            name(None, None),
        ] {
            let span = Span::new(0, bytes.len());
            assert!(parse_usual_name(&bytes, span).is_some());
            assert_same(&bytes, span);
        }
    }

    #[test]
    fn other_layouts_fall_back() {
        // A zero half is omitted by proto3, an empty string too: both leave the usual layout.
        for bytes in [
            name(Some((0, 7)), None),
            name(None, Some(["org", "", "svc"])),
        ] {
            let span = Span::new(0, bytes.len());
            assert!(parse_usual_name(&bytes, span).is_none());
            assert!(parse_any_name(&bytes, span).is_ok());
        }
    }

    #[test]
    fn every_single_byte_corruption_is_agreed_on() {
        let bytes = name(Some((u64::MAX, 1)), Some(["org", "ns", "svc"]));
        for index in 0..bytes.len() {
            for value in [
                0x00, 0x01, 0x02, 0x08, 0x0a, 0x12, 0x22, 0x7f, 0x80, 0xc3, 0xff,
            ] {
                let mut corrupt = bytes.clone();
                corrupt[index] = value;
                for end in [corrupt.len(), index + 1] {
                    assert_same(&corrupt, Span::new(0, end));
                }
            }
        }
    }
}

#[cfg(test)]
mod ascii_tests {
    use super::all_ascii;

    #[test]
    fn all_ascii_agrees_with_std_at_every_length_and_position() {
        for len in 0..100 {
            let clean = vec![b'a'; len];
            assert!(all_ascii(&clean), "length {len}");
            for position in 0..len {
                let mut dirty = clean.clone();
                dirty[position] = 0x80 | (position as u8);
                assert_eq!(
                    all_ascii(&dirty),
                    dirty.is_ascii(),
                    "length {len} at {position}"
                );
                assert!(!all_ascii(&dirty));
            }
        }
    }
}
