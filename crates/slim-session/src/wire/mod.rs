//! The session protocol's messages on the wire: how they are built and how they are read.
//!
//! Every session message is a `Publish` whose `SessionHeader` says which session and which
//! message type it is. This module is the only place that knows the byte-level shape:
//!
//! - `mod.rs`: constants (metadata keys, id ranges) and `Outbound`, an unsealed message
//!   ready for identity, signature and encryption.
//! - `commands.rs`: constructors of the command payloads, one per message type.
//! - `inbound.rs`: `Inbound`, the validated view of a received session message.
//! - `frame.rs`: `Inbound::from_frame`, the same for data and acks read from the received
//!   frame's bytes without decoding them.
//! - `names.rs`: `NameCache`, recent senders' names reused instead of parsed again.
//! - `tokens.rs`: `TokenCache`, recent senders' identity tokens shared instead of copied.
//! - `headers.rs`: `HeaderCache`, the names and token of recent routing headers, taken in
//!   one comparison when the next frame of a flow repeats its header.
//! - `recent.rs`: `Recent`, the bounded round-robin array the caches keep their values in.
//! - `tests.rs`: field-by-field checks of every message type against the reference.

mod commands;
mod frame;
mod headers;
mod inbound;
mod names;
mod payload;
mod recent;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;

use bytes::Bytes;
use slim_wire::Name;
use slim_wire::proto::{self, SessionMessageType, SessionType};

pub(crate) use commands::*;
pub(crate) use headers::HeaderCache;
pub(crate) use inbound::{Contents, Inbound, InboundError, PlainContents};
pub(crate) use names::NameCache;
pub(crate) use tokens::TokenCache;

/// Metadata key of a group `publish_to` (reply to one member, outside the ordered stream).
pub const PUBLISH_TO: &str = "PUBLISH_TO";
/// Metadata key of a participant's graceful LeaveRequest.
pub const LEAVING_SESSION: &str = "LEAVING_SESSION";
/// Metadata key upstream moderators put on group deletion.
pub const DELETE_GROUP: &str = "DELETE_GROUP";
/// The value of every boolean metadata flag.
pub const TRUE_VALUE: &str = "TRUE";

/// Largest id of the sequential data stream; ids above it mark `PUBLISH_TO` messages.
pub const MAX_PUBLISH_ID: u32 = u32::MAX / 2;

/// Payload type of application messages when the caller gives none (upstream default).
pub const DEFAULT_PAYLOAD_TYPE: &str = "msg";

/// Epoch carried by heartbeats of sessions without MLS.
pub const NO_MLS_EPOCH: u64 = u64::MAX;

/// True for the message types upstream calls command messages (5..=20): signed when required,
/// retransmitted by the control sender, never encrypted.
pub(crate) fn is_command(kind: SessionMessageType) -> bool {
    (kind as i32) >= SessionMessageType::DiscoveryRequest as i32
}

/// The session-header type of a session kind.
pub(crate) fn session_type(kind: crate::SessionKind) -> SessionType {
    match kind {
        crate::SessionKind::PointToPoint => SessionType::PointToPoint,
        crate::SessionKind::Group => SessionType::Multicast,
    }
}

/// A session message before the outbound pipeline seals it (identity token, end-to-end
/// signature, MLS encryption). Sessions produce these; the layer seals and queues them.
#[derive(Clone, Debug)]
pub(crate) struct Outbound {
    /// The message with an empty `identity` and no signature; app payloads in clear. Its
    /// routing header is missing while `route` is set. Boxed: an `Outbound` moves through
    /// several queues and the message is most of its size (about 750 of 930 bytes).
    pub message: Box<proto::Message>,
    /// The session message type (cached to avoid re-reading the header).
    pub kind: SessionMessageType,
    /// Data and acks: the routing header not written yet. Most of them leave encoded from
    /// the session's header template (`session/templates.rs`) and never need it; the others
    /// get it from [`Outbound::materialize`].
    pub route: Option<Route>,
}

/// What a routing header is made of.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub source: Name,
    pub destination: Name,
    pub fanout: u32,
}

/// Addressing and session fields shared by every message a session sends.
#[derive(Clone, Debug)]
pub(crate) struct Envelope<'a> {
    pub source: &'a Name,
    pub destination: &'a Name,
    pub fanout: u32,
    pub session_type: SessionType,
    pub session_id: u32,
}

impl Envelope<'_> {
    /// Builds a session message of `kind` with `message_id` around `content`.
    pub fn build(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        content: proto::content::ContentType,
        metadata: HashMap<String, String>,
    ) -> Outbound {
        let mut out = self.build_routed(kind, message_id, content, metadata);
        out.materialize();
        out
    }

    /// [`Self::build`] with the routing header left to [`Outbound::materialize`].
    fn build_routed(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        content: proto::content::ContentType,
        metadata: HashMap<String, String>,
    ) -> Outbound {
        let message = proto::Message {
            message_type: Some(proto::message::MessageType::Publish(proto::Publish {
                header: None,
                session: Some(proto::SessionHeader {
                    session_type: self.session_type as i32,
                    session_message_type: kind as i32,
                    session_id: self.session_id,
                    message_id,
                    ..proto::SessionHeader::default()
                }),
                msg: Some(proto::Content {
                    content_type: Some(content),
                }),
            })),
            metadata,
        };
        let route = Route {
            source: self.source.clone(),
            destination: self.destination.clone(),
            fanout: self.fanout,
        };
        Outbound {
            message: Box::new(message),
            kind,
            route: Some(route),
        }
    }

    /// A command message (types 5..=20).
    pub fn command(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        payload: proto::command_payload::CommandPayloadType,
    ) -> Outbound {
        self.build(
            kind,
            message_id,
            proto::content::ContentType::CommandPayload(proto::CommandPayload {
                command_payload_type: Some(payload),
            }),
            HashMap::new(),
        )
    }

    /// An application payload message (Msg, RtxReply), header written.
    #[cfg(test)]
    pub fn app(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        payload_type: &str,
        blob: Bytes,
        metadata: HashMap<String, String>,
    ) -> Outbound {
        let mut out = self.app_routed(kind, message_id, payload_type, blob, metadata);
        out.materialize();
        out
    }

    /// The empty application payload upstream uses for MsgAck, RtxRequest and error RtxReply.
    pub fn empty(&self, kind: SessionMessageType, message_id: u32, publish_to: bool) -> Outbound {
        let mut out = self.empty_routed(kind, message_id, publish_to);
        out.materialize();
        out
    }

    /// [`Self::app`] with the routing header left to [`Outbound::materialize`] (data).
    pub fn app_routed(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        payload_type: &str,
        blob: Bytes,
        metadata: HashMap<String, String>,
    ) -> Outbound {
        self.build_routed(
            kind,
            message_id,
            proto::content::ContentType::AppPayload(proto::ApplicationPayload {
                payload_type: payload_type.to_owned(),
                blob,
            }),
            metadata,
        )
    }

    /// [`Self::empty`] with the routing header left to [`Outbound::materialize`] (acks).
    pub fn empty_routed(
        &self,
        kind: SessionMessageType,
        message_id: u32,
        publish_to: bool,
    ) -> Outbound {
        let mut metadata = HashMap::new();
        if publish_to {
            metadata.insert(PUBLISH_TO.to_owned(), TRUE_VALUE.to_owned());
        }
        self.app_routed(kind, message_id, "", Bytes::new(), metadata)
    }
}

impl Outbound {
    /// Writes the routing header if it is still pending (see [`Outbound::route`]).
    pub fn materialize(&mut self) {
        if let Some(route) = self.route.take()
            && let Some(proto::message::MessageType::Publish(publish)) =
                &mut self.message.message_type
        {
            publish.header = Some(slim_wire::builders::header(
                &route.source,
                &route.destination,
                route.fanout,
            ));
        }
    }

    /// Mutable access to the routing header (written first if pending).
    pub fn header_mut(&mut self) -> Option<&mut proto::SlimHeader> {
        self.materialize();
        match &mut self.message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => publish.header.as_mut(),
            _ => None,
        }
    }

    /// Marks the message as an error notification (`SLIMHeader.error = true`).
    pub fn set_error(&mut self) {
        if let Some(header) = self.header_mut() {
            header.error = Some(true);
        }
    }

    fn session_mut(&mut self) -> Option<&mut proto::SessionHeader> {
        match &mut self.message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => publish.session.as_mut(),
            _ => None,
        }
    }

    /// Changes the session message type (Msg → RtxReply).
    pub fn set_kind(&mut self, kind: SessionMessageType) {
        if let Some(session) = self.session_mut() {
            session.session_message_type = kind as i32;
        }
        self.kind = kind;
    }

    /// Data: tells the receivers that this sender takes acknowledgement ranges (an extension
    /// upstream does not know: see `session/acks.rs`).
    pub fn set_takes_ack_ranges(&mut self) {
        if let Some(session) = self.session_mut() {
            session.takes_ack_ranges = true;
        }
    }

    /// MsgAck: acknowledges every id from `first` to the message id (the extension).
    pub fn set_ack_range_first(&mut self, first: u32) {
        if let Some(session) = self.session_mut() {
            session.ack_range_first = first;
        }
    }

    /// The session message id.
    pub fn message_id(&self) -> u32 {
        match &self.message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => {
                publish.session.as_ref().map_or(0, |s| s.message_id)
            }
            _ => 0,
        }
    }
}
