//! The recipient's side: a webhook endpoint on loopback that answers 204 at once and counts
//! what it received, so that delivery runs during the load as it would in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};

use super::BenchError;

/// A running receiver.
pub struct Receiver {
    /// The webhook URL to configure for the recipient.
    pub url: String,
    received: Arc<AtomicU64>,
    handle: ServerHandle,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves on the current Tokio runtime.
    pub fn start() -> Result<Self, BenchError> {
        let received = Arc::new(AtomicU64::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| BenchError::Setup(format!("cannot bind the webhook receiver: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::Setup(format!("the webhook receiver's address: {e}")))?;
        let counter = Arc::clone(&received);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(Arc::clone(&counter)))
                .route("/webhooks/consentgate", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .map_err(|e| BenchError::Setup(format!("cannot start the webhook receiver: {e}")))?
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url: format!("http://{addr}/webhooks/consentgate"),
            received,
            handle,
        })
    }

    /// Webhooks received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn receive(_body: web::Bytes, received: web::Data<AtomicU64>) -> HttpResponse {
    received.fetch_add(1, Ordering::Relaxed);
    HttpResponse::NoContent().finish()
}
