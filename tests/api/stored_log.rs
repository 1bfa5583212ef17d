//! The audit log as stored, read and changed directly in the database, as someone with
//! write access to it behind the gateway's back would (records live in compressed bundles,
//! see `consentgate::audit::bundle`).

use consentgate::audit::Kind;
use consentgate::audit::bundle::{self, Members, PendingRecord};
use consentgate::db::DbConnection;
use consentgate::db::schema::{audit_bundles, audit_by_user};
use diesel::prelude::*;
use serde_json::Value;

/// Every stored record as `(index, text)`, in index order.
pub fn stored_records(conn: &mut DbConnection) -> Vec<(u64, String)> {
    let mut records = Vec::new();
    let mut next = 0;
    loop {
        let rows = bundle::rows_from(conn, next, 64).unwrap();
        if rows.is_empty() {
            return records;
        }
        for row in rows {
            let stored = row.decode().unwrap();
            next = stored.end();
            for (index, line) in stored.lines() {
                records.push((index, String::from_utf8(line.to_vec()).unwrap()));
            }
        }
    }
}

/// Every stored record of `kind`, parsed, in index order.
pub fn stored_of_kind(conn: &mut DbConnection, kind: &str) -> Vec<Value> {
    stored_records(conn)
        .into_iter()
        .map(|(_, text)| serde_json::from_str::<Value>(&text).unwrap())
        .filter(|record| record["kind"] == kind)
        .collect()
}

/// The index of the `n`-th (0-based) stored record of `kind`.
pub fn nth_of_kind(conn: &mut DbConnection, kind: &str, n: usize) -> i64 {
    stored_of_kind(conn, kind)[n]["index"].as_i64().unwrap()
}

/// Rewrites the stored log through `change(index, text)` (`None` deletes the record), the
/// way a careful attacker would: each run of consecutive records left becomes a bundle
/// with matching kinds, time range and access-log entries. Only the records and the
/// Merkle tree disagree afterwards.
pub fn rewrite_records(
    conn: &mut DbConnection,
    mut change: impl FnMut(u64, String) -> Option<String>,
) {
    let kept: Vec<(u64, String)> = stored_records(conn)
        .into_iter()
        .filter_map(|(index, text)| change(index, text).map(|text| (index, text)))
        .collect();
    diesel::delete(audit_bundles::table).execute(conn).unwrap();
    diesel::delete(audit_by_user::table).execute(conn).unwrap();
    let mut run: Vec<PendingRecord> = Vec::new();
    let mut run_first = 0;
    for (position, (index, text)) in kept.iter().enumerate() {
        if position > 0 && *index != run_first + run.len() as u64 {
            bundle::write(conn, run_first, &run).unwrap();
            run.clear();
        }
        if run.is_empty() {
            run_first = *index;
        }
        let members = Members::of(text.as_bytes()).unwrap();
        run.push(PendingRecord {
            ts_micros: members.ts_micros().unwrap(),
            kind: Kind::parse(&members.kind).unwrap(),
            user_id: members.user_id.map(|u| u.into_owned()),
            text: text.clone(),
        });
    }
    if !run.is_empty() {
        bundle::write(conn, run_first, &run).unwrap();
    }
}

/// Replaces `from` with `to` (once) in the stored text of record `index`.
pub fn edit_record(conn: &mut DbConnection, index: i64, from: &str, to: &str) {
    let mut edited = false;
    rewrite_records(conn, |i, text| {
        if i as i64 == index {
            assert!(text.contains(from), "{text}");
            edited = true;
            Some(text.replacen(from, to, 1))
        } else {
            Some(text)
        }
    });
    assert!(edited, "record {index} is not stored");
}

/// Records stored, counted from the bundles' own counts.
pub fn stored_count(conn: &mut DbConnection) -> i64 {
    let counts: Vec<i32> = audit_bundles::table
        .select(audit_bundles::count)
        .load(conn)
        .unwrap();
    counts.into_iter().map(i64::from).sum()
}
