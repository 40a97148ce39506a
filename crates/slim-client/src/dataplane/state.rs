//! State shared by every handle of a client and its driver task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rand_core::RngCore;
use slim_transport::LinkSender;
use slim_wire::{Name, NameKey};
use tokio::sync::{oneshot, watch};

/// Resolves one subscribe/unsubscribe: `Err` carries the node's error text.
pub(super) type AckWaiter = oneshot::Sender<Result<(), String>>;

pub(super) struct Shared {
    name: Name,
    pub(super) ack_timeout: Duration,
    /// The current link's queue; `None` while disconnected.
    link: ArcSwapOption<LinkSender>,
    /// What is subscribed (and restored after a reconnect): the name, the id last used for
    /// it, and the subscriber named as the source (the client's name, or the application of
    /// a shared connection that subscribed it).
    subscriptions: Mutex<HashMap<NameKey, Subscribed>>,
    /// Requests waiting for their acknowledgement, by subscription id.
    acks: Mutex<HashMap<u64, AckWaiter>>,
    next_id: AtomicU64,
    /// Bumped each time a link is up with its subscriptions restored.
    pub(super) generation: watch::Sender<u64>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("generation", &*self.generation.borrow())
            .finish_non_exhaustive()
    }
}

/// One remembered subscription.
pub(super) struct Subscribed {
    pub(super) name: Name,
    pub(super) id: u64,
    pub(super) source: Name,
}

/// Locks a mutex, ignoring poisoning: the guarded maps stay consistent under every panic
/// that could happen while they are held (none of the code that holds them can panic).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(super) fn new(name: Name, ack_timeout: Duration) -> Self {
        Shared {
            name,
            ack_timeout,
            link: ArcSwapOption::empty(),
            subscriptions: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            // Upstream seeds subscription ids randomly so two clients rarely collide; ids
            // double as loop-prevention keys along the forwarding chain.
            next_id: AtomicU64::new(rand_core::OsRng.next_u64()),
            generation: watch::Sender::new(0),
        }
    }

    pub(super) fn name(&self) -> Name {
        self.name.clone()
    }

    /// A fresh non-zero subscription id.
    pub(super) fn next_subscription_id(&self) -> u64 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    pub(super) fn sender(&self) -> Option<Arc<LinkSender>> {
        self.link.load_full()
    }

    pub(super) fn set_sender(&self, sender: Option<LinkSender>) {
        self.link.store(sender.map(Arc::new));
    }

    pub(super) fn remember(&self, source: Name, name: Name, id: u64) {
        lock(&self.subscriptions).insert(name.key(), Subscribed { name, id, source });
    }

    /// Forgets a subscription; returns it, `None` when there was none.
    pub(super) fn forget(&self, name: &Name) -> Option<Subscribed> {
        lock(&self.subscriptions).remove(&name.key())
    }

    /// Assigns fresh ids to every remembered subscription and returns them, for a restore.
    pub(super) fn renew_all(&self) -> Vec<Subscribed> {
        let mut subscriptions = lock(&self.subscriptions);
        let mut renewed = Vec::with_capacity(subscriptions.len());
        for subscribed in subscriptions.values_mut() {
            subscribed.id = self.next_subscription_id();
            renewed.push(Subscribed {
                name: subscribed.name.clone(),
                id: subscribed.id,
                source: subscribed.source.clone(),
            });
        }
        renewed
    }

    pub(super) fn expect_ack(&self, id: u64, waiter: AckWaiter) {
        lock(&self.acks).insert(id, waiter);
    }

    pub(super) fn cancel_ack(&self, id: u64) {
        lock(&self.acks).remove(&id);
    }

    /// Delivers an acknowledgement; unknown ids (late or foreign) are ignored.
    pub(super) fn resolve_ack(&self, id: u64, result: Result<(), String>) {
        if let Some(waiter) = lock(&self.acks).remove(&id) {
            let _ = waiter.send(result);
        }
    }

    /// Fails every waiting request (the link is gone).
    pub(super) fn fail_all_acks(&self) {
        lock(&self.acks).clear();
    }
}
