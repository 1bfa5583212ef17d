//! HTTP clients: the bank's (mutual TLS with the development bank certificate) and the
//! users' (TLS only), both trusting the run's development CA alone.

use std::time::Duration;

use super::BenchError;
use crate::http::tls::client_config;
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
        let config =
            |identity| client_config(&ca, identity).map_err(|e| BenchError::Setup(e.to_string()));
        Ok(Self {
            bank: config(Some((bank.cert.as_path(), bank.key.as_path())))?,
            user: config(None)?,
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
