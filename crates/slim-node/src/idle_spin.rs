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
//! How: one spinner thread pinned to each CPU, at `SCHED_IDLE` priority. The kernel runs such a thread
//! only when nothing else wants the CPU and preempts it at once when something does, so the
//! node's workers (and every other process) lose nothing to it except the CPU time it would
//! otherwise spend halted. The spinners keep the CPUs awake for `window` after a runtime
//! worker last parked or unparked; after a quiet window they sleep on a condition variable
//! until the next worker activity, so an idle node costs nothing. The runtime reports
//! activity through [`IdleSpin::activity`], installed as tokio's park and unpark hooks.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::activity::Activity;

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
    /// The CPUs could not be listed, or a spinner not pinned to its CPU.
    #[error("cannot place the idle-spin threads on the CPUs: {0}")]
    Affinity(String),
}

/// Spinner threads keeping the CPUs out of halt for a while after runtime activity. Dropping
/// it stops and joins them.
pub struct IdleSpin {
    activity: Arc<Activity>,
    spinners: Vec<JoinHandle<()>>,
}

impl IdleSpin {
    /// Starts one spinner on each CPU this process may run on, spinning for `window` after
    /// the last activity.
    pub fn start(window: Duration) -> Result<IdleSpin, IdleSpinError> {
        IdleSpin::on_cpus(window, allowed_cpus()?)
    }

    /// Starts one spinner per entry of `cpus`, each pinned to that CPU: a spinner free to
    /// move could end up sharing a CPU with another one while the CPU it left halts.
    pub fn on_cpus(
        window: Duration,
        cpus: impl IntoIterator<Item = usize>,
    ) -> Result<IdleSpin, IdleSpinError> {
        let mut spin = IdleSpin {
            activity: Arc::new(Activity::default()),
            spinners: Vec::new(),
        };
        for cpu in cpus {
            let activity = Arc::clone(&spin.activity);
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let spinner = std::thread::Builder::new()
                .name(format!("slim-spin-{cpu}"))
                .spawn(move || {
                    let prepared = pin_to(cpu).and_then(|()| lower_priority());
                    let ok = prepared.is_ok();
                    // The starter waits for this; it cannot have gone away.
                    let _ = ready_tx.send(prepared);
                    if ok {
                        spin_while_busy(&activity, window);
                    }
                })
                .map_err(IdleSpinError::Spawn)?;
            spin.spinners.push(spinner);
            // `spin` is dropped on error, which stops and joins the spinners started so far.
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(IdleSpinError::Priority("spinner exited".to_owned())),
            }
        }
        Ok(spin)
    }

    /// The hook to install as the runtime's `on_thread_park` and `on_thread_unpark` (see
    /// [`crate::latency::install`], which also combines it with the other aids' hooks).
    pub fn activity(&self) -> impl Fn() + Send + Sync + 'static {
        let activity = Arc::clone(&self.activity);
        move || activity.touch()
    }

    /// Spinners currently spinning (the others sleep until the next activity).
    pub fn spinning(&self) -> usize {
        self.spinners.len().saturating_sub(self.activity.sleepers())
    }
}

impl Drop for IdleSpin {
    fn drop(&mut self) {
        self.activity.stop();
        for spinner in self.spinners.drain(..) {
            let _ = spinner.join();
        }
    }
}

/// A spinner's life: spin while the count keeps moving, sleep once it stood still for
/// `window`, until stopped.
fn spin_while_busy(activity: &Activity, window: Duration) {
    let mut seen = activity.count();
    let mut quiet_since = Instant::now();
    while !activity.stopped() {
        for _ in 0..SPINS_PER_LOOK {
            std::hint::spin_loop();
        }
        let now_seen = activity.count();
        if now_seen != seen {
            seen = now_seen;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= window {
            seen = activity.sleep_past(seen);
            quiet_since = Instant::now();
        }
    }
}

/// The CPUs this process may run on.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Result<Vec<usize>, IdleSpinError> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0))
        .map_err(|error| IdleSpinError::Affinity(error.to_string()))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Pins the calling thread to `cpu`.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> Result<(), IdleSpinError> {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set))
        .map_err(|error| IdleSpinError::Affinity(format!("CPU {cpu}: {error}")))
}

/// Gives the calling thread the `SCHED_IDLE` policy (no privileges needed on Linux).
#[cfg(target_os = "linux")]
fn lower_priority() -> Result<(), IdleSpinError> {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .map_err(|error| IdleSpinError::Priority(format!("{error:?}")))
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Result<Vec<usize>, IdleSpinError> {
    Err(IdleSpinError::Affinity(
        "idle spinning exists only on Linux".to_owned(),
    ))
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> Result<(), IdleSpinError> {
    Err(IdleSpinError::Affinity(
        "idle spinning exists only on Linux".to_owned(),
    ))
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() -> Result<(), IdleSpinError> {
    Err(IdleSpinError::Priority(
        "SCHED_IDLE exists only on Linux".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::eventually;

    fn first_cpu() -> Vec<usize> {
        allowed_cpus().unwrap()[..1].to_vec()
    }

    /// Two spinners, on two CPUs where the machine has them.
    fn two_cpus() -> Vec<usize> {
        allowed_cpus()
            .unwrap()
            .into_iter()
            .cycle()
            .take(2)
            .collect()
    }

    #[test]
    fn spinners_sleep_after_a_quiet_window_and_wake_on_activity() {
        let spin = IdleSpin::on_cpus(Duration::from_millis(200), two_cpus()).unwrap();
        eventually("both spinners sleep", || spin.spinning() == 0);
        let touch = spin.activity();
        touch();
        eventually("a spinner spins again", || spin.spinning() > 0);
        eventually("they sleep again once quiet", || spin.spinning() == 0);
    }

    #[test]
    fn activity_within_the_window_keeps_them_spinning() {
        // A window far longer than any pause of this thread, even on a loaded machine.
        let spin = IdleSpin::on_cpus(Duration::from_secs(3), first_cpu()).unwrap();
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
    fn spinners_run_at_the_idle_policy_each_pinned_to_one_cpu() {
        const SCHED_IDLE: &str = "5";
        let _spin = IdleSpin::on_cpus(Duration::from_millis(50), two_cpus()).unwrap();
        let mut spinners = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let path = task.unwrap().path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap();
            if let Some(cpu) = name.trim().strip_prefix("slim-spin-") {
                let stat = std::fs::read_to_string(path.join("stat")).unwrap();
                // Fields after the parenthesised name; the policy is field 41 overall.
                let after_name = stat.rsplit_once(')').unwrap().1;
                let policy = after_name
                    .split_whitespace()
                    .nth(41 - 3)
                    .unwrap()
                    .to_owned();
                let status = std::fs::read_to_string(path.join("status")).unwrap();
                let allowed = status
                    .lines()
                    .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
                    .unwrap()
                    .trim()
                    .to_owned();
                spinners.push((policy, allowed, cpu.to_owned()));
            }
        }
        // Other tests' spinners may be alive too: every spinner must be idle-policy and
        // allowed on exactly the CPU its name gives.
        assert!(spinners.len() >= 2, "spinners not found: {spinners:?}");
        for (policy, allowed, cpu) in &spinners {
            assert_eq!(policy, SCHED_IDLE, "{spinners:?}");
            assert_eq!(allowed, cpu, "{spinners:?}");
        }
    }

    #[test]
    fn dropping_stops_spinning_and_sleeping_threads() {
        let spin = IdleSpin::on_cpus(Duration::from_millis(10), two_cpus()).unwrap();
        eventually("asleep", || spin.spinning() == 0);
        spin.activity()();
        drop(spin); // joins: the test hangs (and times out) if a thread never stops
    }
}
