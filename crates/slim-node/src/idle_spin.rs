//! Opt-in busy-polling of idle CPUs (`runtime.idle_spin`): CPU time traded for round-trip
//! latency on virtual machines.
//!
//! Why it exists: on a VM, a CPU with nothing to run halts and the hypervisor takes it away.
//! The next message then waits for the host to schedule that virtual CPU again before the
//! node's worker can even be woken. On the 2-vCPU KVM guests we measure on, this costs tens
//! of microseconds per wake-up, and a round trip through a node has at least two. The same
//! binaries measure a 64 B round trip at 165 µs on an idle guest and under 50 µs when the
//! CPUs are kept busy (`docs/benchmarks.md`). The kernel's remedy, cpuidle-haltpoll
//! (`/sys/module/haltpoll/parameters/guest_halt_poll_ns`), has the same effect but needs
//! root and is off by default; this needs neither.
//!
//! How: one spinner thread per CPU, at `SCHED_IDLE` priority. The kernel runs such a thread
//! only when nothing else wants the CPU and preempts it at once when something does, so the
//! node's workers (and every other process) lose nothing to it except the CPU time it would
//! otherwise spend halted. The spinners keep the CPUs awake for `window` after a runtime
//! worker last parked or unparked; after a quiet window they sleep on a condition variable
//! until the next worker activity, so an idle node costs nothing. The runtime reports
//! activity through [`IdleSpin::activity`], installed as tokio's park and unpark hooks.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pause instructions between two looks at the activity counter: about a microsecond, so a
/// spinner reads the clock rarely and leaves a hyper-threaded sibling most of the core.
const SPINS_PER_LOOK: u32 = 64;

/// Why the spinners could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdleSpinError {
    /// A thread could not be created.
    #[error("cannot start an idle-spin thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The lowest scheduling priority could not be set; spinning at normal priority would
    /// take CPU from the node itself, so nothing spins.
    #[error("cannot give the idle-spin threads the SCHED_IDLE policy: {0}")]
    Priority(String),
}

/// Spinner threads keeping the CPUs out of halt for a while after runtime activity. Dropping
/// it stops and joins them.
pub struct IdleSpin {
    shared: Arc<Shared>,
    spinners: Vec<JoinHandle<()>>,
}

struct Shared {
    window: Duration,
    /// Bumped by every worker park and unpark.
    activity: AtomicU64,
    /// Spinners asleep on `wake`.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

impl IdleSpin {
    /// Starts one spinner per CPU that spins for `window` after the last activity.
    pub fn start(window: Duration) -> Result<IdleSpin, IdleSpinError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        IdleSpin::with_threads(window, cpus)
    }

    /// Starts `threads` spinners (at least one).
    pub fn with_threads(window: Duration, threads: usize) -> Result<IdleSpin, IdleSpinError> {
        let shared = Arc::new(Shared {
            window,
            activity: AtomicU64::new(0),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut spin = IdleSpin {
            shared,
            spinners: Vec::new(),
        };
        for index in 0..threads.max(1) {
            let shared = Arc::clone(&spin.shared);
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let spinner = std::thread::Builder::new()
                .name(format!("slim-idle-spin-{index}"))
                .spawn(move || {
                    let lowered = lower_priority();
                    let ok = lowered.is_ok();
                    // The starter waits for this; it cannot have gone away.
                    let _ = ready_tx.send(lowered);
                    if ok {
                        shared.spin();
                    }
                })
                .map_err(IdleSpinError::Spawn)?;
            spin.spinners.push(spinner);
            // `spin` is dropped on error, which stops and joins the spinners started so far.
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(IdleSpinError::Priority(error)),
                Err(_) => return Err(IdleSpinError::Priority("spinner exited".to_owned())),
            }
        }
        Ok(spin)
    }

    /// The hook to install as the runtime's `on_thread_park` and `on_thread_unpark`.
    pub fn activity(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || shared.touch()
    }

    /// Spinners currently spinning (the others sleep until the next activity).
    pub fn spinning(&self) -> usize {
        self.spinners
            .len()
            .saturating_sub(self.shared.sleeping.load(Ordering::SeqCst))
    }
}

impl Drop for IdleSpin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self
                .shared
                .lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.wake.notify_all();
        }
        for spinner in self.spinners.drain(..) {
            let _ = spinner.join();
        }
    }
}

impl Shared {
    fn touch(&self) {
        self.activity.fetch_add(1, Ordering::SeqCst);
        // Paired with `sleep`: either the sleeper sees the new count before it waits, or we
        // see it asleep and wake it under the lock it waits with.
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }

    fn spin(&self) {
        let mut seen = self.activity.load(Ordering::SeqCst);
        let mut quiet_since = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            for _ in 0..SPINS_PER_LOOK {
                std::hint::spin_loop();
            }
            let now_seen = self.activity.load(Ordering::Relaxed);
            if now_seen != seen {
                seen = now_seen;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= self.window {
                seen = self.sleep(seen);
                quiet_since = Instant::now();
            }
        }
    }

    /// Sleeps until the activity count moves on from `seen` (or the spinners stop); returns
    /// the new count.
    fn sleep(&self, seen: u64) -> u64 {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        while self.activity.load(Ordering::SeqCst) == seen && !self.stop.load(Ordering::SeqCst) {
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.activity.load(Ordering::SeqCst)
    }
}

/// Gives the calling thread the `SCHED_IDLE` policy (no privileges needed on Linux).
#[cfg(target_os = "linux")]
fn lower_priority() -> Result<(), String> {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .map_err(|error| format!("{error:?}"))
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() -> Result<(), String> {
    Err("SCHED_IDLE exists only on Linux".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn spinners_sleep_after_a_quiet_window_and_wake_on_activity() {
        let spin = IdleSpin::with_threads(Duration::from_millis(200), 2).unwrap();
        eventually("both spinners sleep", || spin.spinning() == 0);
        let touch = spin.activity();
        touch();
        eventually("a spinner spins again", || spin.spinning() > 0);
        eventually("they sleep again once quiet", || spin.spinning() == 0);
    }

    #[test]
    fn activity_within_the_window_keeps_them_spinning() {
        // A window far longer than any pause of this thread, even on a loaded machine.
        let spin = IdleSpin::with_threads(Duration::from_secs(3), 1).unwrap();
        let touch = spin.activity();
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            touch();
            assert_eq!(spin.spinning(), 1, "asleep despite activity");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn spinners_run_at_the_idle_policy() {
        const SCHED_IDLE: &str = "5";
        let _spin = IdleSpin::with_threads(Duration::from_millis(50), 2).unwrap();
        let mut policies = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let path = task.unwrap().path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap();
            if name.starts_with("slim-idle-spin") {
                let stat = std::fs::read_to_string(path.join("stat")).unwrap();
                // Fields after the parenthesised name; the policy is field 41 overall.
                let after_name = stat.rsplit_once(')').unwrap().1;
                let policy = after_name
                    .split_whitespace()
                    .nth(41 - 3)
                    .unwrap()
                    .to_owned();
                policies.push(policy);
            }
        }
        // Other tests' spinners may be alive too: every spinner must be idle-policy.
        assert!(policies.len() >= 2, "spinners not found: {policies:?}");
        assert!(policies.iter().all(|p| p == SCHED_IDLE), "{policies:?}");
    }

    #[test]
    fn dropping_stops_spinning_and_sleeping_threads() {
        let spin = IdleSpin::with_threads(Duration::from_millis(10), 2).unwrap();
        eventually("asleep", || spin.spinning() == 0);
        spin.activity()();
        drop(spin); // joins: the test hangs (and times out) if a thread never stops
    }
}
