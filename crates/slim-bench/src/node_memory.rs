//! The node's resident memory, read from `/proc/<pid>/status` (Linux), sampled through a run
//! so a report can show whether memory stays flat under sustained load.

use std::time::{Duration, Instant};

use serde::Serialize;

/// How often the sampler reads the node's memory during the measured phase.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reading {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size since the process started.
    pub hwm_kib: u64,
}

/// Reads `pid`'s memory; `None` when the process is gone or the file unreadable.
pub fn read(pid: u32) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

fn parse_status(status: &str) -> Option<Reading> {
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some(Reading {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// What a report says about the node's memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeMemory {
    /// The node's process id.
    pub pid: u32,
    /// Before the load generator connected anything.
    pub start_kib: Option<u64>,
    /// After every client connected and subscribed (idle clients and extra subscriptions
    /// included), before traffic.
    pub loaded_kib: Option<u64>,
    /// After the measured traffic was delivered.
    pub end_kib: Option<u64>,
    /// Largest resident size sampled during the measured phase.
    pub max_kib: Option<u64>,
    /// The kernel's peak resident size of the node at the end (since the node started).
    pub hwm_kib: Option<u64>,
    /// `[seconds since traffic (warm-up included) began, KiB]` every [`SAMPLE_EVERY`].
    pub samples: Vec<(f64, u64)>,
}

/// Samples one process through a run.
#[derive(Debug)]
pub struct Sampler {
    memory: NodeMemory,
    started: Option<Instant>,
    next: Instant,
}

impl Sampler {
    /// Starts watching `pid` (nothing is watched without one) and takes the first reading.
    pub fn start(pid: Option<u32>) -> Option<Sampler> {
        let pid = pid?;
        let mut memory = NodeMemory {
            pid,
            ..NodeMemory::default()
        };
        memory.start_kib = read(pid).map(|r| r.rss_kib);
        Some(Sampler {
            memory,
            started: None,
            next: Instant::now(),
        })
    }

    /// The reading after setup; traffic starts now.
    pub fn loaded(&mut self) {
        self.memory.loaded_kib = read(self.memory.pid).map(|r| r.rss_kib);
        self.started = Some(Instant::now());
        self.next = Instant::now();
    }

    /// Takes a sample if one is due (call it often; it reads at most every
    /// [`SAMPLE_EVERY`]).
    pub fn tick(&mut self) {
        let now = Instant::now();
        let Some(started) = self.started else { return };
        if now < self.next {
            return;
        }
        self.next = now + SAMPLE_EVERY;
        if let Some(reading) = read(self.memory.pid) {
            let t = now.duration_since(started).as_secs_f64();
            self.memory.samples.push((t, reading.rss_kib));
            self.memory.max_kib = Some(self.memory.max_kib.unwrap_or(0).max(reading.rss_kib));
        }
    }

    /// The final reading.
    pub fn finish(mut self) -> NodeMemory {
        if let Some(reading) = read(self.memory.pid) {
            self.memory.end_kib = Some(reading.rss_kib);
            self.memory.hwm_kib = Some(reading.hwm_kib);
            self.memory.max_kib = Some(self.memory.max_kib.unwrap_or(0).max(reading.rss_kib));
        }
        self.memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let status = "Name:\tslim\nVmPeak:\t  100 kB\nVmHWM:\t    9012 kB\nVmRSS:\t    8000 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Reading {
                rss_kib: 8000,
                hwm_kib: 9012
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let reading = read(std::process::id()).expect("this process has a status file");
        assert!(reading.rss_kib > 0);
        assert!(reading.hwm_kib >= reading.rss_kib);
    }
}
