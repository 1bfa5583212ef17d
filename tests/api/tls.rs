//! The bank listener's mutual TLS: who gets in, and who each request is attributed to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use consentgate::pki::IssuedCert;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app, transaction};

/// Pushes one transaction on the bank listener presenting `cert` (or no certificate).
async fn push_presenting(
    app: &TestApp,
    cert: Option<&IssuedCert>,
) -> reqwest::Result<reqwest::Response> {
    app.pki
        .client(cert)
        .post(format!("{}/v1/transactions", app.bank_url))
        .json(&json!({"transactions": [transaction("t-1", "u-1")]}))
        .send()
        .await
}

#[tokio::test]
async fn a_client_without_a_certificate_fails_the_handshake() {
    let app = spawn_app().await;
    let result = push_presenting(&app, None).await;
    assert!(
        result.is_err(),
        "got an HTTP answer without a client certificate: {result:?}"
    );
    // The same request with a registered certificate goes through, so the refusal above
    // is the missing certificate, not a broken listener.
    let ok = app
        .push_transactions(
            &app.pki.bank_a,
            &json!({"transactions": [transaction("t-1", "u-1")]}),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 202);
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake() {
    let app = spawn_app().await;
    let result = push_presenting(&app, Some(&app.pki.foreign)).await;
    assert!(
        result.is_err(),
        "a foreign CA's certificate got an HTTP answer: {result:?}"
    );
}

#[tokio::test]
async fn a_certificate_revoked_by_the_crl_fails_the_handshake() {
    let app = spawn_app().await;
    let result = push_presenting(&app, Some(&app.pki.revoked)).await;
    assert!(
        result.is_err(),
        "a revoked certificate got an HTTP answer: {result:?}"
    );
}

#[tokio::test]
async fn a_ca_signed_certificate_registered_to_no_bank_is_403_unknown_bank() {
    let app = spawn_app().await;
    let response = app
        .push_transactions(
            &app.pki.unregistered,
            &json!({"transactions": [transaction("t-1", "u-1")]}),
        )
        .await;
    problem(response, 403, "unknown_bank").await;
}

#[tokio::test]
async fn bank_routes_are_not_served_on_the_api_listener() {
    let app = spawn_app().await;
    let response = app
        .api_client()
        .post(format!("{}/v1/transactions", app.api_url))
        .json(&json!({"transactions": [transaction("t-1", "u-1")]}))
        .send()
        .await
        .unwrap();
    problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn each_request_on_a_keep_alive_connection_is_attributed_to_that_connections_bank() {
    let app = spawn_app().await;
    let addr = app.bank_url.trim_start_matches("https://").to_string();
    let a = app.pki.tls_config(Some(&app.pki.bank_a));
    let b = app.pki.tls_config(Some(&app.pki.bank_b));
    let statuses = tokio::task::spawn_blocking(move || {
        let mut conn_a = RawConnection::open(&addr, a);
        let mut conn_b = RawConnection::open(&addr, b);
        let mut b_txn = transaction("t-1", "u-2");
        b_txn["amount_minor"] = json!(1);
        let a_batch = json!({"transactions": [transaction("t-1", "u-1")]});
        let b_batch = json!({"transactions": [b_txn]});
        // If a request were attributed to the other connection's bank, the second round
        // would meet the other bank's t-1 with different content: a 409, not a duplicate.
        vec![
            conn_a.post("/v1/transactions", &a_batch),
            conn_b.post("/v1/transactions", &b_batch),
            conn_a.post("/v1/transactions", &a_batch),
            conn_b.post("/v1/transactions", &b_batch),
            conn_a.post("/v1/transactions", &a_batch),
        ]
    })
    .await
    .unwrap();
    let summary: Vec<(u16, String)> = statuses
        .into_iter()
        .map(|(status, body)| {
            (
                status,
                body["results"][0]["status"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (202, "accepted".to_string()),
            (202, "accepted".to_string()),
            (202, "duplicate".to_string()),
            (202, "duplicate".to_string()),
            (202, "duplicate".to_string()),
        ]
    );
}

/// One TLS connection on which requests are written one after another (HTTP/1.1
/// keep-alive), so the test knows for certain they share the connection.
struct RawConnection {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    host: String,
}

impl RawConnection {
    fn open(addr: &str, config: rustls::ClientConfig) -> Self {
        let server_name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        Self {
            stream: rustls::StreamOwned::new(conn, tcp),
            host: addr.to_string(),
        }
    }

    fn post(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).unwrap();
        self.stream.flush().unwrap();
        let mut reader = BufReader::new(&mut self.stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }
}
