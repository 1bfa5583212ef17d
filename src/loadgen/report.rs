//! What a phase measured, and how it is printed.

use std::time::Duration;

use super::ceiling::{CeilingReport, ROW_BYTES};
use super::delivery_progress::{DeliveryProgress, Drained};
use super::driver::LoadReport;
use super::gateway_process::Memory;
use super::stats::LatencySummary;

/// The batch size the gateway's batched figures and the reference ceiling use.
pub const REFERENCE_BATCH: usize = 100;

/// Everything one phase measured.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// `sqlite` or `postgresql`.
    pub database: &'static str,
    /// The durability settings the ceiling ran under (the gateway's own).
    pub settings: String,
    /// Transactions per request.
    pub batch: usize,
    /// The gateway's process id.
    pub gateway_pid: u32,
    /// Users who granted a consent, and how long granting took.
    pub consents: (usize, Duration),
    /// The main measurement (closed loop, or open loop at `--rate`).
    pub load: LoadReport,
    /// Open loop at half the main measurement's requests/s (`--half-peak`), after the wait
    /// for the delivery backlog to drain (`None` if the gateway's counters were unreadable).
    pub half_peak: Option<(Option<Drained>, LoadReport)>,
    /// The gateway's memory at the end of the load.
    pub memory: Option<Memory>,
    /// CPU used during the main measurement (warm-up and window).
    pub cpu: Option<CpuUse>,
    /// Releases and deliveries during the main measurement, from the gateway's counters.
    pub delivery: Option<DeliveryProgress>,
    /// Webhooks the receiver got while the gateway ran.
    pub webhooks: u64,
    /// Bare-INSERT ceilings: at the phase's batch size, and at [`REFERENCE_BATCH`].
    pub ceilings: Vec<CeilingReport>,
}

/// CPU time used by each process during a measurement of `wall` time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuUse {
    /// The gateway's (user and system).
    pub gateway: Duration,
    /// The load generator's own, webhook receiver included.
    pub load_generator: Duration,
    /// The measurement's wall-clock time.
    pub wall: Duration,
}

impl PhaseReport {
    /// The ceiling measured with `batch` rows per transaction.
    pub fn ceiling(&self, batch: usize) -> Option<&CeilingReport> {
        self.ceilings.iter().find(|c| c.batch == batch)
    }

    /// Gateway transactions/s over the ceiling at the same batch size.
    pub fn ratio(&self) -> Option<f64> {
        ratio(
            self.load.transactions_per_second(),
            self.ceiling(self.batch)?,
        )
    }

    /// What makes the phase a failed check: requests without a 202 (or, when verified, a
    /// 202 that did not accept the whole batch), no request at all, or an empty ceiling.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for load in std::iter::once(&self.load).chain(self.half_peak.as_ref().map(|(_, half)| half))
        {
            let totals = &load.totals;
            if totals.sent == 0 || load.responses == 0 {
                problems.push(format!(
                    "batch {}: no request was answered in the window",
                    self.batch
                ));
            }
            if totals.errors > 0 {
                problems.push(format!(
                    "batch {}: {} requests failed",
                    self.batch, totals.errors
                ));
            }
            if !totals.other_statuses.is_empty() {
                problems.push(format!(
                    "batch {}: answers other than 202: {}",
                    self.batch,
                    statuses(load)
                ));
            }
            if totals.incomplete > 0 {
                problems.push(format!(
                    "batch {}: {} answers accepted less than the whole batch",
                    self.batch, totals.incomplete
                ));
            }
        }
        if self.ceilings.iter().any(|c| c.rows == 0) || self.ceilings.is_empty() {
            problems.push(format!("batch {}: the ceiling wrote no row", self.batch));
        }
        problems
    }
}

/// Prints one phase.
pub fn print_phase(number: usize, of: usize, report: &PhaseReport) {
    let load = &report.load;
    let mode = match load.plan.rate {
        Some(rate) => format!("open loop at {rate:.1} requests/s"),
        None => "closed loop".to_string(),
    };
    println!(
        "\n== phase {number} of {of}: {}, {} per request, {} connections, {mode}",
        report.database,
        transactions(report.batch),
        load.plan.connections
    );
    println!(
        "gateway      pid {}; {} users granted a consent in {:.1} s",
        report.gateway_pid,
        report.consents.0,
        report.consents.1.as_secs_f64()
    );
    print_load("load", load, false);
    if let Some((drained, half)) = &report.half_peak {
        match drained {
            Some(d) => println!(
                "drain        {} events left undelivered by the load; {} delivered in {:.1} s with no load ({:.0}/s), {} left",
                d.backlog,
                d.delivered,
                d.took.as_secs_f64(),
                d.rate(),
                d.left
            ),
            None => println!("drain        the gateway's delivery counters could not be read"),
        }
        print_load("half peak", half, true);
    }
    if let Some(cpu) = report.cpu {
        let cores = |used: Duration| used.as_secs_f64() / cpu.wall.as_secs_f64().max(1e-9);
        println!(
            "CPU          gateway {:.1} s ({:.2} cores), load generator {:.1} s ({:.2} cores) over the {:.1} s of warm-up and window",
            cpu.gateway.as_secs_f64(),
            cores(cpu.gateway),
            cpu.load_generator.as_secs_f64(),
            cores(cpu.load_generator),
            cpu.wall.as_secs_f64()
        );
    }
    if let Some(delivery) = report.delivery {
        println!(
            "delivery     during warm-up and window: {} events released ({:.0}/s), {} delivered ({:.0}/s); {} not yet delivered at the end",
            delivery.released(),
            delivery.rate(delivery.released()),
            delivery.delivered(),
            delivery.rate(delivery.delivered()),
            delivery.backlog()
        );
    }
    println!(
        "webhooks     {} received while the gateway ran",
        report.webhooks
    );
    match report.memory {
        Some(memory) => println!(
            "gateway RSS  peak {:.1} MiB (VmHWM), {:.1} MiB at the end of the load",
            mib(memory.peak_rss),
            mib(memory.rss)
        ),
        None => println!("gateway RSS  not available (no /proc)"),
    }
    println!(
        "ceiling      {}: bare {ROW_BYTES}-byte rows, one writer, same database",
        report.settings
    );
    for ceiling in &report.ceilings {
        println!(
            "             {:>4}-row transactions: {:.0} rows/s ({} rows in {:.1} s; per transaction {})",
            ceiling.batch,
            ceiling.rows_per_second(),
            ceiling.rows,
            ceiling.elapsed.as_secs_f64(),
            ceiling.commit.map_or_else(
                || "-".to_string(),
                |c| format!("p50 {}, p99 {}", ms(c.p50), ms(c.p99))
            )
        );
    }
    let tps = load.transactions_per_second();
    let ratios: Vec<String> = report
        .ceilings
        .iter()
        .filter_map(|c| {
            ratio(tps, c).map(|r| {
                format!(
                    "{:.2}× the {}-row ceiling ({:.0} rows/s)",
                    r,
                    c.batch,
                    c.rows_per_second()
                )
            })
        })
        .collect();
    println!(
        "ratio        {tps:.0} transactions/s = {}",
        ratios.join("; ")
    );
}

/// Prints a table of every phase, then the batch-1 to batch-100 ratio when both ran.
pub fn print_summary(reports: &[PhaseReport]) {
    println!("\n== summary");
    println!(
        "{:<10} {:>5} {:>5} {:>11} {:>15} {:>8} {:>8} {:>15} {:>7} {:>13}",
        "database",
        "batch",
        "conns",
        "requests/s",
        "transactions/s",
        "p50 ms",
        "p99 ms",
        "ceiling rows/s",
        "ratio",
        "peak RSS MiB"
    );
    for r in reports {
        let latency = r.load.latency;
        println!(
            "{:<10} {:>5} {:>5} {:>11.1} {:>15.1} {:>8} {:>8} {:>15} {:>7} {:>13}",
            r.database,
            r.batch,
            r.load.plan.connections,
            r.load.requests_per_second(),
            r.load.transactions_per_second(),
            latency.map_or_else(|| "-".into(), |l| ms_number(l.p50)),
            latency.map_or_else(|| "-".into(), |l| ms_number(l.p99)),
            r.ceiling(r.batch)
                .map_or_else(|| "-".into(), |c| format!("{:.0}", c.rows_per_second())),
            r.ratio().map_or_else(|| "-".into(), |x| format!("{x:.2}×")),
            r.memory
                .map_or_else(|| "-".into(), |m| format!("{:.1}", mib(m.peak_rss))),
        );
    }
    for r in reports {
        if let Some((_, half)) = &r.half_peak {
            println!(
                "{} batch {}: at half the peak ({:.1} requests/s), p99 {}",
                r.database,
                r.batch,
                half.plan.rate.unwrap_or_default(),
                half.latency.map_or_else(|| "-".into(), |l| ms(l.p99))
            );
        }
    }
    let single = reports.iter().find(|r| r.batch == 1);
    let batched = reports.iter().find(|r| r.batch == REFERENCE_BATCH);
    if let (Some(single), Some(batched)) = (single, batched) {
        let base = batched.load.transactions_per_second();
        if base > 0.0 {
            println!(
                "one transaction per request: {:.2}× the transactions/s of batches of {REFERENCE_BATCH}",
                single.load.transactions_per_second() / base
            );
        }
    }
}

/// Prints one measurement; `show_rate`: name its open-loop rate (the heading does not).
fn print_load(label: &str, load: &LoadReport, show_rate: bool) {
    let mode = match load.plan.rate {
        Some(rate) if show_rate => format!(", open loop at {rate:.1} requests/s"),
        _ => String::new(),
    };
    println!(
        "{label:<12} {:.1} s after {:.1} s of warm-up{mode}: {} answers, {:.1} requests/s, {:.1} transactions/s",
        load.plan.duration.as_secs_f64(),
        load.plan.warmup.as_secs_f64(),
        load.responses,
        load.requests_per_second(),
        load.transactions_per_second()
    );
    println!("             latency {}", latency(load.latency));
    let totals = &load.totals;
    let mut line = format!(
        "             all {} requests sent (warm-up included): {} × 202, non-2xx: {}, errors: {}",
        totals.sent,
        totals.accepted,
        statuses(load),
        totals.errors
    );
    if load.plan.verify {
        line.push_str(&format!(", incomplete 202s: {}", totals.incomplete));
    }
    if load.plan.rate.is_some() {
        line.push_str(&format!(", behind schedule: {}", totals.behind_schedule));
    }
    println!("{line}");
    for sample in &totals.error_samples {
        println!("             error: {sample}");
    }
}

fn latency(summary: Option<LatencySummary>) -> String {
    summary.map_or_else(
        || "-".to_string(),
        |l| {
            format!(
                "p50 {}, p90 {}, p99 {}, p99.9 {}, max {} (mean {})",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                ms(l.mean)
            )
        },
    )
}

fn statuses(load: &LoadReport) -> String {
    if load.totals.other_statuses.is_empty() {
        return "none".to_string();
    }
    load.totals
        .other_statuses
        .iter()
        .map(|(status, n)| format!("{n} × {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ratio(tps: f64, ceiling: &CeilingReport) -> Option<f64> {
    let rows = ceiling.rows_per_second();
    (rows > 0.0).then(|| tps / rows)
}

fn transactions(n: usize) -> String {
    if n == 1 {
        "1 transaction".to_string()
    } else {
        format!("{n} transactions")
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", ms_number(d))
}

fn ms_number(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::driver::{Plan, Totals};

    fn phase(totals: Totals, responses: u64, ceiling_rows: u64) -> PhaseReport {
        let plan = Plan {
            connections: 1,
            batch: 10,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
            rate: None,
            verify: true,
            users: 1,
            seed: 0,
            run_tag: "t".into(),
        };
        PhaseReport {
            database: "sqlite",
            settings: String::new(),
            batch: 10,
            gateway_pid: 1,
            consents: (1, Duration::ZERO),
            load: LoadReport {
                plan,
                responses,
                transactions: responses * 10,
                latency: None,
                totals,
            },
            half_peak: None,
            memory: None,
            cpu: None,
            delivery: None,
            webhooks: 0,
            ceilings: vec![CeilingReport {
                batch: 10,
                rows: ceiling_rows,
                elapsed: Duration::from_secs(1),
                commit: None,
            }],
        }
    }

    fn all_accepted(n: u64) -> Totals {
        Totals {
            sent: n,
            accepted: n,
            ..Totals::default()
        }
    }

    #[test]
    fn a_phase_where_every_request_was_accepted_is_a_passed_check() {
        assert_eq!(
            phase(all_accepted(5), 5, 100).problems(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_phase_with_an_answer_other_than_202_is_a_failed_check() {
        let mut totals = all_accepted(5);
        totals.other_statuses.insert(503, 1);
        assert_eq!(phase(totals, 5, 100).problems().len(), 1);
    }

    #[test]
    fn a_phase_with_a_transport_error_or_an_incomplete_202_is_a_failed_check() {
        let mut totals = all_accepted(5);
        totals.errors = 1;
        totals.incomplete = 1;
        assert_eq!(phase(totals, 5, 100).problems().len(), 2);
    }

    #[test]
    fn a_phase_without_requests_or_ceiling_rows_is_a_failed_check() {
        assert_eq!(phase(Totals::default(), 0, 0).problems().len(), 2);
    }
}
