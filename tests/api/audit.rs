//! The audit log through its API: every decision and access recorded, never a value;
//! proofs that verify with an independent implementation; users see only their records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    ALL_FIELDS, Options, TestApp, problem, spawn_app, spawn_app_with, transaction,
};
use crate::stored_log::{edit_record, nth_of_kind, stored_count};

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// RFC 9162 §2.1.3.2, written here independently of the gateway's code.
fn verify_inclusion(
    leaf_input: &[u8],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = sha256(&[&[0], leaf_input]);
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = sha256(&[&[1], p, &r]);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = sha256(&[&[1], &r, p]);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == root
}

/// The size and root of a C2SP checkpoint note (its signature is checked separately).
fn checkpoint_body(note: &str) -> (String, u64, [u8; 32]) {
    let mut lines = note.lines();
    let origin = lines.next().unwrap().to_string();
    let size = lines.next().unwrap().parse().unwrap();
    let root: [u8; 32] = STANDARD
        .decode(lines.next().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    (origin, size, root)
}

fn hashes(body: &Value) -> Vec<[u8; 32]> {
    body["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// Canonical JSON as the gateway exports it (keys sorted; our records hold ASCII keys only).
fn canonical(value: &Value) -> String {
    consentgate::audit::primitives::canonicalize(value).unwrap()
}

async fn busy_day(app: &TestApp) {
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert", "finance_tracking"],
        &ALL_FIELDS,
    )
    .await;
    app.grant(
        "u-2",
        "bank-a",
        &["fraud_alert"],
        &["balance.available_minor"],
    )
    .await;
    let mut txn = transaction("t-1", "u-1");
    txn["merchant_name"] = json!("Zyxwv Unique Cafe");
    txn["amount_minor"] = json!(987_654_321);
    let response = app
        .push_transactions(
            &app.pki.bank_a,
            &json!({"transactions": [txn, transaction("t-2", "u-2")]}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    // Webhook attempts add records in the background; let them settle.
    app.settle_deliveries().await;
}

/// `value` with every UUID, RFC 3339 timestamp and policy hash string replaced by `""`.
fn without_ids_and_times(value: Value) -> Value {
    match value {
        Value::String(s)
            if uuid::Uuid::parse_str(&s).is_ok()
                || chrono::DateTime::parse_from_rfc3339(&s).is_ok()
                || s.starts_with("sha256:") =>
        {
            Value::String(String::new())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_ids_and_times).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k, without_ids_and_times(v)))
                .collect(),
        ),
        other => other,
    }
}

#[tokio::test]
async fn every_decision_is_recorded_and_no_record_holds_a_released_value() {
    let app = spawn_app().await;
    busy_day(&app).await;
    let records = app.all_audit_records().await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "policy.loaded",
        "consent.granted",
        "ingest",
        "release",
        "withhold",
    ] {
        assert!(kinds.contains(&kind), "no `{kind}` record in {kinds:?}");
    }
    for (position, record) in records.iter().enumerate() {
        assert_eq!(
            record["index"], position as u64,
            "indexes are dense and ordered"
        );
    }
    let release = records
        .iter()
        .find(|r| r["kind"] == "release" && r["purpose"] == "fraud_alert")
        .unwrap();
    assert_eq!(release["actor"], "bank:bank-a");
    assert_eq!(release["user_id"], "u-1");
    assert_eq!(release["recipient"], "messenger");
    assert!(
        release["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        release["released"]
            .as_array()
            .unwrap()
            .contains(&json!("transaction.merchant_name"))
    );
    let withhold = records.iter().find(|r| r["kind"] == "withhold").unwrap();
    assert_eq!(withhold["user_id"], "u-2");
    assert!(
        withhold["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["reason"] == "no_consent")
    );
    // Random ids and microsecond timestamps can contain `4242` by chance: blank them first.
    let everything = serde_json::to_string(&without_ids_and_times(json!(records))).unwrap();
    for value in ["Zyxwv", "987654321", "4242", "Oakland", "Blue Bottle"] {
        assert!(
            !everything.contains(value),
            "a released value `{value}` is in the audit log"
        );
    }
}

#[tokio::test]
async fn records_page_and_filter_and_each_auditor_query_is_itself_recorded() {
    let app = spawn_app().await;
    busy_day(&app).await;
    let first = app.audit_json("/v1/audit/records?limit=2").await;
    assert_eq!(first["records"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_after_index"], 1);
    let second = app
        .audit_json("/v1/audit/records?limit=2&after_index=1")
        .await;
    assert_eq!(second["records"][0]["index"], 2);

    let releases = app
        .audit_json("/v1/audit/records?kind=release&user_id=u-1")
        .await;
    let releases = releases["records"].as_array().unwrap();
    assert_eq!(releases.len(), 2, "fraud_alert and finance_tracking");
    assert!(
        releases
            .iter()
            .all(|r| r["kind"] == "release" && r["user_id"] == "u-1")
    );

    let queries = app.audit_json("/v1/audit/records?kind=audit.query").await;
    let queries = queries["records"].as_array().unwrap();
    assert_eq!(
        queries.len(),
        4,
        "the four earlier calls, not this one: {queries:?}"
    );
    assert_eq!(queries[0]["actor"], "auditor:auditor-1");

    problem(
        app.audit_get("/v1/audit/records?limit=0").await,
        422,
        "invalid_field",
    )
    .await;
    problem(
        app.audit_get("/v1/audit/records?kind=bogus").await,
        422,
        "invalid_field",
    )
    .await;
    let user_token = app.token("u-1", "consents");
    let response = app.api_get("/v1/audit/records", Some(&user_token)).await;
    problem(response, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn refused_requests_are_recorded_as_access_denied() {
    let app = spawn_app().await;
    let response = app.api_get("/v1/consents", Some("not-a-token")).await;
    assert_eq!(response.status().as_u16(), 401);
    let response = app
        .post_consent(
            "u-1",
            &json!({"recipient": "messenger", "bank": "bank-a", "purposes": ["Advertising.targeted"], "fields": ["transaction.amount_minor"]}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    app.push_transactions(
        &app.pki.unregistered,
        &json!({"transactions": [transaction("t-1", "u-1")]}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let records = app.all_audit_records().await;
        let reasons: Vec<&str> = records
            .iter()
            .filter(|r| r["kind"] == "access.denied")
            .filter_map(|r| r["detail"]["reason"].as_str())
            .collect();
        if ["invalid_token", "forbidden_purpose", "unknown_bank"]
            .iter()
            .all(|r| reasons.contains(r))
        {
            let attempt = records
                .iter()
                .find(|r| r["detail"]["reason"] == "forbidden_purpose")
                .unwrap();
            assert_eq!(attempt["purpose"], "advertising.targeted");
            assert_eq!(attempt["user_id"], "u-1");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "denials not recorded: {reasons:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_verify_against_signed_checkpoints() {
    let app = spawn_app_with(Options {
        checkpoint_every: Some(3),
        ..Options::default()
    })
    .await;
    busy_day(&app).await;
    let key: Value = app
        .api_get("/v1/audit/public-key", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["key_name"], "consentgate/test");
    let verifier =
        consentgate::audit::primitives::NoteVerifier::parse(key["verifier"].as_str().unwrap())
            .unwrap();

    let note = app
        .audit_get("/v1/audit/checkpoint")
        .await
        .text()
        .await
        .unwrap();
    verifier.open(&note).unwrap();
    let (origin, size, root) = checkpoint_body(&note);
    assert_eq!(origin, "consentgate/test");
    assert!(size >= 3);
    let records = app.all_audit_records().await;
    for index in 0..size {
        let proof = app
            .audit_json(&format!(
                "/v1/audit/proof/inclusion?index={index}&size={size}"
            ))
            .await;
        let leaf = canonical(&records[index as usize]);
        assert!(
            verify_inclusion(leaf.as_bytes(), index, size, &hashes(&proof), &root),
            "leaf {index}"
        );
        let mut tampered = leaf.clone().into_bytes();
        tampered[2] ^= 1;
        assert!(!verify_inclusion(
            &tampered,
            index,
            size,
            &hashes(&proof),
            &root
        ));
    }

    let list = app.audit_json("/v1/audit/checkpoints").await;
    let list = list["checkpoints"].as_array().unwrap();
    assert!(list.len() >= 2, "{list:?}");
    let sizes: Vec<u64> = list.iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "sizes only grow: {sizes:?}"
    );
    let (from, to) = (sizes[0], *sizes.last().unwrap());
    let proof = app
        .audit_json(&format!("/v1/audit/proof/consistency?from={from}&to={to}"))
        .await;
    let old_root = checkpoint_body(list[0]["note"].as_str().unwrap()).2;
    let new_root = checkpoint_body(list.last().unwrap()["note"].as_str().unwrap()).2;
    assert!(consentgate::audit::primitives::verify_consistency(
        from,
        to,
        &old_root,
        &new_root,
        &hashes(&proof)
    ));
    problem(
        app.audit_get("/v1/audit/proof/inclusion?index=5&size=5")
            .await,
        422,
        "invalid_field",
    )
    .await;
    problem(
        app.audit_get("/v1/audit/proof/inclusion?index=0&size=999999")
            .await,
        422,
        "invalid_field",
    )
    .await;
}

#[tokio::test]
async fn a_user_sees_their_own_records_with_delivery_status_and_a_proof_of_each() {
    let app = spawn_app().await;
    busy_day(&app).await;
    let log = app.get_json_as("u-1", "/v1/me/access-log").await;
    let items = log["items"].as_array().unwrap();
    let releases: Vec<&Value> = items.iter().filter(|i| i["kind"] == "release").collect();
    assert_eq!(releases.len(), 2);
    assert!(
        releases
            .iter()
            .all(|r| r["delivery"] == "pending" && r["recipient"] == "messenger")
    );
    let indexes: Vec<u64> = items.iter().map(|i| i["index"].as_u64().unwrap()).collect();
    assert!(
        indexes.windows(2).all(|w| w[0] > w[1]),
        "newest first: {indexes:?}"
    );
    assert!(log.get("next_cursor").is_none());

    let page = app.get_json_as("u-1", "/v1/me/access-log?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get_json_as("u-1", &format!("/v1/me/access-log?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["index"], json!(indexes[1]));

    let index = releases[0]["index"].as_u64().unwrap();
    let proof = app
        .get_json_as("u-1", &format!("/v1/me/proof/{index}"))
        .await;
    assert_eq!(proof["index"], index);
    let (_, size, root) = checkpoint_body(proof["checkpoint"].as_str().unwrap());
    assert!(size > index);
    let leaf = canonical(&proof["record"]);
    assert!(verify_inclusion(
        leaf.as_bytes(),
        index,
        size,
        &hashes(&proof),
        &root
    ));

    problem(
        app.get_as("u-2", &format!("/v1/me/proof/{index}")).await,
        404,
        "not_found",
    )
    .await;
    let other = app.get_json_as("u-2", "/v1/me/access-log").await;
    assert!(
        other["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["index"] != json!(index))
    );
}

#[tokio::test]
async fn the_purposes_report_counts_releases_and_prohibited_attempts_from_the_records() {
    let app = spawn_app().await;
    busy_day(&app).await;
    for spelling in ["advertising", " Marketing "] {
        let response = app
            .post_consent(
                "u-3",
                &json!({"recipient": "messenger", "bank": "bank-a", "purposes": [spelling], "fields": ["transaction.amount_minor"]}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 422);
    }
    let report = app.audit_json("/v1/audit/reports/purposes").await;
    assert_eq!(report["releases_by_purpose"]["fraud_alert"], 1);
    assert_eq!(report["releases_by_purpose"]["finance_tracking"], 1);
    assert_eq!(report["releases_by_recipient"]["messenger"], 2);
    assert_eq!(report["prohibited_purpose_releases"], 0);
    assert_eq!(report["prohibited_purpose_attempts"], 2);
}

#[tokio::test]
async fn two_gateway_nodes_appending_to_one_database_keep_indexes_dense() {
    let app = spawn_app().await;
    let mut second = app.spawn_second_node();
    let mut tasks = Vec::new();
    for node in 0..2 {
        for worker in 0..4 {
            let client = app.bank_client(&app.pki.bank_a);
            let url = if node == 0 {
                app.bank_url.clone()
            } else {
                second.bank_url.clone()
            };
            tasks.push(tokio::spawn(async move {
                for n in 0..5 {
                    let txn = transaction(&format!("n{node}-w{worker}-{n}"), "u-1");
                    let response = client
                        .post(format!("{url}/v1/transactions"))
                        .json(&json!({"transactions": [txn]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 202);
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = app.all_audit_records().await;
    let ingests = records.iter().filter(|r| r["kind"] == "ingest").count();
    assert_eq!(ingests, 40);
    for (position, record) in records.iter().enumerate() {
        assert_eq!(record["index"], position as u64);
    }
    let count = stored_count(&mut app.database.connect());
    let size = app.count_sql("SELECT size AS n FROM audit_tree_head");
    assert_eq!(count, size);
    second.stop().await;
}

#[tokio::test]
async fn online_verify_is_ok_then_finds_a_record_edited_behind_the_gateways_back() {
    let app = spawn_app_with(Options {
        checkpoint_every: Some(2),
        ..Options::default()
    })
    .await;
    busy_day(&app).await;
    let report = app.audit_json("/v1/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["checkpoints_verified"].as_u64().unwrap() >= 2,
        "{report}"
    );
    let size = report["size"].as_u64().unwrap();
    assert!(size >= 6);
    let mut conn = app.database.connect();
    let victim = nth_of_kind(&mut conn, "release", 0);
    edit_record(
        &mut conn,
        victim,
        "transaction.card_last4",
        "transaction.card_last5",
    );
    let report = app.audit_json("/v1/audit/verify").await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_index"], victim, "{report}");
}

#[tokio::test]
async fn malformed_or_out_of_range_query_parameters_are_problems_not_500s() {
    let app = spawn_app().await;
    busy_day(&app).await;
    let body = problem(
        app.audit_get("/v1/audit/records?limit=1&limit=2").await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        !body["detail"].as_str().unwrap().contains("duplicate field"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("`limit`"),
        "names the parameter: {body}"
    );
    let body = problem(
        app.audit_get("/v1/audit/records?after_index=9223372036854775808")
            .await,
        422,
        "invalid_field",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "#/query/after_index");
    // Refused calls are auditor calls too: each is on the record (CONTRACT §9).
    let queries = app.audit_json("/v1/audit/records?kind=audit.query").await;
    let logged: Vec<&str> = queries["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"]["query"].as_str().unwrap())
        .collect();
    assert!(logged.contains(&"limit=1&limit=2"), "{logged:?}");
    assert!(
        logged.contains(&"after_index=9223372036854775808"),
        "{logged:?}"
    );
    problem(
        app.get_as("u-1", "/v1/me/proof/9223372036854775808").await,
        404,
        "not_found",
    )
    .await;
    let body = problem(
        app.get_as("u-1", "/v1/consents?status=bogus").await,
        422,
        "invalid_field",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "#/query/status");
}
