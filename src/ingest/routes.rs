//! The two ingest handlers.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::idempotency::ItemStatus;
use super::release::{Plan, Releasable, Release, plan_batch};
use super::response::{BatchResponse, batch_error, conflict};
use super::store::{StoreBalances, StoreOutcome, StoreTransactions};
use crate::db::Database;
use crate::delivery::backlog::Backlog;
use crate::domain::{BankId, parse_balance_batch, parse_transaction_batch};
use crate::http::{ApiError, AuthenticatedBank, JsonBody, Metrics};
use crate::policy::PolicyEngine;
use crate::writer::Writer;

#[derive(Serialize)]
struct TransactionKey {
    txn_id: String,
}

#[derive(Serialize)]
struct BalanceKey {
    account_ref: String,
    as_of: String,
}

/// `POST /v1/transactions`.
pub async fn post_transactions(
    bank: AuthenticatedBank,
    body: JsonBody,
    writer: web::Data<Writer>,
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
    metrics: web::Data<Metrics>,
    backlog: web::Data<Backlog>,
) -> Result<HttpResponse, ApiError> {
    refuse_when_backlog_full(&backlog)?;
    let items = parse_transaction_batch(&body.0).map_err(|e| {
        metrics.batches_rejected.fetch_add(1, Ordering::Relaxed);
        batch_error(e, "transactions")
    })?;
    let keys: Vec<TransactionKey> = items
        .iter()
        .map(|t| TransactionKey {
            txn_id: t.txn_id.as_str().to_string(),
        })
        .collect();
    let (items, plan) = plan(database, policy, &bank.id, items).await?;
    let outcome = writer
        .submit(StoreTransactions {
            bank: bank.id,
            items,
            plan,
        })
        .await?;
    let statuses = stored_or_conflict(outcome, &metrics, "transactions", "txn_id")?;
    count(&metrics.transactions_ingested, &metrics, &statuses);
    Ok(HttpResponse::Accepted().json(BatchResponse::new(keys, statuses)))
}

/// `POST /v1/balances`.
pub async fn post_balances(
    bank: AuthenticatedBank,
    body: JsonBody,
    writer: web::Data<Writer>,
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
    metrics: web::Data<Metrics>,
    backlog: web::Data<Backlog>,
) -> Result<HttpResponse, ApiError> {
    refuse_when_backlog_full(&backlog)?;
    let items = parse_balance_batch(&body.0).map_err(|e| {
        metrics.batches_rejected.fetch_add(1, Ordering::Relaxed);
        batch_error(e, "balances")
    })?;
    let keys: Vec<BalanceKey> = items
        .iter()
        .map(|b| BalanceKey {
            account_ref: b.account_ref.as_str().to_string(),
            as_of: b.as_of.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        })
        .collect();
    let (items, plan) = plan(database, policy, &bank.id, items).await?;
    let outcome = writer
        .submit(StoreBalances {
            bank: bank.id,
            items,
            plan,
        })
        .await?;
    let statuses = stored_or_conflict(outcome, &metrics, "balances", "account_ref")?;
    count(&metrics.balances_ingested, &metrics, &statuses);
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

fn count(
    ingested: &std::sync::atomic::AtomicU64,
    metrics: &Metrics,
    statuses: &[(ItemStatus, Vec<Release>)],
) {
    let accepted = statuses
        .iter()
        .filter(|(s, _)| *s == ItemStatus::Accepted)
        .count() as u64;
    ingested.fetch_add(accepted, Ordering::Relaxed);
    metrics
        .duplicates
        .fetch_add(statuses.len() as u64 - accepted, Ordering::Relaxed);
}

/// Plans `items` on the blocking pool (see `release.rs`). No plan when the consents cannot
/// be read (no pooled connection, a read error): a plan only saves the writer work, so the
/// writer then decides alone, and fails closed if it cannot read them either.
async fn plan<R: Releasable + Send + 'static>(
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
    bank: &BankId,
    items: Vec<R>,
) -> Result<(Vec<R>, Option<Plan>), ApiError> {
    let bank = bank.as_str().to_string();
    let (items, plan) = web::block(move || {
        let plan = database
            .get()
            .and_then(|mut conn| plan_batch(&mut conn, &policy, &bank, &items));
        (items, plan)
    })
    .await?;
    let plan = plan
        .inspect_err(|err| {
            tracing::warn!(error = %err, "cannot plan a batch before the writer; it decides alone");
        })
        .ok();
    Ok((items, plan))
}
