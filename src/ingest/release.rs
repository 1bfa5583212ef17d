//! Deciding, inside the writer's transaction, what each accepted record releases: for each
//! active consent of its user that covers its bank, for each purpose of that consent, a
//! field-by-field decision; one outbox event per consent and purpose that releases anything.

use std::collections::HashMap;

use diesel::RunQueryDsl as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{AuditRecord, Kind};
use crate::consent::{Consent, Withheld, active_for_users};
use crate::db::schema::outbox_events;
use crate::db::{DbError, INSERT_CHUNK};
use crate::domain::{Balance, BalanceField, Transaction, TransactionField};
use crate::policy::{ConsentView, RecordKind, WithholdReason};
use crate::time::now_micros;
use crate::writer::Tx;

/// A record the policy engine can release fields of.
pub trait Releasable {
    /// Its kind in the catalog.
    const KIND: RecordKind;
    /// The webhook event type of its releases.
    const EVENT_TYPE: &'static str;
    /// The user the record is about.
    fn user_id(&self) -> &str;
    /// Routing detail for audit records (the bank's key, never a catalog value).
    fn audit_detail(&self) -> Value;
    /// The value of a catalog field, `None` when the record does not carry it.
    fn value(&self, catalog_name: &str) -> Option<Value>;
}

impl Releasable for Transaction {
    const KIND: RecordKind = RecordKind::Transaction;
    const EVENT_TYPE: &'static str = "transaction.released";

    fn user_id(&self) -> &str {
        self.user_id.as_str()
    }

    fn audit_detail(&self) -> Value {
        serde_json::json!({"record": "transaction", "txn_id": self.txn_id.as_str()})
    }

    fn value(&self, catalog_name: &str) -> Option<Value> {
        TransactionField::from_catalog_name(catalog_name).and_then(|f| self.field_value(f))
    }
}

impl Releasable for Balance {
    const KIND: RecordKind = RecordKind::Balance;
    const EVENT_TYPE: &'static str = "balance.released";

    fn user_id(&self) -> &str {
        self.user_id.as_str()
    }

    fn audit_detail(&self) -> Value {
        serde_json::json!({"record": "balance", "account_ref": self.account_ref.as_str(), "as_of": self.as_of_utc_key()})
    }

    fn value(&self, catalog_name: &str) -> Option<Value> {
        BalanceField::from_catalog_name(catalog_name).and_then(|f| self.field_value(f))
    }
}

/// One release event, as the `202` reports it.
#[derive(Debug, Serialize)]
pub struct Release {
    /// Recipient id.
    pub recipient: String,
    /// The purpose it is released for.
    pub purpose: String,
    /// The outbox event (and webhook id).
    pub event_id: String,
    /// Catalog names released.
    pub released: Vec<String>,
    /// Every other catalog field of the record kind, with the first reason.
    pub withheld: Vec<Withheld>,
}

/// What a batch's decisions came to, for metrics (read after the commit).
#[derive(Debug, Default, Clone, Copy)]
pub struct DecisionStats {
    /// Release events created.
    pub releases: u64,
    /// Consent-and-purpose decisions that released nothing.
    pub withholds: u64,
    /// Fields withheld, by reason (in `WithholdReason` order).
    pub withheld_fields: [u64; 4],
}

impl DecisionStats {
    fn count(&mut self, withheld: &[Withheld], released: bool) {
        if released {
            self.releases += 1;
        } else {
            self.withholds += 1;
        }
        for w in withheld {
            let slot = match w.reason {
                WithholdReason::ProhibitedPurpose => 0,
                WithholdReason::NoConsent => 1,
                WithholdReason::NotPermittedByPolicy => 2,
                WithholdReason::FieldAbsent => 3,
            };
            if let Some(n) = self.withheld_fields.get_mut(slot) {
                *n += 1;
            }
        }
    }
}

/// A consent with its lists parsed once per batch.
struct InForce {
    consent: Consent,
    purposes: Vec<String>,
    fields: Vec<String>,
}

#[derive(diesel::Insertable)]
#[diesel(table_name = outbox_events)]
struct NewEvent {
    event_id: String,
    recipient_id: String,
    event_type: &'static str,
    consent_id: String,
    user_id: String,
    bank_id: String,
    purpose: Option<String>,
    created_at: i64,
    data: String,
    status: &'static str,
    attempts: i32,
    next_attempt_at: i64,
    audit_index: Option<i64>,
}

/// Decides the releases of `records` (the accepted items of one batch of `bank`) and writes
/// their outbox events. Returns the releases of each record, in order.
pub fn decide_and_queue<R: Releasable>(
    tx: &mut Tx<'_>,
    bank: &str,
    records: &[&R],
    stats: &mut DecisionStats,
) -> Result<Vec<Vec<Release>>, DbError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let context = tx.context;
    let policy_version = context.policy.version().to_string();
    let now = now_micros();
    let mut users: Vec<&str> = records.iter().map(|r| r.user_id()).collect();
    users.sort_unstable();
    users.dedup();
    let mut by_user: HashMap<String, Vec<InForce>> = HashMap::new();
    for consent in active_for_users(tx.conn(), bank, &users, now)? {
        let purposes = consent.purpose_list();
        let fields = consent.field_list();
        by_user
            .entry(consent.user_id.clone())
            .or_default()
            .push(InForce {
                consent,
                purposes,
                fields,
            });
    }
    let catalog_fields = context.policy.catalog().fields(R::KIND);
    let mut events = Vec::new();
    let mut all = Vec::with_capacity(records.len());
    for record in records {
        let mut releases = Vec::new();
        for in_force in by_user
            .get(record.user_id())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let consent = &in_force.consent;
            let view = ConsentView {
                id: &consent.id,
                version: consent.version,
                fields: &in_force.fields,
                purposes: &in_force.purposes,
            };
            for purpose in &in_force.purposes {
                let mask =
                    context
                        .policy
                        .decide(&consent.recipient_id, bank, R::KIND, purpose, &view);
                let mut released = Vec::new();
                let mut withheld = Vec::new();
                let mut data = Map::new();
                for (index, field) in catalog_fields.iter().enumerate() {
                    let reason = match mask.reason(index) {
                        Some(reason) => Some(reason),
                        None => match record.value(field) {
                            Some(value) => {
                                let member =
                                    field.split_once('.').map_or(field.as_str(), |(_, m)| m);
                                data.insert(member.to_string(), value);
                                released.push(field.clone());
                                None
                            }
                            None => Some(WithholdReason::FieldAbsent),
                        },
                    };
                    if let Some(reason) = reason {
                        withheld.push(Withheld {
                            field: field.clone(),
                            reason,
                        });
                    }
                }
                let record_audit = AuditRecord::new(Kind::Withhold, format!("bank:{bank}"))
                    .user(consent.user_id.clone())
                    .recipient(consent.recipient_id.clone())
                    .purpose(purpose.clone())
                    .consent(consent.id.clone())
                    .bank(bank)
                    .policy_version(policy_version.clone())
                    .detail(record.audit_detail());
                if released.is_empty() {
                    // Nothing leaves for this consent and purpose: no event, a withhold record.
                    stats.count(&withheld, false);
                    tx.audit(record_audit.fields(released, withheld))?;
                    continue;
                }
                let event_id = uuid::Uuid::now_v7().to_string();
                stats.count(&withheld, true);
                let audit_index = tx.audit(
                    record_audit
                        .kind(Kind::Release)
                        .event(event_id.clone())
                        .fields(released.clone(), withheld.clone()),
                )?;
                events.push(NewEvent {
                    event_id: event_id.clone(),
                    recipient_id: consent.recipient_id.clone(),
                    event_type: R::EVENT_TYPE,
                    consent_id: consent.id.clone(),
                    user_id: consent.user_id.clone(),
                    bank_id: bank.to_string(),
                    purpose: Some(purpose.clone()),
                    created_at: now,
                    data: Value::Object(data).to_string(),
                    status: "pending",
                    attempts: 0,
                    next_attempt_at: now,
                    audit_index: i64::try_from(audit_index).ok(),
                });
                releases.push(Release {
                    recipient: consent.recipient_id.clone(),
                    purpose: purpose.clone(),
                    event_id,
                    released,
                    withheld,
                });
            }
        }
        all.push(releases);
    }
    let conn = tx.conn();
    for chunk in events.chunks(INSERT_CHUNK) {
        crate::on_backend!(conn, |c| diesel::insert_into(outbox_events::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(all)
}
