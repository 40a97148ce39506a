//! The participant role: joining on invitation, following the moderator's group updates,
//! leaving, soft close and rejoin. Also the handlers both roles share for membership
//! messages (leave requests, participant state updates), dispatched on the role.
//!
//! Join sequence (§4.4/§4.5): JoinRequest → (group: subscribe to the data and control
//! channels, wait for the driver's confirmation) → JoinReply with a key package (MLS) →
//! GroupWelcome → join the MLS group, adopt the roster → GroupAck → announce the session.
//! Until the welcome the session is invisible to the application and times out on its own.

mod presence;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use slim_wire::Name;
use slim_wire::proto::{
    self, GroupUpdateOp, ParticipantState, SessionMessageType as T, SessionType,
    command_payload::CommandPayloadType as C,
};
use tracing::{debug, warn};

use super::{Phase, Purpose, Session, Setup, mls};
use crate::config::{MlsSettings, Retries, SessionConfig, SessionKind};
use crate::event::{CloseReason, CompletionId, Event, MemberStatus, Role, SessionId};
use crate::io::Ctx;
use crate::wire::{self, Inbound, LEAVING_SESSION, TRUE_VALUE};

/// Shortest retransmission interval accepted from a JoinRequest (guards against 0 ms).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Why an invitation cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JoinError {
    #[error("not a join request")]
    NotJoinRequest,
    #[error("group join request without channel and control names")]
    MissingChannels,
    #[error("bad channel name")]
    BadChannel,
    #[error("MLS requested but no MLS provider is configured")]
    NoMls,
}

/// What a participant is waiting for after a soft close or rejoin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingState {
    pub online: bool,
    pub completion: Option<CompletionId>,
}

impl Session {
    /// Creates the participant side from a JoinRequest (the layer checked it is for us).
    pub fn new_participant(
        ctx: &mut Ctx<'_>,
        me: Name,
        request: &Inbound,
    ) -> Result<Session, JoinError> {
        let Some(C::JoinRequest(join)) = request.command() else {
            return Err(JoinError::NotJoinRequest);
        };
        let kind = match request.session_type {
            SessionType::Multicast => SessionKind::Group,
            _ => SessionKind::PointToPoint,
        };
        if join.mls_settings.is_some() && ctx.mls.is_none() {
            return Err(JoinError::NoMls);
        }
        let config = SessionConfig {
            kind,
            reliability: join.timer_settings.map(|t| {
                Retries::new(
                    Duration::from_millis(u64::from(t.timeout)).max(MIN_INTERVAL),
                    t.max_retries,
                )
            }),
            mls: join.mls_settings.map(|m| MlsSettings {
                header_integrity_validation_percent: m.header_integrity_validation_percent,
            }),
            metadata: request.metadata().clone(),
        };
        let moderator = request.source.clone();
        let (destination, control) = match kind {
            SessionKind::PointToPoint => (moderator.clone(), None),
            SessionKind::Group => {
                let (Some(channel), Some(control)) = (&join.channel, &join.control) else {
                    return Err(JoinError::MissingChannels);
                };
                (
                    Name::from_proto(channel).map_err(|_| JoinError::BadChannel)?,
                    Some(Name::from_proto(control).map_err(|_| JoinError::BadChannel)?),
                )
            }
        };
        let phase = Phase::Joining {
            request_id: request.message_id,
            subscriptions: 0,
            deadline: ctx.now + ctx.config.join_timeout,
        };
        let mut session = Session::base(
            ctx,
            Setup {
                id: SessionId(request.session_id),
                role: Role::Participant,
                config,
                me,
                moderator,
                destination: Some(destination.clone()),
                control_channel: control.clone(),
                phase,
            },
        );
        if let Some(control) = control {
            session.subscribe(ctx, destination);
            session.subscribe(ctx, control);
            if let Phase::Joining { subscriptions, .. } = &mut session.phase {
                *subscriptions = 2;
            }
        } else {
            session.send_join_reply(ctx);
        }
        Ok(session)
    }

    /// Answers the JoinRequest (once; retransmissions get the same reply).
    fn send_join_reply(&mut self, ctx: &mut Ctx<'_>) {
        let Phase::Joining { request_id, .. } = self.phase else {
            return;
        };
        if self.join_reply.is_none() {
            let key_package = if self.mls.is_some() {
                let wall = ctx.wall();
                let Some(provider) = ctx.mls.as_deref_mut() else {
                    self.terminate(ctx, CloseReason::Failed("no MLS provider".into()));
                    return;
                };
                match provider.key_package(wall) {
                    Ok(kp) => Some(Bytes::from(kp)),
                    Err(e) => {
                        self.terminate(ctx, CloseReason::Failed(e.to_string()));
                        return;
                    }
                }
            } else {
                None
            };
            let moderator = self.moderator.clone();
            let out = self.envelope(&moderator, 1).command(
                T::JoinReply,
                request_id,
                wire::join_reply(&self.me, key_package),
            );
            self.join_reply = Some(out);
        }
        if let Some(out) = self.join_reply.clone() {
            self.send(ctx, out);
        }
    }

    /// Group participant: both channel subscriptions confirmed.
    pub(super) fn participant_subscribed(&mut self, ctx: &mut Ctx<'_>) {
        if let Phase::Joining { subscriptions, .. } = &mut self.phase {
            *subscriptions = 0;
            self.send_join_reply(ctx);
        }
    }

    /// A retransmitted JoinRequest: the moderator did not get our reply.
    pub(super) fn on_join_request_again(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if let Phase::Joining {
            request_id,
            subscriptions: 0,
            ..
        } = self.phase
            && request_id == message.message_id
        {
            self.send_join_reply(ctx);
        }
    }

    pub(super) fn on_welcome(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if self.role != Role::Participant || message.source != self.moderator {
            return;
        }
        let Some(C::GroupWelcome(welcome)) = message.command() else {
            return;
        };
        if !matches!(self.phase, Phase::Joining { .. }) {
            // Our ack was lost: acknowledge again.
            self.reply(
                ctx,
                &message.source.clone(),
                T::GroupAck,
                message.message_id,
                wire::group_ack(),
            );
            return;
        }
        if let Some(state) = self.mls.as_mut() {
            let Some(mls) = welcome.mls.as_ref() else {
                self.terminate(
                    ctx,
                    CloseReason::Failed("welcome without MLS payload".into()),
                );
                return;
            };
            let wall = ctx.wall();
            let Some(provider) = ctx.mls.as_deref_mut() else {
                return;
            };
            match provider.join_group(&mls.mls_content, wall) {
                Ok(group) => {
                    state.group = Some(group);
                    state.commit_id = mls.commit_id;
                    state.drop_stale();
                }
                Err(e) => {
                    warn!(session = %self.id, error = %e, "cannot join the MLS group");
                    self.terminate(ctx, CloseReason::Failed(e.to_string()));
                    return;
                }
            }
        }
        self.phase = Phase::Active;
        self.join_reply = None;
        for participant in &welcome.participants {
            if let Some(name) = participant
                .name
                .as_ref()
                .and_then(|n| Name::from_proto(n).ok())
            {
                self.member_joined(ctx, name, None);
            }
        }
        // The moderator is a member even if an odd roster omitted it.
        self.member_joined(ctx, self.moderator.clone(), None);
        self.liveness.enable(ctx.now);
        self.reply(
            ctx,
            &message.source.clone(),
            T::GroupAck,
            message.message_id,
            wire::group_ack(),
        );
        ctx.io.events.push_back(Event::NewSession(self.info()));
        self.apply_buffered_updates(ctx);
        self.retry_held(ctx);
    }

    pub(super) fn on_group_update(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if self.role != Role::Participant || message.source != self.moderator {
            return;
        }
        let Some(C::GroupUpdate(update)) = message.command() else {
            return;
        };
        if matches!(self.phase, Phase::Joining { .. } | Phase::Closed(_)) {
            return; // predates our welcome: the welcome carries its effect
        }
        let source = message.source.clone();
        match self.mls.as_mut() {
            None => {
                self.reply(
                    ctx,
                    &source,
                    T::GroupAck,
                    message.message_id,
                    wire::group_ack(),
                );
                self.apply_update(ctx, update.clone());
            }
            Some(state) => {
                let commit_id = update.mls.as_ref().map_or(0, |m| m.commit_id);
                let current = state.commit_id;
                if commit_id > current {
                    state.buffer_update(commit_id, update.clone());
                }
                self.reply(
                    ctx,
                    &source,
                    T::GroupAck,
                    message.message_id,
                    wire::group_ack(),
                );
                self.apply_buffered_updates(ctx);
            }
        }
    }

    /// Applies buffered group updates whose turn has come (MLS commit order).
    fn apply_buffered_updates(&mut self, ctx: &mut Ctx<'_>) {
        loop {
            let Some((commit_id, update)) = self.mls.as_mut().and_then(|s| s.next_buffered())
            else {
                return;
            };
            let removes_me = update.op == GroupUpdateOp::Remove as i32
                && update
                    .participant
                    .as_ref()
                    .and_then(|p| p.name.as_ref())
                    .and_then(|n| Name::from_proto(n).ok())
                    .is_some_and(|n| n == self.me);
            let mut failed = None;
            if let Some(state) = self.mls.as_mut() {
                state.commit_id = commit_id;
                let commit = update.mls.as_ref().map(|m| m.mls_content.clone());
                // The commit that removes us cannot (and need not) be applied.
                if !removes_me
                    && let (Some(group), Some(commit)) = (state.group_mut(), commit)
                    && let Err(e) = group.process_commit(&commit, ctx.wall())
                {
                    failed = Some(e);
                }
            }
            self.apply_update(ctx, update);
            if self.is_closed() {
                return;
            }
            if let Some(e) = failed {
                warn!(session = %self.id, error = %e, commit_id, "commit failed; asking to rejoin");
                self.ask_rejoin(ctx);
                continue;
            }
            self.retry_held(ctx);
        }
    }

    /// The roster effect of a group update.
    fn apply_update(&mut self, ctx: &mut Ctx<'_>, update: proto::GroupUpdatePayload) {
        let Some(subject) = update
            .participant
            .as_ref()
            .and_then(|p| p.name.as_ref())
            .and_then(|n| Name::from_proto(n).ok())
        else {
            return;
        };
        match GroupUpdateOp::try_from(update.op) {
            Ok(GroupUpdateOp::Add) => self.member_joined(ctx, subject, None),
            Ok(GroupUpdateOp::Remove) if subject == self.me => self.await_leave_request(ctx),
            Ok(GroupUpdateOp::Remove) => {
                self.member_left(ctx, &subject);
            }
            Ok(GroupUpdateOp::Rejoin) => {
                if self.roster.get(&subject).is_none() {
                    self.member_joined(ctx, subject, None);
                } else {
                    self.member_online(ctx, &subject);
                }
            }
            Err(_) => debug!(session = %self.id, op = update.op, "unknown group update op"),
        }
    }

    /// A group update removed us. Upstream moderators follow it with a LeaveRequest and
    /// fail the removal unless it is answered, so the session stays (silent: nothing is
    /// sent or delivered) until that request comes, or the moderator's retry budget passed.
    fn await_leave_request(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(self.phase, Phase::Removed { .. } | Phase::Closed(_)) {
            return;
        }
        self.control.clear();
        let mut fx = self.effects();
        self.sender.abort(&mut fx);
        self.apply(ctx, fx);
        self.liveness.disable();
        self.phase = Phase::Removed {
            deadline: ctx.now + ctx.config.control.budget(),
        };
    }

    pub(super) fn on_group_close(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if self.role != Role::Participant || message.source != self.moderator {
            return;
        }
        self.reply(
            ctx,
            &message.source.clone(),
            T::GroupAck,
            message.message_id,
            wire::group_ack(),
        );
        self.terminate(ctx, CloseReason::ClosedByPeer);
    }

    /// LeaveRequest: a member leaving (at the moderator) or our removal (at a participant).
    pub(super) fn on_leave_request(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        let source = message.source.clone();
        match self.role {
            Role::Participant => {
                if source != self.moderator {
                    return;
                }
                self.reply(
                    ctx,
                    &source,
                    T::LeaveReply,
                    message.message_id,
                    wire::leave_reply(),
                );
                self.terminate(ctx, CloseReason::Removed);
            }
            Role::Moderator => {
                self.reply(
                    ctx,
                    &source,
                    T::LeaveReply,
                    message.message_id,
                    wire::leave_reply(),
                );
                if self.roster.get(&source).is_none() {
                    return;
                }
                if self.config.kind == SessionKind::PointToPoint {
                    self.terminate(ctx, CloseReason::ClosedByPeer);
                } else {
                    self.enqueue(
                        ctx,
                        super::Task::Remove {
                            name: source,
                            completion: None,
                            notify: false,
                        },
                    );
                }
            }
        }
    }

    /// UpdateParticipantState from another member (soft close or rejoin announcement).
    pub(super) fn on_participant_state(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        let Some(C::UpdateParticipantState(update)) = message.command() else {
            return;
        };
        let subject = update
            .participant
            .as_ref()
            .and_then(|n| Name::from_proto(n).ok())
            .unwrap_or_else(|| message.source.clone());
        let source = message.source.clone();
        let online = update.new_state == ParticipantState::Online as i32;
        let epoch_matches = update.epoch == mls::announced_epoch(self.mls.as_ref());
        if !online {
            let mut fx = self.effects();
            self.member_offline(ctx, &subject, false, &mut fx);
            self.apply(ctx, fx);
        } else if epoch_matches {
            self.member_online(ctx, &subject);
        }
        if self.is_closed() {
            return;
        }
        let nack = online && !epoch_matches && self.role == Role::Moderator;
        if nack {
            self.reply(
                ctx,
                &source,
                T::GroupNack,
                message.message_id,
                wire::group_nack(),
            );
        } else {
            self.reply(
                ctx,
                &source,
                T::GroupAck,
                message.message_id,
                wire::group_ack(),
            );
        }
    }

    /// Participant close: unsubscribe, then LeaveRequest (`LEAVING_SESSION`) to the
    /// moderator; the session ends on its LeaveReply or when retries run out.
    pub(super) fn send_leave(&mut self, ctx: &mut Ctx<'_>) {
        self.unsubscribe_all(ctx);
        let moderator = self.moderator.clone();
        let id = ctx.request_id();
        let mut out =
            self.envelope(&moderator, 1)
                .command(T::LeaveRequest, id, wire::leave_request());
        out.message.metadata = HashMap::from([(LEAVING_SESSION.to_owned(), TRUE_VALUE.to_owned())]);
        let online = self
            .roster
            .get(&moderator)
            .is_some_and(|m| m.status == MemberStatus::Online);
        if online {
            self.request(ctx, out, vec![moderator], false, Purpose::LeaveSelf);
        } else {
            // Tell it anyway, but do not wait for an absent moderator.
            self.send(ctx, out);
            self.finish_close(ctx, CloseReason::Local);
        }
    }
}
