//! Bank ingest (CONTRACT §5): `POST /v1/transactions` and `POST /v1/balances`.
//!
//! A handler parses the whole batch (every bad member is reported, nothing is stored), then
//! hands it to the group-commit writer as one job; the job decides per item `accepted`,
//! `duplicate`, or a conflict for the whole batch, inside the writer's transaction.

mod idempotency;
mod release;
mod response;
mod routes;
mod store;

pub use release::{DecisionStats, Releasable, Release};
pub use routes::{Pushed, post};
pub use store::{ItemStatus, StoreBalances, StoreOutcome, StoreTransactions};
