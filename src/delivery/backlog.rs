//! Back-pressure on ingest: when more events wait for delivery than `delivery.max_backlog`,
//! banks are asked to retry later (`503 not_ready` with `Retry-After`) instead of the outbox
//! growing without bound. Delivery can fall behind a sustained ingest peak (docs/performance.md:
//! at full batch-100 load about 29,000 events/s are released and 4,000 delivered); without a
//! bound the backlog, its payloads and the delay of every webhook would grow until the disk is
//! full. A refused batch stores nothing and the bank's retry is idempotent, so nothing is lost.
//!
//! The count is read by a thread of its own, once a second, on a connection of its own: a
//! bounded index count (it stops at the bound), shared by every node of a PostgreSQL cluster
//! because it counts the database, not the node.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::DeliveryMetrics;
use super::outbox;
use crate::db::periodic::Periodic;
use crate::db::{Database, DbError};

/// How often the backlog is counted.
pub const REFRESH: Duration = Duration::from_secs(1);
/// What a refused bank is told to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The backlog as last counted, against its bound.
pub struct Backlog {
    bound: u64,
    metrics: Arc<DeliveryMetrics>,
}

impl Backlog {
    /// Whether ingest should be refused: the backlog has reached its bound. Counts the refusal.
    pub fn refuses(&self) -> bool {
        let full = self.metrics.backlog.load(Ordering::Relaxed) >= self.bound;
        if full {
            self.metrics
                .backlog_refusals
                .fetch_add(1, Ordering::Relaxed);
        }
        full
    }
}

/// Starts the counting thread (`consentgate-backlog`); it stops when the handle is dropped.
pub fn watch(
    database: Database,
    bound: u64,
    metrics: Arc<DeliveryMetrics>,
) -> Result<(Arc<Backlog>, Periodic), DbError> {
    let backlog = Arc::new(Backlog {
        bound,
        metrics: Arc::clone(&metrics),
    });
    let thread = Periodic::spawn("consentgate-backlog", move |signal| {
        let mut conn = database.kept_connection();
        loop {
            match conn.run(|c| outbox::undelivered_up_to(c, bound)) {
                Ok(n) => metrics.backlog.store(n, Ordering::Relaxed),
                // The last count stands; ingest meets the database's trouble on its own.
                Err(err) => tracing::warn!(error = %err, "cannot count the delivery backlog"),
            }
            if signal.wait(REFRESH) {
                break;
            }
        }
    })?;
    Ok((backlog, thread))
}
