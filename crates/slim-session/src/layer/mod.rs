//! [`SessionLayer`]: the sans-IO endpoint of one application.
//!
//! It owns the session table and everything sessions share (name, identity, MLS provider,
//! RNG, output queues), turns inputs into session calls, and answers what arrives before a
//! session exists (`presession.rs`: discovery, invitations, late close retransmissions).
//!
//! Driving it (what an async driver does, in a loop):
//!
//! 1. feed inputs: [`SessionLayer::handle_frame`] for every frame from the node (or
//!    [`SessionLayer::handle_message`] for a decoded message; anything that is not a session
//!    `Publish` is ignored, so the whole stream can be passed),
//!    [`SessionLayer::handle_timeout`] when [`SessionLayer::poll_timeout`] has passed, and
//!    commands from the application;
//! 2. after every input, drain the outputs: [`SessionLayer::poll_transmit`] to the node
//!    connection (sealed, ready to encode) and [`SessionLayer::poll_event`]:
//!    - [`Event::Subscribe`]: send a Subscribe for the name (with a subscription id) to the
//!      node and, once its SubscriptionAck arrives, call [`SessionLayer::subscribed`]; group
//!      joins wait for this (a moderator's invite for the control retry budget, a member's
//!      join for `join_timeout`). [`Event::Unsubscribe`]: send an Unsubscribe.
//!    - [`Event::Readable`] / [`Event::Writable`]: wake the application's receivers (which
//!      call [`SessionLayer::recv`]) or publishers (which retry after `WouldBlock`).
//!    - [`Event::Completed`], [`Event::NewSession`], [`Event::SessionClosed`],
//!      [`Event::Participant`]: resolve handles, queue accepted sessions, close handles.
//!
//! What stays with the driver: subscribing the application's own name (with its instance
//! id) at the node, re-sending every current subscription after a reconnect, and choosing the
//! instance id. Upstream derives it from the identity (`slim_wire::hash::instance_id_for` of
//! the provider's token id) and peers in strict identity-binding mode check that; use the
//! same derivation. Inputs produce at most a bounded amount of output each, but the queues
//! grow if the driver feeds without draining.
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use slim_session::{Event, Payload, SessionConfig, SessionLayer, Unverified};
//! use slim_wire::{InstanceId, Name};
//!
//! let me = Name::new("org", "ns", "alice").unwrap().with_id(InstanceId(1));
//! let mut layer = SessionLayer::builder(me, Unverified::new("alice"))
//!     .seed(42)
//!     .build(Instant::now(), SystemTime::now())
//!     .unwrap();
//! let bob = Name::new("org", "ns", "bob").unwrap();
//! let (session, _handshake) = layer
//!     .create_session(Instant::now(), SessionConfig::point_to_point(), bob)
//!     .unwrap();
//! // Data published before the handshake completes waits for it (within the window).
//! layer.publish(Instant::now(), session, Payload::new(&b"hello"[..])).unwrap();
//! // The first transmit is the DiscoveryRequest to org/ns/bob.
//! let discovery = layer.poll_transmit().unwrap();
//! assert!(matches!(discovery.message_type, Some(slim_wire::proto::message::MessageType::Publish(_))));
//! while let Some(event) = layer.poll_event() {
//!     let _ = event; // route to the application
//! }
//! ```

mod builder;
mod presession;

pub use builder::{BuildError, Payload, SessionLayerBuilder};

use std::collections::{BTreeSet, VecDeque};
use std::time::{Instant, SystemTime};

use rand::Rng;
use rand::rngs::StdRng;
use slim_wire::{Frame, FrameError, Name, proto};
use tracing::{debug, warn};

use crate::config::{LayerConfig, SessionConfig};
use crate::error::{CommandError, PublishError};
use crate::event::{
    CompletionId, Delivery, Event, ParticipantInfo, SessionId, SessionInfo, SubscriptionId,
};
use crate::fast_hash::{FastMap, FastSet};
use crate::io::{Ctx, Io, Stats, Transmit};
use crate::security::{Identity, MlsProvider, ReplayGuard, verify_command};
use crate::session::Session;
use crate::wire::{self, Inbound};

/// Largest session id drawn (upstream keeps the top 1000 values free).
const SESSION_ID_LIMIT: u32 = u32::MAX - 1000;

/// Closed session ids remembered to answer late close/leave retransmissions.
const RECENTLY_CLOSED: usize = 1024;

/// The session protocol endpoint of one application. See the module docs for how to drive
/// it.
pub struct SessionLayer {
    config: LayerConfig,
    me: Name,
    aliases: Vec<Name>,
    identity: Box<dyn Identity>,
    mls: Option<Box<dyn MlsProvider>>,
    rng: StdRng,
    clock: (Instant, SystemTime),
    sessions: FastMap<SessionId, Session>,
    deadlines: BTreeSet<(Instant, SessionId)>,
    /// Open sessions whose timers may have moved since `deadlines` last had them: scheduled
    /// again when the timer is next read, so a batch of frames for one session computes its
    /// next timeout once, not once per frame.
    unscheduled: Vec<SessionId>,
    io: Io,
    replay: ReplayGuard,
    closed: VecDeque<u32>,
    closed_set: FastSet<u32>,
    /// What closed sessions had received and the application had not read yet, oldest
    /// first; read with `recv` until empty, or dropped with `discard`.
    leftovers: VecDeque<(SessionId, VecDeque<Delivery>)>,
    transmit_blocked: FastSet<SessionId>,
    /// Recent routing headers' names and tokens, taken whole when a frame repeats one.
    headers: wire::HeaderCache,
    /// Recent senders' names, so received names are not hashed and copied again.
    names: wire::NameCache,
    /// Recent senders' identity tokens, so they are shared instead of copied per message.
    tokens: wire::TokenCache,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("name", &self.me)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// Starts building a layer for the application `name` (with its instance id).
    pub fn builder(name: Name, identity: impl Identity + 'static) -> SessionLayerBuilder {
        SessionLayerBuilder {
            name,
            identity: Box::new(identity),
            mls: None,
            config: LayerConfig::default(),
            seed: None,
        }
    }

    /// The application's full name.
    pub fn name(&self) -> &Name {
        &self.me
    }

    /// The configuration.
    pub fn config(&self) -> &LayerConfig {
        &self.config
    }

    /// Drop and failure counters.
    pub fn stats(&self) -> &Stats {
        &self.io.stats
    }

    /// Also answer discovery for `name` (another service name this application subscribed
    /// to, such as an RPC server name).
    pub fn add_local_name(&mut self, name: Name) {
        if !self.aliases.iter().any(|a| a.same_service(&name)) {
            self.aliases.push(name);
        }
    }

    /// Stops answering discovery for `name`.
    pub fn remove_local_name(&mut self, name: &Name) {
        self.aliases.retain(|a| !a.same_service(name));
    }

    fn wall(&self, now: Instant) -> SystemTime {
        let (at, wall) = self.clock;
        wall + now.saturating_duration_since(at)
    }

    /// Runs `f` on session `id` with a context, then refreshes the layer's view of it.
    fn with_session<R>(
        &mut self,
        now: Instant,
        id: SessionId,
        f: impl FnOnce(&mut Session, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let clock = self.clock;
        let SessionLayer {
            sessions,
            io,
            identity,
            mls,
            rng,
            config,
            unscheduled,
            ..
        } = self;
        let session = sessions.get_mut(&id)?;
        let mut ctx = Ctx {
            now,
            clock,
            config,
            identity: identity.as_mut(),
            mls: mls.as_deref_mut(),
            rng,
            io,
        };
        let result = f(session, &mut ctx);
        // With the session at hand: no second lookup for the common case of an open one.
        if session.is_closed() {
            self.refresh(id);
        } else if session.mark_unscheduled() {
            unscheduled.push(id);
        }
        Some(result)
    }

    /// Brings `deadlines` up to date with the sessions whose timers may have moved.
    fn schedule_pending(&mut self) {
        let mut pending = std::mem::take(&mut self.unscheduled);
        for id in pending.drain(..) {
            if let Some(session) = self.sessions.get_mut(&id) {
                reschedule(&mut self.deadlines, session);
            }
        }
        // The list's capacity is kept for the next batch.
        self.unscheduled = pending;
    }

    /// Inserts a new session and refreshes the layer's view of it.
    fn insert(&mut self, session: Session) {
        let id = session.id();
        self.discard(id);
        if let Some(replaced) = self.sessions.insert(id, session)
            && let Some(deadline) = replaced.scheduled()
        {
            self.deadlines.remove(&(deadline, id));
        }
        self.refresh(id);
    }

    /// Updates the timer of `id`, or forgets it (timer, subscriptions, unread inbox) when closed.
    fn refresh(&mut self, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.is_closed() {
            if let Some(deadline) = session.scheduled() {
                self.deadlines.remove(&(deadline, id));
            }
            if let Some(mut session) = self.sessions.remove(&id) {
                let inbox = session.take_inbox();
                if !inbox.is_empty() {
                    self.keep_leftovers(id, inbox);
                }
            }
            self.io.subscribers.retain(|_, s| *s != id);
            self.transmit_blocked.remove(&id);
            if self.closed_set.insert(id.0) {
                self.closed.push_back(id.0);
                if self.closed.len() > RECENTLY_CLOSED
                    && let Some(old) = self.closed.pop_front()
                {
                    self.closed_set.remove(&old);
                }
            }
            return;
        }
        reschedule(&mut self.deadlines, session);
    }

    fn keep_leftovers(&mut self, id: SessionId, inbox: VecDeque<Delivery>) {
        if self.leftovers.len() >= RECENTLY_CLOSED
            && let Some((old, dropped)) = self.leftovers.pop_front()
        {
            self.io.stats.leftovers_discarded += dropped.len() as u64;
            debug!(session = %old, count = dropped.len(), "unread messages of a closed session dropped");
        }
        self.leftovers.push_back((id, inbox));
    }

    fn new_session_id(&mut self) -> SessionId {
        loop {
            let id = SessionId(self.rng.gen_range(0..SESSION_ID_LIMIT));
            if !self.sessions.contains_key(&id) && !self.closed_set.contains(&id.0) {
                return id;
            }
        }
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Handles one message received from the node. Anything that is not a valid session
    /// message for this application is counted and dropped.
    pub fn handle_message(&mut self, now: Instant, message: proto::Message) {
        let mut inbound = match Inbound::parse_with(Box::new(message), &mut self.names) {
            Ok(inbound) => Box::new(inbound),
            Err(error) => {
                if !matches!(error, wire::InboundError::NotPublish) {
                    self.io.stats.invalid += 1;
                    debug!(%error, "invalid session message dropped");
                }
                return;
            }
        };
        if inbound.kind == proto::SessionMessageType::Msg {
            inbound.token = Some(self.tokens.share(inbound.identity()));
        }
        self.handle_inbound(now, inbound);
    }

    /// Handles one frame received from the node: [`Self::handle_message`] of its decoded
    /// message, with the same outcome for every input, but data messages and
    /// acknowledgements of sessions without MLS are read from the frame's bytes instead of
    /// being decoded (see `wire/frame.rs`). A frame prost cannot decode is counted invalid.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        let fast = frame.session().and_then(|header| {
            let session = self.sessions.get(&SessionId(header.session_id))?;
            if session.uses_mls() {
                return None;
            }
            Inbound::from_frame(&frame, &mut self.headers, &mut self.names, &mut self.tokens)
        });
        if let Some(inbound) = fast {
            if self.addressed(&inbound) {
                self.with_session(now, SessionId(inbound.session_id), |session, ctx| {
                    session.handle(ctx, inbound)
                });
            }
            return;
        }
        match frame.decode() {
            Ok(message) => self.handle_message(now, message),
            Err(error) => {
                self.io.stats.invalid += 1;
                debug!(%error, "undecodable frame dropped");
            }
        }
    }

    /// True when a message of a session here is addressed to this application or to the
    /// session's channel; otherwise it is counted as misaddressed. A signed command stays
    /// valid whoever receives it, so without this a relay could hand the removal of one
    /// member (a LeaveRequest to that member) to every other member of the group.
    fn addressed(&mut self, inbound: &Inbound) -> bool {
        let for_session = self
            .sessions
            .get(&SessionId(inbound.session_id))
            .is_some_and(|session| session.is_channel(&inbound.destination));
        if for_session || self.addressed_to_me(&inbound.destination) {
            return true;
        }
        self.io.stats.misaddressed += 1;
        debug!(
            destination = %inbound.destination,
            kind = ?inbound.kind,
            "message addressed to someone else dropped"
        );
        false
    }

    /// The rest of [`Self::handle_message`], once the message is validated.
    fn handle_inbound(&mut self, now: Instant, inbound: Box<Inbound>) {
        let id = SessionId(inbound.session_id);
        // Discovery is stateless even when the session exists here (a member being invited
        // again is found and then refused by the moderator).
        let known = self.sessions.contains_key(&id);
        if !known || inbound.kind == proto::SessionMessageType::DiscoveryRequest {
            self.presession(now, inbound);
            return;
        }
        if !self.addressed(&inbound) {
            return;
        }
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        if wire::is_command(inbound.kind) && session.uses_mls() {
            let wall = self.wall(now);
            if let Err(error) = verify_command(&inbound, self.identity.as_mut(), wall) {
                self.io.stats.verification_failed += 1;
                debug!(%error, kind = ?inbound.kind, "command verification failed");
                return;
            }
            if !self.replay.check(inbound.source.key(), inbound.message_id) {
                self.io.stats.replayed += 1;
                // Requests are answered again (their reply may have been lost); handlers are
                // idempotent. Anything else repeated is dropped.
                if !is_request(inbound.kind) || inbound.message_id == 0 {
                    return;
                }
            }
        }
        self.with_session(now, id, |session, ctx| session.handle(ctx, inbound));
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.schedule_pending();
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.remove(&(deadline, id));
            self.with_session(now, id, |session, ctx| {
                session.set_scheduled(None);
                session.on_timeout(ctx)
            });
            // A timer the handler set for now runs in this call too.
            self.schedule_pending();
        }
    }

    /// The driver's answer to [`Event::Subscribe`]: `Ok` once the node acknowledged the
    /// subscription, `Err` with a reason if it refused. Only the first answer to an id
    /// counts; later ones are ignored (and counted in [`Stats::stale_subscription_answers`]).
    pub fn subscribed(&mut self, now: Instant, id: SubscriptionId, result: Result<(), String>) {
        let Some(&session) = self.io.subscribers.get(&id) else {
            self.io.stats.stale_subscription_answers += 1;
            debug!(?id, "answer for a subscription of no open session");
            return;
        };
        self.with_session(now, session, |s, ctx| s.on_subscribed(ctx, id, result));
    }

    // ----- commands ------------------------------------------------------------------------

    /// Creates a session as its moderator.
    ///
    /// Point-to-point: `destination` is the peer's name (usually without instance id); the
    /// returned completion resolves once discovery, join, welcome (and MLS) finished, or with
    /// the error that stopped it (the session then closes). Group: `destination` is the
    /// channel name; the completion resolves at once and members are added with
    /// [`Self::invite`].
    pub fn create_session(
        &mut self,
        now: Instant,
        config: SessionConfig,
        destination: Name,
    ) -> Result<(SessionId, CompletionId), CommandError> {
        if config.mls.is_some() && self.mls.is_none() {
            return Err(CommandError::MlsUnavailable);
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(CommandError::TooManySessions);
        }
        let id = self.new_session_id();
        let completion = self.io.completion();
        let me = self.me.clone();
        let session = {
            let mut ctx = Ctx {
                now,
                clock: self.clock,
                config: &self.config,
                identity: self.identity.as_mut(),
                mls: self.mls.as_deref_mut(),
                rng: &mut self.rng,
                io: &mut self.io,
            };
            Session::new_moderator(&mut ctx, id, config, me, destination, completion)
        };
        self.insert(session);
        Ok((id, completion))
    }

    /// Moderator: invites `name` into a group session. Completes when the new member
    /// acknowledged its welcome and every other member the group update (members that never
    /// do are marked offline).
    pub fn invite(
        &mut self,
        now: Instant,
        session: SessionId,
        name: Name,
    ) -> Result<CompletionId, CommandError> {
        let completion = self.io.completion();
        self.with_session(now, session, |s, ctx| s.invite(ctx, name, completion))
            .ok_or(CommandError::UnknownSession(session))??;
        Ok(completion)
    }

    /// Moderator: removes a member from a group session (an any-instance name matches the
    /// only member of that service).
    pub fn remove(
        &mut self,
        now: Instant,
        session: SessionId,
        name: Name,
    ) -> Result<CompletionId, CommandError> {
        let completion = self.io.completion();
        self.with_session(now, session, |s, ctx| s.remove(ctx, name, completion))
            .ok_or(CommandError::UnknownSession(session))??;
        Ok(completion)
    }

    /// Publishes to every other member of the session (the peer, or the group).
    ///
    /// Returns `WouldBlock` when the session's window or the transmit queue is full; an
    /// [`Event::Writable`] for the session follows when it can accept again. The completion
    /// resolves when every online member acknowledged (reliable) or at once (fire-and-forget).
    pub fn publish(
        &mut self,
        now: Instant,
        session: SessionId,
        payload: Payload,
    ) -> Result<CompletionId, PublishError> {
        self.try_publish(now, session, None, payload)
            .map_err(|(error, _)| error)
    }

    /// Publishes to one member only (`to`, usually a received message's
    /// [`crate::MessageContext::source`]), outside the ordered stream (`PUBLISH_TO`). In a
    /// point-to-point session this is the same as [`Self::publish`].
    pub fn publish_to(
        &mut self,
        now: Instant,
        session: SessionId,
        to: &Name,
        payload: Payload,
    ) -> Result<CompletionId, PublishError> {
        self.try_publish(now, session, Some(to), payload)
            .map_err(|(error, _)| error)
    }

    /// [`Self::publish`] (or [`Self::publish_to`] with `to`) that hands the payload back when
    /// it is refused, so a caller holding it for a retry need not copy it first (copying a
    /// `Bytes` made from a `Vec` allocates).
    pub fn try_publish(
        &mut self,
        now: Instant,
        session: SessionId,
        to: Option<&Name>,
        payload: Payload,
    ) -> Result<CompletionId, (PublishError, Payload)> {
        let queue_full = self.io.transmit.len() >= self.config.transmit_queue.max(1);
        let Some(s) = self.sessions.get_mut(&session) else {
            return Err((PublishError::UnknownSession(session), payload));
        };
        let has_room = match s.publish_ready() {
            Ok(has_room) => has_room,
            Err(e) => return Err((e, payload)),
        };
        if !has_room {
            s.mark_blocked();
            return Err((PublishError::WouldBlock, payload));
        }
        if queue_full {
            self.transmit_blocked.insert(session);
            return Err((PublishError::WouldBlock, payload));
        }
        let completion = self.io.completion();
        let app = Session::payload(payload.blob, payload.payload_type, payload.metadata);
        self.with_session(now, session, |s, ctx| s.publish(ctx, app, to, completion));
        Ok(completion)
    }

    /// Closes a session gracefully: outstanding data is drained (bounded by
    /// [`LayerConfig::drain_timeout`]), then a participant leaves (LeaveRequest) and a
    /// moderator closes the group for everyone (GroupClose). The completion resolves when the
    /// session is gone; the time this takes is bounded by the drain timeout plus one control
    /// retry budget.
    pub fn close(
        &mut self,
        now: Instant,
        session: SessionId,
    ) -> Result<CompletionId, CommandError> {
        let completion = self.io.completion();
        self.with_session(now, session, |s, ctx| s.close(ctx, completion))
            .ok_or(CommandError::UnknownSession(session))?;
        Ok(completion)
    }

    /// Group participant: soft close. Announces itself offline and goes silent while keeping
    /// its membership and keys; [`Self::rejoin`] comes back.
    pub fn soft_close(
        &mut self,
        now: Instant,
        session: SessionId,
    ) -> Result<CompletionId, CommandError> {
        let completion = self.io.completion();
        self.with_session(now, session, |s, ctx| s.soft_close(ctx, completion))
            .ok_or(CommandError::UnknownSession(session))??;
        Ok(completion)
    }

    /// Group participant: comes back after a soft close (re-keyed by the moderator if the
    /// group moved on meanwhile).
    pub fn rejoin(
        &mut self,
        now: Instant,
        session: SessionId,
    ) -> Result<CompletionId, CommandError> {
        let completion = self.io.completion();
        self.with_session(now, session, |s, ctx| s.rejoin(ctx, completion))
            .ok_or(CommandError::UnknownSession(session))??;
        Ok(completion)
    }

    /// Takes the next received message (or the loss reported in its place) of a session.
    ///
    /// After [`Event::SessionClosed`], what the session had received before it closed stays
    /// readable here (until `None`, or [`Self::discard`]), as upstream hands every message
    /// that arrived before a close to the application.
    pub fn recv(&mut self, now: Instant, session: SessionId) -> Option<Delivery> {
        let mut taken = None;
        self.recv_into(now, session, 1, |delivery| taken = Some(delivery));
        taken
    }

    /// [`Self::recv`] of up to `limit` deliveries, each handed to `deliver`, in one visit to
    /// the session (one lookup and one timer update for the batch instead of one per
    /// message). Returns how many were handed over: fewer than `limit` means the session has
    /// nothing more to read now.
    pub fn recv_into(
        &mut self,
        now: Instant,
        session: SessionId,
        limit: usize,
        mut deliver: impl FnMut(Delivery),
    ) -> usize {
        let mut taken = 0;
        if limit == 0 {
            return 0;
        }
        if self.sessions.contains_key(&session) {
            self.with_session(now, session, |s, ctx| {
                while taken < limit {
                    let Some(delivery) = s.recv(ctx) else { break };
                    deliver(delivery);
                    taken += 1;
                }
            });
            return taken;
        }
        let Some(position) = self.leftovers.iter().position(|(id, _)| *id == session) else {
            return 0;
        };
        let Some((_, inbox)) = self.leftovers.get_mut(position) else {
            return 0;
        };
        while taken < limit {
            let Some(delivery) = inbox.pop_front() else {
                break;
            };
            deliver(delivery);
            taken += 1;
        }
        if inbox.is_empty() {
            self.leftovers.remove(position);
        }
        taken
    }

    /// Sends the acknowledgements a session holds back now. A driver calls this when the
    /// application has read every message it was given and waits for more: no answer is
    /// coming that the acks could share a write with (see [`LayerConfig::ack_delay`]).
    pub fn flush_acks(&mut self, now: Instant, session: SessionId) {
        self.with_session(now, session, |s, ctx| s.flush_acks(ctx));
    }

    /// True when a session holds acknowledgements back ([`Self::flush_acks`]).
    pub fn holds_acks(&self, session: SessionId) -> bool {
        self.sessions.get(&session).is_some_and(Session::holds_acks)
    }

    /// Drops the unread messages of a closed session (for a driver whose application no
    /// longer reads it).
    pub fn discard(&mut self, session: SessionId) {
        self.leftovers.retain(|(id, _)| *id != session);
    }

    // ----- introspection -------------------------------------------------------------------

    /// Ids of the open sessions.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    /// A session's description.
    pub fn session_info(&self, session: SessionId) -> Option<SessionInfo> {
        self.sessions.get(&session).map(Session::info)
    }

    /// A session's roster (this application first).
    pub fn participants(&self, session: SessionId) -> Option<Vec<ParticipantInfo>> {
        self.sessions.get(&session).map(Session::participants)
    }

    /// Data messages of a session sent but not yet acknowledged by every online member
    /// (bounded by [`LayerConfig::window`]).
    pub fn outstanding(&self, session: SessionId) -> usize {
        self.sessions.get(&session).map_or(0, Session::outstanding)
    }

    /// Messages waiting in a session's inbox (also after it closed, until read).
    pub fn readable(&self, session: SessionId) -> usize {
        match self.sessions.get(&session) {
            Some(s) => s.readable(),
            None => self
                .leftovers
                .iter()
                .find(|(id, _)| *id == session)
                .map_or(0, |(_, inbox)| inbox.len()),
        }
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next message to send to the node.
    pub fn poll_transmit(&mut self) -> Option<proto::Message> {
        loop {
            match self.pop_transmit()? {
                Transmit::Message(message) => return Some(*message),
                // Frames are built by this layer: they decode.
                Transmit::Frame(frame) => match frame.decode() {
                    Ok(message) => return Some(message),
                    Err(error) => warn!(%error, "an encoded session message does not decode"),
                },
            }
        }
    }

    /// The next message to send to the node, encoded: [`Self::poll_transmit`] and
    /// `Frame::build`, except that data and acknowledgements of sessions without MLS come
    /// encoded already (from a header template the session keeps). `Err` is a message that
    /// cannot be encoded as a frame (the layer never builds one; drop it).
    pub fn poll_transmit_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        Some(match self.pop_transmit()? {
            Transmit::Message(message) => Frame::build(&message),
            Transmit::Frame(frame) => Ok(frame),
        })
    }

    fn pop_transmit(&mut self) -> Option<Transmit> {
        let next = self.io.transmit.pop_front()?;
        if !self.transmit_blocked.is_empty()
            && self.io.transmit.len() <= self.config.transmit_queue / 2
        {
            for session in self.transmit_blocked.drain() {
                self.io.events.push_back(Event::Writable(session));
            }
        }
        Some(next)
    }

    /// The next event for the driver or application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.io.events.pop_front()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.schedule_pending();
        self.deadlines.first().map(|(t, _)| *t)
    }
}

/// Moves an open session's entry in the timer set to its next timeout, if that changed (most
/// messages leave it as it was).
fn reschedule(deadlines: &mut BTreeSet<(Instant, SessionId)>, session: &mut Session) {
    let next = session.next_timeout();
    let previous = session.scheduled();
    session.set_scheduled(next);
    if next == previous {
        return;
    }
    let id = session.id();
    if let Some(old) = previous {
        deadlines.remove(&(old, id));
    }
    if let Some(deadline) = next {
        deadlines.insert((deadline, id));
    }
}

/// Command messages that expect a reply: a repeat means the reply may have been lost.
fn is_request(kind: proto::SessionMessageType) -> bool {
    use proto::SessionMessageType as T;
    matches!(
        kind,
        T::DiscoveryRequest
            | T::JoinRequest
            | T::LeaveRequest
            | T::GroupUpdate
            | T::GroupWelcome
            | T::GroupClose
            | T::UpdateParticipantState
            | T::RejoinRequest
            | T::RejoinReply
    )
}
