//! Deciding what each accepted record releases: for each active consent of its user that
//! covers its bank, for each purpose of that consent, a field-by-field decision; one outbox
//! event per consent and purpose that releases anything.
//!
//! The decisions are made on the request's thread from a plain read of the consents
//! ([`plan_batch`]), then the writer's transaction reads the consents again under its locks
//! and uses the plan only if they are exactly the ones it was made from ([`queue`]); if a
//! consent was granted, revoked or expired in between, the writer decides again. So a
//! revocation is as exact as if every decision were made in the transaction, and the single
//! writer thread only checks, splices audit indexes in and writes.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{AuditRecord, Kind, PreparedRecord};
use crate::consent::{Consent, Lock, Withheld, active_for_users};
use crate::db::{DbConnection, DbError};
use crate::delivery::outbox;
use crate::domain::{Balance, BalanceField, Transaction, TransactionField};
use crate::policy::{ConsentView, PolicyEngine, RecordKind, WithholdReason};
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
    /// Its releasable members.
    type Field: Copy;
    /// Routing detail for audit records (the bank's key, never a catalog value).
    fn audit_detail(&self) -> Value;
    /// The member a catalog name names; `None` when the record kind has no such member.
    fn field(catalog_name: &str) -> Option<Self::Field>;
    /// The value of a member, `None` when the record does not carry it.
    fn value(&self, field: Self::Field) -> Option<Value>;
}

impl Releasable for Transaction {
    const KIND: RecordKind = RecordKind::Transaction;
    const EVENT_TYPE: &'static str = "transaction.released";
    type Field = TransactionField;

    fn user_id(&self) -> &str {
        self.user_id.as_str()
    }

    fn audit_detail(&self) -> Value {
        serde_json::json!({"record": "transaction", "txn_id": self.txn_id.as_str()})
    }

    fn field(catalog_name: &str) -> Option<TransactionField> {
        TransactionField::from_catalog_name(catalog_name)
    }

    fn value(&self, field: TransactionField) -> Option<Value> {
        self.field_value(field)
    }
}

impl Releasable for Balance {
    const KIND: RecordKind = RecordKind::Balance;
    const EVENT_TYPE: &'static str = "balance.released";
    type Field = BalanceField;

    fn user_id(&self) -> &str {
        self.user_id.as_str()
    }

    fn audit_detail(&self) -> Value {
        serde_json::json!({"record": "balance", "account_ref": self.account_ref.as_str(), "as_of": self.as_of_utc_key()})
    }

    fn field(catalog_name: &str) -> Option<BalanceField> {
        BalanceField::from_catalog_name(catalog_name)
    }

    fn value(&self, field: BalanceField) -> Option<Value> {
        self.field_value(field)
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
    /// Adds another decision's counts.
    fn add(&mut self, other: &Self) {
        self.releases += other.releases;
        self.withholds += other.withholds;
        for (total, n) in self.withheld_fields.iter_mut().zip(other.withheld_fields) {
            *total += n;
        }
    }

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

/// What the decisions of a batch depend on: the policy version and every member of the
/// active consents read that a decision reads. A plan made outside the transaction is used
/// only if the transaction reads the same basis; otherwise it is made again inside.
#[derive(Debug, PartialEq, Eq)]
struct Basis {
    policy_version: String,
    consents: Vec<(String, i64, i64, String, String, String)>,
}

impl Basis {
    fn of(policy_version: &str, consents: &[Consent]) -> Self {
        Self {
            policy_version: policy_version.to_string(),
            consents: consents
                .iter()
                .map(|c| {
                    (
                        c.id.clone(),
                        c.version,
                        c.expires_at,
                        c.recipient_id.clone(),
                        c.purposes.clone(),
                        c.fields.clone(),
                    )
                })
                .collect(),
        }
    }
}

/// One consent-and-purpose decision of one record, ready to write: its audit record
/// (serialised but for the index) and, if anything is released, its outbox event and the
/// release the `202` reports.
struct Planned {
    audit: PreparedRecord,
    event: Option<(outbox::NewEvent, Release)>,
    stats: DecisionStats,
}

/// The decisions for every record of a batch, made from one read of its users' active
/// consents. Making it is most of a batch's CPU; it is made on the request's thread
/// ([`plan_batch`]) and checked, not redone, in the writer's transaction ([`queue`]).
pub struct Plan {
    basis: Basis,
    /// Per record, in batch order.
    records: Vec<Vec<Planned>>,
}

/// The users of `records`, sorted and without repeats: the consents a plan reads.
fn users_of<R: Releasable>(records: &[R]) -> Vec<&str> {
    let mut users: Vec<&str> = records.iter().map(|r| r.user_id()).collect();
    users.sort_unstable();
    users.dedup();
    users
}

/// Plans a batch outside the writer, on a pooled connection: reads the active consents of
/// its users (a plain read; the writer reads them again under its locks) and decides.
pub fn plan_batch<R: Releasable>(
    conn: &mut DbConnection,
    policy: &PolicyEngine,
    bank: &str,
    records: &[R],
) -> Result<Plan, DbError> {
    let now = now_micros();
    let consents = active_for_users(conn, Lock::None, bank, &users_of(records), now)?;
    plan(policy, bank, records, consents, now)
}

/// Decides every record of `records` (the whole batch of `bank`) against `consents`.
fn plan<R: Releasable>(
    policy: &PolicyEngine,
    bank: &str,
    records: &[R],
    consents: Vec<Consent>,
    now: i64,
) -> Result<Plan, DbError> {
    let policy_version = policy.version();
    let basis = Basis::of(policy_version, &consents);
    let mut by_user: HashMap<String, Vec<InForce>> = HashMap::new();
    for consent in consents {
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
    // Each catalog field of the kind, with its member in `data` and in the record, looked
    // up once per batch. A catalog name the record kind has no member for is always absent.
    let catalog_fields: Vec<(&String, &str, Option<R::Field>)> = policy
        .catalog()
        .fields(R::KIND)
        .iter()
        .map(|field| {
            let member = field.split_once('.').map_or(field.as_str(), |(_, m)| m);
            (field, member, R::field(field))
        })
        .collect();
    let actor = format!("bank:{bank}");
    let mut planned_records = Vec::with_capacity(records.len());
    for record in records {
        let mut planned = Vec::new();
        let in_force_of_user = by_user
            .get(record.user_id())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if in_force_of_user.is_empty() {
            planned_records.push(planned);
            continue;
        }
        let detail = record.audit_detail();
        // The record's values are the same for every consent and purpose: read them once.
        let values: Vec<Option<Value>> = catalog_fields
            .iter()
            .map(|(_, _, field)| field.and_then(|f| record.value(f)))
            .collect();
        for in_force in in_force_of_user {
            let consent = &in_force.consent;
            let view = ConsentView {
                id: &consent.id,
                version: consent.version,
                fields: &in_force.fields,
                purposes: &in_force.purposes,
            };
            for purpose in &in_force.purposes {
                let mask = policy.decide(&consent.recipient_id, bank, R::KIND, purpose, &view);
                let mut released = Vec::new();
                let mut withheld = Vec::new();
                let mut data = Map::new();
                for (index, ((field, member, _), value)) in
                    catalog_fields.iter().zip(&values).enumerate()
                {
                    let reason = match (mask.reason(index), value) {
                        (Some(reason), _) => reason,
                        (None, Some(value)) => {
                            data.insert((*member).to_string(), value.clone());
                            released.push((*field).clone());
                            continue;
                        }
                        (None, None) => WithholdReason::FieldAbsent,
                    };
                    withheld.push(Withheld {
                        field: (*field).clone(),
                        reason,
                    });
                }
                let mut stats = DecisionStats::default();
                let record_audit = AuditRecord::new(Kind::Withhold, actor.clone())
                    .user(consent.user_id.clone())
                    .recipient(consent.recipient_id.clone())
                    .purpose(purpose.clone())
                    .consent(consent.id.clone())
                    .bank(bank)
                    .policy_version(policy_version)
                    .detail(detail.clone());
                if released.is_empty() {
                    // Nothing leaves for this consent and purpose: no event, a withhold record.
                    stats.count(&withheld, false);
                    planned.push(Planned {
                        audit: prepared(record_audit.fields(released, withheld))?,
                        event: None,
                        stats,
                    });
                    continue;
                }
                let event_id = uuid::Uuid::now_v7().to_string();
                stats.count(&withheld, true);
                let audit = prepared(
                    record_audit
                        .kind(Kind::Release)
                        .event(event_id.clone())
                        .fields(released.clone(), withheld.clone()),
                )?;
                let event = outbox::NewEvent {
                    event_id: event_id.clone(),
                    recipient_id: consent.recipient_id.clone(),
                    event_type: R::EVENT_TYPE,
                    consent_id: consent.id.clone(),
                    user_id: consent.user_id.clone(),
                    bank_id: bank.to_string(),
                    purpose: Some(purpose.clone()),
                    created_at: now,
                    data: Value::Object(data).to_string(),
                    status: outbox::PENDING,
                    attempts: 0,
                    next_attempt_at: now,
                    audit_index: None,
                    epoch: outbox::epoch_of(now),
                };
                let release = Release {
                    recipient: consent.recipient_id.clone(),
                    purpose: purpose.clone(),
                    event_id,
                    released,
                    withheld,
                };
                planned.push(Planned {
                    audit,
                    event: Some((event, release)),
                    stats,
                });
            }
        }
        planned_records.push(planned);
    }
    Ok(Plan {
        basis,
        records: planned_records,
    })
}

fn prepared(record: AuditRecord) -> Result<PreparedRecord, DbError> {
    record
        .prepare()
        .map_err(|e| DbError::Corrupt(format!("audit record cannot be canonicalized: {e}")))
}

/// Inside the writer's transaction: reads the active consents of the batch's users (locking
/// them on PostgreSQL), uses `planned` if it was made from exactly these consents and this
/// policy version (else decides again, here), and writes the audit records and outbox
/// events of the items marked accepted. Returns the releases of each accepted item, in
/// order, and what the decisions came to.
pub fn queue<R: Releasable>(
    tx: &mut Tx<'_>,
    bank: &str,
    records: &[R],
    accepted: &[bool],
    planned: Option<Plan>,
) -> Result<(Vec<Vec<Release>>, DecisionStats), DbError> {
    let mut stats = DecisionStats::default();
    if !accepted.iter().any(|a| *a) {
        return Ok((Vec::new(), stats));
    }
    let policy = &tx.context.policy;
    let now = now_micros();
    let consents = active_for_users(tx.conn(), Lock::Share, bank, &users_of(records), now)?;
    let plan = match planned {
        Some(plan)
            if plan.records.len() == records.len()
                && plan.basis == Basis::of(policy.version(), &consents) =>
        {
            plan
        }
        _ => plan(policy, bank, records, consents, now)?,
    };
    let mut events = Vec::new();
    let mut all = Vec::new();
    for (planned, _) in plan
        .records
        .into_iter()
        .zip(accepted)
        .filter(|(_, accepted)| **accepted)
    {
        let mut releases = Vec::new();
        for decision in planned {
            stats.add(&decision.stats);
            let audit_index = tx.audit_prepared(decision.audit)?;
            if let Some((mut event, release)) = decision.event {
                event.audit_index = i64::try_from(audit_index).ok();
                events.push(event);
                releases.push(release);
            }
        }
        all.push(releases);
    }
    let conn = tx.conn();
    outbox::queue(conn, &events)?;
    Ok((all, stats))
}

#[cfg(test)]
mod tests {
    //! The plan check against the real writer, on a real SQLite file.
    use diesel::RunQueryDsl as _;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use diesel::connection::SimpleConnection as _;
    use serde_json::json;

    use super::*;
    use crate::audit::CheckpointSigner;
    use crate::config::{DatabaseConfig, Secret};
    use crate::db::Database;
    use crate::domain::{BankId, parse_transaction_batch};
    use crate::ingest::store::{StoreOutcome, StoreTransactions};
    use crate::writer::{WriteContext, Writer};

    struct Fixture {
        _dir: tempfile::TempDir,
        database: Database,
        policy: Arc<PolicyEngine>,
        writer: Writer,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(&DatabaseConfig {
            url: Secret::new(format!("sqlite://{}", dir.path().join("g.db").display())),
            pool_size: 2,
        })
        .unwrap();
        let policy = Arc::new(PolicyEngine::load(None).unwrap());
        let signer = CheckpointSigner::new(
            "consentgate/test",
            ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            1000,
        )
        .unwrap();
        let writer = Writer::start(
            &database,
            WriteContext {
                policy: Arc::clone(&policy),
                signer: Arc::new(signer),
                tree_size: Arc::new(AtomicU64::new(0)),
            },
        )
        .unwrap();
        let fixture = Fixture {
            _dir: dir,
            database,
            policy,
            writer,
        };
        fixture.consent(
            "c-1",
            "fraud_alert",
            r#"["transaction.amount_minor","transaction.currency"]"#,
        );
        fixture
    }

    impl Fixture {
        /// Stores a consent of u-1 for messenger and bank-a behind the gateway's back.
        fn consent(&self, id: &str, purpose: &str, fields: &str) {
            self.database
                .get()
                .unwrap()
                .batch_execute(&format!(
                    "INSERT INTO consents (id, user_id, recipient_id, bank_id, purposes, fields,
                        granted_at, expires_at, revoked_at, revoked_by, version)
                     VALUES ('{id}', 'u-1', 'messenger', 'bank-a', '[\"{purpose}\"]',
                        '{fields}', 0, 9000000000000000, NULL, NULL, 1)"
                ))
                .unwrap();
        }
    }

    fn transactions(txn_id: &str) -> Vec<Transaction> {
        parse_transaction_batch(&json!({"transactions": [{
            "txn_id": txn_id, "user_id": "u-1", "amount_minor": 1299, "currency": "USD",
            "merchant_name": "Blue Bottle Coffee", "merchant_category_code": "5814",
            "channel": "in_store", "status": "authorized",
            "occurred_at": "2026-11-24T10:00:00Z"
        }]}))
        .unwrap()
    }

    fn planned_event(plan: &Plan) -> String {
        let event = plan.records[0][0].event.as_ref().unwrap();
        event.0.event_id.clone()
    }

    async fn store(fixture: &Fixture, items: Vec<Transaction>, plan: Plan) -> Vec<Vec<Release>> {
        let outcome = fixture
            .writer
            .submit(StoreTransactions::new(
                BankId::parse("bank-a").unwrap(),
                items,
                Some(plan),
                fixture.writer.content_hash_key(),
            ))
            .await
            .unwrap();
        match outcome {
            StoreOutcome::Stored(items, _) => items.into_iter().map(|(_, r)| r).collect(),
            StoreOutcome::Conflict(_) => panic!("conflict"),
        }
    }

    fn plan_now(fixture: &Fixture, items: &[Transaction]) -> Plan {
        let mut conn = fixture.database.get().unwrap();
        plan_batch(&mut conn, &fixture.policy, "bank-a", items).unwrap()
    }

    #[tokio::test]
    async fn a_plan_made_from_the_consents_in_force_is_what_the_writer_commits() {
        let fixture = fixture();
        let items = transactions("t-1");
        let plan = plan_now(&fixture, &items);
        let event_id = planned_event(&plan);
        let releases = store(&fixture, items, plan).await;
        assert_eq!(releases[0].len(), 1);
        assert_eq!(
            releases[0][0].event_id, event_id,
            "the plan was used, not redone"
        );
        assert_eq!(
            releases[0][0].released,
            ["transaction.amount_minor", "transaction.currency"]
        );
    }

    #[tokio::test]
    async fn a_plan_made_before_a_revocation_releases_nothing() {
        let fixture = fixture();
        let items = transactions("t-1");
        let plan = plan_now(&fixture, &items);
        assert_eq!(plan.records[0].len(), 1, "the plan releases under c-1");
        fixture
            .database
            .get()
            .unwrap()
            .batch_execute("UPDATE consents SET revoked_at = 1, version = 2 WHERE id = 'c-1'")
            .unwrap();
        let releases = store(&fixture, items, plan).await;
        assert_eq!(releases.len(), 1);
        assert!(releases[0].is_empty(), "released under a revoked consent");
        let mut conn = fixture.database.get().unwrap();
        let events: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT COUNT(*) FROM outbox_events)",
        ))
        .get_result(&mut *conn)
        .unwrap();
        assert_eq!(events, 0);
    }

    #[tokio::test]
    async fn a_plan_made_before_a_grant_is_decided_again_with_it() {
        let fixture = fixture();
        let items = transactions("t-1");
        let plan = plan_now(&fixture, &items);
        let stale_event = planned_event(&plan);
        fixture.consent("c-2", "finance_tracking", r#"["transaction.amount_minor"]"#);
        let releases = store(&fixture, items, plan).await;
        let purposes: Vec<&str> = releases[0].iter().map(|r| r.purpose.as_str()).collect();
        assert_eq!(purposes, ["fraud_alert", "finance_tracking"]);
        assert!(releases[0].iter().all(|r| r.event_id != stale_event));
    }
}
