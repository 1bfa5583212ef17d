//! The configuration file (CONTRACT §3): TOML, every key known, relative paths resolved
//! against the file's folder, `CONSENTGATE__SECTION__KEY` overrides from the environment.
//!
//! Loading is split in three steps so each can be tested alone: read the TOML into a value,
//! apply environment overrides onto that value, then deserialize with `deny_unknown_fields`
//! (so a misspelt key anywhere, file or environment, is named in the error).

mod env_override;
mod secret;
mod sections;

use std::path::{Path, PathBuf};

pub use secret::Secret;
pub use sections::{
    AuditConfig, AuthConfig, BankConfig, DatabaseConfig, DeliveryConfig, PoliciesConfig,
    RecipientConfig, RetiredKey, ServerConfig, TlsConfig, webhook_key,
};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen addresses and worker count.
    #[serde(default)]
    pub server: ServerConfig,
    /// Server certificate and the CA bank certificates must chain to.
    pub tls: TlsConfig,
    /// Where the data lives.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// How bearer tokens on the API listener are checked.
    pub auth: AuthConfig,
    /// The audit log's signing key and checkpoint cadence.
    pub audit: AuditConfig,
    /// Where the policy set is read from.
    #[serde(default)]
    pub policies: PoliciesConfig,
    /// Webhook delivery retries and timeouts.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Banks allowed to push data, identified by their certificate's public key pin.
    #[serde(default)]
    pub banks: Vec<BankConfig>,
    /// Recipients data may be released to.
    #[serde(default)]
    pub recipients: Vec<RecipientConfig>,
}

/// Why a configuration could not be used. Every variant names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("configuration file `{path}` is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key is unknown, missing or has the wrong type.
    #[error("configuration key `{key}`: {message}")]
    Key {
        /// The dotted key, e.g. `server.bank_listen`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment variable `{var}`: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// Reads `path`, applies the process environment's overrides and resolves relative paths
    /// against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_toml_str(&text, path, &base, std::env::vars())
    }

    /// Parses configuration text. `origin` names the file in errors; `base` is the folder
    /// relative paths are resolved against; `env` supplies `CONSENTGATE__…` overrides.
    pub fn from_toml_str(
        text: &str,
        origin: &Path,
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.to_path_buf(),
                    message: e.to_string(),
                })?;
        env_override::apply(&mut table, env)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                ConfigError::Key {
                    key: describe_key(&key, &inner.to_string()),
                    message: first_line(&inner.to_string()),
                }
            })?;
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.tls.cert);
        resolve(&mut self.tls.key);
        resolve(&mut self.tls.client_ca);
        self.tls.client_crl.iter_mut().for_each(resolve);
        resolve(&mut self.auth.jwks_file);
        if let Some(p) = self.auth.signing_key.as_mut() {
            resolve(p);
        }
        resolve(&mut self.audit.signing_key);
        self.audit
            .retired_keys
            .iter_mut()
            .for_each(|retired| resolve(&mut retired.public_key));
        if let Some(p) = self.policies.dir.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.delivery.ca_file.as_mut() {
            resolve(p);
        }
        self.database.resolve_sqlite_path(base);
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.audit.validate()?;
        self.delivery.validate()?;
        sections::validate_banks(&self.banks)?;
        sections::validate_recipients(&self.recipients)?;
        Ok(())
    }
}

/// The dotted key an error is about. serde_path_to_error already ends the path with an
/// unknown field's name; the top level has no path, so name the field from the message.
fn describe_key(path: &str, message: &str) -> String {
    if !path.is_empty() && path != "." {
        return path.to_string();
    }
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map_or_else(|| "(top level)".to_string(), str::to_string)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests;
