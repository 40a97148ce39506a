//! The runtime's activity as seen from threads outside it: a counter its workers bump on
//! every park and unpark, and a way for an outside thread to sleep until the count moves.
//!
//! Why it exists: the latency aids ([`crate::idle_spin`], [`crate::cpu_idle_poll`]) act only
//! while the node is busy and must cost nothing once it is quiet. Tokio tells us when a worker
//! parks or unparks (its thread hooks), which is exactly "the node had work just now"; this
//! turns those hooks into something a plain thread can poll cheaply or block on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A count of runtime activity, with sleepers woken when it moves. One per consumer, so
/// stopping one consumer leaves the others running.
#[derive(Default)]
pub(crate) struct Activity {
    count: AtomicU64,
    /// Threads in [`Activity::sleep_past`], the only ones `touch` must wake.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    stopped: AtomicBool,
}

impl Activity {
    /// Records activity; called from the runtime's park and unpark hooks, so it is one atomic
    /// add unless a consumer sleeps.
    pub(crate) fn touch(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Paired with `sleep_past`: either the sleeper sees the new count before it waits,
        // or we see it asleep and wake it under the lock it waits with.
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }

    /// The count now; cheap enough for a spinning thread.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sleeps until the count moves on from `seen` or the consumer stops; returns the count.
    pub(crate) fn sleep_past(&self, seen: u64) -> u64 {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        while self.count.load(Ordering::SeqCst) == seen && !self.stopped() {
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.count.load(Ordering::SeqCst)
    }

    /// Waits for `duration` without being woken by activity, only by [`Activity::stop`].
    pub(crate) fn pause(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !self.stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = self
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Threads sleeping in [`Activity::sleep_past`].
    pub(crate) fn sleepers(&self) -> usize {
        self.sleeping.load(Ordering::SeqCst)
    }

    /// Tells every waiting and future caller to return at once.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Test helper: polls `condition` every millisecond until it holds, failing after 10 s.
#[cfg(test)]
pub(crate) fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_sleeper_wakes_on_touch_and_on_stop() {
        let activity = Arc::new(Activity::default());
        let sleeper = {
            let activity = Arc::clone(&activity);
            std::thread::spawn(move || activity.sleep_past(0))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while activity.sleepers() == 0 {
            assert!(Instant::now() < deadline, "never slept");
            std::thread::yield_now();
        }
        activity.touch();
        assert_eq!(sleeper.join().unwrap(), 1);

        let sleeper = {
            let activity = Arc::clone(&activity);
            std::thread::spawn(move || activity.sleep_past(1))
        };
        activity.stop();
        assert_eq!(sleeper.join().unwrap(), 1);
    }

    #[test]
    fn pause_returns_early_only_when_stopped() {
        let activity = Activity::default();
        let started = Instant::now();
        activity.touch();
        activity.pause(Duration::from_millis(30));
        assert!(started.elapsed() >= Duration::from_millis(30));
        activity.stop();
        // Stopped: returns at once even for a pause longer than the test's own timeout.
        activity.pause(Duration::from_secs(3600));
    }
}
