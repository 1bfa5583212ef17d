//! What a run leaves behind (its folder, its PostgreSQL databases), removed when the run ends
//! and also when it is interrupted: `Ctrl-C` or `SIGTERM` used to leave both behind.

use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use diesel::RunQueryDsl as _;

use crate::db::Target;

/// Something to remove.
#[derive(Debug, Clone)]
pub enum Leftover {
    /// A child process (the gateway under test), killed and waited for. Registered after
    /// the folder it writes in, so it is stopped first: a gateway left running would go on
    /// creating files in a folder being removed (and outlive the run).
    Process(Arc<Mutex<Child>>),
    /// A folder and everything in it.
    Folder(PathBuf),
    /// A PostgreSQL database, dropped from `admin_url`'s server.
    Database {
        /// Where it was created from.
        admin_url: String,
        /// Its name.
        name: String,
    },
}

impl Leftover {
    /// Removes it, ignoring what is already gone.
    fn remove(&self) {
        match self {
            Self::Process(child) => {
                let mut child = child.lock().unwrap_or_else(PoisonError::into_inner);
                if let Ok(None) = child.try_wait() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Self::Folder(dir) => {
                // A file created while the folder is walked makes one pass fail.
                for _ in 0..3 {
                    if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
                        break;
                    }
                }
            }
            Self::Database { admin_url, name } => {
                if let Ok(mut admin) = Target::parse(admin_url).and_then(|t| t.connect()) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

/// Leftovers registered and not yet removed, for the interrupt handler.
static PENDING: Mutex<Vec<(u64, Leftover)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Set once an interrupt is being handled: the run, failing as its gateway is killed and its
/// folder removed under it, must leave the exit (130) to the handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A leftover removed when this is dropped, or on an interrupt before.
#[derive(Debug)]
pub struct Registered {
    id: u64,
    leftover: Leftover,
}

impl Registered {
    /// Registers `leftover`.
    pub fn new(leftover: Leftover) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut pending) = PENDING.lock() {
            pending.push((id, leftover.clone()));
        }
        Self { id, leftover }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut pending) = PENDING.lock() {
            pending.retain(|(id, _)| *id != self.id);
        }
        self.leftover.remove();
    }
}

/// On `SIGINT` or `SIGTERM`, removes every registered leftover (latest first) and exits
/// with status 130. For the binary only: a library caller keeps its own signal handling.
pub fn remove_on_interrupt() {
    let spawned = std::thread::Builder::new()
        .name("consentgate-bench-interrupt".to_string())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(interrupted());
            INTERRUPTED.store(true, Ordering::SeqCst);
            let leftovers: Vec<Leftover> = PENDING
                .lock()
                .map(|mut pending| pending.drain(..).map(|(_, l)| l).rev().collect())
                .unwrap_or_default();
            eprintln!("consentgate-bench: interrupted; removing the run's folder and databases");
            for leftover in &leftovers {
                leftover.remove();
            }
            std::process::exit(130);
        });
    if let Err(err) = spawned {
        eprintln!(
            "consentgate-bench: cannot watch for interrupts ({err}); an interrupted run leaves its folder behind"
        );
    }
}

/// Waits for `SIGINT` or `SIGTERM`. A signal that cannot be watched never counts as one:
/// an error must not remove the folder of a run that goes on.
async fn interrupted() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!(
                "consentgate-bench: cannot watch for Ctrl-C ({err}); an interrupted run leaves its folder behind"
            );
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            let terminate = async move {
                if terminate.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = ctrl_c => {}
                () = terminate => {}
            }
            return;
        }
    }
    ctrl_c.await;
}

/// Returns at once unless an interrupt is being handled; then never returns, as the handler
/// removes what the run left and exits with 130. Called before the run reports its outcome.
pub fn wait_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park_timeout(std::time::Duration::from_secs(1));
    }
}
