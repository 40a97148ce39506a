//! [`Frame`]: one encoded `Message`, validated once and then routed without decoding.
//!
//! A node needs from each message only its kind, the routing header (names, fanout, TTL, the
//! process-local `recv_from`/`forward_to`, the MAC) and, for subscriptions, the subscription
//! id. [`Frame::parse`] checks that the bytes are a well-formed `Message` of a known kind with a
//! complete header, records where each header field lives, and keeps the bytes shared
//! ([`bytes::Bytes`]) so fan-out clones nothing but a reference count. When the frame leaves on
//! another link, [`Frame::encode_forwarded`] writes it with the new TTL and that link's MAC,
//! dropping the process-local fields and copying every other byte verbatim.
//!
//! Layout: `parse.rs` validates and builds the view (`name_memo.rs` and `header_memo.rs`
//! remember the names and headers it parsed last), `build.rs` encodes our own messages and
//! records the view as it writes, `emit.rs` re-encodes (`forwarded_cache.rs` keeps the
//! result for a frame sent to many links), `plain.rs` reads a publish's payload and metadata
//! for applications, `tests.rs` checks them against prost.

mod build;
mod emit;
mod forwarded_cache;
mod header_memo;
mod header_stamp;
mod name_memo;
mod parse;
mod plain;
#[cfg(test)]
mod tests;

pub use build::PublishTemplate;
pub use header_memo::HeaderKey;
pub use plain::PlainPublish;

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;

use crate::mac::{MacInput, NameRef};
use crate::name::{InstanceId, Name, NameKey};
use crate::pb::WireError;
use crate::proto;

/// The kind of a message: which arm of `Message.message_type` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Register interest in a name.
    Subscribe,
    /// Withdraw interest in a name.
    Unsubscribe,
    /// Data or session control, routed by destination.
    Publish,
    /// Link negotiation: link-local, never routed.
    Link,
    /// Answer to a subscribe/unsubscribe that asked for one.
    SubscriptionAck,
}

impl FrameKind {
    /// Field number of this arm in `Message`.
    pub(crate) fn field_number(self) -> u32 {
        match self {
            FrameKind::Subscribe => 1,
            FrameKind::Unsubscribe => 2,
            FrameKind::Publish => 3,
            FrameKind::Link => 5,
            FrameKind::SubscriptionAck => 6,
        }
    }

    /// Lower-case label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameKind::Subscribe => "subscribe",
            FrameKind::Unsubscribe => "unsubscribe",
            FrameKind::Publish => "publish",
            FrameKind::Link => "link",
            FrameKind::SubscriptionAck => "subscription_ack",
        }
    }
}

/// Why bytes were rejected as a frame. Every variant is a protocol violation by the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The protobuf framing itself is broken.
    #[error("malformed protobuf: {0}")]
    Wire(#[from] WireError),
    /// Larger than [`crate::MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// `Message.message_type` is unset (or an arm this version does not know).
    #[error("message has no known message type")]
    NoMessageType,
    /// A field that may appear once appeared twice (`message_type` arms included).
    #[error("field {field} of {message} appears more than once")]
    Duplicate {
        /// The message being parsed.
        message: &'static str,
        /// The repeated field number.
        field: u32,
    },
    /// A known field carried the wrong wire type or an out-of-range value.
    #[error("field {field} of {message} has an invalid value")]
    BadField {
        /// The message being parsed.
        message: &'static str,
        /// The offending field number.
        field: u32,
    },
    /// A string field was not UTF-8.
    #[error("field {field} of {message} is not UTF-8")]
    NotUtf8 {
        /// The message being parsed.
        message: &'static str,
        /// The offending field number.
        field: u32,
    },
    /// A required part is absent (header, names, session header, link payload).
    #[error("{0} is missing")]
    Missing(&'static str),
}

/// A byte range inside the frame, as `u32`s to keep views small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        // Frames are at most MAX_FRAME_LEN bytes, far below u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub(crate) fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// This span counted from `origin` (which it must not start before).
    pub(crate) fn relative_to(self, origin: u32) -> Span {
        Span {
            start: self.start - origin,
            end: self.end - origin,
        }
    }
}

/// Where a name's parts live.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NameView {
    /// `(c0, c1, c2)` when `EncodedName` is present.
    encoded: Option<[u64; 3]>,
    /// `(id_0, id_1)` when `NameId` is present inside `EncodedName`.
    id: Option<(u64, u64)>,
    /// The three strings when `StringName` is present.
    strings: Option<[Span; 3]>,
}

/// Where the routing header's fields live, and their decoded scalar values.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderView {
    /// The whole `header` field (key and length included) inside the body.
    field: Span,
    /// The header's content.
    content: Span,
    source: Option<NameView>,
    destination: Option<NameView>,
    identity: Span,
    fanout: u32,
    ttl: u32,
    recv_from: Option<u64>,
    forward_to: Option<u64>,
    error: Option<bool>,
    mac: Option<Span>,
    /// Bytes of the fields re-emission replaces or drops (ttl, 7, 8, 9, header_mac).
    replaced_len: usize,
    /// The TTL field (key and value), when the header has one.
    ttl_field: Option<Span>,
    /// A field numbered above the MAC's (11) is present: a MAC cannot simply be appended.
    fields_after_mac: bool,
    /// Set when the parser's memo remembers this header (see `header_memo.rs`).
    key: Option<HeaderKey>,
}

impl HeaderView {
    /// The same view with every offset moved from being relative to `from` to being
    /// relative to `to` (headers are copied between buffers whole, so their fields keep
    /// their distances).
    pub(super) fn rebased(&self, from: u32, to: u32) -> HeaderView {
        let span = |s: Span| Span {
            start: s.start - from + to,
            end: s.end - from + to,
        };
        let name = |n: NameView| NameView {
            strings: n.strings.map(|parts| parts.map(span)),
            ..n
        };
        HeaderView {
            field: span(self.field),
            content: span(self.content),
            source: self.source.map(name),
            destination: self.destination.map(name),
            // An absent identity has the empty span at 0, as `parse` leaves it.
            identity: if self.identity == Span::default() {
                self.identity
            } else {
                span(self.identity)
            },
            mac: self.mac.map(span),
            ttl_field: self.ttl_field.map(span),
            ..self.clone()
        }
    }
}

/// Session header of a publish, decoded (it is a handful of integers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// `SessionType` as its wire value.
    pub session_type: i32,
    /// `SessionMessageType` as its wire value.
    pub message_type: i32,
    /// Session id.
    pub session_id: u32,
    /// Message id within the session.
    pub message_id: u32,
    /// Extension: the sender of this data message takes acknowledgement ranges.
    pub takes_ack_ranges: bool,
    /// Extension: the first id an acknowledgement covers (0: only `message_id`).
    pub ack_range_first: u32,
}

impl SessionInfo {
    /// The view of an encoded session header.
    pub fn of(session: &proto::SessionHeader) -> Self {
        SessionInfo {
            session_type: session.session_type,
            message_type: session.session_message_type,
            session_id: session.session_id,
            message_id: session.message_id,
            takes_ack_ranges: session.takes_ack_ranges,
            ack_range_first: session.ack_range_first,
        }
    }
}

/// A name as carried in a frame: its routing key and, when sent, the bytes of its three
/// strings (UTF-8, as `parse` checked: they are compared as bytes, and only a consumer that
/// needs them as text converts them).
pub type NameParts<'a> = (NameKey, Option<[&'a [u8]; 3]>);

/// A validated, encoded `Message`. Cheap to clone and to move: it is one pointer to the
/// shared bytes and their parsed view.
///
/// The view (header offsets, both names' hashes, the session header) is about 350 bytes.
/// A frame is moved through several queues between the socket that received it and the one
/// that sends it, and fanned out by cloning, so it lives behind one reference count: a move
/// copies 8 bytes and a clone is one atomic increment, for one allocation per received frame.
#[derive(Debug, Clone)]
pub struct Frame {
    data: Arc<FrameData>,
}

/// What [`Frame::parse`] found, shared by every clone of a frame.
#[derive(Debug)]
pub(crate) struct FrameData {
    bytes: Bytes,
    kind: FrameKind,
    /// The `message_type` arm (key and length included).
    body: Span,
    /// The arm's content.
    body_content: Span,
    /// Shared with the parser's memo and the frame's other parses: a view is about 300
    /// bytes, and copying it on each of its ways into a frame was a tenth of a receiving
    /// application's copying.
    header: Option<Arc<HeaderView>>,
    subscription_id: u64,
    session: Option<SessionInfo>,
    /// Where a publish's content lies and whether it has metadata (`None` for other kinds).
    publish_layout: Option<PublishLayout>,
    /// The forwarded encoding, once the frame goes to a second link.
    forwarded: forwarded_cache::ForwardedCache,
}

/// Where a publish's parts are, noted by [`Frame::parse`] on its validating walk (or by the
/// builders as they write), so that [`Frame::plain_publish`] need not walk the message again
/// to find them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishLayout {
    /// The publish's `msg` field (`Content`); `None` when absent.
    content: Option<crate::pb::Field>,
    /// True when the message carries at least one metadata entry.
    has_metadata: bool,
}

impl Frame {
    /// Validates `bytes` as one `Message`. See the module docs for what is checked.
    pub fn parse(bytes: Bytes) -> Result<Frame, FrameError> {
        parse::parse(bytes)
    }

    /// Encodes a prost message and validates it as a frame.
    pub fn from_message(message: &proto::Message) -> Result<Frame, FrameError> {
        Frame::parse(Bytes::from(message.encode_to_vec()))
    }

    /// Decodes the whole message (payload included) into prost types.
    pub fn decode(&self) -> Result<proto::Message, prost::DecodeError> {
        proto::Message::decode(self.data.bytes.clone())
    }

    /// The encoded bytes, exactly as received.
    pub fn bytes(&self) -> &Bytes {
        &self.data.bytes
    }

    /// Encoded length in bytes.
    pub fn len(&self) -> usize {
        self.data.bytes.len()
    }

    /// Never true: a valid frame has at least its message type.
    pub fn is_empty(&self) -> bool {
        self.data.bytes.is_empty()
    }

    /// Which kind of message this is.
    pub fn kind(&self) -> FrameKind {
        self.data.kind
    }

    /// The subscription id of a subscribe, unsubscribe or subscription ack (0 otherwise).
    pub fn subscription_id(&self) -> u64 {
        self.data.subscription_id
    }

    /// The session header of a publish.
    pub fn session(&self) -> Option<SessionInfo> {
        self.data.session
    }

    /// True for kinds that carry a routing header (publish, subscribe, unsubscribe).
    pub fn has_header(&self) -> bool {
        self.data.header.is_some()
    }

    fn slice(&self, span: Span) -> &[u8] {
        &self.data.bytes[span.range()]
    }

    fn name_key(view: Option<&NameView>) -> Option<NameKey> {
        let view = view?;
        let components = view.encoded?;
        let id = view.id.map_or(InstanceId::ANY, |(high, low)| {
            InstanceId::from_halves(high, low)
        });
        Some(NameKey { components, id })
    }

    /// Routing key of the destination (always present on frames with a header).
    pub fn destination(&self) -> Option<NameKey> {
        Self::name_key(self.data.header.as_ref()?.destination.as_ref())
    }

    /// Routing key of the source (always present on frames with a header).
    pub fn source(&self) -> Option<NameKey> {
        Self::name_key(self.data.header.as_ref()?.source.as_ref())
    }

    /// The source with its strings, for logs and the control plane (allocates).
    pub fn source_name(&self) -> Option<Name> {
        self.full_name(self.data.header.as_ref()?.source.as_ref()?)
    }

    /// The destination with its strings, for logs and the control plane (allocates).
    pub fn destination_name(&self) -> Option<Name> {
        self.full_name(self.data.header.as_ref()?.destination.as_ref()?)
    }

    /// The source's routing key and its three strings as sent (`None` inside when the name
    /// carries no `StringName`), without allocating.
    pub fn source_parts(&self) -> Option<NameParts<'_>> {
        self.name_parts(self.data.header.as_ref()?.source.as_ref()?)
    }

    /// The destination's routing key and its three strings as sent, without allocating.
    pub fn destination_parts(&self) -> Option<NameParts<'_>> {
        self.name_parts(self.data.header.as_ref()?.destination.as_ref()?)
    }

    fn name_parts(&self, view: &NameView) -> Option<NameParts<'_>> {
        let key = Self::name_key(Some(view))?;
        let strings = view.strings.map(|spans| spans.map(|span| self.slice(span)));
        Some((key, strings))
    }

    fn full_name(&self, view: &NameView) -> Option<Name> {
        let key = Self::name_key(Some(view))?;
        let from_strings = view.strings.and_then(|spans| {
            let [a, b, c] = spans.map(|s| std::str::from_utf8(self.slice(s)).unwrap_or(""));
            let name = Name::new(a, b, c).ok()?.with_id(key.id);
            (name.key() == key).then_some(name)
        });
        Some(from_strings.unwrap_or_else(|| Name::from_key(key)))
    }

    /// The sender's identity token as bytes (empty when none): validated as UTF-8 by
    /// `parse`, for a caller that compares it with tokens it keeps instead of reading it as
    /// text (the UTF-8 check is most of [`Frame::identity`]'s cost).
    pub fn identity_bytes(&self) -> &[u8] {
        self.data
            .header
            .as_ref()
            .map_or(&[][..], |h| self.slice(h.identity))
    }

    /// The sender's identity token (empty when none).
    pub fn identity(&self) -> &str {
        // Validated as UTF-8 by `parse`.
        self.data
            .header
            .as_ref()
            .and_then(|h| std::str::from_utf8(self.slice(h.identity)).ok())
            .unwrap_or("")
    }

    /// Header fanout: 1 (or 0) picks one output, more delivers to every match.
    pub fn fanout(&self) -> u32 {
        self.data.header.as_ref().map_or(0, |h| h.fanout)
    }

    /// Remaining hops as received.
    pub fn ttl(&self) -> u32 {
        self.data.header.as_ref().map_or(0, |h| h.ttl)
    }

    /// Process-local "install this route via connection" index; honour only from local
    /// connections.
    pub fn recv_from(&self) -> Option<u64> {
        self.data.header.as_ref()?.recv_from
    }

    /// Process-local "send out on connection" index; honour only from local connections.
    pub fn forward_to(&self) -> Option<u64> {
        self.data.header.as_ref()?.forward_to
    }

    /// The header's error flag.
    pub fn error_flag(&self) -> Option<bool> {
        self.data.header.as_ref()?.error
    }

    /// The routing header's encoded content exactly as received, if the frame has one. Every
    /// header field (the MAC input, the tag, the hop fields) is a function of these bytes.
    pub fn header_bytes(&self) -> Option<&[u8]> {
        Some(self.slice(self.data.header.as_ref()?.content))
    }

    /// An id shared by the frames whose routing headers are equal in every byte but the
    /// MAC's value, and so carry the same names, identity token and hop fields: comparing
    /// keys tells two headers alike without comparing their bytes. `None` for a header the
    /// parser did not remember (a long one) and for frames built here.
    pub fn header_key(&self) -> Option<HeaderKey> {
        self.data.header.as_ref()?.key
    }

    /// The received header MAC, if any.
    pub fn header_mac(&self) -> Option<&[u8]> {
        let span = self.data.header.as_ref()?.mac?;
        Some(self.slice(span))
    }

    fn name_ref(&self, view: Option<&NameView>) -> Option<NameRef<'_>> {
        let view = view?;
        Some(NameRef {
            encoded: view.encoded,
            id: view.id,
            strings: view.strings.map(|spans| spans.map(|s| self.slice(s))),
        })
    }

    /// MAC input as the sender signed it: every value exactly as on the wire.
    pub fn mac_input_received(&self) -> Option<MacInput<'_>> {
        let h = self.data.header.as_ref()?;
        Some(MacInput {
            source: self.name_ref(h.source.as_ref()),
            destination: self.name_ref(h.destination.as_ref()),
            identity: self.slice(h.identity),
            fanout: h.fanout,
            recv_from: h.recv_from,
            forward_to: h.forward_to,
            error: h.error,
            ttl: h.ttl,
        })
    }

    /// MAC input of this frame as [`Frame::encode_forwarded`] will write it with `ttl`:
    /// process-local fields gone.
    pub fn mac_input_forwarded(&self, ttl: u32) -> Option<MacInput<'_>> {
        let mut input = self.mac_input_received()?;
        input.recv_from = None;
        input.forward_to = None;
        input.ttl = ttl;
        Some(input)
    }
}
