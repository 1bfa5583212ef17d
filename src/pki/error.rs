//! The one error type of the PKI module.

use std::path::PathBuf;

/// What can go wrong while making or reading development keys and certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The bytes given as a certificate are not a DER X.509 certificate. Carries nothing,
    /// so building it on the bank connection path does not allocate.
    #[error("the certificate is not a well-formed der x.509 certificate")]
    MalformedCertificate,
    /// rcgen refused to make a key, a certificate or a CRL.
    #[error("cannot generate the {item}: {source}")]
    Generate {
        /// What was being made, e.g. "client certificate for `bank-a`".
        item: String,
        /// Why rcgen refused.
        #[source]
        source: rcgen::Error,
    },
    /// A server certificate needs at least one name to be valid for.
    #[error("a server certificate needs at least one dns name or ip address")]
    NoServerNames,
    /// An Ed25519 private key could not be read or written as PKCS#8.
    #[error("the ed25519 private key is not valid pkcs#8: {0}")]
    Ed25519Pkcs8(#[source] ed25519_dalek::pkcs8::Error),
    /// An Ed25519 public key could not be written as SubjectPublicKeyInfo.
    #[error("cannot encode the ed25519 public key: {0}")]
    Ed25519Spki(#[source] ed25519_dalek::pkcs8::spki::Error),
    /// A bank id given to `dev-pki` does not follow the id alphabet.
    #[error("bank id `{0}` must be 1-64 characters of `A-Za-z0-9._:-`")]
    InvalidBankId(String),
    /// The same bank id was given twice to `dev-pki`.
    #[error("bank id `{0}` is given twice")]
    DuplicateBankId(String),
    /// A file `dev-pki` would write is already there; keys are never overwritten.
    #[error("`{}` already exists; refusing to overwrite it", .0.display())]
    AlreadyExists(PathBuf),
    /// Reading or writing a file or folder failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
