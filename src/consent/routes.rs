//! The consent API (CONTRACT §7). The owner is always the token's `sub`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::model::ConsentStatus;
use super::request::GrantRequest;
use super::store::{self, GrantConsent, RevokeConsent, RevokeOutcome};
use crate::db::Database;
use crate::directory::Directory;
use crate::http::{ApiError, JsonBody, User};
use crate::policy::{ConsentView as PolicyConsent, PolicyEngine, RecordKind, WithholdReason};
use crate::time::now_micros;
use crate::writer::Writer;

/// `POST /v1/consents`.
pub async fn grant(
    req: HttpRequest,
    user: User,
    body: JsonBody,
    policy: web::Data<PolicyEngine>,
    directory: web::Data<Directory>,
    writer: web::Data<Writer>,
) -> Result<HttpResponse, ApiError> {
    let request = parse_or_record(&req, &user, &body.0, &policy, &directory).await?;
    let consent = writer
        .submit(GrantConsent {
            user_id: user.principal.subject,
            request,
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/consents/{}", consent.id)))
        .json(consent.view(now_micros())))
}

#[derive(Serialize)]
struct PreviewBody {
    purposes: Vec<PurposePreview>,
}

#[derive(Serialize)]
struct PurposePreview {
    purpose: String,
    released: Vec<String>,
    withheld: Vec<Withheld>,
}

/// A field kept back, and the first reason why.
#[derive(Debug, Clone, Serialize)]
pub struct Withheld {
    /// Catalog name.
    pub field: String,
    /// The first reason that applies.
    pub reason: WithholdReason,
}

/// `POST /v1/consents/preview`: what each purpose would receive under the live policy, for
/// the fields the request lists. Creates nothing.
pub async fn preview(
    req: HttpRequest,
    user: User,
    body: JsonBody,
    policy: web::Data<PolicyEngine>,
    directory: web::Data<Directory>,
) -> Result<HttpResponse, ApiError> {
    let request = parse_or_record(&req, &user, &body.0, &policy, &directory).await?;
    let purposes: Vec<String> = request
        .purposes
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    let consent = PolicyConsent {
        id: "preview",
        version: 0,
        fields: &request.fields,
        purposes: &purposes,
    };
    let catalog = policy.catalog();
    let mut previews = Vec::new();
    for purpose in &purposes {
        let mut released = Vec::new();
        let mut withheld = Vec::new();
        for kind in RecordKind::ALL {
            let mask =
                policy.decide_fresh(&request.recipient, &request.bank, kind, purpose, &consent);
            for (index, field) in catalog.fields(kind).iter().enumerate() {
                if !request.fields.contains(field) {
                    continue;
                }
                match mask.reason(index) {
                    None => released.push(field.clone()),
                    Some(reason) => withheld.push(Withheld {
                        field: field.clone(),
                        reason,
                    }),
                }
            }
        }
        previews.push(PurposePreview {
            purpose: purpose.clone(),
            released,
            withheld,
        });
    }
    Ok(HttpResponse::Ok().json(PreviewBody { purposes: previews }))
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /v1/consents[?status=]`: the caller's consents, newest first.
pub async fn list(
    user: User,
    query: web::Query<ListQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let filter = match query.status.as_deref() {
        None => None,
        Some(value) => Some(ConsentStatus::parse(value).ok_or_else(|| {
            crate::audit::routes::bad_parameter(
                "status",
                "must be `active`, `revoked` or `expired`",
            )
        })?),
    };
    let user_id = user.principal.subject;
    let consents = web::block(move || {
        let mut conn = database.get()?;
        store::list_for_user(&mut conn, &user_id)
    })
    .await??;
    let now = now_micros();
    let views: Vec<_> = consents
        .iter()
        .filter(|c| filter.is_none_or(|f| c.status(now) == f))
        .map(|c| c.view(now))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "consents": views })))
}

/// `GET /v1/consents/{id}`: one of the caller's consents; another user's is 404.
pub async fn get(
    user: User,
    id: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let user_id = user.principal.subject;
    let id = id.into_inner();
    let consent = web::block(move || {
        let mut conn = database.get()?;
        store::find_for_user(&mut conn, &user_id, &id)
    })
    .await??;
    match consent {
        Some(consent) => Ok(HttpResponse::Ok().json(consent.view(now_micros()))),
        None => Err(not_found()),
    }
}

/// `DELETE /v1/consents/{id}`: revokes; a second call answers the same body.
///
/// Answers only once no webhook attempt under the consent is still in flight (one claimed
/// before the revocation committed), so that "revoked" means nothing more is sent under it but
/// the `consent.revoked` notice. The wait is bounded by `delivery.timeout` plus a margin, and
/// a repeated DELETE waits again.
pub async fn revoke(
    user: User,
    id: web::Path<String>,
    writer: web::Data<Writer>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let outcome = writer
        .submit(RevokeConsent {
            user_id: user.principal.subject,
            id: id.into_inner(),
        })
        .await?;
    match outcome {
        RevokeOutcome::Revoked(consent) => {
            crate::delivery::await_attempts_in_flight(&database, &consent.id).await?;
            Ok(HttpResponse::Ok().json(consent.view(now_micros())))
        }
        RevokeOutcome::NotFound => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such consent".to_string())
}

/// Parses a grant or preview body; a request naming a prohibited purpose is refused AND
/// recorded (`access.denied`, with the purpose), so auditors can count the attempts.
async fn parse_or_record(
    req: &HttpRequest,
    user: &User,
    body: &serde_json::Value,
    policy: &PolicyEngine,
    directory: &Directory,
) -> Result<GrantRequest, ApiError> {
    let parsed = GrantRequest::parse(body, policy.catalog(), directory, chrono::Utc::now());
    if let Err(ApiError::Unprocessable {
        code: "forbidden_purpose",
        ..
    }) = &parsed
    {
        let attempted: Vec<String> = body["purposes"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| p.as_str())
                    .filter(|p| crate::policy::is_prohibited(p, policy.catalog()))
                    .map(|p| p.trim().to_lowercase().chars().take(64).collect())
                    .collect()
            })
            .unwrap_or_default();
        let subject = &user.principal.subject;
        let mut record = crate::audit::denial(req, format!("user:{subject}"), "forbidden_purpose")
            .user(subject.clone())
            .detail(serde_json::json!({
                "reason": "forbidden_purpose",
                "route": req.match_pattern().unwrap_or_default(),
                "purposes": attempted,
            }));
        if let Some(first) = attempted.first() {
            record = record.purpose(first.clone());
        }
        if let Some(recipient) = body["recipient"].as_str() {
            record = record.recipient(recipient.chars().take(64).collect::<String>());
        }
        // Awaited: the attempt is on the log before the refusal is answered.
        if let Some(writer) = req.app_data::<web::Data<Writer>>() {
            writer
                .submit(crate::audit::RecordAudit(vec![record]))
                .await?;
        }
    }
    parsed
}
