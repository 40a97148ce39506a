//! Opt-in request that idle CPUs poll instead of halting while the node is busy
//! (`runtime.cpu_idle_poll`): the Linux PM QoS CPU latency limit, held at 0 µs.
//!
//! Why it exists: on a virtual machine, most of an idle node's round trip is spent waking
//! halted virtual CPUs, one wake-up each time a message hands work to a thread that sleeps on
//! another CPU (see [`crate::idle_spin`]). A process can ask the kernel for a CPU wake-up
//! latency limit by writing it to `/dev/cpu_dma_latency` and keeping the file open; with a
//! limit of 0 µs the idle loop may only use its polling state. A polling CPU neither exits to
//! the hypervisor nor needs an interrupt to notice new work: the waker sees it polling and
//! just sets a flag. That is what the guest kernel's halt polling does, without being a
//! host-wide module setting, and it beats [`crate::idle_spin`], whose spinning threads must
//! still be interrupted to make way. Measured here: 64 B round trip p50 about 140 → 40 µs.
//!
//! The limit applies to the whole machine, so it also speeds up the clients on it, and it
//! costs every idle CPU's time while held. It is therefore held only while the node is busy:
//! a monitor thread takes it when a runtime worker parks or unparks after a quiet spell and
//! gives it back once the runtime has been quiet for between one and two windows. The first
//! message after a quiet spell pays the ordinary wake-up. Writing the file needs root (or a
//! udev rule granting access); the node refuses to start if it cannot open it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::activity::Activity;

/// The kernel's CPU latency request file.
pub const CPU_LATENCY_FILE: &str = "/dev/cpu_dma_latency";

/// Why the request could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CpuIdlePollError {
    /// The request file could not be opened for writing.
    #[error(
        "cannot open {path} for writing ({source}); it needs root, or a udev rule giving the \
         node's user write access"
    )]
    Open {
        /// The file tried.
        path: String,
        /// What opening it said.
        #[source]
        source: std::io::Error,
    },
    /// The monitor thread could not be created.
    #[error("cannot start the cpu_idle_poll thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Something that can hold and release a CPU wake-up latency limit of 0 µs.
pub trait LatencyRequest: Send + 'static {
    /// Asks idle CPUs to poll.
    fn hold(&mut self) -> std::io::Result<()>;
    /// Withdraws the request, leaving the kernel's default.
    fn release(&mut self) -> std::io::Result<()>;
}

/// The kernel's request file, opened once so that a missing permission shows at start.
pub struct CpuLatencyFile {
    file: File,
}

impl CpuLatencyFile {
    /// Opens `path` (normally [`CPU_LATENCY_FILE`]). Opening alone requests nothing: the
    /// kernel starts the request at its default.
    pub fn open(path: &Path) -> Result<CpuLatencyFile, CpuIdlePollError> {
        File::options()
            .write(true)
            .open(path)
            .map(|file| CpuLatencyFile { file })
            .map_err(|source| CpuIdlePollError::Open {
                path: path.display().to_string(),
                source,
            })
    }

    /// The kernel takes a native-endian 32-bit value: microseconds, or -1 for "the default".
    fn write_limit(&mut self, limit_us: i32) -> std::io::Result<()> {
        self.file.write_all(&limit_us.to_ne_bytes())
    }
}

impl LatencyRequest for CpuLatencyFile {
    fn hold(&mut self) -> std::io::Result<()> {
        self.write_limit(0)
    }

    fn release(&mut self) -> std::io::Result<()> {
        self.write_limit(-1)
    }
}

/// The monitor thread holding the request while the runtime is busy. Dropping it releases
/// the request and joins the thread.
pub struct CpuIdlePoll {
    activity: Arc<Activity>,
    monitor: Option<JoinHandle<()>>,
}

impl CpuIdlePoll {
    /// Holds a 0 µs limit through [`CPU_LATENCY_FILE`] while busy, releasing it after a
    /// quiet `window`.
    pub fn start(window: Duration) -> Result<CpuIdlePoll, CpuIdlePollError> {
        let file = CpuLatencyFile::open(Path::new(CPU_LATENCY_FILE))?;
        CpuIdlePoll::with_request(window, file)
    }

    /// The same with any [`LatencyRequest`] (tests use a recording one).
    pub fn with_request(
        window: Duration,
        request: impl LatencyRequest,
    ) -> Result<CpuIdlePoll, CpuIdlePollError> {
        let activity = Arc::new(Activity::default());
        let monitor = {
            let activity = Arc::clone(&activity);
            // Counted from here: activity before the thread runs still takes the request.
            let seen = activity.count();
            std::thread::Builder::new()
                .name("slim-idle-poll".to_owned())
                .spawn(move || hold_while_busy(&activity, seen, window, request))
                .map_err(CpuIdlePollError::Spawn)?
        };
        Ok(CpuIdlePoll {
            activity,
            monitor: Some(monitor),
        })
    }

    /// The hook to install as the runtime's `on_thread_park` and `on_thread_unpark`.
    pub fn activity(&self) -> impl Fn() + Send + Sync + 'static {
        let activity = Arc::clone(&self.activity);
        move || activity.touch()
    }
}

impl Drop for CpuIdlePoll {
    fn drop(&mut self) {
        self.activity.stop();
        if let Some(monitor) = self.monitor.take() {
            let _ = monitor.join();
        }
    }
}

/// The monitor's life: asleep and released while quiet; on activity, hold, then look every
/// `window` and release once a whole window passed without activity.
fn hold_while_busy(
    activity: &Activity,
    mut seen: u64,
    window: Duration,
    mut request: impl LatencyRequest,
) {
    while !activity.stopped() {
        seen = activity.sleep_past(seen);
        if activity.stopped() {
            break;
        }
        report("hold", request.hold());
        loop {
            activity.pause(window);
            let now = activity.count();
            if now == seen || activity.stopped() {
                break;
            }
            seen = now;
        }
        report("release", request.release());
    }
}

/// A failed write leaves the CPUs' idle behaviour as it was, which costs latency and nothing
/// else; the node goes on, and says so.
fn report(what: &str, result: std::io::Result<()>) {
    if let Err(error) = result {
        tracing::warn!(%error, "runtime.cpu_idle_poll: cannot {what} the CPU latency request");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::activity::eventually;

    /// Records every hold (true) and release (false).
    #[derive(Clone, Default)]
    struct Recording(Arc<Mutex<Vec<bool>>>);

    impl Recording {
        fn calls(&self) -> Vec<bool> {
            self.0.lock().unwrap().clone()
        }
    }

    impl LatencyRequest for Recording {
        fn hold(&mut self) -> std::io::Result<()> {
            self.0.lock().unwrap().push(true);
            Ok(())
        }

        fn release(&mut self) -> std::io::Result<()> {
            self.0.lock().unwrap().push(false);
            Ok(())
        }
    }

    #[test]
    fn holds_on_activity_and_releases_after_a_quiet_window() {
        let recording = Recording::default();
        let poll = CpuIdlePoll::with_request(Duration::from_millis(20), recording.clone()).unwrap();
        // Nothing is requested before the runtime had work.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(recording.calls(), Vec::<bool>::new());

        poll.activity()();
        eventually("held", || recording.calls().first() == Some(&true));
        eventually("released", || recording.calls() == [true, false]);

        poll.activity()();
        eventually("held again", || {
            recording.calls() == [true, false, true, false]
        });
    }

    #[test]
    fn stays_held_while_activity_continues() {
        let recording = Recording::default();
        // A window far longer than any pause of this thread, even on a loaded machine.
        let poll = CpuIdlePoll::with_request(Duration::from_secs(2), recording.clone()).unwrap();
        let touch = poll.activity();
        touch();
        eventually("held", || recording.calls() == [true]);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            touch();
            assert_eq!(recording.calls(), [true], "released despite activity");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dropping_releases_a_held_request() {
        let recording = Recording::default();
        let poll = CpuIdlePoll::with_request(Duration::from_secs(3600), recording.clone()).unwrap();
        poll.activity()();
        eventually("held", || recording.calls() == [true]);
        drop(poll); // joins: the test hangs (and times out) if the thread never stops
        assert_eq!(recording.calls(), [true, false]);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-device");
        let error = CpuLatencyFile::open(&missing).err().unwrap().to_string();
        assert!(error.contains("no-such-device"), "{error}");
        assert!(error.contains("needs root"), "{error}");
    }

    #[test]
    fn the_file_receives_native_endian_microseconds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency");
        std::fs::write(&path, b"").unwrap();
        let mut file = CpuLatencyFile::open(&path).unwrap();
        file.hold().unwrap();
        file.release().unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written[..4], 0i32.to_ne_bytes());
        assert_eq!(written[4..], (-1i32).to_ne_bytes());
    }
}
