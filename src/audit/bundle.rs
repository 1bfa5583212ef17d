//! Records stored in bundles, as transparency logs store entry bundles: one insert-only row
//! per run of consecutive records (a writer commit, at most [`MAX_BUNDLE`] records) holding
//! their canonical JSON one per line, LZ4-compressed. A row per record, with its filter
//! columns and a by-user index entry placed at random in an index of the whole log, cost
//! more than everything else a commit writes; a bundle costs one row and a few pages.
//!
//! The access log's index (`audit_by_user`) is keyed by `(epoch, user_id, idx)` with
//! `epoch = idx / USER_EPOCH`, so a commit's entries land in the few pages of the current
//! epoch. Bundles carry the range of their records' `ts` and the set of their kinds, so
//! filtered reads skip bundles without opening them; `verify` checks both, and every
//! by-user entry, against the records.

use std::borrow::Cow;

use diesel::prelude::*;
use serde::Deserialize;

use super::record::{ALL_KINDS, Kind};
use crate::db::schema::{audit_bundles, audit_by_user};
use crate::db::{DbConnection, DbError, to_i64, to_u64};

/// Most records in one bundle: a point read (a proof, a user's record) decodes one bundle.
pub const MAX_BUNDLE: usize = 1024;
/// Records per epoch of the by-user index.
pub const USER_EPOCH: u64 = 4096;
/// Epochs asked for in one query of the by-user index.
const EPOCHS_PER_QUERY: u64 = 64;
/// The largest decoded bundle accepted: a tampered length must not allocate without bound.
const MAX_DECODED: usize = 64 << 20;

/// `encoding` of a bundle stored as plain NDJSON (what migration 000006 writes).
pub const PLAIN: i16 = 0;
/// `encoding` of a bundle stored as `u32` little-endian decoded length + an LZ4 block.
pub const LZ4: i16 = 1;

/// The bit of `kind` in a bundle's `kinds` set: its position in CONTRACT §9's list.
pub fn kind_bit(kind: Kind) -> i64 {
    ALL_KINDS
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |position| 1 << position)
}

/// The bit of the kind named `name`, 0 for a name that is no kind.
pub fn kind_bit_named(name: &str) -> i64 {
    Kind::parse(name).map_or(0, kind_bit)
}

/// Compresses NDJSON text for storage: `(encoding, blob)`.
pub fn encode(text: &[u8]) -> (i16, Vec<u8>) {
    let Ok(length) = u32::try_from(text.len()) else {
        return (PLAIN, text.to_vec());
    };
    let mut blob = Vec::with_capacity(4 + lz4_flex::block::get_maximum_output_size(text.len()));
    blob.extend_from_slice(&length.to_le_bytes());
    blob.extend_from_slice(&lz4_flex::block::compress(text));
    (LZ4, blob)
}

/// The NDJSON text of a stored bundle.
pub fn decode(encoding: i16, blob: &[u8]) -> Result<Vec<u8>, DbError> {
    match encoding {
        PLAIN => Ok(blob.to_vec()),
        LZ4 => {
            let (length, block) = blob
                .split_first_chunk::<4>()
                .ok_or_else(|| DbError::Corrupt("an audit bundle is truncated".to_string()))?;
            let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
            if length > MAX_DECODED {
                return Err(DbError::Corrupt(format!(
                    "an audit bundle claims {length} bytes"
                )));
            }
            lz4_flex::block::decompress(block, length)
                .map_err(|e| DbError::Corrupt(format!("an audit bundle does not decode: {e}")))
        }
        other => Err(DbError::Corrupt(format!(
            "an audit bundle has the unknown encoding {other}"
        ))),
    }
}

/// One stored bundle, decoded.
#[derive(Debug, Clone)]
pub struct StoredBundle {
    /// Index of its first record.
    pub first: u64,
    /// Records it claims to hold.
    pub count: u64,
    /// Smallest `ts` it claims (Unix µs).
    pub ts_min: i64,
    /// Largest `ts` it claims.
    pub ts_max: i64,
    /// Kinds it claims ([`kind_bit`]).
    pub kinds: i64,
    /// Its records, one per line, each followed by `\n`.
    text: Vec<u8>,
    /// `(start, end)` of each line in `text`, found once when decoded.
    spans: Vec<(usize, usize)>,
}

impl StoredBundle {
    /// Index one past its last record (as claimed by `count`).
    pub fn end(&self) -> u64 {
        self.first.saturating_add(self.count)
    }

    /// Lines actually held (`verify` compares them with `count`).
    pub fn held(&self) -> u64 {
        self.spans.len() as u64
    }

    /// `(index, line)` of each record, numbered from `first`. A bundle whose lines do not
    /// match `count` is caught by `verify`; readers number what is there.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.spans
            .iter()
            .zip(self.first..)
            .filter_map(|(&(start, end), index)| Some((index, self.text.get(start..end)?)))
    }

    /// The line of record `index`, if this bundle holds it.
    pub fn line(&self, index: u64) -> Option<&[u8]> {
        let position = usize::try_from(index.checked_sub(self.first)?).ok()?;
        let &(start, end) = self.spans.get(position)?;
        self.text.get(start..end)
    }
}

/// `(start, end)` of each `\n`-terminated line of `text` (a last line without `\n` counts).
fn line_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (at, byte) in text.iter().enumerate() {
        if *byte == b'\n' {
            spans.push((start, at));
            start = at + 1;
        }
    }
    if start < text.len() {
        spans.push((start, text.len()));
    }
    spans
}

/// A bundle row as stored (and as [`write`] inserts it).
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_bundles)]
pub struct BundleRow {
    first_idx: i64,
    count: i32,
    ts_min: i64,
    ts_max: i64,
    kinds: i64,
    encoding: i16,
    records: Vec<u8>,
}

impl BundleRow {
    /// Index of its first record.
    pub fn first(&self) -> Result<u64, DbError> {
        to_u64(self.first_idx)
    }

    /// Index one past its last record, as its `count` claims.
    pub fn end(&self) -> Result<u64, DbError> {
        Ok(self
            .first()?
            .saturating_add(u64::try_from(self.count).unwrap_or(0)))
    }

    /// Decodes its records.
    pub fn decode(self) -> Result<StoredBundle, DbError> {
        let text = decode(self.encoding, &self.records)?;
        Ok(StoredBundle {
            first: to_u64(self.first_idx)?,
            count: u64::try_from(self.count).map_err(|_| {
                DbError::Corrupt("an audit bundle has a negative count".to_string())
            })?,
            ts_min: self.ts_min,
            ts_max: self.ts_max,
            kinds: self.kinds,
            spans: line_spans(&text),
            text,
        })
    }
}

/// Up to `limit` bundle rows starting at or after `first`, ascending, as stored.
pub fn rows_from(
    conn: &mut DbConnection,
    first: u64,
    limit: i64,
) -> Result<Vec<BundleRow>, DbError> {
    Ok(audit_bundles::table
        .filter(audit_bundles::first_idx.ge(to_i64(first)?))
        .order(audit_bundles::first_idx.asc())
        .limit(limit)
        .select(BundleRow::as_select())
        .load(conn)?)
}

/// Which bundles a scan wants: all those it may find a match in.
#[derive(Debug, Clone, Copy, Default)]
pub struct BundleFilter {
    /// Only bundles holding one of these kinds ([`kind_bit`]); 0 for any.
    pub kinds: i64,
    /// Only bundles with a record at or after this `ts`.
    pub since: Option<i64>,
    /// Only bundles with a record before this `ts`.
    pub until: Option<i64>,
}

/// Up to `limit` bundles holding records at or after `index`, ascending, that may match
/// `filter`.
pub fn load_from(
    conn: &mut DbConnection,
    index: u64,
    filter: BundleFilter,
    limit: i64,
) -> Result<Vec<StoredBundle>, DbError> {
    // The bundle holding `index` starts at or before it: the last one starting there, if it
    // reaches `index`; otherwise the bundles wanted all start after `index`.
    let index = to_i64(index)?;
    let before: Option<(i64, i32)> = audit_bundles::table
        .filter(audit_bundles::first_idx.le(index))
        .order(audit_bundles::first_idx.desc())
        .select((audit_bundles::first_idx, audit_bundles::count))
        .first(conn)
        .optional()?;
    let start = match before {
        Some((first, count)) if first.saturating_add(i64::from(count)) > index => first,
        _ => index,
    };
    let mut query = audit_bundles::table
        .filter(audit_bundles::first_idx.ge(start))
        .order(audit_bundles::first_idx.asc())
        .limit(limit)
        .select(BundleRow::as_select())
        .into_boxed();
    if filter.kinds != 0 {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("(kinds & ")
                .bind::<diesel::sql_types::BigInt, _>(filter.kinds)
                .sql(") <> 0"),
        );
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_bundles::ts_max.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_bundles::ts_min.lt(until));
    }
    let rows: Vec<BundleRow> = query.load(conn)?;
    rows.into_iter().map(BundleRow::decode).collect()
}

/// Bundles read per query by [`walk`].
const WALK_BUNDLES: i64 = 16;

/// Calls `visit(index, line)` for each stored record in `[from, end)`, in index order, in
/// the bundles that may match `filter` (others are skipped unopened), until `visit` says
/// stop. The one loop behind the records scan, the purposes report and the export.
pub fn walk<E: From<DbError>>(
    conn: &mut DbConnection,
    from: u64,
    end: u64,
    filter: BundleFilter,
    mut visit: impl FnMut(u64, &[u8]) -> Result<std::ops::ControlFlow<()>, E>,
) -> Result<(), E> {
    let mut next = from;
    while next < end {
        let bundles = load_from(conn, next, filter, WALK_BUNDLES)?;
        for stored in &bundles {
            for (index, line) in stored.lines() {
                if index < next {
                    continue;
                }
                if index >= end {
                    return Ok(());
                }
                if visit(index, line)?.is_break() {
                    return Ok(());
                }
            }
            next = next.max(stored.end());
        }
        if bundles.len() < WALK_BUNDLES as usize {
            return Ok(());
        }
    }
    Ok(())
}

/// The bundle holding record `index`, if one does.
pub fn load_containing(
    conn: &mut DbConnection,
    index: u64,
) -> Result<Option<StoredBundle>, DbError> {
    Ok(load_from(conn, index, BundleFilter::default(), 1)?
        .into_iter()
        .find(|bundle| bundle.first <= index && index < bundle.end()))
}

/// The text of records at `indexes` (any order), skipping any not stored; decodes each
/// bundle once.
pub fn load_records(
    conn: &mut DbConnection,
    indexes: &[u64],
) -> Result<Vec<(u64, String)>, DbError> {
    let mut out = Vec::with_capacity(indexes.len());
    let mut current: Option<StoredBundle> = None;
    for &index in indexes {
        let held = current
            .as_ref()
            .is_some_and(|b| b.first <= index && index < b.end());
        if !held {
            current = load_containing(conn, index)?;
        }
        if let Some(line) = current.as_ref().and_then(|b| b.line(index)) {
            out.push((index, String::from_utf8_lossy(line).into_owned()));
        }
    }
    Ok(out)
}

/// The members of a record that reads filter on.
#[derive(Debug, Deserialize)]
pub struct Members<'a> {
    /// `kind`.
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    /// `ts` (RFC 3339).
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    /// `user_id`.
    #[serde(borrow, default)]
    pub user_id: Option<Cow<'a, str>>,
    /// `recipient`.
    #[serde(borrow, default)]
    pub recipient: Option<Cow<'a, str>>,
    /// `purpose`.
    #[serde(borrow, default)]
    pub purpose: Option<Cow<'a, str>>,
    /// `bank`.
    #[serde(borrow, default)]
    pub bank: Option<Cow<'a, str>>,
}

impl Members<'_> {
    /// Reads them from a record line.
    pub fn of(line: &[u8]) -> Result<Members<'_>, DbError> {
        serde_json::from_slice(line)
            .map_err(|e| DbError::Corrupt(format!("an audit record does not parse: {e}")))
    }

    /// `ts` in Unix microseconds.
    pub fn ts_micros(&self) -> Option<i64> {
        crate::time::parse_micros(&self.ts)
    }

    /// Whether `ts` lies in `[since, until)` (either end open when absent).
    pub fn in_period(&self, since: Option<i64>, until: Option<i64>) -> Result<bool, DbError> {
        if since.is_none() && until.is_none() {
            return Ok(true);
        }
        let ts = self
            .ts_micros()
            .ok_or_else(|| DbError::Corrupt("an audit record has no readable ts".to_string()))?;
        Ok(since.is_none_or(|s| ts >= s) && until.is_none_or(|u| ts < u))
    }
}

/// Indexes of `user_id`'s records in `(after, before)`, at most `limit`, ascending when
/// `ascending` and else descending. `before` must not exceed the tree size.
pub fn user_indexes(
    conn: &mut DbConnection,
    user_id: &str,
    after: Option<u64>,
    before: u64,
    limit: usize,
    ascending: bool,
) -> Result<Vec<u64>, DbError> {
    let Some(last) = before.checked_sub(1) else {
        return Ok(Vec::new());
    };
    let low = after.map_or(0, |a| a.saturating_add(1));
    if low > last {
        return Ok(Vec::new());
    }
    let (first_epoch, last_epoch) = (low / USER_EPOCH, last / USER_EPOCH);
    let mut found = Vec::new();
    let mut chunk_start = if ascending { first_epoch } else { last_epoch };
    loop {
        let epochs: Vec<i64> = if ascending {
            (chunk_start..=last_epoch)
                .take(EPOCHS_PER_QUERY as usize)
                .map(to_i64)
                .collect::<Result<_, _>>()?
        } else {
            (first_epoch..=chunk_start)
                .rev()
                .take(EPOCHS_PER_QUERY as usize)
                .map(to_i64)
                .collect::<Result<_, _>>()?
        };
        let Some(&reached) = epochs.last() else {
            break;
        };
        let want = i64::try_from(limit - found.len()).unwrap_or(i64::MAX);
        let query = audit_by_user::table
            .filter(audit_by_user::epoch.eq_any(&epochs))
            .filter(audit_by_user::user_id.eq(user_id))
            .filter(audit_by_user::idx.ge(to_i64(low)?))
            .filter(audit_by_user::idx.le(to_i64(last)?))
            .select(audit_by_user::idx)
            .limit(want);
        let rows: Vec<i64> = if ascending {
            query.order(audit_by_user::idx.asc()).load(conn)?
        } else {
            query.order(audit_by_user::idx.desc()).load(conn)?
        };
        for idx in rows {
            found.push(to_u64(idx)?);
        }
        let reached = to_u64(reached)?;
        let done = if ascending {
            reached >= last_epoch
        } else {
            reached <= first_epoch
        };
        if found.len() >= limit || done {
            break;
        }
        chunk_start = if ascending { reached + 1 } else { reached - 1 };
    }
    Ok(found)
}

/// The by-user entries of epoch `epoch`: `(user_id, idx)` in key order.
pub fn user_entries(conn: &mut DbConnection, epoch: u64) -> Result<Vec<(String, u64)>, DbError> {
    let rows: Vec<(String, i64)> = audit_by_user::table
        .filter(audit_by_user::epoch.eq(to_i64(epoch)?))
        .order((audit_by_user::user_id.asc(), audit_by_user::idx.asc()))
        .select((audit_by_user::user_id, audit_by_user::idx))
        .load(conn)?;
    rows.into_iter()
        .map(|(user, idx)| Ok((user, to_u64(idx)?)))
        .collect()
}

/// By-user entries in epochs after `epoch` (there should be none past the log's end).
pub fn user_entries_after(conn: &mut DbConnection, epoch: Option<u64>) -> Result<i64, DbError> {
    let mut query = audit_by_user::table.count().into_boxed();
    if let Some(epoch) = epoch {
        query = query.filter(audit_by_user::epoch.gt(to_i64(epoch)?));
    }
    Ok(query.get_result(conn)?)
}

/// A record waiting in a writer transaction for its bundle.
pub struct PendingRecord {
    /// Its canonical JSON.
    pub text: String,
    /// `ts` in Unix µs.
    pub ts_micros: i64,
    /// Its kind.
    pub kind: Kind,
    /// Who it is about.
    pub user_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_by_user)]
struct NewUserEntry<'a> {
    epoch: i64,
    user_id: &'a str,
    idx: i64,
}

/// Writes `records`, the first at index `first`, as bundles of at most [`MAX_BUNDLE`] and
/// their by-user entries.
pub fn write(
    conn: &mut DbConnection,
    first: u64,
    records: &[PendingRecord],
) -> Result<(), DbError> {
    let mut entries = Vec::new();
    for (n, chunk) in records.chunks(MAX_BUNDLE).enumerate() {
        let start = first + (n * MAX_BUNDLE) as u64;
        let mut text = Vec::with_capacity(chunk.iter().map(|r| r.text.len() + 1).sum());
        let (mut ts_min, mut ts_max, mut kinds) = (i64::MAX, i64::MIN, 0);
        for (offset, record) in chunk.iter().enumerate() {
            text.extend_from_slice(record.text.as_bytes());
            text.push(b'\n');
            ts_min = ts_min.min(record.ts_micros);
            ts_max = ts_max.max(record.ts_micros);
            kinds |= kind_bit(record.kind);
            if let Some(user) = &record.user_id {
                let index = start + offset as u64;
                entries.push(NewUserEntry {
                    epoch: to_i64(index / USER_EPOCH)?,
                    user_id: user,
                    idx: to_i64(index)?,
                });
            }
        }
        let (encoding, blob) = encode(&text);
        let row = BundleRow {
            first_idx: to_i64(start)?,
            count: i32::try_from(chunk.len())
                .map_err(|_| DbError::Corrupt("audit bundle too large".to_string()))?,
            ts_min,
            ts_max,
            kinds,
            encoding,
            records: blob,
        };
        diesel::insert_into(audit_bundles::table)
            .values(&row)
            .execute(conn)?;
    }
    crate::insert_rows!(conn, audit_by_user::table, entries.as_slice())
}

#[cfg(test)]
mod tests {
    use diesel::Connection as _;
    use diesel::sql_types::{BigInt, Nullable, Text};
    use diesel_migrations::MigrationHarness as _;

    use super::*;
    use crate::audit::{Appender, AuditRecord, CheckpointSigner, read_head, verify_online};
    use crate::db::{DbConnection, Target};

    fn sqlite(dir: &tempfile::TempDir, name: &str) -> (String, DbConnection) {
        let path = dir.path().join(name);
        let target = Target::parse(&format!("sqlite://{}", path.display())).unwrap();
        (path.display().to_string(), target.connect().unwrap())
    }

    /// Every stored `(index, text)`.
    fn all_records(conn: &mut DbConnection) -> Vec<(u64, String)> {
        let size = read_head(conn, false).unwrap().size();
        let indexes: Vec<u64> = (0..size).collect();
        load_records(conn, &indexes).unwrap()
    }

    #[test]
    fn migration_000006_moves_a_row_per_record_log_into_bundles_that_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let signer = CheckpointSigner::new("consentgate/unit", key, 100).unwrap();
        // A log written by this version, to take records, tiles and checkpoints from.
        let (source_path, mut source) = sqlite(&dir, "source.db");
        let DbConnection::Sqlite(raw) = &mut source else {
            unreachable!()
        };
        raw.run_pending_migrations(crate::db::SQLITE_MIGRATIONS)
            .unwrap();
        for start in (0..300u64).step_by(120) {
            source
                .transaction(|conn| {
                    let mut appender = Appender::default();
                    for n in start..(start + 120).min(300) {
                        let kind = if n % 3 == 0 {
                            Kind::Release
                        } else {
                            Kind::Ingest
                        };
                        let mut record = AuditRecord::new(kind, "bank:bank-a").bank("bank-a");
                        if n % 4 != 0 {
                            record = record.user(format!("u-{}", n % 5));
                        }
                        appender.append(conn, record)?;
                    }
                    appender.finish(conn, &signer).map(|_| ())
                })
                .unwrap();
        }
        let records = all_records(&mut source);
        assert_eq!(records.len(), 300);

        // The same log as the migrations before 000006 stored it: a row per record.
        let (_, mut old) = sqlite(&dir, "old.db");
        let DbConnection::Sqlite(raw) = &mut old else {
            unreachable!()
        };
        for _ in 0..5 {
            raw.run_next_migration(crate::db::SQLITE_MIGRATIONS)
                .unwrap();
        }
        for (index, text) in &records {
            let members = Members::of(text.as_bytes()).unwrap();
            diesel::sql_query(
                "INSERT INTO audit_records (idx, ts, kind, user_id, recipient, purpose, bank, record) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?)",
            )
            .bind::<BigInt, _>(*index as i64)
            .bind::<BigInt, _>(members.ts_micros().unwrap())
            .bind::<Text, _>(members.kind.as_ref())
            .bind::<Nullable<Text>, _>(members.user_id.as_deref())
            .bind::<Nullable<Text>, _>(members.bank.as_deref())
            .bind::<Text, _>(text)
            .execute(raw)
            .unwrap();
        }
        diesel::sql_query(format!("ATTACH DATABASE '{source_path}' AS source"))
            .execute(raw)
            .unwrap();
        for sql in [
            "INSERT INTO audit_tiles SELECT * FROM source.audit_tiles",
            "INSERT INTO audit_checkpoints SELECT * FROM source.audit_checkpoints",
            "DELETE FROM audit_tree_head",
            "INSERT INTO audit_tree_head SELECT * FROM source.audit_tree_head",
            "DETACH DATABASE source",
        ] {
            diesel::sql_query(sql).execute(raw).unwrap();
        }

        raw.run_pending_migrations(crate::db::SQLITE_MIGRATIONS)
            .unwrap();
        let report = verify_online(&mut old, &signer.checkpoint_keys(), &mut |_, _| {}).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.size, 300);
        let checkpoints: i64 = crate::db::schema::audit_checkpoints::table
            .count()
            .get_result(&mut old)
            .unwrap();
        assert!(checkpoints >= 2);
        assert_eq!(report.checkpoints_verified, checkpoints as u64);
        assert_eq!(all_records(&mut old), records);
        let mine = |conn: &mut DbConnection| user_indexes(conn, "u-2", None, 300, 1_000, false);
        let expected: Vec<u64> = (0..300)
            .rev()
            .filter(|n| n % 4 != 0 && n % 5 == 2)
            .collect();
        assert_eq!(mine(&mut old).unwrap(), expected);
        assert_eq!(mine(&mut source).unwrap(), expected);
    }

    #[test]
    fn encoded_text_decodes_to_itself() {
        let text = b"{\"index\":0}\n{\"index\":1}\n".repeat(100);
        let (encoding, blob) = encode(&text);
        assert_eq!(encoding, LZ4);
        assert!(blob.len() < text.len() / 4, "repetitive JSON compresses");
        assert_eq!(decode(encoding, &blob).unwrap(), text);
        assert_eq!(decode(PLAIN, &text).unwrap(), text);
    }

    #[test]
    fn a_bundle_claiming_a_huge_length_is_refused_without_allocating() {
        let (_, mut blob) = encode(b"{}\n");
        blob[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(LZ4, &blob), Err(DbError::Corrupt(_))));
        assert!(matches!(decode(LZ4, &[1, 2]), Err(DbError::Corrupt(_))));
        assert!(matches!(decode(7, b"{}\n"), Err(DbError::Corrupt(_))));
    }

    #[test]
    fn lines_are_numbered_from_the_first_index() {
        let text = b"a\nb\nc\n".to_vec();
        let bundle = StoredBundle {
            first: 10,
            count: 3,
            ts_min: 0,
            ts_max: 0,
            kinds: 0,
            spans: line_spans(&text),
            text,
        };
        let lines: Vec<(u64, &[u8])> = bundle.lines().collect();
        assert_eq!(lines, vec![(10, &b"a"[..]), (11, b"b"), (12, b"c")]);
        assert_eq!(bundle.line(11), Some(&b"b"[..]));
        assert_eq!(bundle.line(13), None);
        assert_eq!(bundle.line(9), None);
        assert_eq!(bundle.end(), 13);
    }

    #[test]
    fn kind_bits_are_distinct_and_match_the_migration() {
        let bits: Vec<i64> = ALL_KINDS.iter().map(|k| kind_bit(*k)).collect();
        // Migration 000006 maps kinds to these bits in SQL.
        let expected: Vec<i64> = (0..13).map(|n| 1 << n).collect();
        assert_eq!(bits, expected);
        assert_eq!(kind_bit_named("release"), 2);
        assert_eq!(kind_bit_named("policy.loaded"), 4096);
        assert_eq!(kind_bit_named("nothing"), 0);
        // Read the migration itself rather than trust the comment above.
        for migration in [
            include_str!("../../migrations/sqlite/2026-11-24-000006_audit_bundles/up.sql"),
            include_str!("../../migrations/postgres/2026-11-24-000006_audit_bundles/up.sql"),
        ] {
            for kind in ALL_KINDS {
                let clause = format!("WHEN '{}' THEN {} ", kind.as_str(), kind_bit(kind));
                assert!(migration.contains(&clause), "missing `{clause}`");
            }
        }
    }
}
