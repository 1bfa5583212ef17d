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
use crate::cli::DevTokenSigner;
use crate::config::Config;
use crate::domain::{BalanceField, TransactionField};
use crate::pki::DevSetup;

/// Grants made at once.
const CONCURRENCY: usize = 16;

/// What users consent to, in turn: purposes and fields (CONTRACT §6), named through the
/// field catalog so that the population can only ask for fields the gateway knows.
const CONSENTS: [Consent; 3] = [
    Consent {
        purposes: &["fraud_alert", "finance_tracking"],
        transaction: &TransactionField::ALL,
        balance: &[BalanceField::AvailableMinor],
    },
    Consent {
        purposes: &["fraud_alert", "customer_service", "finance_tracking"],
        transaction: &[
            TransactionField::AmountMinor,
            TransactionField::Currency,
            TransactionField::MerchantName,
            TransactionField::MerchantCategoryCode,
            TransactionField::Status,
            TransactionField::OccurredAt,
            TransactionField::CardLast4,
        ],
        balance: &[],
    },
    Consent {
        purposes: &["fraud_alert", "customer_service"],
        transaction: &[
            TransactionField::AmountMinor,
            TransactionField::Currency,
            TransactionField::MerchantName,
            TransactionField::MerchantCity,
            TransactionField::MerchantCountry,
            TransactionField::Channel,
            TransactionField::OccurredAt,
        ],
        balance: &[],
    },
];

/// One kind of consent the population grants.
struct Consent {
    purposes: &'static [&'static str],
    transaction: &'static [TransactionField],
    balance: &'static [BalanceField],
}

impl Consent {
    /// The catalog names of its fields, transaction fields first.
    fn fields(&self) -> Vec<&'static str> {
        let transaction = self.transaction.iter().map(|f| f.catalog_name());
        let balance = self.balance.iter().map(|f| f.catalog_name());
        transaction.chain(balance).collect()
    }
}

/// Signs user tokens with the development JWT key.
pub struct Minter(DevTokenSigner);

impl Minter {
    /// The development key and the issuer and audience the gateway expects.
    pub fn load(setup: &DevSetup) -> Result<Self, BenchError> {
        let config = Config::load(&setup.config)
            .map_err(|e| BenchError::Setup(format!("the development configuration: {e}")))?;
        DevTokenSigner::load(&config.auth)
            .map(Self)
            .map_err(|e| BenchError::Setup(e.to_string()))
    }

    fn token(&self, user: &str) -> Result<String, BenchError> {
        self.0
            .mint(user, "consents", Duration::from_secs(600))
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
    // INVARIANT: `index % len` is in range; the `else` is never taken.
    let Some(consent) = CONSENTS.get(index % CONSENTS.len()) else {
        return Err(BenchError::Setup("no consent to grant".to_string()));
    };
    let body = json!({"recipient": RECIPIENT, "bank": BANK,
                      "purposes": consent.purposes, "fields": consent.fields()});
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
