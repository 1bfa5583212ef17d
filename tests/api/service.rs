//! Service endpoints on the API listener.

use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app, transaction};

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_the_database_answers() {
    let app = spawn_app().await;
    let health = app.api_get("/healthz", None).await;
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.api_get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_records_ingested() {
    let app = spawn_app().await;
    let batch = json!({"transactions": [transaction("t-1", "u-1"), transaction("t-2", "u-1")]});
    app.push_transactions(&app.pki.bank_a, &batch).await;
    app.push_transactions(&app.pki.bank_a, &batch).await;
    let text = app.api_get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(r#"consentgate_http_requests_total{listener="bank",route="/v1/transactions",method="POST",status="202"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"consentgate_records_ingested_total{kind="transaction"} 2"#),
        "{text}"
    );
    assert!(
        text.contains("consentgate_records_duplicate_total 2"),
        "{text}"
    );
    assert!(
        text.contains("consentgate_http_request_duration_seconds_bucket{listener=\"bank\""),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.api_get("/v1/nothing-here", None).await;
    problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn metrics_count_releases_withheld_fields_by_reason_and_the_audit_tree_size() {
    let app = spawn_app().await;
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert"],
        &["transaction.amount_minor", "transaction.currency"],
    )
    .await;
    app.grant("u-2", "bank-a", &["fraud_alert"], &["balance.as_of"])
        .await;
    let batch = json!({"transactions": [transaction("t-1", "u-1"), transaction("t-2", "u-2")]});
    assert_eq!(
        app.push_transactions(&app.pki.bank_a, &batch)
            .await
            .status()
            .as_u16(),
        202
    );
    // Webhook attempts add records in the background; let them settle.
    app.settle_deliveries().await;
    let text = app.api_get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("consentgate_releases_total 1\n"), "{text}");
    assert!(text.contains("consentgate_withholds_total 1\n"), "{text}");
    // u-1: 8 of 10 transaction fields not consented; u-2: all 10.
    assert!(
        text.contains("consentgate_fields_withheld_total{reason=\"no_consent\"} 18\n"),
        "{text}"
    );
    let size: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("consentgate_audit_tree_size "))
        .unwrap()
        .parse()
        .unwrap();
    let stored = app.count_sql("SELECT size AS n FROM audit_tree_head");
    assert_eq!(size as i64, stored);
    assert!(
        size >= 6,
        "policy load, 2 grants, ingest, release, withhold: {size}"
    );
}

/// PostgreSQL only: SQLite is a local file that cannot be made unreachable while open.
#[tokio::test]
async fn an_unreachable_database_answers_503_and_releases_nothing_then_the_gateway_recovers() {
    let app = spawn_app().await;
    let crate::helpers::TestDatabase::Postgres {
        admin_url, name, ..
    } = &app.database
    else {
        eprintln!(
            "skipped on SQLite: the database file cannot be taken away from open connections"
        );
        return;
    };
    app.grant_amount_for_fraud_alert("u-1").await;
    let admin = |sql: String| {
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(admin_url).unwrap();
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).unwrap();
    };
    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
    let batch = json!({"transactions": [transaction("t-1", "u-1")]});
    let response = app.push_transactions(&app.pki.bank_a, &batch).await;
    let body = problem(response, 503, "not_ready").await;
    assert!(
        !body["detail"].as_str().unwrap().contains("terminat"),
        "no internal detail: {body}"
    );
    let ready = app.api_get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 503);

    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let response = app.push_transactions(&app.pki.bank_a, &batch).await;
    assert_eq!(response.status().as_u16(), 202, "the writer reconnects");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["results"][0]["status"], "accepted",
        "the refused attempt stored nothing"
    );
    assert_eq!(body["results"][0]["releases"].as_array().unwrap().len(), 1);
    let ready = app.api_get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 200);
}
