//! The moderator's membership changes, step by step: invite (discovery reply, channel
//! subscriptions, join request, MLS add, group update and welcome), remove, and rejoin.

use bytes::Bytes;
use slim_wire::proto::{
    GroupUpdateOp, SessionMessageType as T, command_payload::CommandPayloadType as C,
};
use slim_wire::{MAX_FANOUT, Name};
use tracing::debug;

use super::{Begin, MAX_QUEUED_TASKS, Step, Task};
use crate::config::SessionKind;
use crate::event::{CompletionError, Event, ParticipantChange, Role, SessionId};
use crate::io::Ctx;
use crate::session::{Purpose, Session};
use crate::wire::{self, Inbound};

impl Session {
    /// DiscoveryReply: the invitee's full name is known.
    pub(super) fn discovered(&mut self, ctx: &mut Ctx<'_>, invitee: Name) {
        if self.roster.get(&invitee).is_some() || invitee == self.me {
            self.finish_task(ctx, Err(CompletionError::AlreadyMember(invitee)));
            return;
        }
        if self.config.kind == SessionKind::PointToPoint {
            self.destination = Some(invitee.clone());
            self.sender.set_destination(invitee.clone());
        }
        if let Some(state) = self.mls.as_mut()
            && state.group.is_none()
        {
            let wall = ctx.wall();
            let created = match ctx.mls.as_deref_mut() {
                Some(provider) => provider.create_group(&group_id(self.id, &self.me), wall),
                None => Err(crate::SecurityError::Mls("no MLS provider".into())),
            };
            match created {
                Ok(group) => state.group = Some(group),
                Err(e) => {
                    self.finish_task(ctx, Err(CompletionError::Security(e.to_string())));
                    return;
                }
            }
        }
        let joined = self.tasks.as_ref().is_some_and(|t| t.joined);
        if self.config.kind == SessionKind::Group && !joined {
            if self.subscriptions.is_empty()
                && let (Some(data), Some(control)) =
                    (self.destination.clone(), self.control_channel.clone())
            {
                self.subscribe(ctx, data);
                self.subscribe(ctx, control);
            }
            // Bounded like every other step of an invite, which waits at most the control
            // retry budget for its answer; the invitee too gets no longer for its own
            // subscriptions, as our JoinRequest gives up after that budget.
            let deadline = ctx.now + ctx.config.control.budget();
            self.set_step(Step::Subscribing { invitee, deadline });
            return;
        }
        self.send_join(ctx, invitee);
    }

    /// Moderator: channel subscriptions confirmed.
    pub(in crate::session) fn moderator_subscribed(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(tasks) = self.tasks.as_mut() {
            tasks.joined = true;
        }
        self.liveness.enable(ctx.now);
        if let Some(Step::Subscribing { invitee, .. }) = self.current_step() {
            self.send_join(ctx, invitee);
        }
    }

    /// A channel subscription was refused: the running invite fails; the next one retries.
    pub(in crate::session) fn moderator_subscription_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        error: String,
    ) {
        self.give_up_channels(ctx, format!("refused by the node: {error}"));
    }

    /// The channel subscriptions were not all confirmed by the running invite's deadline:
    /// it fails as on a refusal, so the tasks queued behind it run.
    pub(in crate::session) fn moderator_subscriptions_timed_out(&mut self, ctx: &mut Ctx<'_>) {
        let budget = ctx.config.control.budget();
        self.give_up_channels(
            ctx,
            format!("channel subscriptions not confirmed within {budget:?}"),
        );
    }

    /// Drops both channels, so the next invite asks for them again with new ids (an answer
    /// to the old ones no longer matches anything), and fails the invite waiting for them.
    fn give_up_channels(&mut self, ctx: &mut Ctx<'_>, reason: String) {
        self.unsubscribe_all(ctx);
        if let Some(Step::Subscribing { .. }) = self.current_step() {
            self.finish_task(ctx, Err(CompletionError::Subscription(reason)));
        }
    }

    pub(super) fn send_join(&mut self, ctx: &mut Ctx<'_>, invitee: Name) {
        let channels = match (&self.destination, &self.control_channel) {
            (Some(data), Some(control)) if self.config.kind == SessionKind::Group => {
                Some((data.clone(), control.clone()))
            }
            _ => None,
        };
        let payload = wire::join_request(
            self.config.reliability,
            channels.as_ref().map(|(d, c)| (d, c)),
            self.config.mls,
        );
        let id = ctx.request_id();
        let mut out = self
            .envelope(&invitee, 1)
            .command(T::JoinRequest, id, payload);
        out.message.metadata = self.config.metadata.clone();
        self.request(ctx, out, vec![invitee.clone()], false, Purpose::Join);
        self.set_step(Step::Joining { invitee });
    }

    /// JoinReply: add the invitee (MLS commit), tell the others, welcome it.
    pub(super) fn joined_reply(&mut self, ctx: &mut Ctx<'_>, invitee: Name, reply: &Inbound) {
        let key_package = match reply.command() {
            Some(C::JoinReply(join)) => join.key_package.clone(),
            _ => None,
        };
        let mut mls_payloads = None;
        let mut member_ref = None;
        if let Some(state) = self.mls.as_mut() {
            let Some(key_package) = key_package else {
                self.finish_task(
                    ctx,
                    Err(CompletionError::Protocol(
                        "join reply without key package".into(),
                    )),
                );
                return;
            };
            let Some(group) = state.group_mut() else {
                self.finish_task(ctx, Err(CompletionError::Security("no MLS group".into())));
                return;
            };
            match group.add_member(&key_package, ctx.wall()) {
                Ok(added) => {
                    state.commit_id = state.commit_id.wrapping_add(1);
                    member_ref = Some(added.member);
                    mls_payloads = Some((
                        wire::mls_payload(state.commit_id, Bytes::from(added.commit)),
                        wire::mls_payload(state.commit_id, Bytes::from(added.welcome)),
                    ));
                }
                Err(e) => {
                    self.finish_task(ctx, Err(CompletionError::Security(e.to_string())));
                    return;
                }
            }
        }
        let others = self.roster.online_except(None);
        self.roster.add(invitee.clone(), member_ref, ctx.now);
        if self.config.kind == SessionKind::Group {
            // From this commit on, group data is encrypted for the invitee and reaches it on
            // the channel: track its acknowledgements from here, so that every message it
            // can read is retransmitted to it if needed (not only those sent after its
            // welcome was acknowledged).
            let mut fx = self.effects();
            self.sender.add_endpoint(ctx.now, invitee.clone(), &mut fx);
            self.apply(ctx, fx);
        }
        let roster = self.roster.to_wire(&self.me);
        let mut waiting = 1;
        if !others.is_empty()
            && let Some(control) = self.control_channel.clone()
        {
            let update = wire::group_update(
                GroupUpdateOp::Add,
                wire::participant(&invitee, true),
                roster.clone(),
                mls_payloads.as_ref().map(|(commit, _)| commit.clone()),
            );
            let id = ctx.request_id();
            let out = self
                .envelope(&control, MAX_FANOUT)
                .command(T::GroupUpdate, id, update);
            self.request(ctx, out, others, false, Purpose::Update);
            waiting += 1;
        }
        let welcome = wire::group_welcome(roster, mls_payloads.map(|(_, welcome)| welcome));
        let id = ctx.request_id();
        let out = self
            .envelope(&invitee, 1)
            .command(T::GroupWelcome, id, welcome);
        self.request(ctx, out, vec![invitee.clone()], false, Purpose::Welcome);
        self.set_step(Step::Welcoming { invitee, waiting });
    }

    /// The invitee acknowledged its welcome: it is a full member.
    pub(super) fn welcomed(&mut self, ctx: &mut Ctx<'_>, invitee: &Name) {
        let mut fx = self.effects();
        self.sender.add_endpoint(ctx.now, invitee.clone(), &mut fx);
        self.roster.heard(invitee, ctx.now);
        self.liveness.enable(ctx.now);
        ctx.io.events.push_back(Event::Participant {
            session: self.id,
            name: invitee.clone(),
            change: ParticipantChange::Joined,
        });
        self.apply(ctx, fx);
    }

    /// An invitee that never acknowledged its welcome is removed again (quietly).
    pub(super) fn undo_invite(&mut self, invitee: &Name) {
        if self.config.kind == SessionKind::PointToPoint {
            return; // the session fails as a whole
        }
        if let Some(tasks) = self.tasks.as_mut() {
            tasks.queue.push_front(Task::Remove {
                name: invitee.clone(),
                completion: None,
                notify: false,
            });
        }
    }

    /// Starts a removal.
    pub(super) fn begin_remove(&mut self, ctx: &mut Ctx<'_>, name: &Name, notify: bool) -> Begin {
        let Some(member) = self.roster.get(name).cloned() else {
            return Begin::Done(Err(CompletionError::NotMember(name.clone())));
        };
        let mut commit = None;
        if let Some(state) = self.mls.as_mut()
            && let Some(group) = state.group_mut()
            && let Some(leaf) = member.mls.clone()
        {
            match group.remove_member(&leaf, ctx.wall()) {
                Ok(c) => {
                    state.commit_id = state.commit_id.wrapping_add(1);
                    commit = Some(wire::mls_payload(state.commit_id, Bytes::from(c)));
                }
                Err(e) => return Begin::Done(Err(CompletionError::Security(e.to_string()))),
            }
        }
        self.member_left(ctx, &member.name);
        let others = self.roster.online_except(None);
        if !others.is_empty()
            && let Some(control) = self.control_channel.clone()
        {
            let update = wire::group_update(
                GroupUpdateOp::Remove,
                wire::participant(&member.name, false),
                self.roster.to_wire(&self.me),
                commit,
            );
            let id = ctx.request_id();
            let out = self
                .envelope(&control, MAX_FANOUT)
                .command(T::GroupUpdate, id, update);
            self.request(ctx, out, others, false, Purpose::Update);
            return Begin::Wait(Step::Updating {
                member: member.name,
                then_leave: notify,
            });
        }
        if notify {
            self.send_leave_request_now(ctx, &member.name);
            return Begin::Wait(Step::Leaving);
        }
        Begin::Done(Ok(()))
    }

    pub(super) fn send_leave_request(&mut self, ctx: &mut Ctx<'_>, member: Name) {
        self.send_leave_request_now(ctx, &member);
        self.set_step(Step::Leaving);
    }

    pub(super) fn send_leave_request_now(&mut self, ctx: &mut Ctx<'_>, member: &Name) {
        let id = ctx.request_id();
        let out = self
            .envelope(member, 1)
            .command(T::LeaveRequest, id, wire::leave_request());
        self.request(ctx, out, vec![member.clone()], false, Purpose::LeaveMember);
    }

    /// Starts a rejoin.
    pub(super) fn begin_rejoin(
        &mut self,
        ctx: &mut Ctx<'_>,
        member: &Name,
        key_package: &Bytes,
        request_id: u32,
    ) -> Begin {
        let not_possible = Begin::Done(Err(CompletionError::NotMember(member.clone())));
        let Some(leaf) = self.roster.get(member).map(|m| m.mls.clone()) else {
            return not_possible;
        };
        let Some(state) = self.mls.as_mut() else {
            return not_possible;
        };
        let Some(group) = state.group_mut() else {
            return not_possible;
        };
        let added = match leaf {
            Some(leaf) => group.rejoin_member(&leaf, key_package, ctx.wall()),
            None => group.add_member(key_package, ctx.wall()),
        };
        let added = match added {
            Ok(a) => a,
            Err(e) => {
                debug!(session = %self.id, error = %e, "rejoin failed");
                return Begin::Done(Err(CompletionError::Security(e.to_string())));
            }
        };
        state.commit_id = state.commit_id.wrapping_add(1);
        let commit_id = state.commit_id;
        if let Some(m) = self.roster.get_mut(member) {
            m.mls = Some(added.member);
        }
        self.member_online(ctx, member);
        let reply = self.envelope(member, 1).command(
            T::RejoinReply,
            request_id,
            wire::rejoin_reply(commit_id, Bytes::from(added.welcome)),
        );
        self.request(
            ctx,
            reply,
            vec![member.clone()],
            false,
            Purpose::RejoinReply,
        );
        let mut waiting = 1;
        let others = self.roster.online_except(Some(member));
        if !others.is_empty()
            && let Some(control) = self.control_channel.clone()
        {
            let update = wire::group_update(
                GroupUpdateOp::Rejoin,
                wire::participant(member, true),
                self.roster.to_wire(&self.me),
                Some(wire::mls_payload(commit_id, Bytes::from(added.commit))),
            );
            let id = ctx.request_id();
            let out = self
                .envelope(&control, MAX_FANOUT)
                .command(T::GroupUpdate, id, update);
            self.request(ctx, out, others, false, Purpose::Update);
            waiting += 1;
        }
        Begin::Wait(Step::Rejoining { waiting })
    }

    /// RejoinRequest from a member behind on epochs.
    pub(in crate::session) fn on_rejoin_request(&mut self, ctx: &mut Ctx<'_>, message: &Inbound) {
        if self.role != Role::Moderator || self.roster.get(&message.source).is_none() {
            return;
        }
        let Some(C::RejoinRequest(request)) = message.command() else {
            return;
        };
        let duplicate = self.tasks.as_ref().is_some_and(|t| {
            t.current
                .iter()
                .map(|(task, _)| task)
                .chain(t.queue.iter())
                .any(|task| matches!(task, Task::Rejoin { request_id, .. } if *request_id == message.message_id))
        });
        let full = self
            .tasks
            .as_ref()
            .is_some_and(|t| t.queue.len() >= MAX_QUEUED_TASKS);
        if duplicate || full || self.control.is_pending(message.message_id) {
            return;
        }
        self.enqueue(
            ctx,
            Task::Rejoin {
                member: message.source.clone(),
                key_package: request.key_package.clone(),
                request_id: message.message_id,
            },
        );
    }
}

/// The MLS group id of a session: unique per moderator and session id.
fn group_id(session: SessionId, moderator: &Name) -> Vec<u8> {
    format!("slim/{moderator}/{session}").into_bytes()
}
