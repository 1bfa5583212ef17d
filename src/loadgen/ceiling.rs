//! The storage ceiling: how many rows per second the same database, opened with the same
//! settings as the gateway's (`Target::connect`: SQLite WAL with `synchronous = FULL`,
//! PostgreSQL with `synchronous_commit = on`), takes when nothing but a bare row is written
//! per transaction. One writer fills a table of one key and one text column (285 bytes per
//! row) with multi-row INSERTs, one database transaction per batch, for a fixed time.
//!
//! The gateway writes much more per transaction (idempotency key, release events, audit
//! records, Merkle nodes) but shares each commit among many requests; the ratio of its
//! transactions/s to this ceiling says how much of the disk's commit budget the pipeline
//! turns into accepted transactions.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::BenchError;
use super::stats::LatencySummary;
use crate::db::{Backend, DbConnection, Target};

/// Bytes per row: an 8-byte key and a 277-byte text.
pub const ROW_BYTES: usize = 285;
const PAYLOAD_BYTES: usize = ROW_BYTES - 8;

diesel::table! {
    /// The bare table of the ceiling measurement; dropped afterwards.
    bench_ceiling (id) {
        id -> BigInt,
        payload -> Text,
    }
}

/// One ceiling measurement.
#[derive(Debug, Clone)]
pub struct CeilingReport {
    /// Rows per transaction.
    pub batch: usize,
    /// Rows committed.
    pub rows: u64,
    /// Time taken.
    pub elapsed: Duration,
    /// Time of each transaction (INSERT and commit).
    pub commit: Option<LatencySummary>,
}

impl CeilingReport {
    /// Rows committed per second.
    pub fn rows_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }
}

/// The durability settings in force on a connection opened like the gateway's, e.g.
/// `journal_mode=wal synchronous=2 (FULL) busy_timeout=5000`.
pub fn settings(target: &Target) -> Result<String, BenchError> {
    let mut conn = connect(target)?;
    let read = |conn: &mut DbConnection, sql: &str| -> Result<String, BenchError> {
        let rows: Vec<Setting> = diesel::sql_query(sql).load(conn).map_err(query)?;
        Ok(rows.into_iter().next().map(|r| r.value).unwrap_or_default())
    };
    Ok(match target.backend() {
        Backend::Sqlite => format!(
            "journal_mode={} synchronous={} (2 = FULL) busy_timeout={} foreign_keys={}",
            read(
                &mut conn,
                "SELECT CAST(journal_mode AS TEXT) AS value FROM pragma_journal_mode"
            )?,
            read(
                &mut conn,
                "SELECT CAST(synchronous AS TEXT) AS value FROM pragma_synchronous"
            )?,
            read(
                &mut conn,
                "SELECT CAST(timeout AS TEXT) AS value FROM pragma_busy_timeout"
            )?,
            read(
                &mut conn,
                "SELECT CAST(foreign_keys AS TEXT) AS value FROM pragma_foreign_keys"
            )?,
        ),
        Backend::Postgres => format!(
            "synchronous_commit={} fsync={} wal_sync_method={} full_page_writes={}",
            read(
                &mut conn,
                "SELECT current_setting('synchronous_commit') AS value"
            )?,
            read(&mut conn, "SELECT current_setting('fsync') AS value")?,
            read(
                &mut conn,
                "SELECT current_setting('wal_sync_method') AS value"
            )?,
            read(
                &mut conn,
                "SELECT current_setting('full_page_writes') AS value"
            )?,
        ),
    })
}

/// Fills a fresh `bench_ceiling` table with transactions of `batch` rows for `duration`,
/// then drops it.
pub fn measure(
    target: &Target,
    batch: usize,
    duration: Duration,
    seed: u64,
) -> Result<CeilingReport, BenchError> {
    let mut conn = connect(target)?;
    let key = match target.backend() {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGINT PRIMARY KEY",
    };
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS bench_ceiling; CREATE TABLE bench_ceiling (id {key}, payload TEXT NOT NULL)"
    ))
    .map_err(query)?;
    let result = fill(&mut conn, batch, duration, seed);
    conn.batch_execute("DROP TABLE IF EXISTS bench_ceiling")
        .map_err(query)?;
    result
}

fn fill(
    conn: &mut DbConnection,
    batch: usize,
    duration: Duration,
    seed: u64,
) -> Result<CeilingReport, BenchError> {
    // Rows are cut at varying offsets from 64 KiB of random text, so that no two are alike
    // and generating them costs next to nothing beside the database's work.
    let mut rng = StdRng::seed_from_u64(seed);
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            const ALPHABET: &[u8] =
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-";
            ALPHABET
                .get(rng.gen_range(0..ALPHABET.len()))
                .copied()
                .unwrap_or(b'x')
        })
        .collect();
    let mut next_id: i64 = 0;
    let mut rows: u64 = 0;
    let mut commits = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration {
        let values: Vec<_> = (0..batch)
            .map(|_| {
                next_id += 1;
                let offset = rng.gen_range(0..noise.len() - PAYLOAD_BYTES);
                let text = noise
                    .get(offset..offset + PAYLOAD_BYTES)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                (
                    bench_ceiling::id.eq(next_id),
                    bench_ceiling::payload.eq(text),
                )
            })
            .collect();
        let began = Instant::now();
        crate::on_backend!(conn, |c| c.transaction(|c| {
            diesel::insert_into(bench_ceiling::table)
                .values(&values)
                .execute(c)
        }))
        .map_err(query)?;
        commits.push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
        rows += batch as u64;
    }
    Ok(CeilingReport {
        batch,
        rows,
        elapsed: started.elapsed(),
        commit: LatencySummary::from_micros(commits),
    })
}

fn connect(target: &Target) -> Result<DbConnection, BenchError> {
    target
        .connect()
        .map_err(|e| BenchError::Database(format!("ceiling: {e}")))
}

fn query(e: impl std::fmt::Display) -> BenchError {
    BenchError::Database(format!("ceiling: {e}"))
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}
