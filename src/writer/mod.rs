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

use std::thread;

use tokio::sync::{mpsc, oneshot};

pub use job::{WriteContext, WriteJob};

use crate::db::{Database, DbConnection, DbError};
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
    /// The transaction holding this job failed and was rolled back; nothing of it was kept.
    #[error("the write failed: {0}")]
    Failed(#[source] DbError),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Pending>>,
}

impl Writer {
    /// Starts the writer thread with its own connection to `database`.
    pub fn start(database: &Database, context: WriteContext) -> Result<Self, DbError> {
        let conn = database.connect()?;
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        thread::Builder::new()
            .name("consentgate-writer".to_string())
            .spawn(move || run(conn, jobs, context))
            .map_err(|e| DbError::Migration(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue })
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

    /// Whether the writer thread is still taking jobs.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }
}

/// The writer thread: gather, apply in one transaction, commit, answer; until every
/// submitter is gone.
fn run(mut conn: DbConnection, mut jobs: mpsc::Receiver<Box<dyn Pending>>, context: WriteContext) {
    while let Some(first) = jobs.blocking_recv() {
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
        commit_group(&mut conn, group, &context);
    }
    tracing::info!("writer stopped");
}

/// Commits `group` in one transaction. If that fails, each job is retried in a transaction
/// of its own, so one job's failure (or a race with another node) never fails its neighbours.
fn commit_group(conn: &mut DbConnection, mut group: Vec<Box<dyn Pending>>, context: &WriteContext) {
    let together = diesel::Connection::transaction::<_, DbError, _>(conn, |conn| {
        for job in group.iter_mut() {
            job.apply(conn, context)?;
        }
        Ok(())
    });
    match together {
        Ok(()) => group.into_iter().for_each(|job| job.committed()),
        Err(err) if group.len() == 1 => {
            tracing::error!(error = %err, "write transaction failed");
            if let Some(job) = group.pop() {
                job.failed(err);
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, jobs = group.len(), "group commit failed; retrying each job alone");
            for mut job in group {
                job.reset();
                let alone = diesel::Connection::transaction::<_, DbError, _>(conn, |conn| {
                    job.apply(conn, context)
                });
                match alone {
                    Ok(()) => job.committed(),
                    Err(err) => {
                        tracing::error!(error = %err, "write transaction failed");
                        job.failed(err);
                    }
                }
            }
        }
    }
}
