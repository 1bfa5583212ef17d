//! SQLite WAL checkpoints off the writer thread.
//!
//! By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: the
//! committing thread copies the WAL into the database file and syncs it before it returns.
//! On the gateway that thread is the group-commit writer, so every few commits one batch
//! waited for a checkpoint (about a sixth of the writer's time in `benches/audit.rs`). The
//! writer's connection turns automatic checkpoints off ([`writer_settings`]) and a
//! [`WalCheckpointer`] thread checkpoints on its own connection instead, while the writer
//! waits for its `fsync`. Durability is unchanged: a commit is durable once its WAL frames
//! are synced (`synchronous = FULL`), checkpointed or not, and a crash before a checkpoint
//! replays the WAL at the next open.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::{Backend, DbConnection, DbError, Target};

/// How often the checkpointer copies the WAL into the database.
const INTERVAL: Duration = Duration::from_millis(200);

/// WAL pages above which a checkpoint that could not catch up (the writer kept appending
/// while it ran) is repeated in `RESTART` mode, which waits for the writer between two
/// transactions and lets the next one start the WAL from its beginning. Without it a
/// continuously busy writer could grow the WAL file without bound. 16,384 pages of 4 KiB
/// are 64 MiB. While it waits (at most 50 ms, its `busy_timeout`) new write transactions
/// wait too; the gateway's writer starts every transaction with a write
/// (`audit::lock_tree`), so it waits through its own busy timeout instead of failing.
const RESTART_PAGES: i32 = 16_384;

/// Settings of the one connection that commits ingest, consent and audit work. Nothing to
/// change on PostgreSQL. On SQLite:
/// - no automatic checkpoints (the [`WalCheckpointer`] does them);
/// - a 32 MiB page cache instead of 2 MiB: a group commit of 8,192 records modifies more
///   pages than the default cache holds, and SQLite then spills pages into the WAL in the
///   middle of the transaction and reads them back (`pagerStress` was a tenth of the
///   writer's time under `consentgate-bench`);
/// - statement journals in memory rather than in temporary files (`temp_store`): they only
///   serve to roll back a failed statement, never to survive a crash.
pub fn writer_settings(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute(
            "PRAGMA wal_autocheckpoint = 0;
             PRAGMA cache_size = -32768;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(DbError::Query)?;
    }
    Ok(())
}

/// A thread checkpointing an SQLite database every [`INTERVAL`] until dropped.
pub struct WalCheckpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl WalCheckpointer {
    /// Starts checkpointing `target` on a connection of its own; `None` on PostgreSQL.
    pub fn start(target: &Target) -> Result<Option<Self>, DbError> {
        if target.backend() != Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = target.connect()?;
        // A RESTART checkpoint holds new writers back while it waits for readers; waiting
        // at most this long bounds that stall (it retries at the next interval).
        if let DbConnection::Sqlite(c) = &mut conn {
            c.batch_execute("PRAGMA busy_timeout = 50;")
                .map_err(DbError::Query)?;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("consentgate-wal-checkpoint".to_string())
            .spawn(move || {
                while !stopped(&signal, INTERVAL) {
                    if let Err(err) = checkpoint(&mut conn) {
                        tracing::warn!(error = %err, "WAL checkpoint failed; retrying");
                    }
                }
                // A last one, so a clean shutdown leaves little WAL to replay.
                if let Err(err) = checkpoint(&mut conn) {
                    tracing::warn!(error = %err, "final WAL checkpoint failed");
                }
            })
            .map_err(DbError::Thread)?;
        Ok(Some(Self {
            stop,
            thread: Some(thread),
        }))
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        let (flag, wake) = &*self.stop;
        if let Ok(mut stop) = flag.lock() {
            *stop = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits up to `interval`; true once the checkpointer is asked to stop.
fn stopped(signal: &(Mutex<bool>, Condvar), interval: Duration) -> bool {
    let (flag, wake) = signal;
    let Ok(guard) = flag.lock() else {
        return true;
    };
    if *guard {
        return true;
    }
    match wake.wait_timeout(guard, interval) {
        Ok((guard, _)) => *guard,
        Err(_) => true,
    }
}

/// The row `PRAGMA wal_checkpoint` returns.
#[derive(QueryableByName)]
struct Outcome {
    /// 1 if a lock kept the checkpoint from finishing.
    #[diesel(sql_type = Integer)]
    busy: i32,
    /// Pages in the WAL.
    #[diesel(sql_type = Integer)]
    log: i32,
    /// Pages of it now copied into the database.
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

/// One `PASSIVE` checkpoint (never waits for the writer), and a `RESTART` one when the WAL
/// is long and the passive one could not reach its end.
fn checkpoint(conn: &mut DbConnection) -> Result<(), DbError> {
    let DbConnection::Sqlite(c) = conn else {
        return Ok(());
    };
    let passive: Outcome = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    if passive.log > RESTART_PAGES && (passive.busy != 0 || passive.checkpointed < passive.log) {
        let _: Outcome = diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(path: &std::path::Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn the_writer_leaves_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.db");
        let wal = dir.path().join("w.db-wal");
        let target = Target::parse(&format!("sqlite://{}", file.display())).unwrap();
        let mut writer = target.connect().unwrap();
        writer_settings(&mut writer).unwrap();
        writer
            .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        // Three commits of about 760 pages each: SQLite alone would have checkpointed
        // after the second (past 1,000 pages) and copied the table into the file.
        for _ in 0..3 {
            writer
                .batch_execute(
                    "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                     INSERT INTO t (v) SELECT printf('%0300d', i) FROM n; COMMIT;",
                )
                .unwrap();
        }
        let table_bytes = 30_000 * 300;
        assert!(size(&wal) > table_bytes, "the WAL holds every commit");
        assert!(
            size(&file) < table_bytes / 10,
            "the writer checkpointed by itself"
        );

        let checkpointer = WalCheckpointer::start(&target).unwrap();
        assert!(checkpointer.is_some());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size(&file) < table_bytes && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            size(&file) > table_bytes,
            "the checkpointer copied the WAL into the file"
        );
        drop(checkpointer);
    }

    #[test]
    fn postgres_needs_no_checkpointer() {
        let target = Target::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
        assert!(WalCheckpointer::start(&target).unwrap().is_none());
    }
}
