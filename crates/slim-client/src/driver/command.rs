//! What application handles ask the driver ([`Command`]), and how each request is served.

use std::time::Instant;

use slim_session::{CommandError, ParticipantInfo, SessionConfig, SessionId};
use slim_wire::Name;
use tokio::sync::oneshot;

use super::{Driver, Waiter};
use crate::error::SessionError;
use crate::session::{PendingPublish, Session};

/// A membership or lifecycle operation on one session, answered when it completed.
#[derive(Debug)]
pub(crate) enum SessionOp {
    Invite(Name),
    Remove(Name),
    Close,
    SoftClose,
    Rejoin,
}

/// A request from an application handle.
pub(crate) enum Command {
    /// Create a session as its moderator; answered when its handshake finished.
    Create {
        config: SessionConfig,
        destination: Name,
        reply: oneshot::Sender<Result<Session, SessionError>>,
    },
    /// Take the next session another application invited us to.
    Accept {
        reply: oneshot::Sender<Result<Session, SessionError>>,
    },
    /// An operation on one session.
    Op {
        session: SessionId,
        op: SessionOp,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    /// Publish (holding a publish-queue permit).
    Publish {
        session: SessionId,
        publish: PendingPublish,
    },
    /// The roster of a session.
    Participants {
        session: SessionId,
        reply: oneshot::Sender<Result<Vec<ParticipantInfo>, SessionError>>,
    },
    /// Answer discovery for another name (already subscribed at the node), or stop.
    LocalName { name: Name, add: bool },
    /// A session handle read enough to take more messages.
    Refill(SessionId),
    /// A session handle read everything and waits: send the acknowledgements held back.
    Idle(SessionId),
    /// The last handle of a session was dropped.
    Dropped(SessionId),
    /// The session layer's counters.
    Stats {
        reply: oneshot::Sender<slim_session::Stats>,
    },
    /// Close every session and stop; answered when done.
    Shutdown { reply: oneshot::Sender<()> },
}

impl Driver {
    pub(super) fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Create {
                config,
                destination,
                reply,
            } => self.create(now, config, destination, reply),
            Command::Accept { reply } => self.accept(reply),
            Command::Op { session, op, reply } => self.op(now, session, op, reply),
            Command::Publish { session, publish } => self.publish(now, session, publish),
            Command::Participants { session, reply } => {
                let result = self
                    .layer
                    .participants(session)
                    .ok_or_else(|| SessionError::Closed(self.close_reason(session)));
                let _ = reply.send(result);
            }
            Command::LocalName { name, add } => {
                if add {
                    self.layer.add_local_name(name);
                } else {
                    self.layer.remove_local_name(&name);
                }
            }
            Command::Refill(session) => self.fill(now, session),
            Command::Idle(session) => self.layer.flush_acks(now, session),
            Command::Dropped(session) => self.handle_dropped(now, session),
            Command::Stats { reply } => {
                let _ = reply.send(self.layer.stats().clone());
            }
            Command::Shutdown { reply } => self.begin_shutdown(now, Some(reply)),
        }
    }

    fn create(
        &mut self,
        now: Instant,
        config: SessionConfig,
        destination: Name,
        reply: oneshot::Sender<Result<Session, SessionError>>,
    ) {
        if self.shutdown.is_some() {
            let _ = reply.send(Err(SessionError::AppClosed));
            return;
        }
        let (id, completion) = match self.layer.create_session(now, config, destination) {
            Ok(created) => created,
            Err(error) => {
                let _ = reply.send(Err(error.into()));
                return;
            }
        };
        let Some(info) = self.layer.session_info(id) else {
            let _ = reply.send(Err(SessionError::Closed(None)));
            return;
        };
        let parts = self.open_entry(info);
        self.waiters.insert(
            completion,
            Waiter::Create {
                parts: Box::new(parts),
                reply,
            },
        );
    }

    fn accept(&mut self, reply: oneshot::Sender<Result<Session, SessionError>>) {
        if let Some(parts) = self.accept_ready.pop_front() {
            match self.handle_sender() {
                Some(commands) => {
                    let _ = reply.send(Ok(Session::new(parts, commands)));
                }
                None => {
                    let _ = reply.send(Err(SessionError::AppClosed));
                }
            }
            return;
        }
        if self.shutdown.is_some() {
            let _ = reply.send(Err(SessionError::AppClosed));
            return;
        }
        // Forget callers that gave up, so the queue stays as long as the live waiters.
        self.accept_waiting.retain(|waiter| !waiter.is_closed());
        self.accept_waiting.push_back(reply);
    }

    fn op(
        &mut self,
        now: Instant,
        session: SessionId,
        op: SessionOp,
        reply: oneshot::Sender<Result<(), SessionError>>,
    ) {
        let result = match op {
            SessionOp::Invite(name) => self.layer.invite(now, session, name),
            SessionOp::Remove(name) => self.layer.remove(now, session, name),
            SessionOp::Close => {
                self.close(now, session, Some(reply));
                return;
            }
            SessionOp::SoftClose => self.layer.soft_close(now, session),
            SessionOp::Rejoin => self.layer.rejoin(now, session),
        };
        match result {
            Ok(completion) => {
                self.waiters.insert(completion, Waiter::Op(reply));
            }
            Err(CommandError::UnknownSession(_)) => {
                let _ = reply.send(Err(SessionError::Closed(self.close_reason(session))));
            }
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
    }
}
