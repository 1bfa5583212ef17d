//! `consentgate demo`: the whole flow on a temporary database with a built-in webhook
//! receiver, printing what each actor saw. Everything runs for real: TLS with a fresh
//! development PKI, JWTs, the writer, Cedar, the audit log, signed webhooks.
#![expect(
    clippy::indexing_slicing,
    reason = "reads of JSON answers by member name: serde_json's `Index` yields null for a missing member and never panics"
)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::Failure;
use crate::config::Config;

/// Arguments of `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the temporary folder (configuration, keys, database) and print where it is.
    #[arg(long)]
    keep: bool,
}

/// A webhook the built-in receiver got.
#[derive(Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    raw: String,
    body: Value,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

pub fn run(args: Args) -> Result<(), Failure> {
    let dir = std::env::temp_dir().join(format!(
        "consentgate-demo-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Work(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(demo(&dir));
    if args.keep {
        println!("\nthe demo's folder is kept at `{}`", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map_err(Failure::Work)
}

async fn demo(dir: &Path) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    heading("setup");
    let setup = crate::pki::write_dev_setup(dir, &["bank-a".to_string(), "bank-b".to_string()])
        .map_err(|e| format!("cannot write the development setup: {e}"))?;
    let inbox: Inbox = Arc::new(Mutex::new(Vec::new()));
    let (receiver_url, receiver) = start_receiver(Arc::clone(&inbox))?;
    let config = demo_config(&setup.config, &receiver_url)?;
    let gateway =
        crate::gateway::start(&config).map_err(|e| format!("the gateway did not start: {e}"))?;
    let bank_url = format!("https://{}", gateway.bank_addr);
    let api_url = format!("https://{}", gateway.api_addr);
    let handles = gateway.handles();
    tokio::spawn(gateway.run());
    println!(
        "a development PKI, keys and a SQLite database in {}",
        dir.display()
    );
    println!("bank listener {bank_url}, API listener {api_url}, webhook receiver {receiver_url}");

    let ca = &config.tls.client_ca;
    let (bank_cert, bank_key) = (dir.join("bank-bank-a.pem"), dir.join("bank-bank-a.key"));
    let bank = client(ca, Some((bank_cert.as_path(), bank_key.as_path())))?;
    let api = client(ca, None)?;
    let signer = super::DevTokenSigner::load(&config.auth).map_err(|e| e.to_string())?;
    let mint = |sub: &str, scope: &str| {
        signer
            .mint(sub, scope, Duration::from_secs(600))
            .map_err(|e| e.to_string())
    };
    let user = mint("u-42", "consents")?;
    let auditor = mint("auditor-1", "audit")?;

    heading("the user previews and grants a consent");
    let request = json!({
        "recipient": "messenger", "bank": "bank-a",
        "purposes": ["fraud_alert", "finance_tracking"],
        "fields": ["transaction.amount_minor", "transaction.currency", "transaction.merchant_name",
                   "transaction.merchant_city", "transaction.card_last4", "balance.available_minor"]
    });
    let preview = call(
        &api,
        "POST",
        &format!("{api_url}/v1/consents/preview"),
        Some(&user),
        Some(&request),
    )
    .await?;
    let rows = list(&preview.1["purposes"])
        .iter()
        .map(|p| {
            vec![
                text(&p["purpose"]),
                names(&p["released"]),
                withheld(&p["withheld"]),
            ]
        })
        .collect();
    table(&["purpose", "would receive", "withheld (reason)"], rows);
    let granted = call(
        &api,
        "POST",
        &format!("{api_url}/v1/consents"),
        Some(&user),
        Some(&request),
    )
    .await?;
    let consent_id = text(&granted.1["id"]);
    println!(
        "granted: {} ({}), expires {}",
        consent_id,
        granted.0,
        text(&granted.1["expires_at"])
    );
    let refused = call(
        &api,
        "POST",
        &format!("{api_url}/v1/consents"),
        Some(&user),
        Some(&json!({"recipient": "messenger", "bank": "bank-a", "purposes": ["Advertising"], "fields": ["transaction.amount_minor"]})),
    )
    .await?;
    println!(
        "a consent for `Advertising`: {} {}",
        refused.0,
        text(&refused.1["code"])
    );

    heading("the bank pushes transactions and a balance");
    let transactions = json!({"transactions": [
        txn("t-1001", "u-42", 1299, "Blue Bottle Coffee", Some("4242")),
        txn("t-1002", "u-42", 45000, "Airline Tickets", None),
        txn("t-1003", "u-7", 800, "Corner Shop", Some("1111")),
    ]});
    let pushed = call(
        &bank,
        "POST",
        &format!("{bank_url}/v1/transactions"),
        None,
        Some(&transactions),
    )
    .await?;
    let balance = json!({"balances": [{"account_ref": "acc-9", "user_id": "u-42", "available_minor": 250000,
        "ledger_minor": 260000, "currency": "USD", "as_of": "2026-11-24T10:00:00Z"}]});
    let pushed_balance = call(
        &bank,
        "POST",
        &format!("{bank_url}/v1/balances"),
        None,
        Some(&balance),
    )
    .await?;
    let resent = call(
        &bank,
        "POST",
        &format!("{bank_url}/v1/transactions"),
        None,
        Some(&transactions),
    )
    .await?;
    let mut rows = Vec::new();
    for (label, response) in [
        ("transactions", &pushed),
        ("balance", &pushed_balance),
        ("re-sent", &resent),
    ] {
        for result in list(&response.1["results"]) {
            let key = result["txn_id"]
                .as_str()
                .or(result["account_ref"].as_str())
                .unwrap_or_default()
                .to_string();
            let releases = list(&result["releases"]);
            if releases.is_empty() {
                rows.push(vec![
                    format!("{label} {}", response.0),
                    key.clone(),
                    text(&result["status"]),
                    "-".into(),
                    "(nothing released)".into(),
                ]);
            }
            for release in releases {
                rows.push(vec![
                    format!("{label} {}", response.0),
                    key.clone(),
                    text(&result["status"]),
                    text(&release["purpose"]),
                    names(&release["released"]),
                ]);
            }
        }
    }
    table(
        &["request", "record", "status", "purpose", "released"],
        rows,
    );

    let expected_releases = list(&pushed.1["results"])
        .iter()
        .chain(list(&pushed_balance.1["results"]).iter())
        .map(|r| list(&r["releases"]).len())
        .sum::<usize>();
    wait_for(&inbox, expected_releases).await?;

    heading("the user revokes the consent; the bank pushes again");
    let revoked = call(
        &api,
        "DELETE",
        &format!("{api_url}/v1/consents/{consent_id}"),
        Some(&user),
        None,
    )
    .await?;
    println!(
        "revoked: {} at {}",
        revoked.0,
        text(&revoked.1["revoked_at"])
    );
    let after = call(
        &bank,
        "POST",
        &format!("{bank_url}/v1/transactions"),
        None,
        Some(&json!({"transactions": [txn("t-1004", "u-42", 2500, "Bookshop", Some("4242"))]})),
    )
    .await?;
    println!(
        "t-1004 after the revocation: {}, releases: {}",
        text(&after.1["results"][0]["status"]),
        list(&after.1["results"][0]["releases"]).len()
    );
    wait_for(&inbox, expected_releases + 1).await?;

    heading("what the platform received (signed webhooks)");
    let received = inbox.lock().map(|v| v.clone()).unwrap_or_default();
    let secret = config
        .recipients
        .first()
        .and_then(|r| r.signing_secret.first())
        .and_then(crate::config::webhook_key)
        .unwrap_or_default();
    let rows = received
        .iter()
        .map(|r| {
            let signed = signature_matches(&secret, r);
            vec![
                r.id.chars().take(13).collect::<String>() + "…",
                text(&r.body["type"]),
                text(&r.body["purpose"]),
                r.body["data"]
                    .as_object()
                    .map(|d| d.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
                if signed {
                    "valid".into()
                } else {
                    "INVALID".into()
                },
            ]
        })
        .collect();
    table(
        &["webhook-id", "type", "purpose", "data members", "signature"],
        rows,
    );

    heading("what the user's access log shows");
    let log = call(
        &api,
        "GET",
        &format!("{api_url}/v1/me/access-log"),
        Some(&user),
        None,
    )
    .await?;
    let rows = list(&log.1["items"])
        .iter()
        .map(|i| {
            vec![
                text(&i["index"]),
                text(&i["kind"]),
                text(&i["purpose"]),
                names(&i["released"]),
                text(&i["delivery"]),
            ]
        })
        .collect();
    table(&["index", "kind", "purpose", "released", "delivery"], rows);

    heading("what the auditor's reports say");
    let report = call(
        &api,
        "GET",
        &format!("{api_url}/v1/audit/reports/purposes"),
        Some(&auditor),
        None,
    )
    .await?;
    let mut rows: Vec<Vec<String>> = report.1["releases_by_purpose"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| vec![format!("releases for {k}"), v.to_string()])
                .collect()
        })
        .unwrap_or_default();
    rows.push(vec![
        "prohibited-purpose releases".into(),
        text(&report.1["prohibited_purpose_releases"]),
    ]);
    rows.push(vec![
        "prohibited-purpose attempts".into(),
        text(&report.1["prohibited_purpose_attempts"]),
    ]);
    let verify = call(
        &api,
        "GET",
        &format!("{api_url}/v1/audit/verify"),
        Some(&auditor),
        None,
    )
    .await?;
    rows.push(vec!["log verified".into(), text(&verify.1["ok"])]);
    rows.push(vec!["records in the tree".into(), text(&verify.1["size"])]);
    rows.push(vec![
        "checkpoints verified".into(),
        text(&verify.1["checkpoints_verified"]),
    ]);
    table(&["audit", "value"], rows);

    for handle in handles {
        handle.stop(true).await;
    }
    receiver.stop(true).await;
    if verify.1["ok"] != json!(true) {
        return Err("the audit log did not verify".to_string());
    }
    if report.1["prohibited_purpose_releases"] != json!(0) {
        return Err("a prohibited purpose was released".to_string());
    }
    Ok(())
}

/// The development configuration with free ports, the built-in receiver, quick retries and
/// frequent checkpoints.
fn demo_config(path: &Path, receiver_url: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text
        .replace("127.0.0.1:8443", "127.0.0.1:0")
        .replace("127.0.0.1:8444", "127.0.0.1:0")
        .replace("http://127.0.0.1:8445/webhooks/consentgate", receiver_url)
        .replace(
            "max_attempts = 12",
            "max_attempts = 5\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"",
        )
        .replace("checkpoint_every = 1000", "checkpoint_every = 5");
    std::fs::write(path, text).map_err(|e| e.to_string())?;
    Config::load(path).map_err(|e| e.to_string())
}

fn start_receiver(inbox: Inbox) -> Result<(String, actix_web::dev::ServerHandle), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&inbox)))
            .route("/webhooks/consentgate", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)
    .map_err(|e| e.to_string())?
    .disable_signals()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://{addr}/webhooks/consentgate"), handle))
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let raw = String::from_utf8_lossy(&body).to_string();
    if let Ok(mut inbox) = inbox.lock() {
        inbox.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            raw,
            body: parsed,
        });
    }
    HttpResponse::NoContent().finish()
}

async fn wait_for(inbox: &Inbox, count: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while inbox.lock().map(|v| v.len()).unwrap_or(0) < count {
        if Instant::now() > deadline {
            return Err(format!("the receiver did not get {count} webhooks in time"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn client(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<reqwest::Client, String> {
    let tls = crate::http::tls::client_config(ca, identity).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).to_string()));
    if status >= 500 {
        return Err(format!("{url} answered {status}: {value}"));
    }
    Ok((status, value))
}

fn txn(id: &str, user: &str, amount: i64, merchant: &str, card: Option<&str>) -> Value {
    let mut value = json!({
        "txn_id": id, "user_id": user, "amount_minor": amount, "currency": "USD",
        "merchant_name": merchant, "merchant_category_code": "5814", "merchant_city": "Oakland",
        "merchant_country": "US", "channel": "in_store", "status": "authorized",
        "occurred_at": "2026-11-24T10:00:00Z"
    });
    if let (Some(card), Some(object)) = (card, value.as_object_mut()) {
        object.insert("card_last4".to_string(), json!(card));
    }
    value
}

fn list(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn names(value: &Value) -> String {
    let names: Vec<String> = list(value)
        .iter()
        .map(|v| {
            text(v)
                .split_once('.')
                .map_or_else(|| text(v), |(_, m)| m.to_string())
        })
        .collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join(", ")
    }
}

fn withheld(value: &Value) -> String {
    let items: Vec<String> = list(value)
        .iter()
        .map(|w| {
            format!(
                "{} ({})",
                text(&w["field"]).split_once('.').map_or("", |(_, m)| m),
                text(&w["reason"])
            )
        })
        .collect();
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

fn heading(title: &str) {
    println!("\n== {title}");
}

/// Prints rows under headers, columns padded to their widest cell.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("  {}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row);
    }
}

/// Checks a webhook's `v1` signatures as a recipient would (Standard Webhooks 1.0).
fn signature_matches(key: &[u8], received: &Received) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.raw).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}
