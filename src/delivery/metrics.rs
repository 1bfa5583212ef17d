//! Delivery counters, rendered in the Prometheus text format by whoever serves `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::outbox::Recorded;

/// Attempts recorded by this node, by outcome.
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    /// Attempts answered 2xx.
    pub succeeded: AtomicU64,
    /// Attempts that failed (non-2xx or no answer), dead-lettering ones included.
    pub failed: AtomicU64,
    /// Events given up after their last attempt.
    pub dead_lettered: AtomicU64,
    /// Attempts whose event a revocation cancelled while they were in flight.
    pub cancelled_in_flight: AtomicU64,
    /// Events waiting for delivery (all nodes), as last counted, up to `delivery.max_backlog`.
    pub backlog: AtomicU64,
    /// Ingest requests refused because the backlog was at its bound.
    pub backlog_refusals: AtomicU64,
}

impl DeliveryMetrics {
    /// Counts one recorded attempt.
    pub fn observe(&self, recorded: Recorded, delivered: bool) {
        let attempts = if delivered {
            &self.succeeded
        } else {
            &self.failed
        };
        attempts.fetch_add(1, Ordering::Relaxed);
        match recorded {
            Recorded::DeadLettered => {
                self.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
            Recorded::CancelledInFlight => {
                self.cancelled_in_flight.fetch_add(1, Ordering::Relaxed);
            }
            Recorded::Delivered | Recorded::RetryScheduled | Recorded::ClaimLost => {}
        }
    }

    /// The counters as Prometheus text: `consentgate_delivery_attempts_total{outcome=…}` and
    /// `consentgate_deliveries_dead_lettered_total`, each with HELP and TYPE lines.
    pub fn render(&self) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str(
            "# HELP consentgate_delivery_attempts_total Webhook delivery attempts by outcome.\n",
        );
        out.push_str("# TYPE consentgate_delivery_attempts_total counter\n");
        for (outcome, value) in [
            ("succeeded", load(&self.succeeded)),
            ("failed", load(&self.failed)),
        ] {
            let _ = writeln!(
                out,
                "consentgate_delivery_attempts_total{{outcome=\"{outcome}\"}} {value}"
            );
        }
        out.push_str("# HELP consentgate_deliveries_dead_lettered_total Events given up after their last attempt.\n");
        out.push_str("# TYPE consentgate_deliveries_dead_lettered_total counter\n");
        let _ = writeln!(
            out,
            "consentgate_deliveries_dead_lettered_total {}",
            load(&self.dead_lettered)
        );
        out.push_str("# HELP consentgate_delivery_attempts_cancelled_in_flight_total Attempts under way when a revocation cancelled their event.\n");
        out.push_str("# TYPE consentgate_delivery_attempts_cancelled_in_flight_total counter\n");
        let _ = writeln!(
            out,
            "consentgate_delivery_attempts_cancelled_in_flight_total {}",
            load(&self.cancelled_in_flight)
        );
        out.push_str("# HELP consentgate_delivery_backlog Events waiting for delivery, as last counted (counting stops at delivery.max_backlog).\n");
        out.push_str("# TYPE consentgate_delivery_backlog gauge\n");
        let _ = writeln!(out, "consentgate_delivery_backlog {}", load(&self.backlog));
        out.push_str("# HELP consentgate_ingest_refused_backlog_total Ingest requests refused (503) while the delivery backlog was at its bound.\n");
        out.push_str("# TYPE consentgate_ingest_refused_backlog_total counter\n");
        let _ = writeln!(
            out,
            "consentgate_ingest_refused_backlog_total {}",
            load(&self.backlog_refusals)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_each_outcome() {
        let metrics = DeliveryMetrics::default();
        metrics.observe(Recorded::Delivered, true);
        metrics.observe(Recorded::RetryScheduled, false);
        metrics.observe(Recorded::DeadLettered, false);
        let text = metrics.render();
        assert!(text.contains("consentgate_delivery_attempts_total{outcome=\"succeeded\"} 1\n"));
        assert!(text.contains("consentgate_delivery_attempts_total{outcome=\"failed\"} 2\n"));
        assert!(text.contains("consentgate_deliveries_dead_lettered_total 1\n"));
        assert!(text.contains("# TYPE consentgate_delivery_attempts_total counter\n"));
    }
}
