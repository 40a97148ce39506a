//! [`RttEstimator`]: the round-trip estimate that sets the data retransmission timeout.
//!
//! Upstream retransmits data after a fixed `interval` (1 s by default), so one lost
//! acknowledgement stalls a full window for a second. We estimate the round trip from
//! acknowledgements (RFC 6298: smoothed RTT and variance, samples only from messages sent
//! once — Karn's rule) and retransmit after `srtt + 4 × rttvar`, doubling on every retry and
//! never exceeding the configured interval. The total time before giving up is unchanged:
//! `interval × (max_retries + 1)`, as upstream.

use std::time::Duration;

/// Smallest retransmission timeout: below this, scheduling noise looks like loss.
const MIN_RTO: Duration = Duration::from_millis(10);

/// Timeout before the first sample.
const INITIAL_RTO: Duration = Duration::from_millis(200);

/// Smoothed round-trip time and its variance.
#[derive(Debug, Clone)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    max: Duration,
    /// Doublings applied after timeouts, kept until a fresh sample (RFC 6298 §5.5). Without
    /// it, a receiver that defers its acks (its application reads slowly) would never yield
    /// a sample (every message is retransmitted first) and would be flooded at the minimum
    /// timeout.
    backoff: u32,
}

impl RttEstimator {
    /// An estimator whose timeout never exceeds `max` (the configured interval).
    pub fn new(max: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            max,
            backoff: 0,
        }
    }

    /// Adds one round-trip sample.
    pub fn sample(&mut self, rtt: Duration) {
        self.backoff = 0;
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let deviation = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + deviation) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// A message sent with timeout `sent_with` timed out for the first time: if that was the
    /// current timeout, double it until the next sample.
    pub fn on_timeout(&mut self, sent_with: Duration) {
        let current = self.rto();
        if sent_with >= current && current < self.max {
            self.backoff += 1;
        }
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        let base = match self.srtt {
            Some(srtt) => srtt + self.rttvar * 4,
            None => INITIAL_RTO,
        };
        let backed_off = base.saturating_mul(1 << self.backoff.min(20));
        backed_off.clamp(MIN_RTO.min(self.max), self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_follows_the_round_trip_within_bounds() {
        let mut rtt = RttEstimator::new(Duration::from_secs(1));
        assert_eq!(rtt.rto(), INITIAL_RTO);
        for _ in 0..50 {
            rtt.sample(Duration::from_millis(20));
        }
        let rto = rtt.rto();
        assert!(
            rto >= Duration::from_millis(20) && rto < Duration::from_millis(40),
            "{rto:?}"
        );
        for _ in 0..50 {
            rtt.sample(Duration::from_micros(50));
        }
        assert_eq!(rtt.rto(), MIN_RTO);
        rtt.sample(Duration::from_secs(30));
        assert_eq!(rtt.rto(), Duration::from_secs(1), "capped at the interval");
    }

    #[test]
    fn timeouts_back_off_until_a_fresh_sample() {
        let mut rtt = RttEstimator::new(Duration::from_secs(1));
        for _ in 0..50 {
            rtt.sample(Duration::from_millis(20));
        }
        let base = rtt.rto();
        rtt.on_timeout(base);
        assert_eq!(rtt.rto(), base * 2);
        // Other messages sent with the old timeout expiring too do not compound it.
        rtt.on_timeout(base);
        assert_eq!(rtt.rto(), base * 2);
        rtt.on_timeout(base * 2);
        assert_eq!(rtt.rto(), base * 4);
        rtt.sample(Duration::from_millis(20));
        assert!(rtt.rto() <= base);
    }
}
