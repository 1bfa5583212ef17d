//! The writer jobs of ingest: idempotency check and insert, inside the group commit.

use std::collections::HashMap;

use diesel::prelude::*;

pub use super::idempotency::ItemStatus;
use super::idempotency::{classify, content_hash};
use super::release::{DecisionStats, Plan, Release, queue};
use crate::audit::{AuditRecord, Kind};
use crate::db::schema::{ingested_balances, ingested_transactions};
use crate::db::{DbError, INSERT_CHUNK};
use crate::domain::{Balance, BankId, Transaction};
use crate::writer::{Tx, WriteJob};

/// What a batch came to.
#[derive(Debug)]
pub enum StoreOutcome {
    /// Every item is accepted or a duplicate; the new ones and their releases are committed.
    Stored(Vec<(ItemStatus, Vec<Release>)>, DecisionStats),
    /// These positions re-use a key with different content; nothing was written.
    Conflict(Vec<usize>),
}

/// Stores a batch of transactions pushed by `bank`.
pub struct StoreTransactions {
    /// The authenticated bank (never taken from the body).
    pub bank: BankId,
    /// The parsed batch.
    pub items: Vec<Transaction>,
    /// Its decisions, made before it reached the writer (checked there, or made again).
    pub plan: Option<Plan>,
}

#[derive(Insertable)]
#[diesel(table_name = ingested_transactions)]
struct NewTransactionKey<'a> {
    bank_id: &'a str,
    txn_id: &'a str,
    content_hash: &'a [u8],
}

impl WriteJob for StoreTransactions {
    type Outcome = StoreOutcome;

    fn size(&self) -> usize {
        self.items.len()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<StoreOutcome, DbError> {
        let context = tx.context;
        let bank = self.bank.as_str();
        let keyed: Vec<(String, Vec<u8>)> = self
            .items
            .iter()
            .map(|t| {
                (
                    t.txn_id.as_str().to_string(),
                    content_hash(&context.content_hash_key, &t.content_bytes()),
                )
            })
            .collect();
        let ids: Vec<&str> = keyed.iter().map(|(k, _)| k.as_str()).collect();
        let stored: HashMap<String, Vec<u8>> = ingested_transactions::table
            .filter(ingested_transactions::bank_id.eq(bank))
            .filter(ingested_transactions::txn_id.eq_any(&ids))
            .select((
                ingested_transactions::txn_id,
                ingested_transactions::content_hash,
            ))
            .load::<(String, Vec<u8>)>(tx.conn())?
            .into_iter()
            .collect();
        let statuses = match classify(&keyed, &stored) {
            Ok(statuses) => statuses,
            Err(conflicts) => return Ok(StoreOutcome::Conflict(conflicts)),
        };
        let rows: Vec<NewTransactionKey<'_>> = keyed
            .iter()
            .zip(&statuses)
            .filter(|(_, status)| **status == ItemStatus::Accepted)
            .map(|((txn_id, hash), _)| NewTransactionKey {
                bank_id: bank,
                txn_id,
                content_hash: hash,
            })
            .collect();
        let conn = tx.conn();
        for chunk in rows.chunks(INSERT_CHUNK) {
            crate::on_backend!(conn, |c| diesel::insert_into(ingested_transactions::table)
                .values(chunk)
                .execute(c))?;
        }
        tx.audit(ingest_record(bank, "transaction", &statuses))?;
        let (releases, stats) = queue(
            tx,
            bank,
            &self.items,
            &accepted(&statuses),
            self.plan.take(),
        )?;
        Ok(StoreOutcome::Stored(pair(statuses, releases), stats))
    }
}

/// Stores a batch of balances pushed by `bank`.
pub struct StoreBalances {
    /// The authenticated bank.
    pub bank: BankId,
    /// The parsed batch.
    pub items: Vec<Balance>,
    /// Its decisions, made before it reached the writer (checked there, or made again).
    pub plan: Option<Plan>,
}

#[derive(Insertable)]
#[diesel(table_name = ingested_balances)]
struct NewBalanceKey<'a> {
    bank_id: &'a str,
    account_ref: &'a str,
    as_of: &'a str,
    content_hash: &'a [u8],
}

impl WriteJob for StoreBalances {
    type Outcome = StoreOutcome;

    fn size(&self) -> usize {
        self.items.len()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<StoreOutcome, DbError> {
        let context = tx.context;
        let bank = self.bank.as_str();
        let keys: Vec<(&str, String)> = self
            .items
            .iter()
            .map(|b| (b.account_ref.as_str(), b.as_of_utc_key()))
            .collect();
        let keyed: Vec<(String, Vec<u8>)> = self
            .items
            .iter()
            .zip(&keys)
            .map(|(b, (account, as_of))| {
                (
                    composite_key(account, as_of),
                    content_hash(&context.content_hash_key, &b.content_bytes()),
                )
            })
            .collect();
        let accounts: Vec<&str> = keys.iter().map(|(a, _)| *a).collect();
        // Reads every stored balance of these accounts at these instants (a superset of the
        // exact pairs; the map below keeps only exact keys that matter).
        let instants: Vec<&str> = keys.iter().map(|(_, t)| t.as_str()).collect();
        let stored: HashMap<String, Vec<u8>> = ingested_balances::table
            .filter(ingested_balances::bank_id.eq(bank))
            .filter(ingested_balances::account_ref.eq_any(&accounts))
            .filter(ingested_balances::as_of.eq_any(&instants))
            .select((
                ingested_balances::account_ref,
                ingested_balances::as_of,
                ingested_balances::content_hash,
            ))
            .load::<(String, String, Vec<u8>)>(tx.conn())?
            .into_iter()
            .map(|(account, as_of, hash)| (composite_key(&account, &as_of), hash))
            .collect();
        let statuses = match classify(&keyed, &stored) {
            Ok(statuses) => statuses,
            Err(conflicts) => return Ok(StoreOutcome::Conflict(conflicts)),
        };
        let rows: Vec<NewBalanceKey<'_>> = keys
            .iter()
            .zip(&keyed)
            .zip(&statuses)
            .filter(|(_, status)| **status == ItemStatus::Accepted)
            .map(|(((account, as_of), (_, hash)), _)| NewBalanceKey {
                bank_id: bank,
                account_ref: account,
                as_of,
                content_hash: hash,
            })
            .collect();
        let conn = tx.conn();
        for chunk in rows.chunks(INSERT_CHUNK) {
            crate::on_backend!(conn, |c| diesel::insert_into(ingested_balances::table)
                .values(chunk)
                .execute(c))?;
        }
        tx.audit(ingest_record(bank, "balance", &statuses))?;
        let (releases, stats) = queue(
            tx,
            bank,
            &self.items,
            &accepted(&statuses),
            self.plan.take(),
        )?;
        Ok(StoreOutcome::Stored(pair(statuses, releases), stats))
    }
}

/// `account_ref` cannot contain a space (its alphabet is `[A-Za-z0-9._:-]`), so a space
/// separates the two parts unambiguously.
fn composite_key(account_ref: &str, as_of: &str) -> String {
    format!("{account_ref} {as_of}")
}

/// Which items are new (and so decided and written).
fn accepted(statuses: &[ItemStatus]) -> Vec<bool> {
    statuses
        .iter()
        .map(|s| *s == ItemStatus::Accepted)
        .collect()
}

/// Gives each accepted item its releases (in order) and each duplicate none.
fn pair(statuses: Vec<ItemStatus>, releases: Vec<Vec<Release>>) -> Vec<(ItemStatus, Vec<Release>)> {
    let mut releases = releases.into_iter();
    statuses
        .into_iter()
        .map(|status| match status {
            ItemStatus::Accepted => (status, releases.next().unwrap_or_default()),
            ItemStatus::Duplicate => (status, Vec::new()),
        })
        .collect()
}

/// The `ingest` record of a stored batch: who pushed what, counted (never the values).
fn ingest_record(bank: &str, record: &str, statuses: &[ItemStatus]) -> AuditRecord {
    let accepted = statuses
        .iter()
        .filter(|s| **s == ItemStatus::Accepted)
        .count();
    AuditRecord::new(Kind::Ingest, format!("bank:{bank}"))
        .bank(bank)
        .detail(serde_json::json!({
            "record": record,
            "accepted": accepted,
            "duplicates": statuses.len() - accepted,
        }))
}
