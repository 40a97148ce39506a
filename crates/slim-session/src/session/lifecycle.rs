//! Channel subscriptions requested from the driver, and the end of a session: graceful close
//! (drain, then leave or close the group), immediate termination, final bookkeeping.

use slim_wire::Name;
use tracing::{debug, warn};

use super::{Phase, Session};
use crate::event::{CloseReason, CompletionError, CompletionId, Event, Role, SubscriptionId};
use crate::io::Ctx;

impl Session {
    /// Asks the driver to subscribe `name`; returns the request id.
    pub(super) fn subscribe(&mut self, ctx: &mut Ctx<'_>, name: Name) -> SubscriptionId {
        let id = ctx.io.subscription(self.id);
        ctx.io.events.push_back(Event::Subscribe {
            name: name.clone(),
            id,
        });
        self.subscriptions.push((id, name, false));
        id
    }

    /// Drops every channel subscription.
    pub(super) fn unsubscribe_all(&mut self, ctx: &mut Ctx<'_>) {
        for (id, name, _) in self.subscriptions.drain(..) {
            // Forgotten by the router too: a late answer is then counted as stale by the
            // layer, and a moderator that gives up its channels on every failed invite does
            // not grow the map until the session closes.
            ctx.io.subscribers.remove(&id);
            ctx.io.events.push_back(Event::Unsubscribe { name });
        }
    }

    /// The driver confirmed (or refused) a subscription.
    pub fn on_subscribed(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: SubscriptionId,
        result: Result<(), String>,
    ) {
        let Some(entry) = self.subscriptions.iter_mut().find(|(s, _, _)| *s == id) else {
            // Its channel was given up (a moderator drops both on a refusal or timeout).
            ctx.io.stats.stale_subscription_answers += 1;
            let ok = result.is_ok();
            debug!(session = %self.id, ?id, ok, "answer for a dropped subscription");
            return;
        };
        // The node answers each request once, so the first answer decides. A second one is
        // the driver repeating or delaying an answer, not news about the channel: by now the
        // session may be long established on it (a member's join done, the group running),
        // and ending it, or joining again, on a stray answer would hurt a working session.
        // Keeping channels subscribed across reconnects is the driver's job, and a member
        // that stops hearing the group is found by heartbeats.
        if entry.2 {
            ctx.io.stats.stale_subscription_answers += 1;
            let ok = result.is_ok();
            let channel = &entry.1;
            debug!(session = %self.id, %channel, ok, "answer for a confirmed subscription");
            return;
        }
        if let Err(error) = result {
            warn!(session = %self.id, channel = %entry.1, %error, "subscription refused");
            self.subscription_failed(ctx, error);
            return;
        }
        entry.2 = true;
        if self.subscriptions.iter().all(|(_, _, ok)| *ok) {
            self.subscriptions_ready(ctx);
        }
    }

    pub(super) fn subscriptions_ready(&mut self, ctx: &mut Ctx<'_>) {
        match self.role {
            Role::Moderator => self.moderator_subscribed(ctx),
            Role::Participant => self.participant_subscribed(ctx),
        }
    }

    pub(super) fn subscription_failed(&mut self, ctx: &mut Ctx<'_>, error: String) {
        match self.role {
            Role::Moderator => self.moderator_subscription_failed(ctx, error),
            Role::Participant => self.terminate(
                ctx,
                CloseReason::Failed(format!("subscription refused: {error}")),
            ),
        }
    }

    /// Starts a graceful close: drain outstanding data (bounded), then leave (participant) or
    /// close the group (moderator).
    pub fn close(&mut self, ctx: &mut Ctx<'_>, completion: CompletionId) {
        self.on_close.push(completion);
        if self.is_closing() {
            return;
        }
        if let Some(tasks) = self.tasks.as_mut() {
            for (id, result) in tasks.abort() {
                ctx.io.complete(id, result);
            }
        }
        self.control.clear();
        if matches!(self.phase, Phase::Joining { .. }) {
            self.terminate(ctx, CloseReason::Local);
            return;
        }
        self.phase = Phase::Draining {
            deadline: ctx.now + ctx.config.drain_timeout,
        };
        if self.sender.is_idle() {
            self.drained(ctx);
        }
    }

    /// Data is acknowledged (or the drain deadline passed): run the final exchange.
    pub(super) fn drained(&mut self, ctx: &mut Ctx<'_>) {
        self.phase = Phase::Leaving;
        let mut fx = self.effects();
        self.sender.abort(&mut fx);
        self.apply(ctx, fx);
        self.liveness.disable();
        match self.role {
            Role::Moderator => self.send_group_close(ctx),
            Role::Participant => self.send_leave(ctx),
        }
    }

    /// Ends the session now, without further exchange.
    pub(super) fn terminate(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        if let Some(tasks) = self.tasks.as_mut() {
            for (id, result) in tasks.abort() {
                ctx.io.complete(id, result);
            }
        }
        self.finish_close(ctx, reason);
    }

    /// Final bookkeeping: unsubscribe, fail what is pending, announce the close.
    pub(super) fn finish_close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        // What was received is acknowledged, or its senders would retry until they give up.
        self.flush_acks(ctx);
        self.control.clear();
        let mut fx = self.effects();
        self.sender.abort(&mut fx);
        self.apply(ctx, fx);
        self.unsubscribe_all(ctx);
        self.liveness.disable();
        self.deferred.clear();
        // The close is announced before the closes waiting on it complete, so whoever
        // resolves a `close()` on the completion already sees the session closed.
        ctx.io.events.push_back(Event::SessionClosed {
            session: self.id,
            reason: reason.clone(),
        });
        for id in self.on_close.drain(..) {
            ctx.io.complete(id, Ok(()));
        }
        self.phase = Phase::Closed(reason);
    }

    /// Fails the session's pending completions that a close cannot honour.
    pub(super) fn fail(ctx: &mut Ctx<'_>, id: Option<CompletionId>, error: CompletionError) {
        if let Some(id) = id {
            ctx.io.complete(id, Err(error));
        }
    }
}
