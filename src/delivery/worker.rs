//! The delivery worker: a Tokio task that claims due events through the writer, sends each
//! in a task of its own (at most [`CONCURRENCY`] at once), and records every outcome through
//! the writer. All its state is in the database, so events survive restarts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::backoff::Backoff;
use super::metrics::DeliveryMetrics;
use super::outbox::{self, ClaimDue, Claimed, LEASE_MARGIN, RecordAttempt};
use super::sender::Sender;
use crate::db::{Database, DbError};
use crate::time::now_micros;
use crate::writer::{WriteError, Writer};

/// Attempts in flight at once on one node.
const CONCURRENCY: usize = 16;
/// Most events claimed in one writer transaction.
const CLAIM_BATCH: usize = 32;
/// How often an idle worker looks for due events (new releases need no other signal).
const POLL: Duration = Duration::from_millis(200);
/// Pause after the database or the writer failed.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What every send task shares.
pub(super) struct Context {
    pub(super) database: Database,
    pub(super) writer: Writer,
    pub(super) sender: Sender,
    pub(super) backoff: Backoff,
    pub(super) max_attempts: u32,
    pub(super) lease: Duration,
    pub(super) timeout: Duration,
    pub(super) metrics: Arc<DeliveryMetrics>,
}

/// Runs until `stop` turns true (or its sender is dropped), then waits for the attempts in
/// flight to be recorded.
pub(super) async fn run(context: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut in_flight = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while in_flight.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free == 0 {
            // Every slot is busy: wait for one to finish.
            tokio::select! {
                _ = in_flight.join_next() => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
            continue;
        }
        let limit = free.min(CLAIM_BATCH);
        match claim(&context, limit).await {
            Ok(Some(claimed)) => {
                let full = claimed.len() == limit;
                for claimed in claimed {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        // INVARIANT: only this loop takes permits, and it claimed no more
                        // than were free. Should it happen, the lease expires and the event
                        // is claimed again.
                        tracing::error!("no delivery slot for a claimed event");
                        continue;
                    };
                    let context = Arc::clone(&context);
                    in_flight.spawn(async move {
                        deliver(&context, claimed).await;
                        drop(permit);
                    });
                }
                if full {
                    // More may be due right now.
                    continue;
                }
            }
            Ok(None) => {}
            Err(Stop) => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            // A dropped handle stops the worker as well.
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
    while in_flight.join_next().await.is_some() {}
    tracing::info!("delivery worker stopped");
}

/// The writer is gone: the gateway is stopping.
struct Stop;

/// Claims up to `limit` events if any are due. `Ok(None)`: nothing due, or a failure that was
/// logged (after a pause).
async fn claim(context: &Context, limit: usize) -> Result<Option<Vec<Claimed>>, Stop> {
    let database = context.database.clone();
    let due = tokio::task::spawn_blocking(move || -> Result<Option<i64>, DbError> {
        outbox::next_due(&mut *database.get()?)
    })
    .await;
    match due {
        Ok(Ok(Some(at))) if at <= now_micros() => {}
        Ok(Ok(_)) => return Ok(None),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "cannot look for due webhook events");
            tokio::time::sleep(ERROR_PAUSE).await;
            return Ok(None);
        }
        Err(err) => {
            tracing::error!(error = %err, "the due-event lookup task failed");
            tokio::time::sleep(ERROR_PAUSE).await;
            return Ok(None);
        }
    }
    let job = ClaimDue {
        limit,
        lease: context.lease,
        token: uuid::Uuid::now_v7().to_string(),
    };
    match context.writer.submit(job).await {
        Ok(claimed) => Ok(Some(claimed)),
        Err(WriteError::Stopped) => Err(Stop),
        Err(err) => {
            tracing::warn!(error = %err, "cannot claim webhook events");
            tokio::time::sleep(ERROR_PAUSE).await;
            Ok(None)
        }
    }
}

/// One attempt of one claimed event, and its record.
async fn deliver(context: &Context, claimed: Claimed) {
    // CAUTION: an attempt must end before its lease does, or a revocation that waited for the
    // lease could return while data is still being sent. A claim too old for a full attempt
    // is left to expire and be claimed again.
    let latest_start = claimed
        .lease_until
        .saturating_sub(outbox::micros(context.timeout));
    if now_micros() > latest_start {
        tracing::warn!(event_id = %claimed.event.event_id, "claim too old to attempt; left to expire");
        return;
    }
    let result = context.sender.attempt(&claimed.event).await;
    let failures = u32::try_from(claimed.event.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let retry_in = context.backoff.delay(failures, &mut rand::thread_rng());
    let event_id = claimed.event.event_id.clone();
    let job = RecordAttempt {
        claimed,
        result,
        max_attempts: context.max_attempts,
        retry_in,
    };
    match context.writer.submit(job).await {
        Ok(recorded) => {
            context.metrics.observe(recorded, result.is_delivered());
            tracing::debug!(%event_id, ?result, ?recorded, "webhook attempt recorded");
        }
        // The claim stays until its lease ends; then the event is attempted again.
        Err(err) => {
            tracing::error!(%event_id, error = %err, "cannot record a webhook attempt")
        }
    }
}

/// The lease of a claim: one full attempt plus the time to record it.
pub(super) fn lease(timeout: Duration) -> Duration {
    timeout.saturating_add(LEASE_MARGIN)
}
