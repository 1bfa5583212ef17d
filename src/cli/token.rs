//! `consentgate token --sub ID --scope "consents" [--ttl 1h] [--config FILE]`: a development
//! token signed with `auth.signing_key`.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::{Failure, resolve_config};
use crate::config::AuthConfig;
use crate::pki::Ed25519Key;

/// Arguments of `token`.
#[derive(clap::Args)]
pub struct Args {
    /// The user (or auditor) id: the token's `sub`.
    #[arg(long)]
    sub: String,
    /// Space-separated scopes, e.g. "consents" or "audit".
    #[arg(long)]
    scope: String,
    /// Lifetime, e.g. `15m`, `1h`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// Configuration file (default: `./consentgate.toml`, else `./data/consentgate.toml`).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    scope: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let config = resolve_config(args.config.as_deref(), false)?;
    let signer = DevTokenSigner::load(&config.auth).map_err(|e| Failure::Usage(e.to_string()))?;
    let token = signer
        .mint(&args.sub, &args.scope, args.ttl)
        .map_err(|e| Failure::Work(e.to_string()))?;
    println!("{token}");
    Ok(())
}

/// Why `auth.signing_key` cannot sign. Each names the key.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    /// The configuration has none (as in production).
    #[error("the configuration has no `auth.signing_key`: tokens come from your identity provider")]
    NotConfigured,
    /// The file could not be read.
    #[error("cannot read `auth.signing_key` `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 PKCS#8 key.
    #[error("`auth.signing_key` `{}`: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Signs development tokens with `auth.signing_key` (Ed25519, PKCS#8), for the issuer and
/// audience the gateway expects and under the key id of its JWKS entry. Used by `token`,
/// `demo` and the load generator.
pub struct DevTokenSigner {
    key: EncodingKey,
    kid: String,
    issuer: String,
    audience: String,
}

impl DevTokenSigner {
    /// Reads the key named by `auth`.
    pub fn load(auth: &AuthConfig) -> Result<Self, DevKeyError> {
        let path = auth
            .signing_key
            .as_ref()
            .ok_or(DevKeyError::NotConfigured)?;
        let pem = std::fs::read_to_string(path).map_err(|source| DevKeyError::Read {
            path: path.clone(),
            source,
        })?;
        let invalid = |message: String| DevKeyError::Invalid {
            path: path.clone(),
            message,
        };
        let kid = Ed25519Key::from_pkcs8_pem(&pem)
            .map_err(|e| invalid(e.to_string()))?
            .kid();
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            key,
            kid,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
        })
    }

    /// A token for `sub` with `scope`, valid from now for `ttl`.
    pub fn mint(
        &self,
        sub: &str,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub,
            scope,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}
