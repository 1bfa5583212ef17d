//! Black-box tests of the gateway over real TLS, on a fresh database each.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a failed step must fail the test loudly"
)]
#![allow(
    dead_code,
    reason = "the harness serves many test modules; each uses a different part"
)]

mod audit;
mod audit_cli;
mod auth;
mod cli;
mod consents;
mod delivery;
mod helpers;
mod ingest;
mod loadgen;
mod policy_cli;
mod releases;
mod schema;
mod service;
mod stored_log;
mod tls;
