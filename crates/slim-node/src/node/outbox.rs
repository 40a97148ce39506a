//! [`Outbox`]: the router's outputs turned into (queue, frame) pairs while the router lock is
//! held, then sent after it is released.
//!
//! Resolving under the lock looks up each destination's queue once per batch (one sender
//! clone per destination, not per frame); sending after the lock waits for queue room, which
//! is where a slow consumer slows its producer down without ever blocking the router.

use std::collections::HashMap;

use slim_router::{ConnId, Output};
use slim_transport::{LinkSender, OutFrame};

use super::core::State;
use crate::metrics::{NodeMetrics, kind_index};

/// Destinations per batch below which a linear scan beats a hash lookup.
const LINEAR_TARGETS: usize = 8;

/// Reusable buffers for one task's router outputs.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Where the router writes (a `Vec<Output>` is a router `Sink`).
    pub(crate) outputs: Vec<Output>,
    targets: Vec<(ConnId, LinkSender)>,
    /// Index into `targets` once a batch fans out widely (linear search is faster below).
    target_index: HashMap<ConnId, usize>,
    items: Vec<(usize, OutFrame)>,
    sent: [u64; 5],
    undeliverable: u64,
}

impl Outbox {
    /// Turns the pending outputs into queue sends. Call with the router lock held.
    pub(crate) fn resolve(&mut self, state: &State) {
        // Taken out (and put back, keeping its capacity) so the loop can use `self`.
        let mut outputs = std::mem::take(&mut self.outputs);
        for output in outputs.drain(..) {
            match output {
                Output::Forward { to, frame, ttl } | Output::Send { to, frame, ttl } => {
                    let target = match self.find_target(to) {
                        Some(index) => index,
                        None => match state.sender(to) {
                            Some(sender) => self.add_target(to, sender.clone()),
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
        self.outputs = outputs;
    }

    fn find_target(&self, conn: ConnId) -> Option<usize> {
        if self.targets.len() <= LINEAR_TARGETS {
            self.targets.iter().position(|(c, _)| *c == conn)
        } else {
            self.target_index.get(&conn).copied()
        }
    }

    fn add_target(&mut self, conn: ConnId, sender: LinkSender) -> usize {
        let index = self.targets.len();
        self.targets.push((conn, sender));
        if self.targets.len() == LINEAR_TARGETS + 1 {
            self.target_index = self
                .targets
                .iter()
                .enumerate()
                .map(|(i, (c, _))| (*c, i))
                .collect();
        } else if self.targets.len() > LINEAR_TARGETS {
            self.target_index.insert(conn, index);
        }
        index
    }

    /// Sends everything resolved, waiting for room in each destination queue: each
    /// destination's frames in order and at once (a fan-out's frames would otherwise be
    /// queued one by one, a few atomic operations each). Frames for connections that closed
    /// meanwhile are counted and dropped.
    pub(crate) async fn flush(&mut self, metrics: &NodeMetrics) {
        let mut per_target: Vec<Vec<OutFrame>> = Vec::new();
        per_target.resize_with(self.targets.len(), Vec::new);
        for (target, item) in self.items.drain(..) {
            if let Some(frames) = per_target.get_mut(target) {
                frames.push(item);
            }
        }
        for ((_, sender), frames) in self.targets.iter().zip(per_target) {
            if frames.is_empty() {
                continue;
            }
            if let Err(unsent) = sender.send_many(frames).await {
                self.undeliverable += unsent.0 as u64;
            }
        }
        self.targets.clear();
        self.target_index.clear();
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
        self.target_index.clear();
        self.items.clear();
    }
}
