//! PostgreSQL planner statistics that keep up with tables growing fast.
//!
//! PostgreSQL plans from statistics that `ANALYZE` gathers, and autovacuum runs it only
//! after its nap (a minute by default) once a tenth of a table has changed. A new gateway
//! database fills faster than that: with the statistics of a nearly empty
//! `ingested_transactions`, the idempotency lookup (`bank_id = $1 AND txn_id = ANY($2)`)
//! was planned on the bank alone and compared every stored key of the bank with every key
//! of the batch, so each batch cost more than the one before (1,690 transactions/s after
//! 40 s of `consentgate-bench`, with the server's backend at a full core in `texteq`).
//! The [`Analyzer`] runs `ANALYZE` on the tables the writer fills each time the records it
//! wrote since its last run reach the number written before that run (so at 10,000,
//! 20,000, 40,000 … records: a handful of runs, each on a connection of its own off the
//! writer), and leaves the long run to autovacuum. Nothing to do on SQLite, whose planner
//! needs no statistics for these lookups.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;

use super::periodic::Periodic;
use super::{Backend, DbConnection, DbError, KeptConnection, Target};

/// How often the analyzer looks at what the writer wrote.
const INTERVAL: Duration = Duration::from_secs(2);

/// Records written before the first `ANALYZE`.
pub const FIRST_ANALYZE_RECORDS: u64 = 10_000;

/// The tables the writer fills and reads back by key.
const TABLES: &str = "ingested_transactions, ingested_balances, outbox_events, consents, \
                      audit_bundles, audit_by_user, audit_tiles";

/// A thread running `ANALYZE` as the writer's tables grow, until dropped.
pub struct Analyzer {
    written: Arc<AtomicU64>,
    _thread: Periodic,
}

impl Analyzer {
    /// Starts analyzing `target`; `None` on SQLite.
    pub fn start(target: &Target) -> Result<Option<Self>, DbError> {
        if target.backend() != Backend::Postgres {
            return Ok(None);
        }
        let target = target.clone();
        let written = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&written);
        let thread = Periodic::spawn("consentgate-analyze", move |signal| {
            let mut analyzed_at = 0;
            let mut conn = KeptConnection::new(target);
            while !signal.wait(INTERVAL) {
                let total = count.load(Ordering::Relaxed);
                if !due(analyzed_at, total) {
                    continue;
                }
                let started = Instant::now();
                match conn.run(analyze) {
                    Ok(()) => {
                        analyzed_at = total;
                        tracing::debug!(
                            records = total,
                            took_ms = started.elapsed().as_millis() as u64,
                            "planner statistics refreshed"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "ANALYZE failed; retrying");
                    }
                }
            }
        })?;
        Ok(Some(Self {
            written,
            _thread: thread,
        }))
    }

    /// Counts what a group the writer committed weighed: the sum of its jobs' sizes, about one
    /// per record written (a claim weighs a quarter per event, a delivery outcome two).
    pub fn wrote(&self, records: usize) {
        self.written.fetch_add(
            u64::try_from(records).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Whether `total` records written call for an `ANALYZE`, the last one having run at
/// `analyzed_at`: the first at [`FIRST_ANALYZE_RECORDS`], then each time the count doubles.
fn due(analyzed_at: u64, total: u64) -> bool {
    total.saturating_sub(analyzed_at) >= analyzed_at.max(FIRST_ANALYZE_RECORDS)
}

/// `ANALYZE` of [`TABLES`].
fn analyze(conn: &mut DbConnection) -> Result<(), DbError> {
    conn.batch_execute(&format!("ANALYZE {TABLES}"))
        .map_err(DbError::Query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_refreshed_at_ten_thousand_records_then_each_time_the_count_doubles() {
        assert!(!due(0, 9_999));
        assert!(due(0, 10_000));
        assert!(!due(10_000, 19_999));
        assert!(due(10_000, 20_000));
        assert!(!due(40_000, 79_999));
        assert!(due(40_000, 80_000));
    }

    #[test]
    fn sqlite_needs_no_analyzer() {
        let dir = tempfile::tempdir().unwrap();
        let target =
            Target::parse(&format!("sqlite://{}", dir.path().join("a.db").display())).unwrap();
        assert!(Analyzer::start(&target).unwrap().is_none());
    }
}
