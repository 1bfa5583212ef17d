//! Development keys and certificates, and the public-key pin that identifies a bank.
//!
//! Production deployments bring their own CA and keys; this module exists so that
//! `consentgate dev-pki`, `consentgate serve` without a configuration, the demo and the
//! tests can stand up the whole trust setup (CA, server and bank certificates, JWT and
//! audit keys) on one machine. [`spki_sha256`] is the exception: it runs on every bank
//! connection in production, because a bank is identified by its key pin.

mod ca;
mod dev_setup;
mod ed25519_key;
mod error;
mod spki;

pub use ca::{DevCa, IssuedCert};
pub use dev_setup::{DevBank, DevSetup, write_dev_setup};
pub use ed25519_key::Ed25519Key;
pub use error::PkiError;
pub use spki::spki_sha256;
