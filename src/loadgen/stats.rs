//! Latency percentiles: every sample is kept (a few bytes each), sorted once at the end, and
//! read with the nearest-rank method, so a reported p99 is a latency a request really had.

use std::time::Duration;

/// The latency distribution of one measurement window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The slowest sample.
    pub max: Duration,
    /// The arithmetic mean.
    pub mean: Duration,
}

impl LatencySummary {
    /// Summarises samples in microseconds; `None` when there are none.
    pub fn from_micros(mut samples: Vec<u64>) -> Option<Self> {
        samples.sort_unstable();
        let at = |p: f64| percentile(&samples, p).map(Duration::from_micros);
        let total: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        let count = samples.len();
        let mean = u64::try_from(total / u128::try_from(count.max(1)).unwrap_or(1)).unwrap_or(0);
        Some(Self {
            count,
            p50: at(50.0)?,
            p90: at(90.0)?,
            p99: at(99.0)?,
            p999: at(99.9)?,
            max: Duration::from_micros(*samples.last()?),
            mean: Duration::from_micros(mean),
        })
    }
}

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by the nearest-rank method: the smallest
/// sample such that at least `p` % of the samples are less than or equal to it. `None` for
/// no samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // The rank is computed on integers (per mille of per mille) so that 99.9 % of 1,000
    // samples is exactly rank 999, without a floating-point ceiling rounding it up to 1,000.
    let parts = (p.clamp(0.0, 100.0) * 10_000.0).round() as u128;
    let scaled = (n as u128) * parts;
    let rank = scaled.div_ceil(1_000_000).max(1);
    let index = usize::try_from(rank - 1).unwrap_or(usize::MAX).min(n - 1);
    sorted.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_samples_have_no_percentile() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(LatencySummary::from_micros(Vec::new()), None);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        for p in [0.1, 50.0, 99.0, 99.9, 100.0] {
            assert_eq!(percentile(&[7], p), Some(7));
        }
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_are_their_ranks() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 90.0), Some(90));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 99.9), Some(100));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 1.0), Some(1));
    }

    #[test]
    fn the_99_9th_percentile_of_a_thousand_samples_is_the_999th() {
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&samples, 99.9), Some(999));
        assert_eq!(percentile(&samples, 99.0), Some(990));
    }

    #[test]
    fn nearest_rank_rounds_up_between_samples() {
        // 4 samples: p50 is rank 2, p51 is rank ceil(2.04) = 3, p90 is rank ceil(3.6) = 4.
        let samples = [10, 20, 30, 40];
        assert_eq!(percentile(&samples, 50.0), Some(20));
        assert_eq!(percentile(&samples, 51.0), Some(30));
        assert_eq!(percentile(&samples, 90.0), Some(40));
        assert_eq!(percentile(&samples, 25.0), Some(10));
    }

    #[test]
    fn a_summary_sorts_its_samples_first() {
        let summary = LatencySummary::from_micros(vec![5_000, 1_000, 3_000, 2_000, 4_000])
            .expect("five samples");
        assert_eq!(summary.count, 5);
        assert_eq!(summary.p50, Duration::from_millis(3));
        assert_eq!(summary.p90, Duration::from_millis(5));
        assert_eq!(summary.max, Duration::from_millis(5));
        assert_eq!(summary.mean, Duration::from_millis(3));
    }
}
