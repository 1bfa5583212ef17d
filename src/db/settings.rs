//! Values generated once per database and shared by every node that uses it.

use diesel::prelude::*;

use super::schema::gateway_settings;
use super::{DbConnection, DbError};

const CONTENT_HASH_KEY: &str = "content_hash_key";

/// The key of the idempotency content hashes, created on first use.
///
/// The hash is keyed so that a copy of the idempotency table does not let anyone confirm a
/// guessed transaction (amount, merchant) by hashing candidates: the table alone reveals
/// nothing of the data it deduplicates.
pub fn content_hash_key(conn: &mut DbConnection) -> Result<[u8; 32], DbError> {
    let fresh: [u8; 32] = rand::random();
    // Two nodes may race here; the primary key keeps the first value and both read it back.
    let row = (
        gateway_settings::name.eq(CONTENT_HASH_KEY),
        gateway_settings::value.eq(fresh.to_vec()),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(gateway_settings::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    let stored: Vec<u8> = gateway_settings::table
        .filter(gateway_settings::name.eq(CONTENT_HASH_KEY))
        .select(gateway_settings::value)
        .first(conn)?;
    stored
        .try_into()
        .map_err(|_| DbError::Corrupt("the stored content hash key is not 32 bytes".to_string()))
}
