use std::path::Path;

use super::*;

const MINIMAL: &str = r#"
[tls]
cert = "pki/server.pem"
key = "pki/server.key"
client_ca = "pki/ca.pem"

[auth]
issuer = "https://id.example.test"
audience = "consentgate"
jwks_file = "pki/jwks.json"

[audit]
signing_key = "pki/audit.key"
origin = "consentgate/test"

[[banks]]
id = "bank-a"
name = "Bank A"
spki_sha256 = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
"#;

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml_str(
        text,
        Path::new("/etc/cg/consentgate.toml"),
        Path::new("/etc/cg"),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn relative_paths_are_resolved_against_the_config_folder() {
    let config = parse(MINIMAL, &[]).unwrap();
    assert_eq!(config.tls.cert, Path::new("/etc/cg/pki/server.pem"));
    assert_eq!(config.auth.jwks_file, Path::new("/etc/cg/pki/jwks.json"));
    assert_eq!(
        config.database.url.expose(),
        "sqlite:///etc/cg/data/consentgate.db"
    );
}

#[test]
fn retired_audit_keys_default_to_none_and_resolve_against_the_config_folder() {
    assert!(parse(MINIMAL, &[]).unwrap().audit.retired_keys.is_empty());
    let text = MINIMAL.replace(
        "origin = \"consentgate/test\"",
        "origin = \"consentgate/test\"\nretired_keys = [\n  { public_key = \"pki/audit-2025.pub\", until_size = 1200 },\n  { public_key = \"/keys/audit-2026.pub\", until_size = 9000 },\n]",
    );
    let config = parse(&text, &[]).unwrap();
    assert_eq!(
        config.audit.retired_keys,
        [
            RetiredKey {
                public_key: "/etc/cg/pki/audit-2025.pub".into(),
                until_size: 1200
            },
            RetiredKey {
                public_key: "/keys/audit-2026.pub".into(),
                until_size: 9000
            }
        ]
    );
    // A retired key without the size it signed up to is refused.
    let text = MINIMAL.replace(
        "origin = \"consentgate/test\"",
        "origin = \"consentgate/test\"\nretired_keys = [{ public_key = \"old.pub\" }]",
    );
    let err = parse(&text, &[]).unwrap_err().to_string();
    assert!(err.contains("until_size"), "{err}");
}

#[test]
fn an_unknown_key_is_named_with_its_section() {
    let text = MINIMAL.replace("[tls]", "[tls]\nclient_cert = \"x\"");
    let err = parse(&text, &[]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`tls.client_cert`"), "{message}");
}

#[test]
fn an_unknown_section_is_named() {
    let text = format!("{MINIMAL}\n[sever]\nworkers = 2\n");
    let err = parse(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("`sever`"), "{err}");
}

#[test]
fn environment_overrides_replace_file_values_with_typed_values() {
    let config = parse(
        MINIMAL,
        &[
            ("CONSENTGATE__DATABASE__URL", "postgres://db.internal/cg"),
            ("CONSENTGATE__SERVER__WORKERS", "3"),
            ("CONSENTGATE__AUDIT__CHECKPOINT_EVERY", "10"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(config.database.url.expose(), "postgres://db.internal/cg");
    assert_eq!(config.server.workers, Some(3));
    assert_eq!(config.audit.checkpoint_every, 10);
}

#[test]
fn an_environment_override_of_an_unknown_key_is_rejected() {
    let err = parse(MINIMAL, &[("CONSENTGATE__SERVER__BOGUS", "1")]).unwrap_err();
    assert!(err.to_string().contains("`server.bogus`"), "{err}");
}

#[test]
fn an_environment_override_can_reach_into_a_list_of_tables() {
    let pin = "b".repeat(64);
    let config = parse(
        MINIMAL,
        &[(
            "CONSENTGATE__BANKS__0__SPKI_SHA256",
            &format!("[\"{pin}\"]"),
        )],
    )
    .unwrap();
    assert_eq!(config.banks[0].spki_sha256, vec![pin]);
}

#[test]
fn a_pin_that_is_not_lowercase_hex_is_rejected() {
    let text = MINIMAL.replace(&"a".repeat(64), &"A".repeat(64));
    let err = parse(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("banks[0].spki_sha256"), "{err}");
}

#[test]
fn one_pin_shared_by_two_banks_is_rejected() {
    let text = format!(
        "{MINIMAL}\n[[banks]]\nid = \"bank-b\"\nname = \"B\"\nspki_sha256 = [\"{}\"]\n",
        "a".repeat(64)
    );
    let err = parse(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("two banks"), "{err}");
}

#[test]
fn durations_are_read_in_human_form() {
    let text =
        format!("{MINIMAL}\n[delivery]\ninitial_backoff = \"250ms\"\nmax_backoff = \"2m\"\n");
    let config = parse(&text, &[]).unwrap();
    assert_eq!(config.delivery.initial_backoff.as_millis(), 250);
    assert_eq!(config.delivery.max_backoff.as_secs(), 120);
}

#[test]
fn a_recipient_may_list_two_secrets_while_rotating() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let text = format!(
        "{MINIMAL}\n[[recipients]]\nid = \"messenger\"\nname = \"M\"\nwebhook_url = \"https://x.test/h\"\nsigning_secret = [\"{secret}\", \"{secret}\"]\n"
    );
    let config = parse(&text, &[]).unwrap();
    assert_eq!(config.recipients[0].signing_secret.len(), 2);
    assert!(
        !format!("{config:?}").contains("MfKQ9r8G"),
        "secrets must not print"
    );
}

#[test]
fn a_malformed_webhook_secret_is_rejected() {
    let text = format!(
        "{MINIMAL}\n[[recipients]]\nid = \"messenger\"\nname = \"M\"\nwebhook_url = \"https://x.test/h\"\nsigning_secret = \"not-a-secret\"\n"
    );
    let err = parse(&text, &[]).unwrap_err();
    assert!(
        err.to_string().contains("recipients[0].signing_secret"),
        "{err}"
    );
}

#[test]
fn a_database_url_with_another_scheme_is_rejected() {
    let err = parse(MINIMAL, &[("CONSENTGATE__DATABASE__URL", "mysql://x")]).unwrap_err();
    assert!(err.to_string().contains("database.url"), "{err}");
}

#[test]
fn the_delivery_backlog_bound_defaults_to_a_million_and_zero_is_rejected() {
    assert_eq!(parse(MINIMAL, &[]).unwrap().delivery.max_backlog, 1_000_000);
    let text = format!("{MINIMAL}\n[delivery]\nmax_backlog = 0\n");
    let err = parse(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("delivery.max_backlog"), "{err}");
}
