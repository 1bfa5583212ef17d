//! The two HTTPS listeners: the bank listener (mutual TLS) and the API listener (TLS).
//!
//! They are two actix servers with disjoint routes, so a route of one can never be reached
//! through the other, and the bank listener never serves a request without a verified
//! client certificate.

mod auth;
mod bank_identity;
mod json_body;
mod metrics;
mod problem;
mod rate_limit;
mod service_routes;
pub mod tls;

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

pub use auth::{Auditor, Authenticated, JwksError, Principal, TokenVerifier, User};
pub use bank_identity::{AuthenticatedBank, BankDirectory};
pub use json_body::{JsonBody, MAX_BODY_BYTES};
pub use metrics::Metrics;
pub use problem::ApiError;
pub use rate_limit::RateLimits;

use crate::audit::routes as audit;
use crate::consent;
use crate::db::Database;
use crate::writer::Writer;

/// Everything handlers share, created once and cloned (cheaply) into each worker's app.
#[derive(Clone)]
pub struct Shared {
    /// Read pool.
    pub database: web::Data<Database>,
    /// The group-commit writer.
    pub writer: web::Data<Writer>,
    /// Counters and histograms.
    pub metrics: web::Data<Metrics>,
    /// Registered banks by key pin.
    pub banks: web::Data<BankDirectory>,
    /// Per-bank request rate limits.
    pub rate_limits: web::Data<RateLimits>,
    /// Bearer-token verifier.
    pub tokens: web::Data<TokenVerifier>,
    /// The loaded policy set (catalog, Cedar policies, decision cache).
    pub policy: web::Data<crate::policy::PolicyEngine>,
    /// Configured banks and recipients.
    pub directory: web::Data<crate::directory::Directory>,
    /// Signs audit checkpoints (and publishes its public key).
    pub signer: web::Data<crate::audit::CheckpointSigner>,
    /// Events waiting for delivery, against `delivery.max_backlog` (ingest back-pressure).
    pub backlog: web::Data<crate::delivery::backlog::Backlog>,
}

/// Starts the bank listener on `listener` with `tls`; requests get the caller's bank from
/// its certificate.
pub fn bank_server(
    shared: Shared,
    listener: TcpListener,
    tls: rustls::ServerConfig,
    workers: usize,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.database.clone())
            .app_data(shared.policy.clone())
            .app_data(shared.writer.clone())
            .app_data(shared.metrics.clone())
            .app_data(shared.banks.clone())
            .app_data(shared.rate_limits.clone())
            .app_data(shared.backlog.clone())
            .wrap(from_fn(metrics::record_bank))
            .service(
                web::resource("/v1/transactions")
                    .route(web::post().to(crate::ingest::post::<crate::domain::Transaction>))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/v1/balances")
                    .route(web::post().to(crate::ingest::post::<crate::domain::Balance>))
                    .default_service(only("POST")),
            )
            .default_service(web::to(not_found))
    })
    .on_connect(bank_identity::capture_peer_pin)
    .workers(workers)
    .listen_rustls_0_23(listener, tls)?
    .disable_signals()
    .run();
    Ok(server)
}

/// Starts the API listener: service endpoints, and the user and auditor routes.
pub fn api_server(
    shared: Shared,
    listener: TcpListener,
    tls: rustls::ServerConfig,
    workers: usize,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(query_errors())
            .app_data(path_errors())
            .app_data(shared.database.clone())
            .app_data(shared.writer.clone())
            .app_data(shared.metrics.clone())
            .app_data(shared.tokens.clone())
            .app_data(shared.policy.clone())
            .app_data(shared.directory.clone())
            .app_data(shared.signer.clone())
            .wrap(from_fn(metrics::record_api))
            .service(get_only("/healthz", web::get().to(service_routes::healthz)))
            .service(get_only("/readyz", web::get().to(service_routes::readyz)))
            .service(get_only("/metrics", web::get().to(service_routes::metrics)))
            .service(get_only(
                "/v1/catalog",
                web::get().to(service_routes::catalog),
            ))
            .service(
                web::resource("/v1/consents")
                    .route(web::post().to(consent::grant))
                    .route(web::get().to(consent::list))
                    .default_service(only("GET, POST")),
            )
            .service(
                web::resource("/v1/consents/preview")
                    .route(web::post().to(consent::preview))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/v1/consents/{id}")
                    .route(web::get().to(consent::get))
                    .route(web::delete().to(consent::revoke))
                    .default_service(only("GET, DELETE")),
            )
            .service(get_only("/v1/audit/records", web::get().to(audit::records)))
            .service(get_only(
                "/v1/audit/checkpoint",
                web::get().to(audit::checkpoint),
            ))
            .service(get_only(
                "/v1/audit/checkpoints",
                web::get().to(audit::checkpoints),
            ))
            .service(get_only(
                "/v1/audit/proof/inclusion",
                web::get().to(audit::inclusion),
            ))
            .service(get_only(
                "/v1/audit/proof/consistency",
                web::get().to(audit::consistency),
            ))
            .service(get_only(
                "/v1/audit/reports/purposes",
                web::get().to(audit::purposes_report),
            ))
            .service(get_only("/v1/audit/verify", web::get().to(audit::verify)))
            .service(get_only(
                "/v1/audit/public-key",
                web::get().to(audit::public_key),
            ))
            .service(get_only(
                "/v1/me/access-log",
                web::get().to(audit::access_log),
            ))
            .service(get_only(
                "/v1/me/proof/{index}",
                web::get().to(audit::my_proof),
            ))
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .listen_rustls_0_23(listener, tls)?
    .disable_signals()
    .run();
    Ok(server)
}

/// Binds a listener (port 0 picks a free port; the caller reads it back).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".to_string()))
}

/// A malformed query string (a repeated or mistyped parameter) is a 400 problem, never
/// actix's plain-text answer with the deserializer's message.
fn query_errors() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| malformed_query(&err).into())
}

/// The 400 for a query string that does not deserialize, naming the parameter when serde
/// does (`duplicate field `limit``). The name comes from the handler's own query struct,
/// never from the client's text, and the deserializer's wording is not passed on.
pub fn malformed_query(err: &impl std::fmt::Display) -> ApiError {
    let message = err.to_string();
    tracing::info!(error = %message, "malformed query string");
    // Only these messages name a field of the struct; others (`unknown variant `x``) would
    // quote the client's value.
    let named = ["duplicate field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.split_once(prefix))
        .and_then(|(_, rest)| rest.split('`').next())
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
    ApiError::BadRequest(match named {
        Some(name) => {
            format!("the query string is malformed: parameter `{name}` is repeated or malformed")
        }
        None => "the query string is malformed".to_string(),
    })
}

/// Likewise for a path segment that does not deserialize.
fn path_errors() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        tracing::info!(error = %err, "malformed path");
        ApiError::NotFound("no such resource".to_string()).into()
    })
}

/// The 405 answer of a resource that takes only `allow`.
fn only(allow: &'static str) -> actix_web::Route {
    web::to(move || async move {
        Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    })
}

/// A resource answering GET with `route` and 405 otherwise.
fn get_only(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(only("GET"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read by serde only
    struct Query {
        limit: Option<String>,
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
    }

    fn detail(query: &str) -> String {
        let err = web::Query::<Query>::from_query(query).unwrap_err();
        match malformed_query(&err) {
            ApiError::BadRequest(detail) => detail,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_parameter_is_named_and_a_client_value_is_never_echoed() {
        assert_eq!(
            detail("limit=1&limit=2"),
            "the query string is malformed: parameter `limit` is repeated or malformed"
        );
        let unknown = detail("mode=sneaky_value");
        assert!(!unknown.contains("sneaky_value"), "{unknown}");
        assert_eq!(unknown, "the query string is malformed");
    }
}
