//! consentgate: a gateway that releases bank card data to a messaging platform field by
//! field, purpose by purpose, under each user's consent, and records every decision in a
//! tamper-evident log. See `docs/architecture.md` for the map of the modules.

pub mod audit;
pub mod cli;
pub mod config;
pub mod consent;
pub mod db;
pub mod delivery;
pub mod directory;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod ingest;
pub mod loadgen;
pub mod openapi;
pub mod pki;
pub mod policy;
pub mod time;
pub mod writer;
