//! The one error envelope: RFC 9457 problem details (CONTRACT §4), and the one place that
//! maps errors to HTTP. A 5xx never carries internal detail; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::FieldError;

/// Base of every problem `type` URI.
const TYPE_BASE: &str = "https://consentgate.dev/errors/";

/// Everything a handler can answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON, or not the content type the route takes.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid bearer token.
    #[error("authentication failed")]
    Unauthenticated,
    /// 403 with a code (`unknown_bank`, `insufficient_scope`).
    #[error("{detail}")]
    Forbidden {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// 404 (also for another user's resources: never confirm they exist).
    #[error("{0}")]
    NotFound(String),
    /// 405 for a known path with another method; `allow` lists the methods it takes.
    #[error("this route only takes {allow}")]
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: &'static str,
    },
    /// 409: a key was re-sent with different content.
    #[error("{detail}")]
    Conflict {
        /// Explanation.
        detail: String,
        /// The members in conflict.
        errors: Vec<FieldError>,
    },
    /// 413: the body is over the limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 422 with a code and a pointer to every bad member.
    #[error("{detail}")]
    Unprocessable {
        /// Machine-readable code (`invalid_field`, `batch_too_large`, …).
        code: &'static str,
        /// Explanation.
        detail: String,
        /// Every bad member.
        errors: Vec<FieldError>,
    },
    /// 429: a bank exceeded its configured rate; retry after `retry_after` seconds.
    #[error("too many requests: this bank's rate limit is exceeded")]
    TooManyRequests {
        /// Seconds until a request is admitted again.
        retry_after: u64,
    },
    /// 503: the gateway cannot serve this now (database down, writer stopped; see
    /// [`ApiError::not_ready`]), or ingest is held back ([`ApiError::backlog_full`]).
    #[error("{detail}")]
    NotReady {
        /// Seconds the client should wait (`Retry-After`).
        retry_after: u64,
        /// What the client is told.
        detail: &'static str,
    },
    /// 500: a fault of ours. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 503: the database does not answer or the writer is stopped; retry after a second.
    pub fn not_ready() -> Self {
        Self::NotReady {
            retry_after: 1,
            detail: "the gateway cannot serve requests right now; retry later",
        }
    }

    /// A 503 on ingest: more events wait for delivery than `delivery.max_backlog`; nothing
    /// was stored.
    pub fn backlog_full() -> Self {
        Self::NotReady {
            retry_after: crate::delivery::backlog::RETRY_AFTER_SECS,
            detail: "more released events wait for delivery than the gateway holds; nothing was stored; retry later",
        }
    }

    /// A 500 whose cause is logged when the response is built.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated => "invalid_token",
            Self::Forbidden { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::NotReady { .. } => "not_ready",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Bad request",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::Unprocessable { .. } => "Validation failed",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::NotReady { .. } => "Not ready",
            Self::Internal(_) => "Internal error",
        }
    }

    /// What the client may read. Internal causes are replaced by a generic sentence.
    fn public_detail(&self) -> String {
        match self {
            Self::Unauthenticated => "a valid bearer token is required".to_string(),
            Self::Internal(_) => {
                "the gateway failed to handle the request; it has been logged".to_string()
            }
            other => other.to_string(),
        }
    }

    fn errors(&self) -> &[FieldError] {
        match self {
            Self::Conflict { errors, .. } | Self::Unprocessable { errors, .. } => errors,
            _ => &[],
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(cause = %cause, "request failed");
        }
        let status = self.status_code();
        let code = self.code();
        let body = ProblemBody {
            kind: format!("{TYPE_BASE}{code}"),
            title: self.title(),
            status: status.as_u16(),
            detail: self.public_detail(),
            code,
            errors: self.errors(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            Self::Unauthenticated => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            Self::Forbidden {
                code: "insufficient_scope",
                ..
            } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                ));
            }
            Self::TooManyRequests { retry_after } | Self::NotReady { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            _ => {}
        }
        // Serializing this struct cannot fail; fall back to an empty body rather than panic.
        response.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl From<crate::writer::WriteError> for ApiError {
    fn from(err: crate::writer::WriteError) -> Self {
        match err {
            crate::writer::WriteError::Stopped | crate::writer::WriteError::Unavailable => {
                Self::not_ready()
            }
            crate::writer::WriteError::Failed(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        match err {
            crate::db::DbError::Pool(cause) => {
                tracing::error!(cause = %cause, "no database connection");
                Self::not_ready()
            }
            other => Self::internal(other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::internal(err)
    }
}
