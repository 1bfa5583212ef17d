//! Appending records inside the writer's transaction: indexes are assigned under the tree
//! head's lock (never a sequence, so there are no gaps), records (in bundles, see
//! [`super::bundle`]) and hash tiles are written with the work they describe, and a checkpoint is signed when one is due.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use super::bundle::PendingRecord;
use super::primitives::{CompactRange, Hash, leaf_hash};
use super::record::{AuditRecord, PreparedRecord};
use super::signer::CheckpointSigner;
use super::tiles::{load_tile, store_tiles, tile_slot};
use crate::db::schema::audit_tree_head;
use crate::db::{DbConnection, DbError, to_i64};

/// The tree as this transaction grows it.
struct Growing {
    range: CompactRange,
    /// Index of the first record this transaction appends.
    first: u64,
    records: Vec<PendingRecord>,
    tiles: HashMap<(u32, u64), Vec<Hash>>,
    dirty: BTreeSet<(u32, u64)>,
}

/// The audit side of one writer transaction. Created empty; loads the tree head (locking it
/// on PostgreSQL) at the first append; `finish` writes everything before the commit.
#[derive(Default)]
pub struct Appender {
    growing: Option<Growing>,
}

/// The head after a transaction appended to the tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeHead {
    /// Leaves in the tree.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

impl Appender {
    /// Appends `record` and returns its index.
    pub fn append(&mut self, conn: &mut DbConnection, record: AuditRecord) -> Result<u64, DbError> {
        let prepared = record
            .prepare()
            .map_err(|e| DbError::Corrupt(format!("audit record cannot be canonicalized: {e}")))?;
        self.append_prepared(conn, prepared)
    }

    /// Appends a record serialised in advance ([`AuditRecord::prepare`]) and returns its
    /// index.
    pub fn append_prepared(
        &mut self,
        conn: &mut DbConnection,
        record: PreparedRecord,
    ) -> Result<u64, DbError> {
        if self.growing.is_none() {
            let range = read_head(conn, true)?;
            self.growing = Some(Growing {
                first: range.size(),
                range,
                records: Vec::new(),
                tiles: HashMap::new(),
                dirty: BTreeSet::new(),
            });
        }
        let growing = self
            .growing
            .as_mut()
            .ok_or_else(|| DbError::Corrupt("audit appender state lost".to_string()))?;
        let index = growing.range.size();
        let canonical = record.canonical(index);
        let mut completed: Vec<((u32, u64, usize), Hash)> = Vec::new();
        growing
            .range
            .append(leaf_hash(canonical.as_bytes()), |level, node, hash| {
                if let Some(slot) = tile_slot(level, node) {
                    completed.push((slot, *hash));
                }
            });
        for ((tile_level, tile_index, offset), hash) in completed {
            let tile = match growing.tiles.entry((tile_level, tile_index)) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(load_tile(conn, tile_level, tile_index)?)
                }
            };
            match offset.cmp(&tile.len()) {
                std::cmp::Ordering::Equal => tile.push(hash),
                std::cmp::Ordering::Less => {
                    if let Some(slot) = tile.get_mut(offset) {
                        *slot = hash;
                    }
                }
                std::cmp::Ordering::Greater => {
                    return Err(DbError::Corrupt(format!(
                        "hash tile ({tile_level}, {tile_index}) has a gap before offset {offset}"
                    )));
                }
            }
            growing.dirty.insert((tile_level, tile_index));
        }
        growing.records.push(PendingRecord {
            text: canonical,
            ts_micros: record.ts_micros,
            kind: record.kind,
            user_id: record.user_id,
        });
        Ok(index)
    }

    /// Writes the appended records, tiles and head, and signs a checkpoint if one is due.
    /// Returns the new head if anything was appended.
    pub fn finish(
        &mut self,
        conn: &mut DbConnection,
        signer: &CheckpointSigner,
    ) -> Result<Option<TreeHead>, DbError> {
        let Some(growing) = self.growing.take() else {
            return Ok(None);
        };
        super::bundle::write(conn, growing.first, &growing.records)?;
        let tiles: Vec<((u32, u64), &Vec<Hash>)> = growing
            .dirty
            .iter()
            .filter_map(|key| growing.tiles.get(key).map(|tile| (*key, tile)))
            .collect();
        store_tiles(conn, &tiles)?;
        let head = TreeHead {
            size: growing.range.size(),
            root: growing.range.root(),
        };
        let peaks: Vec<u8> = growing
            .range
            .peaks()
            .iter()
            .flat_map(|h| h.iter().copied())
            .collect();
        diesel::update(audit_tree_head::table.filter(audit_tree_head::id.eq(1)))
            .set((
                audit_tree_head::size.eq(to_i64(head.size)?),
                audit_tree_head::root.eq(head.root.to_vec()),
                audit_tree_head::peaks.eq(peaks),
            ))
            .execute(conn)?;
        signer.sign_if_due(conn, head, false)?;
        Ok(Some(head))
    }

    /// Forgets what a rolled-back transaction appended.
    pub fn reset(&mut self) {
        self.growing = None;
    }
}

/// Takes the tree head's lock at the start of a writer transaction. Every writer
/// transaction appends to the log, so taking this lock FIRST gives all of them one lock
/// order (no deadlock with consent row locks on PostgreSQL) and, on SQLite, makes the
/// transaction a writer from its first statement (as `BEGIN IMMEDIATE`), so a second process
/// on the same file waits for the lock instead of failing on a stale read snapshot.
///
/// Written with diesel's DSL rather than as SQL text: diesel prepares a `sql_query` anew on
/// every call, and this runs once per group commit.
pub fn lock_tree(conn: &mut DbConnection) -> Result<(), DbError> {
    let head = audit_tree_head::table.filter(audit_tree_head::id.eq(1));
    match conn {
        DbConnection::Sqlite(c) => {
            diesel::update(head)
                .set(audit_tree_head::id.eq(audit_tree_head::id))
                .execute(c)?;
        }
        DbConnection::Pg(c) => {
            head.select(audit_tree_head::id).for_update().execute(c)?;
        }
    }
    Ok(())
}

/// Reads the tree head; with `lock`, holds its row lock until the transaction ends
/// (PostgreSQL; SQLite's single writer already excludes other appenders).
pub fn read_head(conn: &mut DbConnection, lock: bool) -> Result<CompactRange, DbError> {
    let query = audit_tree_head::table
        .filter(audit_tree_head::id.eq(1))
        .select((audit_tree_head::size, audit_tree_head::peaks));
    let (size, peaks): (i64, Vec<u8>) = match conn {
        DbConnection::Sqlite(c) => query.first(c)?,
        DbConnection::Pg(c) if lock => query.for_update().first(c)?,
        DbConnection::Pg(c) => query.first(c)?,
    };
    let size =
        u64::try_from(size).map_err(|_| DbError::Corrupt("negative tree size".to_string()))?;
    let peaks = super::tiles::decode(&peaks)?;
    CompactRange::from_parts(size, peaks).map_err(|e| DbError::Corrupt(format!("tree head: {e}")))
}
