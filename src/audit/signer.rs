//! Signed checkpoints: every `audit.checkpoint_every` records, and at least every 60 s when
//! records were added. Signed inside the writer's transaction with the tree head locked, so
//! only one node signs a given size and a checkpoint never covers uncommitted records.

use std::time::Duration;

use diesel::prelude::*;

use super::appender::TreeHead;
use super::primitives::{Checkpoint, NoteSigner, NoteVerifier};
use super::verify::CheckpointKey;
use crate::db::schema::audit_checkpoints;
use crate::db::{DbConnection, DbError};
use crate::time::now_micros;

/// Longest time records may wait for a checkpoint.
pub const MAX_CHECKPOINT_AGE: Duration = Duration::from_secs(60);

/// Why the audit key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// A key file could not be read.
    #[error("cannot read the audit key `{path}`: {message}")]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The origin is not a valid note name.
    #[error("`audit.origin`: {0}")]
    Origin(String),
}

/// Signs checkpoints with the audit key.
pub struct CheckpointSigner {
    note: NoteSigner,
    origin: String,
    every: u64,
    /// The keys that signed before this one, by the size they signed up to.
    retired: Vec<CheckpointKey>,
}

/// A retired key of the configuration, with the log's origin as its note key name.
fn retired_key(
    retired: &crate::config::RetiredKey,
    origin: &str,
) -> Result<CheckpointKey, SignerError> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let failed = |message: String| SignerError::Key {
        path: retired.public_key.clone(),
        message,
    };
    let pem = std::fs::read_to_string(&retired.public_key).map_err(|e| failed(e.to_string()))?;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| failed(format!("not an Ed25519 public key (SPKI PEM): {e}")))?;
    let verifier =
        NoteVerifier::new(origin, key).map_err(|e| SignerError::Origin(e.to_string()))?;
    Ok(CheckpointKey {
        verifier,
        until_size: Some(retired.until_size),
    })
}

impl CheckpointSigner {
    /// From the configured key and origin.
    pub fn load(config: &crate::config::AuditConfig) -> Result<Self, SignerError> {
        let pem = std::fs::read_to_string(&config.signing_key).map_err(|e| SignerError::Key {
            path: config.signing_key.clone(),
            message: e.to_string(),
        })?;
        let key = crate::pki::Ed25519Key::from_pkcs8_pem(&pem).map_err(|e| SignerError::Key {
            path: config.signing_key.clone(),
            message: e.to_string(),
        })?;
        let mut signer = Self::new(&config.origin, key.signing_key(), config.checkpoint_every)?;
        signer.retired = config
            .retired_keys
            .iter()
            .map(|retired| retired_key(retired, &config.origin))
            .collect::<Result<_, _>>()?;
        // The order they signed in, whatever the order of the configuration.
        signer.retired.sort_by_key(|key| key.until_size);
        Ok(signer)
    }

    /// From a key in memory.
    pub fn new(
        origin: &str,
        key: ed25519_dalek::SigningKey,
        every: u64,
    ) -> Result<Self, SignerError> {
        let note = NoteSigner::new(origin, key).map_err(|e| SignerError::Origin(e.to_string()))?;
        Ok(Self {
            note,
            origin: origin.to_string(),
            every: every.max(1),
            retired: Vec::new(),
        })
    }

    /// Every key that signed this log, in the order they signed: the retired ones
    /// (`audit.retired_keys`) by the size they signed up to, then this one, without bound.
    /// What online verification checks with.
    pub fn checkpoint_keys(&self) -> Vec<CheckpointKey> {
        let mut all = self.retired.clone();
        all.push(CheckpointKey {
            verifier: self.verifier(),
            until_size: None,
        });
        all
    }

    /// The verifier of this key (for `GET /v1/audit/public-key` and verification).
    pub fn verifier(&self) -> NoteVerifier {
        self.note.verifier()
    }

    /// The public key as SPKI PEM.
    pub fn public_key_pem(&self) -> Result<String, String> {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        self.verifier()
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| e.to_string())
    }

    /// The checkpoint origin and note key name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Signs `head` if `checkpoint_every` records were added since the latest checkpoint,
    /// or if records were added and the latest is older than 60 s (or `force` and anything
    /// was added). Returns the size signed, if any.
    pub fn sign_if_due(
        &self,
        conn: &mut DbConnection,
        head: TreeHead,
        force: bool,
    ) -> Result<Option<u64>, DbError> {
        let latest: Option<(i64, i64)> = audit_checkpoints::table
            .order(audit_checkpoints::size.desc())
            .select((audit_checkpoints::size, audit_checkpoints::created_at))
            .first(conn)
            .optional()?;
        let (signed_size, signed_at) =
            latest.map_or((0, 0), |(s, t)| (u64::try_from(s).unwrap_or(0), t));
        if head.size <= signed_size {
            return Ok(None);
        }
        let now = now_micros();
        let age = Duration::from_micros(u64::try_from(now.saturating_sub(signed_at)).unwrap_or(0));
        let due = head.size - signed_size >= self.every || age >= MAX_CHECKPOINT_AGE || force;
        if !due {
            return Ok(None);
        }
        let checkpoint = Checkpoint::new(self.origin.clone(), head.size, head.root)
            .map_err(|e| DbError::Corrupt(format!("checkpoint: {e}")))?;
        let note = self.note.sign(&checkpoint);
        let size =
            i64::try_from(head.size).map_err(|_| DbError::Corrupt("tree too large".to_string()))?;
        diesel::insert_into(audit_checkpoints::table)
            .values((
                audit_checkpoints::size.eq(size),
                audit_checkpoints::root.eq(head.root.to_vec()),
                audit_checkpoints::note.eq(note),
                audit_checkpoints::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Some(head.size))
    }
}
