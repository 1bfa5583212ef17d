//! The published API contract: an OpenAPI 3.1 document of every endpoint both listeners
//! serve and of the webhooks the gateway sends (CONTRACT §4-§10), and standalone JSON Schemas
//! (draft 2020-12) of the bodies other parties build against.
//!
//! Everything is built here, from the same component definitions, and written to `schema/`
//! by `cargo run --example openapi`; `tests/api/schema.rs` fails when the committed files
//! differ from what this module builds, when a served route is missing from the document, or
//! when a real response does not match its schema. See `docs/api.md`.
//!
//! Limits and closed sets come from the code that enforces them (batch size, id rules, text
//! lengths, record kinds, withhold reasons), so the document cannot promise what the gateway
//! does not do. Request bodies are closed (`additionalProperties: false`: the gateway answers
//! an unknown member with `422 invalid_field`); response bodies are open, because clients
//! must ignore members added later.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::audit::ALL_KINDS;
use crate::consent::{ConsentStatus, DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS};
use crate::domain::{
    BalanceField, Channel, MAX_BATCH_ITEMS, MAX_ID_CHARS, MerchantCity, MerchantName,
    TransactionField, TxnStatus,
};
use crate::http::MAX_BODY_BYTES;
use crate::policy::{PROHIBITED_FAMILIES, WithholdReason};

/// The folder, relative to the repository root, that holds the generated files.
pub const SCHEMA_DIR: &str = "schema";

/// The file name of the OpenAPI document inside [`SCHEMA_DIR`].
pub const DOCUMENT_FILE: &str = "openapi.json";

/// The JSON Schema dialect of every schema here.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Where the standalone schemas are published; their `$id` is this plus the file name.
const SCHEMA_BASE: &str = "https://consentgate.dev/schema/";

/// Prefix of a reference to a component schema inside the document.
const COMPONENT_SCHEMAS: &str = "#/components/schemas/";

/// The standalone schemas: file name, root component, title.
const STANDALONE: [(&str, &str, &str); 5] = [
    (
        "transaction-batch.schema.json",
        "TransactionBatch",
        "consentgate transaction batch (POST /v1/transactions)",
    ),
    (
        "balance-batch.schema.json",
        "BalanceBatch",
        "consentgate balance batch (POST /v1/balances)",
    ),
    (
        "consent-request.schema.json",
        "ConsentRequest",
        "consentgate consent request (POST /v1/consents, POST /v1/consents/preview)",
    ),
    (
        "audit-record.schema.json",
        "AuditRecord",
        "consentgate audit record (one exported NDJSON line)",
    ),
    (
        "webhook-event.schema.json",
        "WebhookEvent",
        "consentgate webhook event",
    ),
];

/// The OpenAPI 3.1 document: both listeners, every route, the webhooks, and the components
/// they share.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.1",
        "jsonSchemaDialect": DIALECT,
        "info": info(),
        "servers": [Listener::Bank.server(), Listener::Api.server()],
        "tags": tags(),
        "paths": paths(),
        "webhooks": webhooks(),
        "components": {
            "schemas": schemas(),
            "responses": problem_responses(),
            "headers": headers(),
            "securitySchemes": security_schemes(),
        },
    })
}

/// The standalone JSON Schemas (draft 2020-12), as `(file name, schema)`: each is one
/// component of [`document`] with the components it refers to under `$defs`.
pub fn json_schemas() -> Vec<(&'static str, Value)> {
    let components = schemas();
    STANDALONE
        .into_iter()
        .map(|(file, root, title)| (file, standalone(&components, file, root, title)))
        .collect()
}

/// Every file of [`SCHEMA_DIR`] as `(file name, text)`: the document, then the standalone
/// schemas, each pretty-printed with a trailing newline.
pub fn files() -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    let mut files = vec![(DOCUMENT_FILE, render(&document())?)];
    for (file, schema) in json_schemas() {
        files.push((file, render(&schema)?));
    }
    Ok(files)
}

/// Pretty-printed JSON with a trailing newline, as the files are committed.
pub fn render(value: &Value) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

fn info() -> Value {
    json!({
        "title": "consentgate",
        "version": env!("CARGO_PKG_VERSION"),
        "summary": "Field-level, purpose-bound release of bank card data under each user's consent, with a tamper-evident audit log",
        "description": "Two listeners: banks push transactions and balances over mutual TLS; users, auditors and anyone else use the API listener (TLS). Released data reaches recipients as signed webhooks (see `webhooks`). Every error is an RFC 9457 problem (`application/problem+json`) whose `errors` point at every bad member with a JSON Pointer. Request bodies are closed: a member the contract does not define is `422 invalid_field`. Response bodies may gain members: clients must ignore members they do not know. See `docs/api.md`.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    })
}

fn tags() -> Value {
    json!([
        {"name": "bank", "description": "Bank ingest (mutual TLS listener, CONTRACT §5)"},
        {"name": "consents", "description": "A user's consents (JWT scope `consents`, CONTRACT §7)"},
        {"name": "me", "description": "What was released about the caller, with proofs (JWT scope `consents`, CONTRACT §7, §9)"},
        {"name": "audit", "description": "The audit log (JWT scope `audit`, CONTRACT §9)"},
        {"name": "service", "description": "Health, readiness, metrics and the catalog (no authentication, CONTRACT §6, §10)"},
    ])
}

// ---------------------------------------------------------------------------------------
// Listeners and security
// ---------------------------------------------------------------------------------------

/// The listener a route is served on: the two are separate servers with disjoint routes.
#[derive(Clone, Copy)]
enum Listener {
    Bank,
    Api,
}

impl Listener {
    fn server(self) -> Value {
        let (description, port) = match self {
            Self::Bank => (
                "Bank listener (`server.bank_listen`): mutual TLS, a client certificate registered to a bank is required",
                "8443",
            ),
            Self::Api => (
                "API listener (`server.api_listen`): TLS; users, auditors and unauthenticated service endpoints",
                "8444",
            ),
        };
        json!({
            "url": "https://{host}:{port}",
            "description": description,
            "variables": {
                "host": {"default": "127.0.0.1", "description": "the listener's host name"},
                "port": {"default": port, "description": "the listener's port"},
            },
        })
    }
}

/// Who may call a route.
#[derive(Clone, Copy)]
enum Access {
    /// A bank, by its client certificate.
    Bank,
    /// A bearer token with this scope.
    Scope(&'static str),
    /// Anyone.
    Public,
}

impl Access {
    fn requirement(self) -> Value {
        match self {
            Self::Bank => json!([{"mutualTLS": []}]),
            Self::Scope(scope) => json!([{"bearerAuth": [scope]}]),
            Self::Public => json!([]),
        }
    }

    /// The failures every route of this access can answer.
    fn statuses(self) -> &'static [u16] {
        match self {
            Self::Bank => &[403],
            Self::Scope(_) => &[401, 403],
            Self::Public => &[],
        }
    }
}

fn security_schemes() -> Value {
    json!({
        "mutualTLS": {
            "type": "mutualTLS",
            "description": "The bank's client certificate (the first one it sends) must chain to `tls.client_ca`, must not be revoked by `tls.client_crl`, and its public key pin (lowercase hex SHA-256 of its DER SubjectPublicKeyInfo) must be listed in that bank's `spki_sha256`. A certificate that fails the chain or the CRL fails the TLS handshake; one that chains but is registered to no bank gets `403 unknown_bank`.",
        },
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT verified against `auth.jwks_file` (key chosen by `kid`; EdDSA, ES256 or RS256): `iss` equals `auth.issuer`, `aud` contains `auth.audience`, `exp` and `sub` are required, `nbf` is honoured, leeway at most 30 s. `sub` is the user id. `scope` is a space-separated string; the scopes are `consents` (a user's own consents and access log) and `audit` (the audit log). Any failure is `401` with `WWW-Authenticate: Bearer error=\"invalid_token\"`; a valid token without the needed scope is `403 insufficient_scope`.",
        },
    })
}

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

/// Appended to the description of every route of scope `audit`.
const AUDITED: &str =
    "Every call is itself recorded as an `audit.query` record before it is answered.";

/// One operation, before it becomes JSON.
struct Op {
    listener: Listener,
    access: Access,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: &'static str,
    parameters: Vec<Value>,
    /// The component schema of the JSON request body, if it takes one.
    body: Option<&'static str>,
    /// The success responses, by status.
    ok: Vec<(u16, Value)>,
    /// Failure statuses beyond those of its access and the `405` every route answers.
    errors: &'static [u16],
}

impl Op {
    fn build(self) -> Value {
        let mut responses = Map::new();
        for (status, response) in self.ok {
            responses.insert(status.to_string(), response);
        }
        let mut failures: BTreeSet<u16> = self.errors.iter().copied().collect();
        failures.extend(self.access.statuses());
        failures.insert(405);
        for status in failures {
            if let Some(name) = problem_response_name(status) {
                responses.insert(
                    status.to_string(),
                    json!({"$ref": format!("#/components/responses/{name}")}),
                );
            }
        }
        let mut op = Map::new();
        op.insert("operationId".into(), json!(self.id));
        op.insert("tags".into(), json!([self.tag]));
        op.insert("summary".into(), json!(self.summary));
        let description = match self.access {
            Access::Scope("audit") => format!("{} {AUDITED}", self.description),
            _ => self.description.to_string(),
        };
        op.insert("description".into(), json!(description));
        op.insert("servers".into(), json!([self.listener.server()]));
        op.insert("security".into(), self.access.requirement());
        if !self.parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(self.parameters));
        }
        if let Some(body) = self.body {
            op.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "description": format!(
                        "JSON (`Content-Type: application/json`, anything else is `400`), at most {} MiB (`413` beyond).",
                        MAX_BODY_BYTES / (1024 * 1024)
                    ),
                    "content": {"application/json": {"schema": schema_ref(body)}},
                }),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        Value::Object(op)
    }
}

fn paths() -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Op| {
        let item = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(item) = item.as_object_mut() {
            item.insert(method.to_string(), op.build());
        }
    };
    add("/v1/transactions", "post", post_transactions());
    add("/v1/balances", "post", post_balances());
    add("/healthz", "get", healthz());
    add("/readyz", "get", readyz());
    add("/metrics", "get", metrics());
    add("/v1/catalog", "get", catalog());
    add("/v1/consents", "post", grant_consent());
    add("/v1/consents", "get", list_consents());
    add("/v1/consents/preview", "post", preview_consent());
    add("/v1/consents/{id}", "get", get_consent());
    add("/v1/consents/{id}", "delete", revoke_consent());
    add("/v1/me/access-log", "get", access_log());
    add("/v1/me/proof/{index}", "get", my_proof());
    add("/v1/audit/records", "get", audit_records());
    add("/v1/audit/checkpoint", "get", audit_checkpoint());
    add("/v1/audit/checkpoints", "get", audit_checkpoints());
    add("/v1/audit/proof/inclusion", "get", inclusion_proof());
    add("/v1/audit/proof/consistency", "get", consistency_proof());
    add("/v1/audit/verify", "get", audit_verify());
    add("/v1/audit/reports/purposes", "get", purposes_report());
    add("/v1/audit/public-key", "get", audit_public_key());
    Value::Object(paths)
}

const BATCH_RULES: &str = "A batch is atomic: if any item is invalid the answer is `422` with one `errors` entry per bad member, and nothing from the batch is stored, released or delivered. Unknown members are invalid. Re-sending an identical item is not an error and releases nothing again (`duplicate`); re-sending a key with different content is `409` for the whole batch. The `202` is sent only once everything it reports is durably committed. While more released events wait for delivery than `delivery.max_backlog`, the answer is `503 not_ready` with `Retry-After` and nothing is stored (back-pressure; retry the same batch).";

fn post_transactions() -> Op {
    Op {
        listener: Listener::Bank,
        access: Access::Bank,
        id: "pushTransactions",
        tag: "bank",
        summary: "Push card transactions of the bank's own customers",
        description: BATCH_RULES,
        parameters: Vec::new(),
        body: Some("TransactionBatch"),
        ok: vec![(
            202,
            json_response(
                "Every item stored or recognised as a duplicate, with the release events created",
                "TransactionBatchAccepted",
            ),
        )],
        errors: &[400, 409, 413, 422, 429, 500, 503],
    }
}

fn post_balances() -> Op {
    Op {
        listener: Listener::Bank,
        access: Access::Bank,
        id: "pushBalances",
        tag: "bank",
        summary: "Push account balances of the bank's own customers",
        description: "Same rules as transactions; the idempotency key is `(bank, account_ref, as_of)`, `as_of` compared as an instant.",
        parameters: Vec::new(),
        body: Some("BalanceBatch"),
        ok: vec![(
            202,
            json_response(
                "Every item stored or recognised as a duplicate, with the release events created",
                "BalanceBatchAccepted",
            ),
        )],
        errors: &[400, 409, 413, 422, 429, 500, 503],
    }
}

fn healthz() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Public,
        id: "healthz",
        tag: "service",
        summary: "Liveness: the process runs",
        description: "Always `200` while the process serves requests.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(200, json_response("The process runs", "Health"))],
        errors: &[],
    }
}

fn readyz() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Public,
        id: "readyz",
        tag: "service",
        summary: "Readiness: the database answers and the policies are loaded",
        description: "`503 not_ready` (with `Retry-After`) while the database does not answer or the writer is stopped.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(200, json_response("Ready to serve", "Readiness"))],
        errors: &[503],
    }
}

fn metrics() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Public,
        id: "metrics",
        tag: "service",
        summary: "Prometheus metrics",
        description: "Request counts and latency histograms per route, records ingested, releases and withholds by reason, deliveries by outcome, audit tree size.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(
            200,
            json!({
                "description": "Prometheus text exposition format 0.0.4",
                "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}},
            }),
        )],
        errors: &[],
    }
}

fn catalog() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Public,
        id: "getCatalog",
        tag: "service",
        summary: "The field catalog and the purpose taxonomy",
        description: "Read from the loaded policy set (`policies/catalog.toml`). Consents, policies and releases name fields exactly as listed here.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(200, json_response("The catalog", "Catalog"))],
        errors: &[],
    }
}

fn grant_consent() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "grantConsent",
        tag: "consents",
        summary: "Grant a consent",
        description: "The owner is the token's `sub`; a `user_id` member is `422 invalid_field`. A prohibited purpose is `422 forbidden_purpose` (and is audited); an unknown purpose, field, recipient or bank is `422` with `unknown_purpose`, `unknown_field`, `unknown_recipient` or `unknown_bank`. The problem's `code` is the most serious error; `errors` lists all of them.",
        parameters: Vec::new(),
        body: Some("ConsentRequest"),
        ok: vec![(
            201,
            json!({
                "description": "Granted",
                "headers": {"Location": header_ref("Location")},
                "content": {"application/json": {"schema": schema_ref("Consent")}},
            }),
        )],
        errors: &[400, 413, 422, 500, 503],
    }
}

fn list_consents() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "listConsents",
        tag: "consents",
        summary: "The caller's own consents, newest first",
        description: "`expired` is derived from `expires_at`; a revocation wins over expiry.",
        parameters: vec![query(
            "status",
            "Only consents in this status (any other value is `422 invalid_field`)",
            schema_ref("ConsentStatus"),
        )],
        body: None,
        ok: vec![(200, json_response("The caller's consents", "ConsentList"))],
        errors: &[422, 500, 503],
    }
}

fn preview_consent() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "previewConsent",
        tag: "consents",
        summary: "What a consent would release, per purpose, under the live policy",
        description: "Same body and same validation as a grant; creates nothing. Only the fields the request lists appear, each released or withheld with the first reason.",
        parameters: Vec::new(),
        body: Some("ConsentRequest"),
        ok: vec![(
            200,
            json_response("What each purpose would receive", "ConsentPreview"),
        )],
        errors: &[400, 413, 422, 500, 503],
    }
}

fn get_consent() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "getConsent",
        tag: "consents",
        summary: "One of the caller's consents",
        description: "Another user's consent is `404`, never `403`: the answer does not confirm that it exists.",
        parameters: vec![consent_id()],
        body: None,
        ok: vec![(200, json_response("The consent", "Consent"))],
        errors: &[404, 500, 503],
    }
}

fn revoke_consent() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "revokeConsent",
        tag: "consents",
        summary: "Revoke one of the caller's consents",
        description: "Idempotent: a second DELETE answers the same body. Once it has answered, no new release is made under the consent, undelivered events made under it are cancelled (and audited), and the recipient is sent a `consent.revoked` event. Another user's consent is `404`.",
        parameters: vec![consent_id()],
        body: None,
        ok: vec![(
            200,
            json_response(
                "The consent, with `status: revoked` and `revoked_at` set",
                "Consent",
            ),
        )],
        errors: &[404, 500, 503],
    }
}

fn access_log() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "getAccessLog",
        tag: "me",
        summary: "What was released about the caller, newest first",
        description: "The audit records about the caller: to whom, for what purpose, which fields, when, and whether it was delivered. Paginated with `limit` and `cursor`: pass `next_cursor` back as `cursor`; it is absent on the last page.",
        parameters: vec![
            query(
                "limit",
                "Items per page",
                json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
            ),
            query(
                "cursor",
                "`next_cursor` of the previous page (anything else is `422 invalid_field`)",
                json!({"type": "string"}),
            ),
        ],
        body: None,
        ok: vec![(
            200,
            json_response("One page of the access log", "AccessLog"),
        )],
        errors: &[422, 500, 503],
    }
}

fn my_proof() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("consents"),
        id: "getMyProof",
        tag: "me",
        summary: "One of the caller's audit records with its inclusion proof",
        description: "The record at `index` with an RFC 9162 inclusion proof against the latest signed checkpoint that covers it (one is signed first if none does yet), so a user can check that what they were shown is what auditors see. Another user's record is `404`.",
        parameters: vec![json!({
            "name": "index",
            "in": "path",
            "required": true,
            "description": "The record's index, from the access log",
            "schema": {"type": "integer", "minimum": 0},
        })],
        body: None,
        ok: vec![(
            200,
            json_response("The record and its inclusion proof", "UserProof"),
        )],
        errors: &[404, 500, 503],
    }
}

fn audit_records() -> Op {
    let text = |name: &'static str, description: &'static str| {
        query(name, description, json!({"type": "string"}))
    };
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "listAuditRecords",
        tag: "audit",
        summary: "Audit records in ascending index order",
        description: "Paginated with `after_index` (exclusive) and `limit`: pass `next_after_index` back as `after_index`; it is absent when the page reached the end of the log as it was when the query began.",
        parameters: vec![
            query(
                "after_index",
                "Only records after this index (exclusive); absent: from the start",
                json!({"type": "integer", "minimum": 0}),
            ),
            query(
                "limit",
                "Records per page",
                json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
            ),
            query(
                "kind",
                "Only records of this kind",
                schema_ref("AuditRecordKind"),
            ),
            text("user_id", "Only records about this user"),
            text("recipient", "Only records naming this recipient"),
            text("purpose", "Only records naming this purpose"),
            text("bank", "Only records naming this bank"),
            since(),
            until(),
        ],
        body: None,
        ok: vec![(200, json_response("One page of records", "AuditRecordPage"))],
        errors: &[422, 500, 503],
    }
}

fn audit_checkpoint() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "getLatestCheckpoint",
        tag: "audit",
        summary: "The latest signed checkpoint",
        description: "A C2SP `tlog-checkpoint` signed note: origin line, tree size, base64 root hash, a blank line, then an Ed25519 signature line as in C2SP `signed-note`. `404` before the first checkpoint is signed.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(
            200,
            json!({
                "description": "The signed note",
                "content": {"text/plain; charset=utf-8": {"schema": {"type": "string"}}},
            }),
        )],
        errors: &[404, 500, 503],
    }
}

fn audit_checkpoints() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "listCheckpoints",
        tag: "audit",
        summary: "Signed checkpoints in ascending size",
        description: "At most 1000 per call; ask again with the last `size` as `after_size`.",
        parameters: vec![query(
            "after_size",
            "Only checkpoints of a larger tree (exclusive)",
            json!({"type": "integer", "minimum": 0, "default": 0}),
        )],
        body: None,
        ok: vec![(200, json_response("The checkpoints", "CheckpointList"))],
        errors: &[422, 500, 503],
    }
}

fn inclusion_proof() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "getInclusionProof",
        tag: "audit",
        summary: "RFC 9162 §2.1.3 inclusion proof of a record in a tree",
        description: "`index` must be less than `size`, and `size` at most the current tree size (else `422 invalid_field`).",
        parameters: vec![
            required_query(
                "index",
                "The record's index",
                json!({"type": "integer", "minimum": 0}),
            ),
            required_query(
                "size",
                "The tree size to prove against",
                json!({"type": "integer", "minimum": 1}),
            ),
        ],
        body: None,
        ok: vec![(200, json_response("The audit path", "ProofHashes"))],
        errors: &[422, 500, 503],
    }
}

fn consistency_proof() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "getConsistencyProof",
        tag: "audit",
        summary: "RFC 9162 §2.1.4 consistency proof between two tree sizes",
        description: "`from` must not exceed `to`, and `to` must be at most the current tree size (else `422 invalid_field`).",
        parameters: vec![
            required_query(
                "from",
                "The older tree size",
                json!({"type": "integer", "minimum": 0}),
            ),
            required_query(
                "to",
                "The newer tree size",
                json!({"type": "integer", "minimum": 0}),
            ),
        ],
        body: None,
        ok: vec![(200, json_response("The consistency proof", "ProofHashes"))],
        errors: &[422, 500, 503],
    }
}

fn audit_verify() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "verifyAuditLog",
        tag: "audit",
        summary: "Recompute the tree from the stored records and check every checkpoint",
        description: "Recomputes every leaf and root from the stored records and checks each checkpoint's signature, root and consistency with the previous one. A change made behind the gateway's back shows as `ok: false` with the first bad index.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(
            200,
            json_response("The verification's outcome", "AuditVerification"),
        )],
        errors: &[500, 503],
    }
}

fn purposes_report() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Scope("audit"),
        id: "getPurposesReport",
        tag: "audit",
        summary: "Releases counted by purpose and by recipient",
        description: "Computed from the records, never assumed: also counts releases under a prohibited purpose (which must be 0) and the requests and grants that tried one.",
        parameters: vec![since(), until()],
        body: None,
        ok: vec![(200, json_response("The report", "PurposesReport"))],
        errors: &[422, 500, 503],
    }
}

fn audit_public_key() -> Op {
    Op {
        listener: Listener::Api,
        access: Access::Public,
        id: "getAuditPublicKey",
        tag: "audit",
        summary: "The key that signs checkpoints",
        description: "Unauthenticated: anyone holding a checkpoint can verify it.",
        parameters: Vec::new(),
        body: None,
        ok: vec![(
            200,
            json_response("The checkpoint verifier", "AuditPublicKey"),
        )],
        errors: &[500],
    }
}

fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema_ref(schema)}},
    })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn required_query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": true, "description": description, "schema": schema})
}

fn since() -> Value {
    query(
        "since",
        "Only records at or after this instant (RFC 3339)",
        json!({"type": "string", "format": "date-time"}),
    )
}

fn until() -> Value {
    query(
        "until",
        "Only records before this instant (RFC 3339)",
        json!({"type": "string", "format": "date-time"}),
    )
}

fn consent_id() -> Value {
    json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The consent's id",
        "schema": {"type": "string"},
    })
}

// ---------------------------------------------------------------------------------------
// Problem responses and headers
// ---------------------------------------------------------------------------------------

/// The shared response of each failure status.
const PROBLEMS: [(u16, &str, &str); 11] = [
    (
        400,
        "BadRequest",
        "`bad_request`: the body is not valid JSON, or the content type is not `application/json`",
    ),
    (
        401,
        "Unauthorized",
        "`invalid_token`: no bearer token, or one that fails verification",
    ),
    (
        403,
        "Forbidden",
        "`insufficient_scope` (a valid token without the route's scope, with `WWW-Authenticate: Bearer error=\"insufficient_scope\"`) or `unknown_bank` (a client certificate registered to no bank)",
    ),
    (
        404,
        "NotFound",
        "`not_found`: no such resource, or one that belongs to another user",
    ),
    (
        405,
        "MethodNotAllowed",
        "`method_not_allowed`: the path exists but does not take this method; `Allow` lists those it takes",
    ),
    (
        409,
        "Conflict",
        "`conflict`: a key was re-sent with different content; `errors` points at each such key and nothing from the batch was stored",
    ),
    (
        413,
        "PayloadTooLarge",
        "`payload_too_large`: the body is over 4 MiB",
    ),
    (
        422,
        "Unprocessable",
        "Validation failed: `invalid_field`, `batch_too_large`, `forbidden_purpose`, `unknown_purpose`, `unknown_field`, `unknown_recipient` or `unknown_bank`; `errors` points at every bad member (a bad query parameter is pointed at as `#/query/<name>`)",
    ),
    (
        429,
        "TooManyRequests",
        "The bank exceeds its rate; retry after `Retry-After` seconds",
    ),
    (
        500,
        "InternalError",
        "`internal`: a fault of the gateway; the body carries no internal detail (it is logged)",
    ),
    (
        503,
        "NotReady",
        "`not_ready`: the gateway cannot serve this now (database or writer unavailable, or on the bank routes the delivery backlog at its bound); retry after `Retry-After` seconds",
    ),
];

fn problem_response_name(status: u16) -> Option<&'static str> {
    PROBLEMS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, name, _)| *name)
}

fn problem_responses() -> Value {
    let mut responses = Map::new();
    for (status, name, description) in PROBLEMS {
        let mut response = Map::new();
        response.insert("description".into(), json!(description));
        let headers = match status {
            401 => Some(json!({"WWW-Authenticate": header_ref("WWW-Authenticate")})),
            403 => Some(json!({"WWW-Authenticate": {
                "description": "`Bearer error=\"insufficient_scope\"` for a missing scope; absent for `unknown_bank`",
                "required": false,
                "schema": {"type": "string"},
            }})),
            405 => Some(json!({"Allow": header_ref("Allow")})),
            429 | 503 => Some(json!({"Retry-After": header_ref("Retry-After")})),
            _ => None,
        };
        if let Some(headers) = headers {
            response.insert("headers".into(), headers);
        }
        response.insert(
            "content".into(),
            json!({"application/problem+json": {"schema": schema_ref("Problem")}}),
        );
        responses.insert(name.to_string(), Value::Object(response));
    }
    Value::Object(responses)
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

fn headers() -> Value {
    json!({
        "Allow": {
            "description": "The methods the path takes, such as `GET, POST`",
            "required": true,
            "schema": {"type": "string"},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": true,
            "schema": {"type": "integer", "minimum": 0},
        },
        "WWW-Authenticate": {
            "description": "`Bearer error=\"invalid_token\"`",
            "required": true,
            "schema": {"type": "string"},
        },
        "Location": {
            "description": "`/v1/consents/{id}` of the new consent",
            "required": true,
            "schema": {"type": "string"},
        },
    })
}

// ---------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------

const SIGNING: &str = "Signed per Standard Webhooks 1.0: `webhook-signature` is `v1,` followed by the base64 HMAC-SHA256, keyed with the base64-decoded part of the recipient's `signing_secret` after `whsec_`, of `<webhook-id>.<webhook-timestamp>.<raw body>`; during a secret rotation it carries both signatures, space-separated. A 2xx answer means delivered; anything else, or no answer within `delivery.timeout` (10 s), is retried with exponential back-off and jitter up to `delivery.max_attempts`, then dead-lettered. Delivery is at least once: drop repeats by `event_id`.";

fn webhooks() -> Value {
    let mut hooks = Map::new();
    for (event_type, id, summary) in [
        (
            "transaction.released",
            "transactionReleased",
            "Fields of a transaction released for one consent and purpose",
        ),
        (
            "balance.released",
            "balanceReleased",
            "Fields of a balance released for one consent and purpose",
        ),
        (
            "consent.revoked",
            "consentRevoked",
            "A consent was revoked: delete what was received under it",
        ),
    ] {
        hooks.insert(
            event_type.to_string(),
            json!({"post": {
                "operationId": id,
                "summary": summary,
                "description": format!("`POST <recipient.webhook_url>` with `type: {event_type}`. {SIGNING}"),
                "parameters": webhook_headers(),
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {
                        "allOf": [schema_ref("WebhookEvent")],
                        "properties": {"type": {"const": event_type}},
                    }}},
                },
                "responses": {
                    "2XX": {"description": "Delivered"},
                    "default": {"description": "Not delivered: the event is retried"},
                },
            }}),
        );
    }
    Value::Object(hooks)
}

fn webhook_headers() -> Value {
    json!([
        {
            "name": "webhook-id",
            "in": "header",
            "required": true,
            "description": "The event's `event_id`",
            "schema": {"type": "string"},
        },
        {
            "name": "webhook-timestamp",
            "in": "header",
            "required": true,
            "description": "Unix seconds when this attempt was signed",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        {
            "name": "webhook-signature",
            "in": "header",
            "required": true,
            "description": "`v1,<base64 HMAC-SHA256>`, two space-separated while the secret is rotated",
            "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$"},
        },
    ])
}

// ---------------------------------------------------------------------------------------
// Component schemas
// ---------------------------------------------------------------------------------------

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{COMPONENT_SCHEMAS}{name}")})
}

/// An object schema; `closed` for request bodies, whose unknown members are rejected.
fn object(description: &str, required: &[&str], properties: Value, closed: bool) -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("description".into(), json!(description));
    schema.insert("required".into(), json!(required));
    schema.insert("properties".into(), properties);
    if closed {
        schema.insert("additionalProperties".into(), json!(false));
    }
    Value::Object(schema)
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn timestamp(description: &str) -> Value {
    json!({"type": "string", "format": "date-time", "description": description})
}

fn count(description: &str) -> Value {
    json!({"type": "integer", "minimum": 0, "description": description})
}

fn list(description: &str, items: Value) -> Value {
    json!({"type": "array", "description": description, "items": items})
}

/// An id as banks send them (`txn_id`, `user_id`, `account_ref`).
fn identifier(description: &str) -> Value {
    json!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "maxLength": MAX_ID_CHARS,
        "pattern": "^[A-Za-z0-9._:-]+$",
    })
}

/// Free text without control characters, of at most `max` characters.
fn free_text(description: &str, min: usize, max: usize) -> Value {
    json!({
        "type": "string",
        "description": description,
        "minLength": min,
        "maxLength": max,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$",
    })
}

fn money(description: &str) -> Value {
    json!({"type": "integer", "format": "int64", "description": description})
}

fn currency() -> Value {
    json!({
        "type": "string",
        "description": "ISO 4217 alphabetic code of the current list, uppercase (an unlisted code is `422`)",
        "pattern": "^[A-Z]{3}$",
        "examples": ["USD"],
    })
}

/// A SHA-256 hash in standard base64.
fn hash() -> Value {
    json!({"type": "string", "description": "SHA-256 hash, base64", "pattern": "^[A-Za-z0-9+/]{43}=$"})
}

/// `schema` that also admits `null` (an optional member sent as `null` is absent).
fn or_null(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_string(), schema);
    };
    add("Problem", problem());
    add("FieldError", field_error());
    add("TransactionBatch", batch("transactions", "Transaction"));
    add("Transaction", transaction());
    add("BalanceBatch", batch("balances", "Balance"));
    add("Balance", balance());
    add(
        "TransactionBatchAccepted",
        batch_accepted("TransactionResult"),
    );
    add("TransactionResult", transaction_result());
    add("BalanceBatchAccepted", batch_accepted("BalanceResult"));
    add("BalanceResult", balance_result());
    add("Release", release());
    add("Withheld", withheld());
    add("WithholdReason", withhold_reason());
    add("Catalog", catalog_schema());
    add("ConsentRequest", consent_request());
    add("Consent", consent());
    add("ConsentStatus", consent_status());
    add("ConsentList", consent_list());
    add("ConsentPreview", consent_preview());
    add("AccessLog", access_log_schema());
    add("AccessLogItem", access_log_item());
    add("UserProof", user_proof());
    add("AuditRecord", audit_record());
    add("AuditRecordKind", audit_record_kind());
    add("AuditRecordPage", audit_record_page());
    add("CheckpointList", checkpoint_list());
    add("ProofHashes", proof_hashes());
    add("AuditVerification", audit_verification());
    add("PurposesReport", purposes_report_schema());
    add("AuditPublicKey", audit_public_key_schema());
    add("WebhookEvent", webhook_event());
    add("TransactionData", transaction_data());
    add("BalanceData", balance_data());
    add("Health", status_body("ok", "The process runs"));
    add(
        "Readiness",
        status_body("ready", "The database answers and the policies are loaded"),
    );
    schemas
}

fn problem() -> Value {
    object(
        "RFC 9457 problem details (`application/problem+json`). A 5xx never carries internal detail.",
        &["type", "title", "status", "detail", "code"],
        json!({
            "type": {
                "type": "string",
                "format": "uri",
                "description": "`https://consentgate.dev/errors/<code>`",
                "pattern": "^https://consentgate\\.dev/errors/[a-z_]+$",
            },
            "title": text("Short summary of the problem type"),
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status"},
            "detail": text("Explanation for the engineer on the other side"),
            "code": {
                "type": "string",
                "pattern": "^[a-z_]+$",
                "description": "Machine-readable code: `bad_request`, `invalid_token`, `insufficient_scope`, `unknown_bank`, `not_found`, `method_not_allowed`, `conflict`, `payload_too_large`, `invalid_field`, `batch_too_large`, `forbidden_purpose`, `unknown_purpose`, `unknown_field`, `unknown_recipient`, `not_ready`, `internal`",
            },
            "errors": list(
                "Every bad member, for validation failures and conflicts; absent otherwise",
                schema_ref("FieldError"),
            ),
        }),
        false,
    )
}

fn field_error() -> Value {
    object(
        "One bad member of the request",
        &["pointer", "detail"],
        json!({
            "pointer": text("RFC 6901 JSON Pointer to the member in the request body, such as `/transactions/3/currency` (`\"\"` is the whole body); a query parameter is `#/query/<name>`"),
            "detail": text("What is wrong with it"),
        }),
        false,
    )
}

fn batch(member: &str, item: &str) -> Value {
    let mut properties = Map::new();
    properties.insert(
        member.to_string(),
        json!({
            "type": "array",
            "description": format!("1 to {MAX_BATCH_ITEMS} items (more is `422 batch_too_large`)"),
            "minItems": 1,
            "maxItems": MAX_BATCH_ITEMS,
            "items": schema_ref(item),
        }),
    );
    object(
        &format!("A batch of {member}; atomic: one bad member rejects the whole batch"),
        &[member],
        Value::Object(properties),
        true,
    )
}

/// A transaction's members as a bank sends them; `nullable` admits `null` for the optional
/// ones (as the request does), otherwise they are plain (as a release carries them).
fn transaction_members(nullable: bool) -> Map<String, Value> {
    let optional = |schema: Value| if nullable { or_null(schema) } else { schema };
    let mut members = Map::new();
    let mut add = |name: &str, schema: Value| {
        members.insert(name.to_string(), schema);
    };
    add(
        "txn_id",
        identifier(
            "The bank's id for the transaction, unique per bank; routing data, never released",
        ),
    );
    add(
        "user_id",
        identifier("The gateway user id; routing data, never released"),
    );
    add(
        "amount_minor",
        money("Integer minor units; negative for refunds"),
    );
    add("currency", currency());
    add(
        "merchant_name",
        free_text("The merchant's name", 1, MerchantName::MAX_CHARS),
    );
    add(
        "merchant_category_code",
        json!({"type": "string", "description": "ISO 18245 merchant category code", "pattern": "^[0-9]{4}$"}),
    );
    add(
        "merchant_city",
        optional(free_text(
            "The merchant's city; optional (empty is kept apart from absent)",
            0,
            MerchantCity::MAX_CHARS,
        )),
    );
    add(
        "merchant_country",
        optional(
            json!({"type": "string", "description": "ISO 3166-1 alpha-2 code, uppercase; optional", "pattern": "^[A-Z]{2}$"}),
        ),
    );
    add(
        "card_last4",
        optional(
            json!({"type": "string", "description": "The last four digits of the card, never more; optional", "pattern": "^[0-9]{4}$"}),
        ),
    );
    add(
        "channel",
        json!({"type": "string", "description": "How the card was used", "enum": channels()}),
    );
    add(
        "status",
        json!({"type": "string", "description": "Where the transaction is in its life", "enum": transaction_statuses()}),
    );
    add(
        "occurred_at",
        timestamp("RFC 3339 with an offset (`Z` or `±hh:mm`); without one it is `422`"),
    );
    members
}

fn transaction() -> Value {
    object(
        "A card transaction. Unknown members are rejected: a bank must not push fields nobody agreed to carry (such as a full card number).",
        &[
            "txn_id",
            "user_id",
            "amount_minor",
            "currency",
            "merchant_name",
            "merchant_category_code",
            "channel",
            "status",
            "occurred_at",
        ],
        Value::Object(transaction_members(true)),
        true,
    )
}

fn balance_members() -> Map<String, Value> {
    let mut members = Map::new();
    let mut add = |name: &str, schema: Value| {
        members.insert(name.to_string(), schema);
    };
    add(
        "account_ref",
        identifier("The bank's reference for the account; routing data, never released"),
    );
    add(
        "user_id",
        identifier("The gateway user id; routing data, never released"),
    );
    add(
        "available_minor",
        money("Available to spend, integer minor units"),
    );
    add("ledger_minor", money("Booked balance, integer minor units"));
    add("currency", currency());
    add(
        "as_of",
        timestamp("The instant the balance describes, RFC 3339 with an offset"),
    );
    members
}

fn balance() -> Value {
    object(
        "An account balance; every member is required and unknown members are rejected",
        &[
            "account_ref",
            "user_id",
            "available_minor",
            "ledger_minor",
            "currency",
            "as_of",
        ],
        Value::Object(balance_members()),
        true,
    )
}

fn batch_accepted(result: &str) -> Value {
    object(
        "`202 Accepted`: sent only once everything it reports is durably committed",
        &["accepted", "duplicates", "results"],
        json!({
            "accepted": count("Items stored now"),
            "duplicates": count("Items already received with identical content (nothing is released again)"),
            "results": list("One per item, in request order", schema_ref(result)),
        }),
        false,
    )
}

fn item_status() -> Value {
    json!({
        "type": "string",
        "enum": ["accepted", "duplicate"],
        "description": "`accepted`: stored now; `duplicate`: identical to an item already received",
    })
}

fn releases() -> Value {
    list(
        "One per release event created: a consent and purpose for which at least one field was released",
        schema_ref("Release"),
    )
}

fn transaction_result() -> Value {
    object(
        "What happened to one transaction",
        &["txn_id", "status", "releases"],
        json!({
            "txn_id": text("The item's `txn_id`"),
            "status": item_status(),
            "releases": releases(),
        }),
        false,
    )
}

fn balance_result() -> Value {
    object(
        "What happened to one balance",
        &["account_ref", "as_of", "status", "releases"],
        json!({
            "account_ref": text("The item's `account_ref`"),
            "as_of": timestamp("The item's `as_of`"),
            "status": item_status(),
            "releases": releases(),
        }),
        false,
    )
}

fn release() -> Value {
    object(
        "One release event (one consent, one purpose)",
        &["recipient", "purpose", "event_id", "released", "withheld"],
        json!({
            "recipient": text("The recipient id"),
            "purpose": text("The purpose it is released for"),
            "event_id": text("The event's id, also its `webhook-id`"),
            "released": list("Catalog names of the fields released", json!({"type": "string"})),
            "withheld": list("Every other catalog field of the record kind, with the first reason that applies", schema_ref("Withheld")),
        }),
        false,
    )
}

fn withheld() -> Value {
    object(
        "A catalog field kept back, and the first reason that applies",
        &["field", "reason"],
        json!({
            "field": text("Catalog name, such as `transaction.card_last4`"),
            "reason": schema_ref("WithholdReason"),
        }),
        false,
    )
}

fn withhold_reason() -> Value {
    json!({
        "type": "string",
        "description": "Checked in this order: `prohibited_purpose` (defence in depth), `no_consent`, `not_permitted_by_policy`, `field_absent` (an optional member the record did not carry)",
        "enum": withhold_reasons(),
    })
}

fn catalog_schema() -> Value {
    object(
        "The field catalog and the purpose taxonomy of the loaded policy set",
        &["fields", "purposes"],
        json!({
            "fields": list("Every field that can be released", object(
                "A catalog field",
                &["name", "record", "description"],
                json!({
                    "name": text("`<record>.<member>`, such as `transaction.amount_minor`"),
                    "record": {"type": "string", "enum": ["transaction", "balance"]},
                    "description": text("What the field is"),
                }),
                false,
            )),
            "purposes": object(
                "The purpose taxonomy",
                &["permitted", "prohibited"],
                json!({
                    "permitted": list("Purposes a consent may name", object(
                        "A permitted purpose",
                        &["name", "description"],
                        json!({"name": text("The purpose"), "description": text("What it is for")}),
                        false,
                    )),
                    "prohibited": list(
                        "Purposes no consent, policy or request can ever enable (nor any dotted descendant, compared case-insensitively after trimming)",
                        json!({"type": "string"}),
                    ),
                }),
                false,
            ),
        }),
        false,
    )
}

fn consent_request() -> Value {
    object(
        "A consent to grant (or preview). The owner is the token's `sub`; `user_id` and any other unknown member are `422 invalid_field`.",
        &["recipient", "bank", "purposes", "fields"],
        json!({
            "recipient": {"type": "string", "minLength": 1, "maxLength": 64, "description": "A configured recipient (`unknown_recipient` otherwise)"},
            "bank": {"type": "string", "minLength": 1, "maxLength": 64, "description": "A configured bank (`unknown_bank` otherwise)"},
            "purposes": {
                "type": "array",
                "description": "Permitted purposes; a prohibited one is `forbidden_purpose`, an unknown one `unknown_purpose`. Repeats are dropped.",
                "minItems": 1,
                "maxItems": 64,
                "items": {"type": "string"},
                "examples": [["fraud_alert"]],
            },
            "fields": {
                "type": "array",
                "description": "Catalog field names (`unknown_field` otherwise). Repeats are dropped.",
                "minItems": 1,
                "maxItems": 64,
                "items": {"type": "string"},
                "examples": [["transaction.amount_minor", "transaction.merchant_name"]],
            },
            "expires_at": or_null(timestamp(&format!(
                "When the consent ends: in the future, at most {MAX_LIFETIME_DAYS} days ahead; absent or `null`: {DEFAULT_LIFETIME_DAYS} days"
            ))),
        }),
        true,
    )
}

fn consent() -> Value {
    object(
        "A consent as its owner sees it",
        &[
            "id",
            "user_id",
            "recipient",
            "bank",
            "purposes",
            "fields",
            "status",
            "granted_at",
            "expires_at",
            "revoked_at",
        ],
        json!({
            "id": text("The consent's id"),
            "user_id": text("The owner (the granting token's `sub`)"),
            "recipient": text("The recipient id"),
            "bank": text("The bank id"),
            "purposes": list("Purposes, normalised", json!({"type": "string"})),
            "fields": list("Catalog field names", json!({"type": "string"})),
            "status": schema_ref("ConsentStatus"),
            "granted_at": timestamp("When it was granted"),
            "expires_at": timestamp("When it ends"),
            "revoked_at": or_null(timestamp("When it was revoked; `null` unless revoked")),
        }),
        false,
    )
}

fn consent_status() -> Value {
    json!({
        "type": "string",
        "description": "`expired` is derived from `expires_at`; a revocation wins over expiry",
        "enum": consent_statuses(),
    })
}

fn consent_list() -> Value {
    object(
        "The caller's consents, newest first",
        &["consents"],
        json!({"consents": list("The consents", schema_ref("Consent"))}),
        false,
    )
}

fn consent_preview() -> Value {
    object(
        "What each purpose of the request would receive under the live policy",
        &["purposes"],
        json!({"purposes": list("One per purpose of the request", object(
            "One purpose's outcome, for the fields the request lists",
            &["purpose", "released", "withheld"],
            json!({
                "purpose": text("The purpose"),
                "released": list("Catalog names that would be released", json!({"type": "string"})),
                "withheld": list("Catalog names that would be withheld, with the first reason", schema_ref("Withheld")),
            }),
            false,
        ))}),
        false,
    )
}

fn access_log_schema() -> Value {
    object(
        "One page of the caller's access log, newest first",
        &["items"],
        json!({
            "items": list("The records about the caller", schema_ref("AccessLogItem")),
            "next_cursor": text("Pass as `cursor` for the next page; absent on the last page"),
        }),
        false,
    )
}

fn access_log_item() -> Value {
    object(
        "An audit record about the caller, as the caller sees it: who, what, why, never a value. Members that do not apply are omitted.",
        &["index", "ts", "kind"],
        json!({
            "index": count("The record's index (for `GET /v1/me/proof/{index}`)"),
            "ts": timestamp("When it was recorded"),
            "kind": schema_ref("AuditRecordKind"),
            "recipient": text("The recipient"),
            "bank": text("The bank"),
            "purpose": text("The purpose"),
            "consent_id": text("The consent"),
            "event_id": text("The release event"),
            "released": list("Catalog names released", json!({"type": "string"})),
            "delivery": {
                "type": "string",
                "enum": ["pending", "delivered", "cancelled", "dead_lettered"],
                "description": "For a `release`: where its webhook is",
            },
        }),
        false,
    )
}

fn user_proof() -> Value {
    object(
        "One of the caller's records with its inclusion proof against a signed checkpoint",
        &["record", "index", "checkpoint", "hashes"],
        json!({
            "record": schema_ref("AuditRecord"),
            "index": count("The record's index"),
            "checkpoint": text("The signed checkpoint note the proof is against (the latest that covers the record)"),
            "hashes": list("RFC 9162 §2.1.3 audit path, leaf to root", hash()),
        }),
        false,
    )
}

fn audit_record() -> Value {
    let mut schema = object(
        "One audit record; its RFC 8785 canonical JSON is the Merkle leaf input and one exported NDJSON line. Field names and reasons only, never a released value. Members that do not apply are omitted.",
        &["index", "ts", "kind", "actor", "detail"],
        json!({
            "index": count("0-based leaf index; no gaps"),
            "ts": {"type": "string", "format": "date-time", "description": "UTC with microseconds, such as `2026-11-24T10:00:00.123456Z`", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"},
            "kind": schema_ref("AuditRecordKind"),
            "actor": text("Who acted: `bank:<id>`, `user:<sub>`, `auditor:<sub>`, `gateway`, `certificate:<pin>` or `anonymous`"),
            "user_id": text("The user the record is about"),
            "recipient": text("The recipient involved"),
            "purpose": text("The purpose involved"),
            "consent_id": text("The consent involved"),
            "event_id": text("The release event involved"),
            "bank": text("The bank involved"),
            "released": list("Catalog names released", json!({"type": "string"})),
            "withheld": list("Catalog names withheld, with the first reason", schema_ref("Withheld")),
            "policy_version": {"type": "string", "description": "The policy set the decision was made under", "pattern": "^sha256:[0-9a-f]{64}$"},
            "detail": {"type": "object", "description": "Kind-specific detail (counts, codes, routes); never a released value"},
        }),
        false,
    );
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "examples".into(),
            json!([{
                "index": 0,
                "ts": "2026-11-24T10:00:00.123456Z",
                "kind": "release",
                "actor": "bank:bank-a",
                "user_id": "u-42",
                "recipient": "messenger",
                "purpose": "fraud_alert",
                "consent_id": "0193a1b2-0000-7000-8000-000000000001",
                "event_id": "0193a1b2-0000-7000-8000-000000000002",
                "bank": "bank-a",
                "released": ["transaction.amount_minor"],
                "withheld": [{"field": "transaction.card_last4", "reason": "no_consent"}],
                "policy_version": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "detail": {},
            }]),
        );
    }
    schema
}

fn audit_record_kind() -> Value {
    json!({
        "type": "string",
        "description": "What the record describes",
        "enum": ALL_KINDS.map(|kind| kind.as_str()),
    })
}

fn audit_record_page() -> Value {
    object(
        "One page of audit records, ascending index",
        &["records"],
        json!({
            "records": list("The records", schema_ref("AuditRecord")),
            "next_after_index": count("Pass as `after_index` for the next page; absent when the page reached the end of the log as it was when the query began"),
        }),
        false,
    )
}

fn checkpoint_list() -> Value {
    object(
        "Signed checkpoints, ascending size",
        &["checkpoints"],
        json!({"checkpoints": list("The checkpoints", object(
            "One signed checkpoint",
            &["size", "note"],
            json!({
                "size": count("The tree size it signs"),
                "note": text("The C2SP `tlog-checkpoint` signed note"),
            }),
            false,
        ))}),
        false,
    )
}

fn proof_hashes() -> Value {
    object(
        "An RFC 9162 proof",
        &["hashes"],
        json!({"hashes": list("The proof's node hashes, in RFC 9162 order", hash())}),
        false,
    )
}

fn audit_verification() -> Value {
    json!({
        "type": "object",
        "description": "`ok: true` with the size, the root and the checkpoints checked; or `ok: false` with the first index whose record, leaf or checkpoint does not verify",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean", "description": "Whether every record and checkpoint verified"},
            "size": count("Records verified"),
            "root": hash(),
            "checkpoints_verified": count("Checkpoints whose signature, root and consistency verified"),
            "first_bad_index": count("The first index that does not verify"),
        },
        "oneOf": [
            {
                "properties": {"ok": {"const": true}},
                "required": ["size", "root", "checkpoints_verified"],
            },
            {
                "properties": {"ok": {"const": false}},
                "required": ["first_bad_index"],
            },
        ],
    })
}

fn purposes_report_schema() -> Value {
    let counts = |description: &str| {
        json!({
            "type": "object",
            "description": description,
            "additionalProperties": {"type": "integer", "minimum": 0},
        })
    };
    object(
        "Releases in the period, computed from the records",
        &[
            "since",
            "until",
            "releases_by_purpose",
            "releases_by_recipient",
            "prohibited_purpose_releases",
            "prohibited_purpose_attempts",
        ],
        json!({
            "since": or_null(text("The `since` asked for")),
            "until": or_null(text("The `until` asked for")),
            "releases_by_purpose": counts("Release records per purpose"),
            "releases_by_recipient": counts("Release records per recipient"),
            "prohibited_purpose_releases": count("Release records under a prohibited purpose (must be 0)"),
            "prohibited_purpose_attempts": count("Requests and grants that named a prohibited purpose"),
        }),
        false,
    )
}

fn audit_public_key_schema() -> Value {
    object(
        "The Ed25519 key that signs checkpoints",
        &["key_name", "verifier", "public_key_pem"],
        json!({
            "key_name": text("The note key name, `audit.origin`"),
            "verifier": text("The C2SP signed-note verifier key string (`<name>+<hash>+<base64 key>`)"),
            "public_key_pem": text("The public key as PEM SubjectPublicKeyInfo"),
        }),
        false,
    )
}

fn webhook_event() -> Value {
    json!({
        "type": "object",
        "description": "The body of a webhook. One event carries one purpose; `data` holds exactly the released members (names without the `transaction.`/`balance.` prefix) and nothing else. A `consent.revoked` event has `purpose: null` and `data: {}` and tells the recipient to delete what it received under that consent.",
        "required": [
            "event_id", "type", "created_at", "recipient", "user_id", "bank",
            "consent_id", "purpose", "data", "usage", "audit",
        ],
        "properties": {
            "event_id": text("The event's id, also the `webhook-id` header: drop repeats by it"),
            "type": {"type": "string", "enum": ["transaction.released", "balance.released", "consent.revoked"]},
            "created_at": timestamp("When the event was created"),
            "recipient": text("The recipient id"),
            "user_id": text("The user the data is about"),
            "bank": text("The bank the data came from"),
            "consent_id": text("The consent it is released under"),
            "purpose": {"type": ["string", "null"], "description": "The one purpose it may be used for; `null` for `consent.revoked`"},
            "data": {"type": "object", "description": "The released members"},
            "usage": object(
                "How the data may be used",
                &["purpose", "prohibited_uses"],
                json!({
                    "purpose": {"type": ["string", "null"], "description": "The event's purpose"},
                    "prohibited_uses": {"type": "array", "items": {"type": "string"}, "examples": [PROHIBITED_FAMILIES]},
                }),
                false,
            ),
            "audit": object(
                "Where the event is in the audit log",
                &["index"],
                json!({"index": count("The index of the audit record of this release")}),
                false,
            ),
        },
        "allOf": [
            {
                "if": {"properties": {"type": {"const": "transaction.released"}}},
                "then": {"properties": {"purpose": {"type": "string"}, "data": schema_ref("TransactionData")}},
            },
            {
                "if": {"properties": {"type": {"const": "balance.released"}}},
                "then": {"properties": {"purpose": {"type": "string"}, "data": schema_ref("BalanceData")}},
            },
            {
                "if": {"properties": {"type": {"const": "consent.revoked"}}},
                "then": {"properties": {"purpose": {"type": "null"}, "data": {"type": "object", "maxProperties": 0}}},
            },
        ],
    })
}

/// The members of a release `data`: those of `record` whose catalog field is in `fields`.
fn release_data(description: &str, record: &Map<String, Value>, fields: &[&str]) -> Value {
    let mut properties = Map::new();
    for member in fields {
        if let Some(schema) = record.get(*member) {
            properties.insert((*member).to_string(), schema.clone());
        }
    }
    json!({
        "type": "object",
        "description": description,
        "minProperties": 1,
        "properties": properties,
        "additionalProperties": false,
    })
}

fn transaction_data() -> Value {
    let fields = TransactionField::ALL.map(TransactionField::member);
    release_data(
        "Released transaction members: exactly those released, nothing else",
        &transaction_members(false),
        &fields,
    )
}

fn balance_data() -> Value {
    let fields = BalanceField::ALL.map(BalanceField::member);
    release_data(
        "Released balance members: exactly those released, nothing else",
        &balance_members(),
        &fields,
    )
}

fn status_body(status: &str, description: &str) -> Value {
    object(
        description,
        &["status"],
        json!({"status": {"const": status}}),
        false,
    )
}

// ---------------------------------------------------------------------------------------
// Closed sets from the code (each `match` is exhaustive, so a new variant fails to compile
// here until it is documented)
// ---------------------------------------------------------------------------------------

fn channels() -> Vec<&'static str> {
    [Channel::InStore, Channel::Online, Channel::Atm]
        .into_iter()
        .map(|channel| match channel {
            Channel::InStore | Channel::Online | Channel::Atm => channel.as_str(),
        })
        .collect()
}

fn transaction_statuses() -> Vec<&'static str> {
    [
        TxnStatus::Authorized,
        TxnStatus::Settled,
        TxnStatus::Refunded,
        TxnStatus::Declined,
    ]
    .into_iter()
    .map(|status| match status {
        TxnStatus::Authorized | TxnStatus::Settled | TxnStatus::Refunded | TxnStatus::Declined => {
            status.as_str()
        }
    })
    .collect()
}

fn withhold_reasons() -> Vec<&'static str> {
    [
        WithholdReason::ProhibitedPurpose,
        WithholdReason::NoConsent,
        WithholdReason::NotPermittedByPolicy,
        WithholdReason::FieldAbsent,
    ]
    .into_iter()
    .map(|reason| match reason {
        WithholdReason::ProhibitedPurpose
        | WithholdReason::NoConsent
        | WithholdReason::NotPermittedByPolicy
        | WithholdReason::FieldAbsent => reason.as_str(),
    })
    .collect()
}

fn consent_statuses() -> Vec<Value> {
    [
        ConsentStatus::Active,
        ConsentStatus::Revoked,
        ConsentStatus::Expired,
    ]
    .into_iter()
    .map(|status| match status {
        ConsentStatus::Active | ConsentStatus::Revoked | ConsentStatus::Expired => {
            serde_json::to_value(status).unwrap_or(Value::Null)
        }
    })
    .collect()
}

// ---------------------------------------------------------------------------------------
// Standalone schemas
// ---------------------------------------------------------------------------------------

/// Component `root` as a standalone draft 2020-12 schema: the components it refers to,
/// directly or not, go under `$defs`, and references are rewritten to point there.
fn standalone(components: &Map<String, Value>, file: &str, root: &str, title: &str) -> Value {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    if let Some(schema) = components.get(root) {
        referenced(schema, &mut pending);
    }
    while let Some(name) = pending.pop() {
        if needed.insert(name.clone())
            && let Some(schema) = components.get(&name)
        {
            referenced(schema, &mut pending);
        }
    }

    let mut out = Map::new();
    out.insert("$schema".into(), json!(DIALECT));
    out.insert("$id".into(), json!(format!("{SCHEMA_BASE}{file}")));
    out.insert("title".into(), json!(title));
    if let Some(Value::Object(schema)) = components.get(root) {
        for (key, value) in schema {
            let mut value = value.clone();
            to_defs(&mut value);
            out.insert(key.clone(), value);
        }
    }
    // Document order, so related definitions stay together.
    let mut defs = Map::new();
    for (name, schema) in components {
        if needed.contains(name) {
            let mut schema = schema.clone();
            to_defs(&mut schema);
            defs.insert(name.clone(), schema);
        }
    }
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    Value::Object(out)
}

/// Appends the component names `value` refers to.
fn referenced(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                match member {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix(COMPONENT_SCHEMAS) {
                            names.push(name.to_string());
                        }
                    }
                    other => referenced(other, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| referenced(item, names)),
        _ => {}
    }
}

/// Rewrites references to components into references to `$defs`.
fn to_defs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                match member {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix(COMPONENT_SCHEMAS) {
                            *target = format!("#/$defs/{name}");
                        }
                    }
                    other => to_defs(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_defs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_in_the_document_names_an_existing_component() {
        let document = document();
        let mut names = Vec::new();
        referenced(&document, &mut names);
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for name in names {
            assert!(schemas.contains_key(&name), "no component `{name}`");
        }
    }

    #[test]
    fn a_standalone_schema_refers_only_to_its_own_defs() {
        for (file, schema) in json_schemas() {
            let text = serde_json::to_string(&schema).unwrap();
            assert!(!text.contains(COMPONENT_SCHEMAS), "{file}");
            let mut names = Vec::new();
            let mut rewritten = Vec::new();
            collect_def_refs(&schema, &mut rewritten);
            referenced(&schema, &mut names);
            assert!(names.is_empty());
            let defs = schema.get("$defs").and_then(Value::as_object);
            for name in rewritten {
                assert!(
                    defs.is_some_and(|d| d.contains_key(&name)),
                    "{file}: `{name}` is not in `$defs`"
                );
            }
        }
    }

    fn collect_def_refs(value: &Value, names: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, member) in map {
                    match member {
                        Value::String(target) if key == "$ref" => {
                            if let Some(name) = target.strip_prefix("#/$defs/") {
                                names.push(name.to_string());
                            }
                        }
                        other => collect_def_refs(other, names),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| collect_def_refs(i, names)),
            _ => {}
        }
    }

    #[test]
    fn every_operation_names_exactly_one_listener() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert_eq!(
                    op["servers"].as_array().unwrap().len(),
                    1,
                    "{method} {path}"
                );
            }
        }
    }
}
