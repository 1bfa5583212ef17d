//! `consentgate-bench`, the load generator (issue 6): it runs a gateway on loopback with
//! every feature on (mutual TLS, consents, Cedar, the audit log, webhook delivery to a local
//! receiver), loads it with realistic bank batches over N keep-alive connections for a fixed
//! time, and compares the accepted transactions per second with the database's storage
//! ceiling: bare 285-byte rows inserted in transactions of the same size, on the same
//! database with the same durability settings.
//!
//! Each phase (one per batch size) runs on a fresh gateway and database:
//!
//! 1. a database (a SQLite file in the run's folder, or a new PostgreSQL database) and a
//!    configuration made from a fresh development PKI ([`workspace`]);
//! 2. the gateway as a child process, so its memory is its own ([`gateway_process`]);
//! 3. one consent per user through the consent API ([`population`]);
//! 4. warm-up, then the measured window ([`driver`]), optionally again open loop at half
//!    the measured peak;
//! 5. the gateway stopped, then the ceiling on its database ([`ceiling`]);
//! 6. the report ([`report`]).
//!
//! Everything binds and connects on 127.0.0.1 only; nothing runs longer than the durations
//! asked for plus setup.

mod args;
mod ceiling;
mod cleanup;
mod clients;
mod content;
pub mod delivery_progress;
mod driver;
mod gateway_process;
mod population;
mod receiver;
mod report;
mod stats;
mod workspace;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser as _;

use delivery_progress::{DeliveryCounters, DeliveryProgress, Drained};

pub use args::{DatabaseChoice, Options};
pub use ceiling::{CeilingReport, ROW_BYTES};
pub use driver::{LoadReport, Plan, Totals};
pub use gateway_process::Memory;
pub use report::{CpuUse, PhaseReport, REFERENCE_BATCH};
pub use stats::{LatencySummary, percentile};

use crate::db::Target;
use clients::Tls;
use gateway_process::GatewayProcess;
use population::Minter;
use receiver::Receiver;
use workspace::{PhaseDatabase, Workspace};

/// Why a run could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run's folder, keys, clients or consents could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// The gateway did not start, stop or run as expected.
    #[error("gateway: {0}")]
    Gateway(String),
    /// The database could not be created, reached or measured.
    #[error("database: {0}")]
    Database(String),
    /// The load could not be driven.
    #[error("load: {0}")]
    Load(String),
}

/// The `consentgate-bench` command: parses the arguments, runs every phase, prints the
/// reports; exit 1 when a request failed or was not answered 202, 2 on bad usage.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    if let Some(args::Internal::Gateway { config }) = cli.internal {
        return crate::cli::serve_as_child(&config);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the load generator's own executable: {e}");
            return ExitCode::from(1);
        }
    };
    let options = match cli.args.into_options(exe) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    cleanup::remove_on_interrupt();
    let outcome = run(&options);
    cleanup::wait_if_interrupted();
    match outcome {
        Ok(reports) => {
            let problems: Vec<String> = reports.iter().flat_map(PhaseReport::problems).collect();
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                for problem in problems {
                    eprintln!("error: {problem}");
                }
                ExitCode::from(1)
            }
        }
        Err(BenchError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs every phase of `options`, printing each report as it completes and a summary at the
/// end, and returns the reports.
pub fn run(options: &Options) -> Result<Vec<PhaseReport>, BenchError> {
    options.validate()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let workspace = Workspace::create(options.dir.as_deref(), options.keep)?;
    let tls = Tls::load(&workspace.setup)?;
    let minter = Arc::new(Minter::load(&workspace.setup)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(format!("cannot start the runtime: {e}")))?;
    let receiver = runtime.block_on(async { Receiver::start() })?;
    println!(
        "consentgate-bench: {} connections, {} users, seed {}, run folder `{}`",
        options.connections,
        options.users,
        options.seed,
        workspace.dir().display()
    );
    let mut reports = Vec::with_capacity(options.batches.len());
    let mut failure = None;
    for (index, &batch) in options.batches.iter().enumerate() {
        let phase = Phase {
            index,
            batch,
            options,
            workspace: &workspace,
            tls: &tls,
            minter: Arc::clone(&minter),
            receiver: &receiver,
            runtime: &runtime,
        };
        match phase.run() {
            Ok(report) => {
                report::print_phase(index + 1, options.batches.len(), &report);
                reports.push(report);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    runtime.block_on(receiver.stop());
    if let Some(e) = failure {
        return Err(e);
    }
    report::print_summary(&reports);
    Ok(reports)
}

/// One batch size on its own gateway and database.
struct Phase<'a> {
    index: usize,
    batch: usize,
    options: &'a Options,
    workspace: &'a Workspace,
    tls: &'a Tls,
    minter: Arc<Minter>,
    receiver: &'a Receiver,
    runtime: &'a tokio::runtime::Runtime,
}

impl Phase<'_> {
    fn run(self) -> Result<PhaseReport, BenchError> {
        let options = self.options;
        let database = PhaseDatabase::create(&options.database, self.workspace.dir(), self.index)?;
        let config = self.workspace.write_config(
            self.index,
            &database.url(),
            &self.receiver.url,
            options.gateway_workers,
        )?;
        let log = self
            .workspace
            .dir()
            .join(format!("gateway-{}.log", self.index));
        let gateway = GatewayProcess::spawn(&options.gateway_exe, &config, &log)?;
        let webhooks_before = self.receiver.received();
        let run_tag = format!("{:08x}", rand::random::<u32>());
        let plan = Plan {
            connections: options.connections,
            batch: self.batch,
            warmup: options.warmup,
            duration: options.duration,
            rate: options.rate,
            verify: options.verify,
            users: options.users,
            seed: options.seed.wrapping_add(self.index as u64),
            run_tag,
        };
        let (consents, load, cpu, delivery, half_peak) = self.runtime.block_on(async {
            let api = self.tls.user_client()?;
            wait_until_ready(&api, &gateway.api_url).await?;
            let took = population::grant(
                &api,
                &gateway.api_url,
                Arc::clone(&self.minter),
                options.users,
            )
            .await?;
            let counters_before = DeliveryCounters::fetch(&api, &gateway.api_url).await;
            let before = (
                gateway.cpu_time(),
                gateway_process::cpu_time("self"),
                Instant::now(),
            );
            let before_wall = Instant::now();
            let load = driver::run(&plan, self.tls, &gateway.bank_url).await?;
            let cpu = match (
                before,
                gateway.cpu_time(),
                gateway_process::cpu_time("self"),
            ) {
                ((Some(g0), Some(l0), started), Some(g1), Some(l1)) => Some(CpuUse {
                    gateway: g1.saturating_sub(g0),
                    load_generator: l1.saturating_sub(l0),
                    wall: started.elapsed(),
                }),
                _ => None,
            };
            let delivery = match (
                counters_before,
                DeliveryCounters::fetch(&api, &gateway.api_url).await,
            ) {
                (Some(before), Some(after)) => Some(DeliveryProgress {
                    before,
                    after,
                    wall: before_wall.elapsed(),
                }),
                _ => None,
            };
            let half_peak = if options.half_peak {
                // Half the peak is measured on a gateway at rest: the events the full load
                // released are delivered first, or the writer would still be busy with them.
                let drained = drain(&api, &gateway.api_url).await;
                let half = Plan {
                    rate: Some((load.requests_per_second() / 2.0).max(1.0)),
                    run_tag: format!("{}h", plan.run_tag),
                    ..plan.clone()
                };
                Some((
                    drained,
                    driver::run(&half, self.tls, &gateway.bank_url).await?,
                ))
            } else {
                None
            };
            Ok::<_, BenchError>(((options.users, took), load, cpu, delivery, half_peak))
        })?;
        let memory = gateway.memory();
        let gateway_pid = gateway.pid();
        gateway.stop()?;
        let webhooks = self.receiver.received().saturating_sub(webhooks_before);
        let target =
            Target::parse(&database.url()).map_err(|e| BenchError::Database(e.to_string()))?;
        let settings = ceiling::settings(&target)?;
        let mut ceilings = vec![ceiling::measure(
            &target,
            self.batch,
            options.ceiling_duration,
            plan.seed,
        )?];
        if self.batch != REFERENCE_BATCH {
            ceilings.push(ceiling::measure(
                &target,
                REFERENCE_BATCH,
                options.ceiling_duration,
                plan.seed,
            )?);
        }
        Ok(PhaseReport {
            database: database.kind(),
            settings,
            batch: self.batch,
            gateway_pid,
            consents,
            load,
            half_peak,
            memory,
            cpu,
            delivery,
            webhooks,
            ceilings,
        })
    }
}

/// Longest wait for the delivery backlog to drain before the half-peak measurement.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Waits until every event released so far is delivered (or [`DRAIN_LIMIT`] passed):
/// how long it took and how many events were left, if the counters could be read.
async fn drain(client: &reqwest::Client, api_url: &str) -> Option<Drained> {
    let started = Instant::now();
    let first = DeliveryCounters::fetch(client, api_url).await?;
    let mut last = first;
    while last.released > last.delivered && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        last = DeliveryCounters::fetch(client, api_url).await?;
    }
    Some(Drained {
        backlog: first.released.saturating_sub(first.delivered),
        delivered: last.delivered.saturating_sub(first.delivered),
        left: last.released.saturating_sub(last.delivered),
        took: started.elapsed(),
    })
}

/// Polls `GET /readyz` until it answers 200.
async fn wait_until_ready(client: &reqwest::Client, api_url: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("{api_url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Gateway(format!(
                "`{api_url}/readyz` did not answer 200 in time"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
