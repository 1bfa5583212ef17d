//! The writer jobs of ingest: idempotency check and insert, inside the group commit.

use std::collections::HashMap;
use std::hash::Hash;

use diesel::prelude::*;

pub use super::idempotency::ItemStatus;
use super::idempotency::{classify, content_hash};
use super::release::{DecisionStats, Plan, Releasable, Release, queue};
use crate::audit::{AuditRecord, Kind};
use crate::db::schema::{ingested_balances, ingested_transactions};
use crate::db::{DbConnection, DbError};
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
pub type StoreTransactions = Store<Transaction>;

/// Stores a batch of balances pushed by `bank`.
pub type StoreBalances = Store<Balance>;

/// Stores a batch of records of one kind pushed by `bank`.
pub struct Store<R: Ingested> {
    /// The authenticated bank (never taken from the body).
    bank: BankId,
    /// The parsed batch.
    items: Vec<R>,
    /// Each item's idempotency key and keyed content hash. They need no database, so they
    /// are computed before the job reaches the writer, the gateway's one serial step.
    keyed: Vec<(R::Key, Vec<u8>)>,
    /// Its decisions, made before it reached the writer (checked there, or made again).
    plan: Option<Plan>,
}

impl<R: Ingested> Store<R> {
    /// The job that stores `items` for `bank`, hashing their content with
    /// `content_hash_key` (the writer's, [`crate::writer::Writer::content_hash_key`]).
    pub fn new(
        bank: BankId,
        items: Vec<R>,
        plan: Option<Plan>,
        content_hash_key: &[u8; 32],
    ) -> Self {
        let keyed = items
            .iter()
            .map(|item| (item.key(), content_hash(content_hash_key, &item.content())))
            .collect();
        Self {
            bank,
            items,
            keyed,
            plan,
        }
    }
}

/// A record kind ingest stores: its idempotency key and where the keys are kept.
pub trait Ingested: Releasable + Send + 'static {
    /// What identifies a record within its bank.
    type Key: Eq + Hash + Send;
    /// This record's key.
    fn key(&self) -> Self::Key;
    /// The canonical content the idempotency hash covers.
    fn content(&self) -> Vec<u8>;
    /// The stored content hashes of the keys of `keyed` that are known, by key.
    fn stored(
        conn: &mut DbConnection,
        bank: &str,
        keyed: &[(Self::Key, Vec<u8>)],
    ) -> Result<HashMap<Self::Key, Vec<u8>>, DbError>;
    /// Stores the keys and hashes of new records.
    fn insert(
        conn: &mut DbConnection,
        bank: &str,
        new: &[&(Self::Key, Vec<u8>)],
    ) -> Result<(), DbError>;
}

impl<R: Ingested> WriteJob for Store<R> {
    type Outcome = StoreOutcome;

    fn size(&self) -> usize {
        self.items.len()
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> Result<StoreOutcome, DbError> {
        let bank = self.bank.as_str();
        let keyed = &self.keyed;
        let stored = R::stored(tx.conn(), bank, keyed)?;
        let statuses = match classify(keyed, &stored) {
            Ok(statuses) => statuses,
            Err(conflicts) => return Ok(StoreOutcome::Conflict(conflicts)),
        };
        let new: Vec<&(R::Key, Vec<u8>)> = keyed
            .iter()
            .zip(&statuses)
            .filter(|(_, status)| **status == ItemStatus::Accepted)
            .map(|(keyed, _)| keyed)
            .collect();
        R::insert(tx.conn(), bank, &new)?;
        tx.audit(ingest_record(bank, R::KIND.as_str(), &statuses))?;
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

#[derive(Insertable)]
#[diesel(table_name = ingested_transactions)]
struct NewTransactionKey<'a> {
    bank_id: &'a str,
    txn_id: &'a str,
    content_hash: &'a [u8],
}

impl Ingested for Transaction {
    type Key = String;

    fn key(&self) -> String {
        self.txn_id.as_str().to_string()
    }

    fn content(&self) -> Vec<u8> {
        self.content_bytes()
    }

    fn stored(
        conn: &mut DbConnection,
        bank: &str,
        keyed: &[(String, Vec<u8>)],
    ) -> Result<HashMap<String, Vec<u8>>, DbError> {
        let query = ingested_transactions::table
            .filter(ingested_transactions::bank_id.eq(bank))
            .select((
                ingested_transactions::txn_id,
                ingested_transactions::content_hash,
            ));
        // A batch of one gets a statement SQLite keeps prepared (an `IN (…)` list is
        // prepared anew on every call).
        let found: Vec<(String, Vec<u8>)> = match keyed {
            [(id, _)] => query
                .filter(ingested_transactions::txn_id.eq(id))
                .load(conn)?,
            _ => {
                let ids: Vec<&str> = keyed.iter().map(|(id, _)| id.as_str()).collect();
                query
                    .filter(ingested_transactions::txn_id.eq_any(&ids))
                    .load(conn)?
            }
        };
        Ok(found.into_iter().collect())
    }

    fn insert(
        conn: &mut DbConnection,
        bank: &str,
        new: &[&(String, Vec<u8>)],
    ) -> Result<(), DbError> {
        let rows: Vec<NewTransactionKey<'_>> = new
            .iter()
            .map(|(txn_id, hash)| NewTransactionKey {
                bank_id: bank,
                txn_id,
                content_hash: hash,
            })
            .collect();
        crate::insert_rows!(conn, ingested_transactions::table, rows.as_slice())
    }
}

#[derive(Insertable)]
#[diesel(table_name = ingested_balances)]
struct NewBalanceKey<'a> {
    bank_id: &'a str,
    account_ref: &'a str,
    as_of: &'a str,
    content_hash: &'a [u8],
}

impl Ingested for Balance {
    /// The account and the instant of `as_of` in UTC.
    type Key = (String, String);

    fn key(&self) -> (String, String) {
        (self.account_ref.as_str().to_string(), self.as_of_utc_key())
    }

    fn content(&self) -> Vec<u8> {
        self.content_bytes()
    }

    fn stored(
        conn: &mut DbConnection,
        bank: &str,
        keyed: &[((String, String), Vec<u8>)],
    ) -> Result<HashMap<(String, String), Vec<u8>>, DbError> {
        let query = ingested_balances::table
            .filter(ingested_balances::bank_id.eq(bank))
            .select((
                ingested_balances::account_ref,
                ingested_balances::as_of,
                ingested_balances::content_hash,
            ));
        let found: Vec<(String, String, Vec<u8>)> = match keyed {
            // A batch of one gets a statement SQLite keeps prepared (see `Transaction`).
            [((account, as_of), _)] => query
                .filter(ingested_balances::account_ref.eq(account))
                .filter(ingested_balances::as_of.eq(as_of))
                .load(conn)?,
            // Every stored balance of these accounts at these instants: a superset of the
            // exact pairs; the map keeps exact keys, and only those of the batch are looked up.
            _ => {
                let accounts: Vec<&str> = keyed.iter().map(|((a, _), _)| a.as_str()).collect();
                let instants: Vec<&str> = keyed.iter().map(|((_, t), _)| t.as_str()).collect();
                query
                    .filter(ingested_balances::account_ref.eq_any(&accounts))
                    .filter(ingested_balances::as_of.eq_any(&instants))
                    .load(conn)?
            }
        };
        Ok(found
            .into_iter()
            .map(|(account, as_of, hash)| ((account, as_of), hash))
            .collect())
    }

    fn insert(
        conn: &mut DbConnection,
        bank: &str,
        new: &[&((String, String), Vec<u8>)],
    ) -> Result<(), DbError> {
        let rows: Vec<NewBalanceKey<'_>> = new
            .iter()
            .map(|((account, as_of), hash)| NewBalanceKey {
                bank_id: bank,
                account_ref: account,
                as_of,
                content_hash: hash,
            })
            .collect();
        crate::insert_rows!(conn, ingested_balances::table, rows.as_slice())
    }
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
