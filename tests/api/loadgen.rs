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

    let delivery = report.delivery.unwrap();
    assert!(delivery.released() > 0, "the population's consents release");
    // Delivered counts successful attempts, which at-least-once may repeat: no bound by the
    // released count, only progress while the load ran.
    assert!(
        delivery.delivered() > 0,
        "events were delivered during the load"
    );

    let (drained, half) = report.half_peak.as_ref().unwrap();
    let drained = drained.unwrap();
    assert_eq!(
        drained.left, 0,
        "every event was delivered before half the peak"
    );
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

#[test]
fn an_interrupted_run_removes_its_folder_and_exits_130() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    /// Kills the run when the test ends, so a failed assertion leaves no run going on (its
    /// gateway stops when the run's end of its standard input closes).
    struct Run(std::process::Child);
    impl Drop for Run {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let parent = tempfile::tempdir().unwrap();
    let mut run = Run(Command::new(env!("CARGO_BIN_EXE_consentgate-bench"))
        .args(["--smoke", "--batch", "1", "--duration", "60", "--dir"])
        .arg(parent.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let bench = &mut run.0;
    let mut lines = BufReader::new(bench.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    assert!(banner.contains("run folder"), "{banner}");
    let run_folder = std::fs::read_dir(parent.path())
        .unwrap()
        .next()
        .expect("the run's folder")
        .unwrap()
        .path();
    // Interrupted under load: once its gateway is up and writing.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !run_folder.join("phase-0.db").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the phase never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Command::new("kill")
        .args(["-INT", &bench.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());

    assert_eq!(bench.wait().unwrap().code(), Some(130));
    assert!(!run_folder.exists(), "the run's folder is left behind");
}
