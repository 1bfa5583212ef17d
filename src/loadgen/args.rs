//! The command line of `consentgate-bench`, and the options a run is made of.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::BenchError;

#[derive(Parser)]
#[command(
    name = "consentgate-bench",
    version,
    about = "Load generator: runs a gateway on loopback, loads it over mutual TLS and compares it with the database's bare insert ceiling",
    args_conflicts_with_subcommands = true
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) internal: Option<Internal>,
    #[command(flatten)]
    pub(super) args: Args,
}

/// Commands the load generator gives itself.
#[derive(Subcommand)]
pub(super) enum Internal {
    /// Runs the gateway under test: `consentgate serve --config FILE`, also stopping when
    /// standard input closes. The load generator starts itself this way as a child process.
    #[command(name = "__gateway", hide = true)]
    Gateway {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// What to measure.
#[derive(clap::Args)]
pub(super) struct Args {
    /// `sqlite` (a file in the run's folder), or the URL of a PostgreSQL database from which
    /// the load generator may create databases: each phase runs on a fresh database, dropped
    /// afterwards.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Transactions per request; a list runs one phase per size, each on a fresh gateway and
    /// database (e.g. `1,100`).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    batch: Vec<usize>,
    /// Concurrent HTTP/1.1 keep-alive connections [default: 64; smoke: 4].
    #[arg(long)]
    connections: Option<usize>,
    /// Users, each granted one consent before the load starts [default: 1000; smoke: 50].
    #[arg(long)]
    users: Option<usize>,
    /// Measured time per phase, e.g. `10` or `30s` [default: 10 s; smoke: 2 s].
    #[arg(long, value_parser = seconds)]
    duration: Option<Duration>,
    /// Load before the measurement, not counted [default: 2 s; smoke: 1 s].
    #[arg(long, value_parser = seconds)]
    warmup: Option<Duration>,
    /// Time of each bare-INSERT ceiling measurement [default: 5 s; smoke: 1 s].
    #[arg(long, value_parser = seconds)]
    ceiling_duration: Option<Duration>,
    /// Open loop at this many requests per second (spread over the connections) instead of
    /// closed loop; latency counts from each request's scheduled time.
    #[arg(long)]
    rate: Option<f64>,
    /// After the closed-loop measurement, measure again open loop at half its requests/s.
    #[arg(long, conflicts_with = "rate")]
    half_peak: bool,
    /// A short check for CI: small defaults, every answer's `accepted` count checked; exits
    /// 1 unless every request was answered 202 in full.
    #[arg(long)]
    smoke: bool,
    /// The gateway's `server.workers` [default: the gateway's own, the number of cores].
    #[arg(long)]
    gateway_workers: Option<usize>,
    /// Folder in which the run's folder is made (it holds the SQLite file, so pick the disk
    /// to measure) [default: the system's temporary folder].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the run's folder (keys, configurations, gateway logs, SQLite files).
    #[arg(long)]
    keep: bool,
    /// Seed of the generated content [default: random].
    #[arg(long)]
    seed: Option<u64>,
}

/// Where each phase's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// A SQLite file in the run's folder.
    Sqlite,
    /// A fresh database created through this PostgreSQL URL.
    Postgres {
        /// A database the user can connect to and create databases from.
        admin_url: String,
    },
}

/// Everything a run needs; [`Options::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database backend.
    pub database: DatabaseChoice,
    /// One phase per batch size.
    pub batches: Vec<usize>,
    /// Concurrent connections.
    pub connections: usize,
    /// Users with a consent.
    pub users: usize,
    /// Measured time per phase.
    pub duration: Duration,
    /// Unmeasured load first.
    pub warmup: Duration,
    /// Time of each ceiling measurement.
    pub ceiling_duration: Duration,
    /// Open-loop requests/s; `None`: closed loop.
    pub rate: Option<f64>,
    /// Also measure open loop at half the closed-loop requests/s.
    pub half_peak: bool,
    /// Check each 202's `accepted` count against the batch (costs client CPU).
    pub verify: bool,
    /// The gateway's `server.workers`.
    pub gateway_workers: Option<usize>,
    /// Parent of the run's folder; `None`: the temporary folder.
    pub dir: Option<PathBuf>,
    /// Keep the run's folder.
    pub keep: bool,
    /// Seed of the generated content.
    pub seed: u64,
    /// The executable that runs the gateway with `__gateway --config FILE` (the load
    /// generator itself).
    pub gateway_exe: PathBuf,
}

impl Options {
    /// The defaults: SQLite, batches of 100, 64 connections, 1,000 users, 10 s after 2 s of
    /// warm-up, 5 s ceilings.
    pub fn new(gateway_exe: PathBuf) -> Self {
        Self {
            database: DatabaseChoice::Sqlite,
            batches: vec![100],
            connections: 64,
            users: 1_000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            ceiling_duration: Duration::from_secs(5),
            rate: None,
            half_peak: false,
            verify: false,
            gateway_workers: None,
            dir: None,
            keep: false,
            seed: rand::random(),
            gateway_exe,
        }
    }

    /// The smoke defaults: 50 users, 4 connections, 2 s after 1 s of warm-up, 1 s ceilings,
    /// answers verified.
    pub fn smoke(gateway_exe: PathBuf) -> Self {
        Self {
            connections: 4,
            users: 50,
            duration: Duration::from_secs(2),
            warmup: Duration::from_secs(1),
            ceiling_duration: Duration::from_secs(1),
            verify: true,
            ..Self::new(gateway_exe)
        }
    }

    /// Refuses values the run cannot honour.
    pub fn validate(&self) -> Result<(), BenchError> {
        let usage = |message: &str| Err(BenchError::Usage(message.to_string()));
        if self.batches.is_empty() || self.batches.iter().any(|b| !(1..=1_000).contains(b)) {
            return usage("`--batch` sizes must be 1 to 1000 (CONTRACT §5)");
        }
        if self.connections == 0 {
            return usage("`--connections` must be at least 1");
        }
        if self.users == 0 {
            return usage("`--users` must be at least 1");
        }
        if self.duration.is_zero() {
            return usage("`--duration` must be more than 0");
        }
        if self.ceiling_duration.is_zero() {
            return usage("`--ceiling-duration` must be more than 0");
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return usage("`--rate` must be a positive number of requests per second");
        }
        if self.gateway_workers == Some(0) {
            return usage("`--gateway-workers` must be at least 1");
        }
        Ok(())
    }
}

impl Args {
    /// The run's options; `gateway_exe` is the executable to start the gateway with.
    pub(super) fn into_options(self, gateway_exe: PathBuf) -> Result<Options, BenchError> {
        let base = if self.smoke {
            Options::smoke(gateway_exe)
        } else {
            Options::new(gateway_exe)
        };
        let database = match self.database.as_str() {
            "sqlite" => DatabaseChoice::Sqlite,
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseChoice::Postgres {
                    admin_url: url.to_string(),
                }
            }
            other => {
                return Err(BenchError::Usage(format!(
                    "`--database` must be `sqlite` or a `postgres://` URL, not `{other}`"
                )));
            }
        };
        let options = Options {
            database,
            batches: self.batch,
            connections: self.connections.unwrap_or(base.connections),
            users: self.users.unwrap_or(base.users),
            duration: self.duration.unwrap_or(base.duration),
            warmup: self.warmup.unwrap_or(base.warmup),
            ceiling_duration: self.ceiling_duration.unwrap_or(base.ceiling_duration),
            rate: self.rate,
            half_peak: self.half_peak,
            gateway_workers: self.gateway_workers,
            dir: self.dir,
            keep: self.keep,
            seed: self.seed.unwrap_or(base.seed),
            ..base
        };
        options.validate()?;
        Ok(options)
    }
}

/// A duration: a plain number is seconds (`10`, `0.5`), otherwise humantime (`30s`, `2m`).
fn seconds(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, BenchError> {
        let cli =
            Cli::try_parse_from(std::iter::once("consentgate-bench").chain(args.iter().copied()))
                .map_err(|e| BenchError::Usage(e.to_string()))?;
        cli.args.into_options(PathBuf::from("/bin/true"))
    }

    #[test]
    fn a_list_of_batch_sizes_runs_one_phase_each() {
        let options = parse(&["--batch", "1,100", "--duration", "1.5"]).expect("valid");
        assert_eq!(options.batches, vec![1, 100]);
        assert_eq!(options.duration, Duration::from_millis(1_500));
        assert_eq!(options.connections, 64);
        assert!(!options.verify);
    }

    #[test]
    fn smoke_lowers_the_defaults_but_keeps_explicit_values() {
        let options = parse(&["--smoke", "--connections", "3"]).expect("valid");
        assert_eq!(options.connections, 3);
        assert_eq!(options.users, 50);
        assert!(options.verify);
    }

    #[test]
    fn a_batch_above_the_contract_limit_is_refused() {
        assert!(matches!(
            parse(&["--batch", "1001"]),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse(&["--batch", "0"]),
            Err(BenchError::Usage(_))
        ));
    }

    #[test]
    fn an_unknown_database_is_refused() {
        assert!(matches!(
            parse(&["--database", "mysql://x"]),
            Err(BenchError::Usage(_))
        ));
        let pg = parse(&["--database", "postgres://postgres@127.0.0.1/postgres"]).expect("valid");
        assert!(matches!(pg.database, DatabaseChoice::Postgres { .. }));
    }
}
