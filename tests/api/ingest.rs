//! Bank ingest: status codes, validation pointers, atomicity, idempotency.

use serde_json::{Value, json};

use crate::helpers::{
    TestDatabase, balance, pointers, problem, spawn_app, transaction, transactions,
};

#[tokio::test]
async fn a_valid_batch_is_accepted_with_a_result_per_transaction() {
    let app = spawn_app().await;
    let body = json!({"transactions": [transaction("t-1", "u-1"), transaction("t-2", "u-2")]});
    let response = app.push_transactions(&app.pki.bank_a, &body).await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["duplicates"], 0);
    assert_eq!(
        body["results"][0],
        json!({"txn_id": "t-1", "status": "accepted", "releases": []})
    );
    assert_eq!(body["results"][1]["txn_id"], "t-2");
}

#[tokio::test]
async fn an_identical_resend_is_a_duplicate_and_releases_nothing_again() {
    let app = spawn_app().await;
    let body = json!({"transactions": [transaction("t-1", "u-1")]});
    assert_eq!(
        app.push_transactions(&app.pki.bank_a, &body).await.status(),
        202
    );
    let again = json!({"transactions": [transaction("t-1", "u-1"), transaction("t-3", "u-1")]});
    let response = app.push_transactions(&app.pki.bank_a, &again).await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["results"][0]["status"], "duplicate");
    assert_eq!(body["results"][0]["releases"], json!([]));
    assert_eq!(body["results"][1]["status"], "accepted");
}

#[tokio::test]
async fn the_same_instant_written_with_another_offset_is_the_same_transaction() {
    let app = spawn_app().await;
    let first = json!({"transactions": [transaction("t-1", "u-1")]});
    app.push_transactions(&app.pki.bank_a, &first).await;
    let mut shifted = transaction("t-1", "u-1");
    shifted["occurred_at"] = json!("2026-11-24T12:00:00+02:00");
    let response = app
        .push_transactions(&app.pki.bank_a, &json!({"transactions": [shifted]}))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "duplicate");
}

#[tokio::test]
async fn a_resent_txn_id_with_other_content_is_a_conflict_for_the_whole_batch() {
    let app = spawn_app().await;
    app.push_transactions(
        &app.pki.bank_a,
        &json!({"transactions": [transaction("t-1", "u-1")]}),
    )
    .await;
    let mut changed = transaction("t-1", "u-1");
    changed["amount_minor"] = json!(999_999);
    let batch = json!({"transactions": [transaction("t-new", "u-1"), changed]});
    let response = app.push_transactions(&app.pki.bank_a, &batch).await;
    let body = problem(response, 409, "conflict").await;
    assert_eq!(pointers(&body), vec!["/transactions/1/txn_id"]);
    // Nothing of the refused batch was stored: t-new is new when sent alone.
    let alone = app
        .push_transactions(
            &app.pki.bank_a,
            &json!({"transactions": [transaction("t-new", "u-1")]}),
        )
        .await;
    let body: Value = alone.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "accepted");
}

#[tokio::test]
async fn a_bank_never_affects_another_banks_keys() {
    let app = spawn_app().await;
    let batch = json!({"transactions": [transaction("t-1", "u-1")]});
    app.push_transactions(&app.pki.bank_a, &batch).await;
    let mut other = transaction("t-1", "u-9");
    other["amount_minor"] = json!(5);
    let response = app
        .push_transactions(&app.pki.bank_b, &json!({"transactions": [other]}))
        .await;
    assert_eq!(
        response.status().as_u16(),
        202,
        "bank-b's t-1 is not bank-a's"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "accepted");
}

#[tokio::test]
async fn every_bad_member_of_every_item_gets_a_pointer_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut bad_currency = transaction("t-2", "u-1");
    bad_currency["currency"] = json!("EURO");
    let mut with_pan = transaction("t-3", "u-1");
    with_pan["pan"] = json!("4242424242424242");
    let mut missing = transaction("t-4", "u-1");
    missing.as_object_mut().unwrap().remove("merchant_name");
    let mut bad_channel = transaction("t-5", "u-1");
    bad_channel["channel"] = json!("phone");
    let batch = json!({"transactions": [transaction("t-1", "u-1"), bad_currency, with_pan, missing, bad_channel]});
    let response = app.push_transactions(&app.pki.bank_a, &batch).await;
    let body = problem(response, 422, "invalid_field").await;
    assert_eq!(
        pointers(&body),
        vec![
            "/transactions/1/currency",
            "/transactions/2/pan",
            "/transactions/3/merchant_name",
            "/transactions/4/channel",
        ]
    );
    let alone = app
        .push_transactions(
            &app.pki.bank_a,
            &json!({"transactions": [transaction("t-1", "u-1")]}),
        )
        .await;
    let body: Value = alone.json().await.unwrap();
    assert_eq!(
        body["results"][0]["status"], "accepted",
        "the refused batch stored nothing"
    );
}

#[tokio::test]
async fn an_unknown_top_level_member_is_invalid() {
    let app = spawn_app().await;
    let batch = json!({"transactions": [transaction("t-1", "u-1")], "bank_id": "bank-b"});
    let response = app.push_transactions(&app.pki.bank_a, &batch).await;
    let body = problem(response, 422, "invalid_field").await;
    assert_eq!(pointers(&body), vec!["/bank_id"]);
}

#[tokio::test]
async fn an_empty_batch_is_invalid_and_more_than_a_thousand_is_too_large() {
    let app = spawn_app().await;
    let response = app
        .push_transactions(&app.pki.bank_a, &json!({"transactions": []}))
        .await;
    let body = problem(response, 422, "invalid_field").await;
    assert_eq!(pointers(&body), vec!["/transactions"]);

    let items: Vec<Value> = (0..1001)
        .map(|i| transaction(&format!("t-{i}"), "u-1"))
        .collect();
    let response = app
        .push_transactions(&app.pki.bank_a, &json!({"transactions": items}))
        .await;
    problem(response, 422, "batch_too_large").await;
}

#[tokio::test]
async fn a_batch_of_a_thousand_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .push_transactions(&app.pki.bank_a, &transactions("t", "u-1", 1000))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1000);
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .bank_client(&app.pki.bank_a)
        .post(format!("{}/v1/transactions", app.bank_url))
        .header("content-type", "application/json")
        .body("{\"transactions\": [")
        .send()
        .await
        .unwrap();
    problem(response, 400, "bad_request").await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_a_400() {
    let app = spawn_app().await;
    let body = json!({"transactions": [transaction("t-1", "u-1")]}).to_string();
    let response = app
        .bank_client(&app.pki.bank_a)
        .post(format!("{}/v1/transactions", app.bank_url))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    problem(response, 400, "bad_request").await;
}

#[tokio::test]
async fn a_body_over_four_mebibytes_is_a_413() {
    let app = spawn_app().await;
    let mut item = transaction("t-1", "u-1");
    item["merchant_name"] = json!("x".repeat(4 * 1024 * 1024));
    let response = app
        .push_transactions(&app.pki.bank_a, &json!({"transactions": [item]}))
        .await;
    problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn balances_are_idempotent_per_account_and_instant() {
    let app = spawn_app().await;
    let batch = json!({"balances": [balance("acc-1", "u-1")]});
    let response = app.push_balances(&app.pki.bank_a, &batch).await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["account_ref"], "acc-1");
    assert_eq!(body["results"][0]["status"], "accepted");

    let mut later = balance("acc-1", "u-1");
    later["as_of"] = json!("2026-11-24T11:00:00Z");
    let response = app
        .push_balances(
            &app.pki.bank_a,
            &json!({"balances": [balance("acc-1", "u-1"), later]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "duplicate");
    assert_eq!(body["results"][1]["status"], "accepted");

    let mut changed = balance("acc-1", "u-1");
    changed["available_minor"] = json!(1);
    let response = app
        .push_balances(&app.pki.bank_a, &json!({"balances": [changed]}))
        .await;
    let body = problem(response, 409, "conflict").await;
    assert_eq!(pointers(&body), vec!["/balances/0/account_ref"]);
}

#[tokio::test]
async fn a_balance_with_a_bad_member_gets_a_pointer() {
    let app = spawn_app().await;
    let mut bad = balance("acc-1", "u-1");
    bad["ledger_minor"] = json!("260000");
    bad["as_of"] = json!("2026-11-24 10:00");
    let response = app
        .push_balances(&app.pki.bank_a, &json!({"balances": [bad]}))
        .await;
    let body = problem(response, 422, "invalid_field").await;
    assert_eq!(
        pointers(&body),
        vec!["/balances/0/as_of", "/balances/0/ledger_minor"]
    );
}

#[tokio::test]
async fn concurrent_batches_are_each_answered_with_their_own_results() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for n in 0..24 {
        let client = app.bank_client(&app.pki.bank_a);
        let url = format!("{}/v1/transactions", app.bank_url);
        tasks.push(tokio::spawn(async move {
            let items: Vec<Value> = (0..10)
                .map(|i| transaction(&format!("c{n}-{i}"), "u-1"))
                .collect();
            let response = client
                .post(url)
                .json(&json!({"transactions": items}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 202);
            let body: Value = response.json().await.unwrap();
            (n, body)
        }));
    }
    for task in tasks {
        let (n, body) = task.await.unwrap();
        assert_eq!(body["accepted"], 10);
        assert_eq!(body["results"][9]["txn_id"], format!("c{n}-9"));
    }
}

#[tokio::test]
async fn a_get_on_an_ingest_route_is_a_405_problem() {
    let app = spawn_app().await;
    let response = app
        .bank_client(&app.pki.bank_a)
        .get(format!("{}/v1/transactions", app.bank_url))
        .send()
        .await
        .unwrap();
    problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_bank_over_its_rate_gets_429_with_retry_after_and_other_banks_are_unaffected() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        bank_b_rate: Some(1),
        ..crate::helpers::Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..4 {
        let response = app
            .push_transactions(
                &app.pki.bank_b,
                &json!({"transactions": [transaction(&format!("t-{n}"), "u-1")]}),
            )
            .await;
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            problem(response, 429, "rate_limited").await;
        }
    }
    assert_eq!(
        &statuses[..2],
        &[202, 202],
        "the burst of two is admitted: {statuses:?}"
    );
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    for n in 0..4 {
        let response = app
            .push_transactions(
                &app.pki.bank_a,
                &json!({"transactions": [transaction(&format!("a-{n}"), "u-1")]}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 202, "bank-a has no limit");
    }
}

#[tokio::test]
async fn on_postgres_the_planner_statistics_follow_a_table_that_grows_fast() {
    let app = spawn_app().await;
    if !matches!(app.database, TestDatabase::Postgres { .. }) {
        // SQLite plans these lookups without statistics; `db::analyze` checks it starts none.
        return;
    }
    let analyzed = |app: &crate::helpers::TestApp| {
        app.count_sql(
            "SELECT COUNT(*) AS n FROM pg_stat_user_tables \
             WHERE relname = 'ingested_transactions' AND last_analyze IS NOT NULL",
        )
    };
    assert_eq!(analyzed(&app), 0, "a new database was never analyzed");
    // 10,000 records: when the gateway's writer first refreshes the statistics.
    for batch in 0..10 {
        let response = app
            .push_transactions(
                &app.pki.bank_a,
                &transactions(&format!("t-{batch}"), "u-1", 1000),
            )
            .await;
        assert_eq!(response.status().as_u16(), 202);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while analyzed(&app) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "ingested_transactions was not analyzed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        app.count_sql(
            "SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'ingested_transactions'"
        ) >= 9_000,
        "the planner knows the table's size"
    );
}
