//! Prometheus metrics (CONTRACT §10): request counts and latency histograms per route, and
//! the gateway's own counters. Kept in-house: a few maps behind a mutex cost less than a
//! metrics framework, and the text format is small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Listener, route pattern, method.
type RouteKey = (&'static str, String, String);
/// Listener, route pattern, method, status.
type StatusKey = (&'static str, String, String, u16);

/// Every metric of the process.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<StatusKey, u64>>,
    latency: Mutex<BTreeMap<RouteKey, Histogram>>,
    /// Transactions stored (not counting duplicates).
    pub transactions_ingested: AtomicU64,
    /// Balances stored (not counting duplicates).
    pub balances_ingested: AtomicU64,
    /// Items re-sent with identical content.
    pub duplicates: AtomicU64,
    /// Batches refused (validation, conflict).
    pub batches_rejected: AtomicU64,
    /// Release events created.
    releases: AtomicU64,
    /// Consent-and-purpose decisions that released nothing.
    withholds: AtomicU64,
    /// Fields withheld, by reason.
    withheld_fields: [AtomicU64; 4],
    /// Leaves in the audit tree (kept by the writer after each commit).
    audit_tree_size: std::sync::Arc<AtomicU64>,
    /// Deliveries by outcome (the delivery worker's counters).
    delivery: Option<std::sync::Arc<crate::delivery::DeliveryMetrics>>,
}

/// Withhold reasons in `DecisionStats` order.
const REASONS: [&str; 4] = [
    "prohibited_purpose",
    "no_consent",
    "not_permitted_by_policy",
    "field_absent",
];

impl Metrics {
    fn observe(
        &self,
        listener: &'static str,
        route: String,
        method: String,
        status: u16,
        seconds: f64,
    ) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((listener, route.clone(), method.clone(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let histogram = latency.entry((listener, route, method)).or_default();
            histogram.count += 1;
            histogram.sum += seconds;
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
                if seconds <= *bound {
                    *count += 1;
                }
            }
        }
    }

    /// Metrics whose audit tree size is read from `tree_size` (kept by the writer) and
    /// which include the delivery worker's counters.
    pub fn new(
        tree_size: std::sync::Arc<AtomicU64>,
        delivery: std::sync::Arc<crate::delivery::DeliveryMetrics>,
    ) -> Self {
        Self {
            audit_tree_size: tree_size,
            delivery: Some(delivery),
            ..Self::default()
        }
    }

    /// Adds a committed batch's decisions.
    pub fn record_decisions(&self, stats: &crate::ingest::DecisionStats) {
        self.releases.fetch_add(stats.releases, Ordering::Relaxed);
        self.withholds.fetch_add(stats.withholds, Ordering::Relaxed);
        for (counter, n) in self.withheld_fields.iter().zip(stats.withheld_fields) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP consentgate_http_requests_total HTTP requests by listener, route, method and status.\n");
        out.push_str("# TYPE consentgate_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((listener, route, method, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "consentgate_http_requests_total{{listener=\"{listener}\",route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP consentgate_http_request_duration_seconds HTTP request latency by listener and route.\n");
        out.push_str("# TYPE consentgate_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for ((listener, route, method), h) in latency.iter() {
                let labels = format!(
                    "listener=\"{listener}\",route=\"{}\",method=\"{method}\"",
                    escape(route)
                );
                for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "consentgate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "consentgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "consentgate_http_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "consentgate_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        counter(
            &mut out,
            "consentgate_records_ingested_total{kind=\"transaction\"}",
            "Records stored, by kind.",
            &self.transactions_ingested,
        );
        let _ = writeln!(
            out,
            "consentgate_records_ingested_total{{kind=\"balance\"}} {}",
            self.balances_ingested.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "consentgate_records_duplicate_total",
            "Records re-sent with identical content.",
            &self.duplicates,
        );
        counter(
            &mut out,
            "consentgate_batches_rejected_total",
            "Bank batches refused as a whole.",
            &self.batches_rejected,
        );
        counter(
            &mut out,
            "consentgate_releases_total",
            "Release events created (a consent and purpose that released at least one field).",
            &self.releases,
        );
        counter(
            &mut out,
            "consentgate_withholds_total",
            "Consent-and-purpose decisions that released nothing.",
            &self.withholds,
        );
        out.push_str("# HELP consentgate_fields_withheld_total Fields withheld by reason.\n");
        out.push_str("# TYPE consentgate_fields_withheld_total counter\n");
        for (reason, n) in REASONS.iter().zip(&self.withheld_fields) {
            let _ = writeln!(
                out,
                "consentgate_fields_withheld_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP consentgate_audit_tree_size Leaves in the audit log's Merkle tree.\n");
        out.push_str("# TYPE consentgate_audit_tree_size gauge\n");
        let _ = writeln!(
            out,
            "consentgate_audit_tree_size {}",
            self.audit_tree_size.load(Ordering::Relaxed)
        );
        if let Some(delivery) = &self.delivery {
            out.push_str(&delivery.render());
        }
        out
    }
}

fn counter(out: &mut String, series: &str, help: &str, value: &AtomicU64) {
    let name = series.split('{').next().unwrap_or(series);
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{series} {}", value.load(Ordering::Relaxed));
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware of the bank listener.
pub async fn record_bank(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    record("bank", req, next).await
}

/// Middleware of the API listener.
pub async fn record_api(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    record("api", req, next).await
}

async fn record(
    listener: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // Only standard methods become label values: a made-up method must not grow the series.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        // The matched pattern (`/v1/consents/{id}`), never the raw path: ids would make the
        // label set unbounded.
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        metrics.observe(
            listener,
            route,
            method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
