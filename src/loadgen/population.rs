//! The users: each grants one consent through the real consent API (`POST /v1/consents`
//! with their own JWT) before the load starts, so that every transaction is decided against
//! a live consent, released for two or three purposes and delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::BenchError;
use super::content::user_id;
use super::workspace::{BANK, RECIPIENT};
use crate::config::Config;
use crate::pki::{DevSetup, Ed25519Key};

/// Grants made at once.
const CONCURRENCY: usize = 16;

/// What users consent to, in turn: purposes and fields (CONTRACT §6).
const CONSENTS: [(&[&str], &[&str]); 3] = [
    (
        &["fraud_alert", "finance_tracking"],
        &[
            "transaction.amount_minor",
            "transaction.currency",
            "transaction.merchant_name",
            "transaction.merchant_category_code",
            "transaction.merchant_city",
            "transaction.merchant_country",
            "transaction.card_last4",
            "transaction.channel",
            "transaction.status",
            "transaction.occurred_at",
            "balance.available_minor",
        ],
    ),
    (
        &["fraud_alert", "customer_service", "finance_tracking"],
        &[
            "transaction.amount_minor",
            "transaction.currency",
            "transaction.merchant_name",
            "transaction.merchant_category_code",
            "transaction.status",
            "transaction.occurred_at",
            "transaction.card_last4",
        ],
    ),
    (
        &["fraud_alert", "customer_service"],
        &[
            "transaction.amount_minor",
            "transaction.currency",
            "transaction.merchant_name",
            "transaction.merchant_city",
            "transaction.merchant_country",
            "transaction.channel",
            "transaction.occurred_at",
        ],
    ),
];

/// Signs user tokens with the development JWT key.
pub struct Minter {
    key_pem: String,
    kid: String,
    issuer: String,
    audience: String,
}

impl Minter {
    /// The development key and the issuer and audience the gateway expects.
    pub fn load(setup: &DevSetup) -> Result<Self, BenchError> {
        let config = Config::load(&setup.config)
            .map_err(|e| BenchError::Setup(format!("the development configuration: {e}")))?;
        let key_path = setup.dir.join("jwt.key");
        let key_pem = std::fs::read_to_string(&key_path)
            .map_err(|e| BenchError::Setup(format!("`{}`: {e}", key_path.display())))?;
        let kid = Ed25519Key::from_pkcs8_pem(&key_pem)
            .map_err(|e| BenchError::Setup(format!("`{}`: {e}", key_path.display())))?
            .kid();
        Ok(Self {
            key_pem,
            kid,
            issuer: config.auth.issuer,
            audience: config.auth.audience,
        })
    }

    fn token(&self, user: &str) -> Result<String, BenchError> {
        crate::cli::mint_dev_token(
            &self.key_pem,
            &self.kid,
            &self.issuer,
            &self.audience,
            user,
            "consents",
            Duration::from_secs(600),
        )
        .map_err(|e| BenchError::Setup(format!("cannot sign a user token: {e}")))
    }
}

/// Grants one consent for each of `users` users, [`CONCURRENCY`] at a time; returns how long
/// it took. Any answer but 201 fails the run.
pub async fn grant(
    client: &reqwest::Client,
    api_url: &str,
    minter: Arc<Minter>,
    users: usize,
) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{api_url}/v1/consents"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY.min(users) {
        let (client, url, next, minter) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&next),
            Arc::clone(&minter),
        );
        tasks.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= users {
                    return Ok(());
                }
                grant_one(&client, &url, &minter, index).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Setup(format!("a consent task failed: {e}")))??;
    }
    Ok(started.elapsed())
}

async fn grant_one(
    client: &reqwest::Client,
    url: &str,
    minter: &Minter,
    index: usize,
) -> Result<(), BenchError> {
    let user = user_id(index);
    let (purposes, fields) = CONSENTS
        .get(index % CONSENTS.len())
        .copied()
        .unwrap_or((&["fraud_alert"], &["transaction.amount_minor"]));
    let body =
        json!({"recipient": RECIPIENT, "bank": BANK, "purposes": purposes, "fields": fields});
    let response = client
        .post(url)
        .bearer_auth(minter.token(&user)?)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| BenchError::Setup(format!("granting a consent for `{user}`: {e}")))?;
    let status = response.status();
    if status.as_u16() != 201 {
        let text = response.text().await.unwrap_or_default();
        return Err(BenchError::Setup(format!(
            "granting a consent for `{user}` answered {status}: {text}"
        )));
    }
    Ok(())
}
