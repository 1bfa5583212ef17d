//! `consentgate dev-pki`: everything a development gateway needs, in one folder.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use rand::rngs::OsRng;

use super::{DevCa, Ed25519Key, IssuedCert, PkiError};

/// The bank `dev-pki` sets up when none is named.
const DEFAULT_BANK: &str = "bank-a";
/// The configuration file; its presence means the folder is already set up.
const CONFIG_FILE: &str = "consentgate.toml";

/// Writes a development CA, a server certificate for `localhost` and `127.0.0.1`, one
/// client certificate per bank (`bank-a` when `banks` is empty), an Ed25519 JWT key with
/// its JWKS, an Ed25519 audit key with its public key, and a `consentgate.toml` that
/// uses them, into `out` (created if needed).
///
/// Paths in the configuration are relative to `out`, so the folder can be moved. Private
/// keys are written readable by the owner only. Nothing is ever overwritten: a folder
/// that already has a `consentgate.toml`, or any file about to be written, is refused.
/// Bank ids are checked before anything is written.
pub fn write_dev_setup(out: &Path, banks: &[String]) -> Result<DevSetup, PkiError> {
    let banks = bank_ids(banks)?;
    let config = out.join(CONFIG_FILE);
    if config.exists() {
        return Err(PkiError::AlreadyExists(config));
    }
    let planned = planned_files(&banks);
    if let Some(existing) = planned.iter().map(|f| out.join(f)).find(|p| p.exists()) {
        return Err(PkiError::AlreadyExists(existing));
    }

    let ca = DevCa::generate("consentgate development ca")?;
    let server = ca.issue_server(&["localhost", "127.0.0.1"])?;
    let bank_certs = banks
        .iter()
        .map(|id| Ok((id.clone(), ca.issue_client(id)?)))
        .collect::<Result<Vec<(String, IssuedCert)>, PkiError>>()?;
    let jwt_key = Ed25519Key::generate();
    let audit_key = Ed25519Key::generate();
    let recipient_secret = webhook_secret();

    fs::create_dir_all(out).map_err(|source| PkiError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut writer = Writer {
        dir: out,
        written: Vec::new(),
    };
    writer.public("ca.pem", &ca.cert_pem())?;
    writer.private("ca.key", &ca.key_pem())?;
    writer.public(
        "server.pem",
        &format!("{}{}", server.cert_pem, ca.cert_pem()),
    )?;
    writer.private("server.key", &server.key_pem)?;
    let mut dev_banks = Vec::with_capacity(bank_certs.len());
    for (id, issued) in &bank_certs {
        let cert = writer.public(&format!("bank-{id}.pem"), &issued.cert_pem)?;
        let key = writer.private(&format!("bank-{id}.key"), &issued.key_pem)?;
        dev_banks.push(DevBank {
            id: id.clone(),
            spki_sha256: issued.spki_sha256.clone(),
            cert,
            key,
        });
    }
    writer.private("jwt.key", &jwt_key.to_pkcs8_pem()?)?;
    writer.public("jwks.json", &format!("{}\n", jwt_key.jwks_json()))?;
    writer.private("audit.key", &audit_key.to_pkcs8_pem()?)?;
    writer.public("audit.pub", &audit_key.public_key_pem()?)?;
    // INVARIANT: written last, so its presence means the folder is complete.
    // The configuration holds the recipient's webhook secret: owner only.
    let config = writer.private(CONFIG_FILE, &config_toml(&dev_banks, &recipient_secret))?;

    Ok(DevSetup {
        dir: out.to_path_buf(),
        config,
        files: writer.written,
        banks: dev_banks,
        recipient_secret,
    })
}

/// What [`write_dev_setup`] wrote.
pub struct DevSetup {
    /// The folder everything was written to.
    pub dir: PathBuf,
    /// `DIR/consentgate.toml`.
    pub config: PathBuf,
    /// Every file written, the configuration last.
    pub files: Vec<PathBuf>,
    /// The banks set up, in the order given.
    pub banks: Vec<DevBank>,
    /// The `whsec_…` secret webhooks to the `messenger` recipient are signed with; a
    /// local webhook receiver needs it to verify them.
    pub recipient_secret: String,
}

impl fmt::Debug for DevSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevSetup")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("files", &self.files)
            .field("banks", &self.banks)
            .field("recipient_secret", &"[elided]")
            .finish()
    }
}

/// One bank of a [`DevSetup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevBank {
    /// The bank id, as in `[[banks]]` and in consents.
    pub id: String,
    /// The pin of its client certificate, as listed in `spki_sha256`.
    pub spki_sha256: String,
    /// `DIR/bank-<id>.pem`: the client certificate a bank presents.
    pub cert: PathBuf,
    /// `DIR/bank-<id>.key`: its private key.
    pub key: PathBuf,
}

/// The bank ids to set up: the given ones, checked, or the default.
fn bank_ids(banks: &[String]) -> Result<Vec<String>, PkiError> {
    if banks.is_empty() {
        return Ok(vec![DEFAULT_BANK.to_owned()]);
    }
    let mut seen = HashSet::new();
    for id in banks {
        // The id becomes part of file names and goes into the TOML unescaped; this
        // alphabet (the domain's id rule, which the configuration applies to bank ids) has
        // no `/`, quote or backslash, so both are safe.
        if crate::domain::BankId::parse(id).is_err() {
            return Err(PkiError::InvalidBankId(id.clone()));
        }
        if !seen.insert(id.as_str()) {
            return Err(PkiError::DuplicateBankId(id.clone()));
        }
    }
    Ok(banks.to_vec())
}

/// Every file name [`write_dev_setup`] writes, so they can all be checked first.
fn planned_files(banks: &[String]) -> Vec<String> {
    let mut files: Vec<String> = ["ca.pem", "ca.key", "server.pem", "server.key"]
        .map(str::to_owned)
        .into();
    for id in banks {
        files.push(format!("bank-{id}.pem"));
        files.push(format!("bank-{id}.key"));
    }
    files.extend(["jwt.key", "jwks.json", "audit.key", "audit.pub"].map(str::to_owned));
    files
}

/// A Standard Webhooks secret: `whsec_` and base64 of 32 random bytes.
fn webhook_secret() -> String {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// The configuration file. Every value inserted is a validated id, a hex pin or base64,
/// none of which needs escaping in a TOML basic string.
fn config_toml(banks: &[DevBank], recipient_secret: &str) -> String {
    let mut toml = String::from(
        r#"# Development configuration written by `consentgate dev-pki`. Not for production: the keys
# below were generated on this machine and sit next to this file.
[server]
bank_listen = "127.0.0.1:8443"
api_listen = "127.0.0.1:8444"

[tls]
cert = "server.pem"
key = "server.key"
client_ca = "ca.pem"
client_crl = []

[database]
url = "sqlite://consentgate.db"

[auth]
issuer = "https://id.consentgate.dev"
audience = "consentgate"
jwks_file = "jwks.json"
signing_key = "jwt.key"

[audit]
signing_key = "audit.key"
origin = "consentgate/dev"
checkpoint_every = 1000

[delivery]
max_attempts = 12
"#,
    );
    for bank in banks {
        toml.push_str(&format!(
            "\n[[banks]]\nid = \"{id}\"\nname = \"{id}\"\nspki_sha256 = [\"{pin}\"]\n",
            id = bank.id,
            pin = bank.spki_sha256,
        ));
    }
    toml.push_str(&format!(
        r#"
[[recipients]]
id = "messenger"
name = "Messenger"
webhook_url = "http://127.0.0.1:8445/webhooks/consentgate"
signing_secret = "{recipient_secret}"
"#
    ));
    toml
}

/// Writes files into the setup folder, never over an existing one, and remembers them.
struct Writer<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
}

impl Writer<'_> {
    fn public(&mut self, name: &str, contents: &str) -> Result<PathBuf, PkiError> {
        self.write(name, contents, 0o644)
    }

    fn private(&mut self, name: &str, contents: &str) -> Result<PathBuf, PkiError> {
        self.write(name, contents, 0o600)
    }

    #[cfg_attr(
        not(unix),
        expect(unused_variables, reason = "file modes are unix only")
    )]
    fn write(&mut self, name: &str, contents: &str, mode: u32) -> Result<PathBuf, PkiError> {
        let path = self.dir.join(name);
        let mut options = OpenOptions::new();
        // CAUTION: create_new, not create: a key file that appeared since the check in
        // `write_dev_setup` must not be replaced.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            // Set at creation, so a private key is never readable by others, not even
            // for a moment.
            options.mode(mode);
        }
        let result = options.open(&path).and_then(|mut file| {
            file.write_all(contents.as_bytes())
                .and_then(|()| file.sync_all())
        });
        match result {
            Ok(()) => {
                self.written.push(path.clone());
                Ok(path)
            }
            Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(PkiError::AlreadyExists(path))
            }
            Err(source) => Err(PkiError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::spki_sha256;
    use super::*;

    const EVERY_FILE: [&str; 13] = [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "bank-bank-a.pem",
        "bank-bank-a.key",
        "bank-bank-b.pem",
        "bank-bank-b.key",
        "jwt.key",
        "jwks.json",
        "audit.key",
        "audit.pub",
        "consentgate.toml",
    ];

    fn two_banks() -> Vec<String> {
        vec!["bank-a".to_owned(), "bank-b".to_owned()]
    }

    fn read(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).unwrap()
    }

    fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
        x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .map(|p| p.unwrap().contents)
            .collect()
    }

    #[test]
    fn dev_setup_writes_every_file_and_reports_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pki");
        let setup = write_dev_setup(&out, &two_banks()).unwrap();

        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected = EVERY_FILE.map(str::to_owned).to_vec();
        expected.sort();
        assert_eq!(names, expected);
        let reported: Vec<PathBuf> = EVERY_FILE.iter().map(|f| out.join(f)).collect();
        assert_eq!(setup.files, reported);
        assert_eq!(setup.config, out.join("consentgate.toml"));
        assert_eq!(setup.dir, out);
    }

    #[test]
    fn the_config_parses_and_its_pins_match_the_bank_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let setup = write_dev_setup(dir.path(), &two_banks()).unwrap();
        let config: toml::Value = read(dir.path(), "consentgate.toml").parse().unwrap();

        let banks = config["banks"].as_array().unwrap();
        assert_eq!(banks.len(), 2);
        for (bank, reported) in banks.iter().zip(&setup.banks) {
            let id = bank["id"].as_str().unwrap();
            assert_eq!(id, reported.id);
            let cert = read(dir.path(), &format!("bank-{id}.pem"));
            let der = pem_certs(&cert).remove(0);
            let pin = spki_sha256(&der).unwrap();
            let pins: Vec<&str> = bank["spki_sha256"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            assert_eq!(pins, vec![pin.as_str()]);
            assert_eq!(reported.spki_sha256, pin);
            assert_eq!(reported.cert, dir.path().join(format!("bank-{id}.pem")));
        }
        assert_ne!(setup.banks[0].spki_sha256, setup.banks[1].spki_sha256);

        let recipient = &config["recipients"][0];
        assert_eq!(recipient["id"].as_str(), Some("messenger"));
        let secret = recipient["signing_secret"].as_str().unwrap();
        assert_eq!(secret, setup.recipient_secret);
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn the_config_points_at_the_files_written_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        write_dev_setup(dir.path(), &[]).unwrap();
        let config: toml::Value = read(dir.path(), "consentgate.toml").parse().unwrap();
        for (section, key) in [
            ("tls", "cert"),
            ("tls", "key"),
            ("tls", "client_ca"),
            ("auth", "jwks_file"),
            ("auth", "signing_key"),
            ("audit", "signing_key"),
        ] {
            let path = config[section][key].as_str().unwrap();
            assert!(Path::new(path).is_relative(), "{section}.{key} is absolute");
            assert!(
                dir.path().join(path).is_file(),
                "{section}.{key} = {path} is missing"
            );
        }
        assert_eq!(config["tls"]["client_crl"].as_array().unwrap().len(), 0);
        assert_eq!(
            config["database"]["url"].as_str(),
            Some("sqlite://consentgate.db")
        );
    }

    #[test]
    fn no_banks_means_bank_a() {
        let dir = tempfile::tempdir().unwrap();
        let setup = write_dev_setup(dir.path(), &[]).unwrap();
        assert_eq!(setup.banks.len(), 1);
        assert_eq!(setup.banks[0].id, "bank-a");
        assert!(dir.path().join("bank-bank-a.pem").is_file());
        let config: toml::Value = read(dir.path(), "consentgate.toml").parse().unwrap();
        assert_eq!(config["banks"][0]["id"].as_str(), Some("bank-a"));
    }

    #[test]
    fn the_written_keys_belong_to_the_written_certificates_and_jwks() {
        let dir = tempfile::tempdir().unwrap();
        write_dev_setup(dir.path(), &[]).unwrap();
        let dir = dir.path();

        let server_chain = pem_certs(&read(dir, "server.pem"));
        let ca = pem_certs(&read(dir, "ca.pem"));
        assert_eq!(server_chain.len(), 2, "server.pem is not leaf + ca");
        assert_eq!(server_chain[1], ca[0]);
        let (_, leaf) = x509_parser::parse_x509_certificate(&server_chain[0]).unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca[0]).unwrap();
        leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
        let server_key = rcgen::KeyPair::from_pem(&read(dir, "server.key")).unwrap();
        assert_eq!(
            leaf.public_key().subject_public_key.data.as_ref(),
            server_key.public_key_raw()
        );

        let jwt_key = Ed25519Key::from_pkcs8_pem(&read(dir, "jwt.key")).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&read(dir, "jwks.json")).unwrap();
        assert_eq!(jwks["keys"][0], jwt_key.jwk());

        let audit_key = Ed25519Key::from_pkcs8_pem(&read(dir, "audit.key")).unwrap();
        assert_eq!(read(dir, "audit.pub"), audit_key.public_key_pem().unwrap());
        assert_ne!(audit_key.kid(), jwt_key.kid());
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        write_dev_setup(dir.path(), &two_banks()).unwrap();
        for name in EVERY_FILE {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            if name.ends_with(".key") || name.ends_with(".toml") {
                assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
            } else {
                assert_eq!(mode & 0o077 & !0o044, 0, "{name} has mode {mode:o}");
                assert_ne!(mode & 0o044, 0, "{name} has mode {mode:o}");
            }
        }
    }

    #[test]
    fn a_second_run_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        write_dev_setup(dir.path(), &[]).unwrap();
        let before = read(dir.path(), "ca.key");

        let err = write_dev_setup(dir.path(), &[]).unwrap_err();
        match &err {
            PkiError::AlreadyExists(path) => assert_eq!(path, &dir.path().join("consentgate.toml")),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert!(err.to_string().contains("consentgate.toml"), "{err}");
        assert_eq!(read(dir.path(), "ca.key"), before);
    }

    #[test]
    fn a_leftover_key_is_not_overwritten_either() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("audit.key"), "keep me").unwrap();
        let err = write_dev_setup(dir.path(), &[]).unwrap_err();
        assert!(matches!(&err, PkiError::AlreadyExists(p) if p.ends_with("audit.key")));
        assert_eq!(read(dir.path(), "audit.key"), "keep me");
        assert!(
            !dir.path().join("ca.pem").exists(),
            "files were written before refusing"
        );
    }

    #[test]
    fn bad_or_repeated_bank_ids_are_refused_before_anything_is_written() {
        let too_long = "b".repeat(65);
        for banks in [
            vec!["bank/a".to_owned()],
            vec![String::new()],
            vec![too_long],
            vec!["bank \"a\"".to_owned()],
            vec!["bank-a".to_owned(), "bank-a".to_owned()],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("pki");
            let err = write_dev_setup(&out, &banks).unwrap_err();
            assert!(
                matches!(
                    err,
                    PkiError::InvalidBankId(_) | PkiError::DuplicateBankId(_)
                ),
                "{banks:?}: {err}"
            );
            assert!(!out.exists(), "{banks:?}: the folder was created");
        }
        let dir = tempfile::tempdir().unwrap();
        let fine = vec!["B.a_n:k-1".to_owned(), "b".repeat(64)];
        write_dev_setup(dir.path(), &fine).unwrap();
    }

    #[test]
    fn debug_output_leaves_the_webhook_secret_out() {
        let dir = tempfile::tempdir().unwrap();
        let setup = write_dev_setup(dir.path(), &[]).unwrap();
        let printed = format!("{setup:?}");
        assert!(!printed.contains(&setup.recipient_secret));
        assert!(printed.contains(&setup.banks[0].spki_sha256));
    }
}
