//! Group calls (scatter-gather): one unary request to several named servers at once, their
//! replies gathered under a [`Policy`], each reply attributed to the member that sent it.
//!
//! A [`GroupChannel`] opens one group session (a channel name of its own, the members
//! invited, MLS on by default) and sends each call's request once, to everyone. Every
//! member's server runs the handler and answers the caller alone; the caller collects the
//! replies by sender until the policy is satisfied, then cancels the call for the members
//! still working (one cancellation frame to the group: members that already answered ignore
//! it, the others stop their handlers). A member's failure is its own entry in the result,
//! never the whole call's, unless the policy can no longer be met.
//!
//! Upstream's group RPC waits for every member; [`Policy::All`] is that behaviour.

use std::sync::Arc;

use slim_client::{App, Name};

use crate::client::link::Received;
use crate::client::{CallOptions, ChannelConfig, ChannelCore, Started, Target};
use crate::codec::Codec;
use crate::status::Status;
use crate::wire::{self, FrameKind, Method};

/// How many replies a group call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Every member's outcome. Fails with `DEADLINE_EXCEEDED` (naming the members missing)
    /// if the deadline passes first.
    All,
    /// The first success; the other members are cancelled. Fails only when every member
    /// failed (or the deadline passed with no success).
    FirstSuccess,
    /// The first `k` successes; the other members are cancelled. Fails as soon as `k`
    /// successes became impossible, or at the deadline.
    Quorum(usize),
    /// Whatever arrived by the deadline (members that had not answered are listed as
    /// missing); returns early if every member answered. Never fails for lack of replies.
    PartialOnDeadline,
}

/// One member's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberReply<T> {
    /// The member, as it answered (with its instance id).
    pub member: Name,
    /// Its response or its failure.
    pub result: Result<T, Status>,
}

/// What a group call gathered.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupReplies<T> {
    /// Outcomes in arrival order.
    pub replies: Vec<MemberReply<T>>,
    /// Members that had not answered when the call ended (cancelled stragglers, or late at
    /// the deadline), as they were named to the channel.
    pub missing: Vec<Name>,
}

impl<T> GroupReplies<T> {
    /// The successful replies.
    pub fn successes(&self) -> impl Iterator<Item = (&Name, &T)> {
        self.replies
            .iter()
            .filter_map(|r| r.result.as_ref().ok().map(|value| (&r.member, value)))
    }

    /// The failed replies.
    pub fn failures(&self) -> impl Iterator<Item = (&Name, &Status)> {
        self.replies
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|status| (&r.member, status)))
    }
}

/// A channel to several named servers sharing one group session. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GroupChannel {
    core: Arc<ChannelCore>,
    members: Vec<Name>,
}

impl GroupChannel {
    /// A group channel `channel` (a name of the caller's choosing, unique to this group) with
    /// these members, default settings (reliable, MLS). Nothing is sent until the first
    /// call or [`GroupChannel::connect`].
    pub fn new(app: App, channel: Name, members: Vec<Name>) -> GroupChannel {
        GroupChannel::with_config(app, channel, members, ChannelConfig::default())
    }

    /// The same with its own settings.
    pub fn with_config(
        app: App,
        channel: Name,
        members: Vec<Name>,
        config: ChannelConfig,
    ) -> GroupChannel {
        let target = Target::Group {
            channel,
            members: members.clone(),
        };
        GroupChannel {
            core: Arc::new(ChannelCore::new(app, target, config)),
            members,
        }
    }

    /// The members, as given.
    pub fn members(&self) -> &[Name] {
        &self.members
    }

    /// Opens the group session and invites every member now.
    pub async fn connect(&self) -> Result<(), Status> {
        self.core.link().await.map(|_| ())
    }

    /// Closes the group session.
    pub async fn close(&self) {
        self.core.close().await
    }

    /// A unary call to every member, gathered under `policy`.
    pub async fn unary<C: Codec>(
        &self,
        method: &Method,
        request: &C::Encode,
        policy: Policy,
        options: &CallOptions,
    ) -> Result<GroupReplies<C::Decode>, Status> {
        if let Policy::Quorum(k) = policy
            && (k == 0 || k > self.members.len())
        {
            return Err(Status::invalid_argument(format!(
                "quorum {k} of {} members",
                self.members.len()
            )));
        }
        let blob = C::encode(request)?;
        let Started {
            mut guard,
            mut rx,
            header,
            deadline,
        } = self.core.start(method, options, false).await?;
        let frame = wire::request_data(guard.rpc_id(), blob, Some(&header));
        guard.link().send(frame).await?;
        let mut gather = Gather::<C::Decode>::new(&self.members, policy);
        let ended = loop {
            let received = tokio::select! {
                received = rx.recv() => received,
                () = tokio::time::sleep_until(deadline.local) => break End::Deadline,
            };
            let Some(received) = received else {
                break End::Failed(Status::unavailable("the group session ended"));
            };
            // Past the deadline nothing more is gathered, even if the timer has not been
            // served yet (a busy runtime, or both ready in one poll). Above all, a member's
            // own DEADLINE_EXCEEDED for this call (its deadline is ours, from the wire) is
            // no answer, not a failure: it must not win the race against our timer.
            if tokio::time::Instant::now() >= deadline.local {
                break End::Deadline;
            }
            if let Some(end) = gather.on_frame::<C>(received) {
                break end;
            }
        };
        let result = gather.finish(ended);
        if gather.pending.is_empty() {
            guard.finish();
        } else {
            guard.cancel(Status::cancelled("the group call's policy was settled"));
        }
        result
    }
}

/// How the gathering stopped.
enum End {
    /// The policy is satisfied.
    Done,
    /// The policy can no longer be met.
    Failed(Status),
    /// The deadline passed.
    Deadline,
}

/// The replies gathered so far and what is still expected.
struct Gather<T> {
    policy: Policy,
    replies: Vec<MemberReply<T>>,
    /// Members that have not answered yet.
    pending: Vec<Name>,
    successes: usize,
}

impl<T> Gather<T> {
    fn new(members: &[Name], policy: Policy) -> Self {
        Gather {
            policy,
            replies: Vec::new(),
            pending: members.to_vec(),
            successes: 0,
        }
    }

    /// Records one frame; `Some` once the policy is settled.
    fn on_frame<C: Codec<Decode = T>>(&mut self, received: Received) -> Option<End> {
        let Some(index) = self
            .pending
            .iter()
            .position(|member| member.same_service(&received.source))
        else {
            // Not a member we wait for (or a second frame of one that answered).
            return None;
        };
        let result = match received.kind {
            // A unary reply: the data frame, then its end (which then finds no pending
            // member). An OK end with a payload is an old upstream unary reply.
            FrameKind::Data(blob) | FrameKind::End(Ok(blob)) => C::decode(blob)
                .map_err(|status| Status::internal(format!("response: {}", status.message()))),
            FrameKind::End(Err(status)) => Err(status),
        };
        self.pending.swap_remove(index);
        if result.is_ok() {
            self.successes += 1;
        }
        self.replies.push(MemberReply {
            member: received.source,
            result,
        });
        self.settled()
    }

    fn settled(&self) -> Option<End> {
        let answered_all = self.pending.is_empty();
        match self.policy {
            Policy::All | Policy::PartialOnDeadline => answered_all.then_some(End::Done),
            Policy::FirstSuccess if self.successes >= 1 => Some(End::Done),
            Policy::FirstSuccess => answered_all.then(|| End::Failed(self.no_success(1))),
            Policy::Quorum(k) if self.successes >= k => Some(End::Done),
            Policy::Quorum(k) => {
                (self.successes + self.pending.len() < k).then(|| End::Failed(self.no_success(k)))
            }
        }
    }

    fn no_success(&self, needed: usize) -> Status {
        let failures: Vec<String> = self
            .replies
            .iter()
            .filter_map(|r| {
                r.result
                    .as_ref()
                    .err()
                    .map(|s| format!("{}: {s}", r.member))
            })
            .collect();
        Status::unavailable(format!(
            "{} of {needed} successes needed; failures: [{}]",
            self.successes,
            failures.join("; ")
        ))
    }

    fn finish(&mut self, end: End) -> Result<GroupReplies<T>, Status> {
        let missing = self.pending.clone();
        match end {
            End::Failed(status) => Err(status),
            End::Deadline if self.policy != Policy::PartialOnDeadline => {
                let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
                Err(Status::deadline_exceeded(format!(
                    "{} successes by the deadline; no answer from [{}]",
                    self.successes,
                    names.join(", ")
                )))
            }
            End::Done | End::Deadline => Ok(GroupReplies {
                replies: std::mem::take(&mut self.replies),
                missing,
            }),
        }
    }
}
