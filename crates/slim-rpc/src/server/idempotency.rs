//! Idempotency keys: the server runs a handler at most once per key and replays the stored
//! result to retries — the "exactly-once effects" upstream SlimRPC does not offer.
//!
//! A caller opts in per call with the `slimrpc-idempotency-key` metadata
//! ([`crate::CallOptions::with_idempotency_key`]). The cache is keyed by the caller's
//! service name (`org/ns/service`, without instance id, so a restarted caller that retries
//! still matches), the method and the key. For each key:
//!
//! - the first attempt runs the handler, **detached** from that attempt: if the caller
//!   cancels or its reply is lost, the execution still completes (bounded by the call's
//!   deadline) and its result is kept for the retry;
//! - attempts arriving while it runs wait for it, then get its result;
//! - attempts within [`IdempotencyConfig::window`] after it completed get the stored result
//!   without running anything (an error result is replayed too: the handler ran);
//! - an attempt whose request differs from the first one (unary requests are fingerprinted)
//!   is refused with `INVALID_ARGUMENT`.
//!
//! An execution that never completed (server shutdown; a client stream cut off before its
//! end) leaves nothing behind, so the next attempt runs the handler. Keys apply to methods
//! with one response (unary, client streaming); a streaming-response method refuses a key.
//! Memory is bounded by entry count and stored bytes; only completed entries are evicted,
//! oldest first, and when every entry is still running a new key is refused with
//! `RESOURCE_EXHAUSTED`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::status::Status;

/// Settings of the idempotency cache of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// Whether keys are honoured. Default true. When false, keys are ignored (every attempt
    /// runs).
    pub enabled: bool,
    /// How long a completed result is kept for retries. Default 10 minutes.
    pub window: Duration,
    /// Keys kept at once (running and completed). Default 10 000.
    pub max_entries: usize,
    /// Largest response stored for replay; a larger one is still returned to the attempts
    /// that waited for it, and later retries get `FAILED_PRECONDITION` (the handler does not
    /// run again). Default 1 MiB.
    pub max_result_bytes: usize,
    /// Stored response bytes in total. Default 64 MiB.
    pub max_total_bytes: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            enabled: true,
            window: Duration::from_secs(600),
            max_entries: 10_000,
            max_result_bytes: 1 << 20,
            max_total_bytes: 64 << 20,
        }
    }
}

/// A handler's outcome as stored and shared.
pub(crate) type Outcome = Arc<Result<Bytes, Status>>;

/// Who called what with which key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub caller: String,
    pub method: String,
    pub key: String,
}

#[derive(Debug)]
enum Entry {
    Running {
        fingerprint: Option<u64>,
        done: watch::Receiver<Option<Outcome>>,
        generation: u64,
    },
    Done {
        fingerprint: Option<u64>,
        outcome: Outcome,
        expires: Instant,
        bytes: usize,
    },
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<CacheKey, Entry>,
    /// Completed entries in completion order (so also in expiry order).
    completed: VecDeque<CacheKey>,
    stored_bytes: usize,
    generation: u64,
}

/// What an attempt must do.
#[derive(Debug)]
pub(crate) enum Begin {
    /// Run the handler and report through the ticket.
    Run(Ticket),
    /// Another attempt runs it: wait for its outcome (`None` then means it was abandoned:
    /// begin again).
    Wait(watch::Receiver<Option<Outcome>>),
    /// Completed earlier: reply with this.
    Replay(Outcome),
    /// The key was used with another request.
    Conflict,
    /// Every slot holds a running execution.
    Full,
}

/// The cache of one server.
#[derive(Debug)]
pub(crate) struct IdempotencyCache {
    config: IdempotencyConfig,
    state: Mutex<State>,
}

impl IdempotencyCache {
    pub fn new(config: IdempotencyConfig) -> Arc<Self> {
        Arc::new(IdempotencyCache {
            config,
            state: Mutex::new(State::default()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Decides what an attempt with `key` does.
    pub fn begin(self: &Arc<Self>, key: CacheKey, fingerprint: Option<u64>, now: Instant) -> Begin {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.expire(&mut state, now);
        match state.entries.get(&key) {
            Some(Entry::Running {
                fingerprint: first,
                done,
                ..
            }) => {
                return if conflicts(*first, fingerprint) {
                    Begin::Conflict
                } else {
                    Begin::Wait(done.clone())
                };
            }
            Some(Entry::Done {
                fingerprint: first,
                outcome,
                ..
            }) => {
                return if conflicts(*first, fingerprint) {
                    Begin::Conflict
                } else {
                    Begin::Replay(outcome.clone())
                };
            }
            None => {}
        }
        while state.entries.len() >= self.config.max_entries.max(1) {
            if !evict_oldest(&mut state) {
                return Begin::Full;
            }
        }
        let (tx, done) = watch::channel(None);
        state.generation += 1;
        let generation = state.generation;
        state.entries.insert(
            key.clone(),
            Entry::Running {
                fingerprint,
                done,
                generation,
            },
        );
        Begin::Run(Ticket {
            cache: self.clone(),
            key,
            generation,
            tx,
            completed: false,
        })
    }

    fn expire(&self, state: &mut State, now: Instant) {
        while let Some(oldest) = state.completed.front() {
            match state.entries.get(oldest) {
                Some(Entry::Done { expires, .. }) if *expires > now => break,
                _ => {
                    evict_oldest(state);
                }
            }
        }
    }

    fn complete(&self, key: &CacheKey, generation: u64, outcome: Outcome, now: Instant) {
        let bytes = match outcome.as_ref() {
            Ok(blob) => blob.len(),
            Err(status) => status.message().len(),
        };
        let stored = if bytes > self.config.max_result_bytes {
            Arc::new(Err(Status::failed_precondition(
                "this idempotent call already ran; its result was too large to keep for replay",
            )))
        } else {
            outcome
        };
        let bytes = bytes.min(self.config.max_result_bytes);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let fingerprint = match state.entries.get(key) {
            Some(Entry::Running {
                fingerprint,
                generation: running,
                ..
            }) if *running == generation => *fingerprint,
            _ => return,
        };
        state.entries.insert(
            key.clone(),
            Entry::Done {
                fingerprint,
                outcome: stored,
                expires: now + self.config.window,
                bytes,
            },
        );
        state.completed.push_back(key.clone());
        state.stored_bytes += bytes;
        while state.stored_bytes > self.config.max_total_bytes {
            if !evict_oldest(&mut state) {
                break;
            }
        }
    }

    fn abandon(&self, key: &CacheKey, generation: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Entry::Running {
            generation: running,
            ..
        }) = state.entries.get(key)
            && *running == generation
        {
            state.entries.remove(key);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

fn conflicts(first: Option<u64>, now: Option<u64>) -> bool {
    matches!((first, now), (Some(a), Some(b)) if a != b)
}

/// Drops the oldest completed entry; false when there is none.
fn evict_oldest(state: &mut State) -> bool {
    while let Some(key) = state.completed.pop_front() {
        if let Some(Entry::Done { bytes, .. }) = state.entries.get(&key) {
            state.stored_bytes = state.stored_bytes.saturating_sub(*bytes);
            state.entries.remove(&key);
            return true;
        }
    }
    false
}

/// The right (and duty) to run one key's handler. Completing stores the outcome and wakes
/// the waiters; dropping it without completing forgets the key (the next attempt runs).
#[derive(Debug)]
pub(crate) struct Ticket {
    cache: Arc<IdempotencyCache>,
    key: CacheKey,
    generation: u64,
    tx: watch::Sender<Option<Outcome>>,
    completed: bool,
}

impl Ticket {
    /// Where the outcome will be announced.
    pub fn subscribe(&self) -> watch::Receiver<Option<Outcome>> {
        self.tx.subscribe()
    }

    /// Stores the outcome and hands it to every waiting attempt.
    pub fn complete(mut self, outcome: Result<Bytes, Status>, now: Instant) -> Outcome {
        self.completed = true;
        let outcome = Arc::new(outcome);
        self.cache
            .complete(&self.key, self.generation, outcome.clone(), now);
        let _ = self.tx.send(Some(outcome.clone()));
        outcome
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.completed {
            self.cache.abandon(&self.key, self.generation);
        }
    }
}

/// A cheap fingerprint of a request (not a security measure: it only catches a key reused
/// by mistake for another request).
pub(crate) fn fingerprint(request: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(request)
}

#[cfg(test)]
mod tests;
