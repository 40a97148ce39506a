//! A participant's presence: soft close and rejoin (announced with UpdateParticipantState),
//! and catching up when it fell behind the group's epoch (RejoinRequest / RejoinReply).

use bytes::Bytes;
use slim_wire::proto::{SessionMessageType as T, command_payload::CommandPayloadType as C};
use tracing::warn;

use super::PendingState;
use crate::config::SessionKind;
use crate::error::CommandError;
use crate::event::{CompletionError, CompletionId, Role};
use crate::io::Ctx;
use crate::session::{Phase, Purpose, Session, mls};
use crate::wire::{self, Inbound};

impl Session {
    pub(in crate::session) fn on_rejoin_reply(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if self.role != Role::Participant || message.source != self.moderator {
            return;
        }
        let Some(C::RejoinReply(reply)) = message.command() else {
            return;
        };
        let source = message.source.clone();
        let expected = self.control.is_pending(message.message_id);
        if expected && let Some(state) = self.mls.as_mut() {
            let wall = ctx.wall();
            let Some(provider) = ctx.mls.as_deref_mut() else {
                return;
            };
            match provider.join_group(&reply.mls_content, wall) {
                Ok(group) => {
                    state.group = Some(group);
                    state.commit_id = reply.commit_id;
                    state.drop_stale();
                }
                Err(e) => {
                    warn!(session = %self.id, error = %e, "rejoin welcome failed");
                    return;
                }
            }
        }
        self.reply(
            ctx,
            &source,
            T::GroupAck,
            message.message_id,
            wire::group_ack(),
        );
        self.on_reply(ctx, message);
    }

    /// A heartbeat showed the moderator at a newer epoch than ours.
    pub(in crate::session) fn behind(&mut self, ctx: &mut Ctx<'_>) {
        if self.behind_since.is_none() {
            self.behind_since = Some(ctx.now);
        }
    }

    /// Asks to rejoin if we have been behind for a whole heartbeat interval (a commit in
    /// flight explains a short lag).
    pub(in crate::session) fn check_behind(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(since) = self.behind_since
            && since + ctx.config.heartbeat_interval <= ctx.now
            && self.phase == Phase::Active
        {
            self.behind_since = None;
            self.ask_rejoin(ctx);
        }
    }

    /// Sends a RejoinRequest with a fresh key package.
    pub(super) fn ask_rejoin(&mut self, ctx: &mut Ctx<'_>) {
        if self.mls.is_none() || self.role != Role::Participant {
            return;
        }
        let wall = ctx.wall();
        let Some(provider) = ctx.mls.as_deref_mut() else {
            return;
        };
        let key_package = match provider.key_package(wall) {
            Ok(kp) => Bytes::from(kp),
            Err(e) => {
                warn!(session = %self.id, error = %e, "cannot create a key package to rejoin");
                return;
            }
        };
        let moderator = self.moderator.clone();
        let id = ctx.request_id();
        let out = self.envelope(&moderator, 1).command(
            T::RejoinRequest,
            id,
            wire::rejoin_request(&self.me, key_package),
        );
        self.request(ctx, out, vec![moderator], false, Purpose::RejoinAsk);
    }

    /// Participant: soft close (announce OFFLINE, go silent, keep state).
    pub fn soft_close(
        &mut self,
        ctx: &mut Ctx<'_>,
        completion: CompletionId,
    ) -> Result<(), CommandError> {
        if self.role != Role::Participant || self.config.kind != SessionKind::Group {
            return Err(CommandError::WrongKind);
        }
        if self.phase != Phase::Active {
            return Err(CommandError::InvalidState(
                "soft close needs an active session",
            ));
        }
        self.phase = Phase::Dormant;
        self.liveness.disable();
        self.announce_state(ctx, false, completion);
        Ok(())
    }

    /// Participant: come back after a soft close.
    pub fn rejoin(
        &mut self,
        ctx: &mut Ctx<'_>,
        completion: CompletionId,
    ) -> Result<(), CommandError> {
        if self.role != Role::Participant || self.config.kind != SessionKind::Group {
            return Err(CommandError::WrongKind);
        }
        if self.phase != Phase::Dormant {
            return Err(CommandError::InvalidState(
                "rejoin needs a soft-closed session",
            ));
        }
        self.announce_state(ctx, true, completion);
        Ok(())
    }

    pub(super) fn announce_state(
        &mut self,
        ctx: &mut Ctx<'_>,
        online: bool,
        completion: CompletionId,
    ) {
        let Some((to, fanout)) = self.everyone() else {
            return;
        };
        let epoch = mls::announced_epoch(self.mls.as_ref());
        let id = ctx.request_id();
        let out = self.envelope(&to, fanout).command(
            T::UpdateParticipantState,
            id,
            wire::update_participant_state(&self.me, online, epoch),
        );
        if let Some(previous) = self.pending_state.replace(PendingState {
            online,
            completion: Some(completion),
        }) {
            Self::fail(ctx, previous.completion, CompletionError::SessionClosed);
        }
        let moderator = self.moderator.clone();
        self.request(ctx, out, vec![moderator], false, Purpose::StateUpdate);
    }

    /// The moderator answered our state update or rejoin request.
    pub(in crate::session) fn on_state_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        purpose: Purpose,
        reply: Option<&Inbound>,
    ) {
        let nack = reply.is_some_and(|r| r.kind == T::GroupNack);
        let Some(pending) = self.pending_state else {
            return;
        };
        match (purpose, pending.online, nack) {
            (Purpose::StateUpdate, false, _) => {
                self.pending_state = None;
                Self::fail_or_ok(ctx, pending.completion, Ok(()));
            }
            (Purpose::StateUpdate, true, true) => self.ask_rejoin(ctx),
            (Purpose::StateUpdate | Purpose::RejoinAsk, true, _) => {
                self.pending_state = None;
                self.phase = Phase::Active;
                self.liveness.enable(ctx.now);
                Self::fail_or_ok(ctx, pending.completion, Ok(()));
                self.retry_held(ctx);
            }
            _ => {}
        }
    }

    /// The moderator never answered our state update or rejoin request.
    pub(in crate::session) fn on_state_expired(&mut self, ctx: &mut Ctx<'_>, _purpose: Purpose) {
        if let Some(pending) = self.pending_state.take() {
            let moderator = self.moderator.clone();
            Self::fail_or_ok(
                ctx,
                pending.completion,
                Err(CompletionError::NoReply(moderator)),
            );
        }
    }

    pub(super) fn fail_or_ok(
        ctx: &mut Ctx<'_>,
        id: Option<CompletionId>,
        result: Result<(), CompletionError>,
    ) {
        if let Some(id) = id {
            ctx.io.complete(id, result);
        }
    }
}
