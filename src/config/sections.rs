//! One struct per configuration section. Every field is documented and unknown keys are
//! rejected, so the structs are the configuration reference.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{ConfigError, Secret};
use crate::domain::{BankId, RecipientId};

/// `[server]`: the two listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Mutual-TLS listener for banks.
    pub bank_listen: SocketAddr,
    /// TLS listener for users, auditors and service endpoints.
    pub api_listen: SocketAddr,
    /// HTTP worker threads per listener; defaults to the number of cores.
    pub workers: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bank_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            workers: None,
        }
    }
}

impl ServerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.workers == Some(0) {
            return Err(key_error("server.workers", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[tls]`: the server's certificate and the trust anchors for bank certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// The server certificate's private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA certificate(s) bank client certificates must chain to (PEM).
    pub client_ca: PathBuf,
    /// CRLs (PEM); a bank certificate they revoke fails the handshake.
    #[serde(default)]
    pub client_crl: Vec<PathBuf>,
}

/// `[database]`: `sqlite://PATH` (the embedded default) or `postgres://…`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connection URL; its scheme picks the backend.
    pub url: Secret,
    /// Connections in the read pool (the writer has its own).
    pub pool_size: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://data/consentgate.db"),
            pool_size: 8,
        }
    }
}

impl DatabaseConfig {
    /// A relative SQLite path is relative to the configuration file, like every other path.
    pub(super) fn resolve_sqlite_path(&mut self, base: &Path) {
        let Some(path) = self.url.expose().strip_prefix("sqlite://") else {
            return;
        };
        if Path::new(path).is_relative() {
            let resolved = base.join(path);
            self.url = Secret::new(format!("sqlite://{}", resolved.display()));
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let url = self.url.expose();
        if !(url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(key_error(
                "database.url",
                "must start with `sqlite://`, `postgres://` or `postgresql://`",
            ));
        }
        if self.pool_size == 0 {
            return Err(key_error("database.pool_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[auth]`: bearer tokens on the API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Required `iss` claim.
    pub issuer: String,
    /// Value the `aud` claim must contain.
    pub audience: String,
    /// JSON Web Key Set whose keys verify tokens, chosen by `kid`.
    pub jwks_file: PathBuf,
    /// Development only: an Ed25519 key `consentgate token` signs with.
    pub signing_key: Option<PathBuf>,
}

/// `[audit]`: the tamper-evident log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Ed25519 key (PKCS#8 PEM) that signs checkpoints.
    pub signing_key: PathBuf,
    /// Checkpoint origin line and note key name, e.g. `consentgate/dev`.
    pub origin: String,
    /// Records between signed checkpoints.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// The audit keys that signed this log before the current one (`operations.md`,
    /// "Rotating the audit key"), each trusted up to the size it last signed.
    #[serde(default)]
    pub retired_keys: Vec<RetiredKey>,
}

/// An audit key retired from signing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKey {
    /// Its public half (SPKI PEM, `BEGIN PUBLIC KEY`).
    pub public_key: PathBuf,
    /// The size of the last checkpoint it signed: online verification accepts its signature
    /// on no checkpoint beyond, so whoever kept the private key cannot extend the log with it.
    pub until_size: u64,
}

fn default_checkpoint_every() -> u64 {
    1000
}

impl AuditConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.checkpoint_every == 0 {
            return Err(key_error("audit.checkpoint_every", "must be at least 1"));
        }
        if self.origin.trim().is_empty() || self.origin.contains('\n') {
            return Err(key_error("audit.origin", "must be one non-empty line"));
        }
        Ok(())
    }
}

/// `[policies]`: the policy set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// Folder with the catalog and `*.cedar` files; absent: the set built into the binary.
    pub dir: Option<PathBuf>,
}

/// `[delivery]`: webhook retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before an event is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles after each one, with jitter.
    #[serde(deserialize_with = "duration")]
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    #[serde(deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// Time allowed for one attempt.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Extra roots trusted for `https` webhook URLs.
    pub ca_file: Option<PathBuf>,
    /// Events waiting for delivery (all nodes) at which ingest is refused with `503` until
    /// delivery catches up (back-pressure; `src/delivery/backlog.rs`).
    pub max_backlog: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            ca_file: None,
            max_backlog: 1_000_000,
        }
    }
}

impl DeliveryConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(key_error("delivery.max_attempts", "must be at least 1"));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(key_error(
                "delivery.initial_backoff",
                "must not exceed `delivery.max_backoff`",
            ));
        }
        if self.timeout.is_zero() {
            return Err(key_error("delivery.timeout", "must be more than zero"));
        }
        if self.max_backlog == 0 {
            return Err(key_error("delivery.max_backlog", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[[banks]]`: a bank allowed to push data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    /// Stable id, used in audit records and consents.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercase hex SHA-256 pins of the bank's certificate public keys; two during a
    /// key rotation.
    pub spki_sha256: Vec<String>,
    /// Requests per second the bank may make (with a burst of twice that); above it, `429`
    /// with `Retry-After`. Absent: no limit.
    #[serde(default)]
    pub max_requests_per_second: Option<u32>,
}

/// `[[recipients]]`: a platform data may be released to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    /// Stable id, named in consents.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where release events are POSTed.
    pub webhook_url: String,
    /// Standard Webhooks secrets (`whsec_…`); two while rotating, both sign.
    #[serde(deserialize_with = "one_or_two_secrets")]
    pub signing_secret: Vec<Secret>,
}

pub(super) fn validate_banks(banks: &[BankConfig]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    let mut pins = HashSet::new();
    for (i, bank) in banks.iter().enumerate() {
        operator_id(&format!("banks[{i}].id"), &bank.id, BankId::parse, &mut ids)?;
        if bank.spki_sha256.is_empty() || bank.spki_sha256.len() > 2 {
            return Err(key_error(
                &format!("banks[{i}].spki_sha256"),
                "must list one or two pins",
            ));
        }
        for pin in &bank.spki_sha256 {
            let well_formed =
                pin.len() == 64 && pin.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !well_formed {
                return Err(key_error(
                    &format!("banks[{i}].spki_sha256"),
                    "each pin must be 64 lowercase hex characters",
                ));
            }
            // INVARIANT: one pin names one bank, or a certificate could act as two banks.
            if !pins.insert(pin.as_str()) {
                return Err(key_error(
                    &format!("banks[{i}].spki_sha256"),
                    "a pin is listed for two banks",
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn validate_recipients(recipients: &[RecipientConfig]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    for (i, recipient) in recipients.iter().enumerate() {
        operator_id(
            &format!("recipients[{i}].id"),
            &recipient.id,
            RecipientId::parse,
            &mut ids,
        )?;
        let url = recipient.webhook_url.as_str();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(key_error(
                &format!("recipients[{i}].webhook_url"),
                "must be an `http://` or `https://` URL",
            ));
        }
        for secret in &recipient.signing_secret {
            if webhook_key(secret).is_none() {
                return Err(key_error(
                    &format!("recipients[{i}].signing_secret"),
                    "must be `whsec_` followed by base64 of 24 to 64 bytes",
                ));
            }
        }
    }
    Ok(())
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`.
pub fn webhook_key(secret: &Secret) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let encoded = secret.expose().strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

/// Checks the id at `key`: ids configured by operators follow the rule of ids in bank
/// payloads (`parse`), and each is listed once (`seen` holds those before it).
fn operator_id<'a, T>(
    key: &str,
    id: &'a str,
    parse: fn(&str) -> Result<T, String>,
    seen: &mut HashSet<&'a str>,
) -> Result<(), ConfigError> {
    if parse(id).is_err() {
        return Err(key_error(key, "must be 1-64 characters of `A-Za-z0-9._:-`"));
    }
    if !seen.insert(id) {
        return Err(key_error(key, &format!("`{id}` is listed twice")));
    }
    Ok(())
}

fn key_error(key: &str, message: &str) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.to_string(),
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration: {e}")))
}

fn one_or_two_secrets<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Secret),
        Many(Vec<Secret>),
    }
    let secrets = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(secret) => vec![secret],
        OneOrMany::Many(secrets) => secrets,
    };
    if secrets.is_empty() || secrets.len() > 2 {
        return Err(serde::de::Error::custom(
            "must be one secret or a list of two",
        ));
    }
    Ok(secrets)
}
