//! The gateway under test, run as a child process (the load generator started again with
//! `__gateway --config FILE`), so that its memory is measured apart from the load
//! generator's and the two do not share a heap or an async runtime.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use super::BenchError;
use super::cleanup::{Leftover, Registered};

/// How long the gateway may take to open its database (migrations) and bind.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to finish its requests in flight once asked to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running gateway and the addresses it printed.
pub struct GatewayProcess {
    /// Shared with the interrupt handler, which kills it before removing the run's folder.
    child: Arc<Mutex<Child>>,
    _killed_on_interrupt: Registered,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    /// Where banks connect (`https://127.0.0.1:PORT`).
    pub bank_url: String,
    /// Where users and probes connect.
    pub api_url: String,
}

/// The gateway's memory, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak_rss: u64,
    /// Resident set size when read (`VmRSS`), bytes.
    pub rss: u64,
}

impl GatewayProcess {
    /// Starts `exe __gateway --config CONFIG` with its log in `log`, and waits until it has
    /// printed both listeners' addresses. `CONSENTGATE__…` variables are not passed on: the
    /// configuration file alone decides what is measured.
    pub fn spawn(exe: &Path, config: &Path, log: &Path) -> Result<Self, BenchError> {
        let log_file = std::fs::File::create(log)
            .map_err(|e| BenchError::Setup(format!("cannot create `{}`: {e}", log.display())))?;
        let mut command = Command::new(exe);
        command
            .arg("__gateway")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            // The log is a file: no colour escapes in it.
            .env("NO_COLOR", "1");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CONSENTGATE__") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| BenchError::Gateway(format!("cannot start `{}`: {e}", exe.display())))?;
        let stdin = child.stdin.take();
        let (addresses, found) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // Reads the banner, then keeps draining so the child never blocks on a full pipe.
            let reader = std::thread::Builder::new()
                .name("gateway-stdout".into())
                .spawn(move || {
                    let (mut bank, mut api) = (None, None);
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        let url = line
                            .split_whitespace()
                            .find(|w| w.starts_with("https://"))
                            .map(str::to_string);
                        if line.contains("bank API") {
                            bank = url;
                        } else if line.contains("user/auditor API") {
                            api = url;
                        }
                        if let (Some(b), Some(a)) = (&bank, &api) {
                            let _ = addresses.send((b.clone(), a.clone()));
                            bank = None;
                            api = None;
                        }
                    }
                });
            if let Err(e) = reader {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::Gateway(format!(
                    "cannot read the gateway's output: {e}"
                )));
            }
        }
        let child = Arc::new(Mutex::new(child));
        let mut process = Self {
            _killed_on_interrupt: Registered::new(Leftover::Process(Arc::clone(&child))),
            child,
            stdin,
            log: log.to_path_buf(),
            bank_url: String::new(),
            api_url: String::new(),
        };
        let started = Instant::now();
        loop {
            match found.recv_timeout(Duration::from_millis(100)) {
                Ok((bank, api)) => {
                    process.bank_url = bank;
                    process.api_url = api;
                    return Ok(process);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < START_TIMEOUT => {
                    if let Ok(Some(status)) = process.with_child(Child::try_wait) {
                        return Err(process.failure(&format!("the gateway exited ({status})")));
                    }
                }
                Err(_) => {
                    return Err(process.failure("the gateway did not print its addresses in time"));
                }
            }
        }
    }

    /// `f` applied to the child process.
    fn with_child<R>(&self, f: impl FnOnce(&mut Child) -> R) -> R {
        f(&mut self.child.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.with_child(|c| c.id())
    }

    /// Its memory now; `None` where `/proc` is not available.
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| n * 1024)
        };
        Some(Memory {
            peak_rss: kib("VmHWM:")?,
            rss: kib("VmRSS:")?,
        })
    }

    /// CPU time (user and system) the gateway has used so far; `None` without `/proc`.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&self.pid().to_string())
    }

    /// Asks the gateway to stop (its standard input closes: it finishes the requests in
    /// flight and stops delivery), and kills it if it has not exited in time.
    pub fn stop(mut self) -> Result<(), BenchError> {
        drop(self.stdin.take());
        let started = Instant::now();
        loop {
            match self.with_child(Child::try_wait) {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(self.failure(&format!("the gateway stopped with {status}")));
                }
                Ok(None) if started.elapsed() < STOP_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    self.with_child(|c| {
                        let _ = c.kill();
                        let _ = c.wait();
                    });
                    return Err(self.failure("the gateway did not stop in time and was killed"));
                }
                Err(e) => {
                    return Err(BenchError::Gateway(format!(
                        "cannot wait for the gateway: {e}"
                    )));
                }
            }
        }
    }

    /// `message` with the end of the gateway's log.
    fn failure(&self, message: &str) -> BenchError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(20)..)
            .unwrap_or_default()
            .join("\n");
        BenchError::Gateway(format!(
            "{message}; the end of its log (`{}`):\n{tail}",
            self.log.display()
        ))
    }
}

/// CPU time (user and system) used so far by process `pid` (`self`: this one), from
/// `/proc/PID/stat`.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields after it
    // start with the state (field 3), so utime (14) and stime (15) are the 12th and 13th.
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // CAUTION: /proc counts in USER_HZ, which the kernel fixes at 100 for user space on
    // every architecture Linux supports (sysconf(_SC_CLK_TCK) would need unsafe code).
    Some(Duration::from_millis((user + system) * 10))
}
