//! The tamper-evident audit log (CONTRACT §9): every decision and access as a record, the
//! records as leaves of an RFC 9162 Merkle tree, signed C2SP checkpoints, and the reads
//! auditors and users make of it.

mod appender;
pub mod bundle;
mod expiry;
pub mod primitives;
mod queries;
mod record;
pub mod routes;
mod signer;
mod tiles;
mod verify;

pub use appender::{Appender, TreeHead, lock_tree, read_head};
pub use expiry::record_expired_among;
pub use record::{ALL_KINDS, AuditRecord, Kind, PreparedRecord};
pub use signer::{CheckpointSigner, MAX_CHECKPOINT_AGE, SignerError};
pub use tiles::StoredNodes;
pub use verify::{
    CheckpointKey, OfflineError, PublicKeyError, VerifyReport, checkpoint_origin, parse_verifier,
    verify_offline, verify_online,
};

use crate::db::DbError;
use crate::writer::{Tx, WriteJob};

/// Records that describe no other write (a refused request, an auditor's query), appended
/// through the writer like everything else.
pub struct RecordAudit(pub Vec<AuditRecord>);

impl WriteJob for RecordAudit {
    type Outcome = Vec<u64>;

    fn size(&self) -> usize {
        self.0.len()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Vec<u64>, DbError> {
        self.0
            .iter()
            .map(|record| tx.audit(record.clone()))
            .collect()
    }
}

/// Periodic upkeep: records consents that have expired (`consent.expired`, once each) and
/// signs a checkpoint if records have waited 60 s for one, so a quiet log still gets it.
pub struct Housekeeping;

impl WriteJob for Housekeeping {
    type Outcome = Option<u64>;

    fn size(&self) -> usize {
        1
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Option<u64>, DbError> {
        expiry::record_expired(tx)?;
        sign_checkpoint(tx, false)
    }
}

/// Signs a checkpoint of the current tree now, unless one of this size exists (a user's
/// proof needs a checkpoint that covers their record).
pub struct SignCheckpointNow;

impl WriteJob for SignCheckpointNow {
    type Outcome = Option<u64>;

    fn size(&self) -> usize {
        1
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Option<u64>, DbError> {
        sign_checkpoint(tx, true)
    }
}

fn sign_checkpoint(tx: &mut Tx<'_>, force: bool) -> Result<Option<u64>, DbError> {
    let signer = std::sync::Arc::clone(&tx.context.signer);
    let range = read_head(tx.conn(), true)?;
    let head = TreeHead {
        size: range.size(),
        root: range.root(),
    };
    signer.sign_if_due(tx.conn(), head, force)
}

/// Records a refused request (`access.denied`) without holding up the refusal: the answer
/// is a 4xx either way, and a flood of refusals must not queue behind the log.
pub fn record_denial(req: &actix_web::HttpRequest, record: AuditRecord) {
    let Some(writer) = req
        .app_data::<actix_web::web::Data<crate::writer::Writer>>()
        .cloned()
    else {
        tracing::error!("no writer to record a refused request");
        return;
    };
    actix_web::rt::spawn(async move {
        if let Err(err) = writer.submit(RecordAudit(vec![record])).await {
            tracing::error!(error = %err, "cannot record a refused request");
        }
    });
}

/// An `access.denied` record for `req` by `actor` with `reason`.
pub fn denial(req: &actix_web::HttpRequest, actor: impl Into<String>, reason: &str) -> AuditRecord {
    AuditRecord::new(Kind::AccessDenied, actor).detail(serde_json::json!({
        "reason": reason,
        "method": req.method().as_str(),
        "route": req.match_pattern().unwrap_or_else(|| req.path().chars().take(200).collect()),
    }))
}

/// A SQLite log for unit tests, written by the real appender: `records` records made by
/// `make(n)`, in transactions of `per_commit`, with a checkpoint every `every` records.
#[cfg(test)]
pub(crate) fn test_log(
    records: u64,
    per_commit: u64,
    every: u64,
    make: impl Fn(u64) -> AuditRecord,
) -> (tempfile::TempDir, crate::db::DbConnection) {
    use diesel::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let target = crate::db::Target::parse(&url).unwrap();
    crate::db::migrate(&target).unwrap();
    let mut conn = target.connect().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let signer = CheckpointSigner::new("consentgate/unit", key, every).unwrap();
    for start in (0..records).step_by(per_commit as usize) {
        conn.transaction(|conn| {
            let mut appender = Appender::default();
            for n in start..(start + per_commit).min(records) {
                appender.append(conn, make(n))?;
            }
            appender.finish(conn, &signer).map(|_| ())
        })
        .unwrap();
    }
    (dir, conn)
}
