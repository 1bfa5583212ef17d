//! HTTP clients: the bank's (mutual TLS with the development bank certificate) and the
//! users' (TLS only), both trusting the run's development CA alone.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::BenchError;
use crate::pki::DevSetup;

/// Per-request limit; a request slower than this is counted as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS configurations of the run.
#[derive(Clone)]
pub struct Tls {
    bank: rustls::ClientConfig,
    user: rustls::ClientConfig,
}

impl Tls {
    /// Reads the CA and the first bank's certificate and key from the development setup.
    pub fn load(setup: &DevSetup) -> Result<Self, BenchError> {
        let bank = setup
            .banks
            .first()
            .ok_or_else(|| BenchError::Setup("the development setup has no bank".into()))?;
        let ca = setup.dir.join("ca.pem");
        Ok(Self {
            bank: config(&ca, Some((&bank.cert, &bank.key)))?,
            user: config(&ca, None)?,
        })
    }

    /// One bank connection: HTTP/1.1, at most one idle connection kept, so that each client
    /// is exactly one keep-alive connection.
    pub fn bank_connection(&self) -> Result<reqwest::Client, BenchError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.bank.clone())
            .http1_only()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| BenchError::Setup(format!("cannot build the bank client: {e}")))
    }

    /// A pooled client for the consent API and probes.
    pub fn user_client(&self) -> Result<reqwest::Client, BenchError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.user.clone())
            .http1_only()
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| BenchError::Setup(format!("cannot build the API client: {e}")))
    }
}

fn config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<rustls::ClientConfig, BenchError> {
    let bad = |path: &Path, e: &dyn std::fmt::Display| {
        BenchError::Setup(format!("`{}`: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, &e))? {
        roots
            .add(cert.map_err(|e| bad(ca, &e))?)
            .map_err(|e| bad(ca, &e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(crate::http::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BenchError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    match identity {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(|e| bad(cert, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(cert, &e))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
            builder
                .with_client_auth_cert(certs, key_der)
                .map_err(|e| bad(cert, &e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
