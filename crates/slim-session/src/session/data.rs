//! The session side of the data path: publishing, receiving, and the application inbox.
//!
//! Receiving a data message goes: duplicate check (before decryption: MLS keys are single
//! use) → room check → decryption → acknowledgement (held briefly: `acks.rs`) → reorder
//! buffer → inbox.
//!
//! Flow control on the receiving side: once the inbox holds `receive_buffer` messages or
//! `receive_buffer_bytes` of payload the application has not taken, new messages are
//! *deferred*: kept (up to one window, and up to `receive_buffer_bytes`) but not
//! acknowledged, so the sender's window stops it; when the application takes messages with
//! `recv`, deferred ones are acknowledged and move on. A receiver that does not read therefore
//! slows its sender down instead of growing without bound or losing data. Memory per session
//! is bounded by the inbox's bounds + the reorder buffers' (2 × window ids per sender, and
//! `receive_buffer_bytes` of payload over all senders) + the deferred bounds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use slim_wire::Name;
use slim_wire::proto::SessionMessageType as T;

use super::acks::HeldAck;
use super::{Phase, Session};
use crate::config::SessionKind;
use crate::error::PublishError;
use crate::event::{CompletionId, Delivery, Event, MessageContext, MessageError, ReceivedMessage};
use crate::io::Ctx;
use crate::reliable::{AppPayload, Classification, Received, seq};
use crate::security::open_app_payload;
use crate::wire::{self, Inbound, MAX_PUBLISH_ID, Outbound, PUBLISH_TO};

impl Session {
    /// Checks that a publish can be accepted now.
    pub fn publish_ready(&self) -> Result<bool, PublishError> {
        match self.phase {
            Phase::Active => Ok(self.sender.has_room()),
            Phase::Joining { .. } | Phase::Dormant => Err(PublishError::NotActive),
            Phase::Draining { .. } | Phase::Leaving | Phase::Removed { .. } | Phase::Closed(_) => {
                Err(PublishError::Closing)
            }
        }
    }

    /// Remembers that a publish was refused for flow control.
    pub fn mark_blocked(&mut self) {
        self.sender.mark_blocked();
    }

    /// Publishes to the session, or to one member (`target`, group `publish_to`). The caller
    /// checked [`Self::publish_ready`].
    pub fn publish(
        &mut self,
        ctx: &mut Ctx<'_>,
        payload: AppPayload,
        target: Option<&Name>,
        completion: CompletionId,
    ) {
        let mut fx = self.effects();
        match target {
            // A point-to-point session has one receiver: publish_to is a normal publish
            // (upstream receivers strip the flag there too).
            Some(target) if self.config.kind == SessionKind::Group => {
                let id = ctx.rng.gen_range(MAX_PUBLISH_ID + 1..u32::MAX);
                self.sender.publish_to(
                    ctx.now,
                    id,
                    target.clone(),
                    payload,
                    Some(completion),
                    &mut fx,
                );
            }
            _ => {
                self.sender
                    .publish(ctx.now, payload, Some(completion), &mut fx);
            }
        }
        self.apply(ctx, fx);
    }

    /// True when the application holds as much as it may, in messages or in bytes. Only the
    /// inbox counts: the reorder buffers are bounded by the receiver's range, and counting
    /// them here would defer the very retransmission that lets them drain.
    fn inbox_full(&self, ctx: &Ctx<'_>) -> bool {
        self.inbox.len() >= ctx.config.receive_buffer.max(1)
            || self.inbox_bytes >= ctx.config.receive_buffer_bytes.max(1)
    }

    /// A Msg or RtxReply from the network (or from the deferred / held queues).
    pub(super) fn on_data(&mut self, ctx: &mut Ctx<'_>, mut message: Box<Inbound>) {
        let reliable = self.receiver.is_reliable();
        match self.phase {
            Phase::Active => {}
            // Closing: acknowledge so senders do not retry, but deliver nothing.
            Phase::Draining { .. } | Phase::Leaving => {
                if reliable && message.kind == T::Msg {
                    self.send_ack(ctx, &message);
                }
                return;
            }
            _ => return,
        }
        // Only members send data: this bounds the per-sender state a forged flood could
        // create. A new member's first messages can beat the group update announcing it;
        // they are not acknowledged and come again once it is known.
        if self.roster.get(&message.source).is_none() {
            ctx.io.stats.unknown_sender += 1;
            return;
        }
        let direct = self.config.kind == SessionKind::Group
            && (message.flag(PUBLISH_TO) || !seq::is_sequential(message.message_id));
        if message.kind == T::RtxReply && message.is_error() {
            let mut fx = self.effects();
            self.receiver
                .on_lost(&message.source, message.message_id, &mut fx);
            self.apply(ctx, fx);
            return;
        }
        match self.receiver.classify(&message, direct) {
            Classification::Duplicate => {
                if reliable {
                    self.send_ack(ctx, &message);
                }
                return;
            }
            Classification::TooFarAhead | Classification::NoRoom => {
                ctx.io.stats.receive_overflow += 1;
                return;
            }
            Classification::New => {}
        }
        if self.inbox_full(ctx) {
            if !reliable {
                ctx.io.stats.unreliable_dropped += 1;
            } else if self.deferred.len() < ctx.config.window as usize
                && self.deferred.bytes() < ctx.config.receive_buffer_bytes
            {
                self.deferred.push(message);
            } else {
                ctx.io.stats.receive_overflow += 1;
            }
            return;
        }
        if let Some(state) = self.mls.as_mut() {
            let check = state.sample_aad_check(ctx.rng);
            let Some(group) = state.group_mut() else {
                return;
            };
            if let Err(error) = open_app_payload(&mut message, group, check) {
                ctx.io.stats.decrypt_failed += 1;
                tracing::debug!(session = %self.id, %error, "cannot decrypt yet; holding");
                state.hold(message);
                return;
            }
        }
        if reliable {
            self.hold_ack(ctx, &message);
        }
        let mut fx = self.effects();
        self.receiver.accept(ctx.now, message, direct, &mut fx);
        self.apply(ctx, fx);
    }

    /// Acknowledges a data message now (MsgAck echoing its id and `PUBLISH_TO` flag).
    fn send_ack(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        let out = self.ack_for(message);
        self.send(ctx, out);
    }

    /// Acknowledges a newly accepted data message, holding the ack back briefly so it shares
    /// a write with what follows (see `acks.rs`).
    fn hold_ack(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        let interval = self
            .config
            .reliability
            .map_or(Duration::ZERO, |r| r.interval);
        let delay = ctx.config.ack_delay.min(interval / 4);
        if delay.is_zero() {
            self.send_ack(ctx, message);
            return;
        }
        let ack = HeldAck {
            to: message.source.clone(),
            id: message.message_id,
            publish_to: message.flag(PUBLISH_TO),
            ranged: message.takes_ack_ranges(),
        };
        if self
            .held_acks
            .hold(ack, ctx.now + delay, ctx.config.ack_batch)
        {
            self.flush_acks(ctx);
        }
    }

    fn ack_for(&self, message: &Inbound) -> Outbound {
        self.envelope(&message.source, 1).empty_routed(
            T::MsgAck,
            message.message_id,
            message.flag(PUBLISH_TO),
        )
    }

    /// Sends every held acknowledgement now, consecutive ids of a sender that takes ranges
    /// as one (see `acks.rs`).
    pub fn flush_acks(&mut self, ctx: &mut Ctx<'_>) {
        for run in self.held_acks.take() {
            let mut ack =
                self.envelope(&run.to, 1)
                    .empty_routed(T::MsgAck, run.last, run.publish_to);
            if run.first != run.last {
                ack.set_ack_range_first(run.first);
            }
            self.send(ctx, ack);
        }
    }

    /// True when acknowledgements are held back (see `acks.rs`).
    pub fn holds_acks(&self) -> bool {
        !self.held_acks.is_empty()
    }

    /// Puts a received message (or a loss) in the application inbox.
    pub(super) fn deliver(&mut self, ctx: &mut Ctx<'_>, received: Received) {
        let delivery: Delivery = match received {
            Received::Message(message) => Ok(self.received_message(message)),
            Received::Lost { source, message_id } => Err(MessageError::Lost {
                sender: source,
                message_id,
            }),
        };
        if self.inbox.is_empty() {
            ctx.io.events.push_back(Event::Readable(self.id));
        }
        self.inbox_bytes += delivered_bytes(&delivery);
        self.inbox.push_back(delivery);
    }

    fn received_message(&mut self, mut message: Box<Inbound>) -> ReceivedMessage {
        // The token moves into the context instead of being copied (it is ~230 bytes).
        let identity = message.take_identity();
        let direct = message.flag(PUBLISH_TO) && self.config.kind == SessionKind::Group;
        let Inbound {
            contents,
            source,
            destination,
            message_id,
            ..
        } = *message;
        let (app, mut metadata) = contents.into_app_and_metadata();
        // Most messages carry no metadata: skip hashing the key for nothing.
        if !metadata.is_empty() {
            metadata.remove(PUBLISH_TO);
        }
        let (payload_type, payload) = app.map_or_else(
            || (String::new(), bytes::Bytes::new()),
            |app| (app.payload_type, app.blob),
        );
        let context = MessageContext {
            session: self.id,
            source,
            destination,
            payload_type,
            metadata,
            identity,
            direct,
        };
        ReceivedMessage {
            payload,
            message_id,
            context: self.shared_context(context),
        }
    }

    /// `context` in an `Arc`: the last one delivered when it is the same, else a new one,
    /// kept for the next messages when it has no metadata.
    fn shared_context(&mut self, context: MessageContext) -> Arc<MessageContext> {
        if !context.metadata.is_empty() {
            return Arc::new(context);
        }
        // Names and the token compare by pointer first (Name's and Arc's equality).
        if let Some(last) = &self.last_context
            && **last == context
        {
            return Arc::clone(last);
        }
        let context = Arc::new(context);
        self.last_context = Some(Arc::clone(&context));
        context
    }

    /// Takes the next message (or loss) for the application.
    pub fn recv(&mut self, ctx: &mut Ctx<'_>) -> Option<Delivery> {
        let delivery = self.inbox.pop_front()?;
        self.inbox_bytes = self.inbox_bytes.saturating_sub(delivered_bytes(&delivery));
        while !self.inbox_full(ctx) {
            let Some(message) = self.deferred.pop() else {
                break;
            };
            self.on_data(ctx, message);
        }
        Some(delivery)
    }

    /// Hands over the inbox of a closed session (what arrived before the close stays
    /// readable).
    pub fn take_inbox(&mut self) -> VecDeque<Delivery> {
        self.inbox_bytes = 0;
        std::mem::take(&mut self.inbox)
    }

    /// Messages waiting in the inbox.
    pub fn readable(&self) -> usize {
        self.inbox.len()
    }

    /// Retries messages that could not be decrypted, after the epoch changed.
    pub(super) fn retry_held(&mut self, ctx: &mut Ctx<'_>) {
        let held = match self.mls.as_mut() {
            Some(state) => state.take_held(),
            None => return,
        };
        for message in held {
            self.on_data(ctx, message);
        }
    }

    /// Builds the payload record of a publish (the application's type moved in, the default
    /// one borrowed: no allocation either way).
    pub fn payload(
        blob: bytes::Bytes,
        payload_type: Option<String>,
        metadata: std::collections::HashMap<String, String>,
    ) -> AppPayload {
        AppPayload {
            payload_type: payload_type.map_or(
                std::borrow::Cow::Borrowed(wire::DEFAULT_PAYLOAD_TYPE),
                std::borrow::Cow::Owned,
            ),
            blob,
            metadata,
        }
    }
}

/// Payload bytes a delivery holds in the inbox.
fn delivered_bytes(delivery: &Delivery) -> usize {
    delivery.as_ref().map_or(0, |message| message.payload.len())
}
