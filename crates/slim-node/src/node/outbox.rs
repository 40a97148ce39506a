//! [`Outbox`]: the router's outputs turned into (queue, frame) pairs while the router lock is
//! held, then sent after it is released.
//!
//! Resolving under the lock looks up each destination's queue once per batch (one sender
//! clone per destination, not per frame); sending after the lock waits for queue room, which
//! is where a slow consumer slows its producer down without ever blocking the router.

use slim_router::{ConnId, Output};
use slim_transport::{LinkSender, OutFrame};

use super::core::State;
use crate::metrics::{NodeMetrics, kind_index};

/// Reusable buffers for one task's router outputs.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Where the router writes (a `Vec<Output>` is a router `Sink`).
    pub(crate) outputs: Vec<Output>,
    targets: Vec<(ConnId, LinkSender)>,
    items: Vec<(usize, OutFrame)>,
    sent: [u64; 5],
    undeliverable: u64,
}

impl Outbox {
    /// Turns the pending outputs into queue sends. Call with the router lock held.
    pub(crate) fn resolve(&mut self, state: &State) {
        for output in self.outputs.drain(..) {
            match output {
                Output::Forward { to, frame, ttl } | Output::Send { to, frame, ttl } => {
                    let target = match self.targets.iter().position(|(conn, _)| *conn == to) {
                        Some(index) => index,
                        None => match state.sender(to) {
                            Some(sender) => {
                                self.targets.push((to, sender.clone()));
                                self.targets.len() - 1
                            }
                            None => {
                                self.undeliverable += 1;
                                continue;
                            }
                        },
                    };
                    self.sent[kind_index(frame.kind())] += 1;
                    self.items.push((target, OutFrame { frame, ttl }));
                }
                Output::LocalError { to, reason, .. } => {
                    // The node has no in-process applications yet; nothing can be local.
                    tracing::warn!(%to, %reason, "error for a local connection the node does not have");
                }
                Output::Dropped {
                    from,
                    frame,
                    reason,
                } => {
                    tracing::debug!(%from, kind = frame.kind().as_str(), reason = reason.as_str(), "router dropped frame");
                }
            }
        }
    }

    /// Sends everything resolved, waiting for room in each destination queue. Frames for
    /// connections that closed meanwhile are counted and dropped.
    pub(crate) async fn flush(&mut self, metrics: &NodeMetrics) {
        for (target, item) in self.items.drain(..) {
            if let Some((_, sender)) = self.targets.get(target)
                && sender.send(item).await.is_err()
            {
                self.undeliverable += 1;
            }
        }
        self.targets.clear();
        metrics.count_out(&self.sent);
        self.sent = [0; 5];
        if self.undeliverable > 0 {
            metrics.undeliverable.increment(self.undeliverable);
            self.undeliverable = 0;
        }
    }

    /// Forgets everything pending (used when shutting down).
    pub(crate) fn clear(&mut self) {
        self.outputs.clear();
        self.targets.clear();
        self.items.clear();
    }
}
