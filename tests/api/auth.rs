//! The JWT attack catalogue: every forged, stale or malformed token is a 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`; a valid token without the scope is 403.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consentgate::pki::Ed25519Key;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

async fn assert_refused(app: &TestApp, token: Option<&str>, case: &str) {
    let response = app.api_get("/v1/consents", token).await;
    assert_eq!(response.status().as_u16(), 401, "{case}");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\""),
        "{case}"
    );
    let body = problem(response, 401, "invalid_token").await;
    assert!(
        !body["detail"].as_str().unwrap().contains("signature"),
        "{case}: detail says which check failed"
    );
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Valid claims for u-1 with scope `consents`.
fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": crate::helpers::ISSUER, "aud": crate::helpers::AUDIENCE, "sub": "u-1", "scope": "consents", "exp": now + 600})
}

/// [`claims`] signed with `key` (EdDSA) under the header `kid`.
fn signed_by(key: &Ed25519Key, kid: String) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid);
    let key =
        jsonwebtoken::EncodingKey::from_ed_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims(), &key).unwrap()
}

#[tokio::test]
async fn a_valid_token_with_the_scope_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .api_get("/v1/consents", Some(&app.token("u-1", "consents")))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"consents": []}));
}

#[tokio::test]
async fn a_request_without_a_token_is_401() {
    let app = spawn_app().await;
    assert_refused(&app, None, "no token").await;
}

#[tokio::test]
async fn an_alg_none_token_is_401() {
    let app = spawn_app().await;
    let token = unsigned(
        &json!({"alg": "none", "typ": "JWT", "kid": app.jwt_key.kid()}),
        &claims(),
    );
    assert_refused(&app, Some(&token), "alg none").await;
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_401() {
    let app = spawn_app().await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(app.jwt_key.kid());
    // Every public form of the key an attacker could try as the HMAC secret.
    let public_pem = app.jwt_key.public_key_pem().unwrap();
    let x = app.jwt_key.jwk()["x"].as_str().unwrap().to_string();
    for secret in [
        public_pem.as_bytes().to_vec(),
        x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&x).unwrap(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_refused(&app, Some(&token), "HS256 with the public key").await;
    }
}

#[tokio::test]
async fn a_token_signed_by_another_key_with_the_right_kid_is_401() {
    let app = spawn_app().await;
    let token = signed_by(&Ed25519Key::generate(), app.jwt_key.kid());
    assert_refused(&app, Some(&token), "wrong key").await;
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_is_401() {
    let app = spawn_app().await;
    let other = Ed25519Key::generate();
    let token = signed_by(&other, other.kid());
    assert_refused(&app, Some(&token), "unknown kid").await;
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_401_but_within_it_is_accepted() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let expired = app.token_with(json!({"sub": "u-1", "scope": "consents", "exp": now - 60}));
    assert_refused(&app, Some(&expired), "expired 60 s ago").await;
    let within = app.token_with(json!({"sub": "u-1", "scope": "consents", "exp": now - 10}));
    assert_eq!(
        app.api_get("/v1/consents", Some(&within))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_401() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let token = app.token_with(json!({"sub": "u-1", "scope": "consents", "nbf": now + 120}));
    assert_refused(&app, Some(&token), "nbf in the future").await;
}

#[tokio::test]
async fn a_token_with_the_wrong_issuer_or_audience_is_401() {
    let app = spawn_app().await;
    let wrong_iss =
        app.token_with(json!({"sub": "u-1", "scope": "consents", "iss": "https://evil.test"}));
    assert_refused(&app, Some(&wrong_iss), "wrong iss").await;
    let wrong_aud =
        app.token_with(json!({"sub": "u-1", "scope": "consents", "aud": "someone-else"}));
    assert_refused(&app, Some(&wrong_aud), "wrong aud").await;
    let no_aud = app.token_with(json!({"sub": "u-1", "scope": "consents", "aud": null}));
    assert_refused(&app, Some(&no_aud), "no aud").await;
}

#[tokio::test]
async fn a_token_without_sub_or_with_a_string_exp_is_401() {
    let app = spawn_app().await;
    let no_sub = app.token_with(json!({"scope": "consents"}));
    assert_refused(&app, Some(&no_sub), "missing sub").await;
    let far = (chrono::Utc::now().timestamp() + 600).to_string();
    let string_exp = app.token_with(json!({"sub": "u-1", "scope": "consents", "exp": far}));
    assert_refused(&app, Some(&string_exp), "exp as a string").await;
    let no_exp = app.token_with(json!({"sub": "u-1", "scope": "consents", "exp": null}));
    assert_refused(&app, Some(&no_exp), "no exp").await;
}

#[tokio::test]
async fn a_64_kib_token_is_401() {
    let app = spawn_app().await;
    let padding = "a".repeat(64 * 1024);
    let token = app.token_with(json!({"sub": "u-1", "scope": "consents", "pad": padding}));
    assert!(token.len() > 64 * 1024);
    assert_refused(&app, Some(&token), "64 KiB token").await;
}

#[tokio::test]
async fn an_audit_only_token_is_403_on_consent_routes() {
    let app = spawn_app().await;
    let token = app.token("auditor-1", "audit");
    let response = app.api_get("/v1/consents", Some(&token)).await;
    problem(response, 403, "insufficient_scope").await;
    let response = app
        .api_client()
        .post(format!("{}/v1/consents", app.api_url))
        .bearer_auth(&token)
        .json(&json!({"recipient": "messenger", "bank": "bank-a", "purposes": ["fraud_alert"], "fields": ["transaction.amount_minor"]}))
        .send()
        .await
        .unwrap();
    problem(response, 403, "insufficient_scope").await;
}
