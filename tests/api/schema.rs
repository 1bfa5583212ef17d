//! The published contract under `schema/` against the code and the running gateway: the
//! committed files are what `consentgate::openapi` builds, every route served is documented
//! on its listener, and real responses match the document's schemas (with every object
//! closed, so a member the gateway sends but the document does not list fails too).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use consentgate::openapi;
use serde_json::{Value, json};

use crate::helpers::{Options, balance, spawn_app, spawn_app_with, transaction};

const REGENERATE: &str = "run `cargo run --example openapi` and commit `schema/`";

#[test]
fn the_committed_schema_files_are_exactly_what_the_code_generates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(openapi::SCHEMA_DIR);
    let files = openapi::files().unwrap();
    for (name, generated) in &files {
        let committed = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("cannot read `schema/{name}` ({e}): {REGENERATE}"));
        assert!(
            committed == *generated,
            "`schema/{name}` differs from what the code generates: {REGENERATE}"
        );
    }
    let expected: BTreeSet<String> = files.iter().map(|(name, _)| name.to_string()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        present, expected,
        "`schema/` holds files the code does not generate"
    );
}

#[test]
fn every_route_served_is_documented_on_its_listener_with_its_methods() {
    let document = openapi::document();
    let documented = documented_routes(&document);
    let served = served_routes();
    assert!(
        served.len() >= 20,
        "the route table was not found in src/http: {served:?}"
    );
    for ((method, path), listener) in &served {
        let Some(server) = documented.get(&(method.clone(), path.clone())) else {
            panic!(
                "{} {path} is served but not documented: add it to src/openapi.rs and {REGENERATE}",
                method.to_uppercase()
            );
        };
        let expected = match listener {
            Listener::Bank => &document["servers"][0],
            Listener::Api => &document["servers"][1],
        };
        assert_eq!(
            server,
            expected,
            "{} {path} is documented on the wrong listener",
            method.to_uppercase()
        );
    }
    for (method, path) in documented.keys() {
        assert!(
            served.keys().any(|(m, p)| m == method && p == path),
            "{} {path} is documented but not served",
            method.to_uppercase()
        );
    }
}

#[test]
fn the_request_schemas_accept_the_contract_examples_and_reject_unknown_members() {
    let schemas: BTreeMap<&str, Value> = openapi::json_schemas().into_iter().collect();
    let valid = |file: &str, instance: &Value| {
        let validator = jsonschema::validator_for(&schemas[file]).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        errors
    };

    let transactions = json!({"transactions": [transaction("t-000123", "u-42")]});
    assert_eq!(
        valid("transaction-batch.schema.json", &transactions),
        Vec::<String>::new()
    );
    let mut with_pan = transactions.clone();
    with_pan["transactions"][0]["pan"] = json!("4242424242424242");
    assert!(!valid("transaction-batch.schema.json", &with_pan).is_empty());
    let mut nulls = transactions.clone();
    nulls["transactions"][0]["merchant_city"] = Value::Null;
    assert_eq!(
        valid("transaction-batch.schema.json", &nulls),
        Vec::<String>::new()
    );
    assert!(
        !valid(
            "transaction-batch.schema.json",
            &json!({"transactions": []})
        )
        .is_empty()
    );

    let balances = json!({"balances": [balance("acc-9", "u-42")]});
    assert_eq!(
        valid("balance-batch.schema.json", &balances),
        Vec::<String>::new()
    );
    assert!(
        !valid(
            "balance-batch.schema.json",
            &json!({"balances": [balance("acc-9", "u-42")], "extra": 1})
        )
        .is_empty()
    );

    let grant = json!({"recipient": "messenger", "bank": "bank-a", "purposes": ["fraud_alert"],
        "fields": ["transaction.amount_minor", "transaction.merchant_name"],
        "expires_at": "2027-02-22T00:00:00Z"});
    assert_eq!(
        valid("consent-request.schema.json", &grant),
        Vec::<String>::new()
    );
    let mut with_owner = grant.clone();
    with_owner["user_id"] = json!("u-42");
    assert!(!valid("consent-request.schema.json", &with_owner).is_empty());

    let record = json!({"index": 0, "ts": "2026-11-24T10:00:00.123456Z", "kind": "release",
        "actor": "bank:bank-a", "user_id": "u-42", "recipient": "messenger",
        "purpose": "fraud_alert", "consent_id": "c", "event_id": "e", "bank": "bank-a",
        "released": ["transaction.amount_minor"],
        "withheld": [{"field": "transaction.card_last4", "reason": "no_consent"}],
        "policy_version": format!("sha256:{}", "0".repeat(64)), "detail": {}});
    assert_eq!(
        valid("audit-record.schema.json", &record),
        Vec::<String>::new()
    );

    let event = json!({"event_id": "e", "type": "transaction.released",
        "created_at": "2026-11-24T10:00:01Z", "recipient": "messenger", "user_id": "u-42",
        "bank": "bank-a", "consent_id": "c", "purpose": "fraud_alert",
        "data": {"amount_minor": 1299, "currency": "USD", "merchant_name": "Blue Bottle Coffee"},
        "usage": {"purpose": "fraud_alert", "prohibited_uses": ["advertising", "ad_targeting",
            "ad_measurement", "marketing", "profiling", "cross_selling", "data_sale"]},
        "audit": {"index": 1234}});
    assert_eq!(
        valid("webhook-event.schema.json", &event),
        Vec::<String>::new()
    );
    let mut routing_data = event.clone();
    routing_data["data"]["txn_id"] = json!("t-000123");
    assert!(!valid("webhook-event.schema.json", &routing_data).is_empty());
    let mut balance_data_in_a_transaction = event.clone();
    balance_data_in_a_transaction["data"]["ledger_minor"] = json!(1);
    assert!(!valid("webhook-event.schema.json", &balance_data_in_a_transaction).is_empty());
    let mut revoked = event.clone();
    revoked["type"] = json!("consent.revoked");
    revoked["purpose"] = Value::Null;
    revoked["usage"]["purpose"] = Value::Null;
    revoked["data"] = json!({});
    assert_eq!(
        valid("webhook-event.schema.json", &revoked),
        Vec::<String>::new()
    );
    revoked["data"] = json!({"amount_minor": 1});
    assert!(!valid("webhook-event.schema.json", &revoked).is_empty());
}

#[tokio::test]
async fn every_documented_route_answers_another_method_with_405_and_the_documented_allow() {
    let app = spawn_app().await;
    let document = openapi::document();
    let served = served_routes();
    for ((_, path), listener) in &served {
        let item = document["paths"][path]
            .as_object()
            .unwrap_or_else(|| panic!("{path} is served but not documented"));
        let mut allow: Vec<String> = item
            .keys()
            .filter(|k| HTTP_METHODS.contains(&k.as_str()))
            .map(|k| k.to_uppercase())
            .collect();
        allow.sort();
        let (client, base) = match listener {
            Listener::Bank => (app.bank_client(&app.pki.bank_a), &app.bank_url),
            Listener::Api => (app.api_client(), &app.api_url),
        };
        let response = client
            .put(format!("{base}{}", concrete(path)))
            .send()
            .await
            .unwrap();
        let header = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        // The 405 is documented on each of the path's operations; check it against the first.
        let documented = allow[0].to_lowercase();
        let body = conforms(&document, &documented, path, response).await;
        assert_eq!(body["status"], 405, "PUT {path}");
        let mut answered: Vec<String> = header
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        answered.sort();
        assert_eq!(answered, allow, "`Allow` of {path}");
    }
}

#[tokio::test]
async fn every_route_documented_with_a_bearer_token_refuses_a_request_without_one() {
    let app = spawn_app().await;
    let document = openapi::document();
    for ((method, path), listener) in served_routes() {
        let op = &document["paths"][&path][&method];
        assert!(
            op.is_object(),
            "{method} {path} is served but not documented"
        );
        let url = format!("{}{}", app.api_url, concrete(&path));
        if !matches!(listener, Listener::Api) {
            continue;
        }
        let request = app
            .api_client()
            .request(method.to_uppercase().parse().unwrap(), &url)
            .json(&json!({}));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let needs_token = op["security"]
            .as_array()
            .is_some_and(|requirements| requirements.iter().any(|r| r.get("bearerAuth").is_some()));
        if needs_token {
            assert_eq!(status, 401, "{method} {path} without a token");
        } else {
            assert!(
                status < 400,
                "{method} {path} is documented as public but answered {status}"
            );
        }
        conforms(&document, &method, &path, response).await;
    }
}

#[tokio::test]
async fn ingest_responses_match_the_document() {
    let app = spawn_app().await;
    let document = openapi::document();
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert"],
        &["transaction.amount_minor", "transaction.merchant_name"],
    )
    .await;
    app.grant(
        "u-1",
        "bank-a",
        &["customer_service"],
        &["balance.available_minor"],
    )
    .await;
    let batch = json!({"transactions": [transaction("t-1", "u-1"), transaction("t-2", "u-2")]});

    let first = conforms(
        &document,
        "post",
        "/v1/transactions",
        app.push_transactions(&app.pki.bank_a, &batch).await,
    )
    .await;
    assert_eq!(first["accepted"], 2);
    assert_eq!(first["results"][0]["releases"].as_array().unwrap().len(), 1);
    let again = conforms(
        &document,
        "post",
        "/v1/transactions",
        app.push_transactions(&app.pki.bank_a, &batch).await,
    )
    .await;
    assert_eq!(again["duplicates"], 2);

    let balances = json!({"balances": [balance("acc-1", "u-1")]});
    let accepted = conforms(
        &document,
        "post",
        "/v1/balances",
        app.push_balances(&app.pki.bank_a, &balances).await,
    )
    .await;
    assert_eq!(
        accepted["results"][0]["releases"].as_array().unwrap().len(),
        1
    );

    let mut changed = transaction("t-1", "u-1");
    changed["amount_minor"] = json!(1);
    let conflict = conforms(
        &document,
        "post",
        "/v1/transactions",
        app.push_transactions(&app.pki.bank_a, &json!({"transactions": [changed]}))
            .await,
    )
    .await;
    assert_eq!(conflict["status"], 409);

    let mut bad = transaction("t-3", "u-1");
    bad["currency"] = json!("EURO");
    bad["pan"] = json!("4242424242424242");
    let invalid = conforms(
        &document,
        "post",
        "/v1/transactions",
        app.push_transactions(&app.pki.bank_a, &json!({"transactions": [bad]}))
            .await,
    )
    .await;
    assert_eq!(invalid["status"], 422);
    assert_eq!(invalid["errors"].as_array().unwrap().len(), 2);

    let malformed = app
        .bank_client(&app.pki.bank_a)
        .post(format!("{}/v1/balances", app.bank_url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let malformed = conforms(&document, "post", "/v1/balances", malformed).await;
    assert_eq!(malformed["status"], 400);

    let stranger = conforms(
        &document,
        "post",
        "/v1/transactions",
        app.push_transactions(&app.pki.unregistered, &batch).await,
    )
    .await;
    assert_eq!(stranger["code"], "unknown_bank");
}

#[tokio::test]
async fn consent_responses_match_the_document() {
    let app = spawn_app().await;
    let document = openapi::document();
    let body = json!({"recipient": "messenger", "bank": "bank-a",
        "purposes": ["finance_tracking", "fraud_alert"],
        "fields": ["transaction.amount_minor", "transaction.merchant_city"]});

    let granted = conforms(
        &document,
        "post",
        "/v1/consents",
        app.post_consent("u-1", &body).await,
    )
    .await;
    let id = granted["id"].as_str().unwrap().to_string();

    let preview = app.preview_consent("u-1", &body).await;
    let preview = conforms(&document, "post", "/v1/consents/preview", preview).await;
    assert_eq!(preview["purposes"].as_array().unwrap().len(), 2);

    conforms(
        &document,
        "get",
        "/v1/consents",
        app.get_as("u-1", "/v1/consents?status=active").await,
    )
    .await;
    conforms(
        &document,
        "get",
        "/v1/consents/{id}",
        app.get_as("u-1", &format!("/v1/consents/{id}")).await,
    )
    .await;
    let revoked = conforms(
        &document,
        "delete",
        "/v1/consents/{id}",
        app.revoke("u-1", &id).await,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");

    let other = conforms(
        &document,
        "get",
        "/v1/consents/{id}",
        app.get_as("u-2", &format!("/v1/consents/{id}")).await,
    )
    .await;
    assert_eq!(other["status"], 404);
    let bad_filter = conforms(
        &document,
        "get",
        "/v1/consents",
        app.get_as("u-1", "/v1/consents?status=paused").await,
    )
    .await;
    assert_eq!(bad_filter["status"], 422);

    let mut forbidden = body.clone();
    forbidden["purposes"] = json!(["advertising"]);
    forbidden["user_id"] = json!("u-2");
    let refused = conforms(
        &document,
        "post",
        "/v1/consents",
        app.post_consent("u-1", &forbidden).await,
    )
    .await;
    assert_eq!(refused["code"], "forbidden_purpose");

    let wrong_scope = app
        .api_get("/v1/consents", Some(&app.token("u-1", "audit")))
        .await;
    let wrong_scope = conforms(&document, "get", "/v1/consents", wrong_scope).await;
    assert_eq!(wrong_scope["code"], "insufficient_scope");
}

#[tokio::test]
async fn audit_and_access_log_responses_match_the_document() {
    let app = spawn_app_with(Options {
        checkpoint_every: Some(2),
        ..Options::default()
    })
    .await;
    let document = openapi::document();
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    app.push_transactions(
        &app.pki.bank_a,
        &json!({"transactions": [transaction("t-1", "u-1"), transaction("t-2", "u-1")]}),
    )
    .await;
    app.revoke("u-1", consent["id"].as_str().unwrap()).await;
    app.post_consent(
        "u-1",
        &json!({"recipient": "messenger", "bank": "bank-a", "purposes": ["marketing"],
            "fields": ["transaction.amount_minor"]}),
    )
    .await;

    let page = conforms(
        &document,
        "get",
        "/v1/audit/records",
        app.audit_get("/v1/audit/records?limit=3").await,
    )
    .await;
    assert!(page["next_after_index"].is_u64());
    let records = app.all_audit_records().await;
    let kinds: BTreeSet<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "release",
        "consent.granted",
        "consent.revoked",
        "access.denied",
    ] {
        assert!(kinds.contains(kind), "no `{kind}` record in {kinds:?}");
    }
    let record_schema = json!({"$ref": "#/components/schemas/AuditRecord"});
    for record in &records {
        validate(&document, &record_schema, record);
    }

    let size = records.len();
    for (path, url) in [
        ("/v1/audit/checkpoint", "/v1/audit/checkpoint".to_string()),
        (
            "/v1/audit/checkpoints",
            "/v1/audit/checkpoints?after_size=0".to_string(),
        ),
        (
            "/v1/audit/proof/inclusion",
            format!("/v1/audit/proof/inclusion?index=1&size={size}"),
        ),
        (
            "/v1/audit/proof/consistency",
            format!("/v1/audit/proof/consistency?from=2&to={size}"),
        ),
        (
            "/v1/audit/reports/purposes",
            "/v1/audit/reports/purposes?since=2020-01-01T00:00:00Z".to_string(),
        ),
        ("/v1/audit/public-key", "/v1/audit/public-key".to_string()),
    ] {
        let response = app.audit_get(&url).await;
        assert!(response.status().is_success(), "{url}");
        conforms(&document, "get", path, response).await;
    }
    let bad = conforms(
        &document,
        "get",
        "/v1/audit/proof/inclusion",
        app.audit_get("/v1/audit/proof/inclusion?index=5&size=2")
            .await,
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "#/query/index");

    let verify = app.audit_get("/v1/audit/verify").await;
    assert_eq!(verify.status().as_u16(), 200, "/v1/audit/verify");
    let verified = conforms(&document, "get", "/v1/audit/verify", verify).await;
    assert_eq!(verified["ok"], true);

    let log = conforms(
        &document,
        "get",
        "/v1/me/access-log",
        app.get_as("u-1", "/v1/me/access-log?limit=2").await,
    )
    .await;
    let cursor = log["next_cursor"].as_str().unwrap();
    let rest = conforms(
        &document,
        "get",
        "/v1/me/access-log",
        app.get_as("u-1", &format!("/v1/me/access-log?cursor={cursor}"))
            .await,
    )
    .await;
    let release = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .find(|item| item["kind"] == "release")
        .expect("a release in the access log");
    assert!(release["delivery"].is_string());
    let index = release["index"].as_u64().unwrap();
    conforms(
        &document,
        "get",
        "/v1/me/proof/{index}",
        app.get_as("u-1", &format!("/v1/me/proof/{index}")).await,
    )
    .await;
    let not_mine = conforms(
        &document,
        "get",
        "/v1/me/proof/{index}",
        app.get_as("u-2", &format!("/v1/me/proof/{index}")).await,
    )
    .await;
    assert_eq!(not_mine["status"], 404);
}

#[tokio::test]
async fn service_responses_match_the_document() {
    let app = spawn_app().await;
    let document = openapi::document();
    for path in ["/healthz", "/readyz", "/metrics", "/v1/catalog"] {
        let response = app.api_get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        conforms(&document, "get", path, response).await;
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const HTTP_METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

#[derive(Debug, Clone, Copy)]
enum Listener {
    Bank,
    Api,
}

/// `(method, path)` of every operation in the document, with the server it names.
fn documented_routes(document: &Value) -> BTreeMap<(String, String), Value> {
    let mut routes = BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&method.as_str()) {
                let servers = op["servers"].as_array().unwrap();
                assert_eq!(servers.len(), 1, "{method} {path} names one listener");
                routes.insert((method.clone(), path.clone()), servers[0].clone());
            }
        }
    }
    routes
}

/// Every `(method, path)` the route table in `src/http/` serves, read from its source text:
/// each `web::resource("…")` with the `web::<method>()` routes that follow it, and each
/// `get_only("…", …)`; the listener is the `fn bank_server`/`fn api_server` it appears in.
fn served_routes() -> BTreeMap<(String, String), Listener> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            routes.extend(scan_routes(&text));
        }
    }
    routes
}

fn scan_routes(text: &str) -> Vec<((String, String), Listener)> {
    let mut starts: Vec<(usize, &str)> = ["web::resource(", "get_only("]
        .into_iter()
        .flat_map(|marker| text.match_indices(marker).map(move |(at, _)| (at, marker)))
        .collect();
    starts.sort();
    let mut routes = Vec::new();
    for (n, (at, marker)) in starts.iter().enumerate() {
        // A definition or a call with a variable (`web::resource(path)`) is not a route.
        let Some(literal) = text[at + marker.len()..].trim_start().strip_prefix('"') else {
            continue;
        };
        let path = &literal[..literal.find('"').unwrap()];
        let end = starts.get(n + 1).map_or(text.len(), |(next, _)| *next);
        let chunk = &text[*at..end];
        let methods: Vec<&str> = if *marker == "get_only(" {
            vec!["get"]
        } else {
            HTTP_METHODS
                .into_iter()
                .filter(|m| chunk.contains(&format!("web::{m}()")))
                .collect()
        };
        let before = &text[..*at];
        let bank = before.rfind("fn bank_server(");
        let api = before.rfind("fn api_server(");
        let listener = match (bank, api) {
            (Some(b), Some(a)) if b > a => Some(Listener::Bank),
            (Some(_), None) => Some(Listener::Bank),
            (_, Some(_)) => Some(Listener::Api),
            (None, None) => None,
        };
        assert!(
            listener.is_some(),
            "route `{path}` is outside `bank_server` and `api_server`"
        );
        let listener = listener.unwrap();
        assert!(!methods.is_empty(), "no method found for `{path}`");
        for method in methods {
            routes.push(((method.to_string(), path.to_string()), listener));
        }
    }
    routes
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0193a1b2-0000-7000-8000-000000000000")
        .replace("{index}", "0")
}

/// Checks `response` against what the document says `method path` answers with its status:
/// the status is documented, the content type is the documented one, the documented headers
/// are present, and a JSON body matches the schema (every object closed). Returns the body
/// (a JSON value, or a string for text).
async fn conforms(
    document: &Value,
    method: &str,
    path: &str,
    response: reqwest::Response,
) -> Value {
    let status = response.status().as_u16().to_string();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let op = &document["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let mut documented = &op["responses"][&status];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which is not documented: {text}"
    );
    if let Some(target) = documented["$ref"].as_str() {
        let name = target.strip_prefix("#/components/responses/").unwrap();
        documented = &document["components"]["responses"][name];
    }
    if let Some(expected) = documented["headers"].as_object() {
        for (name, mut header) in expected {
            if let Some(target) = header["$ref"].as_str() {
                let component = target.strip_prefix("#/components/headers/").unwrap();
                header = &document["components"]["headers"][component];
            }
            if header["required"] != true {
                continue;
            }
            assert!(
                headers.contains_key(name.as_str()),
                "{method} {path} {status} lacks the documented `{name}` header"
            );
        }
    }
    let content = documented["content"].as_object().unwrap();
    let (media, media_object) = content.iter().next().unwrap();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let essence = |t: &str| t.split(';').next().unwrap().trim().to_ascii_lowercase();
    assert_eq!(
        essence(&content_type),
        essence(media),
        "content type of {method} {path} {status}"
    );
    if essence(media).ends_with("json") {
        let body: Value = serde_json::from_str(&text).unwrap();
        validate(document, &media_object["schema"], &body);
        body
    } else {
        Value::String(text)
    }
}

/// Validates `instance` against `schema`, whose references point into the document's
/// components, with every object schema closed (`additionalProperties: false` where the
/// document leaves it open) so an undocumented member fails.
fn validate(document: &Value, schema: &Value, instance: &Value) {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [closed(schema.clone())],
        "components": {"schemas": closed(document["components"]["schemas"].clone())},
    });
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at `{}`", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} does not match {schema}: {errors:#?}"
    );
}

/// `schema` with `additionalProperties: false` on every object schema that lists its
/// properties and says nothing about others.
fn closed(mut schema: Value) -> Value {
    match &mut schema {
        Value::Object(map) => {
            let is_object = map.get("type") == Some(&json!("object"));
            if is_object
                && map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".to_string(), json!(false));
            }
            for value in map.values_mut() {
                *value = closed(value.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = closed(item.take());
            }
        }
        _ => {}
    }
    schema
}
