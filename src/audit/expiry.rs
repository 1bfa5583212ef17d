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

/// Records every consent that has expired and is not yet recorded as such.
pub fn record_expired(tx: &mut Tx<'_>) -> Result<usize, DbError> {
    let now = now_micros();
    let recorded = consent_history::table
        .filter(consent_history::event.eq("expired"))
        .select(consent_history::consent_id);
    let expired: Vec<(String, String, String, String, i64)> = consents::table
        .filter(consents::revoked_at.is_null())
        .filter(consents::expires_at.le(now))
        .filter(consents::id.ne_all(recorded))
        .select((
            consents::id,
            consents::user_id,
            consents::recipient_id,
            consents::bank_id,
            consents::expires_at,
        ))
        .limit(BATCH)
        .load(tx.conn())?;
    let epochs = outbox::LiveEpochs::read(tx.conn())?;
    for (id, user_id, recipient, bank, expires_at) in &expired {
        // A consent that has run out releases nothing new (expiry is read at each release),
        // and what was released under it and not yet delivered is not sent either.
        let cancelled = outbox::cancel_undelivered(tx.conn(), &epochs, id, now)?;
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
        outbox::audit_cancelled(tx, &parties, cancelled, outbox::CONSENT_EXPIRED)?;
    }
    Ok(expired.len())
}
