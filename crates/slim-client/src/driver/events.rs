//! What the session layer reports, and where each event goes: completions to the handles
//! waiting for them, new sessions to `accept`, readiness to the session channels,
//! subscriptions to the node.

use std::time::Instant;

use slim_session::{CompletionError, CompletionId, Event, SessionInfo};

use super::{Driver, Waiter};
use crate::error::SessionError;
use crate::session::Session;

impl Driver {
    pub(super) fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Readable(session) => self.fill(now, session),
            Event::Writable(session) => self.writable(now, session),
            Event::Completed { id, result } => self.completed(id, result),
            Event::NewSession(info) => self.new_session(now, info),
            Event::SessionClosed { session, reason } => {
                tracing::debug!(%session, ?reason, "session closed");
                self.session_closed(now, session, reason);
            }
            Event::Participant {
                session,
                name,
                change,
            } => tracing::debug!(%session, %name, ?change, "membership changed"),
            Event::Subscribe { name, id } => {
                self.subscriptions.subscribe(&mut self.layer, now, name, id)
            }
            Event::Unsubscribe { name } => self.subscriptions.unsubscribe(name),
        }
    }

    fn completed(&mut self, id: CompletionId, result: Result<(), CompletionError>) {
        let Some(waiter) = self.waiters.remove(&id) else {
            return;
        };
        let result = result.map_err(SessionError::from);
        match waiter {
            Waiter::Publish(done) | Waiter::Op(done) => {
                let _ = done.send(result);
            }
            Waiter::Create { mut parts, reply } => match (result, self.handle_sender()) {
                (Ok(()), Some(commands)) => {
                    // The handshake bound the destination to the peer's instance.
                    if let Some(info) = self.layer.session_info(parts.info.id) {
                        parts.info = info;
                    }
                    // If the caller gave up meanwhile, the handle is dropped here, which
                    // closes the session.
                    let _ = reply.send(Ok(Session::new(*parts, commands)));
                }
                (Ok(()), None) => {
                    let _ = reply.send(Err(SessionError::AppClosed));
                }
                (Err(error), _) => {
                    let reason = parts.shared.close_reason();
                    let _ = reply.send(Err(match error {
                        SessionError::Failed(CompletionError::SessionClosed) => {
                            SessionError::Closed(reason)
                        }
                        other => other,
                    }));
                }
            },
        }
    }

    /// A participant session finished joining: hand it to `accept`, or refuse it when the
    /// application is closing or has too many sessions waiting.
    fn new_session(&mut self, now: Instant, info: SessionInfo) {
        let id = info.id;
        let parts = self.open_entry(info);
        if self.shutdown.is_some() || self.accept_ready.len() >= self.config.accept_queue {
            tracing::warn!(session = %id, "invitation accepted by the protocol but not by the application; closing");
            drop(parts);
            let _ = self.layer.close(now, id);
            return;
        }
        // Callers that gave up are skipped; one that gives up between this check and the
        // send drops the handle, which closes the session (rare, and the peer is told).
        while let Some(waiter) = self.accept_waiting.pop_front() {
            if waiter.is_closed() {
                continue;
            }
            match self.handle_sender() {
                Some(commands) => {
                    let _ = waiter.send(Ok(Session::new(parts, commands)));
                }
                None => {
                    let _ = waiter.send(Err(SessionError::AppClosed));
                }
            }
            return;
        }
        self.accept_ready.push_back(parts);
    }
}
