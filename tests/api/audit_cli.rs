//! `consentgate audit export` and `consentgate audit verify` through the real binary, on a
//! log the gateway wrote while doing real work (consents, transactions, a revocation) with a
//! checkpoint every 5 records, and against tampering done directly in the database.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consentgate::audit::primitives::{Checkpoint, NoteSigner};
use consentgate::db::DbConnection;
use consentgate::db::schema::{audit_by_user, audit_checkpoints, audit_tiles, audit_tree_head};
use consentgate::pki::Ed25519Key;
use diesel::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    ALL_FIELDS, Served, TestDatabase, TestPki, consentgate, transaction, write_fresh_config,
};
use crate::stored_log::{edit_record, nth_of_kind, rewrite_records, stored_records};

type Hash = [u8; 32];

const ORIGIN: &str = "consentgate/test";

/// A log written by a real gateway, which has been stopped: nothing changes it but the test.
struct Log {
    dir: tempfile::TempDir,
    pki: TestPki,
    config: PathBuf,
    database: TestDatabase,
}

/// `consentgate serve --config` with a checkpoint every 5 records.
fn serve(config: &Path) -> Served {
    let mut command = consentgate();
    command
        .env("CONSENTGATE__AUDIT__CHECKPOINT_EVERY", "5")
        .args(["serve", "--config"])
        .arg(config);
    Served::start(command)
}

/// Pushes batch `batch`: three transactions of u-1 and three of u-2, as bank-a.
async fn push(pki: &TestPki, server: &Served, batch: u32) {
    let items: Vec<Value> = (0..3)
        .flat_map(|i| {
            [
                transaction(&format!("t-{batch}-{i}-a"), "u-1"),
                transaction(&format!("t-{batch}-{i}-b"), "u-2"),
            ]
        })
        .collect();
    let response = pki
        .client(Some(&pki.bank_a))
        .post(format!("{}/v1/transactions", server.bank_url))
        .json(&json!({"transactions": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

impl Log {
    /// Starts `consentgate serve` with `checkpoint_every = 5`, grants consents, pushes
    /// transactions, revokes a consent, pushes more, and stops the gateway.
    async fn build() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(dir.path());
        let (pki, config) = write_fresh_config(dir.path(), &database.url(), "");
        let server = serve(&config);
        let api = pki.client(None);
        let token = |sub: &str| mint(&config, sub, "consents");
        let grant = |sub: &'static str, purposes: &'static [&'static str]| {
            let api = api.clone();
            let url = format!("{}/v1/consents", server.api_url);
            let token = token(sub);
            async move {
                let response = api
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"recipient": "messenger", "bank": "bank-a", "purposes": purposes, "fields": ALL_FIELDS}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201);
                response.json::<Value>().await.unwrap()
            }
        };
        let first = grant("u-1", &["fraud_alert", "customer_service"]).await;
        grant("u-2", &["finance_tracking"]).await;
        for batch in 0..3 {
            push(&pki, &server, batch).await;
        }
        let revoked = api
            .delete(format!(
                "{}/v1/consents/{}",
                server.api_url,
                first["id"].as_str().unwrap()
            ))
            .bearer_auth(token("u-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status().as_u16(), 200);
        for batch in 3..5 {
            push(&pki, &server, batch).await;
        }
        // SIGKILL: everything answered 2xx is committed, nothing else runs afterwards.
        server.kill_9();
        let log = Self {
            dir,
            pki,
            config,
            database,
        };
        let checkpoints = log.checkpoints().len();
        assert!(
            checkpoints >= 4,
            "only {checkpoints} checkpoints were signed"
        );
        log
    }

    fn conn(&self) -> DbConnection {
        self.database.connect()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every stored record text, by index.
    fn records(&self) -> Vec<String> {
        let records = stored_records(&mut self.conn());
        for (position, (index, _)) in records.iter().enumerate() {
            assert_eq!(*index, position as u64);
        }
        records.into_iter().map(|(_, text)| text).collect()
    }

    /// `(size, note)` of every checkpoint, smallest first.
    fn checkpoints(&self) -> Vec<(i64, String)> {
        audit_checkpoints::table
            .order(audit_checkpoints::size.asc())
            .select((audit_checkpoints::size, audit_checkpoints::note))
            .load(&mut self.conn())
            .unwrap()
    }

    /// What an auditor keeps: the latest checkpoint, written to `name`.
    fn keep_latest_checkpoint(&self, name: &str) -> (PathBuf, u64) {
        let note: String = audit_checkpoints::table
            .order(audit_checkpoints::size.desc())
            .select(audit_checkpoints::note)
            .first(&mut self.conn())
            .unwrap();
        let path = self.path(name);
        std::fs::write(&path, &note).unwrap();
        let (size, _) = parse_checkpoint(&note);
        (path, size)
    }

    /// The audit key's public half as SPKI PEM, as `dev-pki` writes `audit.pub`.
    fn public_key_pem(&self) -> PathBuf {
        let key =
            Ed25519Key::from_pkcs8_pem(&std::fs::read_to_string(self.path("audit.key")).unwrap())
                .unwrap();
        let path = self.path("audit.pub");
        std::fs::write(&path, key.public_key_pem().unwrap()).unwrap();
        path
    }

    /// `consentgate audit verify --config`.
    fn verify_online(&self) -> Output {
        consentgate()
            .args(["audit", "verify", "--config"])
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// `consentgate audit export --config [args]` into `name`; returns the path and text.
    fn export(&self, name: &str, args: &[&str]) -> (PathBuf, String) {
        let output = consentgate()
            .args(["audit", "export", "--config"])
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let path = self.path(name);
        std::fs::write(&path, &text).unwrap();
        (path, text)
    }
}

fn verify_offline(export: &Path, checkpoint: &Path, public_key: &Path) -> Output {
    consentgate()
        .args(["audit", "verify", "--export"])
        .arg(export)
        .arg("--checkpoint")
        .arg(checkpoint)
        .arg("--public-key")
        .arg(public_key)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts exit 1 with `first bad index {index}` on stdout.
fn assert_fails_at(output: &Output, index: u64) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let printed = stdout(output);
    assert!(
        printed.contains(&format!("first bad index {index}:")),
        "expected index {index}: {printed}"
    );
}

/// `(size, root)` of a checkpoint note, read by hand.
fn parse_checkpoint(note: &str) -> (u64, Hash) {
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], ORIGIN);
    let root = STANDARD.decode(lines[2]).unwrap().try_into().unwrap();
    (lines[1].parse().unwrap(), root)
}

// An independent RFC 9162 Merkle tree hash, written from the RFC with the `sha2` crate.

fn leaf(input: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(input)
        .finalize()
        .into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// MTH(D[n]) of RFC 9162 section 2.1.1.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// An attacker with write access to the database and a key of their own: stores `records`
/// as the whole log and recomputes every hash tile, the tree head and every checkpoint at
/// its old size, signed with `key` under the log's origin. Everything agrees, except that
/// the signatures are not by the log's key.
fn rewrite_tree(conn: &mut DbConnection, records: &[String], key: &Ed25519Key) {
    let leaves: Vec<Hash> = records.iter().map(|r| leaf(r.as_bytes())).collect();
    diesel::delete(audit_tiles::table).execute(conn).unwrap();
    let mut level = 0;
    while leaves.len() >> (8 * level) > 0 {
        let width = 1usize << (8 * level);
        let nodes: Vec<Hash> = leaves.chunks_exact(width).map(mth).collect();
        for (index, tile) in nodes.chunks(256).enumerate() {
            diesel::insert_into(audit_tiles::table)
                .values((
                    audit_tiles::level.eq(level),
                    audit_tiles::idx.eq(index as i64),
                    audit_tiles::hashes.eq(tile.concat()),
                ))
                .execute(conn)
                .unwrap();
        }
        level += 1;
    }
    set_tree_head(conn, &leaves);
    let signer = NoteSigner::new(ORIGIN, key.signing_key()).unwrap();
    let sizes: Vec<i64> = audit_checkpoints::table
        .select(audit_checkpoints::size)
        .load(conn)
        .unwrap();
    for size in sizes {
        let root = mth(&leaves[..size as usize]);
        let note = signer.sign(&Checkpoint::new(ORIGIN, size as u64, root).unwrap());
        diesel::update(audit_checkpoints::table.filter(audit_checkpoints::size.eq(size)))
            .set((
                audit_checkpoints::root.eq(root.to_vec()),
                audit_checkpoints::note.eq(note),
            ))
            .execute(conn)
            .unwrap();
    }
}

/// Sets the stored tree head (size, root, peaks) to that of `leaves`.
fn set_tree_head(conn: &mut DbConnection, leaves: &[Hash]) {
    let mut peaks = Vec::new();
    let mut start = 0;
    for bit in (0..usize::BITS).rev() {
        let width = 1usize << bit;
        if leaves.len() & width != 0 {
            peaks.extend_from_slice(&mth(&leaves[start..start + width]));
            start += width;
        }
    }
    diesel::update(audit_tree_head::table)
        .set((
            audit_tree_head::size.eq(leaves.len() as i64),
            audit_tree_head::root.eq(mth(leaves).to_vec()),
            audit_tree_head::peaks.eq(peaks),
        ))
        .execute(conn)
        .unwrap();
}

#[tokio::test]
async fn an_untouched_log_verifies_online_and_offline_and_an_independent_tool_gets_its_root() {
    let log = Log::build().await;
    let records = log.records();
    let checkpoints = log.checkpoints();

    let online = log.verify_online();
    assert_eq!(online.status.code(), Some(0), "{online:?}");
    let head_root: Vec<u8> = audit_tree_head::table
        .select(audit_tree_head::root)
        .first(&mut log.conn())
        .unwrap();
    assert_eq!(
        stdout(&online).trim(),
        format!(
            "ok: {} records, {} checkpoints verified, root {}",
            records.len(),
            checkpoints.len(),
            STANDARD.encode(&head_root)
        )
    );
    assert!(online.stderr.is_empty(), "progress must stay quiet here");

    let (export, text) = log.export("audit.ndjson", &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines, records,
        "the export is the stored records, one per line"
    );
    assert!(text.ends_with('\n'));
    let (checkpoint, size) = log.keep_latest_checkpoint("checkpoint.txt");
    // Every line is the record's canonical JSON: serde_json's compact form of a value whose
    // members are sorted (records hold only ASCII strings and integers).
    for (index, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), *line);
        assert_eq!(value["index"], index as u64);
    }
    let leaves: Vec<Hash> = lines.iter().map(|l| leaf(l.as_bytes())).collect();
    let (_, signed_root) = parse_checkpoint(&std::fs::read_to_string(&checkpoint).unwrap());
    assert_eq!(mth(&leaves[..size as usize]), signed_root);
    assert_eq!(mth(&leaves).to_vec(), head_root);

    let pem = log.public_key_pem();
    let offline = verify_offline(&export, &checkpoint, &pem);
    assert_eq!(offline.status.code(), Some(0), "{offline:?}");
    assert!(
        stdout(&offline).starts_with(&format!("ok: {size} records, 1 checkpoint verified")),
        "{}",
        stdout(&offline)
    );
    assert!(offline.stderr.is_empty());

    // The note verifier key string works as well as the PEM.
    let signer = consentgate::audit::CheckpointSigner::load(
        &consentgate::config::Config::load(&log.config)
            .unwrap()
            .audit,
    )
    .unwrap();
    let verifier_key = log.path("audit.vkey");
    std::fs::write(&verifier_key, signer.verifier().verifier_key()).unwrap();
    let offline = verify_offline(&export, &checkpoint, &verifier_key);
    assert_eq!(offline.status.code(), Some(0), "{offline:?}");

    // A checkpoint saved with one newline too many (as `sqlite3` prints it) or none.
    let note = std::fs::read_to_string(&checkpoint).unwrap();
    for (name, text) in [
        ("extra.txt", format!("{note}\n")),
        ("none.txt", note.trim_end().to_string()),
    ] {
        std::fs::write(log.path(name), text).unwrap();
        let offline = verify_offline(&export, &log.path(name), &pem);
        assert_eq!(offline.status.code(), Some(0), "{name}: {offline:?}");
    }

    // An earlier checkpoint verifies against the same, longer export.
    let (first_size, first_note) = &checkpoints[0];
    let early = log.path("early.txt");
    std::fs::write(&early, first_note).unwrap();
    let offline = verify_offline(&export, &early, &pem);
    assert_eq!(offline.status.code(), Some(0), "{offline:?}");
    assert!(stdout(&offline).starts_with(&format!("ok: {first_size} records")));
}

#[tokio::test]
async fn export_writes_records_from_inclusive_to_exclusive() {
    let log = Log::build().await;
    let records = log.records();
    let (_, part) = log.export("part.ndjson", &["--from", "3", "--to", "7"]);
    assert_eq!(part.lines().collect::<Vec<_>>(), records[3..7]);
    let (_, tail) = log.export("tail.ndjson", &["--from", "10"]);
    assert_eq!(tail.lines().collect::<Vec<_>>(), records[10..]);
    let (_, beyond) = log.export("beyond.ndjson", &["--from", "5", "--to", "100000"]);
    assert_eq!(beyond.lines().collect::<Vec<_>>(), records[5..]);
    let (_, empty) = log.export("empty.ndjson", &["--from", "4", "--to", "4"]);
    assert_eq!(empty, "");
    let backwards = consentgate()
        .args(["audit", "export", "--from", "7", "--to", "3", "--config"])
        .arg(&log.config)
        .output()
        .unwrap();
    assert_eq!(backwards.status.code(), Some(2), "{backwards:?}");
}

#[tokio::test]
async fn a_record_edited_in_the_database_is_found_at_its_index() {
    let log = Log::build().await;
    let mut conn = log.conn();
    let (kept, _) = log.keep_latest_checkpoint("kept.txt");
    let index = nth_of_kind(&mut conn, "release", 1);
    edit_record(&mut conn, index, "\"released\":", "\"releasee\":");
    assert_fails_at(&log.verify_online(), index as u64);

    // The auditor's kept checkpoint catches it in a fresh export too; a canonical line that
    // changed can only be found by its root, which cannot say which line it was.
    let (export, _) = log.export("tampered.ndjson", &[]);
    assert_fails_at(&verify_offline(&export, &kept, &log.public_key_pem()), 0);

    edit_record(&mut conn, index, "\"releasee\":", "\"released\":");
    assert_eq!(log.verify_online().status.code(), Some(0));

    // The access log's index, which the API reads, must match the records.
    let other = nth_of_kind(&mut conn, "consent.granted", 1);
    let moved = diesel::update(audit_by_user::table.filter(audit_by_user::idx.eq(other)))
        .set(audit_by_user::user_id.eq("u-9"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(moved, 1);
    assert_fails_at(&log.verify_online(), other as u64);
}

#[tokio::test]
async fn a_record_deleted_from_the_middle_is_found_as_a_gap() {
    let log = Log::build().await;
    let mut conn = log.conn();
    rewrite_records(&mut conn, |index, text| (index != 6).then_some(text));
    let output = log.verify_online();
    assert_fails_at(&output, 6);
    assert!(stdout(&output).contains("missing"), "{}", stdout(&output));
}

#[tokio::test]
async fn deleting_the_last_records_is_found_even_with_the_tree_head_rewound() {
    let log = Log::build().await;
    let mut conn = log.conn();
    let (kept, size) = log.keep_latest_checkpoint("kept.txt");
    let cut = size - 3;
    rewrite_records(&mut conn, |index, text| (index < cut).then_some(text));
    assert_fails_at(&log.verify_online(), cut);

    // Rewinding the tree head to the records left does not help: a signed checkpoint
    // covers the deleted records.
    let left = log.records();
    assert_eq!(left.len() as u64, cut);
    let leaves: Vec<Hash> = left.iter().map(|r| leaf(r.as_bytes())).collect();
    set_tree_head(&mut conn, &leaves);
    let output = log.verify_online();
    assert_fails_at(&output, cut);
    assert!(
        stdout(&output).contains("checkpoint"),
        "{}",
        stdout(&output)
    );

    // Deleting those checkpoints too leaves a database that agrees with itself, which
    // online verification cannot tell from an honest one; the checkpoint the auditor kept
    // can.
    diesel::delete(audit_checkpoints::table.filter(audit_checkpoints::size.gt(cut as i64)))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(log.verify_online().status.code(), Some(0));
    let (export, _) = log.export("short.ndjson", &[]);
    let output = verify_offline(&export, &kept, &log.public_key_pem());
    assert_fails_at(&output, cut);
}

#[tokio::test]
async fn a_log_rewritten_and_re_signed_with_another_key_is_found() {
    let log = Log::build().await;
    let mut conn = log.conn();
    let (kept, _) = log.keep_latest_checkpoint("kept.txt");
    let index = nth_of_kind(&mut conn, "release", 2);
    let mut records = log.records();
    records[index as usize] = records[index as usize].replacen(
        "\"transaction.card_last4\"",
        "\"transaction.card_last5\"",
        1,
    );
    rewrite_records(&mut conn, |i, text| {
        Some(if i == index as u64 {
            records[index as usize].clone()
        } else {
            text
        })
    });
    let attacker = Ed25519Key::generate();
    rewrite_tree(&mut conn, &records, &attacker);

    // With the attacker's key, the rewritten database is consistent in every way...
    let attacker_key = log.path("attacker.key");
    std::fs::write(&attacker_key, attacker.to_pkcs8_pem().unwrap()).unwrap();
    let text = std::fs::read_to_string(&log.config).unwrap();
    let attacker_config = log.path("attacker.toml");
    std::fs::write(
        &attacker_config,
        text.replace(
            "signing_key = \"audit.key\"",
            "signing_key = \"attacker.key\"",
        ),
    )
    .unwrap();
    let fooled = consentgate()
        .args(["audit", "verify", "--config"])
        .arg(&attacker_config)
        .output()
        .unwrap();
    assert_eq!(fooled.status.code(), Some(0), "{fooled:?}");

    // ...but not with the log's own key: no checkpoint is signed by it any more.
    let output = log.verify_online();
    assert_fails_at(&output, 0);
    assert!(stdout(&output).contains("does not verify"), "{output:?}");

    let (export, _) = log.export("rewritten.ndjson", &[]);
    let pem = log.public_key_pem();
    assert_fails_at(&verify_offline(&export, &kept, &pem), 0);
    let (forged, _) = log.keep_latest_checkpoint("forged.txt");
    let output = verify_offline(&export, &forged, &pem);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).contains("does not verify"), "{output:?}");
}

#[tokio::test]
async fn a_flipped_byte_in_the_checkpoint_signature_fails_offline_verification() {
    let log = Log::build().await;
    let (export, _) = log.export("audit.ndjson", &[]);
    let (checkpoint, _) = log.keep_latest_checkpoint("checkpoint.txt");
    let note = std::fs::read_to_string(&checkpoint).unwrap();
    let (text, signature_line) = note.trim_end().rsplit_once('\n').unwrap();
    let (prefix, signature) = signature_line.rsplit_once(' ').unwrap();
    let mut blob = STANDARD.decode(signature).unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 0x01;
    let flipped = log.path("flipped.txt");
    std::fs::write(
        &flipped,
        format!("{text}\n{prefix} {}\n", STANDARD.encode(&blob)),
    )
    .unwrap();
    let pem = log.public_key_pem();
    assert_eq!(
        verify_offline(&export, &checkpoint, &pem).status.code(),
        Some(0)
    );
    let output = verify_offline(&export, &flipped, &pem);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).contains("signature by key"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn audit_verify_needs_a_database_or_an_export_checkpoint_and_key() {
    for args in [
        vec!["audit", "verify"],
        vec!["audit", "verify", "--export", "x.ndjson"],
        vec![
            "audit", "verify", "--config", "c.toml", "--export", "x.ndjson",
        ],
        vec!["audit", "export"],
    ] {
        let output = consentgate().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

#[test]
fn audit_verify_of_a_missing_export_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoint.txt"), "x").unwrap();
    std::fs::write(dir.path().join("audit.pub"), "x").unwrap();
    let output = verify_offline(
        &dir.path().join("nope.ndjson"),
        &dir.path().join("checkpoint.txt"),
        &dir.path().join("audit.pub"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = consentgate()
        .args(["audit", "verify", "--export", "-", "--checkpoint"])
        .arg(dir.path().join("nope.txt"))
        .arg("--public-key")
        .arg(dir.path().join("audit.pub"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.txt"));
}

/// A user token from `consentgate token`.
fn mint(config: &Path, sub: &str, scope: &str) -> String {
    let output = consentgate()
        .args(["token", "--sub", sub, "--scope", scope, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn after_an_audit_key_rotation_old_checkpoints_verify_with_the_retired_key_listed() {
    let log = Log::build().await;
    let before = log.checkpoints().len();
    let (until_size, _) = log.checkpoints().last().cloned().unwrap();
    // Rotation as operations.md describes it: keep the old public half and the size of its
    // last checkpoint, sign with a new key.
    std::fs::rename(log.public_key_pem(), log.path("audit-old.pub")).unwrap();
    let new_key = Ed25519Key::generate();
    std::fs::write(log.path("audit.key"), new_key.to_pkcs8_pem().unwrap()).unwrap();
    let text = std::fs::read_to_string(&log.config).unwrap();
    let rotated = text.replace(
        "[audit]\n",
        &format!(
            "[audit]\nretired_keys = [{{ public_key = \"audit-old.pub\", until_size = {until_size} }}]\n"
        ),
    );
    assert_ne!(rotated, text);
    std::fs::write(&log.config, &rotated).unwrap();

    let server = serve(&log.config);
    push(&log.pki, &server, 9).await;
    server.kill_9();
    let checkpoints = log.checkpoints();
    assert!(checkpoints.len() > before, "the new key signed nothing");
    let (_, latest) = checkpoints.last().unwrap();
    let new_signer = NoteSigner::new(ORIGIN, new_key.signing_key()).unwrap();
    assert!(new_signer.verifier().open(latest).is_ok());

    let output = log.verify_online();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = stdout(&output);
    assert!(
        report.contains(&format!("{} checkpoints verified", checkpoints.len())),
        "{report}"
    );

    // Without the retired key, the first old checkpoint does not verify.
    std::fs::write(&log.config, &text).unwrap();
    let output = log.verify_online();
    assert_fails_at(&output, 0);
    assert!(
        stdout(&output).contains("does not verify"),
        "{}",
        stdout(&output)
    );
}
