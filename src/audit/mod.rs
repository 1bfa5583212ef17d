//! The tamper-evident audit log (CONTRACT §9): every decision and access as a record, the
//! records as leaves of an RFC 9162 Merkle tree, signed C2SP checkpoints, and the reads
//! auditors and users make of it.

mod appender;
pub mod primitives;
mod record;
mod signer;
mod tiles;
mod verify;

pub use appender::{Appender, TreeHead, read_head};
pub use record::{ALL_KINDS, AuditRecord, Kind};
pub use signer::{CheckpointSigner, MAX_CHECKPOINT_AGE, SignerError};
pub use tiles::StoredNodes;
pub use verify::{
    OfflineError, PublicKeyError, VerifyReport, checkpoint_origin, parse_verifier, verify_offline,
    verify_online,
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

/// Signs a checkpoint if records have waited 60 s for one (run periodically, so a quiet log
/// still gets its checkpoint).
pub struct SignDueCheckpoint;

impl WriteJob for SignDueCheckpoint {
    type Outcome = Option<u64>;

    fn size(&self) -> usize {
        1
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Option<u64>, DbError> {
        let signer = std::sync::Arc::clone(&tx.context.signer);
        let range = read_head(tx.conn(), true)?;
        let head = TreeHead {
            size: range.size(),
            root: range.root(),
        };
        signer.sign_if_due(tx.conn(), head, false)
    }
}
