//! The `202` body of an ingest batch and the problem responses particular to it.

use serde::Serialize;

use super::idempotency::ItemStatus;
use super::release::Release;
use crate::domain::{BatchError, FieldError, MAX_BATCH_ITEMS};
use crate::http::ApiError;

/// `{"accepted": n, "duplicates": m, "results": [...]}`.
#[derive(Serialize)]
pub struct BatchResponse<K: Serialize> {
    accepted: usize,
    duplicates: usize,
    results: Vec<ItemResult<K>>,
}

/// One item's result; `K` is the item's key members (`txn_id`, or `account_ref` + `as_of`).
#[derive(Serialize)]
pub struct ItemResult<K: Serialize> {
    #[serde(flatten)]
    key: K,
    status: &'static str,
    /// Release events created for the item.
    releases: Vec<Release>,
}

impl<K: Serialize> BatchResponse<K> {
    /// Pairs each item's key with its status and releases.
    pub fn new(
        keys: impl IntoIterator<Item = K>,
        outcomes: Vec<(ItemStatus, Vec<Release>)>,
    ) -> Self {
        let accepted = outcomes
            .iter()
            .filter(|(s, _)| *s == ItemStatus::Accepted)
            .count();
        let duplicates = outcomes.len() - accepted;
        let results: Vec<ItemResult<K>> = keys
            .into_iter()
            .zip(outcomes)
            .map(|(key, (status, releases))| ItemResult {
                key,
                status: match status {
                    ItemStatus::Accepted => "accepted",
                    ItemStatus::Duplicate => "duplicate",
                },
                releases,
            })
            .collect();
        Self {
            accepted,
            duplicates,
            results,
        }
    }
}

/// A batch that did not parse: 422 with a pointer at every bad member.
pub fn batch_error(err: BatchError, member: &str) -> ApiError {
    match err {
        BatchError::TooLarge { len } => ApiError::Unprocessable {
            code: "batch_too_large",
            detail: format!(
                "a batch holds at most {MAX_BATCH_ITEMS} {member}; this one holds {len}"
            ),
            errors: vec![FieldError {
                pointer: format!("/{member}"),
                detail: format!("must hold 1 to {MAX_BATCH_ITEMS} items"),
            }],
        },
        BatchError::Invalid(errors) => ApiError::Unprocessable {
            code: "invalid_field",
            detail: "members of the batch are invalid (see `errors`); nothing was stored"
                .to_string(),
            errors,
        },
    }
}

/// Keys re-sent with different content: 409 for the whole batch.
pub fn conflict(positions: &[usize], member: &str, key_member: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "{} item(s) re-use a key already received with different content; nothing was stored",
            positions.len()
        ),
        errors: positions
            .iter()
            .map(|i| FieldError {
                pointer: format!("/{member}/{i}/{key_member}"),
                detail: "was already received with different content".to_string(),
            })
            .collect(),
    }
}
