//! What the layer answers before (or after) a session exists.
//!
//! - DiscoveryRequest: verified (token + end-to-end signature, always, as upstream does) and
//!   answered statelessly with a DiscoveryReply whose source is the requested name with this
//!   application's instance id. No state is kept: an invitation that never follows costs
//!   nothing.
//! - JoinRequest: verified when it asks for MLS, then creates the participant session. It is
//!   announced to the application only after the welcome.
//! - GroupClose / LeaveRequest for a session that just closed: our acknowledgement was lost
//!   and the moderator retransmits; answer again so it does not wait out its retries.

use std::time::Instant;

use slim_wire::Name;
use slim_wire::proto::{SessionMessageType as T, command_payload::CommandPayloadType as C};
use tracing::{debug, warn};

use super::SessionLayer;
use crate::io::{Ctx, Transmit};
use crate::security::{seal, verify_command};
use crate::session::Session;
use crate::wire::{self, Envelope, Inbound, Outbound};

impl SessionLayer {
    /// Handles a message whose session id is not in the table.
    pub(super) fn presession(&mut self, now: Instant, inbound: Box<Inbound>) {
        match inbound.kind {
            T::DiscoveryRequest => self.answer_discovery(now, inbound),
            T::JoinRequest => self.accept_invitation(now, inbound),
            T::GroupClose if self.closed_set.contains(&inbound.session_id) => {
                self.answer_stateless(now, &inbound, T::GroupAck, wire::group_ack())
            }
            T::LeaveRequest if self.closed_set.contains(&inbound.session_id) => {
                self.answer_stateless(now, &inbound, T::LeaveReply, wire::leave_reply())
            }
            _ => self.io.stats.unknown_session += 1,
        }
    }

    /// True when `name` is this application's (or an alias's) service, with its instance id
    /// or any.
    pub(super) fn addressed_to_me(&self, name: &Name) -> bool {
        let id_ok = name.id().is_any() || name.id() == self.me.id();
        id_ok && (name.same_service(&self.me) || self.aliases.iter().any(|a| a.same_service(name)))
    }

    fn answer_discovery(&mut self, now: Instant, inbound: Box<Inbound>) {
        if !self.addressed_to_me(&inbound.destination) {
            self.io.stats.unknown_session += 1;
            return;
        }
        let wall = self.wall(now);
        if let Err(error) = verify_command(&inbound, self.identity.as_mut(), wall) {
            self.io.stats.verification_failed += 1;
            debug!(%error, source = %inbound.source, "discovery request rejected");
            return;
        }
        let source = inbound.destination.with_id(self.me.id());
        let envelope = Envelope {
            source: &source,
            destination: &inbound.source,
            fanout: 1,
            session_type: inbound.session_type,
            session_id: inbound.session_id,
        };
        let out = envelope.command(
            T::DiscoveryReply,
            inbound.message_id,
            wire::discovery_reply(),
        );
        self.send_stateless(now, out);
    }

    fn accept_invitation(&mut self, now: Instant, inbound: Box<Inbound>) {
        if !self.config.accept_invitations || !self.addressed_to_me(&inbound.destination) {
            self.io.stats.unknown_session += 1;
            return;
        }
        let wants_mls =
            matches!(inbound.command(), Some(C::JoinRequest(j)) if j.mls_settings.is_some());
        if wants_mls {
            let wall = self.wall(now);
            if let Err(error) = verify_command(&inbound, self.identity.as_mut(), wall) {
                self.io.stats.verification_failed += 1;
                debug!(%error, source = %inbound.source, "join request rejected");
                return;
            }
            self.replay.check(inbound.source.key(), inbound.message_id);
        }
        if self.sessions.len() >= self.config.max_sessions {
            warn!(source = %inbound.source, "session table full; invitation ignored");
            return;
        }
        let me = self.me.clone();
        let created = {
            let mut ctx = Ctx {
                now,
                clock: self.clock,
                config: &self.config,
                identity: self.identity.as_mut(),
                mls: self.mls.as_deref_mut(),
                rng: &mut self.rng,
                io: &mut self.io,
            };
            Session::new_participant(&mut ctx, me, &inbound)
        };
        match created {
            Ok(session) => self.insert(session),
            Err(error) => {
                self.io.stats.invalid += 1;
                warn!(%error, source = %inbound.source, "invitation refused");
            }
        }
    }

    /// Answers `inbound` with an empty reply from our own name (no session state).
    fn answer_stateless(
        &mut self,
        now: Instant,
        inbound: &Inbound,
        kind: T,
        payload: slim_wire::proto::command_payload::CommandPayloadType,
    ) {
        let me = self.me.clone();
        let envelope = Envelope {
            source: &me,
            destination: &inbound.source,
            fanout: 1,
            session_type: inbound.session_type,
            session_id: inbound.session_id,
        };
        let out = envelope.command(kind, inbound.message_id, payload);
        self.send_stateless(now, out);
    }

    /// Seals (token + signature) and queues a message that belongs to no session.
    fn send_stateless(&mut self, now: Instant, out: Outbound) {
        let wall = self.wall(now);
        match seal(out, self.identity.as_mut(), wall, true, None) {
            Ok(message) => self.io.transmit.push_back(Transmit::Message(message)),
            Err(error) => {
                self.io.stats.seal_failed += 1;
                warn!(%error, "could not seal a reply");
            }
        }
    }
}
