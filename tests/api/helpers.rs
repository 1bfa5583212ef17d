//! Test harness: a real gateway on real TLS with certificates made for each test, a fresh
//! database per test (a SQLite file, or a PostgreSQL database when
//! `CONSENTGATE_TEST_DATABASE_URL` is set), and HTTP clients for banks and users.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;

use consentgate::config::Config;
use consentgate::pki::{DevCa, Ed25519Key, IssuedCert};
use diesel::{Connection, PgConnection, RunQueryDsl};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://id.test.consentgate";
pub const AUDIENCE: &str = "consentgate";

static INIT: Once = Once::new();

/// Everything a test talks to.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub bank_url: String,
    pub api_url: String,
    pub pki: TestPki,
    pub jwt_key: Ed25519Key,
    pub database: TestDatabase,
    node: Option<Node>,
}

/// One running gateway: its listeners and the task that runs it (and its delivery worker).
pub struct Node {
    pub bank_url: String,
    pub api_url: String,
    handles: Vec<actix_web::dev::ServerHandle>,
    run: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Node {
    /// Starts a gateway on the configuration at `config_path`.
    fn start(config_path: &Path) -> Self {
        let config = Config::load(config_path).unwrap();
        let gateway = consentgate::gateway::start(&config).unwrap();
        Self {
            bank_url: format!("https://127.0.0.1:{}", gateway.bank_addr.port()),
            api_url: format!("https://127.0.0.1:{}", gateway.api_addr.port()),
            handles: gateway.handles().to_vec(),
            run: Some(tokio::spawn(gateway.run())),
        }
    }

    /// Stops the listeners, then the delivery worker (which records the attempts it has in
    /// flight first), and asserts the gateway ended without an error.
    pub async fn stop(&mut self) {
        for handle in std::mem::take(&mut self.handles) {
            handle.stop(true).await;
        }
        if let Some(run) = self.run.take() {
            run.await.unwrap().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for handle in &self.handles {
            // Stopping is asynchronous; dropping the future still signals the server.
            drop(handle.stop(false));
        }
    }
}

/// The certificates of one test.
pub struct TestPki {
    pub ca: DevCa,
    pub server: IssuedCert,
    pub bank_a: IssuedCert,
    pub bank_b: IssuedCert,
    /// Signed by the CA but registered to no bank.
    pub unregistered: IssuedCert,
    /// Registered (as `bank-revoked`) but listed in the CRL.
    pub revoked: IssuedCert,
    /// A registered-looking certificate from a CA the gateway does not trust.
    pub foreign: IssuedCert,
}

impl TestPki {
    pub fn generate() -> Self {
        let ca = DevCa::generate("consentgate test CA").unwrap();
        let server = ca.issue_server(&["localhost", "127.0.0.1"]).unwrap();
        let bank_a = ca.issue_client("bank-a").unwrap();
        let bank_b = ca.issue_client("bank-b").unwrap();
        let unregistered = ca.issue_client("stranger").unwrap();
        let revoked = ca.issue_client("bank-revoked").unwrap();
        let other_ca = DevCa::generate("another CA").unwrap();
        let foreign = other_ca.issue_client("bank-a").unwrap();
        Self {
            ca,
            server,
            bank_a,
            bank_b,
            unregistered,
            revoked,
            foreign,
        }
    }

    /// A client trusting the test CA, presenting `identity` if given.
    pub fn client(&self, identity: Option<&IssuedCert>) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.tls_config(identity))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// The TLS side of [`TestPki::client`]: trusts the test CA, presents `identity` if given.
    pub fn tls_config(&self, identity: Option<&IssuedCert>) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca.cert_pem().as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        match identity {
            Some(cert) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        }
    }
}

/// Where a test's data lives.
pub enum TestDatabase {
    Sqlite(PathBuf),
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    pub fn create(dir: &Path) -> Self {
        match std::env::var("CONSENTGATE_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("cg_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::establish(&admin_url).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
                let url = format!("{base}/{name}");
                TestDatabase::Postgres {
                    admin_url,
                    name,
                    url,
                }
            }
            _ => TestDatabase::Sqlite(dir.join("consentgate.db")),
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(path) => format!("sqlite://{}", path.display()),
            TestDatabase::Postgres { url, .. } => url.clone(),
        }
    }

    /// A direct connection, for tests that look behind the gateway's back.
    pub fn connect(&self) -> consentgate::db::DbConnection {
        consentgate::db::Target::parse(&self.url())
            .unwrap()
            .connect()
            .unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Options a test may change before the gateway starts.
#[derive(Default)]
pub struct Options {
    /// Extra TOML appended to the configuration.
    pub extra_toml: String,
    /// `audit.checkpoint_every` (default 1000).
    pub checkpoint_every: Option<u64>,
    /// `max_requests_per_second` of bank-b (default: no limit).
    pub bank_b_rate: Option<u32>,
    /// The `messenger` recipient's `webhook_url` (default: a closed port).
    pub webhook_url: Option<String>,
    /// The `messenger` recipient's `signing_secret` as a TOML value (default: one secret,
    /// [`WEBHOOK_SECRET`]).
    pub signing_secret_toml: Option<String>,
}

/// The default `messenger` signing secret (the Standard Webhooks test-vector secret).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Writes the test's PKI and configuration into `dir` and returns the config file's path.
pub fn write_config(
    dir: &Path,
    pki: &TestPki,
    jwt_key: &Ed25519Key,
    database_url: &str,
    extra: &str,
) -> PathBuf {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("ca.pem", &pki.ca.cert_pem());
    write(
        "server.pem",
        &format!("{}{}", pki.server.cert_pem, pki.ca.cert_pem()),
    );
    write("server.key", &pki.server.key_pem);
    write("crl.pem", &pki.ca.crl_pem(&[&pki.revoked]).unwrap());
    for (name, cert) in [
        ("bank-a", &pki.bank_a),
        ("bank-b", &pki.bank_b),
        ("unregistered", &pki.unregistered),
        ("revoked", &pki.revoked),
        ("foreign", &pki.foreign),
    ] {
        write(&format!("{name}.pem"), &cert.cert_pem);
        write(&format!("{name}.key"), &cert.key_pem);
    }
    write("jwks.json", &jwt_key.jwks_json());
    write("jwt.key", &jwt_key.to_pkcs8_pem().unwrap());
    write("audit.key", &Ed25519Key::generate().to_pkcs8_pem().unwrap());
    let config = format!(
        r#"
[server]
bank_listen = "127.0.0.1:0"
api_listen = "127.0.0.1:0"
workers = 1

[tls]
cert = "server.pem"
key = "server.key"
client_ca = "ca.pem"
client_crl = ["crl.pem"]

[database]
url = "{database_url}"
pool_size = 3

[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_file = "jwks.json"
signing_key = "jwt.key"

[audit]
signing_key = "audit.key"
origin = "consentgate/test"

[[banks]]
id = "bank-a"
name = "Bank A"
spki_sha256 = ["{a}"]

[[banks]]
id = "bank-b"
name = "Bank B"
spki_sha256 = ["{b}"]

[[banks]]
id = "bank-revoked"
name = "Revoked Bank"
spki_sha256 = ["{r}"]

[[recipients]]
id = "messenger"
name = "Messenger"
webhook_url = "http://127.0.0.1:9/unused"
signing_secret = "{WEBHOOK_SECRET}"
{extra}
"#,
        a = pki.bank_a.spki_sha256,
        b = pki.bank_b.spki_sha256,
        r = pki.revoked.spki_sha256,
    );
    let path = dir.join("consentgate.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Writes a configuration with a fresh PKI and JWT key into `dir`, for tests of the binary;
/// returns the PKI and the configuration file's path.
pub fn write_fresh_config(dir: &Path, database_url: &str, extra: &str) -> (TestPki, PathBuf) {
    let pki = TestPki::generate();
    let path = write_config(dir, &pki, &Ed25519Key::generate(), database_url, extra);
    (pki, path)
}

/// Starts a gateway in this process with a fresh PKI and database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate();
    let jwt_key = Ed25519Key::generate();
    let database = TestDatabase::create(dir.path());
    let config_path = write_config(
        dir.path(),
        &pki,
        &jwt_key,
        &database.url(),
        &options.extra_toml,
    );
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    if let Some(rate) = options.bank_b_rate {
        text = text.replace(
            "name = \"Bank B\"",
            &format!("name = \"Bank B\"\nmax_requests_per_second = {rate}"),
        );
    }
    if let Some(every) = options.checkpoint_every {
        text = text.replace(
            "origin = \"consentgate/test\"",
            &format!("origin = \"consentgate/test\"\ncheckpoint_every = {every}"),
        );
    }
    if let Some(url) = &options.webhook_url {
        text = text.replace("\"http://127.0.0.1:9/unused\"", &format!("\"{url}\""));
    }
    if let Some(secret) = &options.signing_secret_toml {
        text = text.replace(&format!("\"{WEBHOOK_SECRET}\""), secret);
    }
    if !options.extra_toml.contains("[delivery]") {
        // The default webhook URL is a closed port: each event's first attempt fails at once
        // and the next waits an hour, so a test's audit log is still once attempts settle
        // (see `TestApp::settle_deliveries`).
        text.push_str("\n[delivery]\ninitial_backoff = \"1h\"\nmax_backoff = \"1h\"\n");
    }
    std::fs::write(&config_path, text).unwrap();
    let mut app = TestApp {
        dir,
        config_path,
        bank_url: String::new(),
        api_url: String::new(),
        pki,
        jwt_key,
        database,
        node: None,
    };
    app.start_gateway();
    app
}

impl TestApp {
    /// Starts a gateway on the test's configuration and database.
    pub fn start_gateway(&mut self) {
        let node = Node::start(&self.config_path);
        self.bank_url.clone_from(&node.bank_url);
        self.api_url.clone_from(&node.api_url);
        self.node = Some(node);
    }

    /// Waits until every undelivered event has had its first webhook attempt recorded. With
    /// the default configuration nothing else is attempted for an hour, so the audit log (and
    /// the tree size) stop changing on their own.
    pub async fn settle_deliveries(&self) {
        let started = std::time::Instant::now();
        while self.count_sql(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE status IN ('pending', 'sending') AND attempts = 0",
        ) > 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "first webhook attempts not recorded in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the gateway: its listeners, then its delivery worker (which records the
    /// attempts it has in flight first). The database stays.
    pub async fn stop_gateway(&mut self) {
        if let Some(mut node) = self.node.take() {
            node.stop().await;
        }
    }

    /// Stops the gateway and starts a new one on the same configuration and database, as a
    /// restart of the process would.
    pub async fn restart(&mut self) {
        self.stop_gateway().await;
        self.start_gateway();
    }
}

impl TestApp {
    /// A client presenting `cert` on the bank listener.
    pub fn bank_client(&self, cert: &IssuedCert) -> reqwest::Client {
        self.pki.client(Some(cert))
    }

    pub async fn push_transactions(&self, cert: &IssuedCert, body: &Value) -> reqwest::Response {
        self.bank_client(cert)
            .post(format!("{}/v1/transactions", self.bank_url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn push_balances(&self, cert: &IssuedCert, body: &Value) -> reqwest::Response {
        self.bank_client(cert)
            .post(format!("{}/v1/balances", self.bank_url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A token signed with the test's JWT key.
    pub fn token(&self, sub: &str, scope: &str) -> String {
        self.token_with(json!({"sub": sub, "scope": scope}))
    }

    /// A token with default `iss`, `aud`, `exp` merged with `claims` (`null` removes one).
    pub fn token_with(&self, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now});
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                all.as_object_mut().unwrap().remove(k);
            } else {
                all[k] = v.clone();
            }
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.jwt_key.kid());
        let key =
            jsonwebtoken::EncodingKey::from_ed_pem(self.jwt_key.to_pkcs8_pem().unwrap().as_bytes())
                .unwrap();
        jsonwebtoken::encode(&header, &all, &key).unwrap()
    }

    /// A client without a client certificate (the API listener asks for none).
    pub fn api_client(&self) -> reqwest::Client {
        self.pki.client(None)
    }
}

/// A bank batch body of `n` transactions of `user_id`, with ids `{prefix}-0`, `{prefix}-1` …
pub fn transactions(prefix: &str, user_id: &str, n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| transaction(&format!("{prefix}-{i}"), user_id))
        .collect();
    json!({"transactions": items})
}

/// A valid transaction with `txn_id` for `user_id`.
pub fn transaction(txn_id: &str, user_id: &str) -> Value {
    json!({
        "txn_id": txn_id,
        "user_id": user_id,
        "amount_minor": 1299,
        "currency": "USD",
        "merchant_name": "Blue Bottle Coffee",
        "merchant_category_code": "5814",
        "merchant_city": "Oakland",
        "merchant_country": "US",
        "card_last4": "4242",
        "channel": "in_store",
        "status": "authorized",
        "occurred_at": "2026-11-24T10:00:00Z"
    })
}

/// A valid balance of `account_ref` for `user_id`.
pub fn balance(account_ref: &str, user_id: &str) -> Value {
    json!({
        "account_ref": account_ref,
        "user_id": user_id,
        "available_minor": 250000,
        "ledger_minor": 260000,
        "currency": "USD",
        "as_of": "2026-11-24T10:00:00Z"
    })
}

/// Asserts an RFC 9457 problem response and returns its body.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(
        body["type"],
        format!("https://consentgate.dev/errors/{code}")
    );
    body
}

/// Asserts a 200 answer to `GET {path}` and returns its JSON body.
async fn ok_json(response: reqwest::Response, path: &str) -> Value {
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// The pointers of a problem's `errors`, sorted.
pub fn pointers(problem: &Value) -> Vec<String> {
    let mut pointers: Vec<String> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    pointers.sort();
    pointers
}

impl TestApp {
    /// `POST /v1/consents` as `user` with `body`.
    pub async fn post_consent(&self, user: &str, body: &Value) -> reqwest::Response {
        self.post_as(user, "/v1/consents", body).await
    }

    /// `POST /v1/consents/preview` as `user` with `body`.
    pub async fn preview_consent(&self, user: &str, body: &Value) -> reqwest::Response {
        self.post_as(user, "/v1/consents/preview", body).await
    }

    async fn post_as(&self, user: &str, path: &str, body: &Value) -> reqwest::Response {
        self.api_client()
            .post(format!("{}{path}", self.api_url))
            .bearer_auth(self.token(user, "consents"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Grants a consent and returns its body (asserting 201).
    pub async fn grant(&self, user: &str, bank: &str, purposes: &[&str], fields: &[&str]) -> Value {
        let response = self
            .post_consent(
                user,
                &json!({"recipient": "messenger", "bank": bank, "purposes": purposes, "fields": fields}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 201);
        response.json().await.unwrap()
    }

    /// Grants `user` the narrowest consent that releases something: `fraud_alert` on bank-a
    /// for `transaction.amount_minor` alone. Returns its body (asserting 201).
    pub async fn grant_amount_for_fraud_alert(&self, user: &str) -> Value {
        self.grant(
            user,
            "bank-a",
            &["fraud_alert"],
            &["transaction.amount_minor"],
        )
        .await
    }

    /// `DELETE /v1/consents/{id}` as `user`.
    pub async fn revoke(&self, user: &str, id: &str) -> reqwest::Response {
        self.api_client()
            .delete(format!("{}/v1/consents/{id}", self.api_url))
            .bearer_auth(self.token(user, "consents"))
            .send()
            .await
            .unwrap()
    }

    /// `GET` a path on the API listener, with `token` as the bearer token if given.
    pub async fn api_get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.api_client().get(format!("{}{path}", self.api_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// `GET` a path on the API listener as `user` with scope `consents`.
    pub async fn get_as(&self, user: &str, path: &str) -> reqwest::Response {
        self.api_get(path, Some(&self.token(user, "consents")))
            .await
    }

    /// [`TestApp::get_as`], asserting 200; the JSON body.
    pub async fn get_json_as(&self, user: &str, path: &str) -> Value {
        ok_json(self.get_as(user, path).await, path).await
    }

    /// Runs SQL directly against the test's database (behind the gateway's back).
    pub fn execute_sql(&self, sql: &str) {
        let mut conn = self.database.connect();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, sql).unwrap();
    }

    /// Makes consent `consent_id` have expired a second ago, as time would.
    pub fn expire_consent(&self, consent_id: &str) {
        let past = chrono::Utc::now().timestamp_micros() - 1_000_000;
        self.execute_sql(&format!(
            "UPDATE consents SET expires_at = {past} WHERE id = '{consent_id}'"
        ));
    }
}

/// Every catalog field.
pub const ALL_FIELDS: [&str; 14] = [
    "transaction.amount_minor",
    "transaction.currency",
    "transaction.merchant_name",
    "transaction.merchant_category_code",
    "transaction.merchant_city",
    "transaction.merchant_country",
    "transaction.card_last4",
    "transaction.channel",
    "transaction.status",
    "transaction.occurred_at",
    "balance.available_minor",
    "balance.ledger_minor",
    "balance.currency",
    "balance.as_of",
];

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl TestApp {
    /// Runs a `SELECT COUNT(*) AS n …` directly against the database.
    pub fn count_sql(&self, sql: &str) -> i64 {
        let mut conn = self.database.connect();
        let rows: Vec<Count> = diesel::sql_query(sql).load(&mut conn).unwrap();
        rows[0].n
    }
}

impl TestApp {
    /// `GET` a path on the API listener as an auditor (scope `audit`).
    pub async fn audit_get(&self, path: &str) -> reqwest::Response {
        self.api_get(path, Some(&self.token("auditor-1", "audit")))
            .await
    }

    /// [`TestApp::audit_get`], asserting 200; the JSON body.
    pub async fn audit_json(&self, path: &str) -> Value {
        ok_json(self.audit_get(path).await, path).await
    }

    /// Every audit record, paging through `GET /v1/audit/records`.
    pub async fn all_audit_records(&self) -> Vec<Value> {
        let mut records = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let path = match after {
                Some(a) => format!("/v1/audit/records?limit=1000&after_index={a}"),
                None => "/v1/audit/records?limit=1000".to_string(),
            };
            let page = self.audit_json(&path).await;
            records.extend(page["records"].as_array().unwrap().iter().cloned());
            match page["next_after_index"].as_u64() {
                Some(next) => after = Some(next),
                None => return records,
            }
        }
    }

    /// Starts a second gateway on the same configuration and database (another node).
    pub fn spawn_second_node(&self) -> Node {
        Node::start(&self.config_path)
    }
}

/// A running `consentgate serve` and the addresses it printed./// The real binary, with no `CONSENTGATE__…` override leaking in from the developer's shell.
pub fn consentgate() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consentgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CONSENTGATE__") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

/// A running `consentgate serve` and the addresses it printed.
pub struct Served {
    child: Child,
    pub bank_url: String,
    pub api_url: String,
    /// What it printed before `ready;`.
    pub banner: Vec<String>,
}

impl Served {
    /// Spawns `command` (a `consentgate serve`) and reads its banner until `ready;`.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let (mut bank_url, mut api_url) = (None, None);
        loop {
            let line = lines
                .next()
                .expect("serve exited before it was ready")
                .unwrap();
            if line.starts_with("ready;") {
                break;
            }
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")) {
                if line.contains("bank API") {
                    bank_url = Some(url.to_string());
                } else {
                    api_url = Some(url.to_string());
                }
            }
            banner.push(line);
        }
        Self {
            child,
            bank_url: bank_url.unwrap(),
            api_url: api_url.unwrap(),
            banner,
        }
    }

    /// SIGKILL: no shutdown hook, no flush, nothing but what was durably committed.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
