//! What the writer runs: typed jobs, erased so that jobs of every feature share one queue.

use tokio::sync::oneshot;

use super::WriteError;
use crate::db::{DbConnection, DbError};

/// State the writer thread owns and lends to every job.
#[derive(Clone)]
pub struct WriteContext {
    /// The loaded policy set and its decision cache.
    pub policy: std::sync::Arc<crate::policy::PolicyEngine>,
    /// Signs audit checkpoints.
    pub signer: std::sync::Arc<crate::audit::CheckpointSigner>,
    /// Leaves in the audit tree as of the last commit (read by `/metrics`).
    pub tree_size: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// One job's view of the writer's open transaction: the connection, the shared context, and
/// the audit log the job records its work in (committed with the work, or not at all).
pub struct Tx<'a> {
    conn: &'a mut DbConnection,
    /// Shared state.
    pub context: &'a WriteContext,
    audit: &'a mut crate::audit::Appender,
}

impl<'a> Tx<'a> {
    pub(super) fn new(
        conn: &'a mut DbConnection,
        context: &'a WriteContext,
        audit: &'a mut crate::audit::Appender,
    ) -> Self {
        Self {
            conn,
            context,
            audit,
        }
    }

    /// The connection, inside the transaction.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Appends an audit record in this transaction and returns its index.
    pub fn audit(&mut self, record: crate::audit::AuditRecord) -> Result<u64, DbError> {
        self.audit.append(self.conn, record)
    }

    /// Appends a record serialised before it reached the writer; returns its index.
    pub fn audit_prepared(&mut self, record: crate::audit::PreparedRecord) -> Result<u64, DbError> {
        self.audit.append_prepared(self.conn, record)
    }
}

/// A unit of work applied inside the writer's transaction.
///
/// `apply` may be called twice for one job (when its group's transaction fails, each job is
/// retried alone), so it must not consume what it needs to run again.
pub trait WriteJob: Send + 'static {
    /// What the submitter gets back once the transaction has committed.
    type Outcome: Send + 'static;

    /// Records this job writes; used to bound the size of one transaction.
    fn size(&self) -> usize;

    /// Does the job's reads and writes on the writer's connection, inside its transaction.
    /// An expected refusal (a conflict, say) is an `Ok` outcome that wrote nothing.
    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Self::Outcome, DbError>;
}

/// A queued job with its reply channel, type-erased.
pub(super) trait Pending: Send {
    fn size(&self) -> usize;
    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<(), DbError>;
    /// Forgets an outcome computed in a transaction that was rolled back.
    fn reset(&mut self);
    fn committed(self: Box<Self>);
    fn failed(self: Box<Self>, error: WriteError);
}

pub(super) struct Envelope<J: WriteJob> {
    job: J,
    outcome: Option<J::Outcome>,
    reply: oneshot::Sender<Result<J::Outcome, WriteError>>,
}

impl<J: WriteJob> Envelope<J> {
    pub(super) fn new(job: J, reply: oneshot::Sender<Result<J::Outcome, WriteError>>) -> Self {
        Self {
            job,
            outcome: None,
            reply,
        }
    }
}

impl<J: WriteJob> Pending for Envelope<J> {
    fn size(&self) -> usize {
        self.job.size()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<(), DbError> {
        self.outcome = Some(self.job.apply(tx)?);
        Ok(())
    }

    fn reset(&mut self) {
        self.outcome = None;
    }

    fn committed(self: Box<Self>) {
        let answer = match self.outcome {
            Some(outcome) => Ok(outcome),
            // INVARIANT: `committed` follows a successful `apply`; answer an error rather than
            // claim success for work that was not applied.
            None => Err(WriteError::Stopped),
        };
        // The submitter may have gone away (client disconnected); the work is committed anyway.
        let _ = self.reply.send(answer);
    }

    fn failed(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}
