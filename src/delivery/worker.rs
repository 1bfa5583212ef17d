//! The delivery worker: a Tokio task that claims due events through the writer, sends each
//! in a task of its own (at most [`CONCURRENCY`] at once), and records the outcomes through
//! the writer. All its state is in the database, so events survive restarts.
//!
//! Claiming, sending and recording overlap, so that a busy writer (whose every job waits for
//! a group commit) does not hold delivery to one round of [`CONCURRENCY`] events per two
//! commits: a claim takes up to [`CLAIM_BATCH`] events while earlier ones are still being
//! sent (about [`CLAIM_AHEAD`] of work at the recent pace), and one recorder task writes
//! every outcome that is waiting in one writer job, as the writer itself groups requests.
//!
//! An event claimed ahead waits for a send slot. Shortly before its attempt the [`gate`]
//! reads whether it is still claimed (a revocation may have cancelled it meanwhile): the
//! next [`CHECK_AHEAD`] events in line are checked together, one read for all of them, so
//! the check costs no send slot its time; an event whose check is older than
//! [`RECHECK_AFTER`] when it gets its slot (slow attempts ahead of it) is checked again. An event not attempted (no longer claimed, too old to attempt,
//! or the node stopping) is given back through the recorder at once, so a revocation
//! waiting for it answers and the event is due again.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::backoff::Backoff;
use super::metrics::DeliveryMetrics;
use super::outbox::{self, ClaimDue, Claimed, LEASE_MARGIN, RecordAttempt, RecordAttempts};
use super::sender::Sender;
use crate::db::{Database, DbError};
use crate::time::now_micros;
use crate::writer::{WriteError, Writer};

/// Attempts in flight at once on one node.
pub const CONCURRENCY: usize = 32;
/// Events next in line for a send slot whose claim is checked together (see [`gate`]).
const CHECK_AHEAD: usize = 256;
/// A check older than this when the event gets its send slot is made again.
const RECHECK_AFTER: Duration = Duration::from_millis(100);
/// Most events claimed in one writer transaction.
const CLAIM_BATCH: usize = 2048;
/// How much sending a node claims ahead, at the pace of its recent attempts. It bounds how
/// long an event waits for a send slot after its claim.
const CLAIM_AHEAD: Duration = Duration::from_secs(1);
/// Most events a node holds claimed and not yet sent.
const MAX_CLAIMED: usize = 4096;
/// Most outcomes recorded in one writer job.
const RECORD_BATCH: usize = 2048;
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
    /// Recent attempts' mean duration in microseconds (moving average), for [`claim_room`].
    pub(super) attempt_micros: AtomicU64,
}

/// What a send task hands the recorder.
enum Outcome {
    /// An attempt was made: record it with its audit record(s).
    Attempted(RecordAttempt),
    /// No attempt was made: give the claim back.
    NotAttempted(Claimed),
}

/// What a claimed event waits for on its way to an attempt (shared by all of them).
#[derive(Clone)]
struct Turn {
    context: Arc<Context>,
    /// Places among the next [`CHECK_AHEAD`] events, whose claims are checked together.
    in_line: Arc<Semaphore>,
    /// Send slots, [`CONCURRENCY`] of them.
    slots: Arc<Semaphore>,
    /// To the [`gate`].
    checks: mpsc::UnboundedSender<Check>,
}

impl Turn {
    /// One claimed event's way to its attempt: a place in line, its claim checked, a send
    /// slot (and the claim checked again if that took long), the attempt. At any step where
    /// it cannot go on (the claim is gone, the worker is stopping) the claim is given back.
    /// Both semaphores hand out permits in the order asked (FIFO).
    async fn take(&self, claimed: Claimed) -> Outcome {
        let Ok(place) = self.in_line.acquire().await else {
            return Outcome::NotAttempted(claimed);
        };
        if !self.still_claimed(&claimed).await {
            return Outcome::NotAttempted(claimed);
        }
        let checked = Instant::now();
        let Ok(_slot) = self.slots.acquire().await else {
            return Outcome::NotAttempted(claimed);
        };
        drop(place);
        // Slow attempts ahead: the check is stale, check again.
        if checked.elapsed() > RECHECK_AFTER && !self.still_claimed(&claimed).await {
            return Outcome::NotAttempted(claimed);
        }
        attempt(&self.context, claimed).await
    }

    /// Asks the [`gate`] whether `claimed` is still claimed by us; "no" if it cannot tell.
    async fn still_claimed(&self, claimed: &Claimed) -> bool {
        let (answer, still) = oneshot::channel();
        let check = Check {
            event_id: claimed.event.event_id.clone(),
            token: claimed.token.clone(),
            answer,
        };
        self.checks.send(check).is_ok() && still.await.unwrap_or(false)
    }
}

/// A send task's question to the [`gate`]: is this event still claimed by us?
struct Check {
    event_id: String,
    token: String,
    answer: oneshot::Sender<bool>,
}

/// Runs until `stop` turns true (or its sender is dropped), then gives back what it claimed
/// and did not start, and waits for the attempts in flight to be sent and recorded.
pub(super) async fn run(context: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let (outcomes, to_record) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(Arc::clone(&context), to_record));
    let (checks, to_check) = mpsc::unbounded_channel();
    let turn = Turn {
        context: Arc::clone(&context),
        in_line: Arc::new(Semaphore::new(CHECK_AHEAD)),
        slots: Arc::new(Semaphore::new(CONCURRENCY)),
        checks,
    };
    let database = context.database.clone();
    let gate = std::thread::Builder::new()
        .name("consentgate-delivery-gate".to_string())
        .spawn(move || gate(&database, to_check));
    if let Err(err) = &gate {
        // Without the gate every check answers "no": nothing is sent, claims are given back.
        tracing::error!(error = %err, "cannot start the delivery gate");
    }
    // One task per claimed event, from its claim until its outcome is handed to the recorder.
    let mut claimed_events = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while claimed_events.try_join_next().is_some() {}
        let pace = context.attempt_micros.load(Ordering::Relaxed);
        let room = claim_room(pace, claimed_events.len());
        if room == 0 {
            // Enough is claimed: wait for an attempt to end.
            tokio::select! {
                _ = claimed_events.join_next() => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
            continue;
        }
        let limit = room.min(CLAIM_BATCH);
        match claim(&context, limit).await {
            Ok(Some(claimed)) => {
                let full = claimed.len() == limit;
                for claimed in claimed {
                    let (turn, outcomes) = (turn.clone(), outcomes.clone());
                    claimed_events.spawn(async move {
                        // The recorder outlives every send task; were it gone, the lease
                        // would expire and the event be claimed again (at-least-once).
                        let _ = outcomes.send(turn.take(claimed).await);
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
    // Events waiting for a slot are given back rather than attempted.
    turn.in_line.close();
    turn.slots.close();
    while claimed_events.join_next().await.is_some() {}
    drop((outcomes, turn));
    if let Err(err) = recorder.await {
        tracing::error!(error = %err, "the delivery recorder failed");
    }
    if let Ok(gate) = gate
        && tokio::task::spawn_blocking(move || gate.join())
            .await
            .is_err()
    {
        tracing::error!("the delivery gate failed");
    }
    tracing::info!("delivery worker stopped");
}

/// How many more events a node may claim now, holding `held` claimed and not yet sent, when
/// a send slot takes `per_attempt_micros` per attempt (0: not measured yet): as many as can
/// start their attempt within [`CLAIM_AHEAD`] at that pace, at least one round of
/// [`CONCURRENCY`], at most [`MAX_CLAIMED`].
fn claim_room(per_attempt_micros: u64, held: usize) -> usize {
    let rounds = match i64::try_from(per_attempt_micros) {
        Ok(per_attempt) if per_attempt > 0 => outbox::micros(CLAIM_AHEAD) / per_attempt,
        _ => 1,
    };
    let ahead = usize::try_from(rounds)
        .unwrap_or(0)
        .saturating_mul(CONCURRENCY)
        .clamp(CONCURRENCY, MAX_CLAIMED);
    ahead.saturating_sub(held)
}

/// Records the outcomes handed over by the send tasks: everything waiting goes into one
/// writer job, so outcomes batch up while the previous job waits for its commit. Ends when
/// every send task is gone and nothing is left.
async fn record(context: Arc<Context>, mut outcomes: mpsc::UnboundedReceiver<Outcome>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let (mut attempts, mut returned) = (Vec::new(), Vec::new());
        for outcome in batch.drain(..) {
            match outcome {
                Outcome::Attempted(attempt) => attempts.push(attempt),
                Outcome::NotAttempted(claimed) => returned.push(claimed),
            }
        }
        submit_records(&context, RecordAttempts::new(attempts, returned)).await;
    }
}

/// Submits `job`; if its transaction fails, submits each half on its own, so that one outcome
/// that cannot be written does not cost the others (they would be sent again).
async fn submit_records(context: &Context, job: RecordAttempts) {
    let mut jobs = vec![job];
    while let Some(job) = jobs.pop() {
        // The job shares its outcomes: keeping them costs no copy.
        let kept = job.clone();
        match context.writer.submit(job).await {
            Ok(recorded) => {
                for (attempt, recorded) in kept.attempts().iter().zip(recorded) {
                    let delivered = attempt.result.is_delivered();
                    context.metrics.observe(recorded, delivered);
                    let event_id = &attempt.claimed.event.event_id;
                    tracing::debug!(%event_id, delivered, ?recorded, "webhook attempt recorded");
                }
            }
            Err(WriteError::Failed(err)) if kept.len() > 1 => {
                tracing::warn!(error = %err, "recording webhook outcomes failed; retrying in halves");
                let (first, second) = kept.split();
                jobs.extend([second, first]);
            }
            // The claims stay until their leases end; then the events are attempted again.
            Err(err) => {
                tracing::error!(outcomes = kept.len(), error = %err, "cannot record webhook outcomes")
            }
        }
    }
}

/// Answers the send tasks' [`Check`]s on a thread of its own with a connection of its own
/// (on the Tokio runtime or the pool it would wait behind the request handlers under load,
/// and every event in line with it): one read for every check waiting. A read that fails
/// answers "no" (fail closed: nothing is sent that may have been revoked; the claims are
/// given back and claimed again later). Ends when every sender of checks is gone.
fn gate(database: &Database, mut checks: mpsc::UnboundedReceiver<Check>) {
    let mut conn = database.kept_connection();
    while let Some(first) = checks.blocking_recv() {
        let mut waiting = vec![first];
        while waiting.len() < CHECK_AHEAD {
            match checks.try_recv() {
                Ok(check) => waiting.push(check),
                Err(_) => break,
            }
        }
        let claims: Vec<(&str, &str)> = waiting
            .iter()
            .map(|c| (c.event_id.as_str(), c.token.as_str()))
            .collect();
        let still = conn
            .run(|c| outbox::still_claimed(c, &claims))
            .unwrap_or_else(|err| {
                // The connection is dropped; the next read opens a new one.
                tracing::warn!(error = %err, "cannot check claims before sending");
                HashSet::new()
            });
        for check in waiting {
            let _ = check.answer.send(still.contains(&check.event_id));
        }
    }
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

/// One attempt of one claimed event, or the claim to give back when it is too old to attempt.
async fn attempt(context: &Context, claimed: Claimed) -> Outcome {
    // CAUTION: an attempt must end before its lease does, with time left to record it, or a
    // revocation that waited for the lease could return while data is still being sent, and
    // the event would be claimed and sent again. Half the lease margin is kept for that.
    let latest_start = claimed
        .lease_until
        .saturating_sub(outbox::micros(context.timeout))
        .saturating_sub(outbox::micros(LEASE_MARGIN / 2));
    if now_micros() > latest_start {
        tracing::debug!(event_id = %claimed.event.event_id, "claim too old to attempt; given back");
        return Outcome::NotAttempted(claimed);
    }
    let started = Instant::now();
    let result = context.sender.attempt(&claimed.event).await;
    observe_pace(context, started.elapsed());
    let failures = u32::try_from(claimed.event.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let retry_in = context.backoff.delay(failures, &mut rand::thread_rng());
    Outcome::Attempted(RecordAttempt {
        claimed,
        result,
        max_attempts: context.max_attempts,
        retry_in,
    })
}

/// Folds one attempt's duration into the pace [`claim_room`] reads. (Not the rate at which
/// attempts end: when claims are what holds delivery back, that rate would only measure the
/// claims, and claims sized by it would never grow.)
fn observe_pace(context: &Context, took: Duration) {
    let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let _ = context
        .attempt_micros
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
            Some(moving_mean(mean, took))
        });
}

/// A moving average weighting each new sample 1/16; the first sample (`mean` 0) is taken as is.
fn moving_mean(mean: u64, sample: u64) -> u64 {
    if mean == 0 {
        sample.max(1)
    } else {
        mean.saturating_sub(mean / 16).saturating_add(sample / 16)
    }
}

/// The lease of a claim: one full attempt plus the time to record it.
pub(super) fn lease(timeout: Duration) -> Duration {
    timeout.saturating_add(LEASE_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_any_attempt_is_measured_a_node_claims_one_round() {
        assert_eq!(claim_room(0, 0), CONCURRENCY);
        assert_eq!(claim_room(0, CONCURRENCY), 0);
    }

    #[test]
    fn fast_attempts_let_a_node_claim_ahead_up_to_the_bound() {
        // 2 ms an attempt: a second holds 500 rounds, capped.
        assert_eq!(claim_room(2_000, 0), MAX_CLAIMED);
        assert_eq!(claim_room(2_000, MAX_CLAIMED - 10), 10);
        assert_eq!(claim_room(2_000, MAX_CLAIMED + 10), 0);
        // 200 ms an attempt: five rounds can start within a second.
        assert_eq!(claim_room(200_000, 0), 5 * CONCURRENCY);
    }

    #[test]
    fn attempts_slower_than_the_horizon_claim_no_more_than_one_round() {
        assert_eq!(claim_room(10_000_000, 0), CONCURRENCY);
        assert_eq!(claim_room(10_000_000, 5), CONCURRENCY - 5);
    }

    #[test]
    fn the_pace_follows_recent_attempts() {
        assert_eq!(moving_mean(0, 3_000), 3_000);
        assert_eq!(
            moving_mean(0, 0),
            1,
            "a measured pace is never 'unmeasured'"
        );
        let mut mean = moving_mean(0, 1_000);
        for _ in 0..200 {
            mean = moving_mean(mean, 9_000_000);
        }
        assert!(mean > 8_000_000, "slow attempts raise the pace: {mean}");
        assert_eq!(claim_room(mean, 0), CONCURRENCY);
    }
}
