//! Installs the opt-in latency aids on a tokio runtime: [`crate::idle_spin`] and
//! [`crate::cpu_idle_poll`], each fed by the runtime's park and unpark hooks.
//!
//! Why it exists: tokio keeps one park hook and one unpark hook per runtime, so aids that
//! each want them must be installed together; the node and the load generator share this.

use std::time::Duration;

use crate::cpu_idle_poll::{CpuIdlePoll, CpuIdlePollError};
use crate::idle_spin::{IdleSpin, IdleSpinError};

/// Which aids to run; a zero window turns one off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyAids {
    /// `runtime.idle_spin`: how long idle-priority threads keep the CPUs busy after activity.
    pub idle_spin: Duration,
    /// `runtime.cpu_idle_poll`: how long idle CPUs are asked to poll after activity.
    pub cpu_idle_poll: Duration,
}

/// Why an aid could not start, naming its setting.
#[derive(Debug, thiserror::Error)]
pub enum LatencyAidError {
    /// `idle_spin` could not start.
    #[error("idle_spin: {0}")]
    IdleSpin(#[from] IdleSpinError),
    /// `cpu_idle_poll` could not start.
    #[error("cpu_idle_poll: {0}")]
    CpuIdlePoll(#[from] CpuIdlePollError),
}

/// The running aids. Keep it as long as the runtime: dropping it stops them.
pub struct RunningAids {
    _idle_spin: Option<IdleSpin>,
    _cpu_idle_poll: Option<CpuIdlePoll>,
}

impl LatencyAids {
    /// Starts the aids that are on and installs their activity hooks on `runtime` (which
    /// keeps its own hooks when every aid is off).
    pub fn install(
        self,
        runtime: &mut tokio::runtime::Builder,
    ) -> Result<RunningAids, LatencyAidError> {
        let idle_spin = nonzero(self.idle_spin).map(IdleSpin::start).transpose()?;
        let cpu_idle_poll = nonzero(self.cpu_idle_poll)
            .map(CpuIdlePoll::start)
            .transpose()?;
        let spin_hook = idle_spin.as_ref().map(IdleSpin::activity);
        let poll_hook = cpu_idle_poll.as_ref().map(CpuIdlePoll::activity);
        if spin_hook.is_some() || poll_hook.is_some() {
            let touch = std::sync::Arc::new(move || {
                if let Some(hook) = &spin_hook {
                    hook();
                }
                if let Some(hook) = &poll_hook {
                    hook();
                }
            });
            let on_unpark = std::sync::Arc::clone(&touch);
            runtime
                .on_thread_park(move || touch())
                .on_thread_unpark(move || on_unpark());
        }
        Ok(RunningAids {
            _idle_spin: idle_spin,
            _cpu_idle_poll: cpu_idle_poll,
        })
    }
}

fn nonzero(window: Duration) -> Option<Duration> {
    (!window.is_zero()).then_some(window)
}
