//! Assembling a running gateway from a configuration: storage, writer, verifiers, and the
//! two listeners. `serve` and the tests start it the same way.

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::audit::{
    AuditRecord, CheckpointSigner, Housekeeping, Kind, RecordAudit, SignerError, read_head,
};
use crate::config::Config;
use crate::db::{Database, DbError};
use crate::directory::Directory;
use crate::http::{self, BankDirectory, JwksError, Metrics, Shared, TokenVerifier, tls::TlsError};
use crate::policy::{PolicyEngine, PolicyError};
use crate::writer::{WriteContext, Writer};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// TLS material is unusable (names the file).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The JWKS is unusable (names the file).
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// The policy set does not load or validate.
    #[error("the policy set is invalid: {0}")]
    Policy(#[from] PolicyError),
    /// The audit signing key is unusable.
    #[error(transparent)]
    AuditKey(#[from] SignerError),
    /// Webhook delivery cannot start (`delivery.ca_file`, a recipient's URL or secret).
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

impl StartError {
    /// Whether the cause is the configuration (exit 2) rather than the environment (exit 1).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Tls(_) | Self::Jwks(_) | Self::Policy(_) | Self::AuditKey(_) | Self::Delivery(_)
        )
    }
}

/// A started gateway. Drive [`RunningGateway::run`] to serve; the addresses are the bound
/// ones (useful when the configuration asked for port 0).
pub struct RunningGateway {
    /// Where banks connect (mutual TLS).
    pub bank_addr: SocketAddr,
    /// Where users, auditors and probes connect.
    pub api_addr: SocketAddr,
    bank_server: Server,
    api_server: Server,
    delivery: crate::delivery::Delivery,
    housekeeping: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    /// Handles that stop the listeners.
    pub fn handles(&self) -> [ServerHandle; 2] {
        [self.bank_server.handle(), self.api_server.handle()]
    }

    /// Serves until both listeners stop.
    pub async fn run(self) -> std::io::Result<()> {
        let (bank, api) = futures_util::future::join(self.bank_server, self.api_server).await;
        self.delivery.stop().await;
        // The timer holds a writer handle; once it is gone the writer thread ends too.
        self.housekeeping.abort();
        bank.and(api)
    }
}

/// Opens storage (applying migrations), starts the writer and binds both listeners.
/// Must be called inside a Tokio runtime (actix's servers spawn onto it).
pub fn start(config: &Config) -> Result<RunningGateway, StartError> {
    let bank_tls = http::tls::bank_server_config(&config.tls)?;
    let api_tls = http::tls::api_server_config(&config.tls)?;
    let tokens = TokenVerifier::load(&config.auth)?;
    let policy = Arc::new(PolicyEngine::load(config.policies.dir.as_deref())?);
    tracing::info!(version = policy.version(), "policy set loaded");
    let signer = Arc::new(CheckpointSigner::load(&config.audit)?);
    let database = Database::open(&config.database)?;
    let mut conn = database.connect()?;
    let tree_size = Arc::new(AtomicU64::new(read_head(&mut conn, false)?.size()));
    drop(conn);
    let writer = Writer::start(
        &database,
        WriteContext {
            policy: Arc::clone(&policy),
            signer: Arc::clone(&signer),
            tree_size: Arc::clone(&tree_size),
        },
    )?;
    record_policy_load(&writer, &policy);
    let housekeeping = spawn_checkpoint_timer(writer.clone());
    let delivery = crate::delivery::Delivery::start(
        &config.delivery,
        &config.recipients,
        database.clone(),
        writer.clone(),
    )?;
    let shared = Shared {
        database: web::Data::new(database),
        writer: web::Data::new(writer),
        metrics: web::Data::new(Metrics::new(tree_size, delivery.metrics())),
        banks: web::Data::new(BankDirectory::new(&config.banks)),
        rate_limits: web::Data::new(http::RateLimits::new(&config.banks)),
        tokens: web::Data::new(tokens),
        policy: web::Data::from(policy),
        directory: web::Data::new(Directory::new(config)),
        signer: web::Data::from(signer),
        backlog: web::Data::from(delivery.backlog()),
    };
    let workers = config
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let bind =
        |addr: SocketAddr| http::bind(addr).map_err(|source| StartError::Bind { addr, source });
    let bank_listener = bind(config.server.bank_listen)?;
    let api_listener = bind(config.server.api_listen)?;
    let bank_addr = local_addr(&bank_listener, config.server.bank_listen)?;
    let api_addr = local_addr(&api_listener, config.server.api_listen)?;
    let bank_server =
        http::bank_server(shared.clone(), bank_listener, bank_tls, workers).map_err(|source| {
            StartError::Bind {
                addr: bank_addr,
                source,
            }
        })?;
    let api_server =
        http::api_server(shared, api_listener, api_tls, workers).map_err(|source| {
            StartError::Bind {
                addr: api_addr,
                source,
            }
        })?;
    Ok(RunningGateway {
        bank_addr,
        api_addr,
        bank_server,
        api_server,
        delivery,
        housekeeping,
    })
}

fn local_addr(
    listener: &std::net::TcpListener,
    configured: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        addr: configured,
        source,
    })
}

/// Records which policy set this node decides with (`policy.loaded`).
fn record_policy_load(writer: &Writer, policy: &PolicyEngine) {
    let record = AuditRecord::new(Kind::PolicyLoaded, "gateway")
        .policy_version(policy.version())
        .detail(serde_json::json!({"summary": policy.summary()}));
    let writer = writer.clone();
    tokio::spawn(async move {
        if let Err(err) = writer.submit(RecordAudit(vec![record])).await {
            tracing::error!(error = %err, "cannot record the policy load");
        }
    });
}

/// Asks the writer every few seconds to sign a checkpoint if records have waited 60 s.
fn spawn_checkpoint_timer(writer: Writer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            ticks.tick().await;
            match writer.submit(Housekeeping).await {
                Ok(_) => {}
                Err(crate::writer::WriteError::Stopped) => break,
                Err(err) => tracing::warn!(error = %err, "periodic checkpoint failed"),
            }
        }
    })
}
