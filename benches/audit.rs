//! How fast the audit log grows and is checked:
//!
//! (a) leaves appended per second by the real `Appender`, in writer-style transactions of
//!     1,000 release records each, on a temporary SQLite file with `synchronous = FULL`
//!     (every commit is fsynced), tiles, tree head and checkpoints included;
//! (b) records per second of `verify_offline` over an export of 1,000,000 synthetic
//!     canonical release records held in memory, against a signed checkpoint, then read
//!     from a file as `consentgate audit verify --export` reads it;
//! (c) records per second of `verify_online` over the log written in (a).
//!
//! Run with `cargo bench --bench audit` (release profile); `cargo bench --bench audit --
//! offline` runs (b) alone. With
//! `CONSENTGATE_BENCH_POSTGRES_URL=postgres://user@host/postgres` (a database the user may
//! create databases from), (a) and (c) also run on a fresh PostgreSQL database, dropped
//! afterwards.
//!
//! (b) also times, on one thread, the two halves of the work `verify_offline` spreads over
//! every core: the canonical-form check of each line, and the leaf and tree hashing.

use std::error::Error;
use std::time::{Duration, Instant};

use consentgate::audit::primitives::{
    CanonicalChecker, Checkpoint, NoteSigner, RootBuilder, canonicalize,
};
use consentgate::audit::{
    Appender, AuditRecord, CheckpointSigner, Kind, lock_tree, verify_offline, verify_online,
};
use consentgate::consent::Withheld;
use consentgate::db::{DbConnection, DbError, Target, WalCheckpointer, migrate, writer_settings};
use consentgate::policy::WithholdReason;
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _};
use serde_json::{Value, json};

/// Records per transaction, as a busy writer commits them.
const GROUP: u64 = 1_000;
/// Transactions measured in (a).
const GROUPS: u64 = 100;
/// Lines of the synthetic export of (b).
const EXPORT_LINES: u64 = 1_000_000;
/// The gateway's default checkpoint cadence.
const CHECKPOINT_EVERY: u64 = 1_000;
const ORIGIN: &str = "consentgate/bench";

const RELEASED: [&str; 6] = [
    "transaction.amount_minor",
    "transaction.currency",
    "transaction.merchant_name",
    "transaction.merchant_category_code",
    "transaction.status",
    "transaction.occurred_at",
];
const WITHHELD: [&str; 4] = [
    "transaction.merchant_city",
    "transaction.merchant_country",
    "transaction.channel",
    "transaction.card_last4",
];
const POLICY_VERSION: &str =
    "sha256:1e370adf00abad27ec1ebc6bf99882ad36c1de80c110c98f35125f37c952023e";

fn main() -> Result<(), Box<dyn Error>> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let signer = CheckpointSigner::new(ORIGIN, key.clone(), CHECKPOINT_EVERY)?;
    // Cargo passes `--bench`; any other word selects the parts to run.
    let offline_only = std::env::args().skip(1).any(|arg| arg == "offline");
    if !offline_only {
        append_and_verify_online_on_each_backend(&signer)?;
    }
    verify_offline_synthetic(key, &signer)
}

/// (a) then (c) on SQLite, and on PostgreSQL when a server is named.
fn append_and_verify_online_on_each_backend(
    signer: &CheckpointSigner,
) -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let target = Target::parse(&format!(
        "sqlite://{}",
        dir.path().join("audit.db").display()
    ))?;
    migrate(&target)?;
    // As the gateway's writer: no automatic checkpoints, a checkpointer thread instead.
    let mut conn = target.connect()?;
    writer_settings(&mut conn)?;
    let checkpointer = WalCheckpointer::start(&target)?;
    println!(
        "sqlite: journal_mode={}, synchronous={} (2 = FULL)",
        pragma(&mut conn, "journal_mode")?,
        pragma(&mut conn, "synchronous")?
    );
    append_and_verify_online(&mut conn, signer)?;
    drop(checkpointer);
    if let Ok(admin) = std::env::var("CONSENTGATE_BENCH_POSTGRES_URL") {
        let name = format!("cg_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin_conn = Target::parse(&admin)?.connect()?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin_conn)?;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let target = Target::parse(&format!("{base}/{name}"))?;
        println!("postgresql: synchronous_commit=on, database {name}");
        let outcome = migrate(&target)
            .map_err(Box::<dyn Error>::from)
            .and_then(|_| Ok(target.connect()?))
            .and_then(|mut conn| append_and_verify_online(&mut conn, signer));
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin_conn)?;
        outcome?;
    }
    Ok(())
}

/// (b) offline verification of a synthetic export, then its two halves on one thread.
fn verify_offline_synthetic(
    key: ed25519_dalek::SigningKey,
    signer: &CheckpointSigner,
) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let mut export = Vec::with_capacity(EXPORT_LINES as usize * 700);
    let mut builder = RootBuilder::new();
    for index in 0..EXPORT_LINES {
        let line = canonicalize(&release_json(index))?;
        builder.push_leaf_input(line.as_bytes());
        export.extend_from_slice(line.as_bytes());
        export.push(b'\n');
    }
    println!(
        "(b) generated {EXPORT_LINES} canonical lines ({:.0} MB, {:.0} bytes/line) in {:.1} s",
        export.len() as f64 / 1e6,
        export.len() as f64 / EXPORT_LINES as f64,
        started.elapsed().as_secs_f64()
    );
    let note = NoteSigner::new(ORIGIN, key)?.sign(&Checkpoint::new(
        ORIGIN,
        builder.size(),
        builder.root(),
    )?);
    let verifier = signer.verifier();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let report = verify_offline(export.as_slice(), &note, &verifier, &mut |_| {})?;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds().zip(cpu).map(|(after, before)| after - before);
    if !report.ok {
        return Err(format!("the synthetic export does not verify: {report:?}").into());
    }
    println!(
        "(b) verify_offline: {} records in {:.2} s, {:.0} records/s ({:.0} MB/s), {} threads{}",
        report.size,
        elapsed.as_secs_f64(),
        report.size as f64 / elapsed.as_secs_f64(),
        export.len() as f64 / 1e6 / elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu.map(|cpu| format!(", {cpu:.2} s of CPU"))
            .unwrap_or_default()
    );
    // The halves on one thread, over lines split beforehand.
    let lines: Vec<&[u8]> = export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let started = Instant::now();
    let mut indexes = 0u64;
    let mut checker = CanonicalChecker::new();
    for line in &lines {
        indexes += checker.check(line)?.unwrap_or_default();
    }
    let elapsed = started.elapsed();
    if indexes != EXPORT_LINES * (EXPORT_LINES - 1) / 2 {
        return Err("the canonical check read other indexes".into());
    }
    println!(
        "    one thread, canonical check alone: {:.2} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        EXPORT_LINES as f64 / elapsed.as_secs_f64()
    );
    // The check verification made before `check_canonical`: parse, write again, compare.
    let started = Instant::now();
    for line in &lines {
        let value: Value = serde_json::from_slice(line)?;
        if canonicalize(&value)?.as_bytes() != *line {
            return Err("a synthetic line is not canonical".into());
        }
    }
    let elapsed = started.elapsed();
    println!(
        "    one thread, parsing and canonicalising again instead: {:.2} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        EXPORT_LINES as f64 / elapsed.as_secs_f64()
    );
    let started = Instant::now();
    let mut hashes_only = RootBuilder::new();
    for line in &lines {
        hashes_only.push_leaf_input(line);
    }
    let elapsed = started.elapsed();
    if hashes_only.root() != report.root {
        return Err("the hash-only root differs".into());
    }
    println!(
        "    one thread, hashing alone (leaf + tree): {:.2} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        EXPORT_LINES as f64 / elapsed.as_secs_f64()
    );
    // As `consentgate audit verify --export FILE` reads it: a file (here in the page
    // cache, just written) through a 64 KiB `BufReader`.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.ndjson");
    std::fs::write(&path, &export)?;
    drop(lines);
    drop(export);
    let file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&path)?);
    let cpu = cpu_seconds();
    let started = Instant::now();
    let from_file = verify_offline(file, &note, &verifier, &mut |_| {})?;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds().zip(cpu).map(|(after, before)| after - before);
    if from_file != report {
        return Err(
            format!("the export read from a file verifies otherwise: {from_file:?}").into(),
        );
    }
    println!(
        "(b) verify_offline from a file: {:.2} s, {:.0} records/s{}",
        elapsed.as_secs_f64(),
        report.size as f64 / elapsed.as_secs_f64(),
        cpu.map(|cpu| format!(", {cpu:.2} s of CPU"))
            .unwrap_or_default()
    );
    Ok(())
}

/// (a) appends in group commits, then (c) verifies them online.
fn append_and_verify_online(
    conn: &mut DbConnection,
    signer: &CheckpointSigner,
) -> Result<(), Box<dyn Error>> {
    append_group(conn, signer, 0)?; // warm-up: creates the first tiles and checkpoint
    let mut commits = Vec::with_capacity(GROUPS as usize);
    let cpu_before = thread_cpu();
    let started = Instant::now();
    for group in 1..=GROUPS {
        let at = Instant::now();
        append_group(conn, signer, group)?;
        commits.push(at.elapsed());
    }
    let elapsed = started.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu_before);
    commits.sort();
    let leaves = GROUPS * GROUP;
    println!(
        "(a) append: {leaves} leaves in {GROUPS} transactions of {GROUP}: {:.2} s, {:.0} leaves/s (this thread's CPU {:.2} s, {:.0} leaves per CPU-second); per transaction median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        leaves as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        leaves as f64 / cpu.as_secs_f64(),
        ms(percentile(&commits, 50)),
        ms(percentile(&commits, 90)),
        ms(percentile(&commits, 100)),
    );
    let started = Instant::now();
    let report = verify_online(conn, &signer.checkpoint_keys(), &mut |_, _| {})?;
    let elapsed = started.elapsed();
    if !report.ok {
        return Err(format!("the benchmark log does not verify: {report:?}").into());
    }
    println!(
        "(c) verify_online: {} records, {} checkpoints in {:.2} s, {:.0} records/s",
        report.size,
        report.checkpoints_verified,
        elapsed.as_secs_f64(),
        report.size as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// One writer transaction appending `GROUP` release records.
fn append_group(
    conn: &mut DbConnection,
    signer: &CheckpointSigner,
    group: u64,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        lock_tree(conn)?; // as the writer: a writer from its first statement
        let mut appender = Appender::default();
        for n in 0..GROUP {
            appender.append(conn, release_record(group * GROUP + n))?;
        }
        appender.finish(conn, signer).map(|_| ())
    })
}

/// A release record as ingest writes one: six fields released, four withheld.
fn release_record(n: u64) -> AuditRecord {
    let withheld = WITHHELD
        .iter()
        .map(|field| Withheld {
            field: (*field).to_string(),
            reason: WithholdReason::NotPermittedByPolicy,
        })
        .collect();
    AuditRecord::new(Kind::Release, "bank:bank-a")
        .user(format!("u-{}", n % 10_000))
        .recipient("messenger")
        .purpose("fraud_alert")
        .consent(uuid::Uuid::now_v7().to_string())
        .event(uuid::Uuid::now_v7().to_string())
        .bank("bank-a")
        .policy_version(POLICY_VERSION)
        .fields(
            RELEASED.iter().map(|f| (*f).to_string()).collect(),
            withheld,
        )
        .detail(json!({"record": "transaction", "txn_id": format!("t-{n:08}")}))
}

/// The JSON of a release record at `index`, shaped as the gateway writes it.
fn release_json(index: u64) -> Value {
    json!({
        "index": index,
        "ts": "2026-11-24T10:00:00.123456Z",
        "kind": "release",
        "actor": "bank:bank-a",
        "user_id": format!("u-{}", index % 10_000),
        "recipient": "messenger",
        "purpose": "fraud_alert",
        "consent_id": "0190b8a2-7c1e-7b4d-9a51-3f0c2d6e8a10",
        "event_id": format!("0190b8a2-7c1e-7b4d-9a51-{index:012x}"),
        "bank": "bank-a",
        "released": RELEASED,
        "withheld": WITHHELD.iter().map(|f| json!({"field": f, "reason": "not_permitted_by_policy"})).collect::<Vec<_>>(),
        "policy_version": POLICY_VERSION,
        "detail": {"record": "transaction", "txn_id": format!("t-{index:08}")},
    })
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// A SQLite pragma's value, as text.
fn pragma(conn: &mut DbConnection, name: &str) -> Result<String, Box<dyn Error>> {
    let rows: Vec<Pragma> = diesel::sql_query(format!(
        "SELECT CAST({name} AS TEXT) AS value FROM pragma_{name}"
    ))
    .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.value).unwrap_or_default())
}

/// CPU time this thread has run (Linux `schedstat`; zero elsewhere): separates the
/// appender's own cost from waiting for `fsync` and from other load on a shared machine.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// User and system CPU time this process has used, from `/proc/self/stat` (Linux; in
/// clock ticks of 10 ms): with the wall time, it shows how much of the machine a run got.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |n: usize| fields.get(n)?.parse::<f64>().ok();
    // utime and stime, fields 14 and 15 of proc(5): 11 and 12 counted from 0 after the name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(index).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
