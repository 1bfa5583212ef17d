//! The real binary: commands, exit codes, embedded defaults and durability across `kill -9`.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Served, TestDatabase, consentgate, transaction, write_fresh_config};

#[test]
fn dev_pki_writes_a_working_setup_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let status = consentgate()
        .args(["dev-pki", "--out"])
        .arg(&out)
        .args(["--bank", "bank-a", "--bank", "bank-z"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    for file in [
        "ca.pem",
        "server.pem",
        "server.key",
        "bank-bank-a.pem",
        "bank-bank-z.key",
        "jwks.json",
        "jwt.key",
        "audit.key",
        "consentgate.toml",
    ] {
        assert!(out.join(file).exists(), "{file} is missing");
    }
    let config = consentgate::config::Config::load(&out.join("consentgate.toml")).unwrap();
    let ids: Vec<&str> = config.banks.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, vec!["bank-a", "bank-z"]);

    let again = consentgate()
        .args(["dev-pki", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "overwriting must be refused");
}

#[test]
fn an_unknown_configuration_key_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = write_fresh_config(dir.path(), "sqlite://x.db", "");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "workers = 1",
        "workers = 1\nbnak_listen = \"x\"",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let output = consentgate()
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`server.bnak_listen`"), "{stderr}");
}

#[test]
fn an_environment_override_of_an_unknown_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = write_fresh_config(dir.path(), "sqlite://x.db", "");
    let output = consentgate()
        .env("CONSENTGATE__DATABASE__URLL", "sqlite://y.db")
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`database.urll`"));
}

#[test]
fn migrate_applies_the_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path());
    let (_, path) = write_fresh_config(dir.path(), &database.url(), "");
    let first = consentgate()
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let first_out = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(!first_out.starts_with("applied 0 "), "{first_out}");
    let second = consentgate()
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "applied 0 migration(s)"
    );
}

#[test]
fn token_without_a_signing_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = write_fresh_config(dir.path(), "sqlite://x.db", "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("signing_key = \"jwt.key\"\n", "");
    std::fs::write(&path, text).unwrap();
    let output = consentgate()
        .args(["token", "--sub", "u-1", "--scope", "consents", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("auth.signing_key"));
}

#[test]
fn token_mints_a_jwt_that_the_configured_jwks_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = write_fresh_config(dir.path(), "sqlite://x.db", "");
    let output = consentgate()
        .args([
            "token",
            "--sub",
            "u-42",
            "--scope",
            "consents audit",
            "--ttl",
            "10m",
            "--config",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let config = consentgate::config::Config::load(&path).unwrap();
    let verifier = consentgate::http::TokenVerifier::load(&config.auth).unwrap();
    let principal = verifier.verify(&token).unwrap();
    assert_eq!(principal.subject, "u-42");
    assert!(principal.has_scope("consents") && principal.has_scope("audit"));
    // Signed by another key, the same claims do not verify.
    let other_dir = tempfile::tempdir().unwrap();
    let (_, other_path) = write_fresh_config(other_dir.path(), "sqlite://x.db", "");
    let other_config = consentgate::config::Config::load(&other_path).unwrap();
    assert!(
        consentgate::http::TokenVerifier::load(&other_config.auth)
            .unwrap()
            .verify(&token)
            .is_err()
    );
}

#[tokio::test]
async fn serve_with_no_configuration_starts_on_embedded_defaults_and_its_curl_example_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = consentgate();
    command
        .current_dir(dir.path())
        .env("CONSENTGATE__SERVER__BANK_LISTEN", "127.0.0.1:0")
        .env("CONSENTGATE__SERVER__API_LISTEN", "127.0.0.1:0")
        .arg("serve");
    let served = Served::start(command);
    let data = dir.path().join("data");
    for file in [
        "consentgate.toml",
        "consentgate.db",
        "ca.pem",
        "bank-bank-a.pem",
        "jwks.json",
        "audit.key",
    ] {
        assert!(data.join(file).exists(), "data/{file} is missing");
    }
    let curl_line = served
        .banner
        .iter()
        .position(|l| l.trim_start().starts_with("curl "))
        .expect("the banner shows a curl command");
    let command = served.banner[curl_line..curl_line + 2]
        .join("\n")
        .replace("\\\n", " ");
    if which("curl") {
        let output = Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!("{command} -s -w '\\n%{{http_code}}'"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.trim_end().ends_with("202"), "curl printed: {stdout}");
        assert!(stdout.contains("\"accepted\":1"), "curl printed: {stdout}");
    }
    assert!(served.api_url.starts_with("https://127.0.0.1:"));
}

#[tokio::test]
async fn a_batch_answered_202_survives_kill_9_and_is_a_duplicate_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path());
    let (pki, path) = write_fresh_config(dir.path(), &database.url(), "");
    let serve = || {
        let mut command = consentgate();
        command.args(["serve", "--config"]).arg(&path);
        Served::start(command)
    };
    let items: Vec<Value> = (0..200)
        .map(|i| transaction(&format!("d-{i}"), "u-1"))
        .collect();
    let batch = json!({"transactions": items});

    let first = serve();
    let client = pki.client(Some(&pki.bank_a));
    let response = client
        .post(format!("{}/v1/transactions", first.bank_url))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 200);
    first.kill_9();

    let second = serve();
    let client = pki.client(Some(&pki.bank_a));
    let response = client
        .post(format!("{}/v1/transactions", second.bank_url))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["duplicates"], 200, "{body}");
    assert_eq!(body["accepted"], 0);
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn demo_runs_the_whole_flow_and_exits_0() {
    let output = consentgate().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "a consent for `Advertising`: 422 forbidden_purpose",
        "t-1004 after the revocation: accepted, releases: 0",
        "consent.revoked",
        "prohibited-purpose releases    0",
        "log verified                   true",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("INVALID"),
        "every webhook signature verifies:\n{stdout}"
    );
}
