//! Decisions at ingest: exactly the fields the table and the consent allow, per purpose.

use std::collections::BTreeMap;

use consentgate::pki::IssuedCert;
use serde_json::{Value, json};

use crate::helpers::{ALL_FIELDS, TestApp, balance, spawn_app, transaction};

/// `purpose -> (released, withheld field -> reason)` of one result.
fn by_purpose(result: &Value) -> BTreeMap<String, (Vec<String>, BTreeMap<String, String>)> {
    result["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let released = r["released"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            let withheld = r["withheld"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    (
                        w["field"].as_str().unwrap().to_string(),
                        w["reason"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                r["purpose"].as_str().unwrap().to_string(),
                (released, withheld),
            )
        })
        .collect()
}

/// Pushes `txn` alone as the bank of `cert` and returns its result.
async fn push_one(app: &TestApp, cert: &IssuedCert, txn: Value) -> Value {
    let response = app
        .push_transactions(cert, &json!({"transactions": [txn]}))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    body["results"][0].clone()
}

fn names(prefix: &str, members: &[&str]) -> Vec<String> {
    members.iter().map(|m| format!("{prefix}.{m}")).collect()
}

#[tokio::test]
async fn every_row_of_the_default_table_is_released_exactly_per_purpose() {
    let app = spawn_app().await;
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert", "customer_service", "finance_tracking"],
        &ALL_FIELDS,
    )
    .await;
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    let releases = by_purpose(&result);
    let core = [
        "amount_minor",
        "currency",
        "merchant_name",
        "merchant_category_code",
        "status",
        "occurred_at",
    ];
    let place = ["merchant_city", "merchant_country", "channel", "card_last4"];
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    for purpose in ["fraud_alert", "customer_service"] {
        let (released, withheld) = &releases[purpose];
        let expected = sorted([names("transaction", &core), names("transaction", &place)].concat());
        assert_eq!(sorted(released.clone()), expected, "{purpose}");
        assert!(withheld.is_empty(), "{purpose}: {withheld:?}");
    }
    let (released, withheld) = &releases["finance_tracking"];
    assert_eq!(
        sorted(released.clone()),
        sorted(names("transaction", &core))
    );
    for field in names("transaction", &place) {
        assert_eq!(withheld[&field], "not_permitted_by_policy", "{field}");
    }

    let response = app
        .push_balances(
            &app.pki.bank_a,
            &json!({"balances": [balance("acc-1", "u-1")]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    let releases = by_purpose(&body["results"][0]);
    let balance_fields = sorted(names(
        "balance",
        &["available_minor", "ledger_minor", "currency", "as_of"],
    ));
    assert!(
        !releases.contains_key("fraud_alert"),
        "fraud_alert gets no balance field: {releases:?}"
    );
    for purpose in ["customer_service", "finance_tracking"] {
        assert_eq!(
            sorted(releases[purpose].0.clone()),
            balance_fields,
            "{purpose}"
        );
    }
}

#[tokio::test]
async fn a_field_outside_the_consent_is_withheld_as_no_consent() {
    let app = spawn_app().await;
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert"],
        &["transaction.amount_minor", "transaction.currency"],
    )
    .await;
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    let releases = by_purpose(&result);
    let (released, withheld) = &releases["fraud_alert"];
    assert_eq!(
        released,
        &vec![
            "transaction.amount_minor".to_string(),
            "transaction.currency".to_string()
        ]
    );
    assert_eq!(
        withheld.len(),
        8,
        "every other transaction field is listed: {withheld:?}"
    );
    assert_eq!(withheld["transaction.card_last4"], "no_consent");
    assert_eq!(withheld["transaction.merchant_name"], "no_consent");
    assert_eq!(result["releases"][0]["recipient"], "messenger");
    assert!(result["releases"][0]["event_id"].is_string());
}

#[tokio::test]
async fn an_absent_optional_member_is_withheld_as_field_absent() {
    let app = spawn_app().await;
    app.grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    let mut txn = transaction("t-1", "u-1");
    txn.as_object_mut().unwrap().remove("card_last4");
    let result = push_one(&app, &app.pki.bank_a, txn).await;
    let (released, withheld) = &by_purpose(&result)["fraud_alert"];
    assert!(!released.contains(&"transaction.card_last4".to_string()));
    assert_eq!(withheld["transaction.card_last4"], "field_absent");
}

#[tokio::test]
async fn a_revoked_consent_releases_nothing() {
    let app = spawn_app().await;
    let consent = app
        .grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    assert_eq!(
        app.revoke("u-1", consent["id"].as_str().unwrap())
            .await
            .status()
            .as_u16(),
        200
    );
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(result["releases"], json!([]));
}

#[tokio::test]
async fn an_expired_consent_releases_nothing() {
    let app = spawn_app().await;
    let consent = app
        .grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    app.expire_consent(consent["id"].as_str().unwrap());
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(result["releases"], json!([]));
}

#[tokio::test]
async fn bank_a_consent_releases_nothing_of_bank_b_data() {
    let app = spawn_app().await;
    app.grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    let result = push_one(&app, &app.pki.bank_b, transaction("t-1", "u-1")).await;
    assert_eq!(result["releases"], json!([]));
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(
        result["releases"].as_array().unwrap().len(),
        1,
        "bank-a's own data is released"
    );
}

#[tokio::test]
async fn another_users_consent_releases_nothing_of_this_users_data() {
    let app = spawn_app().await;
    app.grant("u-2", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    let result = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(result["releases"], json!([]));
}

#[tokio::test]
async fn a_prohibited_purpose_forced_into_the_database_releases_nothing() {
    let app = spawn_app().await;
    let consent = app
        .grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    for forced in ["advertising", "Marketing", "profiling.scores"] {
        app.execute_sql(&format!(
            "UPDATE consents SET purposes = '[\"{forced}\"]', version = version + 1 WHERE id = '{}'",
            consent["id"].as_str().unwrap()
        ));
        let txn_id = format!("t-{forced}");
        let result = push_one(&app, &app.pki.bank_a, transaction(&txn_id, "u-1")).await;
        assert_eq!(result["releases"], json!([]), "{forced}");
    }
}

#[tokio::test]
async fn a_duplicate_releases_nothing_again() {
    let app = spawn_app().await;
    app.grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
        .await;
    let first = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(first["releases"].as_array().unwrap().len(), 1);
    let again = push_one(&app, &app.pki.bank_a, transaction("t-1", "u-1")).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["releases"], json!([]));
}

#[tokio::test]
async fn once_a_revocation_has_returned_no_ingest_commits_a_release_under_it() {
    let app = spawn_app().await;
    for round in 0..15 {
        let consent = app
            .grant("u-1", "bank-a", &["fraud_alert"], &ALL_FIELDS)
            .await;
        let id = consent["id"].as_str().unwrap().to_string();
        let mut pushers = Vec::new();
        for worker in 0..6 {
            let client = app.bank_client(&app.pki.bank_a);
            let url = format!("{}/v1/transactions", app.bank_url);
            pushers.push(tokio::spawn(async move {
                for n in 0..4 {
                    let txn = transaction(&format!("r{round}-w{worker}-n{n}"), "u-1");
                    let response = client
                        .post(&url)
                        .json(&json!({"transactions": [txn]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 202);
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(round % 5)).await;
        assert_eq!(app.revoke("u-1", &id).await.status().as_u16(), 200);
        // After DELETE returned: a fresh push releases nothing under it.
        let after = push_one(
            &app,
            &app.pki.bank_a,
            transaction(&format!("r{round}-after"), "u-1"),
        )
        .await;
        assert_eq!(after["releases"], json!([]), "round {round}");
        for pusher in pushers {
            pusher.await.unwrap();
        }
        // Any release committed after the revocation would still be pending (the
        // revocation cancels only what exists when it commits).
        let pending = app.count_sql(&format!(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE consent_id = '{id}' AND status = 'pending' AND event_type <> 'consent.revoked'"
        ));
        assert_eq!(
            pending, 0,
            "round {round}: a release was committed after the revocation"
        );
    }
}

#[tokio::test]
async fn a_large_batch_planned_off_the_http_worker_is_decided_as_single_pushes_are() {
    // Batches of up to 8 items are planned on the HTTP worker, larger ones on the blocking
    // pool: both must come to the same decisions, and neither may release for a user
    // without a consent.
    let app = spawn_app().await;
    app.grant(
        "u-1",
        "bank-a",
        &["fraud_alert", "customer_service"],
        &ALL_FIELDS,
    )
    .await;
    let single = by_purpose(&push_one(&app, &app.pki.bank_a, transaction("t-0", "u-1")).await);
    assert_eq!(single.len(), 2);
    let batch: Vec<Value> = (1..=12)
        .map(|n| transaction(&format!("t-{n}"), if n % 3 == 0 { "u-2" } else { "u-1" }))
        .collect();
    let response = app
        .push_transactions(&app.pki.bank_a, &json!({"transactions": batch}))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for (n, result) in (1..=12).zip(results) {
        if n % 3 == 0 {
            assert_eq!(result["releases"], json!([]), "item {n} is of u-2");
        } else {
            assert_eq!(by_purpose(result), single, "item {n}");
        }
    }
}
