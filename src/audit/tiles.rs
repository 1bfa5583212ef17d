//! Merkle hashes stored as tiles: tile `(t, j)` holds up to 256 hashes of tree level `8t`,
//! nodes `[256j, 256j + 256)`. Any complete subtree `(level, index)` is derived from one tile
//! by hashing at most 7 levels up, so a proof reads O(log n) tiles.

use std::cell::RefCell;
use std::collections::HashMap;

use diesel::prelude::*;

use super::primitives::{Hash, NodeSource, node_hash};
use crate::db::schema::audit_tiles;
use crate::db::{DbConnection, DbError};

/// Tree levels per tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes per full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Where the hash of tree node `(level, index)` is kept, if `level` is a tile level.
pub fn tile_slot(level: u32, index: u64) -> Option<(u32, u64, usize)> {
    if !level.is_multiple_of(TILE_HEIGHT) {
        return None;
    }
    let offset = usize::try_from(index % TILE_WIDTH).ok()?;
    Some((level / TILE_HEIGHT, index / TILE_WIDTH, offset))
}

/// Reads one tile; a tile never written is empty.
pub fn load_tile(conn: &mut DbConnection, level: u32, index: u64) -> Result<Vec<Hash>, DbError> {
    let level = i32::try_from(level)
        .map_err(|_| DbError::Corrupt("tile level out of range".to_string()))?;
    let index = i64::try_from(index)
        .map_err(|_| DbError::Corrupt("tile index out of range".to_string()))?;
    let blob: Option<Vec<u8>> = audit_tiles::table
        .filter(audit_tiles::level.eq(level))
        .filter(audit_tiles::idx.eq(index))
        .select(audit_tiles::hashes)
        .first(conn)
        .optional()?;
    decode(&blob.unwrap_or_default())
}

/// Writes tiles (insert or replace: a partial tile grows as leaves arrive).
pub fn store_tiles(
    conn: &mut DbConnection,
    tiles: &[((u32, u64), &Vec<Hash>)],
) -> Result<(), DbError> {
    use diesel::upsert::excluded;
    for ((level, index), hashes) in tiles {
        let level = i32::try_from(*level)
            .map_err(|_| DbError::Corrupt("tile level out of range".to_string()))?;
        let index = i64::try_from(*index)
            .map_err(|_| DbError::Corrupt("tile index out of range".to_string()))?;
        let blob: Vec<u8> = hashes.iter().flat_map(|h| h.iter().copied()).collect();
        let row = (
            audit_tiles::level.eq(level),
            audit_tiles::idx.eq(index),
            audit_tiles::hashes.eq(blob),
        );
        crate::on_backend!(conn, |c| diesel::insert_into(audit_tiles::table)
            .values(row)
            .on_conflict((audit_tiles::level, audit_tiles::idx))
            .do_update()
            .set(audit_tiles::hashes.eq(excluded(audit_tiles::hashes)))
            .execute(c))?;
    }
    Ok(())
}

/// Splits a tile blob into hashes.
pub fn decode(blob: &[u8]) -> Result<Vec<Hash>, DbError> {
    if !blob.len().is_multiple_of(32) {
        return Err(DbError::Corrupt(
            "a hash tile is not a whole number of hashes".to_string(),
        ));
    }
    Ok(blob
        .chunks_exact(32)
        .filter_map(|chunk| <Hash>::try_from(chunk).ok())
        .collect())
}

/// Complete-subtree hashes read from stored tiles, with a per-use cache.
pub struct StoredNodes<'c> {
    conn: RefCell<&'c mut DbConnection>,
    cache: RefCell<HashMap<(u32, u64), Vec<Hash>>>,
}

impl<'c> StoredNodes<'c> {
    /// Reads through `conn`.
    pub fn new(conn: &'c mut DbConnection) -> Self {
        Self {
            conn: RefCell::new(conn),
            cache: RefCell::new(HashMap::new()),
        }
    }
}

impl NodeSource for StoredNodes<'_> {
    type Error = DbError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, DbError> {
        let tile_level = level / TILE_HEIGHT;
        let rise = level % TILE_HEIGHT;
        let first = index << rise;
        let count = 1usize << rise;
        let tile_index = first / TILE_WIDTH;
        let offset = usize::try_from(first % TILE_WIDTH).map_err(|_| missing(level, index))?;
        let mut cache = self.cache.borrow_mut();
        let tile = match cache.entry((tile_level, tile_index)) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(load_tile(
                &mut self.conn.borrow_mut(),
                tile_level,
                tile_index,
            )?),
        };
        let mut hashes: Vec<Hash> = tile
            .get(offset..offset + count)
            .ok_or_else(|| missing(level, index))?
            .to_vec();
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .filter_map(|pair| match pair {
                    [left, right] => Some(node_hash(left, right)),
                    _ => None,
                })
                .collect();
        }
        hashes.first().copied().ok_or_else(|| missing(level, index))
    }
}

fn missing(level: u32, index: u64) -> DbError {
    DbError::Corrupt(format!("the hash of node ({level}, {index}) is not stored"))
}
