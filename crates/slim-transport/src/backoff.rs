//! Delays between reconnection attempts, from [`BackoffConfig`].

use std::time::Duration;

use rand_core::RngCore;

use crate::config::BackoffConfig;

/// The delay sequence of one reconnecting link. [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    /// Starts a sequence.
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            failures: 0,
        }
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay before the next attempt, or `None` when attempts are exhausted.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.next_delay_with(&mut rand_core::OsRng)
    }

    /// [`Backoff::next_delay`] with the jitter source passed in (for tests).
    pub fn next_delay_with(&mut self, rng: &mut impl RngCore) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        match &self.config {
            BackoffConfig::Fixed {
                interval,
                max_attempts,
            } => {
                if max_attempts.is_some_and(|max| self.failures > max) {
                    return None;
                }
                Some(*interval)
            }
            BackoffConfig::Exponential {
                base,
                factor,
                max_delay,
                jitter,
                max_attempts,
            } => {
                if max_attempts.is_some_and(|max| self.failures > max) {
                    return None;
                }
                let exponent = i32::try_from(self.failures - 1).unwrap_or(i32::MAX);
                let grown = base.as_secs_f64() * factor.powi(exponent);
                let capped = grown.min(max_delay.as_secs_f64());
                let seconds = if *jitter {
                    // Uniform in [capped / 2, capped].
                    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    capped * (0.5 + unit / 2.0)
                } else {
                    capped
                };
                Some(Duration::try_from_secs_f64(seconds).unwrap_or(*max_delay))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fixed_repeats_and_gives_up_after_max_attempts() {
        let mut backoff = Backoff::new(BackoffConfig::Fixed {
            interval: Duration::from_millis(300),
            max_attempts: Some(2),
        });
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(300)));
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(300)));
        assert_eq!(backoff.next_delay(), None);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(300)));
    }

    #[test]
    fn exponential_grows_to_the_cap() {
        let mut backoff = Backoff::new(BackoffConfig::Exponential {
            base: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_millis(500),
            jitter: false,
            max_attempts: None,
        });
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().unwrap()).collect();
        let millis: Vec<_> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut backoff = Backoff::new(BackoffConfig::Exponential {
            base: Duration::from_secs(1),
            factor: 1.0,
            max_delay: Duration::from_secs(1),
            jitter: true,
            max_attempts: None,
        });
        let delays: Vec<_> = (0..100)
            .map(|_| backoff.next_delay_with(&mut rng).unwrap())
            .collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(500) && *d <= Duration::from_secs(1))
        );
        // Not all equal: the jitter does something.
        assert!(delays.iter().any(|d| *d != delays[0]));
    }
}
