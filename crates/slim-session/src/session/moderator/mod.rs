//! The moderator role: a queue of membership tasks run one at a time, and the group close.
//!
//! Invite (§4.4/§4.5): DiscoveryRequest → DiscoveryReply (binds the invitee's full name) →
//! on the first invite of a group, subscribe to the data and control channels (the driver
//! confirms them within the control retry budget, or the invite fails) and create the MLS
//! group → JoinRequest → JoinReply (key package) → MLS add (commit + welcome) →
//! GroupUpdate(ADD) to the control channel when other members must learn the commit →
//! GroupWelcome to the invitee → every ack received → the invite completes. The completion
//! therefore reports the end of the whole exchange, MLS included.
//!
//! Remove: MLS remove → GroupUpdate(REMOVE) to the remaining members (if any) → LeaveRequest
//! to the removed member → done. A member leaving on its own skips the LeaveRequest.
//!
//! Rejoin (a member back from a soft close at an older epoch): one commit replacing its leaf →
//! RejoinReply (welcome) to it and GroupUpdate(REJOIN) to the others.
//!
//! Whether a GroupUpdate is sent is decided by whether anyone besides the moderator and the
//! member concerned must apply the commit (upstream phrases this as a roster size check).

mod changes;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use slim_wire::proto::SessionMessageType as T;
use slim_wire::{InstanceId, Name};
use tracing::debug;

use super::{Phase, Purpose, Session, Setup};
use crate::config::{SessionConfig, SessionKind};
use crate::error::CommandError;
use crate::event::{CloseReason, CompletionError, CompletionId, Role, SessionId};
use crate::io::Ctx;
use crate::wire::{self, Inbound};

/// Most membership tasks queued behind the running one.
const MAX_QUEUED_TASKS: usize = 1024;

/// A membership task of the moderator.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    /// Invite a name (any instance or a specific one).
    Invite {
        name: Name,
        completion: Option<CompletionId>,
    },
    /// Remove a member; `notify` sends it a LeaveRequest (false when it left by itself).
    Remove {
        name: Name,
        completion: Option<CompletionId>,
        notify: bool,
    },
    /// Re-add a member that fell behind, with its fresh key package.
    Rejoin {
        member: Name,
        key_package: Bytes,
        request_id: u32,
    },
}

impl Task {
    fn completion(&self) -> Option<CompletionId> {
        match self {
            Task::Invite { completion, .. } | Task::Remove { completion, .. } => *completion,
            Task::Rejoin { .. } => None,
        }
    }
}

/// How starting a task went.
enum Begin {
    /// Waiting for the network in this step.
    Wait(Step),
    /// Finished at once with this result.
    Done(Result<(), CompletionError>),
}

/// Where the running task is. `Subscribing` waits for the driver to confirm the group's
/// channels, and the invite fails at its `deadline`.
#[derive(Debug, Clone)]
enum Step {
    Discovering,
    Subscribing { invitee: Name, deadline: Instant },
    Joining { invitee: Name },
    Welcoming { invitee: Name, waiting: u8 },
    Updating { member: Name, then_leave: bool },
    Leaving,
    Rejoining { waiting: u8 },
}

/// The moderator's task queue.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    queue: VecDeque<Task>,
    current: Option<(Task, Step)>,
    /// Group: channels subscribed and MLS group created.
    joined: bool,
}

impl Tasks {
    /// Fails the running and queued tasks (session closing).
    pub fn abort(&mut self) -> Vec<(CompletionId, Result<(), CompletionError>)> {
        let current = self.current.take().map(|(t, _)| t);
        current
            .into_iter()
            .chain(self.queue.drain(..))
            .filter_map(|t| t.completion())
            .map(|c| (c, Err(CompletionError::SessionClosed)))
            .collect()
    }
}

impl Session {
    /// Creates a session as its moderator. Point-to-point: starts inviting `destination`
    /// (`completion` resolves when the handshake finished). Group: `destination` is the
    /// channel prefix; nothing is sent until the first invite and `completion` resolves now.
    pub fn new_moderator(
        ctx: &mut Ctx<'_>,
        id: SessionId,
        config: SessionConfig,
        me: Name,
        destination: Name,
        completion: CompletionId,
    ) -> Session {
        let (data, control) = match config.kind {
            SessionKind::PointToPoint => (destination.clone(), None),
            SessionKind::Group => (
                destination.with_id(channel_id(ctx)),
                Some(destination.with_id(channel_id(ctx))),
            ),
        };
        let kind = config.kind;
        let mut session = Session::base(
            ctx,
            Setup {
                id,
                role: Role::Moderator,
                config,
                me: me.clone(),
                moderator: me,
                destination: Some(data),
                control_channel: control,
                phase: Phase::Active,
            },
        );
        session.tasks = Some(Tasks::default());
        match kind {
            SessionKind::PointToPoint => session.enqueue(
                ctx,
                Task::Invite {
                    name: destination,
                    completion: Some(completion),
                },
            ),
            SessionKind::Group => ctx.io.complete(completion, Ok(())),
        }
        session
    }

    /// Moderator command: invite `name` into the group.
    pub fn invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: Name,
        completion: CompletionId,
    ) -> Result<(), CommandError> {
        self.check_moderator_command()?;
        if self.roster.get(&name).is_some() || name == self.me {
            return Err(CommandError::AlreadyMember(name));
        }
        self.enqueue(
            ctx,
            Task::Invite {
                name,
                completion: Some(completion),
            },
        );
        Ok(())
    }

    /// Moderator command: remove a member from the group.
    pub fn remove(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: Name,
        completion: CompletionId,
    ) -> Result<(), CommandError> {
        self.check_moderator_command()?;
        let Some(member) = self.roster.resolve(&name) else {
            return Err(CommandError::NotMember(name));
        };
        let name = member.name.clone();
        self.enqueue(
            ctx,
            Task::Remove {
                name,
                completion: Some(completion),
                notify: true,
            },
        );
        Ok(())
    }

    fn check_moderator_command(&self) -> Result<(), CommandError> {
        if self.role != Role::Moderator {
            return Err(CommandError::NotModerator);
        }
        if self
            .tasks
            .as_ref()
            .is_some_and(|t| t.queue.len() >= MAX_QUEUED_TASKS)
        {
            return Err(CommandError::Busy);
        }
        if self.config.kind != SessionKind::Group {
            return Err(CommandError::WrongKind);
        }
        if self.is_closing() {
            return Err(CommandError::Closing);
        }
        Ok(())
    }

    /// Queues a task and starts it if nothing else runs.
    pub(super) fn enqueue(&mut self, ctx: &mut Ctx<'_>, task: Task) {
        let Some(tasks) = self.tasks.as_mut() else {
            return;
        };
        tasks.queue.push_back(task);
        self.start_next(ctx);
    }

    /// Starts queued tasks until one is waiting on the network.
    fn start_next(&mut self, ctx: &mut Ctx<'_>) {
        loop {
            if self.is_closed() {
                return;
            }
            let Some(tasks) = self.tasks.as_mut() else {
                return;
            };
            if tasks.current.is_some() {
                return;
            }
            let Some(task) = tasks.queue.pop_front() else {
                return;
            };
            let begin = match &task {
                Task::Invite { name, .. } => {
                    let name = name.clone();
                    let id = ctx.request_id();
                    let out = self.envelope(&name, 1).command(
                        T::DiscoveryRequest,
                        id,
                        wire::discovery_request(),
                    );
                    self.request(ctx, out, vec![name], true, Purpose::Discovery);
                    Begin::Wait(Step::Discovering)
                }
                Task::Remove { name, notify, .. } => self.begin_remove(ctx, name, *notify),
                Task::Rejoin {
                    member,
                    key_package,
                    request_id,
                } => self.begin_rejoin(ctx, member, key_package, *request_id),
            };
            match begin {
                Begin::Wait(step) => {
                    if let Some(tasks) = self.tasks.as_mut() {
                        tasks.current = Some((task, step));
                    }
                    return;
                }
                Begin::Done(result) => {
                    if let Some(c) = task.completion() {
                        ctx.io.complete(c, result);
                    }
                }
            }
        }
    }

    /// Ends the running task with `result` and starts the next one.
    fn finish_task(&mut self, ctx: &mut Ctx<'_>, result: Result<(), CompletionError>) {
        let Some(tasks) = self.tasks.as_mut() else {
            return;
        };
        let Some((task, _)) = tasks.current.take() else {
            return;
        };
        let failed_p2p = result.is_err()
            && self.config.kind == SessionKind::PointToPoint
            && matches!(task, Task::Invite { .. });
        if let Some(c) = task.completion() {
            ctx.io.complete(c, result.clone());
        }
        if failed_p2p {
            let reason = match result {
                Err(e) => e.to_string(),
                Ok(()) => String::new(),
            };
            self.terminate(ctx, CloseReason::Failed(reason));
            return;
        }
        self.start_next(ctx);
    }

    fn current_step(&self) -> Option<Step> {
        self.tasks
            .as_ref()
            .and_then(|t| t.current.as_ref())
            .map(|(_, s)| s.clone())
    }

    fn set_step(&mut self, step: Step) {
        if let Some((_, s)) = self.tasks.as_mut().and_then(|t| t.current.as_mut()) {
            *s = step;
        }
    }

    /// When the running task gives up on a wait that no control request bounds (the
    /// driver's confirmation of the channel subscriptions).
    pub(super) fn task_deadline(&self) -> Option<Instant> {
        match self.tasks.as_ref()?.current.as_ref()? {
            (_, Step::Subscribing { deadline, .. }) => Some(*deadline),
            _ => None,
        }
    }

    fn current_task(&self) -> Option<Task> {
        self.tasks
            .as_ref()
            .and_then(|t| t.current.as_ref())
            .map(|(t, _)| t.clone())
    }

    /// Advances the running task after one of its requests finished (`reply` = the last
    /// reply) or expired (`missing` = who never answered).
    pub(super) fn moderator_step(
        &mut self,
        ctx: &mut Ctx<'_>,
        purpose: Purpose,
        reply: Option<&Inbound>,
        missing: Vec<Name>,
    ) {
        let Some(step) = self.current_step() else {
            return;
        };
        // Members that did not acknowledge a group update are unreachable.
        if purpose == Purpose::Update && !missing.is_empty() {
            let mut fx = self.effects();
            for name in &missing {
                self.member_offline(ctx, name, false, &mut fx);
            }
            self.apply(ctx, fx);
        }
        match (step, purpose) {
            (Step::Discovering, Purpose::Discovery) => match reply {
                Some(reply) => self.discovered(ctx, reply.source.clone()),
                None => {
                    let name = match self.current_task() {
                        Some(Task::Invite { name, .. }) => name,
                        _ => self.me.clone(),
                    };
                    self.finish_task(ctx, Err(CompletionError::NoReply(name)));
                }
            },
            (Step::Joining { invitee }, Purpose::Join) => match reply {
                Some(reply) => self.joined_reply(ctx, invitee, reply),
                None => self.finish_task(ctx, Err(CompletionError::NoReply(invitee))),
            },
            (Step::Welcoming { invitee, waiting }, Purpose::Welcome | Purpose::Update) => {
                if purpose == Purpose::Welcome && reply.is_none() {
                    // The invitee never confirmed: undo the addition.
                    self.undo_invite(&invitee);
                    self.finish_task(ctx, Err(CompletionError::NoReply(invitee)));
                    return;
                }
                if purpose == Purpose::Welcome {
                    self.welcomed(ctx, &invitee);
                }
                let waiting = waiting.saturating_sub(1);
                if waiting == 0 {
                    self.finish_task(ctx, Ok(()));
                } else {
                    self.set_step(Step::Welcoming { invitee, waiting });
                }
            }
            (Step::Updating { member, then_leave }, Purpose::Update) => {
                if then_leave {
                    self.send_leave_request(ctx, member);
                } else {
                    self.finish_task(ctx, Ok(()));
                }
            }
            (Step::Leaving, Purpose::LeaveMember) => self.finish_task(ctx, Ok(())),
            (Step::Rejoining { waiting }, Purpose::RejoinReply | Purpose::Update) => {
                let waiting = waiting.saturating_sub(1);
                if waiting == 0 {
                    self.finish_task(ctx, Ok(()));
                } else {
                    self.set_step(Step::Rejoining { waiting });
                }
            }
            (step, purpose) => {
                debug!(session = %self.id, ?step, ?purpose, "reply does not match the running task");
            }
        }
    }

    /// Moderator close: GroupClose to every member, wait for their acks (bounded).
    pub(super) fn send_group_close(&mut self, ctx: &mut Ctx<'_>) {
        let waiting = self.roster.online_except(None);
        let Some((to, fanout)) = self.everyone() else {
            self.finish_close(ctx, CloseReason::Local);
            return;
        };
        if self.roster.is_empty() {
            self.finish_close(ctx, CloseReason::Local);
            return;
        }
        let mut names: Vec<Name> = vec![self.me.clone()];
        names.extend(self.roster.iter().map(|m| m.name.clone()));
        let id = ctx.request_id();
        let out = self
            .envelope(&to, fanout)
            .command(T::GroupClose, id, wire::group_close(&names));
        if waiting.is_empty() {
            self.send(ctx, out);
            self.finish_close(ctx, CloseReason::Local);
        } else {
            self.request(ctx, out, waiting, false, Purpose::Close);
        }
    }
}

/// A random channel instance id outside upstream's reserved range.
fn channel_id(ctx: &mut Ctx<'_>) -> InstanceId {
    loop {
        let id = InstanceId(ctx.rng.r#gen::<u128>());
        if !id.is_reserved() {
            return id;
        }
    }
}
