//! The load: N connections, each its own HTTP/1.1 keep-alive client, sending
//! `POST /v1/transactions` for a fixed time.
//!
//! Closed loop (the default): each connection sends its next request when the previous one
//! has been answered, so the gateway runs as fast as it can with N requests in flight.
//! Open loop (`--rate`): request k of connection i is due at `start + (k·N + i) / rate`; it is
//! sent then (or at once if the connection is still busy) and its latency counts from when it
//! was due, so a stall of the gateway shows in the percentiles instead of hiding behind fewer
//! requests (coordinated omission).
//!
//! Throughput and latency count the responses that arrived inside the measured window
//! (after the warm-up, before the end); statuses and errors count every request sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::BenchError;
use super::clients::Tls;
use super::content::BatchFactory;
use super::stats::LatencySummary;

/// Distinct error messages kept as examples.
const ERROR_SAMPLES: usize = 5;

/// One measurement.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Concurrent connections.
    pub connections: usize,
    /// Transactions per request.
    pub batch: usize,
    /// Load before the window, not counted.
    pub warmup: Duration,
    /// The window.
    pub duration: Duration,
    /// Open-loop requests/s over all connections; `None`: closed loop.
    pub rate: Option<f64>,
    /// Check each 202's `accepted` count.
    pub verify: bool,
    /// Users of the population.
    pub users: usize,
    /// Seed of the content.
    pub seed: u64,
    /// Makes this measurement's `txn_id`s unique.
    pub run_tag: String,
}

/// What one measurement saw.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The plan it ran.
    pub plan: Plan,
    /// Responses that arrived in the window.
    pub responses: u64,
    /// Transactions in the 202 responses that arrived in the window.
    pub transactions: u64,
    /// Latency of the responses in the window.
    pub latency: Option<LatencySummary>,
    /// Every request, warm-up and tail included.
    pub totals: Totals,
}

impl LoadReport {
    /// Responses per second in the window.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.responses, self.plan.duration)
    }

    /// Accepted transactions per second in the window.
    pub fn transactions_per_second(&self) -> f64 {
        per_second(self.transactions, self.plan.duration)
    }
}

/// Counts over every request of a measurement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests sent.
    pub sent: u64,
    /// Answered 202.
    pub accepted: u64,
    /// Other statuses and how often each came.
    pub other_statuses: BTreeMap<u16, u64>,
    /// Requests without an HTTP answer (connection, TLS, timeout).
    pub errors: u64,
    /// A few of their messages.
    pub error_samples: Vec<String>,
    /// 202s whose `accepted` count was not the batch size (only when verifying).
    pub incomplete: u64,
    /// Open loop: requests that were due in the window but not sent by its end.
    pub behind_schedule: u64,
}

impl Totals {
    fn merge(&mut self, other: Totals) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        for (status, n) in other.other_statuses {
            *self.other_statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        for sample in other.error_samples {
            self.keep_sample(sample);
        }
        self.incomplete += other.incomplete;
        self.behind_schedule += other.behind_schedule;
    }

    /// Keeps `message` as an example, unless it is known or [`ERROR_SAMPLES`] are kept.
    fn keep_sample(&mut self, message: String) {
        if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&message) {
            self.error_samples.push(message);
        }
    }
}

/// Runs `plan` against the bank listener at `bank_url`.
pub async fn run(plan: &Plan, tls: &Tls, bank_url: &str) -> Result<LoadReport, BenchError> {
    let url: Arc<str> = Arc::from(format!("{bank_url}/v1/transactions"));
    let plan = Arc::new(plan.clone());
    let clients = (0..plan.connections)
        .map(|_| tls.bank_connection())
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        tasks.spawn(connection(
            index,
            client,
            Arc::clone(&url),
            Arc::clone(&plan),
            start,
        ));
    }
    let mut totals = Totals::default();
    let mut latencies = Vec::new();
    let (mut responses, mut transactions) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let tally = done.map_err(|e| BenchError::Load(format!("a connection task failed: {e}")))?;
        totals.merge(tally.totals);
        latencies.extend(tally.latencies);
        responses += tally.responses;
        transactions += tally.transactions;
    }
    Ok(LoadReport {
        plan: Plan::clone(&plan),
        responses,
        transactions,
        latency: LatencySummary::from_micros(latencies),
        totals,
    })
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    totals: Totals,
    latencies: Vec<u64>,
    responses: u64,
    transactions: u64,
}

/// The result of one request.
enum Outcome {
    Answered { status: u16, accepted: Option<u64> },
    Failed(String),
}

async fn connection(
    index: usize,
    client: reqwest::Client,
    url: Arc<str>,
    plan: Arc<Plan>,
    start: Instant,
) -> Tally {
    let window_start = start + plan.warmup;
    let end = window_start + plan.duration;
    let mut factory = BatchFactory::new(&plan.run_tag, index, plan.users, plan.seed);
    let mut tally = Tally::default();
    let schedule = plan.rate.map(|rate| {
        let interval = Duration::from_secs_f64(plan.connections as f64 / rate);
        let offset = Duration::from_secs_f64(index as f64 / rate);
        (start + offset, interval)
    });
    let mut next_due = schedule.map(|(first, _)| first);
    loop {
        let body = factory.body(plan.batch);
        let sent_at = match (next_due.as_mut(), schedule) {
            (Some(due), Some((_, interval))) => {
                let now = Instant::now();
                if *due >= end {
                    break;
                }
                if now >= end {
                    let missed = end.duration_since(*due).as_secs_f64() / interval.as_secs_f64();
                    tally.totals.behind_schedule += missed.ceil() as u64;
                    break;
                }
                let this = *due;
                *due += interval;
                tokio::time::sleep_until(this.into()).await;
                this
            }
            _ => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                now
            }
        };
        let outcome = send(&client, &url, body, plan.verify).await;
        let done = Instant::now();
        let in_window = done >= window_start && done <= end;
        tally.totals.sent += 1;
        match outcome {
            Outcome::Failed(message) => {
                tally.totals.errors += 1;
                tally.totals.keep_sample(message);
            }
            Outcome::Answered { status, accepted } => {
                if status == 202 {
                    tally.totals.accepted += 1;
                    if plan.verify && accepted != Some(plan.batch as u64) {
                        tally.totals.incomplete += 1;
                    }
                } else {
                    *tally.totals.other_statuses.entry(status).or_default() += 1;
                }
                if in_window {
                    let micros = done.duration_since(sent_at).as_micros();
                    tally
                        .latencies
                        .push(u64::try_from(micros).unwrap_or(u64::MAX));
                    tally.responses += 1;
                    if status == 202 {
                        tally.transactions += plan.batch as u64;
                    }
                }
            }
        }
    }
    tally
}

#[derive(Deserialize)]
struct Accepted {
    accepted: u64,
}

async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>, verify: bool) -> Outcome {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => return Outcome::Failed(describe(&e)),
    };
    let status = response.status().as_u16();
    // The body is read in full either way: the connection is reused only once it is.
    match response.bytes().await {
        Ok(bytes) => {
            let accepted = (verify && status == 202)
                .then(|| serde_json::from_slice::<Accepted>(&bytes).ok())
                .flatten()
                .map(|a| a.accepted);
            Outcome::Answered { status, accepted }
        }
        Err(e) => Outcome::Failed(describe(&e)),
    }
}

/// An error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        count as f64 / window.as_secs_f64()
    }
}
