//! Reads of the audit log for auditors and users (through the pool, never the writer).

use diesel::prelude::*;

use super::primitives::{Hash, consistency_proof, inclusion_proof};
use super::tiles::StoredNodes;
use crate::db::schema::{audit_checkpoints, audit_records, audit_tree_head, outbox_events};
use crate::db::{DbConnection, DbError, to_i64, to_u64};

/// Filters of `GET /v1/audit/records`.
#[derive(Debug, Default, Clone)]
pub struct RecordFilter {
    /// Exclusive lower bound of the index.
    pub after_index: Option<u64>,
    /// Page size (1-1000).
    pub limit: u32,
    /// Record kind.
    pub kind: Option<String>,
    /// User the record is about.
    pub user_id: Option<String>,
    /// Recipient.
    pub recipient: Option<String>,
    /// Purpose.
    pub purpose: Option<String>,
    /// Bank.
    pub bank: Option<String>,
    /// Inclusive lower bound of `ts` (Unix µs).
    pub since: Option<i64>,
    /// Exclusive upper bound of `ts` (Unix µs).
    pub until: Option<i64>,
}

/// One page of records.
pub struct RecordPage {
    /// `(index, canonical JSON)` in ascending index order.
    pub records: Vec<(u64, String)>,
    /// Where the next page starts, if the log (as it was when the query began) has more.
    pub next_after_index: Option<u64>,
}

/// The tree size committed now.
pub fn tree_size(conn: &mut DbConnection) -> Result<u64, DbError> {
    let size: i64 = audit_tree_head::table
        .filter(audit_tree_head::id.eq(1))
        .select(audit_tree_head::size)
        .first(conn)?;
    to_u64(size)
}

/// A page of records matching `filter`, below the tree size `end` (the log as it was when
/// the query began).
pub fn records(
    conn: &mut DbConnection,
    filter: &RecordFilter,
    end: u64,
) -> Result<RecordPage, DbError> {
    let mut query = audit_records::table
        .filter(audit_records::idx.lt(to_i64(end)?))
        .order(audit_records::idx.asc())
        .select((audit_records::idx, audit_records::record))
        .into_boxed();
    if let Some(after) = filter.after_index {
        query = query.filter(audit_records::idx.gt(to_i64(after)?));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(audit_records::kind.eq(kind.clone()));
    }
    if let Some(user) = &filter.user_id {
        query = query.filter(audit_records::user_id.eq(user.clone()));
    }
    if let Some(recipient) = &filter.recipient {
        query = query.filter(audit_records::recipient.eq(recipient.clone()));
    }
    if let Some(purpose) = &filter.purpose {
        query = query.filter(audit_records::purpose.eq(purpose.clone()));
    }
    if let Some(bank) = &filter.bank {
        query = query.filter(audit_records::bank.eq(bank.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_records::ts.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_records::ts.lt(until));
    }
    // One row more than the page tells whether another page follows.
    let mut rows: Vec<(i64, String)> = query.limit(i64::from(filter.limit) + 1).load(conn)?;
    let page = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
    let records = unsigned(rows)?;
    let next_after_index = if more {
        records.last().map(|(i, _)| *i)
    } else {
        None
    };
    Ok(RecordPage {
        records,
        next_after_index,
    })
}

/// One record by index.
pub fn record(
    conn: &mut DbConnection,
    index: u64,
) -> Result<Option<(Option<String>, String)>, DbError> {
    Ok(audit_records::table
        .filter(audit_records::idx.eq(to_i64(index)?))
        .select((audit_records::user_id, audit_records::record))
        .first(conn)
        .optional()?)
}

/// A user's records, newest first, below `before` (exclusive).
pub fn user_records(
    conn: &mut DbConnection,
    user_id: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, String)>, DbError> {
    let mut query = audit_records::table
        .filter(audit_records::user_id.eq(user_id))
        .order(audit_records::idx.desc())
        .select((audit_records::idx, audit_records::record))
        .limit(i64::from(limit))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(audit_records::idx.lt(to_i64(before)?));
    }
    unsigned(query.load(conn)?)
}

/// Delivery status of events; an event whose row is gone was delivered (its payload is
/// deleted on delivery).
pub fn delivery_status(
    conn: &mut DbConnection,
    event_ids: &[&str],
) -> Result<Vec<(String, String)>, DbError> {
    Ok(outbox_events::table
        .filter(outbox_events::event_id.eq_any(event_ids))
        .select((outbox_events::event_id, outbox_events::status))
        .load(conn)?)
}

/// The latest checkpoint: `(size, note)`.
pub fn latest_checkpoint(conn: &mut DbConnection) -> Result<Option<(u64, String)>, DbError> {
    checkpoint_covering(conn, 0)
}

/// The latest checkpoint, if its size is at least `size` (so it covers leaf `size - 1`).
pub fn checkpoint_covering(
    conn: &mut DbConnection,
    size: u64,
) -> Result<Option<(u64, String)>, DbError> {
    let row: Option<(i64, String)> = audit_checkpoints::table
        .filter(audit_checkpoints::size.ge(to_i64(size)?))
        .order(audit_checkpoints::size.desc())
        .select((audit_checkpoints::size, audit_checkpoints::note))
        .first(conn)
        .optional()?;
    Ok(unsigned(row)?.into_iter().next())
}

/// Checkpoints above `after_size`, ascending, at most `limit`.
pub fn checkpoints(
    conn: &mut DbConnection,
    after_size: u64,
    limit: i64,
) -> Result<Vec<(u64, String)>, DbError> {
    unsigned(
        audit_checkpoints::table
            .filter(audit_checkpoints::size.gt(to_i64(after_size)?))
            .order(audit_checkpoints::size.asc())
            .select((audit_checkpoints::size, audit_checkpoints::note))
            .limit(limit)
            .load(conn)?,
    )
}

/// `(index or size, text)` rows as stored (signed 64-bit) with the number as `u64`.
fn unsigned(rows: impl IntoIterator<Item = (i64, String)>) -> Result<Vec<(u64, String)>, DbError> {
    rows.into_iter()
        .map(|(n, text)| Ok((to_u64(n)?, text)))
        .collect()
}

/// Inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion(conn: &mut DbConnection, index: u64, size: u64) -> Result<Vec<Hash>, DbError> {
    let nodes = StoredNodes::new(conn);
    inclusion_proof(&nodes, index, size)
        .map_err(|e| DbError::Corrupt(format!("inclusion proof: {e:?}")))
}

/// Consistency proof between trees of `from` and `to` leaves.
pub fn consistency(conn: &mut DbConnection, from: u64, to: u64) -> Result<Vec<Hash>, DbError> {
    let nodes = StoredNodes::new(conn);
    consistency_proof(&nodes, from, to)
        .map_err(|e| DbError::Corrupt(format!("consistency proof: {e:?}")))
}

/// `(kind, purpose, recipient, count)`.
pub type PurposeCount = (String, Option<String>, Option<String>, i64);

/// Counts of `(kind, purpose, recipient)` of releases and denials between `since` and `until`.
pub fn purpose_counts(
    conn: &mut DbConnection,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<PurposeCount>, DbError> {
    let mut query = audit_records::table
        .filter(audit_records::kind.eq_any(["release", "access.denied"]))
        .group_by((
            audit_records::kind,
            audit_records::purpose,
            audit_records::recipient,
        ))
        .select((
            audit_records::kind,
            audit_records::purpose,
            audit_records::recipient,
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(audit_records::ts.ge(since));
    }
    if let Some(until) = until {
        query = query.filter(audit_records::ts.lt(until));
    }
    Ok(query.load(conn)?)
}
