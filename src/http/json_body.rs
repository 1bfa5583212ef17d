//! A JSON request body, read with a size limit and answered with problem responses (actix's
//! own `Json` extractor answers its errors in plain text).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt as _;

use super::problem::ApiError;

/// Largest body accepted (CONTRACT §4).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A parsed JSON body, not yet validated (each route parses it into its domain type so
/// that every bad member can be pointed at).
pub struct JsonBody(pub serde_json::Value);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = check_headers(req);
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    tracing::info!(error = %e, "request body could not be read");
                    ApiError::BadRequest("the request body could not be read".to_string())
                })?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge {
                        limit: MAX_BODY_BYTES,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            serde_json::from_slice(&body).map(JsonBody).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })
        })
    }
}

/// Content type must be JSON; a declared length over the limit is refused before reading.
fn check_headers(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" {
        return Err(ApiError::BadRequest(
            "the content type must be `application/json`".to_string(),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}
