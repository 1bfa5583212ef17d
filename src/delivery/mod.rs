//! Webhook delivery (CONTRACT §8, DESIGN §6): release events wait in the transactional outbox
//! (`outbox_events`), a worker claims the due ones, signs them per Standard Webhooks 1.0,
//! POSTs them to the recipient, and records every attempt with its audit record in one writer
//! transaction; failures are retried with back-off and jitter, then dead-lettered.
//!
//! Pieces: [`outbox`] (states, claims, outcomes), [`sender`] (the HTTP client and one
//! attempt), [`signature`], [`envelope`] (the body), [`backoff`], [`worker`] (the task),
//! [`metrics`]. `docs/delivery.md` describes the behaviour for operators and recipients.

pub mod backlog;
pub mod backoff;
pub mod envelope;
pub mod metrics;
pub mod outbox;
pub mod sender;
pub mod signature;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use metrics::DeliveryMetrics;
pub use worker::CONCURRENCY;

use crate::config::{DeliveryConfig, RecipientConfig};
use crate::db::{Database, DbError};
use crate::http::tls::TlsError;
use crate::time::now_micros;
use crate::writer::Writer;

/// Why delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// `delivery.ca_file` is unusable (names the file).
    #[error("delivery.ca_file: {0}")]
    Tls(#[from] TlsError),
    /// The HTTP client could not be built.
    #[error("cannot build the webhook client: {0}")]
    Client(#[source] reqwest::Error),
    /// The backlog's counting thread could not start.
    #[error("cannot start counting the delivery backlog: {0}")]
    Backlog(#[source] DbError),
    /// A recipient's settings are unusable.
    #[error("recipient `{id}`: {message}")]
    Recipient {
        /// The recipient.
        id: String,
        /// What is wrong.
        message: &'static str,
    },
}

/// The running delivery worker. Dropping it stops the worker too (without waiting).
pub struct Delivery {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    metrics: Arc<DeliveryMetrics>,
    backlog: Arc<backlog::Backlog>,
    /// The backlog's counting thread; stops when dropped.
    counting: crate::db::periodic::Periodic,
}

impl Delivery {
    /// Starts the worker. Must be called inside a Tokio runtime.
    pub fn start(
        config: &DeliveryConfig,
        recipients: &[RecipientConfig],
        database: Database,
        writer: Writer,
    ) -> Result<Self, DeliveryError> {
        let metrics = Arc::new(DeliveryMetrics::default());
        let (backlog, counting) =
            backlog::watch(database.clone(), config.max_backlog, Arc::clone(&metrics))
                .map_err(DeliveryError::Backlog)?;
        let context = Arc::new(worker::Context {
            database,
            writer,
            sender: sender::Sender::new(config, recipients)?,
            backoff: backoff::Backoff::new(config.initial_backoff, config.max_backoff),
            max_attempts: config.max_attempts,
            lease: worker::lease(config.timeout),
            timeout: config.timeout,
            metrics: Arc::clone(&metrics),
            attempt_micros: std::sync::atomic::AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(worker::run(context, stopped));
        Ok(Self {
            stop,
            task,
            metrics,
            backlog,
            counting,
        })
    }

    /// The backlog ingest checks before it stores a batch.
    pub fn backlog(&self) -> Arc<backlog::Backlog> {
        Arc::clone(&self.backlog)
    }

    /// The node's delivery counters (render with [`DeliveryMetrics::render`]).
    pub fn metrics(&self) -> Arc<DeliveryMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Stops claiming, and returns once the attempts in flight are recorded (each is bounded
    /// by `delivery.timeout`).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the delivery worker failed");
        }
        // Dropping the handle joins the counting thread, which may be in the middle of a
        // count or of connecting to an unreachable database: not on a runtime thread.
        let counting = self.counting;
        let _ = tokio::task::spawn_blocking(move || drop(counting)).await;
    }
}

/// How often a revocation looks whether the attempts it waits for have ended.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(20);

/// Returns once no attempt is in flight for an event of `consent_id` that a revocation
/// cancelled: each such attempt has been recorded, or its lease (which outlasts the attempt's
/// timeout) has ended. After a revocation commits, calling this before answering makes the
/// answer mean "nothing more is sent under this consent" (see `docs/delivery.md`).
pub async fn await_attempts_in_flight(
    database: &Database,
    consent_id: &str,
) -> Result<(), DbError> {
    // The attempts waited for are of cancelled rows, which keep their epochs until released,
    // and no new one appears under a revoked consent: the epochs are listed once.
    let mut epochs: Option<Arc<outbox::LiveEpochs>> = None;
    loop {
        let database = database.clone();
        let consent_id = consent_id.to_string();
        let listed = epochs.clone();
        let (listed, until) = tokio::task::spawn_blocking(move || {
            let mut conn = database.get()?;
            let epochs = match listed {
                Some(epochs) => epochs,
                None => Arc::new(outbox::LiveEpochs::read(&mut conn)?),
            };
            let until = outbox::in_flight_until(&mut conn, &epochs, &consent_id)?;
            Ok::<_, DbError>((epochs, until))
        })
        .await
        .map_err(|e| DbError::Corrupt(format!("in-flight lookup task failed: {e}")))??;
        epochs = Some(listed);
        let now = now_micros();
        match until {
            Some(until) if until > now => {
                let left = Duration::from_micros(u64::try_from(until - now).unwrap_or(0));
                tokio::time::sleep(left.min(IN_FLIGHT_POLL)).await;
            }
            _ => return Ok(()),
        }
    }
}
