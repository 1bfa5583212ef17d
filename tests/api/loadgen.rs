//! The load generator (`consentgate-bench`): a short run against a real gateway (its own
//! binary started as a child process), on SQLite, or on PostgreSQL when
//! `CONSENTGATE_TEST_DATABASE_URL` is set. Nothing here asserts a timing.

use std::path::PathBuf;
use std::time::Duration;

use consentgate::loadgen::{self, DatabaseChoice, Options};

#[test]
fn smoke_run_sends_only_accepted_batches() {
    let mut options = Options::smoke(PathBuf::from(env!("CARGO_BIN_EXE_consentgate-bench")));
    options.connections = 3;
    options.users = 20;
    options.batches = vec![10];
    options.warmup = Duration::from_millis(500);
    options.duration = Duration::from_secs(2);
    options.ceiling_duration = Duration::from_millis(500);
    options.half_peak = true;
    if let Ok(admin_url) = std::env::var("CONSENTGATE_TEST_DATABASE_URL")
        && !admin_url.is_empty()
    {
        options.database = DatabaseChoice::Postgres { admin_url };
    }

    let reports = loadgen::run(&options).unwrap();

    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.problems(), Vec::<String>::new());
    let load = &report.load;
    assert!(load.responses > 0, "no request answered in the window");
    assert_eq!(load.totals.errors, 0, "{:?}", load.totals.error_samples);
    assert!(
        load.totals.other_statuses.is_empty(),
        "{:?}",
        load.totals.other_statuses
    );
    assert_eq!(load.totals.accepted, load.totals.sent);
    assert_eq!(load.totals.incomplete, 0);
    assert_eq!(load.transactions, load.responses * 10);
    let latency = load.latency.unwrap();
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);

    let half = report.half_peak.as_ref().unwrap();
    assert!(half.plan.rate.unwrap() > 0.0);
    assert_eq!(half.totals.accepted, half.totals.sent);
    assert_eq!(half.totals.errors, 0, "{:?}", half.totals.error_samples);

    let batches: Vec<usize> = report.ceilings.iter().map(|c| c.batch).collect();
    assert_eq!(batches, vec![10, loadgen::REFERENCE_BATCH]);
    assert!(report.ceilings.iter().all(|c| c.rows > 0));
    if cfg!(target_os = "linux") {
        assert!(report.memory.unwrap().peak_rss > 0);
    }
}

#[test]
fn a_run_refuses_a_batch_larger_than_the_contract_allows() {
    let mut options = Options::new(PathBuf::from(env!("CARGO_BIN_EXE_consentgate-bench")));
    options.batches = vec![1_001];

    let refused = loadgen::run(&options);

    assert!(matches!(refused, Err(loadgen::BenchError::Usage(_))));
}
