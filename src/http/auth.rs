//! Bearer-token authentication of users and auditors (CONTRACT §1).
//!
//! Every check is explicit: the key is chosen by `kid` from the configured JWKS, the token's
//! `alg` must be the one that key is for (so an HMAC token "signed" with a public key, or
//! `alg: none`, never verifies), `iss`, `aud`, `exp` and `sub` are required, `nbf` is
//! honoured and clock leeway is 30 s. Any failure is the same `401`: the client learns
//! nothing about which check failed; the log does.

use std::collections::{HashMap, HashSet};
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::problem::ApiError;
use crate::config::AuthConfig;

/// Clock skew tolerated on `exp` and `nbf` (the contract allows at most 30 s).
const LEEWAY_SECONDS: u64 = 30;
/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why the JWKS could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The file could not be read.
    #[error("cannot read the JWKS file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a JWK set we can use.
    #[error("the JWKS file `{path}` is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Why a token was refused. Logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// Over [`MAX_TOKEN_BYTES`].
    #[error("token too long")]
    TooLong,
    /// The header names no key we have.
    #[error("unknown or missing key id")]
    UnknownKey,
    /// The header's algorithm is not the key's.
    #[error("algorithm `{0:?}` does not match the key")]
    AlgorithmMismatch(Algorithm),
    /// Signature, claims or format.
    #[error("{0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// The claims the gateway reads. `exp` is typed so that a string `exp` fails to parse.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(rename = "exp")]
    _exp: u64,
    #[serde(default)]
    scope: Option<String>,
}

/// A verified token's subject and scopes.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The `sub` claim: the user id (or the auditor's id).
    pub subject: String,
    scopes: HashSet<String>,
}

impl Principal {
    /// Whether the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Verifies bearer tokens against the configured keys.
pub struct TokenVerifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    /// Loads the JWKS named by the configuration.
    pub fn load(config: &AuthConfig) -> Result<Self, JwksError> {
        let path = &config.jwks_file;
        let text = std::fs::read_to_string(path).map_err(|source| JwksError::Read {
            path: path.clone(),
            source,
        })?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| invalid(path, e))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| invalid(path, "every key needs a `kid`"))?;
            let algorithm =
                algorithm_of(jwk).map_err(|m| invalid(path, format!("key `{kid}`: {m}")))?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| invalid(path, format!("key `{kid}`: {e}")))?;
            if keys.insert(kid.clone(), (key, algorithm)).is_some() {
                return Err(invalid(path, format!("key id `{kid}` is listed twice")));
            }
        }
        if keys.is_empty() {
            return Err(invalid(path, "the set holds no key"));
        }
        Ok(Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// Verifies `token` and returns who it is for.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let header = jsonwebtoken::decode_header(token)?;
        let (key, algorithm) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        if header.alg != *algorithm {
            return Err(TokenError::AlgorithmMismatch(header.alg));
        }
        let mut validation = Validation::new(*algorithm);
        validation.algorithms = vec![*algorithm];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(TokenError::Invalid(
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim("sub".to_string()).into(),
            ));
        }
        let scopes = claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Principal {
            subject: claims.sub,
            scopes,
        })
    }
}

/// The algorithm a key is for, from its type and curve; HMAC (`oct`) keys are refused so a
/// public key can never serve as an HMAC secret.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return Err("only Ed25519, P-256 and RSA keys are accepted".to_string()),
    };
    match jwk.common.key_algorithm {
        None => Ok(by_type),
        Some(declared) if format!("{declared:?}") == format!("{by_type:?}") => Ok(by_type),
        Some(declared) => Err(format!("`alg` {declared:?} is not allowed for this key")),
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> JwksError {
    JwksError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// A scope a route requires.
pub trait RequiredScope {
    /// The scope's name.
    const SCOPE: &'static str;
}

/// Scope `consents`: a user managing their own consents and reading their access log.
pub struct ConsentsScope;
impl RequiredScope for ConsentsScope {
    const SCOPE: &'static str = "consents";
}

/// Scope `audit`: an auditor.
pub struct AuditScope;
impl RequiredScope for AuditScope {
    const SCOPE: &'static str = "audit";
}

/// A caller authenticated by bearer token and holding scope `S`. Handlers take it as an
/// argument; a user id in a body or path is never trusted over it.
pub struct Authenticated<S: RequiredScope> {
    /// The verified token's principal.
    pub principal: Principal,
    _scope: PhantomData<S>,
}

/// A user (scope `consents`).
pub type User = Authenticated<ConsentsScope>;
/// An auditor (scope `audit`).
pub type Auditor = Authenticated<AuditScope>;

impl<S: RequiredScope> FromRequest for Authenticated<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|principal| {
            if principal.has_scope(S::SCOPE) {
                Ok(Self {
                    principal,
                    _scope: PhantomData,
                })
            } else {
                crate::audit::record_denial(
                    req,
                    crate::audit::denial(
                        req,
                        format!("subject:{}", principal.subject),
                        "insufficient_scope",
                    )
                    .user(principal.subject.clone()),
                );
                Err(ApiError::Forbidden {
                    code: "insufficient_scope",
                    detail: format!("this route needs scope `{}`", S::SCOPE),
                })
            }
        }))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| ApiError::internal("the token verifier is not configured"))?;
    let result = bearer_token(req).and_then(|token| verifier.verify(token));
    result.map_err(|reason| {
        tracing::info!(reason = %reason, path = req.path(), "bearer token refused");
        // The record says that a token was refused, not why: the reason (which check
        // failed) is in the log for operators only.
        crate::audit::record_denial(req, crate::audit::denial(req, "anonymous", "invalid_token"));
        ApiError::Unauthenticated
    })
}

fn bearer_token(req: &HttpRequest) -> Result<&str, TokenError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(TokenError::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    Ok(token.trim())
}
