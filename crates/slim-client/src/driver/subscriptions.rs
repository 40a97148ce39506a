//! Channel subscriptions the session layer asks for ([`slim_session::Event::Subscribe`]),
//! counted per name and carried out in order by a worker task.
//!
//! Two sessions may need the same name, and a session may drop a name and another take it
//! again before the node answered: the table counts users per name, subscribes on the first
//! and unsubscribes after the last, and tags each request with a generation so that a late
//! answer to an older request is never taken for the current one. The worker sends requests
//! one at a time through the data-plane client (which restores them after a reconnect), so a
//! subscribe and the unsubscribe after it reach the node in that order.

use std::collections::HashMap;
use std::time::Instant;

use slim_session::{SessionLayer, SubscriptionId};
use slim_wire::{Name, NameKey};
use tokio::sync::mpsc;

use crate::dataplane::SubscribeError;
use crate::uplink::Uplink;

/// A request for the worker.
#[derive(Debug)]
pub(crate) enum SubRequest {
    Subscribe { name: Name, generation: u64 },
    Unsubscribe { name: Name },
}

/// The node's answer to one subscribe.
#[derive(Debug)]
pub(crate) struct SubResult {
    key: NameKey,
    generation: u64,
    result: Result<(), String>,
}

struct Entry {
    users: usize,
    generation: u64,
    /// Layer requests waiting for the node's answer; `None` once it answered.
    waiting: Option<Vec<SubscriptionId>>,
}

/// The driver's table of channel subscriptions.
pub(crate) struct Subscriptions {
    names: HashMap<NameKey, Entry>,
    worker: mpsc::UnboundedSender<SubRequest>,
    next_generation: u64,
}

impl Subscriptions {
    pub(crate) fn new(worker: mpsc::UnboundedSender<SubRequest>) -> Self {
        Subscriptions {
            names: HashMap::new(),
            worker,
            next_generation: 0,
        }
    }

    /// The layer wants `name`; confirms at once when it is already subscribed.
    pub(crate) fn subscribe(
        &mut self,
        layer: &mut SessionLayer,
        now: Instant,
        name: Name,
        id: SubscriptionId,
    ) {
        let key = name.key();
        if let Some(entry) = self.names.get_mut(&key) {
            entry.users += 1;
            match entry.waiting.as_mut() {
                Some(waiting) => waiting.push(id),
                None => layer.subscribed(now, id, Ok(())),
            }
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        if self
            .worker
            .send(SubRequest::Subscribe { name, generation })
            .is_err()
        {
            layer.subscribed(now, id, Err("the application is closing".into()));
            return;
        }
        self.names.insert(
            key,
            Entry {
                users: 1,
                generation,
                waiting: Some(vec![id]),
            },
        );
    }

    /// The layer no longer needs `name`.
    pub(crate) fn unsubscribe(&mut self, name: Name) {
        let key = name.key();
        let Some(entry) = self.names.get_mut(&key) else {
            return;
        };
        entry.users = entry.users.saturating_sub(1);
        if entry.users == 0 {
            self.names.remove(&key);
            let _ = self.worker.send(SubRequest::Unsubscribe { name });
        }
    }

    /// The node answered a subscribe.
    pub(crate) fn on_result(&mut self, layer: &mut SessionLayer, now: Instant, answer: SubResult) {
        let Some(entry) = self.names.get_mut(&answer.key) else {
            return;
        };
        if entry.generation != answer.generation {
            return;
        }
        let waiting = entry.waiting.take().unwrap_or_default();
        if answer.result.is_err() {
            // Not subscribed: the sessions that asked fail; a later request tries again.
            self.names.remove(&answer.key);
        }
        for id in waiting {
            layer.subscribed(now, id, answer.result.clone());
        }
    }
}

/// Carries out subscription requests in order until the driver goes away.
pub(crate) async fn worker(
    uplink: Uplink,
    mut requests: mpsc::UnboundedReceiver<SubRequest>,
    results: mpsc::UnboundedSender<SubResult>,
) {
    while let Some(request) = requests.recv().await {
        match request {
            SubRequest::Subscribe { name, generation } => {
                let result = subscribe(&uplink, &name).await;
                let answer = SubResult {
                    key: name.key(),
                    generation,
                    result,
                };
                if results.send(answer).is_err() {
                    return;
                }
            }
            SubRequest::Unsubscribe { name } => {
                if let Err(error) = uplink.unsubscribe(&name).await {
                    tracing::debug!(%name, %error, "unsubscribe failed");
                }
            }
        }
    }
}

/// Subscribes `name`; while the link is down, waits (bounded) for it to come back first.
async fn subscribe(uplink: &Uplink, name: &Name) -> Result<(), String> {
    match uplink.subscribe(name).await {
        Ok(()) => Ok(()),
        Err(SubscribeError::Disconnected) => {
            let generation = uplink.generation();
            uplink
                .wait_generation(generation + 1, uplink.ack_timeout())
                .await;
            uplink.subscribe(name).await.map_err(|e| e.to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}
