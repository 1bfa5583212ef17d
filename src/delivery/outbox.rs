//! The outbox as the delivery worker sees it: claiming due events, recording each attempt's
//! outcome with its audit record, and the reads the worker and revocation need.
//!
//! States of `outbox_events.status`:
//!
//! ```text
//!   pending ──claim──▶ sending ──2xx──────────────▶ delivered      (row deleted)
//!      ▲                  │ ──failure, attempts left──▶ pending (next_attempt_at = back-off)
//!      │                  │ ──failure, last attempt──▶ dead_lettered (payload deleted)
//!      └─lease expired────┘
//!   pending | sending ──revocation or expiry──▶ cancelled          (payload deleted)
//! ```
//!
//! A claim is made in a writer transaction: it moves due events to `sending`, stamps them with a
//! `claim_token` and sets `next_attempt_at` to the end of a lease (`delivery.timeout` plus
//! [`LEASE_MARGIN`]). Only the claim holding the token may record the outcome; a claim whose
//! node died expires with its lease and the event is claimed again (at-least-once). On
//! PostgreSQL the claim reads with `FOR UPDATE SKIP LOCKED`, so nodes draining one outbox never
//! claim the same row at once; on SQLite the database's write lock serialises claims (one writer
//! transaction at a time, even across processes sharing the file).
//!
//! Claims, outcomes and revocations all run inside writer transactions, so they are ordered:
//! an event whose revocation committed first is never claimed. A revocation that commits while
//! an event is `sending` cancels it but leaves its `claim_token`: that marks an attempt in
//! flight, which the revocation's answer waits for (see [`in_flight_until`]). A consent's
//! expiry cancels its releases the same way (the expiry job, or a give-back that finds the
//! consent expired), and the check before each attempt sends no release of a consent that
//! is no longer live.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::sender::AttemptResult;
use crate::audit::{AuditRecord, Kind};
use crate::db::schema::{consents, outbox_events};
use crate::db::{DbConnection, DbError};
use crate::time::now_micros;
use crate::writer::{Tx, WriteJob};

/// Waiting for delivery (or for its next attempt).
pub const PENDING: &str = "pending";
/// Claimed by a worker, attempt under way.
pub const SENDING: &str = "sending";
/// Cancelled by a revocation or by its consent's expiry; the payload is gone.
pub const CANCELLED: &str = "cancelled";
/// Given up after the last attempt; the payload is gone.
pub const DEAD_LETTERED: &str = "dead_lettered";
/// The states a revocation or an expiry cancels.
pub const UNDELIVERED: [&str; 2] = [PENDING, SENDING];
/// The event type that tells a recipient a consent was revoked.
pub const CONSENT_REVOKED: &str = "consent.revoked";

/// The span of one epoch of the by-consent index, `(epoch, consent_id)`. Keyed by consent
/// alone, every new event went to a random place in an index of the whole outbox (one page
/// written per event at scale); keyed by epoch first, a commit's entries land in the few
/// pages of the current second. A lookup by consent searches every epoch that still holds a
/// live row ([`LiveEpochs`]): only undelivered events, and cancelled ones with an attempt
/// in flight, keep their epoch; a finished row's is NULL. So the epochs searched are those
/// of the backlog (about one per second of it).
pub const EPOCH: Duration = Duration::from_secs(1);

/// The epoch of an event made at `created_at` (Unix microseconds).
pub fn epoch_of(created_at: i64) -> i64 {
    created_at.div_euclid(micros(EPOCH).max(1))
}

/// Lease beyond `delivery.timeout`: time to record the outcome through the writer. If the
/// writer is slower than this, the event may be claimed again and sent twice (at-least-once).
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// A new outbox row. Release events (ingest) and revocation notices (consents) are both
/// queued through it, so the two cannot drift apart.
///
/// `None` is written as `NULL` (`treat_none_as_default_value = false`): with a defaultable
/// column diesel inserts a batch on SQLite one statement per row inside a savepoint, which
/// was a third of the writer's time under load; as it is, a batch is one statement.
#[derive(Debug, diesel::Insertable)]
#[diesel(table_name = outbox_events, treat_none_as_default_value = false)]
pub struct NewEvent {
    /// UUIDv7, the webhook's `event_id`.
    pub event_id: String,
    /// Who receives it.
    pub recipient_id: String,
    /// The webhook's `type`.
    pub event_type: &'static str,
    /// The consent it was released under or revokes.
    pub consent_id: String,
    /// Whose data.
    pub user_id: String,
    /// The pushing bank.
    pub bank_id: String,
    /// The purpose (none for a revocation notice).
    pub purpose: Option<String>,
    /// Unix microseconds.
    pub created_at: i64,
    /// The released members, as JSON.
    pub data: String,
    /// [`PENDING`] when queued.
    pub status: &'static str,
    /// 0 when queued.
    pub attempts: i32,
    /// When it is first due.
    pub next_attempt_at: i64,
    /// The audit index of the record it carries (set after the audit append).
    pub audit_index: Option<i64>,
    /// [`epoch_of`] `created_at` (see [`EPOCH`]): a new event is undelivered.
    pub epoch: i64,
}

/// Inserts `events` in the caller's transaction.
pub fn queue(conn: &mut DbConnection, events: &[NewEvent]) -> Result<(), DbError> {
    crate::insert_rows!(conn, outbox_events::table, events)
}

/// An outbox row as the worker sends it.
/// Fields in the order `ClaimDue` selects them.
#[derive(Debug, Clone, Queryable)]
pub struct OutboxEvent {
    /// UUIDv7; the `webhook-id`.
    pub event_id: String,
    /// Recipient id.
    pub recipient_id: String,
    /// `transaction.released`, `balance.released` or `consent.revoked`.
    pub event_type: String,
    /// The consent it was made under.
    pub consent_id: String,
    /// The user the data is about.
    pub user_id: String,
    /// The bank the data came from.
    pub bank_id: String,
    /// The purpose; none for `consent.revoked`.
    pub purpose: Option<String>,
    /// Unix microseconds.
    pub created_at: i64,
    /// JSON object of the released members.
    pub data: String,
    /// Attempts recorded before this claim.
    pub attempts: i32,
    /// Index of the audit record that made the event.
    pub audit_index: Option<i64>,
}

/// An event claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The event as it was when claimed.
    pub event: OutboxEvent,
    /// The claim's token (shared by the events of one claim).
    pub token: String,
    /// Unix microseconds at which the claim lapses.
    pub lease_until: i64,
}

impl Claimed {
    /// Its event's row, if it is in `status` under this claim.
    #[diesel::dsl::auto_type(no_type_alias)]
    fn row<'a>(&'a self, status: &'a str) -> _ {
        let event_id: &'a str = &self.event.event_id;
        let token: &'a str = &self.token;
        outbox_events::table
            .filter(outbox_events::event_id.eq(event_id))
            .filter(outbox_events::claim_token.eq(token))
            .filter(outbox_events::status.eq(status))
    }
}

/// Claims up to `limit` due events: `pending` ones whose `next_attempt_at` has come, and
/// `sending` ones whose lease has expired.
pub struct ClaimDue {
    /// Most events to claim.
    pub limit: usize,
    /// How long the claim holds.
    pub lease: Duration,
    /// Fixed when the job is made, so a retried transaction claims under the same token.
    pub token: String,
}

impl WriteJob for ClaimDue {
    type Outcome = Vec<Claimed>;

    /// A claim writes one narrow update per event and no audit record: it weighs a quarter
    /// of a record in the group's bound, so a large claim does not fill a group alone.
    fn size(&self) -> usize {
        self.limit.div_ceil(4)
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Vec<Claimed>, DbError> {
        let now = now_micros();
        let lease_until = now.saturating_add(micros(self.lease));
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        // One index range per state, each read in `next_attempt_at` order: a single
        // `status IN (…) ORDER BY next_attempt_at` cannot use the index's order, so it read
        // and sorted every due event (the whole backlog) for every claim. Expired claims
        // first (they are older), then pending events up to the limit.
        let mut events: Vec<OutboxEvent> = Vec::new();
        for status in [SENDING, PENDING] {
            let left = limit.saturating_sub(i64::try_from(events.len()).unwrap_or(i64::MAX));
            if left == 0 {
                break;
            }
            let due = outbox_events::table
                .filter(outbox_events::status.eq(status))
                .filter(outbox_events::next_attempt_at.le(now))
                .order(outbox_events::next_attempt_at.asc())
                .limit(left)
                // A column tuple rather than `as_select()`, which would fix one backend.
                .select((
                    outbox_events::event_id,
                    outbox_events::recipient_id,
                    outbox_events::event_type,
                    outbox_events::consent_id,
                    outbox_events::user_id,
                    outbox_events::bank_id,
                    outbox_events::purpose,
                    outbox_events::created_at,
                    outbox_events::data,
                    outbox_events::attempts,
                    outbox_events::audit_index,
                ));
            let found: Vec<OutboxEvent> = match tx.conn() {
                DbConnection::Sqlite(c) => due.load(c)?,
                // Another node's claim holds its rows locked until it commits: skip them
                // rather than wait, so nodes drain the outbox side by side.
                DbConnection::Pg(c) => due.for_update().skip_locked().load(c)?,
            };
            events.extend(found);
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        diesel::update(outbox_events::table.filter(outbox_events::event_id.eq_any(&ids)))
            .set((
                outbox_events::status.eq(SENDING),
                outbox_events::claim_token.eq(&self.token),
                outbox_events::next_attempt_at.eq(lease_until),
            ))
            .execute(tx.conn())?;
        Ok(events
            .into_iter()
            .map(|event| Claimed {
                event,
                token: self.token.clone(),
                lease_until,
            })
            .collect())
    }
}

/// Records attempts and gives back claims that were not attempted, all in one writer
/// transaction (one job for every outcome a node has waiting). Cloning it shares the
/// outcomes, so the recorder keeps them for its metrics, or to retry in halves, at no cost.
#[derive(Clone)]
pub struct RecordAttempts {
    /// Attempts made: for each, the state change and its audit record(s).
    attempts: Arc<[RecordAttempt]>,
    /// Claims given back without an attempt (see [`give_back`]).
    returned: Arc<[Claimed]>,
}

impl RecordAttempts {
    /// A job for `attempts` and `returned`.
    pub fn new(attempts: Vec<RecordAttempt>, returned: Vec<Claimed>) -> Self {
        Self {
            attempts: attempts.into(),
            returned: returned.into(),
        }
    }

    /// The attempts, in the order their outcomes are returned.
    pub fn attempts(&self) -> &[RecordAttempt] {
        &self.attempts
    }

    /// Attempts and returned claims.
    pub fn len(&self) -> usize {
        self.attempts.len() + self.returned.len()
    }

    /// Nothing to record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Two jobs of about half the outcomes each, neither empty when this one holds two or
    /// more (for retrying a failed job in smaller parts; copies the outcomes).
    pub fn split(&self) -> (Self, Self) {
        let half = self.len() / 2;
        let attempts = half.min(self.attempts.len());
        let returned = half - attempts;
        let first = Self::new(
            self.attempts.iter().take(attempts).cloned().collect(),
            self.returned.iter().take(returned).cloned().collect(),
        );
        let second = Self::new(
            self.attempts.iter().skip(attempts).cloned().collect(),
            self.returned.iter().skip(returned).cloned().collect(),
        );
        (first, second)
    }
}

impl WriteJob for RecordAttempts {
    type Outcome = Vec<Recorded>;

    fn size(&self) -> usize {
        self.attempts.len().saturating_mul(2) + self.returned.len()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Vec<Recorded>, DbError> {
        // Attempts first: giving back an event whose consent expired cancels every
        // undelivered event of that consent, and one of them may be an attempt of this job
        // that was checked before the expiry and delivered; recorded first, it is delivered.
        let recorded = self
            .attempts
            .iter()
            .map(|attempt| attempt.record(tx))
            .collect::<Result<Vec<_>, _>>()?;
        // Consents whose cancelled events this job released from their claims: their
        // held-back `consent.revoked` notices are brought forward once, at the end.
        let mut released: Vec<&str> = self
            .attempts
            .iter()
            .zip(&recorded)
            .filter(|(_, recorded)| **recorded == Recorded::CancelledInFlight)
            .map(|(attempt, _)| attempt.claimed.event.consent_id.as_str())
            .collect();
        let now = now_micros();
        let mut epochs = LazyEpochs::default();
        cancel_under_lapsed_consents(tx, &self.returned, now, &mut epochs)?;
        for claimed in self.returned.iter() {
            if give_back(tx.conn(), claimed, now)? {
                released.push(&claimed.event.consent_id);
            }
        }
        if !released.is_empty() {
            released.sort_unstable();
            released.dedup();
            let epochs = epochs.get(tx.conn())?;
            for consent_id in released {
                schedule_revoked_notice(tx.conn(), epochs, consent_id, now)?;
            }
        }
        Ok(recorded)
    }
}

/// Of the releases given back, those made under a consent that is no longer live: every
/// undelivered release of such a consent is cancelled, rather than claimed again and again
/// until the expiry job runs. An expired consent not yet recorded as such is recorded here
/// as the expiry job would (`consent.expired`, then its cancellations: see
/// [`crate::audit::record_expired_among`]). A revoked consent's releases were all
/// cancelled by its revocation, so only a consent whose expiry is already recorded (or a
/// missing one) is left to cancel here. One read of the consents for the whole job.
fn cancel_under_lapsed_consents(
    tx: &mut Tx<'_>,
    returned: &[Claimed],
    now: i64,
    epochs: &mut LazyEpochs,
) -> Result<(), DbError> {
    let mut releases: Vec<&OutboxEvent> = returned
        .iter()
        .map(|claimed| &claimed.event)
        .filter(|event| event.event_type != CONSENT_REVOKED)
        .collect();
    releases.sort_by(|a, b| a.consent_id.cmp(&b.consent_id));
    releases.dedup_by(|a, b| a.consent_id == b.consent_id);
    let ids: Vec<&str> = releases.iter().map(|e| e.consent_id.as_str()).collect();
    let live = live_consents(tx.conn(), &ids, now)?;
    let lapsed: Vec<&OutboxEvent> = releases
        .into_iter()
        .filter(|event| !live.contains(&event.consent_id))
        .collect();
    if lapsed.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = lapsed.iter().map(|e| e.consent_id.as_str()).collect();
    let recorded = crate::audit::record_expired_among(tx, &ids, epochs)?;
    let epochs = epochs.get(tx.conn())?;
    for event in lapsed {
        if recorded.contains(&event.consent_id) {
            continue;
        }
        let parties = Parties {
            consent_id: &event.consent_id,
            user_id: &event.user_id,
            recipient_id: &event.recipient_id,
            bank_id: &event.bank_id,
        };
        let cancelled = cancel_undelivered(tx.conn(), epochs, &event.consent_id, now)?;
        audit_cancelled(tx, &parties, cancelled, CancelReason::ConsentExpired)?;
    }
    Ok(())
}

/// Gives back a claim that was never attempted (it became too old to attempt, the node is
/// stopping, a revocation cancelled the event, or its consent expired since it was claimed,
/// see [`cancel_under_lapsed_consents`]): a `sending` event is due again at once; a
/// cancelled one drops the claim's token, so the revocation waiting for it answers at once
/// (true: the caller brings its held-back `consent.revoked` notice forward). No attempt is
/// audited: nothing was sent.
fn give_back(conn: &mut DbConnection, claimed: &Claimed, now: i64) -> Result<bool, DbError> {
    let due_again = diesel::update(claimed.row(SENDING))
        .set((
            outbox_events::status.eq(PENDING),
            outbox_events::claim_token.eq(None::<String>),
            outbox_events::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    if due_again == 1 {
        return Ok(false);
    }
    release_cancelled(conn, claimed)
}

/// When a revocation cancelled `claimed`'s event while the claim was held: drops the claim's
/// token (the revocation waiting for it answers) and its epoch (it is finished). False if the
/// event is not cancelled under this claim. The caller brings the held-back
/// `consent.revoked` notice forward ([`schedule_revoked_notice`]).
fn release_cancelled(conn: &mut DbConnection, claimed: &Claimed) -> Result<bool, DbError> {
    let released = diesel::update(claimed.row(CANCELLED))
        .set((
            outbox_events::claim_token.eq(None::<String>),
            outbox_events::epoch.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(released == 1)
}

/// Of `claims` (event id and claim token), the event ids that may be sent now: still
/// `sending` under that token (not cancelled by a revocation nor claimed again since) and,
/// for a release, made under a consent that is still live (an event released under a
/// consent that has since expired is not sent: it is given back and cancelled). Read just
/// before an attempt.
pub fn still_claimed(
    conn: &mut DbConnection,
    claims: &[(&str, &str)],
) -> Result<HashSet<String>, DbError> {
    let ids: Vec<&str> = claims.iter().map(|(id, _)| *id).collect();
    let rows: Vec<(String, Option<String>, String, String)> = sending_among(&ids).load(conn)?;
    let mut consent_ids: Vec<&str> = rows
        .iter()
        .filter(|(_, _, kind, _)| kind != CONSENT_REVOKED)
        .map(|(_, _, _, consent)| consent.as_str())
        .collect();
    consent_ids.sort_unstable();
    consent_ids.dedup();
    let live = live_consents(conn, &consent_ids, now_micros())?;
    let sendable: HashMap<&str, Option<&str>> = rows
        .iter()
        .filter(|(_, _, kind, consent)| kind == CONSENT_REVOKED || live.contains(consent))
        .map(|(id, token, _, _)| (id.as_str(), token.as_deref()))
        .collect();
    Ok(claims
        .iter()
        .filter(|(id, token)| sendable.get(id).is_some_and(|t| *t == Some(*token)))
        .map(|(id, _)| (*id).to_string())
        .collect())
}

/// `status || ''`: the status as an expression no index serves. Lookups that SQLite's
/// planner (which has no statistics) would otherwise run on `outbox_due`, reading every
/// row in that state, filter on it instead, so that it takes the index they were written
/// for: see [`LiveEpochs`] and [`sending_among`].
#[diesel::dsl::auto_type]
fn unindexed_status() -> _ {
    let empty: &'static str = "";
    outbox_events::status.concat(empty)
}

/// The `sending` rows among `ids`: id, claim token, type, consent.
///
/// Filters on `status || ''`, which no index serves: with a plain `status = 'sending'`
/// SQLite's planner (no statistics) took `outbox_due` and read every claimed event for
/// every check (6.4% of the gateway's CPU at 2,000 requests/s of one transaction; 4.6% since).
#[diesel::dsl::auto_type(no_type_alias)]
fn sending_among<'a>(ids: &'a [&'a str]) -> _ {
    let sending: &'static str = SENDING;
    outbox_events::table
        .filter(outbox_events::event_id.eq_any(ids))
        .filter(unindexed_status().eq(sending))
        .select((
            outbox_events::event_id,
            outbox_events::claim_token,
            outbox_events::event_type,
            outbox_events::consent_id,
        ))
}

/// Of `consent_ids`, those neither revoked nor expired at `now` (a consent that cannot be
/// found is not live).
fn live_consents(
    conn: &mut DbConnection,
    consent_ids: &[&str],
    now: i64,
) -> Result<HashSet<String>, DbError> {
    if consent_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let live: Vec<String> = consents::table
        .filter(consents::id.eq_any(consent_ids))
        .filter(consents::revoked_at.is_null())
        .filter(consents::expires_at.gt(now))
        .select(consents::id)
        .load(conn)?;
    Ok(live.into_iter().collect())
}

/// Why undelivered events were cancelled: their `delivery.cancelled` records'
/// `detail.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user revoked the consent.
    ConsentRevoked,
    /// The consent ran out before the events were delivered.
    ConsentExpired,
}

impl CancelReason {
    /// As written in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentRevoked => "consent_revoked",
            Self::ConsentExpired => "consent_expired",
        }
    }
}

/// Who an event's consent is between: what its audit records name.
pub struct Parties<'a> {
    /// The consent.
    pub consent_id: &'a str,
    /// Its user.
    pub user_id: &'a str,
    /// Its recipient.
    pub recipient_id: &'a str,
    /// Its bank.
    pub bank_id: &'a str,
}

/// An event cancelled by [`cancel_undelivered`]: its id, type and purpose.
pub type CancelledEvent = (String, String, Option<String>);

/// Cancels every undelivered release made under `consent_id` (`pending`, and `sending`: an
/// attempt already under way keeps its claim token, which marks it in flight; never a
/// `consent.revoked` notice) and drops their payloads (data minimisation, CONTRACT §5: a
/// payload that will never be delivered is not kept). RETURNING names exactly the rows
/// cancelled. Both states are cancelled by the same statement (one per chunk of epochs), so
/// a row never falls between a statement for `pending` and one for `sending`. Sorted by
/// event id. `epochs` is read in the same transaction.
pub fn cancel_undelivered(
    conn: &mut DbConnection,
    epochs: &LiveEpochs,
    consent_id: &str,
    now: i64,
) -> Result<Vec<CancelledEvent>, DbError> {
    // A cancelled row keeps its epoch only while an attempt may be in flight (a `sending`
    // row whose lease has not ended, see [`in_flight_until`]; [`release_cancelled`] drops it
    // with the claim). Every other one is finished.
    let in_flight = outbox_events::status
        .eq(SENDING)
        .and(outbox_events::next_attempt_at.gt(now));
    let epoch = diesel::dsl::case_when(in_flight, outbox_events::epoch).otherwise(
        None::<i64>.into_sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(),
    );
    let mut cancelled: Vec<CancelledEvent> = Vec::new();
    for chunk in epochs.chunks() {
        let found: Vec<CancelledEvent> = crate::on_backend!(conn, |c| {
            diesel::update(
                outbox_events::table
                    .filter(outbox_events::epoch.eq_any(chunk))
                    .filter(outbox_events::consent_id.eq(consent_id))
                    .filter(unindexed_status().eq_any(UNDELIVERED))
                    .filter(outbox_events::event_type.ne(CONSENT_REVOKED)),
            )
            .set((
                outbox_events::status.eq(CANCELLED),
                outbox_events::data.eq("{}"),
                outbox_events::epoch.eq(epoch),
            ))
            .returning((
                outbox_events::event_id,
                outbox_events::event_type,
                outbox_events::purpose,
            ))
            .get_results(c)
        })?;
        cancelled.extend(found);
    }
    cancelled.sort();
    Ok(cancelled)
}

/// Every epoch that holds a live row (see [`EPOCH`]), ascending. Read once per writer job
/// and passed to each lookup by consent of that job: rows the job finishes leave a superset,
/// which costs a seek and misses nothing.
///
/// A lookup by consent filters on `status || ''`, not `status`: SQLite's planner has no
/// statistics, and once the consent is looked up in more than a few epochs it judges
/// `outbox_due` (status first) the cheaper index and reads the whole backlog, 54 ms for
/// 100,000 events in 60 epochs against under 1 ms (`benches/revocation.rs`). An expression
/// no index serves leaves it the by-consent index.
pub struct LiveEpochs(Vec<i64>);

impl LiveEpochs {
    /// Most epochs one lookup names (bound parameters stay well under both backends'
    /// limits).
    const PER_QUERY: usize = 1000;

    /// A skip scan of the by-consent index: one index seek per epoch, however many rows
    /// each holds.
    pub fn read(conn: &mut DbConnection) -> Result<Self, DbError> {
        #[derive(QueryableByName)]
        struct Epoch {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            epoch: i64,
        }
        let query = diesel::sql_query(
            "WITH RECURSIVE live (epoch) AS ( \
                 SELECT min(epoch) FROM outbox_events \
                 UNION ALL \
                 SELECT (SELECT min(o.epoch) FROM outbox_events o WHERE o.epoch > live.epoch) \
                 FROM live WHERE live.epoch IS NOT NULL) \
             SELECT epoch FROM live WHERE epoch IS NOT NULL",
        );
        let epochs: Vec<Epoch> = crate::on_backend!(conn, |c| query.clone().load(c))?;
        Ok(Self(epochs.into_iter().map(|e| e.epoch).collect()))
    }

    /// How many epochs hold a live row.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No row is live.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The epochs in groups of at most [`Self::PER_QUERY`].
    fn chunks(&self) -> std::slice::Chunks<'_, i64> {
        self.0.chunks(Self::PER_QUERY)
    }
}

/// The [`LiveEpochs`] of a writer job, read when first needed and at most once.
#[derive(Default)]
pub struct LazyEpochs(Option<LiveEpochs>);

impl LazyEpochs {
    /// The live epochs, read now if no step of the job has read them yet.
    pub fn get(&mut self, conn: &mut DbConnection) -> Result<&LiveEpochs, DbError> {
        let epochs = match self.0.take() {
            Some(epochs) => epochs,
            None => LiveEpochs::read(conn)?,
        };
        Ok(self.0.insert(epochs))
    }
}

/// One `delivery.cancelled` record per event of `cancelled`, for `reason`.
pub fn audit_cancelled(
    tx: &mut Tx<'_>,
    parties: &Parties<'_>,
    cancelled: Vec<CancelledEvent>,
    reason: CancelReason,
) -> Result<(), DbError> {
    for (event_id, event_type, purpose) in cancelled {
        let mut record = AuditRecord::new(Kind::DeliveryCancelled, "gateway")
            .user(parties.user_id.to_string())
            .recipient(parties.recipient_id.to_string())
            .bank(parties.bank_id.to_string())
            .consent(parties.consent_id.to_string())
            .event(event_id)
            .detail(serde_json::json!({"type": event_type, "reason": reason.as_str()}));
        if let Some(purpose) = purpose {
            record = record.purpose(purpose);
        }
        tx.audit(record)?;
    }
    Ok(())
}

/// One attempt to record: the state change and its audit record(s).
#[derive(Clone)]
pub struct RecordAttempt {
    /// What was attempted, under which claim.
    pub claimed: Claimed,
    /// How it went.
    pub result: AttemptResult,
    /// `delivery.max_attempts`.
    pub max_attempts: u32,
    /// The back-off before the next attempt if this one failed (jitter drawn once, so a
    /// retried transaction schedules the same time).
    pub retry_in: Duration,
}

/// What recording an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Delivered; the event's row is deleted.
    Delivered,
    /// Failed; another attempt is scheduled.
    RetryScheduled,
    /// Failed for the last allowed time; dead-lettered.
    DeadLettered,
    /// The event was cancelled by a revocation while the attempt was in flight; its state
    /// stays `cancelled`, the attempt is audited.
    CancelledInFlight,
    /// The claim had expired and the event was claimed again; the attempt is audited and the
    /// newer claim decides the state.
    ClaimLost,
}

impl RecordAttempt {
    /// Records this attempt in the writer's transaction.
    fn record(&self, tx: &mut Tx<'_>) -> Result<Recorded, DbError> {
        let now = now_micros();
        let event = &self.claimed.event;
        let attempt = event.attempts.saturating_add(1);
        let last = u32::try_from(attempt).is_ok_and(|n| n >= self.max_attempts);
        let sending = self.claimed.row(SENDING);
        let conn = tx.conn();
        let (owned, recorded) = if self.result.is_delivered() {
            // Nothing of a delivered event is kept but its audit records (CONTRACT §5).
            let n = diesel::delete(sending).execute(conn)?;
            (n == 1, Recorded::Delivered)
        } else if last {
            let n = diesel::update(sending)
                .set((
                    outbox_events::status.eq(DEAD_LETTERED),
                    outbox_events::data.eq("{}"),
                    outbox_events::attempts.eq(attempt),
                    outbox_events::claim_token.eq(None::<String>),
                    outbox_events::epoch.eq(None::<i64>),
                ))
                .execute(conn)?;
            (n == 1, Recorded::DeadLettered)
        } else {
            let n = diesel::update(sending)
                .set((
                    outbox_events::status.eq(PENDING),
                    outbox_events::attempts.eq(attempt),
                    outbox_events::next_attempt_at.eq(now.saturating_add(micros(self.retry_in))),
                    outbox_events::claim_token.eq(None::<String>),
                ))
                .execute(conn)?;
            (n == 1, Recorded::RetryScheduled)
        };
        let recorded = if owned {
            recorded
        } else if release_cancelled(conn, &self.claimed)? {
            Recorded::CancelledInFlight
        } else {
            Recorded::ClaimLost
        };
        let mut detail = self.result.detail(attempt, &event.event_type);
        match recorded {
            Recorded::CancelledInFlight => {
                detail.insert("cancelled_during_attempt".to_string(), true.into());
            }
            Recorded::ClaimLost => {
                detail.insert("claim_expired".to_string(), true.into());
            }
            _ => {}
        }
        let kind = if self.result.is_delivered() {
            Kind::DeliverySucceeded
        } else {
            Kind::DeliveryFailed
        };
        tx.audit(event_record(kind, event).detail(serde_json::Value::Object(detail)))?;
        if recorded == Recorded::DeadLettered {
            tx.audit(
                event_record(Kind::DeliveryDeadLettered, event).detail(serde_json::json!({
                    "type": event.event_type,
                    "attempts": attempt,
                })),
            )?;
        }
        Ok(recorded)
    }
}

/// How many events wait for delivery (`pending` or `sending`), counting no further than
/// `bound`: an index count that stops at the bound, so a huge backlog costs no more than
/// `bound` index entries.
pub fn undelivered_up_to(conn: &mut DbConnection, bound: u64) -> Result<u64, DbError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // A number from the configuration, not client input.
    let query = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM outbox_events \
         WHERE status IN ('{PENDING}', '{SENDING}') LIMIT {}) AS waiting",
        bound.min(i64::MAX as u64)
    ));
    let counted: Count = crate::on_backend!(conn, |c| query.clone().get_result(c))?;
    Ok(u64::try_from(counted.n).unwrap_or(0))
}

/// When the next event falls due (a pending event's next attempt, or a claim's lease end);
/// `None` when nothing is waiting.
pub fn next_due(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    // One index seek per state (a `min` over `status IN (…)` may read the whole range).
    let mut earliest = None;
    for status in UNDELIVERED {
        let first: Option<i64> = outbox_events::table
            .filter(outbox_events::status.eq(status))
            .order(outbox_events::next_attempt_at.asc())
            .select(outbox_events::next_attempt_at)
            .first(conn)
            .optional()?;
        earliest = earliest.into_iter().chain(first).min();
    }
    Ok(earliest)
}

/// The end of the latest lease of an attempt still in flight for an event of `consent_id` that
/// a revocation cancelled; `None` when there is none. Past that time the gateway sends nothing
/// more under the consent but its `consent.revoked` notice.
pub fn in_flight_until(
    conn: &mut DbConnection,
    epochs: &LiveEpochs,
    consent_id: &str,
) -> Result<Option<i64>, DbError> {
    let mut latest = None;
    for chunk in epochs.chunks() {
        let until: Option<i64> = outbox_events::table
            .filter(outbox_events::epoch.eq_any(chunk))
            .filter(outbox_events::consent_id.eq(consent_id))
            .filter(unindexed_status().eq(CANCELLED))
            .filter(outbox_events::claim_token.is_not_null())
            .select(diesel::dsl::max(outbox_events::next_attempt_at))
            .first(conn)?;
        latest = latest.max(until);
    }
    Ok(latest)
}

/// When a consent's `consent.revoked` notice may be sent: now, or once the attempts still in
/// flight under it have ended, so that the notice never overtakes data sent under the consent.
pub fn revoked_notice_due(
    conn: &mut DbConnection,
    epochs: &LiveEpochs,
    consent_id: &str,
    now: i64,
) -> Result<i64, DbError> {
    Ok(in_flight_until(conn, epochs, consent_id)?.map_or(now, |until| until.max(now)))
}

/// Brings a held-back `consent.revoked` notice forward once the attempts it waited for ended.
fn schedule_revoked_notice(
    conn: &mut DbConnection,
    epochs: &LiveEpochs,
    consent_id: &str,
    now: i64,
) -> Result<(), DbError> {
    let due = revoked_notice_due(conn, epochs, consent_id, now)?;
    for chunk in epochs.chunks() {
        diesel::update(
            outbox_events::table
                .filter(outbox_events::epoch.eq_any(chunk))
                .filter(outbox_events::consent_id.eq(consent_id))
                .filter(outbox_events::event_type.eq(CONSENT_REVOKED))
                .filter(unindexed_status().eq(PENDING))
                .filter(outbox_events::attempts.eq(0))
                .filter(outbox_events::next_attempt_at.gt(due)),
        )
        .set(outbox_events::next_attempt_at.eq(due))
        .execute(conn)?;
    }
    Ok(())
}

/// An audit record about `event`, by the gateway.
fn event_record(kind: Kind, event: &OutboxEvent) -> AuditRecord {
    let record = AuditRecord::new(kind, "gateway")
        .user(event.user_id.clone())
        .recipient(event.recipient_id.clone())
        .bank(event.bank_id.clone())
        .consent(event.consent_id.clone())
        .event(event.event_id.clone());
    match &event.purpose {
        Some(purpose) => record.purpose(purpose.clone()),
        None => record,
    }
}

/// `duration` in microseconds, as timestamps are stored (saturating).
pub(super) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(id: &str) -> Claimed {
        Claimed {
            event: OutboxEvent {
                event_id: id.to_string(),
                recipient_id: "messenger".to_string(),
                event_type: "transaction.released".to_string(),
                consent_id: "c".to_string(),
                user_id: "u-1".to_string(),
                bank_id: "bank-a".to_string(),
                purpose: Some("fraud_alert".to_string()),
                created_at: 0,
                data: "{}".to_string(),
                attempts: 0,
                audit_index: Some(1),
            },
            token: "t".to_string(),
            lease_until: 0,
        }
    }

    fn attempt(id: &str) -> RecordAttempt {
        RecordAttempt {
            claimed: claimed(id),
            result: AttemptResult::Delivered { status: 204 },
            max_attempts: 3,
            retry_in: Duration::ZERO,
        }
    }

    fn ids(job: &RecordAttempts) -> Vec<String> {
        job.attempts()
            .iter()
            .map(|a| &a.claimed)
            .chain(job.returned.iter())
            .map(|c| c.event.event_id.clone())
            .collect()
    }

    #[derive(diesel::QueryableByName)]
    struct PlanStep {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    #[test]
    fn the_check_before_an_attempt_looks_events_up_by_id_not_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let target = crate::db::Target::parse(&url).unwrap();
        crate::db::migrate(&target).unwrap();
        let DbConnection::Sqlite(mut raw) = target.connect().unwrap() else {
            unreachable!()
        };
        let ids = ["e-1", "e-2", "e-3"];
        let query =
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&sending_among(&ids)).to_string();
        let sql = query.split(" -- binds:").next().unwrap();
        let plan: Vec<PlanStep> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(&mut raw)
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|step| step.detail.as_str()).collect();
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(plan[0].contains("autoindex_outbox_events_1"), "{plan:?}");
    }

    #[test]
    fn migration_000008_gives_the_rows_a_lookup_must_find_an_epoch_and_finished_rows_none() {
        use diesel_migrations::MigrationHarness as _;
        let dir = tempfile::tempdir().unwrap();
        let target =
            crate::db::Target::parse(&format!("sqlite://{}", dir.path().join("old.db").display()))
                .unwrap();
        let mut conn = target.connect().unwrap();
        let DbConnection::Sqlite(raw) = &mut conn else {
            unreachable!()
        };
        // An outbox as the migrations before 000008 stored it.
        for _ in 0..7 {
            raw.run_next_migration(crate::db::SQLITE_MIGRATIONS)
                .unwrap();
        }
        // Leases that end in a minute, or ended long ago.
        let later = now_micros() + 60_000_000;
        let rows = [
            // (event, consent, type, status, claim token, created_at, next_attempt_at)
            (
                "e-pending",
                "c-1",
                "transaction.released",
                PENDING,
                None,
                5_000_000,
                0,
            ),
            (
                "e-sending",
                "c-1",
                "transaction.released",
                SENDING,
                Some("k"),
                7_500_000,
                later,
            ),
            (
                "e-lapsed",
                "c-1",
                "transaction.released",
                SENDING,
                Some("k"),
                8_000_000,
                20,
            ),
            (
                "e-was-in-flight",
                "c-1",
                "transaction.released",
                CANCELLED,
                Some("k"),
                9_000_000,
                later,
            ),
            (
                "e-cancelled",
                "c-1",
                "transaction.released",
                CANCELLED,
                None,
                1_000_000,
                40,
            ),
            (
                "e-dead",
                "c-1",
                "transaction.released",
                DEAD_LETTERED,
                None,
                2_000_000,
                50,
            ),
            (
                "e-notice",
                "c-1",
                CONSENT_REVOKED,
                PENDING,
                None,
                9_500_000,
                0,
            ),
            (
                "e-other",
                "c-2",
                "transaction.released",
                PENDING,
                None,
                5_000_000,
                0,
            ),
        ];
        for (event, consent, kind, status, token, created_at, next) in rows {
            let token = token.map_or("NULL".to_string(), |t| format!("'{t}'"));
            diesel::sql_query(format!(
                "INSERT INTO outbox_events (event_id, recipient_id, event_type, consent_id, \
                 user_id, bank_id, purpose, created_at, data, status, attempts, \
                 next_attempt_at, audit_index, claim_token) VALUES ('{event}', 'messenger', \
                 '{kind}', '{consent}', 'u-1', 'bank-a', NULL, {created_at}, '{{}}', \
                 '{status}', 0, {next}, 1, {token})"
            ))
            .execute(raw)
            .unwrap();
        }
        raw.run_pending_migrations(crate::db::SQLITE_MIGRATIONS)
            .unwrap();

        let epoch = |conn: &mut DbConnection, id: &str| -> Option<i64> {
            outbox_events::table
                .filter(outbox_events::event_id.eq(id))
                .select(outbox_events::epoch)
                .first(conn)
                .unwrap()
        };
        // Undelivered rows get an epoch; finished ones none (no node runs during the
        // migration, so no attempt is in flight).
        for (id, expected) in [
            ("e-pending", Some(5)),
            ("e-sending", Some(7)),
            ("e-lapsed", Some(8)),
            ("e-notice", Some(9)),
            ("e-other", Some(5)),
            ("e-was-in-flight", None),
            ("e-cancelled", None),
            ("e-dead", None),
        ] {
            assert_eq!(epoch(&mut conn, id), expected, "{id}");
        }
        let epochs = LiveEpochs::read(&mut conn).unwrap();
        assert_eq!(epochs.0, vec![5, 7, 8, 9]);

        let cancelled = cancel_undelivered(&mut conn, &epochs, "c-1", now_micros()).unwrap();
        let ids: Vec<&str> = cancelled.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["e-lapsed", "e-pending", "e-sending"]);
        // Only the attempt whose lease has not ended stays findable, and the revocation
        // waits for it alone.
        assert_eq!(
            [
                epoch(&mut conn, "e-pending"),
                epoch(&mut conn, "e-sending"),
                epoch(&mut conn, "e-lapsed")
            ],
            [None, Some(7), None]
        );
        let epochs = LiveEpochs::read(&mut conn).unwrap();
        assert_eq!(epochs.0, vec![5, 7, 9]);
        assert_eq!(
            in_flight_until(&mut conn, &epochs, "c-1").unwrap(),
            Some(later)
        );
    }

    #[test]
    fn a_record_job_splits_into_two_non_empty_halves_that_keep_every_outcome() {
        for (attempts, returned) in [(5, 0), (0, 5), (1, 1), (3, 4), (1, 6)] {
            let job = RecordAttempts::new(
                (0..attempts).map(|i| attempt(&format!("a{i}"))).collect(),
                (0..returned).map(|i| claimed(&format!("r{i}"))).collect(),
            );
            let (first, second) = job.split();
            assert!(
                !first.is_empty() && !second.is_empty(),
                "{attempts}+{returned}"
            );
            assert_eq!(first.len() + second.len(), job.len());
            let mut halves = ids(&first);
            halves.extend(ids(&second));
            halves.sort();
            let mut all = ids(&job);
            all.sort();
            assert_eq!(halves, all);
        }
    }
}
