//! One webhook attempt: the HTTP client (reqwest on rustls), the recipients' URLs and keys, and
//! the signed `POST`.
//!
//! The client trusts the Mozilla roots (`webpki-roots`, the same on every machine) plus the
//! certificates of `delivery.ca_file`. It follows no redirect (a 3xx is a failed attempt: a
//! redirect must not move released data to a URL nobody configured) and uses no proxy from
//! the environment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::DeliveryError;
use super::envelope;
use super::outbox::OutboxEvent;
use super::signature::SigningKeys;
use crate::config::{DeliveryConfig, RecipientConfig, webhook_key};

/// How one attempt went. Never holds the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The recipient answered 2xx.
    Delivered {
        /// The HTTP status.
        status: u16,
    },
    /// The recipient answered something else.
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: the class of error (`timeout`, `connect`, …).
    Failed {
        /// A fixed word, never error text (which may echo URLs or bodies).
        error: &'static str,
    },
}

impl AttemptResult {
    /// Whether the event counts as delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// The audit detail of the attempt: its number, the event type and the status or error
    /// class.
    pub fn detail(&self, attempt: i32, event_type: &str) -> Map<String, Value> {
        let mut detail = Map::new();
        detail.insert("attempt".to_string(), attempt.into());
        detail.insert("type".to_string(), event_type.into());
        match self {
            Self::Delivered { status } | Self::Refused { status } => {
                detail.insert("http_status".to_string(), (*status).into());
            }
            Self::Failed { error } => {
                detail.insert("error".to_string(), (*error).into());
            }
        }
        detail
    }
}

/// A configured recipient, ready to send to.
struct Recipient {
    url: reqwest::Url,
    keys: SigningKeys,
}

/// Sends attempts.
pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
    recipients: HashMap<String, Arc<Recipient>>,
}

impl Sender {
    /// The client and the recipients of the configuration.
    pub fn new(
        config: &DeliveryConfig,
        recipients: &[RecipientConfig],
    ) -> Result<Self, DeliveryError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca_file) = &config.ca_file {
            for cert in crate::http::tls::read_certs(ca_file)? {
                roots.add(cert).map_err(crate::http::tls::TlsError::from)?;
            }
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(crate::http::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(crate::http::tls::TlsError::from)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.timeout)
            .user_agent(concat!("consentgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(DeliveryError::Client)?;
        let mut by_id = HashMap::new();
        for recipient in recipients {
            let url = reqwest::Url::parse(&recipient.webhook_url).map_err(|_| {
                DeliveryError::Recipient {
                    id: recipient.id.clone(),
                    message: "`webhook_url` is not a valid URL",
                }
            })?;
            let keys: Option<Vec<Vec<u8>>> =
                recipient.signing_secret.iter().map(webhook_key).collect();
            let keys = keys
                .and_then(|keys| SigningKeys::new(&keys).ok())
                .ok_or_else(|| DeliveryError::Recipient {
                    id: recipient.id.clone(),
                    message: "`signing_secret` is not a `whsec_` secret",
                })?;
            by_id.insert(recipient.id.clone(), Arc::new(Recipient { url, keys }));
        }
        Ok(Self {
            client,
            timeout: config.timeout,
            recipients: by_id,
        })
    }

    /// Signs and POSTs `event` once, within `delivery.timeout`.
    pub async fn attempt(&self, event: &OutboxEvent) -> AttemptResult {
        let Some(recipient) = self.recipients.get(&event.recipient_id) else {
            // A recipient removed from the configuration: retried (it may come back), then
            // dead-lettered.
            return AttemptResult::Failed {
                error: "unknown_recipient",
            };
        };
        let body = match envelope::body(event) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(error = %err, "cannot build a webhook body");
                return AttemptResult::Failed {
                    error: "corrupt_payload",
                };
            }
        };
        // A fresh timestamp and signature per attempt, the same `webhook-id` and body.
        let timestamp = chrono::Utc::now().timestamp();
        let signature = recipient.keys.sign(&event.event_id, timestamp, &body);
        let sent = self
            .client
            .post(recipient.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", event.event_id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => AttemptResult::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => AttemptResult::Refused {
                status: response.status().as_u16(),
            },
            Err(err) => AttemptResult::Failed {
                error: error_class(&err),
            },
        }
    }
}

/// A fixed word for an error: the audit log and metrics must not carry error text.
fn error_class(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_redirect() {
        "redirect"
    } else if err.is_builder() {
        "invalid_request"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else if err.is_request() {
        "request"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_detail_names_the_attempt_and_the_status_or_error_class_only() {
        let detail = AttemptResult::Refused { status: 503 }.detail(2, "transaction.released");
        assert_eq!(
            Value::Object(detail),
            serde_json::json!({"attempt": 2, "type": "transaction.released", "http_status": 503})
        );
        let detail = AttemptResult::Failed { error: "timeout" }.detail(1, "consent.revoked");
        assert_eq!(
            Value::Object(detail),
            serde_json::json!({"attempt": 1, "type": "consent.revoked", "error": "timeout"})
        );
    }
}
