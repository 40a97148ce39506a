//! Membership and liveness transitions shared by both roles: a member joins, leaves, goes
//! offline (silent, unresponsive or announced) or comes back online, and heartbeats.

use slim_wire::Name;
use slim_wire::proto::SessionMessageType as T;
use tracing::debug;

use super::{Phase, Session, mls, roster};
use crate::config::SessionKind;
use crate::event::{CloseReason, Event, MemberStatus, ParticipantChange, Role};
use crate::io::Ctx;
use crate::reliable::{Effects, Removal};
use crate::wire::{self, Inbound};

impl Session {
    pub(super) fn on_heartbeat(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        let Some(slim_wire::proto::command_payload::CommandPayloadType::Heartbeat(beat)) =
            message.command()
        else {
            return;
        };
        let mine = mls::announced_epoch(self.mls.as_ref());
        let offline = self
            .roster
            .get(&message.source)
            .is_some_and(|m| m.status == MemberStatus::Offline);
        if offline && beat.epoch == mine && self.phase == Phase::Active {
            self.member_online(ctx, &message.source);
        }
        if self.role == Role::Participant
            && message.source == self.moderator
            && self.mls.is_some()
            && beat.epoch != wire::NO_MLS_EPOCH
            && beat.epoch > mine
        {
            self.behind(ctx);
        } else if message.source == self.moderator {
            self.behind_since = None;
        }
        // Answer the moderator's heartbeat with one echoing its id. Upstream versions differ:
        // some have every member broadcast heartbeats (this reply is then one more sign of
        // life), others have the moderator ping and count replies by id (then it is needed).
        if self.role == Role::Participant
            && message.source == self.moderator
            && self.phase == Phase::Active
        {
            let moderator = self.moderator.clone();
            let out = self.envelope(&moderator, 1).command(
                T::Heartbeat,
                message.message_id,
                wire::heartbeat(mine),
            );
            self.send(ctx, out);
        }
    }

    /// Declares `name` offline: stop sending to it and waiting for it. `silent` means it
    /// missed its heartbeats (as opposed to not acknowledging data or announcing a soft
    /// close): for a point-to-point peer that ends the session, since nobody is left.
    pub(super) fn member_offline(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &Name,
        silent: bool,
        fx: &mut Effects,
    ) {
        if silent
            && self.config.kind == SessionKind::PointToPoint
            && self.roster.get(name).is_some()
        {
            self.terminate(ctx, CloseReason::PeerUnreachable);
            return;
        }
        let Some(member) = self.roster.get_mut(name) else {
            return;
        };
        if member.status == MemberStatus::Offline {
            return;
        }
        member.status = MemberStatus::Offline;
        debug!(session = %self.id, member = %name, silent, "member offline");
        self.sender.remove_endpoint(name, Removal::Unreachable, fx);
        ctx.io.events.push_back(Event::Participant {
            session: self.id,
            name: name.clone(),
            change: ParticipantChange::Offline,
        });
        for purpose in self.control.forget(name) {
            self.on_request_done(ctx, purpose, None);
        }
    }

    /// Brings `name` back online.
    pub(super) fn member_online(&mut self, ctx: &mut Ctx<'_>, name: &Name) {
        let Some(member) = self.roster.get_mut(name) else {
            return;
        };
        if member.status == MemberStatus::Online {
            return;
        }
        member.status = MemberStatus::Online;
        member.last_heard = ctx.now;
        let mut fx = self.effects();
        self.sender.restore_endpoint(ctx.now, name.clone(), &mut fx);
        ctx.io.events.push_back(Event::Participant {
            session: self.id,
            name: name.clone(),
            change: ParticipantChange::Online,
        });
        self.apply(ctx, fx);
    }

    /// Adds a member to the roster and the data path (welcome acked, group update, welcome).
    pub(super) fn member_joined(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: Name,
        mls: Option<crate::MemberId>,
    ) {
        if name == self.me {
            return;
        }
        let added = self.roster.add(name.clone(), mls, ctx.now);
        let mut fx = self.effects();
        self.sender.add_endpoint(ctx.now, name.clone(), &mut fx);
        if added {
            ctx.io.events.push_back(Event::Participant {
                session: self.id,
                name,
                change: ParticipantChange::Joined,
            });
        }
        self.apply(ctx, fx);
    }

    /// Removes a member from roster and data path.
    pub(super) fn member_left(&mut self, ctx: &mut Ctx<'_>, name: &Name) -> Option<roster::Member> {
        let member = self.roster.remove(name)?;
        let mut fx = self.effects();
        self.sender.remove_endpoint(name, Removal::Left, &mut fx);
        self.receiver.remove_source(name);
        ctx.io.events.push_back(Event::Participant {
            session: self.id,
            name: name.clone(),
            change: ParticipantChange::Left,
        });
        self.apply(ctx, fx);
        for purpose in self.control.forget(name) {
            self.on_request_done(ctx, purpose, None);
        }
        Some(member)
    }
}
