//! Reads of the audit log for auditors and users (through the pool, never the writer).

use diesel::prelude::*;

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use super::bundle;
use super::primitives::{Hash, consistency_proof, inclusion_proof};
use super::record::Kind;
use super::tiles::StoredNodes;
use crate::db::schema::{audit_checkpoints, audit_tree_head, outbox_events};
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

/// Records a page may decode looking for matches before it stops and returns what it
/// found with `next_after_index` where it stopped (a rare filter over a large log would
/// otherwise read the whole log in one request).
pub const SCAN_BUDGET: u64 = 65_536;

/// A page of records matching `filter`, below the tree size `end` (the log as it was when
/// the query began). With a `user_id` the access log's index gives the candidates; without,
/// bundles are scanned, skipping those whose kinds and time range cannot match.
pub fn records(
    conn: &mut DbConnection,
    filter: &RecordFilter,
    end: u64,
) -> Result<RecordPage, DbError> {
    records_within(conn, filter, end, SCAN_BUDGET)
}

/// [`records`], examining at most `budget` records.
fn records_within(
    conn: &mut DbConnection,
    filter: &RecordFilter,
    end: u64,
    budget: u64,
) -> Result<RecordPage, DbError> {
    let mut scan = Scan {
        filter,
        page: usize::try_from(filter.limit).unwrap_or(usize::MAX),
        found: Vec::new(),
        budget,
        full: false,
    };
    // The last index examined, if the scan stopped before the end of the log.
    let stopped_at = match &filter.user_id {
        Some(user) => scan.by_user(conn, user, end)?,
        None => scan.bundles(conn, end)?,
    };
    let next_after_index = if scan.full {
        scan.found.last().map(|(i, _)| *i)
    } else {
        stopped_at
    };
    Ok(RecordPage {
        records: scan.found,
        next_after_index,
    })
}

/// A page being filled.
struct Scan<'f> {
    filter: &'f RecordFilter,
    page: usize,
    found: Vec<(u64, String)>,
    /// Records left to examine.
    budget: u64,
    /// A match was found past a full page: another page follows.
    full: bool,
}

impl Scan<'_> {
    /// Offers record `index`; false once the page is full.
    fn offer(&mut self, index: u64, line: &[u8]) -> Result<bool, DbError> {
        self.budget = self.budget.saturating_sub(1);
        if !matches(self.filter, line)? {
            return Ok(true);
        }
        if self.found.len() == self.page {
            self.full = true;
            return Ok(false);
        }
        self.found
            .push((index, String::from_utf8_lossy(line).into_owned()));
        Ok(true)
    }

    /// Candidates from the access log's index. Returns the last index examined if the
    /// budget ran out first.
    fn by_user(
        &mut self,
        conn: &mut DbConnection,
        user: &str,
        end: u64,
    ) -> Result<Option<u64>, DbError> {
        let mut after = self.filter.after_index;
        while self.budget > 0 {
            let want = usize::try_from(self.budget.min(1_000)).unwrap_or(1_000);
            let indexes = bundle::user_indexes(conn, user, after, end, want, true)?;
            for (index, text) in bundle::load_records(conn, &indexes)? {
                if !self.offer(index, text.as_bytes())? {
                    return Ok(None);
                }
            }
            if indexes.len() < want {
                return Ok(None);
            }
            after = indexes.last().copied();
        }
        Ok(after)
    }

    /// Every record after `after_index`, skipping bundles that cannot match. Returns the
    /// last index examined if the budget ran out first.
    fn bundles(&mut self, conn: &mut DbConnection, end: u64) -> Result<Option<u64>, DbError> {
        let wanted = bundle::BundleFilter {
            kinds: self
                .filter
                .kind
                .as_deref()
                .map_or(0, bundle::kind_bit_named),
            since: self.filter.since,
            until: self.filter.until,
        };
        let from = self.filter.after_index.map_or(0, |a| a.saturating_add(1));
        let mut stopped_at = None;
        bundle::walk(conn, from, end, wanted, |index, line| {
            if self.budget == 0 {
                stopped_at = index.checked_sub(1);
                return Ok::<_, DbError>(ControlFlow::Break(()));
            }
            Ok(if self.offer(index, line)? {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            })
        })?;
        Ok(stopped_at)
    }
}

/// Whether record `line` passes every filter but the index range.
fn matches(filter: &RecordFilter, line: &[u8]) -> Result<bool, DbError> {
    let members = bundle::Members::of(line)?;
    let same = |wanted: &Option<String>, member: &Option<std::borrow::Cow<'_, str>>| {
        wanted
            .as_deref()
            .is_none_or(|w| member.as_deref() == Some(w))
    };
    if filter.kind.as_deref().is_some_and(|k| members.kind != k)
        || !same(&filter.user_id, &members.user_id)
        || !same(&filter.recipient, &members.recipient)
        || !same(&filter.purpose, &members.purpose)
        || !same(&filter.bank, &members.bank)
    {
        return Ok(false);
    }
    members.in_period(filter.since, filter.until)
}

/// One record by index: `(its user_id, its canonical JSON)`.
pub fn record(
    conn: &mut DbConnection,
    index: u64,
) -> Result<Option<(Option<String>, String)>, DbError> {
    let Some(stored) = bundle::load_containing(conn, index)? else {
        return Ok(None);
    };
    let Some(line) = stored.line(index) else {
        return Ok(None);
    };
    let user = bundle::Members::of(line)?.user_id.map(|u| u.into_owned());
    let text = std::str::from_utf8(line)
        .map_err(|_| DbError::Corrupt(format!("audit record {index} is not UTF-8")))?;
    Ok(Some((user, text.to_string())))
}

/// A user's records, newest first, below `before` (exclusive).
pub fn user_records(
    conn: &mut DbConnection,
    user_id: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, String)>, DbError> {
    let size = tree_size(conn)?;
    let before = before.map_or(size, |b| b.min(size));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let indexes = bundle::user_indexes(conn, user_id, None, before, limit, false)?;
    bundle::load_records(conn, &indexes)
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

/// Counts of `(kind, purpose, recipient)` of releases and denials between `since` and `until`,
/// read from every bundle that may hold one, below the tree size `end` (the log as it was
/// when the query began: a busy writer cannot keep the scan chasing the tail).
pub fn purpose_counts(
    conn: &mut DbConnection,
    since: Option<i64>,
    until: Option<i64>,
    end: u64,
) -> Result<Vec<PurposeCount>, DbError> {
    let wanted = bundle::BundleFilter {
        kinds: bundle::kind_bit(Kind::Release) | bundle::kind_bit(Kind::AccessDenied),
        since,
        until,
    };
    let mut counts: BTreeMap<(String, Option<String>, Option<String>), i64> = BTreeMap::new();
    bundle::walk(conn, 0, end, wanted, |_, line| {
        let members = bundle::Members::of(line)?;
        let counted =
            members.kind == Kind::Release.as_str() || members.kind == Kind::AccessDenied.as_str();
        if counted && members.in_period(since, until)? {
            let key = (
                members.kind.into_owned(),
                members.purpose.map(|p| p.into_owned()),
                members.recipient.map(|r| r.into_owned()),
            );
            *counts.entry(key).or_default() += 1;
        }
        Ok::<_, DbError>(ControlFlow::Continue(()))
    })?;
    Ok(counts
        .into_iter()
        .map(|((kind, purpose, recipient), count)| (kind, purpose, recipient, count))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditRecord;

    /// A log of `records` records in transactions of 700 (bundles of up to 700): record `n`
    /// is about user `u-{n % 7}`, a release when `n % 10 == 3`, else an ingest.
    fn log(records: u64) -> (tempfile::TempDir, DbConnection) {
        crate::audit::test_log(records, 700, 1_000, |n| {
            let kind = if n % 10 == 3 {
                Kind::Release
            } else {
                Kind::Ingest
            };
            AuditRecord::new(kind, "bank:bank-a")
                .bank("bank-a")
                .user(format!("u-{}", n % 7))
                .detail(serde_json::json!({"n": n}))
        })
    }

    fn indexes(page: &RecordPage) -> Vec<u64> {
        page.records.iter().map(|(i, _)| *i).collect()
    }

    fn filter(limit: u32) -> RecordFilter {
        RecordFilter {
            limit,
            ..RecordFilter::default()
        }
    }

    #[test]
    fn pages_follow_each_other_across_bundles_and_end_at_the_log_s_end() {
        let (_dir, mut conn) = log(2_000);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = records(
                &mut conn,
                &RecordFilter {
                    after_index: after,
                    ..filter(300)
                },
                2_000,
            )
            .unwrap();
            for (index, text) in &page.records {
                assert!(text.contains(&format!("\"index\":{index},")));
            }
            seen.extend(indexes(&page));
            match page.next_after_index {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..2_000).collect::<Vec<_>>());
        // The log as it was when the query began: records at or past `end` are not shown.
        let page = records(&mut conn, &filter(1_000), 500).unwrap();
        assert_eq!(indexes(&page), (0..500).collect::<Vec<_>>());
        assert_eq!(page.next_after_index, None);
    }

    #[test]
    fn filters_by_kind_and_by_user_give_exactly_the_matching_records() {
        let (_dir, mut conn) = log(2_000);
        let kind = RecordFilter {
            kind: Some("release".to_string()),
            ..filter(1_000)
        };
        let page = records(&mut conn, &kind, 2_000).unwrap();
        let expected: Vec<u64> = (0..2_000).filter(|n| n % 10 == 3).collect();
        assert_eq!(indexes(&page), expected);
        let both = RecordFilter {
            user_id: Some("u-3".to_string()),
            after_index: Some(100),
            ..kind
        };
        let page = records(&mut conn, &both, 2_000).unwrap();
        let expected: Vec<u64> = (101..2_000).filter(|n| n % 10 == 3 && n % 7 == 3).collect();
        assert_eq!(indexes(&page), expected);
        assert_eq!(page.next_after_index, None);
    }

    #[test]
    fn a_scan_that_runs_out_of_budget_says_where_to_continue() {
        let (_dir, mut conn) = log(2_000);
        let rare = RecordFilter {
            kind: Some("release".to_string()),
            user_id: None,
            ..filter(1_000)
        };
        let page = records_within(&mut conn, &rare, 2_000, 500).unwrap();
        assert_eq!(
            indexes(&page),
            (0..500).filter(|n| n % 10 == 3).collect::<Vec<_>>()
        );
        assert_eq!(page.next_after_index, Some(499));
        let page = records_within(
            &mut conn,
            &RecordFilter {
                after_index: Some(499),
                ..rare.clone()
            },
            2_000,
            2_000,
        )
        .unwrap();
        assert_eq!(
            indexes(&page),
            (500..2_000).filter(|n| n % 10 == 3).collect::<Vec<_>>()
        );
        assert_eq!(page.next_after_index, None);
        let by_user = RecordFilter {
            user_id: Some("u-2".to_string()),
            ..rare
        };
        let page = records_within(&mut conn, &by_user, 2_000, 100).unwrap();
        let matching: Vec<u64> = (0..2_000).filter(|n| n % 10 == 3 && n % 7 == 2).collect();
        // 100 of u-2's records examined: up to index 7 * 99 + 2.
        assert_eq!(page.next_after_index, Some(695));
        assert_eq!(
            indexes(&page),
            matching
                .iter()
                .copied()
                .filter(|n| *n <= 695)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_user_s_records_come_newest_first_from_every_epoch() {
        let records = bundle::USER_EPOCH * 2 + 300;
        let (_dir, mut conn) = log(records);
        let all = user_records(&mut conn, "u-5", None, 1_000_000).unwrap();
        let expected: Vec<u64> = (0..records).rev().filter(|n| n % 7 == 5).collect();
        assert_eq!(all.iter().map(|(i, _)| *i).collect::<Vec<_>>(), expected);
        let page = user_records(&mut conn, "u-5", Some(5_000), 3).unwrap();
        assert_eq!(
            page.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            expected
                .iter()
                .copied()
                .filter(|n| *n < 5_000)
                .take(3)
                .collect::<Vec<_>>()
        );
        let (owner, text) = record(&mut conn, 4_100).unwrap().unwrap();
        assert_eq!(owner.as_deref(), Some("u-5"));
        assert!(text.contains("\"index\":4100,"));
        assert!(record(&mut conn, records).unwrap().is_none());
    }

    #[test]
    fn the_purposes_report_counts_releases_from_the_records() {
        let (_dir, mut conn) = log(2_000);
        let counts = purpose_counts(&mut conn, None, None, 2_000).unwrap();
        assert_eq!(counts, vec![("release".to_string(), None, None, 200)]);
        // The log as it was: records at or past `end` are not counted.
        let counts = purpose_counts(&mut conn, None, None, 1_000).unwrap();
        assert_eq!(counts, vec![("release".to_string(), None, None, 100)]);
        let none = purpose_counts(&mut conn, Some(i64::MAX - 1), None, 2_000).unwrap();
        assert!(none.is_empty());
    }
}
