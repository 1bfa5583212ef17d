//! The group-commit writer: the one place that writes ingest work to the database.
//!
//! Request handlers submit a [`WriteJob`] and await its outcome. One thread owns one
//! connection; it takes every job that is waiting (up to a bound), applies them all inside
//! ONE database transaction, commits, and only then answers each job. A `fsync` per commit is
//! what a durable answer costs, so sharing one commit among many requests is where the
//! throughput comes from (DESIGN §2-3), without weakening durability.
//!
//! Later features (consent decisions, outbox, audit records) add their rows inside the same
//! `apply`, so everything a response reports lands in the same commit.

mod job;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use diesel::connection::SimpleConnection as _;

use tokio::sync::{mpsc, oneshot};

pub use job::{Tx, WriteContext, WriteJob};

use crate::audit::Appender;
use crate::db::{Analyzer, Database, DbConnection, DbError, WalCheckpointer};
use job::{Envelope, Pending};

/// Jobs waiting beyond this make submitters wait (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;
/// Most records committed in one transaction; bounds latency and transaction size.
const MAX_RECORDS_PER_COMMIT: usize = 8192;

/// Why a job got no outcome.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer thread is gone (shutting down, or it failed to start).
    #[error("the writer is not running")]
    Stopped,
    /// The database cannot be reached; nothing of the job was kept.
    #[error("the database is unavailable")]
    Unavailable,
    /// The transaction holding this job failed and was rolled back; nothing of it was kept.
    #[error("the write failed: {0}")]
    Failed(#[source] DbError),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Pending>>,
    healthy: Arc<AtomicBool>,
    content_hash_key: [u8; 32],
}

impl Writer {
    /// Starts the writer thread with its own connection to `database`.
    pub fn start(database: &Database, context: WriteContext) -> Result<Self, DbError> {
        let mut conn = database.connect_writer()?;
        let content_hash_key = crate::db::content_hash_key(&mut conn)?;
        let checkpointer = database.start_checkpointer()?;
        let analyzer = database.start_analyzer()?;
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let healthy = Arc::new(AtomicBool::new(true));
        let state = Connection {
            database: database.clone(),
            conn: Some(conn),
            healthy: Arc::clone(&healthy),
        };
        thread::Builder::new()
            .name("consentgate-writer".to_string())
            .spawn(move || {
                // Checkpoints and statistics run as long as the writer does.
                let upkeep = Upkeep {
                    checkpointer: checkpointer.as_ref(),
                    analyzer: analyzer.as_ref(),
                };
                run(state, jobs, context, upkeep);
            })
            .map_err(DbError::Thread)?;
        Ok(Self {
            queue,
            healthy,
            content_hash_key,
        })
    }

    /// Queues `job` and waits until it is committed (or failed). The outcome is returned
    /// only after the transaction that holds it is durable.
    pub async fn submit<J: WriteJob>(&self, job: J) -> Result<J::Outcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Envelope::new(job, reply)))
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }

    /// The key of the idempotency content hashes this writer's database keeps (read, or
    /// made, at start: `db::content_hash_key`): jobs hash their items with it before they
    /// are submitted, off the writer thread.
    pub fn content_hash_key(&self) -> &[u8; 32] {
        &self.content_hash_key
    }

    /// Whether the writer runs and its last transaction could reach the database.
    pub fn is_ready(&self) -> bool {
        !self.queue.is_closed() && self.healthy.load(Ordering::Relaxed)
    }
}

/// The writer's connection, re-opened when the database drops it (a restart, a failover,
/// an administrator terminating the session).
struct Connection {
    database: Database,
    conn: Option<DbConnection>,
    healthy: Arc<AtomicBool>,
}

impl Connection {
    /// The open connection, reconnecting first if the last one broke.
    fn get(&mut self) -> Option<&mut DbConnection> {
        if self.conn.is_none() {
            match self.database.connect_writer() {
                Ok(conn) => {
                    tracing::info!("writer reconnected to the database");
                    self.conn = Some(conn);
                }
                Err(err) => {
                    tracing::error!(error = %err, "writer cannot reconnect to the database")
                }
            }
        }
        self.healthy.store(self.conn.is_some(), Ordering::Relaxed);
        self.conn.as_mut()
    }

    /// After a failed transaction: whether the connection still answers. If not, it is
    /// dropped so the next group reconnects.
    fn still_usable(&mut self) -> bool {
        let usable = self
            .conn
            .as_mut()
            .is_some_and(|conn| conn.batch_execute("SELECT 1").is_ok());
        if !usable {
            tracing::error!("writer lost its database connection");
            self.conn = None;
            self.healthy.store(false, Ordering::Relaxed);
        }
        usable
    }
}

/// The database's upkeep beside the writer: WAL checkpoints on SQLite, planner statistics on
/// PostgreSQL.
#[derive(Clone, Copy)]
struct Upkeep<'a> {
    checkpointer: Option<&'a WalCheckpointer>,
    analyzer: Option<&'a Analyzer>,
}

/// The writer thread: gather, apply in one transaction, commit, answer; until every
/// submitter is gone.
fn run(
    mut connection: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Pending>>,
    context: WriteContext,
    upkeep: Upkeep<'_>,
) {
    let mut idle_since = std::time::Instant::now();
    while let Some(first) = jobs.blocking_recv() {
        let waited = idle_since.elapsed();
        let mut group = vec![first];
        let mut records = group.iter().map(|j| j.size()).sum::<usize>();
        while records < MAX_RECORDS_PER_COMMIT {
            match jobs.try_recv() {
                Ok(job) => {
                    records += job.size();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let jobs_in_group = group.len();
        let started = std::time::Instant::now();
        commit_group(&mut connection, group, &context);
        // Where the writer's time goes under load: `RUST_LOG=consentgate::writer=trace`.
        tracing::trace!(
            jobs = jobs_in_group,
            records,
            waited_us = waited.as_micros() as u64,
            committed_us = started.elapsed().as_micros() as u64,
            "group committed"
        );
        if let Some(analyzer) = upkeep.analyzer {
            analyzer.wrote(records);
        }
        // Only on a connection that is open: a lost one is reopened by the next group, once.
        if let Some(checkpointer) = upkeep.checkpointer
            && let Some(conn) = connection.conn.as_mut()
            && let Err(err) = checkpointer.restart_if_asked(conn)
        {
            // The connection's busy timeout may not have been restored: open a new one.
            tracing::warn!(error = %err, "WAL restart failed; reconnecting the writer");
            connection.conn = None;
        }
        idle_since = std::time::Instant::now();
    }
    tracing::info!("writer stopped");
}

/// Commits `group` in one transaction. If that fails, each job is retried in a transaction
/// of its own, so one job's failure (or a race with another node) never fails its neighbours.
/// If the database is unreachable, every job is answered `Unavailable` at once.
fn commit_group(
    connection: &mut Connection,
    mut group: Vec<Box<dyn Pending>>,
    context: &WriteContext,
) {
    let Some(conn) = connection.get() else {
        group
            .into_iter()
            .for_each(|job| job.failed(WriteError::Unavailable));
        return;
    };
    let err = match transact(conn, &mut group, context) {
        Ok(head) => {
            publish_tree_size(context, head);
            group.into_iter().for_each(|job| job.committed());
            return;
        }
        Err(err) => err,
    };
    if !connection.still_usable() {
        tracing::error!(error = %err, "write transaction failed: database unavailable");
        group
            .into_iter()
            .for_each(|job| job.failed(WriteError::Unavailable));
        return;
    }
    if group.len() == 1 {
        tracing::error!(error = %err, "write transaction failed");
        if let Some(job) = group.pop() {
            job.failed(WriteError::Failed(err));
        }
        return;
    }
    tracing::warn!(error = %err, jobs = group.len(), "group commit failed; retrying each job alone");
    for mut job in group {
        job.reset();
        let Some(conn) = connection.get() else {
            job.failed(WriteError::Unavailable);
            continue;
        };
        match transact(conn, std::slice::from_mut(&mut job), context) {
            Ok(head) => {
                publish_tree_size(context, head);
                job.committed();
            }
            Err(err) => {
                tracing::error!(error = %err, "write transaction failed");
                let answer = if connection.still_usable() {
                    WriteError::Failed(err)
                } else {
                    WriteError::Unavailable
                };
                job.failed(answer);
            }
        }
    }
}

/// Applies `jobs` in one transaction that holds the audit tree's lock and ends with their
/// audit records appended; the new tree head once committed.
fn transact(
    conn: &mut DbConnection,
    jobs: &mut [Box<dyn Pending>],
    context: &WriteContext,
) -> Result<Option<crate::audit::TreeHead>, DbError> {
    diesel::Connection::transaction::<_, DbError, _>(conn, |conn| {
        crate::audit::lock_tree(conn)?;
        let mut audit = Appender::default();
        for job in jobs.iter_mut() {
            job.apply(&mut Tx::new(conn, context, &mut audit))?;
        }
        audit.finish(conn, &context.signer)
    })
}

/// Makes the committed tree size visible to `/metrics`.
fn publish_tree_size(context: &WriteContext, head: Option<crate::audit::TreeHead>) {
    if let Some(head) = head {
        context.tree_size.store(head.size, Ordering::Relaxed);
    }
}
