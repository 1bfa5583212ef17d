//! How far webhook delivery kept up with releases during a measurement, read from the
//! gateway's own counters (`GET /metrics`): events released and attempts that succeeded. The
//! load generator's receiver counts webhooks too, but only the gateway knows how many events
//! were made.

use std::time::Duration;

/// The two counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryCounters {
    /// `consentgate_releases_total`: release events created.
    pub released: u64,
    /// `consentgate_delivery_attempts_total{outcome="succeeded"}`: events delivered.
    pub delivered: u64,
}

impl DeliveryCounters {
    /// Reads the counters from Prometheus text; `None` if either is missing.
    pub fn parse(metrics: &str) -> Option<Self> {
        Some(Self {
            released: metric_value(metrics, "consentgate_releases_total")?,
            delivered: metric_value(
                metrics,
                "consentgate_delivery_attempts_total{outcome=\"succeeded\"}",
            )?,
        })
    }

    /// Fetches and reads `GET {api_url}/metrics`; `None` if it cannot be read.
    pub async fn fetch(client: &reqwest::Client, api_url: &str) -> Option<Self> {
        let response = client.get(format!("{api_url}/metrics")).send().await.ok()?;
        Self::parse(&response.text().await.ok()?)
    }
}

/// The value of series `name` (with its labels, as printed) in Prometheus text `metrics`;
/// `None` if it is missing or not a whole number.
pub fn metric_value(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse::<u64>().ok()
    })
}

/// Releases and deliveries over a measurement (warm-up and window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryProgress {
    /// Counters when the load began.
    pub before: DeliveryCounters,
    /// Counters when it ended.
    pub after: DeliveryCounters,
    /// Time between the two readings.
    pub wall: Duration,
}

impl DeliveryProgress {
    /// Events released during the load.
    pub fn released(&self) -> u64 {
        self.after.released.saturating_sub(self.before.released)
    }

    /// Events delivered during the load (some may have been released before it).
    pub fn delivered(&self) -> u64 {
        self.after.delivered.saturating_sub(self.before.delivered)
    }

    /// Events released and not delivered when the load ended.
    pub fn backlog(&self) -> u64 {
        self.after.released.saturating_sub(self.after.delivered)
    }

    /// Per second of the load.
    pub fn rate(&self, n: u64) -> f64 {
        n as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The wait for the delivery backlog to drain, with the gateway under no load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drained {
    /// Events not yet delivered when the wait began.
    pub backlog: u64,
    /// Events delivered during the wait.
    pub delivered: u64,
    /// Events still not delivered when it ended (0 unless the wait hit its limit).
    pub left: u64,
    /// How long it took.
    pub took: Duration,
}

impl Drained {
    /// Events delivered per second with no load beside delivery.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "\
# HELP consentgate_releases_total Release events created.
# TYPE consentgate_releases_total counter
consentgate_releases_total 2500
consentgate_releases_total_other 7
consentgate_delivery_attempts_total{outcome=\"succeeded\"} 1900
consentgate_delivery_attempts_total{outcome=\"failed\"} 3
";

    #[test]
    fn counters_are_read_from_the_gateways_metrics() {
        assert_eq!(
            DeliveryCounters::parse(METRICS),
            Some(DeliveryCounters {
                released: 2500,
                delivered: 1900
            })
        );
        assert_eq!(
            DeliveryCounters::parse("consentgate_releases_total 1\n"),
            None
        );
    }

    #[test]
    fn progress_counts_what_the_load_released_and_what_is_left() {
        let progress = DeliveryProgress {
            before: DeliveryCounters {
                released: 100,
                delivered: 90,
            },
            after: DeliveryCounters {
                released: 2100,
                delivered: 1590,
            },
            wall: Duration::from_secs(2),
        };
        assert_eq!(progress.released(), 2000);
        assert_eq!(progress.delivered(), 1500);
        assert_eq!(progress.backlog(), 510);
        assert_eq!(progress.rate(progress.delivered()), 750.0);
    }
}
