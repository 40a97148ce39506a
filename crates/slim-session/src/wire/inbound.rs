//! [`Inbound`]: a received session message, validated once.
//!
//! The node connection hands the layer decoded `Message`s. Before any session logic looks at
//! one, [`Inbound::parse`] checks that it is a `Publish` with both names, a session header of
//! a known type, and — for command messages — the payload arm that matches the header's
//! message type. Everything downstream can then rely on those facts without re-checking.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use slim_wire::proto::{
    self, SessionMessageType, SessionType, command_payload::CommandPayloadType,
};
use slim_wire::{Name, NameError};

use super::is_command;

/// Why a received message is not a usable session message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Not a `Publish` (subscriptions and link messages are not for sessions).
    #[error("not a publish message")]
    NotPublish,
    /// The routing or session header is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A name could not be read.
    #[error("bad name: {0}")]
    Name(#[from] NameError),
    /// The session type or message type is unknown or unspecified.
    #[error("unknown session type {0} or message type {1}")]
    UnknownType(i32, i32),
    /// A command message whose payload does not match its header type.
    #[error("{0:?} carries a mismatched payload")]
    PayloadMismatch(SessionMessageType),
}

/// What a session message carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    /// An application payload (Msg, MsgAck, RtxRequest, RtxReply).
    App,
    /// A command payload whose arm matches the message type.
    Command(&'a CommandPayloadType),
    /// No content at all (tolerated for acks and requests).
    Empty,
}

/// How a received message's contents are held.
#[derive(Debug, Clone)]
pub(crate) enum Contents {
    /// Decoded by prost and kept whole (AAD reconstruction, commands, reply building).
    /// Boxed: an `Inbound` moves through several calls and queues, and a decoded message is
    /// about 750 bytes.
    Decoded(Box<proto::Message>),
    /// Only what a data message or acknowledgement of a session without MLS is read for,
    /// taken from the frame's bytes (see `wire/frame.rs`): no routing header (the validated
    /// names are the `Inbound`'s own), so nothing that needs one (MLS authenticated data, a
    /// header signature) can be checked on it.
    Plain(PlainContents),
}

/// [`Contents::Plain`]: a data message's or acknowledgement's session header, payload and
/// metadata.
#[derive(Debug, Clone)]
pub(crate) struct PlainContents {
    /// The routing header's `error` flag.
    pub error: bool,
    pub session: proto::SessionHeader,
    /// `None` when the message has no content (acknowledgements).
    pub app: Option<proto::ApplicationPayload>,
    pub metadata: HashMap<String, String>,
}

impl Contents {
    /// The application payload and the metadata, taken out of the message (for delivery).
    /// A small payload is by then out of the link's read buffer (see `payload.rs`): read from
    /// the frame it was copied at once, decoded by prost it is copied here.
    pub fn into_app_and_metadata(
        self,
    ) -> (Option<proto::ApplicationPayload>, HashMap<String, String>) {
        let message = match self {
            Contents::Plain(plain) => return (plain.app, plain.metadata),
            Contents::Decoded(message) => *message,
        };
        let app = match message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => {
                match publish.msg.and_then(|c| c.content_type) {
                    Some(proto::content::ContentType::AppPayload(mut app)) => {
                        app.blob = super::payload::detach_small(app.blob);
                        Some(app)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        (app, message.metadata)
    }
}

/// A validated session message.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    /// The message's contents as received.
    pub contents: Contents,
    /// The sender's identity token, shared with its earlier messages, when it was read from
    /// the frame (the header then carries none): see `wire/tokens.rs`.
    pub token: Option<Arc<str>>,
    /// Sender's name (normally with its instance id).
    pub source: Name,
    /// Destination name as sent (own name, a channel, or an any-instance name).
    pub destination: Name,
    /// Session message type.
    pub kind: SessionMessageType,
    /// Session type from the header.
    pub session_type: SessionType,
    /// Session id.
    pub session_id: u32,
    /// Message id.
    pub message_id: u32,
}

impl Inbound {
    /// Validates a decoded message as a session message.
    #[cfg(test)]
    pub fn parse(message: impl Into<Box<proto::Message>>) -> Result<Self, InboundError> {
        Self::parse_with(message.into(), &mut super::NameCache::default())
    }

    /// [`Inbound::parse`], resolving the names through the layer's cache of recent names.
    pub fn parse_with(
        message: Box<proto::Message>,
        names: &mut super::NameCache,
    ) -> Result<Self, InboundError> {
        let Some(proto::message::MessageType::Publish(publish)) = &message.message_type else {
            return Err(InboundError::NotPublish);
        };
        let header = publish
            .header
            .as_ref()
            .ok_or(InboundError::Missing("header"))?;
        let session = publish
            .session
            .as_ref()
            .ok_or(InboundError::Missing("session header"))?;
        let source = names.resolve(
            header
                .source
                .as_ref()
                .ok_or(InboundError::Missing("source"))?,
        )?;
        let destination = names.resolve(
            header
                .destination
                .as_ref()
                .ok_or(InboundError::Missing("destination"))?,
        )?;
        let unknown =
            || InboundError::UnknownType(session.session_type, session.session_message_type);
        let session_type = SessionType::try_from(session.session_type).map_err(|_| unknown())?;
        let kind =
            SessionMessageType::try_from(session.session_message_type).map_err(|_| unknown())?;
        if session_type == SessionType::Unspecified || kind == SessionMessageType::Unspecified {
            return Err(unknown());
        }
        let inbound = Inbound {
            source,
            destination,
            kind,
            session_type,
            session_id: session.session_id,
            message_id: session.message_id,
            contents: Contents::Decoded(message),
            token: None,
        };
        match (kind, inbound.body()) {
            (k, Body::Command(payload)) if is_command(k) && command_matches(k, payload) => {}
            (k, _) if is_command(k) => return Err(InboundError::PayloadMismatch(k)),
            // Data must carry an application payload (an error RTX reply may carry none).
            (SessionMessageType::Msg, Body::App) => {}
            (SessionMessageType::RtxReply, Body::App) => {}
            (SessionMessageType::RtxReply, Body::Empty) if inbound.is_error() => {}
            (SessionMessageType::Msg | SessionMessageType::RtxReply, _) => {
                return Err(InboundError::PayloadMismatch(kind));
            }
            // Acks and requests: any content is ignored.
            _ => {}
        }
        Ok(inbound)
    }

    /// The message as prost decoded it; `None` for contents read from the frame.
    pub fn decoded(&self) -> Option<&proto::Message> {
        match &self.contents {
            Contents::Decoded(message) => Some(message),
            Contents::Plain(_) => None,
        }
    }

    fn publish(&self) -> Option<&proto::Publish> {
        match &self.decoded()?.message_type {
            Some(proto::message::MessageType::Publish(publish)) => Some(publish),
            _ => None,
        }
    }

    /// The routing header (present by validation when decoded; never kept when read from
    /// the frame).
    pub fn header(&self) -> Option<&proto::SlimHeader> {
        self.publish().and_then(|p| p.header.as_ref())
    }

    fn session(&self) -> Option<&proto::SessionHeader> {
        match &self.contents {
            Contents::Decoded(_) => self.publish().and_then(|p| p.session.as_ref()),
            Contents::Plain(plain) => Some(&plain.session),
        }
    }

    /// Bytes of the application payload it carries (encrypted when MLS is on), for the
    /// receive side's byte bounds; 0 for anything else.
    pub fn payload_len(&self) -> usize {
        match &self.contents {
            Contents::Plain(plain) => plain.app.as_ref().map_or(0, |app| app.blob.len()),
            Contents::Decoded(_) => match self.publish().and_then(|p| p.msg.as_ref()) {
                Some(proto::Content {
                    content_type: Some(proto::content::ContentType::AppPayload(app)),
                }) => app.blob.len(),
                _ => 0,
            },
        }
    }

    /// Data: its sender takes acknowledgement ranges (our extension; see `session/acks.rs`).
    pub fn takes_ack_ranges(&self) -> bool {
        self.session().is_some_and(|s| s.takes_ack_ranges)
    }

    /// MsgAck: the ids it acknowledges, first to last: one id unless it carries a range (our
    /// extension). A range that does not end at the message id or is longer than `limit`
    /// ids is not one we send: it counts for the message id only.
    pub fn acked_ids(&self, limit: u32) -> (u32, u32) {
        let last = self.message_id;
        let first = self.session().map_or(0, |s| s.ack_range_first);
        let sequential = super::MAX_PUBLISH_ID;
        if first == 0 || last > sequential || first > sequential {
            return (last, last);
        }
        let span = crate::reliable::seq::distance(first, last);
        if span >= limit {
            return (last, last);
        }
        (first, last)
    }

    /// The sender's identity token as carried (unverified).
    pub fn identity(&self) -> &str {
        match &self.token {
            Some(token) => token,
            None => self.header().map_or("", |h| h.identity.as_str()),
        }
    }

    /// Takes the identity token out of the message (leaving it empty).
    pub fn take_identity(&mut self) -> Arc<str> {
        if let Some(token) = self.token.take() {
            return token;
        }
        let Contents::Decoded(message) = &mut self.contents else {
            return Arc::from("");
        };
        match &mut message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => {
                publish.header.as_mut().map_or_else(
                    || Arc::from(""),
                    |h| Arc::from(std::mem::take(&mut h.identity)),
                )
            }
            _ => Arc::from(""),
        }
    }

    /// The end-to-end header signature, when present.
    pub fn signature(&self) -> Option<&Bytes> {
        self.header().and_then(|h| h.e2e_header_sig.as_ref())
    }

    /// True when the header's `error` flag is set (error RtxReply).
    pub fn is_error(&self) -> bool {
        match &self.contents {
            Contents::Decoded(_) => self.header().and_then(|h| h.error).unwrap_or(false),
            Contents::Plain(plain) => plain.error,
        }
    }

    /// The content.
    pub fn body(&self) -> Body<'_> {
        if let Contents::Plain(plain) = &self.contents {
            return if plain.app.is_some() {
                Body::App
            } else {
                Body::Empty
            };
        }
        match self
            .publish()
            .and_then(|p| p.msg.as_ref())
            .and_then(|c| c.content_type.as_ref())
        {
            Some(proto::content::ContentType::AppPayload(_)) => Body::App,
            Some(proto::content::ContentType::CommandPayload(cmd)) => cmd
                .command_payload_type
                .as_ref()
                .map_or(Body::Empty, Body::Command),
            None => Body::Empty,
        }
    }

    /// The command payload (None for application messages).
    pub fn command(&self) -> Option<&CommandPayloadType> {
        match self.body() {
            Body::Command(c) => Some(c),
            _ => None,
        }
    }

    /// Mutable application payload, for in-place decryption.
    pub fn app_mut(&mut self) -> Option<&mut proto::ApplicationPayload> {
        let message = match &mut self.contents {
            Contents::Decoded(message) => message,
            Contents::Plain(plain) => return plain.app.as_mut(),
        };
        match &mut message.message_type {
            Some(proto::message::MessageType::Publish(publish)) => {
                match publish.msg.as_mut().and_then(|c| c.content_type.as_mut()) {
                    Some(proto::content::ContentType::AppPayload(app)) => Some(app),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The message metadata.
    pub fn metadata(&self) -> &HashMap<String, String> {
        match &self.contents {
            Contents::Decoded(message) => &message.metadata,
            Contents::Plain(plain) => &plain.metadata,
        }
    }

    /// True when metadata `key` is set to `TRUE`.
    pub fn flag(&self, key: &str) -> bool {
        self.metadata()
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case(super::TRUE_VALUE))
    }
}

/// True when a command payload arm is the one its header type announces.
fn command_matches(kind: SessionMessageType, payload: &CommandPayloadType) -> bool {
    use SessionMessageType as T;
    matches!(
        (kind, payload),
        (T::DiscoveryRequest, CommandPayloadType::DiscoveryRequest(_))
            | (T::DiscoveryReply, CommandPayloadType::DiscoveryReply(_))
            | (T::JoinRequest, CommandPayloadType::JoinRequest(_))
            | (T::JoinReply, CommandPayloadType::JoinReply(_))
            | (T::LeaveRequest, CommandPayloadType::LeaveRequest(_))
            | (T::LeaveReply, CommandPayloadType::LeaveReply(_))
            | (T::GroupUpdate, CommandPayloadType::GroupUpdate(_))
            | (T::GroupWelcome, CommandPayloadType::GroupWelcome(_))
            | (T::GroupClose, CommandPayloadType::GroupClose(_))
            | (T::GroupProposal, CommandPayloadType::GroupProposal(_))
            | (T::GroupAck, CommandPayloadType::GroupAck(_))
            | (T::GroupNack, CommandPayloadType::GroupNack(_))
            | (T::Heartbeat, CommandPayloadType::Heartbeat(_))
            | (
                T::UpdateParticipantState,
                CommandPayloadType::UpdateParticipantState(_)
            )
            | (T::RejoinRequest, CommandPayloadType::RejoinRequest(_))
            | (T::RejoinReply, CommandPayloadType::RejoinReply(_))
    )
}
