//! Unauthenticated service endpoints (CONTRACT §10).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection as _;

use super::metrics::Metrics;
use super::problem::ApiError;
use crate::db::Database;
use crate::writer::Writer;

/// `GET /healthz`: the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers, the writer runs and the policies are loaded.
pub async fn readyz(
    database: web::Data<Database>,
    writer: web::Data<Writer>,
) -> Result<HttpResponse, ApiError> {
    if !writer.is_ready() {
        return Err(ApiError::not_ready());
    }
    let answered = web::block(move || -> Result<(), crate::db::DbError> {
        let mut conn = database.get()?;
        conn.batch_execute("SELECT 1")
            .map_err(crate::db::DbError::Query)
    })
    .await;
    match answered {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Ok(Err(cause)) => {
            tracing::warn!(cause = %cause, "readiness check: database unavailable");
            Err(ApiError::not_ready())
        }
        Err(_) => Err(ApiError::not_ready()),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(metrics.render())
}

/// `GET /v1/catalog`: the field catalog and purpose taxonomy of the loaded policy set.
pub async fn catalog(policy: web::Data<crate::policy::PolicyEngine>) -> HttpResponse {
    HttpResponse::Ok().json(policy.catalog().to_json())
}
