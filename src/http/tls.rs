//! TLS configuration of the two listeners (and of the development tools' clients).
//!
//! The bank listener REQUIRES a client certificate chaining to `tls.client_ca` and not
//! revoked by `tls.client_crl` (rustls `WebPkiClientVerifier`, never a verifier that accepts
//! anything); which bank it is comes later, from the key pin (see `bank_identity`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// Why a listener's TLS configuration could not be built. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read `{path}`: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the material.
    #[error("invalid TLS material: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (empty CA file, unusable CRL).
    #[error("cannot build the bank certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The crypto provider every TLS configuration of the process uses (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Mutual TLS for banks: a client certificate is required and verified with CRLs.
pub fn bank_server_config(tls: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in read_certs(&tls.client_ca)? {
        roots.add(ca)?;
    }
    let mut crls = Vec::new();
    for path in &tls.client_crl {
        let found = CertificateRevocationListDer::pem_file_iter(path)
            .map_err(|e| file_error(path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(path, e))?;
        if found.is_empty() {
            return Err(file_error(path, "no CRL in the file"));
        }
        crls.extend(found);
    }
    // CAUTION: no `allow_unauthenticated()`: a handshake without a valid certificate fails.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .with_crls(crls)
        .build()?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(&tls.cert)?, read_key(&tls.key)?)?;
    Ok(config)
}

/// Server-authenticated TLS for users, auditors and service endpoints.
pub fn api_server_config(tls: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(read_certs(&tls.cert)?, read_key(&tls.key)?)?;
    Ok(config)
}

/// A client that trusts only the CA certificate(s) of `ca` and, with `identity` (certificate
/// chain and key, PEM), presents a client certificate: how the development tools (`demo`, the
/// load generator) reach a gateway of the development PKI.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match identity {
        Some((cert, key)) => builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?,
        None => builder.with_no_client_auth(),
    })
}

/// Every certificate of a PEM file; an empty file is an error.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}
