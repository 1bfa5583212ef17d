//! Which bank is calling: the public-key pin of the client certificate, captured once per
//! TLS connection and turned into an [`AuthenticatedBank`] by an extractor.
//!
//! The pin is taken from the connection, never from anything the client sends in a request,
//! so every request on a keep-alive (or HTTP/2) connection sees the bank of that connection.

use std::any::Any;
use std::collections::HashMap;
use std::future::{Ready, ready};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{Extensions, Payload};
use actix_web::rt::net::TcpStream;
use actix_web::{FromRequest, HttpRequest, web};

use super::problem::ApiError;
use crate::config::BankConfig;
use crate::domain::BankId;
use crate::pki::spki_sha256;

/// The pin of the peer's certificate (`None` if there was no usable certificate).
#[derive(Clone)]
struct PeerKeyPin(Option<String>);

/// `on_connect` hook of the bank listener: records the client certificate's key pin.
pub fn capture_peer_pin(connection: &dyn Any, extensions: &mut Extensions) {
    let pin = connection
        .downcast_ref::<TlsStream<TcpStream>>()
        .and_then(|tls| tls.get_ref().1.peer_certificates())
        // The client's own certificate is the first one it sends.
        .and_then(|chain| chain.first())
        .and_then(|cert| spki_sha256(cert.as_ref()).ok());
    extensions.insert(PeerKeyPin(pin));
}

/// Registered banks by key pin.
pub struct BankDirectory {
    by_pin: HashMap<String, BankId>,
}

impl BankDirectory {
    /// Indexes the configured banks by each of their pins. Configuration loading already
    /// refuses an invalid bank id; should one get here anyway, that bank is left out (its
    /// certificates authenticate nobody: fail closed) and the omission is logged.
    pub fn new(banks: &[BankConfig]) -> Self {
        let by_pin = banks
            .iter()
            .filter_map(|bank| match BankId::parse(&bank.id) {
                Ok(id) => Some((bank, id)),
                Err(problem) => {
                    tracing::error!(bank = %bank.id, %problem, "bank left out: its id is invalid");
                    None
                }
            })
            .flat_map(|(bank, id)| {
                bank.spki_sha256
                    .iter()
                    .map(move |pin| (pin.clone(), id.clone()))
            })
            .collect();
        Self { by_pin }
    }

    /// The bank a pin belongs to.
    pub fn bank(&self, pin: &str) -> Option<&BankId> {
        self.by_pin.get(pin)
    }
}

/// The bank behind the request's TLS connection. Handlers take it as an argument; a bank id
/// in a path or body is never trusted over it.
#[derive(Debug, Clone)]
pub struct AuthenticatedBank {
    /// The bank's configured id.
    pub id: BankId,
}

impl FromRequest for AuthenticatedBank {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(identify(req))
    }
}

fn identify(req: &HttpRequest) -> Result<AuthenticatedBank, ApiError> {
    let unknown = || ApiError::Forbidden {
        code: "unknown_bank",
        detail: "the client certificate is not registered to any bank".to_string(),
    };
    let pin = req
        .conn_data::<PeerKeyPin>()
        .and_then(|p| p.0.as_deref())
        .ok_or_else(unknown)?;
    let directory = req
        .app_data::<web::Data<BankDirectory>>()
        .ok_or_else(|| ApiError::internal("the bank directory is not configured"))?;
    let Some(id) = directory.bank(pin) else {
        // The pin identifies the certificate to operators without naming anyone.
        crate::audit::record_denial(
            req,
            crate::audit::denial(req, format!("certificate:{pin}"), "unknown_bank"),
        );
        return Err(unknown());
    };
    if let Some(limits) = req.app_data::<web::Data<super::RateLimits>>() {
        limits.admit(id.as_str())?;
    }
    Ok(AuthenticatedBank { id: id.clone() })
}
