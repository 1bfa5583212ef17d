//! `consent.expired` records: expiry is derived from time (no job is needed for a consent to
//! stop releasing), but the log should still say when a consent ran out. A periodic job
//! records each expired consent once, marked in the consent's history.

use diesel::prelude::*;

use super::record::{AuditRecord, Kind};
use crate::db::DbError;
use crate::db::schema::{consent_history, consents};
use crate::delivery::outbox;
use crate::time::{now_micros, rfc3339};
use crate::writer::Tx;

/// Expired consents recorded per run (the rest wait for the next run).
const BATCH: i64 = 500;

/// Records every consent that has expired and is not yet recorded as such (up to
/// [`BATCH`] a run).
pub fn record_expired(tx: &mut Tx<'_>) -> Result<usize, DbError> {
    Ok(record(tx, None, &mut outbox::LazyEpochs::default())?.len())
}

/// Records those of `consent_ids` that have expired and are not yet recorded as such, and
/// returns them. The delivery worker calls this when it finds that a release's consent has
/// lapsed: the expiry's record then comes before the cancellations it causes, with their
/// count, as when the periodic job finds the consent first.
pub fn record_expired_among(
    tx: &mut Tx<'_>,
    consent_ids: &[&str],
    epochs: &mut outbox::LazyEpochs,
) -> Result<Vec<String>, DbError> {
    record(tx, Some(consent_ids), epochs)
}

/// For each expired consent not yet recorded (of `only`, if given): cancels its undelivered
/// events, marks it in its history and writes `consent.expired` and the `delivery.cancelled`
/// records. Returns the consents recorded. `epochs` is read only if one is.
fn record(
    tx: &mut Tx<'_>,
    only: Option<&[&str]>,
    epochs: &mut outbox::LazyEpochs,
) -> Result<Vec<String>, DbError> {
    let now = now_micros();
    let recorded = consent_history::table
        .filter(consent_history::event.eq("expired"))
        .select(consent_history::consent_id);
    let mut query = consents::table
        .filter(consents::revoked_at.is_null())
        .filter(consents::expires_at.le(now))
        .filter(consents::id.ne_all(recorded))
        .into_boxed();
    query = match only {
        // Bounded by the caller's job; each must be recorded before its cancellations.
        Some(ids) => query.filter(consents::id.eq_any(ids)),
        None => query.limit(BATCH),
    };
    let expired: Vec<(String, String, String, String, i64)> = query
        .select((
            consents::id,
            consents::user_id,
            consents::recipient_id,
            consents::bank_id,
            consents::expires_at,
        ))
        .load(tx.conn())?;
    if expired.is_empty() {
        return Ok(Vec::new());
    }
    let epochs = epochs.get(tx.conn())?;
    for (id, user_id, recipient, bank, expires_at) in &expired {
        // A consent that has run out releases nothing new (expiry is read at each release),
        // and what was released under it and not yet delivered is not sent either.
        let cancelled = outbox::cancel_undelivered(tx.conn(), epochs, id, now)?;
        diesel::insert_into(consent_history::table)
            .values((
                consent_history::consent_id.eq(id),
                consent_history::event.eq("expired"),
                consent_history::actor.eq("gateway"),
                consent_history::at.eq(*expires_at),
            ))
            .execute(tx.conn())?;
        tx.audit(
            AuditRecord::new(Kind::ConsentExpired, "gateway")
                .user(user_id.clone())
                .recipient(recipient.clone())
                .bank(bank.clone())
                .consent(id.clone())
                .detail(serde_json::json!({
                    "expires_at": rfc3339(*expires_at),
                    "cancelled_events": cancelled.len(),
                })),
        )?;
        let parties = outbox::Parties {
            consent_id: id,
            user_id,
            recipient_id: recipient,
            bank_id: bank,
        };
        outbox::audit_cancelled(
            tx,
            &parties,
            cancelled,
            outbox::CancelReason::ConsentExpired,
        )?;
    }
    Ok(expired.into_iter().map(|(id, ..)| id).collect())
}
