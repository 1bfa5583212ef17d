//! Consent writes (through the group-commit writer, so they are ordered with ingest) and
//! reads (through the pool).

use diesel::prelude::*;

use super::model::Consent;
use super::request::GrantRequest;
use crate::audit::{AuditRecord, Kind};
use crate::db::schema::{consent_history, consents};
use crate::db::{DbConnection, DbError, to_i64};
use crate::delivery::outbox;
use crate::time::{micros, now_micros};
use crate::writer::{Tx, WriteJob};

/// Creates a consent for `user_id`.
pub struct GrantConsent {
    /// The authenticated owner.
    pub user_id: String,
    /// The checked request.
    pub request: GrantRequest,
}

impl WriteJob for GrantConsent {
    type Outcome = Consent;

    fn size(&self) -> usize {
        1
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<Consent, DbError> {
        let now = now_micros();
        let purposes: Vec<&str> = self.request.purposes.iter().map(|p| p.as_str()).collect();
        let consent = Consent {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: self.user_id.clone(),
            recipient_id: self.request.recipient.clone(),
            bank_id: self.request.bank.clone(),
            purposes: serde_json::to_string(&purposes)
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            fields: serde_json::to_string(&self.request.fields)
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            granted_at: now,
            expires_at: micros(&self.request.expires_at),
            revoked_at: None,
            revoked_by: None,
            version: 1,
        };
        diesel::insert_into(consents::table)
            .values(&consent)
            .execute(tx.conn())?;
        record_history(tx.conn(), &consent.id, "granted", &consent.user_id, now)?;
        tx.audit(
            AuditRecord::new(Kind::ConsentGranted, format!("user:{}", consent.user_id))
                .user(consent.user_id.clone())
                .recipient(consent.recipient_id.clone())
                .bank(consent.bank_id.clone())
                .consent(consent.id.clone())
                .detail(serde_json::json!({
                    "purposes": purposes,
                    "fields": self.request.fields,
                    "expires_at": crate::time::rfc3339(consent.expires_at),
                })),
        )?;
        Ok(consent)
    }
}

/// Revokes consent `id` if `user_id` owns it. Idempotent.
pub struct RevokeConsent {
    /// The authenticated caller.
    pub user_id: String,
    /// The consent.
    pub id: String,
}

/// What a revocation came to.
pub enum RevokeOutcome {
    /// Revoked now, or already revoked before (the same body either way).
    Revoked(Box<Consent>),
    /// No such consent for this user (another user's consent looks the same).
    NotFound,
}

impl WriteJob for RevokeConsent {
    type Outcome = RevokeOutcome;

    fn size(&self) -> usize {
        1
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<RevokeOutcome, DbError> {
        let conn = tx.conn();
        // On PostgreSQL the row is locked: an ingest on another node that read this consent
        // (FOR SHARE) commits before this revocation does, and one that has not read it yet
        // waits and then sees it revoked. So once DELETE returns, nothing new is released.
        let query = consents::table
            .filter(consents::id.eq(&self.id))
            .filter(consents::user_id.eq(&self.user_id));
        let found: Option<Consent> = match conn {
            DbConnection::Sqlite(c) => query.first(c).optional()?,
            DbConnection::Pg(c) => query.for_update().first(c).optional()?,
        };
        let Some(mut consent) = found else {
            return Ok(RevokeOutcome::NotFound);
        };
        if consent.revoked_at.is_some() {
            return Ok(RevokeOutcome::Revoked(Box::new(consent)));
        }
        let now = now_micros();
        let actor = format!("user:{}", self.user_id);
        diesel::update(consents::table.filter(consents::id.eq(&consent.id)))
            .set((
                consents::revoked_at.eq(now),
                consents::revoked_by.eq(&actor),
                consents::version.eq(consent.version + 1),
            ))
            .execute(conn)?;
        record_history(conn, &consent.id, "revoked", &self.user_id, now)?;
        // Undelivered events made under this consent are never sent: pending ones, and ones
        // a delivery worker has claimed (an attempt already under way is awaited by the
        // DELETE handler, see `delivery::await_attempts_in_flight`).
        let epochs = outbox::LiveEpochs::read(conn)?;
        let cancelled = outbox::cancel_undelivered(conn, &epochs, &consent.id, now)?;
        let revoked_index = tx.audit(
            AuditRecord::new(Kind::ConsentRevoked, actor.clone())
                .user(consent.user_id.clone())
                .recipient(consent.recipient_id.clone())
                .bank(consent.bank_id.clone())
                .consent(consent.id.clone())
                .detail(serde_json::json!({"cancelled_events": cancelled.len()})),
        )?;
        outbox::audit_cancelled(
            tx,
            &outbox::Parties {
                consent_id: &consent.id,
                user_id: &consent.user_id,
                recipient_id: &consent.recipient_id,
                bank_id: &consent.bank_id,
            },
            cancelled,
            outbox::CancelReason::ConsentRevoked,
        )?;
        // The notice never overtakes data still being sent under the consent.
        let notice_due = outbox::revoked_notice_due(tx.conn(), &epochs, &consent.id, now)?;
        queue_revoked_event(tx.conn(), &consent, now, notice_due, revoked_index)?;
        consent.revoked_at = Some(now);
        consent.revoked_by = Some(actor);
        consent.version += 1;
        Ok(RevokeOutcome::Revoked(Box::new(consent)))
    }
}

/// Tells the recipient to delete what it received under the consent. Its `audit.index` is
/// the `consent.revoked` record's.
fn queue_revoked_event(
    conn: &mut DbConnection,
    consent: &Consent,
    now: i64,
    due: i64,
    audit_index: u64,
) -> Result<(), DbError> {
    let notice = outbox::NewEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        recipient_id: consent.recipient_id.clone(),
        event_type: outbox::CONSENT_REVOKED,
        consent_id: consent.id.clone(),
        user_id: consent.user_id.clone(),
        bank_id: consent.bank_id.clone(),
        purpose: None,
        created_at: now,
        data: "{}".to_string(),
        status: outbox::PENDING,
        attempts: 0,
        next_attempt_at: due,
        audit_index: Some(to_i64(audit_index)?),
        epoch: outbox::epoch_of(now),
    };
    outbox::queue(conn, &[notice])
}

fn record_history(
    conn: &mut DbConnection,
    consent_id: &str,
    event: &str,
    user_id: &str,
    at: i64,
) -> Result<(), DbError> {
    diesel::insert_into(consent_history::table)
        .values((
            consent_history::consent_id.eq(consent_id),
            consent_history::event.eq(event),
            consent_history::actor.eq(format!("user:{user_id}")),
            consent_history::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The consents of `user_id`, newest first.
pub fn list_for_user(conn: &mut DbConnection, user_id: &str) -> Result<Vec<Consent>, DbError> {
    Ok(consents::table
        .filter(consents::user_id.eq(user_id))
        .order((consents::granted_at.desc(), consents::id.desc()))
        .select(Consent::as_select())
        .load(conn)?)
}

/// Consent `id` if `user_id` owns it.
pub fn find_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
) -> Result<Option<Consent>, DbError> {
    Ok(consents::table
        .filter(consents::id.eq(id))
        .filter(consents::user_id.eq(user_id))
        .select(Consent::as_select())
        .first(conn)
        .optional()?)
}

/// The consents in force at `now` of the given users for `bank`. With `Lock::Share`, read
/// inside the writer's transaction, the rows are share-locked on PostgreSQL so that a
/// concurrent revocation is ordered with this ingest (see `RevokeConsent`); ingest plans
/// read with `Lock::None` (a plain read, which the writer checks again).
pub fn active_for_users(
    conn: &mut DbConnection,
    lock: Lock,
    bank: &str,
    users: &[&str],
    now: i64,
) -> Result<Vec<Consent>, DbError> {
    let query = consents::table
        .filter(consents::bank_id.eq(bank))
        .filter(consents::revoked_at.is_null())
        .filter(consents::expires_at.gt(now))
        .order(consents::id.asc());
    macro_rules! load {
        ($query:expr) => {
            match conn {
                DbConnection::Sqlite(c) => $query.load(c)?,
                DbConnection::Pg(c) if lock == Lock::Share => $query.for_share().load(c)?,
                DbConnection::Pg(c) => $query.load(c)?,
            }
        };
    }
    // One user (a batch of one, the common case) gets a statement SQLite keeps prepared;
    // diesel prepares an `IN (…)` list on SQLite anew on every call, which was most of
    // this read's cost at one transaction a request.
    Ok(match users {
        [user] => load!(query.filter(consents::user_id.eq(*user))),
        _ => load!(query.filter(consents::user_id.eq_any(users))),
    })
}

/// Whether a read of consents locks them (PostgreSQL; SQLite's single writer needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// `FOR SHARE`, inside the writer's transaction.
    Share,
    /// A plain read.
    None,
}
