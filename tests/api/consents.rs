//! The consent API: grant, preview, list, read, revoke; ownership; validation codes.

use serde_json::{Value, json};

use crate::helpers::{pointers, problem, spawn_app};

fn body(purposes: Value, fields: Value) -> Value {
    json!({"recipient": "messenger", "bank": "bank-a", "purposes": purposes, "fields": fields})
}

#[tokio::test]
async fn a_grant_is_201_with_location_and_a_90_day_default_expiry() {
    let app = spawn_app().await;
    let response = app
        .post_consent(
            "u-1",
            &body(json!(["fraud_alert"]), json!(["transaction.amount_minor"])),
        )
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let consent: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/consents/{}", consent["id"].as_str().unwrap())
    );
    assert_eq!(consent["user_id"], "u-1");
    assert_eq!(consent["recipient"], "messenger");
    assert_eq!(consent["bank"], "bank-a");
    assert_eq!(consent["purposes"], json!(["fraud_alert"]));
    assert_eq!(consent["fields"], json!(["transaction.amount_minor"]));
    assert_eq!(consent["status"], "active");
    assert_eq!(consent["revoked_at"], Value::Null);
    let granted =
        chrono::DateTime::parse_from_rfc3339(consent["granted_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(consent["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires - granted).num_hours() as f64 / 24.0;
    assert!(
        (89.9..=90.1).contains(&days),
        "default lifetime {days} days"
    );

    let fetched = app.get_json_as("u-1", &location).await;
    assert_eq!(fetched, consent);
}

#[tokio::test]
async fn an_expiry_beyond_365_days_or_in_the_past_is_invalid() {
    let app = spawn_app().await;
    let far = (chrono::Utc::now() + chrono::Duration::days(366)).to_rfc3339();
    let mut request = body(json!(["fraud_alert"]), json!(["transaction.amount_minor"]));
    request["expires_at"] = json!(far);
    let response = app.post_consent("u-1", &request).await;
    assert_eq!(
        pointers(&problem(response, 422, "invalid_field").await),
        vec!["/expires_at"]
    );
    request["expires_at"] = json!("2020-01-01T00:00:00Z");
    let response = app.post_consent("u-1", &request).await;
    assert_eq!(
        pointers(&problem(response, 422, "invalid_field").await),
        vec!["/expires_at"]
    );
    let near = (chrono::Utc::now() + chrono::Duration::days(364)).to_rfc3339();
    request["expires_at"] = json!(near);
    assert_eq!(
        app.post_consent("u-1", &request).await.status().as_u16(),
        201
    );
}

#[tokio::test]
async fn a_user_id_in_the_body_is_invalid() {
    let app = spawn_app().await;
    let mut request = body(json!(["fraud_alert"]), json!(["transaction.amount_minor"]));
    request["user_id"] = json!("u-2");
    let response = app.post_consent("u-1", &request).await;
    assert_eq!(
        pointers(&problem(response, 422, "invalid_field").await),
        vec!["/user_id"]
    );
    let list = app.get_json_as("u-2", "/v1/consents").await;
    assert_eq!(
        list["consents"],
        json!([]),
        "nothing was created for anyone"
    );
}

#[tokio::test]
async fn every_spelling_of_a_prohibited_purpose_is_refused_at_grant_and_preview() {
    let app = spawn_app().await;
    for spelling in [
        "advertising",
        "Advertising",
        " marketing ",
        "MARKETING",
        "advertising.targeted",
        "marketing.email",
        "ad_targeting",
        "ad_measurement",
        "profiling",
        "Profiling.Risk",
        "cross_selling",
        "data_sale",
        "DATA_SALE.brokers",
    ] {
        let request = body(
            json!(["fraud_alert", spelling]),
            json!(["transaction.amount_minor"]),
        );
        let response = app.post_consent("u-1", &request).await;
        let problem_body = problem(response, 422, "forbidden_purpose").await;
        assert_eq!(pointers(&problem_body), vec!["/purposes/1"], "{spelling}");
        let response = app.preview_consent("u-1", &request).await;
        problem(response, 422, "forbidden_purpose").await;
    }
    let list = app.get_json_as("u-1", "/v1/consents").await;
    assert_eq!(list["consents"], json!([]));
}

#[tokio::test]
async fn unknown_purposes_fields_recipients_and_banks_have_their_own_codes() {
    let app = spawn_app().await;
    let response = app
        .post_consent(
            "u-1",
            &body(json!(["weather"]), json!(["transaction.amount_minor"])),
        )
        .await;
    assert_eq!(
        pointers(&problem(response, 422, "unknown_purpose").await),
        vec!["/purposes/0"]
    );
    let response = app
        .post_consent(
            "u-1",
            &body(json!(["fraud_alert"]), json!(["transaction.pan"])),
        )
        .await;
    assert_eq!(
        pointers(&problem(response, 422, "unknown_field").await),
        vec!["/fields/0"]
    );
    let mut request = body(json!(["fraud_alert"]), json!(["transaction.amount_minor"]));
    request["recipient"] = json!("adtech");
    let response = app.post_consent("u-1", &request).await;
    assert_eq!(
        pointers(&problem(response, 422, "unknown_recipient").await),
        vec!["/recipient"]
    );
    let mut request = body(json!(["fraud_alert"]), json!(["transaction.amount_minor"]));
    request["bank"] = json!("bank-zz");
    let response = app.post_consent("u-1", &request).await;
    assert_eq!(
        pointers(&problem(response, 422, "unknown_bank").await),
        vec!["/bank"]
    );
}

#[tokio::test]
async fn preview_shows_what_each_purpose_would_receive_and_creates_nothing() {
    let app = spawn_app().await;
    let request = body(
        json!(["finance_tracking", "fraud_alert"]),
        json!([
            "transaction.amount_minor",
            "transaction.merchant_city",
            "balance.available_minor"
        ]),
    );
    let response = app.preview_consent("u-1", &request).await;
    assert_eq!(response.status().as_u16(), 200);
    let preview: Value = response.json().await.unwrap();
    assert_eq!(
        preview,
        json!({"purposes": [
            {"purpose": "finance_tracking",
             "released": ["transaction.amount_minor", "balance.available_minor"],
             "withheld": [{"field": "transaction.merchant_city", "reason": "not_permitted_by_policy"}]},
            {"purpose": "fraud_alert",
             "released": ["transaction.amount_minor", "transaction.merchant_city"],
             "withheld": [{"field": "balance.available_minor", "reason": "not_permitted_by_policy"}]}
        ]})
    );
    let list = app.get_json_as("u-1", "/v1/consents").await;
    assert_eq!(list["consents"], json!([]));
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_status() {
    let app = spawn_app().await;
    let first = app.grant_amount_for_fraud_alert("u-1").await;
    let second = app
        .grant(
            "u-1",
            "bank-b",
            &["customer_service"],
            &["transaction.currency"],
        )
        .await;
    let third = app
        .grant("u-1", "bank-a", &["finance_tracking"], &["balance.as_of"])
        .await;
    app.grant_amount_for_fraud_alert("u-2").await;
    assert_eq!(
        app.revoke("u-1", second["id"].as_str().unwrap())
            .await
            .status()
            .as_u16(),
        200
    );
    app.execute_sql(&format!(
        "UPDATE consents SET expires_at = 1000 WHERE id = '{}'",
        first["id"].as_str().unwrap()
    ));

    let all = app.get_json_as("u-1", "/v1/consents").await;
    let ids: Vec<&str> = all["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            third["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    for (status, expected) in [
        ("active", &third),
        ("revoked", &second),
        ("expired", &first),
    ] {
        let page = app
            .get_json_as("u-1", &format!("/v1/consents?status={status}"))
            .await;
        let consents = page["consents"].as_array().unwrap();
        assert_eq!(consents.len(), 1, "{status}");
        assert_eq!(consents[0]["id"], expected["id"], "{status}");
        assert_eq!(consents[0]["status"], status);
    }
    let response = app.get_as("u-1", "/v1/consents?status=paused").await;
    problem(response, 422, "invalid_field").await;
}

#[tokio::test]
async fn another_users_consent_is_404_to_read_and_to_revoke() {
    let app = spawn_app().await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let id = consent["id"].as_str().unwrap();
    problem(
        app.get_as("u-2", &format!("/v1/consents/{id}")).await,
        404,
        "not_found",
    )
    .await;
    problem(app.revoke("u-2", id).await, 404, "not_found").await;
    problem(
        app.get_as("u-1", "/v1/consents/no-such-id").await,
        404,
        "not_found",
    )
    .await;
    let still = app.get_json_as("u-1", &format!("/v1/consents/{id}")).await;
    assert_eq!(still["status"], "active", "u-2's DELETE changed nothing");
}

#[tokio::test]
async fn revoking_twice_answers_the_same_body() {
    let app = spawn_app().await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let id = consent["id"].as_str().unwrap();
    let first = app.revoke("u-1", id).await;
    assert_eq!(first.status().as_u16(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "revoked");
    assert!(first["revoked_at"].is_string());
    let second: Value = app.revoke("u-1", id).await.json().await.unwrap();
    assert_eq!(first, second);
}
