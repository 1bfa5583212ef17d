//! The ingest handler of both record kinds (`post::<R: Pushed>`).

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::idempotency::ItemStatus;
use super::release::{Release, plan_batch};
use super::response::{BatchResponse, batch_error, conflict};
use super::store::{Ingested, Store, StoreOutcome};
use crate::db::{Database, DbError, Pooled};
use crate::delivery::backlog::Backlog;
use crate::domain::{
    Balance, BankId, BatchError, Transaction, parse_balance_batch, parse_transaction_batch,
};
use crate::http::{ApiError, AuthenticatedBank, JsonBody, Metrics};
use crate::policy::PolicyEngine;
use crate::writer::Writer;

/// A record kind banks push: how its batch is parsed, what names it in answers, and what
/// it counts in the metrics. One handler serves both kinds through it.
pub trait Pushed: Ingested + Sized {
    /// The batch's array member, `transactions` or `balances`.
    const MEMBER: &'static str;
    /// The member a conflict problem names as the re-used key.
    const KEY_MEMBER: &'static str;
    /// The members that identify an item in the `202` body.
    type AnswerKey: Serialize;
    /// Parses and validates a batch body.
    fn parse(body: &serde_json::Value) -> Result<Vec<Self>, BatchError>;
    /// This item's key members as the answer shows them.
    fn answer_key(&self) -> Self::AnswerKey;
    /// The counter of stored items of this kind.
    fn ingested(metrics: &Metrics) -> &AtomicU64;
}

#[derive(Serialize)]
pub struct TransactionKey {
    txn_id: String,
}

impl Pushed for Transaction {
    const MEMBER: &'static str = "transactions";
    const KEY_MEMBER: &'static str = "txn_id";
    type AnswerKey = TransactionKey;

    fn parse(body: &serde_json::Value) -> Result<Vec<Self>, BatchError> {
        parse_transaction_batch(body)
    }

    fn answer_key(&self) -> TransactionKey {
        TransactionKey {
            txn_id: self.txn_id.as_str().to_string(),
        }
    }

    fn ingested(metrics: &Metrics) -> &AtomicU64 {
        &metrics.transactions_ingested
    }
}

#[derive(Serialize)]
pub struct BalanceKey {
    account_ref: String,
    as_of: String,
}

impl Pushed for Balance {
    const MEMBER: &'static str = "balances";
    const KEY_MEMBER: &'static str = "account_ref";
    type AnswerKey = BalanceKey;

    fn parse(body: &serde_json::Value) -> Result<Vec<Self>, BatchError> {
        parse_balance_batch(body)
    }

    fn answer_key(&self) -> BalanceKey {
        BalanceKey {
            account_ref: self.account_ref.as_str().to_string(),
            as_of: self
                .as_of
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        }
    }

    fn ingested(metrics: &Metrics) -> &AtomicU64 {
        &metrics.balances_ingested
    }
}

/// `POST /v1/transactions` (`R` = [`Transaction`]) and `POST /v1/balances` (`R` =
/// [`Balance`]): refuses when the backlog is full, parses, plans, stores through the
/// writer, answers.
pub async fn post<R: Pushed>(
    bank: AuthenticatedBank,
    body: JsonBody,
    writer: web::Data<Writer>,
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
    metrics: web::Data<Metrics>,
    backlog: web::Data<Backlog>,
) -> Result<HttpResponse, ApiError> {
    refuse_when_backlog_full(&backlog)?;
    let items = R::parse(&body.0).map_err(|e| {
        metrics.batches_rejected.fetch_add(1, Ordering::Relaxed);
        batch_error(e, R::MEMBER)
    })?;
    let keys: Vec<R::AnswerKey> = items.iter().map(R::answer_key).collect();
    let job = plan(database, policy, writer.content_hash_key(), bank.id, items).await?;
    let outcome = writer.submit(job).await?;
    let statuses = stored_or_conflict(outcome, &metrics, R::MEMBER, R::KEY_MEMBER)?;
    count(R::ingested(&metrics), &metrics, &statuses);
    Ok(HttpResponse::Accepted().json(BatchResponse::new(keys, statuses)))
}

/// Back-pressure (`src/delivery/backlog.rs`): checked before the batch is validated,
/// planned or stored (the body has been read and parsed as JSON by then).
fn refuse_when_backlog_full(backlog: &Backlog) -> Result<(), ApiError> {
    if backlog.refuses() {
        return Err(ApiError::backlog_full());
    }
    Ok(())
}

fn stored_or_conflict(
    outcome: StoreOutcome,
    metrics: &Metrics,
    member: &str,
    key_member: &str,
) -> Result<Vec<(ItemStatus, Vec<Release>)>, ApiError> {
    match outcome {
        StoreOutcome::Stored(statuses, stats) => {
            metrics.record_decisions(&stats);
            Ok(statuses)
        }
        StoreOutcome::Conflict(positions) => {
            metrics.batches_rejected.fetch_add(1, Ordering::Relaxed);
            Err(conflict(&positions, member, key_member))
        }
    }
}

fn count(ingested: &AtomicU64, metrics: &Metrics, statuses: &[(ItemStatus, Vec<Release>)]) {
    let accepted = statuses
        .iter()
        .filter(|(s, _)| *s == ItemStatus::Accepted)
        .count() as u64;
    ingested.fetch_add(accepted, Ordering::Relaxed);
    metrics
        .duplicates
        .fetch_add(statuses.len() as u64 - accepted, Ordering::Relaxed);
}

/// Largest batch planned on the HTTP worker itself rather than on the blocking pool.
///
/// Planning a small batch on SQLite is one local read and a few decisions, tens of
/// microseconds: handing it to the blocking pool cost more than the work (two thread
/// wake-ups per request on a busy machine). Inline planning halved p99 at 2,000 requests/s
/// of one transaction (35 to 17 ms) and gave 3% more requests/s (`docs/performance.md`,
/// seventh session).
const INLINE_PLAN_MAX_ITEMS: usize = 8;

/// Plans `items` (see `release.rs`) and hashes their content, so the writer gets a job with
/// both done. A small batch on SQLite is planned right here when an idle reader is at hand
/// ([`Database::idle_reader`]: it never waits, neither for the pool nor for a lock);
/// anything else on the blocking pool. No plan when the consents cannot be read (no pooled
/// connection, a lock, a read error): a plan only saves the writer work, so the writer then
/// decides alone, and fails closed if it cannot read them either.
async fn plan<R: Pushed>(
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
    content_hash_key: &[u8; 32],
    bank: BankId,
    items: Vec<R>,
) -> Result<Store<R>, ApiError> {
    let key = *content_hash_key;
    let inline = items.len() <= INLINE_PLAN_MAX_ITEMS;
    let job = move |conn: Result<Pooled, DbError>| {
        let plan = conn.and_then(|mut conn| plan_batch(&mut conn, &policy, bank.as_str(), &items));
        let plan = plan
            .inspect_err(|err| {
                tracing::warn!(error = %err, "cannot plan a batch before the writer; it decides alone");
            })
            .ok();
        Store::new(bank, items, plan, &key)
    };
    if inline && let Some(conn) = database.idle_reader() {
        return Ok(job(Ok(conn)));
    }
    Ok(web::block(move || job(database.get())).await?)
}
