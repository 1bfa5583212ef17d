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
//!
//! The WAL must also start again from its beginning now and then, or it grows without bound.
//! SQLite does that by itself when a write transaction begins on a WAL that a checkpoint has
//! copied to its end and that no reader still reads from; under load the writer commits its
//! next group before that ever happens (the checkpoints kept up, yet the WAL grew to 800 MB
//! in 20 s under `consentgate-bench`, and writing ever new WAL pages cost the writer a fifth
//! of its time in the kernel). A `RESTART` checkpoint from another connection needs the
//! write lock between two of the writer's transactions, which a writer that starts its next
//! group at once never leaves free long enough. So when the WAL is long the checkpointer
//! asks the writer ([`WalCheckpointer::restart_wanted`]), and the writer restarts the WAL
//! itself between two groups
//! ([`restart`]): it copies what the checkpointer has not copied yet, and the next group
//! writes the WAL from its start, over pages the file already has.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::periodic::Periodic;
use super::{BUSY_TIMEOUT_MS, Backend, DbConnection, DbError, Target};

/// How often the checkpointer copies the WAL into the database.
const INTERVAL: Duration = Duration::from_millis(200);

/// WAL pages above which the checkpointer asks the writer to restart the WAL. 16,384 pages
/// of 4 KiB are 64 MiB.
const RESTART_PAGES: i32 = 16_384;

/// How long a restart a reader held back waits before it is tried again (an online
/// `audit verify` holds its snapshot for seconds).
const RESTART_RETRY: Duration = Duration::from_millis(250);

/// Longest the writer waits for readers when it restarts the WAL.
const RESTART_WAIT_MS: u32 = 20;

/// The WAL file is cut back to this size when it restarts, if it grew beyond (it grows past
/// [`RESTART_PAGES`] by at most the commits made before the writer restarts it).
const WAL_SIZE_LIMIT: i64 = 128 * 1024 * 1024;

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
        c.batch_execute(&format!(
            "PRAGMA wal_autocheckpoint = 0;
             PRAGMA cache_size = -32768;
             PRAGMA temp_store = MEMORY;
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
        ))
        .map_err(DbError::Query)?;
    }
    Ok(())
}

/// A thread checkpointing an SQLite database every [`INTERVAL`] until dropped.
pub struct WalCheckpointer {
    restart: Arc<AtomicBool>,
    /// A restart a reader held back is not tried again before this.
    retry_at: Cell<Option<Instant>>,
    _thread: Periodic,
}

impl WalCheckpointer {
    /// Starts checkpointing `target` on a connection of its own; `None` on PostgreSQL.
    pub fn start(target: &Target) -> Result<Option<Self>, DbError> {
        Self::start_with(target, RESTART_PAGES)
    }

    /// On the writer's connection, between two of its transactions: restarts the WAL
    /// ([`restart`]) if the checkpointer asked, unless a reader held a restart back less than
    /// [`RESTART_RETRY`] ago (each try costs the writer up to [`RESTART_WAIT_MS`]). An error
    /// may leave the connection's busy timeout unrestored: the caller reconnects.
    pub fn restart_if_asked(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        if !self.restart_wanted() || self.retry_at.get().is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        let started = Instant::now();
        if restart(conn)? {
            self.restart.store(false, Ordering::Relaxed);
            self.retry_at.set(None);
            tracing::debug!(
                took_us = started.elapsed().as_micros() as u64,
                "WAL restarted"
            );
        } else {
            self.retry_at.set(Some(Instant::now() + RESTART_RETRY));
            tracing::debug!("WAL restart held back by a reader or a checkpoint; retrying later");
        }
        Ok(())
    }

    /// Whether the checkpointer asks for a restart.
    fn restart_wanted(&self) -> bool {
        self.restart.load(Ordering::Relaxed)
    }

    /// [`start`](Self::start) asking for restarts past `restart_pages` WAL pages.
    fn start_with(target: &Target, restart_pages: i32) -> Result<Option<Self>, DbError> {
        if target.backend() != Backend::Sqlite {
            return Ok(None);
        }
        let DbConnection::Sqlite(mut conn) = target.connect()? else {
            return Ok(None);
        };
        let restart = Arc::new(AtomicBool::new(false));
        let ask = Arc::clone(&restart);
        let thread = Periodic::spawn("consentgate-wal-checkpoint", move |signal| {
            while !signal.wait(INTERVAL) {
                match checkpoint(&mut conn) {
                    Ok(outcome) => {
                        // `RUST_LOG=consentgate::db::wal=trace` shows whether checkpoints
                        // keep up.
                        tracing::trace!(
                            log = outcome.log,
                            checkpointed = outcome.checkpointed,
                            busy = outcome.busy,
                            "WAL checkpoint"
                        );
                        if outcome.long(restart_pages) {
                            ask.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed; retrying"),
                }
            }
            // A last one, so a clean shutdown leaves little WAL to replay.
            if let Err(err) = checkpoint(&mut conn) {
                tracing::warn!(error = %err, "final WAL checkpoint failed");
            }
        })?;
        Ok(Some(Self {
            restart,
            retry_at: Cell::new(None),
            _thread: thread,
        }))
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

impl Outcome {
    /// The WAL is longer than `pages`. Even when the checkpoint reached its end, SQLite's
    /// own restart (when a write transaction begins on a fully copied WAL) needs that no
    /// reader still reads from the WAL, and a busy writer commits again before then.
    fn long(&self, pages: i32) -> bool {
        self.log > pages
    }
}

/// One `PASSIVE` checkpoint: it never waits for the writer.
fn checkpoint(conn: &mut SqliteConnection) -> Result<Outcome, DbError> {
    Ok(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?)
}

/// On the writer's connection, between two transactions: copies the rest of the WAL into the
/// database and makes the next transaction write the WAL from its start (`RESTART`). Waits
/// at most [`RESTART_WAIT_MS`] for readers on older snapshots (an online verification holds
/// one for seconds), so the writer is never held longer. True if the WAL restarted; false if
/// a reader or another checkpoint kept it from finishing (the writer tries again after its
/// next transaction).
fn restart(conn: &mut DbConnection) -> Result<bool, DbError> {
    let DbConnection::Sqlite(c) = conn else {
        return Ok(true);
    };
    c.batch_execute(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS};"))
        .map_err(DbError::Query)?;
    let outcome = diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result::<Outcome>(c);
    c.batch_execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))
        .map_err(DbError::Query)?;
    Ok(outcome?.busy == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

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

    /// A writer connection on a new file with a table `t`.
    fn writer_on(dir: &std::path::Path) -> (Target, DbConnection) {
        let file = dir.join("w.db");
        let target = Target::parse(&format!("sqlite://{}", file.display())).unwrap();
        let mut writer = target.connect().unwrap();
        writer_settings(&mut writer).unwrap();
        writer
            .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        (target, writer)
    }

    /// Commits `rows` rows of 300 bytes (about 76 pages per 1,000 rows).
    fn commit_rows(writer: &mut DbConnection, rows: u32) {
        writer
            .batch_execute(&format!(
                "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
                 INSERT INTO t (v) SELECT printf('%0300d', i) FROM n; COMMIT;"
            ))
            .unwrap();
    }

    /// A reader holding a snapshot taken now, until dropped.
    fn open_snapshot(target: &Target) -> DbConnection {
        let mut reader = target.connect().unwrap();
        reader
            .batch_execute("BEGIN; SELECT COUNT(*) FROM t;")
            .unwrap();
        reader
    }

    #[test]
    fn a_long_wal_asks_the_writer_to_restart_it() {
        let dir = tempfile::tempdir().unwrap();
        let (target, mut writer) = writer_on(dir.path());
        commit_rows(&mut writer, 10);
        // A reader still reading from the WAL keeps SQLite from restarting it by itself.
        let reader = open_snapshot(&target);
        commit_rows(&mut writer, 10_000);
        let checkpointer = WalCheckpointer::start_with(&target, 100).unwrap().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !checkpointer.restart_wanted() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(checkpointer.restart_wanted());

        // The reader holds the restart back; it is not tried again at once.
        checkpointer.restart_if_asked(&mut writer).unwrap();
        assert!(
            checkpointer.restart_wanted(),
            "not restarted under a reader"
        );
        let retry_at = checkpointer.retry_at.get().expect("a time to try again");
        drop(reader);
        checkpointer.restart_if_asked(&mut writer).unwrap();
        assert_eq!(
            checkpointer.retry_at.get(),
            Some(retry_at),
            "tried again too soon"
        );

        // (The checkpointer's own passive checkpoint can hold a try back too: a few tries.)
        for _ in 0..20 {
            thread::sleep(RESTART_RETRY);
            checkpointer.restart_if_asked(&mut writer).unwrap();
            if checkpointer.retry_at.get().is_none() {
                break;
            }
        }
        assert_eq!(
            checkpointer.retry_at.get(),
            None,
            "restarted once the reader left"
        );
    }

    #[test]
    fn a_short_wal_asks_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (target, mut writer) = writer_on(dir.path());
        commit_rows(&mut writer, 10_000);
        let checkpointer = WalCheckpointer::start_with(&target, 100_000)
            .unwrap()
            .unwrap();
        thread::sleep(INTERVAL * 3);
        assert!(!checkpointer.restart_wanted());
    }

    #[test]
    fn after_the_writer_restarts_the_wal_the_next_commit_writes_it_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("w.db-wal");
        let (_target, mut writer) = writer_on(dir.path());
        commit_rows(&mut writer, 10_000);
        let long = size(&wal);
        commit_rows(&mut writer, 100);
        assert!(
            size(&wal) > long,
            "without a restart a commit appends to the WAL"
        );
        let long = size(&wal);

        assert!(restart(&mut writer).unwrap());
        commit_rows(&mut writer, 100);
        assert!(
            size(&wal) <= long,
            "the commit after a restart wrote over the WAL's first pages"
        );
        let busy_timeout: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "timeout FROM pragma_busy_timeout",
        ))
        .get_result(&mut writer)
        .unwrap();
        assert_eq!(
            busy_timeout,
            i64::from(BUSY_TIMEOUT_MS),
            "the usual wait is back"
        );
    }

    #[test]
    fn a_reader_on_an_old_snapshot_holds_a_restart_back_without_failing_it() {
        let dir = tempfile::tempdir().unwrap();
        let (target, mut writer) = writer_on(dir.path());
        commit_rows(&mut writer, 10);
        let reader = open_snapshot(&target);
        commit_rows(&mut writer, 1_000);
        assert!(
            !restart(&mut writer).unwrap(),
            "the reader still needs the WAL"
        );
        drop(reader);
        assert!(restart(&mut writer).unwrap());
    }

    #[test]
    fn postgres_needs_no_checkpointer() {
        let target = Target::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
        assert!(WalCheckpointer::start(&target).unwrap().is_none());
    }
}
