//! The driver's per-session state: the channel that carries received messages to the
//! session's handles, publishes parked until the layer has room, and the end of a session.
//!
//! Receiving is pull-based end to end. The layer says `Readable`; the driver moves messages
//! into the handle's bounded channel until it is full, then marks the session starved; the
//! handle asks for a refill once it has read half of it. Messages the driver did not move
//! stay in the layer, which stops acknowledging new ones once its own buffer is full: a slow
//! reader slows its sender down, nothing is dropped and nothing grows without bound.
//!
//! A closed session keeps its entry until every message received before the close was
//! handed over (or the handle is gone), then the entry and its channel sender go, which ends
//! the handle's stream.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use slim_session::{CloseReason, PublishError, SessionId, SessionInfo};
use tokio::sync::oneshot;

use super::{Driver, Waiter};
use crate::error::SessionError;
use crate::handover::{HandoverTx, handover};
use crate::session::{PendingPublish, SessionParts, SessionShared};

/// What the driver keeps per session.
pub(crate) struct Entry {
    tx: HandoverTx,
    /// Fire-and-forget: what its layer buffer holds limits reading the link (`intake.rs`).
    unreliable: bool,
    shared: Arc<SessionShared>,
    /// Publishes the layer refused with `WouldBlock`, in order; retried on `Writable`.
    parked: VecDeque<PendingPublish>,
    /// The layer closed the session; the entry lives until its messages are handed over.
    closed: bool,
    /// A close was asked for while publishes were parked: it waits for them to reach the
    /// layer (a graceful close sends everything published before it). Holds who waits.
    close_after_parked: Option<Vec<oneshot::Sender<Result<(), SessionError>>>>,
}

impl Entry {
    /// Marks the session closed for its handles and fails its parked publishes.
    pub(super) fn fail(mut self, reason: CloseReason) {
        self.close(reason);
    }

    fn close(&mut self, reason: CloseReason) {
        self.closed = true;
        for reply in self.close_after_parked.take().into_iter().flatten() {
            let _ = reply.send(Ok(()));
        }
        self.shared.set_closed(reason.clone());
        for publish in self.parked.drain(..) {
            if let Some(done) = publish.done {
                let _ = done.send(Err(SessionError::Closed(Some(reason.clone()))));
            }
        }
    }
}

impl Driver {
    /// Creates the entry of a new session and the parts its handle is made of.
    pub(super) fn open_entry(&mut self, info: SessionInfo) -> SessionParts {
        let buffer = self.config.session_buffer.max(1);
        let (tx, rx) = handover(buffer);
        let shared = Arc::new(SessionShared::new(self.config.publish_queue, buffer));
        self.sessions.insert(
            info.id,
            Entry {
                tx,
                unreliable: !info.config.is_reliable(),
                shared: shared.clone(),
                parked: VecDeque::new(),
                closed: false,
                close_after_parked: None,
            },
        );
        SessionParts { info, rx, shared }
    }

    /// Why a session closed, if the driver still knows it.
    pub(super) fn close_reason(&self, session: SessionId) -> Option<CloseReason> {
        self.sessions
            .get(&session)
            .and_then(|entry| entry.shared.close_reason())
    }

    /// Moves received messages from the layer into the session's channel while it has room,
    /// and notes what stays behind in the layer.
    pub(super) fn fill(&mut self, now: Instant, session: SessionId) {
        let unreliable = self
            .sessions
            .get(&session)
            .is_some_and(|entry| entry.unreliable);
        self.fill_channel(now, session);
        self.note_backlog(session, unreliable);
    }

    fn fill_channel(&mut self, now: Instant, session: SessionId) {
        let Some(entry) = self.sessions.get_mut(&session) else {
            return;
        };
        // Before the messages: a handle that reads them all must find the flag set.
        if self.layer.holds_acks(session) {
            entry.shared.acks_held.store(true, Ordering::Release);
        }
        loop {
            if entry.tx.is_closed() {
                // Nobody reads any more: discard what the layer holds.
                self.layer.recv_into(now, session, usize::MAX, drop);
                break;
            }
            let room = entry.tx.room();
            // One batch per fill: the handles' side pays the cross-core hand-over once. Sized
            // by what the layer holds (messages it had deferred can still join): no
            // allocation when there is nothing, no regrowth for a large batch.
            let mut batch = Vec::with_capacity(room.min(self.layer.readable(session)));
            let taken = self.layer.recv_into(now, session, room, |delivery| {
                batch.push(delivery);
            });
            entry.tx.send(batch);
            if taken < room {
                break;
            }
            // Full: the handle asks for more once it has read enough. If it read everything
            // between our last look and setting the flag, it will not ask: refill here.
            entry.shared.starved.store(true, Ordering::SeqCst);
            if entry.tx.room() == 0 || !entry.shared.starved.swap(false, Ordering::SeqCst) {
                return;
            }
        }
        if entry.closed {
            self.sessions.remove(&session);
        }
    }

    /// A publish from a handle: to the layer now, or parked behind earlier ones.
    pub(super) fn publish(&mut self, now: Instant, session: SessionId, publish: PendingPublish) {
        let Some(entry) = self.sessions.get_mut(&session) else {
            fail_publish(publish, SessionError::Closed(None));
            return;
        };
        if entry.closed {
            let reason = entry.shared.close_reason();
            fail_publish(publish, SessionError::Closed(reason));
            return;
        }
        if entry.close_after_parked.is_some() {
            fail_publish(publish, SessionError::Publish(PublishError::Closing));
            return;
        }
        if !entry.parked.is_empty() {
            entry.parked.push_back(publish);
            return;
        }
        if let Some(refused) = self.offer(now, session, publish)
            && let Some(entry) = self.sessions.get_mut(&session)
        {
            entry.parked.push_back(refused);
        }
    }

    /// The layer can accept publishes again: retry the parked ones in order, then run a
    /// close that waited for them.
    pub(super) fn writable(&mut self, now: Instant, session: SessionId) {
        while let Some(publish) = self
            .sessions
            .get_mut(&session)
            .and_then(|entry| entry.parked.pop_front())
        {
            if let Some(refused) = self.offer(now, session, publish) {
                if let Some(entry) = self.sessions.get_mut(&session) {
                    entry.parked.push_front(refused);
                }
                return;
            }
        }
        let waiting = self
            .sessions
            .get_mut(&session)
            .and_then(|entry| entry.close_after_parked.take());
        for reply in waiting.into_iter().flatten() {
            self.close_now(now, session, reply);
        }
        if let Some(entry) = self.sessions.get_mut(&session)
            && entry.close_after_parked.is_some()
        {
            // Only a dropped handle asked (no one waits): close without a reply.
            entry.close_after_parked = None;
            let _ = self.layer.close(now, session);
        }
    }

    /// A graceful close asked by a handle: now, or once the parked publishes are in the
    /// layer. `reply` is `None` when the last handle was dropped.
    pub(super) fn close(
        &mut self,
        now: Instant,
        session: SessionId,
        reply: Option<oneshot::Sender<Result<(), SessionError>>>,
    ) {
        match self.sessions.get_mut(&session) {
            Some(entry) if !entry.closed && !entry.parked.is_empty() => {
                entry
                    .close_after_parked
                    .get_or_insert_with(Vec::new)
                    .extend(reply);
            }
            _ => match reply {
                Some(reply) => self.close_now(now, session, reply),
                None => {
                    let _ = self.layer.close(now, session);
                }
            },
        }
    }

    fn close_now(
        &mut self,
        now: Instant,
        session: SessionId,
        reply: oneshot::Sender<Result<(), SessionError>>,
    ) {
        match self.layer.close(now, session) {
            Ok(completion) => {
                self.waiters.insert(completion, Waiter::Op(reply));
            }
            Err(_) => {
                let _ = reply.send(Err(SessionError::Closed(self.close_reason(session))));
            }
        }
    }

    /// Gives one publish to the layer; hands it back when the layer has no room.
    fn offer(
        &mut self,
        now: Instant,
        session: SessionId,
        publish: PendingPublish,
    ) -> Option<PendingPublish> {
        let PendingPublish {
            payload,
            to,
            done,
            _permit,
        } = publish;
        match self.layer.try_publish(now, session, to.as_ref(), payload) {
            Ok(completion) => {
                if let Some(done) = done {
                    self.waiters.insert(completion, Waiter::Publish(done));
                }
                None
            }
            Err((error, payload)) => {
                let publish = PendingPublish {
                    payload,
                    to,
                    done,
                    _permit,
                };
                if error == PublishError::WouldBlock {
                    return Some(publish);
                }
                fail_publish(publish, error.into());
                None
            }
        }
    }

    /// The layer closed a session.
    pub(super) fn session_closed(&mut self, now: Instant, session: SessionId, reason: CloseReason) {
        if let Some(entry) = self.sessions.get_mut(&session) {
            entry.close(reason);
        }
        // Hands over what arrived before the close; removes the entry once all is read.
        self.fill(now, session);
    }

    /// The last handle of a session is gone: close it (gracefully) and forget its messages.
    pub(super) fn handle_dropped(&mut self, now: Instant, session: SessionId) {
        let Some(entry) = self.sessions.get(&session) else {
            return;
        };
        if !entry.closed {
            self.close(now, session, None);
        }
        self.fill(now, session);
    }
}

fn fail_publish(publish: PendingPublish, error: SessionError) {
    if let Some(done) = publish.done {
        let _ = done.send(Err(error));
    }
}
