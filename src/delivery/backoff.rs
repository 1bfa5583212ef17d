//! Waits between attempts: exponential from `delivery.initial_backoff`, doubling after each
//! failure, capped at `delivery.max_backoff`, with "equal jitter".
//!
//! Equal jitter waits half the nominal delay plus a uniformly random part of the other half.
//! Unlike full jitter (anything from zero to the nominal delay) it never retries a receiver
//! that has just failed almost at once, and it still spreads the retries of many events that
//! failed together (a receiver outage) over half of each back-off step.

use std::time::Duration;

use rand::Rng;

/// The back-off schedule of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The wait after the `failures`-th consecutive failed attempt, with jitter.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal(failures);
        let half = nominal / 2;
        let spread = u64::try_from((nominal - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rng.gen_range(0..=spread))
    }

    /// The wait without jitter: `initial * 2^(failures - 1)`, at most `max`.
    pub fn nominal(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_nominal_delay_doubles_from_the_initial_one_up_to_the_cap() {
        let b = Backoff::new(ms(50), ms(200));
        let steps: Vec<Duration> = (1..=5).map(|n| b.nominal(n)).collect();
        assert_eq!(steps, vec![ms(50), ms(100), ms(200), ms(200), ms(200)]);
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(3600));
        assert_eq!(b.nominal(40), Duration::from_secs(3600));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(3600));
        assert_eq!(b.nominal(0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_nominal_delay_and_varies() {
        let b = Backoff::new(ms(100), ms(1000));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for failures in 1..=6 {
            let nominal = b.nominal(failures);
            let delays: Vec<Duration> = (0..200).map(|_| b.delay(failures, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d >= nominal / 2 && *d <= nominal));
            let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
            assert!(distinct.len() > 100, "jitter must spread retries");
        }
    }

    #[test]
    fn a_zero_initial_backoff_retries_at_once() {
        let b = Backoff::new(Duration::ZERO, ms(10));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(b.delay(1, &mut rng), Duration::ZERO);
    }
}
