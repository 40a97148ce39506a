//! [`Session`]: one session, shared core for both roles.
//!
//! A session is the data path ([`DataSender`], [`DataReceiver`]), a reliable control sender
//! ([`ControlSender`]), heartbeats ([`Liveness`]), a [`Roster`] and optional MLS state.
//! The role only decides which control messages it originates and how it answers; that logic
//! is a thin layer in `moderator.rs` and `participant.rs` over this common state.
//!
//! Layout:
//! - `mod.rs`: the struct, its constructor, message dispatch, sending and effect handling,
//!   timers.
//! - `data.rs`: publish, receive, acks, RTX, the application inbox and flow control.
//! - `acks.rs`: acknowledgements held back to share a write with what follows.
//! - `membership.rs`: members joining, leaving, going offline and back; heartbeats.
//! - `lifecycle.rs`: channel subscriptions, close, termination.
//! - `moderator.rs`: the moderator's task queue (invite, remove, rejoin) and group close.
//! - `participant.rs`: join, welcome, group updates, leave, soft close and rejoin.
//! - `roster.rs`, `liveness.rs`, `mls.rs`: the pieces named after them.
//! - `templates.rs`: encoded headers of data and acks, so they are not encoded per message.

mod acks;
mod data;
mod deferred;
mod lifecycle;
mod liveness;
mod membership;
mod mls;
mod moderator;
mod participant;
mod roster;
mod templates;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use slim_wire::proto::SessionMessageType as T;
use slim_wire::{MAX_FANOUT, Name};
use tracing::{debug, warn};

use crate::config::{SessionConfig, SessionKind};
use crate::control::{ControlSender, ReplyOutcome};
use crate::event::{
    CloseReason, CompletionId, Delivery, Event, MessageContext, ParticipantInfo, Role, SessionId,
    SessionInfo, SubscriptionId,
};
use crate::io::{Ctx, Transmit};
use crate::reliable::{DataReceiver, DataSender, Effects, SenderAddress};
use crate::security::seal;
use crate::wire::{self, Envelope, Inbound, Outbound};

use liveness::Liveness;
use mls::MlsState;
use moderator::Tasks;
use roster::Roster;

pub(crate) use moderator::Task;

/// Where a session is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Participant: answered (or is answering) a JoinRequest, waiting for the welcome.
    Joining {
        /// The JoinRequest's id (echoed by the JoinReply).
        request_id: u32,
        /// Channel subscriptions not confirmed yet.
        subscriptions: u32,
        /// Give up if no welcome by then.
        deadline: Instant,
    },
    /// Handshake done; data flows.
    Active,
    /// Participant after a soft close: silent, keeps its state, may rejoin.
    Dormant,
    /// Closing: waiting for outstanding data to be acknowledged (bounded).
    Draining { deadline: Instant },
    /// Closing: the final control exchange (LeaveRequest or GroupClose) is in flight.
    Leaving,
    /// Participant named by a GroupUpdate(REMOVE): silent, waiting (bounded) for the
    /// moderator's LeaveRequest, which upstream moderators need answered.
    Removed { deadline: Instant },
    /// Gone; the layer removes it.
    Closed(CloseReason),
}

/// What a pending control request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Moderator: DiscoveryRequest of the current invite.
    Discovery,
    /// Moderator: JoinRequest of the current invite.
    Join,
    /// Moderator: GroupWelcome of the current invite.
    Welcome,
    /// Moderator: GroupUpdate of the current task.
    Update,
    /// Moderator: LeaveRequest to a removed member.
    LeaveMember,
    /// Moderator: RejoinReply of the current rejoin.
    RejoinReply,
    /// Moderator: GroupClose.
    Close,
    /// Participant: LeaveRequest announcing its own departure.
    LeaveSelf,
    /// Participant: UpdateParticipantState (soft close or rejoin).
    StateUpdate,
    /// Participant: RejoinRequest.
    RejoinAsk,
}

/// One session.
pub(crate) struct Session {
    id: SessionId,
    role: Role,
    config: SessionConfig,
    me: Name,
    moderator: Name,
    /// Point-to-point: the peer (moderator side: bound by discovery). Group: data channel.
    destination: Option<Name>,
    /// Group: the control channel.
    control_channel: Option<Name>,
    phase: Phase,
    roster: Roster,
    sender: DataSender,
    receiver: DataReceiver,
    control: ControlSender<Purpose>,
    liveness: Liveness,
    mls: Option<MlsState>,
    /// Messages (or losses) ready for the application.
    inbox: VecDeque<Delivery>,
    /// Payload bytes in `inbox`.
    inbox_bytes: usize,
    /// Received while the inbox was full; not acknowledged yet.
    deferred: deferred::Deferred,
    /// Acknowledgements waiting to share a write with what the session sends next.
    held_acks: acks::HeldAcks,
    /// The effect vectors of the last call, drained, kept for their capacity.
    spare_effects: Effects,
    /// The context of the last message delivered without metadata, shared by the next ones
    /// that have the same (see [`crate::ReceivedMessage::context`]).
    last_context: Option<Arc<MessageContext>>,
    /// Moderator only.
    tasks: Option<Tasks>,
    /// Channel subscriptions requested from the driver: (request, name, confirmed).
    subscriptions: Vec<(SubscriptionId, Name, bool)>,
    /// Completions to resolve when the session closes (close commands).
    on_close: Vec<CompletionId>,
    /// Participant: when a moderator heartbeat first showed a newer epoch.
    behind_since: Option<Instant>,
    /// Participant: the JoinReply sent, re-sent unchanged on a retransmitted JoinRequest
    /// (a fresh key package would not match the one the moderator may already use).
    join_reply: Option<Outbound>,
    /// Participant: the soft close or rejoin in progress.
    pending_state: Option<participant::PendingState>,
    /// Encoded headers of data and acks (sessions without MLS).
    templates: templates::Templates,
    /// The deadline the layer's timer set holds for this session (kept here so the layer
    /// finds it without another lookup per message).
    scheduled: Option<Instant>,
    /// The session's timers may have moved since the layer last scheduled it.
    unscheduled: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// What distinguishes one session from another at creation.
pub(crate) struct Setup {
    pub id: SessionId,
    pub role: Role,
    pub config: SessionConfig,
    pub me: Name,
    pub moderator: Name,
    pub destination: Option<Name>,
    pub control_channel: Option<Name>,
    pub phase: Phase,
}

impl Session {
    fn base(ctx: &Ctx<'_>, setup: Setup) -> Self {
        let Setup {
            id,
            role,
            config,
            me,
            moderator,
            destination,
            control_channel,
            phase,
        } = setup;
        let session_type = wire::session_type(config.kind);
        let fanout = match config.kind {
            SessionKind::PointToPoint => 1,
            SessionKind::Group => MAX_FANOUT,
        };
        let window = ctx.config.window;
        let mut sender = DataSender::new(
            SenderAddress {
                me: me.clone(),
                destination: destination.clone(),
                fanout,
                session_type,
                session_id: id.0,
            },
            config.reliability,
            window,
        );
        sender.limit_bytes(ctx.config.window_bytes);
        // Any MLS session: a point-to-point peer that stops reading for a while (its inbox
        // full) would otherwise see fresh encryptions for every retransmission and, past
        // mls-rs' forward limit, could decrypt nothing more from us.
        if config.mls.is_some() {
            sender.repeat_sealed();
        }
        let mut receiver = DataReceiver::new(
            me.clone(),
            session_type,
            id.0,
            config.reliability,
            window.max(64).saturating_mul(2),
        );
        receiver.limit_bytes(ctx.config.receive_buffer_bytes);
        let mls = config
            .mls
            .map(|settings| MlsState::new(settings, ctx.config.pending_decrypt));
        Session {
            id,
            role,
            me,
            moderator,
            destination,
            control_channel,
            phase,
            roster: Roster::default(),
            sender,
            receiver,
            control: ControlSender::new(ctx.config.control),
            liveness: Liveness::new(
                ctx.config.heartbeat_interval,
                ctx.config.max_missed_heartbeats,
                ctx.now,
            ),
            mls,
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            deferred: deferred::Deferred::default(),
            held_acks: acks::HeldAcks::default(),
            spare_effects: Effects::default(),
            last_context: None,
            tasks: None,
            subscriptions: Vec::new(),
            on_close: Vec::new(),
            behind_since: None,
            join_reply: None,
            pending_state: None,
            templates: templates::Templates::default(),
            scheduled: None,
            unscheduled: false,
            config,
        }
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// True when `name` is one of a group's channels (data or control), as a message
    /// addressed to the whole group carries it.
    pub fn is_channel(&self, name: &Name) -> bool {
        self.config.kind == SessionKind::Group
            && [&self.destination, &self.control_channel]
                .into_iter()
                .flatten()
                .any(|channel| {
                    channel.same_service(name) && (name.id().is_any() || name.id() == channel.id())
                })
    }

    /// True when MLS is on.
    pub fn uses_mls(&self) -> bool {
        self.config.mls.is_some()
    }

    /// The description announced to the application.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            role: self.role,
            kind: self.config.kind,
            config: self.config.clone(),
            destination: self
                .destination
                .clone()
                .unwrap_or_else(|| self.moderator.clone()),
            moderator: self.moderator.clone(),
        }
    }

    /// Data messages not yet acknowledged by every online member.
    pub fn outstanding(&self) -> usize {
        self.sender.outstanding()
    }

    /// The roster, this endpoint first.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.roster.to_info(&self.me)
    }

    /// True once the session is gone.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// True while closing (no new publishes or commands).
    fn is_closing(&self) -> bool {
        matches!(
            self.phase,
            Phase::Draining { .. } | Phase::Leaving | Phase::Removed { .. } | Phase::Closed(_)
        )
    }

    // ----- sending -------------------------------------------------------------------------

    /// Addressing for a message from this endpoint.
    fn envelope<'a>(&'a self, to: &'a Name, fanout: u32) -> Envelope<'a> {
        Envelope {
            source: &self.me,
            destination: to,
            fanout,
            session_type: wire::session_type(self.config.kind),
            session_id: self.id.0,
        }
    }

    /// Where broadcasts to every member go: the control channel (group) or the peer.
    fn everyone(&self) -> Option<(Name, u32)> {
        match self.config.kind {
            SessionKind::Group => self.control_channel.clone().map(|c| (c, MAX_FANOUT)),
            SessionKind::PointToPoint => self.destination.clone().map(|d| (d, 1)),
        }
    }

    /// Seals and queues one message. Command messages are always signed (upstream verifies
    /// them when MLS is on, and always for discovery; a signature nobody checks is harmless).
    fn send(&mut self, ctx: &mut Ctx<'_>, out: Outbound) {
        // Held acks go first: whatever this is, they share its write (see `acks.rs`).
        if out.kind != T::MsgAck && !self.held_acks.is_empty() {
            self.flush_acks(ctx);
        }
        let sign = wire::is_command(out.kind);
        let encrypts = matches!(out.kind, T::Msg | T::RtxReply);
        let broadcast = self.is_broadcast(&out);
        if broadcast {
            self.liveness.broadcast_sent(ctx.now);
        }
        // A data broadcast (to a group, or to the peer) is kept as sealed, to be repeated if
        // it must be resent (only MLS sessions keep it: see `DataSender::repeat_sealed`).
        let repeatable = (broadcast && out.kind == T::Msg).then(|| out.message_id());
        // Data and acks of a session without MLS carry only the token: encoded straight from
        // the header template (the same bytes sealing and encoding would give).
        if self.mls.is_none()
            && !sign
            && matches!(out.kind, T::Msg | T::MsgAck)
            && let Ok(token) = ctx.identity.token(ctx.wall())
            && let Some(frame) = self.templates.frame(&out, &token)
        {
            ctx.io.transmit.push_back(Transmit::Frame(frame));
            return;
        }
        let group = match (&mut self.mls, encrypts) {
            (Some(state), true) => match state.group_mut() {
                Some(group) => Some(group),
                None => {
                    // Never send an MLS session's data in clear.
                    ctx.io.stats.seal_failed += 1;
                    warn!(session = %self.id, "data before the MLS group exists; dropped");
                    return;
                }
            },
            _ => None,
        };
        let wall = ctx.wall();
        match seal(out, ctx.identity, wall, sign, group) {
            Ok(message) => {
                if let Some(id) = repeatable {
                    self.sender.remember_sealed(id, &message);
                }
                ctx.io.transmit.push_back(Transmit::Message(message));
            }
            Err(e) => {
                ctx.io.stats.seal_failed += 1;
                warn!(session = %self.id, error = %e, "could not seal an outbound message");
            }
        }
    }

    /// True when every other member receives `out` (group channel, or the peer).
    fn is_broadcast(&self, out: &Outbound) -> bool {
        let is = |name: &Option<Name>, key: slim_wire::NameKey| {
            name.as_ref().is_some_and(|n| n.key() == key)
        };
        if let Some(route) = &out.route {
            let key = route.destination.key();
            return match self.config.kind {
                SessionKind::PointToPoint => is(&self.destination, key),
                SessionKind::Group => is(&self.destination, key) || is(&self.control_channel, key),
            };
        }
        let Some(slim_wire::proto::message::MessageType::Publish(publish)) =
            &out.message.message_type
        else {
            return false;
        };
        // Compare routing keys straight from the encoded name (no string hashing per message).
        let Some(encoded) = publish
            .header
            .as_ref()
            .and_then(|h| h.destination.as_ref())
            .and_then(|d| d.name.as_ref())
        else {
            return false;
        };
        let id = encoded.name_id.map_or(slim_wire::InstanceId::ANY, |id| {
            slim_wire::InstanceId::from_halves(id.id_0, id.id_1)
        });
        let key = slim_wire::NameKey {
            components: [
                encoded.component_0,
                encoded.component_1,
                encoded.component_2,
            ],
            id,
        };
        match self.config.kind {
            SessionKind::PointToPoint => is(&self.destination, key),
            SessionKind::Group => is(&self.destination, key) || is(&self.control_channel, key),
        }
    }

    /// Sends a control request reliably, waiting for replies from `waiting`.
    fn request(
        &mut self,
        ctx: &mut Ctx<'_>,
        out: Outbound,
        waiting: Vec<Name>,
        any_instance: bool,
        purpose: Purpose,
    ) {
        let first = self
            .control
            .send(ctx.now, out, waiting, any_instance, purpose);
        self.send(ctx, first);
    }

    /// Sends a reply (or any unacknowledged command) to `to`, echoing `message_id`.
    fn reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        to: &Name,
        kind: T,
        message_id: u32,
        payload: slim_wire::proto::command_payload::CommandPayloadType,
    ) {
        let out = self.envelope(to, 1).command(kind, message_id, payload);
        self.send(ctx, out);
    }

    /// Applies what the data path asked for, including the consequences of members found
    /// unresponsive.
    fn apply(&mut self, ctx: &mut Ctx<'_>, mut fx: Effects) {
        loop {
            for out in fx.transmit.drain(..) {
                self.send(ctx, out);
            }
            for sealed in fx.repeat.drain(..) {
                self.liveness.broadcast_sent(ctx.now);
                ctx.io
                    .transmit
                    .push_back(Transmit::Message(Box::new(sealed)));
            }
            for (id, result) in fx.completions.drain(..) {
                ctx.io.complete(id, result);
            }
            for received in fx.received.drain(..) {
                self.deliver(ctx, received);
            }
            if std::mem::take(&mut fx.writable) {
                ctx.io.events.push_back(Event::Writable(self.id));
            }
            let unresponsive = std::mem::take(&mut fx.unresponsive);
            if unresponsive.is_empty() {
                break;
            }
            for name in unresponsive {
                self.member_offline(ctx, &name, false, &mut fx);
                if self.is_closed() {
                    return;
                }
            }
        }
        // Drained, capacity kept: the next message's effects need no allocation. Not after a
        // burst (a window retransmitted at once), which would pin its memory in every session.
        if fx.is_small() {
            self.spare_effects = fx;
        }
    }

    /// An empty [`Effects`] to collect into, with the capacity the last one had (a message
    /// handled per call: allocating its vectors each time cost a malloc and a free per
    /// message and side).
    fn effects(&mut self) -> Effects {
        std::mem::take(&mut self.spare_effects)
    }

    // ----- inbound -------------------------------------------------------------------------

    /// Handles one received message of this session (already verified by the layer).
    ///
    /// The message is boxed once, where the layer builds it, and stays there until the
    /// application takes it: an `Inbound` is about 300 bytes, and by value it was copied
    /// six times on its way (layer, session, receiver, effects, inbox), which cost more
    /// than the allocation (fan-out: 8 059 → 7 723 instructions per delivery).
    pub fn handle(&mut self, ctx: &mut Ctx<'_>, message: Box<Inbound>) {
        if self.is_closed() {
            return;
        }
        self.roster.heard(&message.source, ctx.now);
        match message.kind {
            T::Msg | T::RtxReply => self.on_data(ctx, message),
            T::MsgAck => {
                let mut fx = self.effects();
                let (first, last) = message.acked_ids(self.sender.window());
                self.sender
                    .on_acks(ctx.now, &message.source, first, last, &mut fx);
                self.apply(ctx, fx);
            }
            T::RtxRequest => {
                let mut fx = self.effects();
                self.sender
                    .on_rtx_request(&message.source, message.message_id, &mut fx);
                ctx.io.stats.retransmissions += 1;
                self.apply(ctx, fx);
            }
            T::DiscoveryReply | T::JoinReply | T::LeaveReply | T::GroupAck | T::GroupNack => {
                self.on_reply(ctx, &message)
            }
            T::Heartbeat => self.on_heartbeat(ctx, &message),
            T::JoinRequest => self.on_join_request_again(ctx, &message),
            T::GroupWelcome => self.on_welcome(ctx, &message),
            T::GroupUpdate => self.on_group_update(ctx, &message),
            T::GroupClose => self.on_group_close(ctx, &message),
            T::LeaveRequest => self.on_leave_request(ctx, &message),
            T::UpdateParticipantState => self.on_participant_state(ctx, &message),
            T::RejoinRequest => self.on_rejoin_request(ctx, &message),
            T::RejoinReply => self.on_rejoin_reply(ctx, &message),
            T::DiscoveryRequest | T::GroupProposal | T::Unspecified => {
                debug!(session = %self.id, kind = ?message.kind, "ignored");
            }
        }
    }

    /// A reply to one of our control requests.
    fn on_reply(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        match self.control.on_reply(message.message_id, &message.source) {
            ReplyOutcome::Done(purpose) => self.on_request_done(ctx, purpose, Some(message)),
            ReplyOutcome::Partial | ReplyOutcome::Unexpected => {}
        }
    }

    /// A control request got every reply it waited for (`reply` is the last one), or the
    /// members it still waited for went away (`reply` is None).
    fn on_request_done(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, reply: Option<&Inbound>) {
        match purpose {
            Purpose::Discovery
            | Purpose::Join
            | Purpose::Welcome
            | Purpose::Update
            | Purpose::LeaveMember
            | Purpose::RejoinReply => self.moderator_step(ctx, purpose, reply, Vec::new()),
            Purpose::Close | Purpose::LeaveSelf => self.finish_close(ctx, CloseReason::Local),
            Purpose::StateUpdate | Purpose::RejoinAsk => self.on_state_reply(ctx, purpose, reply),
        }
    }

    /// A control request ran out of retries; `missing` never answered.
    fn on_request_expired(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, missing: Vec<Name>) {
        match purpose {
            Purpose::Close | Purpose::LeaveSelf => self.finish_close(ctx, CloseReason::Local),
            Purpose::StateUpdate | Purpose::RejoinAsk => self.on_state_expired(ctx, purpose),
            _ => self.moderator_step(ctx, purpose, None, missing),
        }
    }

    // ----- timers --------------------------------------------------------------------------

    /// The earliest instant at which [`Self::on_timeout`] has work.
    pub fn next_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Joining { deadline, .. }
            | Phase::Draining { deadline }
            | Phase::Removed { deadline } => Some(deadline),
            _ => None,
        };
        [
            phase,
            self.sender.next_timeout(),
            self.receiver.next_timeout(),
            self.control.next_timeout(),
            self.liveness.next_timeout(),
            self.held_acks.due(),
            self.task_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The deadline the layer scheduled for this session, if any.
    pub fn scheduled(&self) -> Option<Instant> {
        self.scheduled
    }

    /// Records the deadline the layer scheduled (or that none is).
    pub fn set_scheduled(&mut self, at: Option<Instant>) {
        self.scheduled = at;
        self.unscheduled = false;
    }

    /// Notes that the session's timers may have moved since the layer last scheduled it;
    /// true the first time, when the layer lists it to be scheduled again.
    pub fn mark_unscheduled(&mut self) -> bool {
        !std::mem::replace(&mut self.unscheduled, true)
    }

    /// Runs every timer due at `ctx.now`.
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.is_closed() {
            return;
        }
        let now = ctx.now;
        match self.phase {
            Phase::Joining { deadline, .. } if deadline <= now => {
                self.terminate(ctx, CloseReason::JoinTimeout);
                return;
            }
            Phase::Draining { deadline } if deadline <= now => {
                self.drained(ctx);
            }
            Phase::Removed { deadline } if deadline <= now => {
                self.terminate(ctx, CloseReason::Removed);
                return;
            }
            _ => {}
        }
        if self.task_deadline().is_some_and(|deadline| deadline <= now) {
            self.moderator_subscriptions_timed_out(ctx);
            if self.is_closed() {
                return;
            }
        }
        if self.held_acks.due().is_some_and(|due| due <= now) {
            self.flush_acks(ctx);
        }
        let mut fx = self.effects();
        self.sender.on_timeout(now, &mut fx);
        self.receiver.on_timeout(now, &mut fx);
        ctx.io.stats.retransmissions += (fx.transmit.len() + fx.repeat.len()) as u64;
        self.apply(ctx, fx);

        let mut resend = Vec::new();
        let expired = self.control.on_timeout(now, &mut resend);
        for out in resend {
            self.send(ctx, out);
        }
        for e in expired {
            self.on_request_expired(ctx, e.purpose, e.missing);
        }
        if self.is_closed() {
            return;
        }

        let tick = self.liveness.on_timeout(now, &self.roster);
        if tick.beat
            && let Some((to, fanout)) = self.everyone()
        {
            let epoch = mls::announced_epoch(self.mls.as_ref());
            let id = ctx.request_id();
            let out = self
                .envelope(&to, fanout)
                .command(T::Heartbeat, id, wire::heartbeat(epoch));
            self.send(ctx, out);
        }
        let mut fx = self.effects();
        for name in tick.silent {
            self.member_offline(ctx, &name, true, &mut fx);
            if self.is_closed() {
                return;
            }
        }
        self.apply(ctx, fx);
        self.check_behind(ctx);
        if matches!(self.phase, Phase::Draining { .. }) && self.sender.is_idle() {
            self.drained(ctx);
        }
    }
}
