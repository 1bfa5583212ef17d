//! The auditor API (CONTRACT §9, scope `audit`) and the user's view of their own records.
//! Every auditor call is itself recorded (`audit.query`) and answered only once that
//! record is committed.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::primitives::Hash;
use super::queries::{self, RecordFilter};
use super::record::{AuditRecord, Kind};
use super::{CheckpointSigner, RecordAudit, SignCheckpointNow};
use crate::db::{Database, DbConnection, DbError};
use crate::domain::FieldError;
use crate::http::{ApiError, Auditor, User};
use crate::policy::{PolicyEngine, is_prohibited};
use crate::writer::Writer;

/// Most records per page.
const MAX_PAGE: u32 = 1000;
/// Default records per page.
const DEFAULT_PAGE: u32 = 100;
/// Most access-log items per page.
const MAX_ACCESS_LOG_PAGE: u32 = 500;

/// An auditor's call, already on the record: extracting it authenticates the auditor,
/// commits the `audit.query` record (route and query string), then parses the query string
/// as `Q`. Recording comes before any parameter is checked, so a call refused for a bad
/// parameter is audited too (CONTRACT §9: every auditor call is audited), and no auditor
/// route can forget to record.
pub struct AuditedCall<Q> {
    /// The query parameters.
    query: Q,
}

/// The query of a route that takes no parameters (any given are ignored).
#[derive(Deserialize)]
pub struct NoParameters {}

impl<Q: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for AuditedCall<Q> {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let auditor = Auditor::from_request(&req, payload);
        Box::pin(async move {
            let auditor = auditor.await?;
            let writer = req
                .app_data::<web::Data<Writer>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("the writer is not configured"))?;
            let record = AuditRecord::new(
                Kind::AuditQuery,
                format!("auditor:{}", auditor.principal.subject),
            )
            .detail(json!({
                "route": req.match_pattern().unwrap_or_default(),
                "query": req.query_string(),
            }));
            writer.submit(RecordAudit(vec![record])).await?;
            let query = web::Query::<Q>::from_query(req.query_string())
                .map_err(|err| crate::http::malformed_query(&err))?
                .into_inner();
            Ok(Self { query })
        })
    }
}

/// Runs `read` on a pooled connection.
async fn read<T: Send + 'static>(
    database: web::Data<Database>,
    read: impl FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(move || {
        let mut conn = database.get()?;
        read(&mut conn)
    })
    .await??)
}

/// Stored records as JSON values; one that does not parse is a 500 (it was stored by the
/// gateway itself), never a silent `null`.
fn parsed(rows: &[(u64, String)]) -> Result<Vec<Value>, DbError> {
    rows.iter()
        .map(|(index, text)| {
            serde_json::from_str(text)
                .map_err(|e| DbError::Corrupt(format!("audit record {index} does not parse: {e}")))
        })
        .collect()
}

#[derive(Deserialize)]
pub struct RecordsQuery {
    after_index: Option<String>,
    limit: Option<String>,
    kind: Option<String>,
    user_id: Option<String>,
    recipient: Option<String>,
    purpose: Option<String>,
    bank: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/audit/records`.
pub async fn records(
    call: AuditedCall<RecordsQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let query = call.query;
    let filter = RecordFilter {
        after_index: number(query.after_index.as_deref(), "after_index")?,
        limit: page_size(query.limit.as_deref(), "limit", DEFAULT_PAGE, MAX_PAGE)?,
        kind: match query.kind {
            Some(kind) if Kind::parse(&kind).is_none() => {
                return Err(bad_parameter("kind", "is not a record kind"));
            }
            other => other,
        },
        user_id: query.user_id,
        recipient: query.recipient,
        purpose: query.purpose,
        bank: query.bank,
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
    };
    let page = read(database, move |conn| {
        let end = queries::tree_size(conn)?;
        queries::records(conn, &filter, end)
    })
    .await?;
    let records = parsed(&page.records)?;
    let mut body = serde_json::Map::new();
    body.insert("records".to_string(), Value::Array(records));
    if let Some(next) = page.next_after_index {
        body.insert("next_after_index".to_string(), json!(next));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /v1/audit/checkpoint`: the latest signed note, as text.
pub async fn checkpoint(
    _call: AuditedCall<NoParameters>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let latest = read(database, queries::latest_checkpoint).await?;
    match latest {
        Some((_, note)) => Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(note)),
        None => Err(ApiError::NotFound(
            "no checkpoint has been signed yet".to_string(),
        )),
    }
}

#[derive(Deserialize)]
pub struct CheckpointsQuery {
    after_size: Option<String>,
}

/// `GET /v1/audit/checkpoints?after_size=`.
pub async fn checkpoints(
    call: AuditedCall<CheckpointsQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let query = call.query;
    let after = number(query.after_size.as_deref(), "after_size")?.unwrap_or(0);
    let list = read(database, move |conn| {
        queries::checkpoints(conn, after, i64::from(MAX_PAGE))
    })
    .await?;
    let checkpoints: Vec<Value> = list
        .into_iter()
        .map(|(size, note)| json!({"size": size, "note": note}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "checkpoints": checkpoints })))
}

#[derive(Deserialize)]
pub struct InclusionQuery {
    index: Option<String>,
    size: Option<String>,
}

/// `GET /v1/audit/proof/inclusion?index=&size=`.
pub async fn inclusion(
    call: AuditedCall<InclusionQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let query = call.query;
    let index = required_number(query.index.as_deref(), "index")?;
    let size = required_number(query.size.as_deref(), "size")?;
    if index >= size {
        return Err(bad_parameter("index", "must be less than `size`"));
    }
    proof(database, (size, "size"), move |conn| {
        queries::inclusion(conn, index, size)
    })
    .await
}

/// Answers `{"hashes": [...]}` with the proof `make` reads,
/// if the committed tree has at least `size` leaves; otherwise 422 naming the parameter
/// that gave `size`.
async fn proof(
    database: web::Data<Database>,
    (size, name): (u64, &str),
    make: impl FnOnce(&mut DbConnection) -> Result<Vec<Hash>, DbError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let hashes = read(database, move |conn| {
        if size > queries::tree_size(conn)? {
            return Ok(None);
        }
        make(conn).map(Some)
    })
    .await?
    .ok_or_else(|| bad_parameter(name, "is larger than the tree"))?;
    Ok(HttpResponse::Ok().json(json!({ "hashes": encode(&hashes) })))
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/audit/proof/consistency?from=&to=`.
pub async fn consistency(
    call: AuditedCall<ConsistencyQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let query = call.query;
    let from = required_number(query.from.as_deref(), "from")?;
    let to = required_number(query.to.as_deref(), "to")?;
    if from > to {
        return Err(bad_parameter("from", "must not exceed `to`"));
    }
    proof(database, (to, "to"), move |conn| {
        queries::consistency(conn, from, to)
    })
    .await
}

#[derive(Deserialize)]
pub struct PeriodQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/audit/reports/purposes`: releases by purpose and recipient, and prohibited-purpose
/// releases and attempts, all computed from the records.
pub async fn purposes_report(
    call: AuditedCall<PeriodQuery>,
    database: web::Data<Database>,
    policy: web::Data<PolicyEngine>,
) -> Result<HttpResponse, ApiError> {
    let query = call.query;
    let since = instant(query.since.as_deref(), "since")?;
    let until = instant(query.until.as_deref(), "until")?;
    let counts = read(database, move |conn| {
        let end = queries::tree_size(conn)?;
        queries::purpose_counts(conn, since, until, end)
    })
    .await?;
    let mut by_purpose: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_recipient: BTreeMap<String, i64> = BTreeMap::new();
    let mut prohibited_releases = 0;
    let mut prohibited_attempts = 0;
    for (kind, purpose, recipient, count) in counts {
        let prohibited = purpose
            .as_deref()
            .is_some_and(|p| is_prohibited(p, policy.catalog()));
        if kind == "release" {
            *by_purpose.entry(purpose.unwrap_or_default()).or_default() += count;
            *by_recipient
                .entry(recipient.unwrap_or_default())
                .or_default() += count;
            if prohibited {
                prohibited_releases += count;
            }
        } else if prohibited {
            prohibited_attempts += count;
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "since": query.since,
        "until": query.until,
        "releases_by_purpose": by_purpose,
        "releases_by_recipient": by_recipient,
        "prohibited_purpose_releases": prohibited_releases,
        "prohibited_purpose_attempts": prohibited_attempts,
    })))
}

/// `GET /v1/audit/verify`: recomputes every leaf and root from the stored records and checks
/// every checkpoint's root and signature with the gateway's audit key.
pub async fn verify(
    _call: AuditedCall<NoParameters>,
    database: web::Data<Database>,
    signer: web::Data<CheckpointSigner>,
) -> Result<HttpResponse, ApiError> {
    let keys = signer.checkpoint_keys();
    let report = read(database, move |conn| {
        super::verify_online(conn, &keys, &mut |_, _| {})
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /v1/audit/public-key` (unauthenticated): the checkpoint verifier.
pub async fn public_key(signer: web::Data<CheckpointSigner>) -> Result<HttpResponse, ApiError> {
    let verifier = signer.verifier();
    let pem = signer.public_key_pem().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({
        "key_name": signer.origin(),
        "verifier": verifier.verifier_key(),
        "public_key_pem": pem,
    })))
}

#[derive(Deserialize)]
pub struct AccessLogQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/me/access-log`: the caller's records, newest first, with delivery status.
pub async fn access_log(
    user: User,
    query: web::Query<AccessLogQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(
        query.limit.as_deref(),
        "limit",
        DEFAULT_PAGE,
        MAX_ACCESS_LOG_PAGE,
    )?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            decode_cursor(cursor)
                .ok_or_else(|| bad_parameter("cursor", "is not a cursor from this API"))?,
        ),
    };
    let user_id = user.principal.subject;
    let (rows, statuses) = web::block(move || -> Result<_, DbError> {
        let mut conn = database.get()?;
        let rows = queries::user_records(&mut conn, &user_id, before, limit)?;
        let records = parsed(&rows)?;
        let event_ids: Vec<&str> = records
            .iter()
            .filter_map(|r| r["event_id"].as_str())
            .collect();
        let statuses: BTreeMap<String, String> = queries::delivery_status(&mut conn, &event_ids)?
            .into_iter()
            .collect();
        Ok((
            rows.into_iter()
                .map(|(i, _)| i)
                .zip(records)
                .collect::<Vec<_>>(),
            statuses,
        ))
    })
    .await??;
    let full_page = rows.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if full_page {
        rows.last().map(|(i, _)| encode_cursor(*i))
    } else {
        None
    };
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(index, record)| access_item(index, &record, &statuses))
        .collect();
    let mut body = serde_json::Map::new();
    body.insert("items".to_string(), Value::Array(items));
    if let Some(cursor) = next_cursor {
        body.insert("next_cursor".to_string(), json!(cursor));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// One access-log item: the record's who/what/why, never a value.
fn access_item(index: u64, record: &Value, statuses: &BTreeMap<String, String>) -> Value {
    let mut item = serde_json::Map::new();
    item.insert("index".to_string(), json!(index));
    for member in [
        "ts",
        "kind",
        "recipient",
        "bank",
        "purpose",
        "consent_id",
        "event_id",
        "released",
    ] {
        if let Some(value) = record.get(member) {
            item.insert(member.to_string(), value.clone());
        }
    }
    if record["kind"] == "release" {
        let status = record["event_id"]
            .as_str()
            .and_then(|id| statuses.get(id))
            .map_or("delivered", |s| match s.as_str() {
                "pending" | "sending" => "pending",
                other => other,
            });
        item.insert("delivery".to_string(), json!(status));
    }
    Value::Object(item)
}

/// `GET /v1/me/proof/{index}`: one of the caller's records with its inclusion proof against
/// the latest checkpoint that covers it (signing one first if none does yet).
pub async fn my_proof(
    user: User,
    index: web::Path<String>,
    writer: web::Data<Writer>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let index: u64 = index
        .parse::<i64>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| ApiError::NotFound("no such record".to_string()))?;
    let user_id = user.principal.subject;
    let read_db = database.clone();
    let found = web::block(move || -> Result<_, DbError> {
        let mut conn = read_db.get()?;
        let owned = queries::record(&mut conn, index)?
            .filter(|(owner, _)| owner.as_deref() == Some(user_id.as_str()));
        let Some((_, text)) = owned else {
            return Ok(None);
        };
        Ok(Some((text, covered(&mut conn, index)?)))
    })
    .await??;
    let Some((text, covered_now)) = found else {
        return Err(ApiError::NotFound("no such record".to_string()));
    };
    let (note, proof) = match covered_now {
        Some(covering) => covering,
        None => {
            writer.submit(SignCheckpointNow).await?;
            web::block(move || {
                let mut conn = database.get()?;
                covered(&mut conn, index)
            })
            .await??
            .ok_or_else(|| ApiError::internal("no checkpoint covers a committed record"))?
        }
    };
    let record: Value = serde_json::from_str(&text).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({
        "record": record,
        "index": index,
        "checkpoint": note,
        "hashes": encode(&proof),
    })))
}

/// The latest checkpoint that covers leaf `index` and the leaf's inclusion proof against
/// it, if a checkpoint covers it yet.
fn covered(conn: &mut DbConnection, index: u64) -> Result<Option<(String, Vec<Hash>)>, DbError> {
    let Some((size, note)) = queries::checkpoint_covering(conn, index + 1)? else {
        return Ok(None);
    };
    Ok(Some((note, queries::inclusion(conn, index, size)?)))
}

fn encode(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

fn encode_cursor(index: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{index}"))
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("before:")?
        .parse::<i64>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
}

fn number(value: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            // Indexes and sizes are stored as signed 64-bit integers: larger values are
            // refused here rather than failing in the database.
            v.parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    bad_parameter(name, "must be an integer from 0 to 9223372036854775807")
                })
        })
        .transpose()
}

/// A [`number`] the route cannot do without.
fn required_number(value: Option<&str>, name: &str) -> Result<u64, ApiError> {
    number(value, name)?.ok_or_else(|| bad_parameter(name, "is required"))
}

fn page_size(value: Option<&str>, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad_parameter(
                name,
                &format!("must be an integer from 1 to {max}"),
            )),
        },
    }
}

fn instant(value: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            crate::time::parse_micros(v)
                .ok_or_else(|| bad_parameter(name, "must be an RFC 3339 timestamp"))
        })
        .transpose()
}

/// A bad query parameter: 422 naming it (the pointer names the parameter, RFC 9457 style).
pub fn bad_parameter(name: &str, detail: &str) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_field",
        detail: format!("query parameter `{name}` {detail}"),
        errors: vec![FieldError {
            pointer: format!("#/query/{name}"),
            detail: detail.to_string(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pointer of a 422 problem, or `None` for anything else.
    fn pointer(err: &ApiError) -> Option<&str> {
        match err {
            ApiError::Unprocessable { code, errors, .. } if *code == "invalid_field" => {
                errors.first().map(|e| e.pointer.as_str())
            }
            _ => None,
        }
    }

    #[test]
    fn a_missing_or_bad_number_is_a_problem_naming_its_parameter() {
        assert_eq!(required_number(Some("7"), "size").ok(), Some(7));
        for value in [None, Some("-1"), Some("x"), Some("9223372036854775808")] {
            let err = required_number(value, "size").err();
            assert_eq!(
                err.as_ref().and_then(pointer),
                Some("#/query/size"),
                "{value:?}"
            );
        }
        assert_eq!(number(None, "from").ok(), Some(None));
        assert_eq!(
            number(Some("9223372036854775807"), "from").ok(),
            Some(Some(9_223_372_036_854_775_807))
        );
    }

    #[test]
    fn page_sizes_and_instants_outside_their_range_name_their_parameter() {
        assert_eq!(page_size(None, "limit", 100, 1000).ok(), Some(100));
        assert_eq!(page_size(Some("1000"), "limit", 100, 1000).ok(), Some(1000));
        for value in ["0", "1001", "x"] {
            let err = page_size(Some(value), "limit", 100, 1000).err();
            assert_eq!(
                err.as_ref().and_then(pointer),
                Some("#/query/limit"),
                "{value}"
            );
        }
        let err = instant(Some("yesterday"), "since").err();
        assert_eq!(err.as_ref().and_then(pointer), Some("#/query/since"));
    }

    #[test]
    fn a_cursor_reads_back_the_index_it_was_made_from() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not a cursor"), None);
    }
}
