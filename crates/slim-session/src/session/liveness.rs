//! Heartbeats and offline detection.
//!
//! Every member sends a Heartbeat (carrying its MLS epoch) every `interval` to everyone else:
//! the control channel in a group, the peer in a point-to-point session. A heartbeat is
//! skipped when this member already sent something every other member receives in the
//! interval (data to the group channel, any message to the peer), since any message counts as
//! liveness. A member not heard from for `max_missed` intervals is declared offline.

use std::time::{Duration, Instant};

use super::roster::Roster;
use slim_wire::Name;

/// Heartbeat schedule of one session.
#[derive(Debug)]
pub(crate) struct Liveness {
    interval: Duration,
    max_missed: u32,
    next_beat: Instant,
    last_broadcast: Option<Instant>,
    enabled: bool,
}

/// What a heartbeat tick asks for.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    /// Send a heartbeat now.
    pub beat: bool,
    /// Members silent for too long (online or not: a point-to-point session ends when its
    /// peer falls silent, whatever its status).
    pub silent: Vec<Name>,
}

impl Liveness {
    /// A schedule starting at `now` (disabled until [`Self::enable`]).
    pub fn new(interval: Duration, max_missed: u32, now: Instant) -> Self {
        Liveness {
            interval,
            max_missed: max_missed.max(1),
            next_beat: now + interval,
            last_broadcast: None,
            enabled: false,
        }
    }

    /// Starts (or resumes) heartbeats.
    pub fn enable(&mut self, now: Instant) {
        if !self.enabled {
            self.enabled = true;
            self.next_beat = now + self.interval;
        }
    }

    /// Stops heartbeats (soft close, closing).
    pub fn disable(&mut self) {
        self.enabled = false;
    }

    /// Records that everyone just received something from us.
    pub fn broadcast_sent(&mut self, now: Instant) {
        self.last_broadcast = Some(now);
    }

    /// Next tick.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.enabled.then_some(self.next_beat)
    }

    /// Runs due ticks.
    pub fn on_timeout(&mut self, now: Instant, roster: &Roster) -> Tick {
        let mut tick = Tick::default();
        if !self.enabled || now < self.next_beat {
            return tick;
        }
        match self.last_broadcast {
            Some(last) if last + self.interval > now => {
                self.next_beat = last + self.interval;
            }
            _ => {
                tick.beat = true;
                self.next_beat = now + self.interval;
            }
        }
        let silence = self.interval.saturating_mul(self.max_missed);
        tick.silent = roster
            .iter()
            .filter(|m| m.last_heard + silence <= now)
            .map(|m| m.name.clone())
            .collect();
        tick
    }
}
