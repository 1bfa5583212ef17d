//! `consentgate token --sub ID --scope "consents" [--ttl 1h] [--config FILE]`: a development
//! token signed with `auth.signing_key`.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::{Failure, resolve_config};
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
    let key_path = config.auth.signing_key.as_ref().ok_or_else(|| {
        Failure::Usage(
            "the configuration has no `auth.signing_key`: tokens come from your identity provider"
                .to_string(),
        )
    })?;
    let pem = std::fs::read_to_string(key_path).map_err(|e| {
        Failure::Usage(format!(
            "cannot read `auth.signing_key` `{}`: {e}",
            key_path.display()
        ))
    })?;
    let key = Ed25519Key::from_pkcs8_pem(&pem)
        .map_err(|e| Failure::Usage(format!("`auth.signing_key` `{}`: {e}", key_path.display())))?;
    let token = mint(
        &pem,
        &key.kid(),
        &config.auth.issuer,
        &config.auth.audience,
        &args.sub,
        &args.scope,
        args.ttl,
    )
    .map_err(|e| Failure::Work(e.to_string()))?;
    println!("{token}");
    Ok(())
}

/// Signs a token for `sub` with `scope`, valid from now for `ttl`, with the Ed25519 key
/// `key_pem` (PKCS#8) whose JWKS key id is `kid`.
pub fn mint(
    key_pem: &str,
    kid: &str,
    issuer: &str,
    audience: &str,
    sub: &str,
    scope: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    let claims = Claims {
        iss: issuer,
        aud: audience,
        sub,
        scope,
        iat: now,
        nbf: now,
        exp: now.saturating_add(ttl),
        jti: uuid::Uuid::now_v7().to_string(),
    };
    let encoding = EncodingKey::from_ed_pem(key_pem.as_bytes())?;
    jsonwebtoken::encode(&header, &claims, &encoding)
}
