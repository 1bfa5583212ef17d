//! Checking the audit log from scratch (CONTRACT §9): online against the database, offline
//! against an NDJSON export and a checkpoint an auditor kept.
//!
//! Both recompute every leaf from the record text and every root with the RFC 9162
//! hashing of [`super::primitives`], and trust nothing but the Ed25519 key the caller
//! gives. Both report the FIRST index whose integrity could not be established:
//!
//! - a record that fails its own checks (not canonical JCS, a wrong `index` member, a leaf
//!   hash that differs from the stored hash tile, a gap or an extra row) is named exactly;
//! - a signed checkpoint that does not verify, or whose root the records do not reproduce
//!   while every record passed its own checks, is explained by the smallest index it could
//!   be: the first record after the last checkpoint that did verify (its size). Records
//!   before it are proven by that checkpoint; which later record changed cannot be told
//!   from a root alone.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::bundle::{self, BundleRow, StoredBundle};
use super::primitives::{
    Checkpoint, CompactRange, EMPTY_ROOT, Hash, NoteError, NoteVerifier, canonicalize, leaf_hash,
};
use super::tiles::{TILE_HEIGHT, TILE_WIDTH, decode, load_tile, tile_slot};
use crate::db::schema::{audit_checkpoints, audit_tiles, audit_tree_head};
use crate::db::{DbConnection, DbError, to_i64};

mod offline;

/// Bundles (of up to 1,024 records) read per query while verifying online.
pub const VERIFY_BUNDLES: i64 = 16;

/// How often [`verify_offline`] reports progress, in lines (at the end of the batch that
/// passes each multiple).
pub const OFFLINE_PROGRESS_EVERY: u64 = 100_000;

/// The outcome of a verification, as `GET /v1/audit/verify` and `consentgate audit verify`
/// show it.
///
/// `size` and `root` are what the check recomputed: on success the size and root of the
/// whole log (online) or of the checkpoint (offline); on failure the records read before
/// the check stopped and their root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whether every check passed.
    pub ok: bool,
    /// Records hashed into `root`.
    pub size: u64,
    /// The recomputed root (base64 in JSON).
    #[serde(serialize_with = "base64_hash")]
    pub root: Hash,
    /// Signed checkpoints whose signature and root were confirmed.
    pub checkpoints_verified: u64,
    /// The first index whose integrity could not be established (see the module
    /// documentation); absent on success, and when an offline checkpoint itself is bad.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_index: Option<u64>,
    /// What is wrong, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl VerifyReport {
    /// The root as standard base64, as in checkpoints.
    pub fn root_base64(&self) -> String {
        STANDARD.encode(self.root)
    }
}

fn base64_hash<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(hash))
}

/// Why an offline verification could not run to a verdict.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The export could not be read.
    #[error("cannot read the export at line {line}: {source}")]
    Read {
        /// The 0-based line (= index) being read.
        line: u64,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why a public key argument could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PublicKeyError {
    /// The text is none of the accepted forms.
    #[error(
        "not a public key: expected a note verifier key `<name>+<hex id>+<base64>`, an Ed25519 `BEGIN PUBLIC KEY` PEM, or the JSON of `GET /v1/audit/public-key`"
    )]
    Unrecognised,
    /// A verifier key string that does not parse.
    #[error("note verifier key: {0}")]
    Verifier(#[from] NoteError),
    /// A PEM that is not an Ed25519 SubjectPublicKeyInfo.
    #[error("the PEM public key is not an Ed25519 SubjectPublicKeyInfo: {0}")]
    Pem(String),
    /// A PEM key with no name to check signatures under.
    #[error(
        "a PEM public key carries no key name and the checkpoint names none; pass the note verifier key string instead"
    )]
    NoName,
}

/// Reads the key an auditor holds: a C2SP note verifier key (`name+hex+base64`), the JSON
/// document of `GET /v1/audit/public-key` (its `verifier` member), or an Ed25519 SPKI PEM
/// (`BEGIN PUBLIC KEY`, the `audit.pub` of `dev-pki`).
///
/// A PEM key has no name, and a note signature is made under a name; the gateway signs
/// under its `audit.origin`, the checkpoint's first line, which callers pass as
/// `origin_hint`.
pub fn parse_verifier(
    text: &str,
    origin_hint: Option<&str>,
) -> Result<NoteVerifier, PublicKeyError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map_err(|e| PublicKeyError::Pem(e.to_string()))?;
        let name = origin_hint.ok_or(PublicKeyError::NoName)?;
        return Ok(NoteVerifier::new(name, key)?);
    }
    if text.starts_with('{') {
        let document: Value =
            serde_json::from_str(text).map_err(|_| PublicKeyError::Unrecognised)?;
        let verifier = document
            .get("verifier")
            .and_then(Value::as_str)
            .ok_or(PublicKeyError::Unrecognised)?;
        return Ok(NoteVerifier::parse(verifier)?);
    }
    if text.contains('+') && !text.contains(char::is_whitespace) {
        return Ok(NoteVerifier::parse(text)?);
    }
    Err(PublicKeyError::Unrecognised)
}

/// The origin line of a checkpoint note (its first line), whether or not it verifies: the
/// key name to try with a PEM public key.
pub fn checkpoint_origin(note: &str) -> Option<&str> {
    note.split('\n').next().filter(|line| !line.is_empty())
}

/// Verifies the log in the database: dense indexes `0..size`, every record canonical and
/// carrying its own index, its filter columns equal to its members, its leaf hash equal to
/// the stored hash tile, every stored higher tile hash equal to the recomputed subtree,
/// every signed checkpoint's signature and root, and the tree head's size and root.
///
/// `keys` are the keys that signed the log in the order they signed, the current one last
/// ([`super::CheckpointSigner::checkpoint_keys`]). Each checkpoint must be signed by the key
/// of the checkpoint before it or by a later one (a retired key never signs after its
/// successor has), and a retired key's signature counts only up to its `until_size`.
///
/// Runs in one read-only transaction (REPEATABLE READ on PostgreSQL; SQLite's WAL gives a
/// snapshot), so a gateway appending meanwhile is neither seen half-way nor blocked. Do not
/// call it inside another transaction. `progress(done, total)` is called after each page of
/// [`VERIFY_BUNDLES`] bundles.
pub fn verify_online(
    conn: &mut DbConnection,
    keys: &[CheckpointKey],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, DbError> {
    conn.transaction(|conn| {
        if let DbConnection::Pg(pg) = conn {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        OnlineWalk::new(keys).run(conn, progress)
    })
}

/// A key checkpoints may be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointKey {
    /// Its verifier, under the log's origin.
    pub verifier: NoteVerifier,
    /// For a retired key, the largest checkpoint size it signed; none for the current key.
    pub until_size: Option<u64>,
}

/// One stored checkpoint row.
struct StoredCheckpoint {
    size: u64,
    root: Vec<u8>,
    note: String,
}

/// The first problem found: the index it is reported at and what it is.
struct Bad {
    index: u64,
    problem: String,
}

impl Bad {
    fn at(index: u64, problem: String) -> Self {
        Self { index, problem }
    }
}

/// What a bundle's records hold, to compare with what its row claims.
struct Seen {
    kinds: i64,
    ts_min: i64,
    ts_max: i64,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            kinds: 0,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
        }
    }
}

impl Seen {
    fn add(&mut self, kind: i64, ts: i64) {
        self.kinds |= kind;
        self.ts_min = self.ts_min.min(ts);
        self.ts_max = self.ts_max.max(ts);
    }

    /// Compares with the bundle's row.
    fn matches(&self, stored: &StoredBundle) -> Result<(), Bad> {
        let first = stored.first;
        if self.kinds != stored.kinds
            || self.ts_min != stored.ts_min
            || self.ts_max != stored.ts_max
        {
            return Err(Bad::at(
                first,
                format!(
                    "the kinds or time range stored for the bundle of records from {first} differ from its records"
                ),
            ));
        }
        Ok(())
    }
}

/// The access log's index as the records say it should be, one epoch at a time (an epoch
/// may start in the middle of a bundle).
#[derive(Default)]
struct UserIndex {
    /// The epoch being collected and its expected `(user_id, idx)` entries.
    current: Option<(u64, BTreeSet<(String, u64)>)>,
    /// The last epoch compared.
    last_epoch: Option<u64>,
}

impl UserIndex {
    /// Adds record `index`'s entry, first comparing the previous epoch if `index` starts a
    /// new one.
    fn add(
        &mut self,
        conn: &mut DbConnection,
        user: Option<&str>,
        index: u64,
    ) -> Result<Result<(), Bad>, DbError> {
        let epoch = index / bundle::USER_EPOCH;
        if self.current.as_ref().is_some_and(|(e, _)| *e != epoch)
            && let Err(bad) = self.finish(conn)?
        {
            return Ok(Err(bad));
        }
        let (_, entries) = self.current.get_or_insert_with(|| (epoch, BTreeSet::new()));
        if let Some(user) = user {
            entries.insert((user.to_string(), index));
        }
        Ok(Ok(()))
    }

    /// Compares the epoch being collected with the stored index.
    fn finish(&mut self, conn: &mut DbConnection) -> Result<Result<(), Bad>, DbError> {
        let Some((epoch, expected)) = self.current.take() else {
            return Ok(Ok(()));
        };
        self.last_epoch = Some(epoch);
        let stored: BTreeSet<(String, u64)> =
            bundle::user_entries(conn, epoch)?.into_iter().collect();
        let first_difference = expected
            .symmetric_difference(&stored)
            .map(|(_, index)| *index)
            .min();
        Ok(match first_difference {
            None => Ok(()),
            Some(index) => Err(Bad::at(
                index,
                format!("the access log's index entry of record {index} differs from the records"),
            )),
        })
    }
}

/// The state of an online verification.
struct OnlineWalk<'v> {
    /// The keys in the order they signed, the current one last.
    keys: &'v [CheckpointKey],
    /// Position in `keys` of the key of the last checkpoint that verified.
    signed_with: usize,
    range: CompactRange,
    checkpoints_verified: u64,
    /// Size of the last checkpoint that verified: records below it are proven.
    proven: u64,
    /// Hash tiles of levels 1 and up, the one in use per level: `level -> (index, hashes)`.
    upper_tiles: HashMap<u32, (u64, Vec<Hash>)>,
    /// The access log's index, checked epoch by epoch.
    users: UserIndex,
}

impl<'v> OnlineWalk<'v> {
    fn new(keys: &'v [CheckpointKey]) -> Self {
        Self {
            keys,
            signed_with: 0,
            range: CompactRange::new(),
            checkpoints_verified: 0,
            proven: 0,
            upper_tiles: HashMap::new(),
            users: UserIndex::default(),
        }
    }

    fn run(
        mut self,
        conn: &mut DbConnection,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, DbError> {
        let outcome = self.walk(conn, progress)?;
        let (first_bad_index, problem) = match outcome {
            Ok(()) => (None, None),
            Err(bad) => (Some(bad.index), Some(bad.problem)),
        };
        Ok(VerifyReport {
            ok: problem.is_none(),
            size: self.range.size(),
            root: self.range.root(),
            checkpoints_verified: self.checkpoints_verified,
            first_bad_index,
            problem,
        })
    }

    fn walk(
        &mut self,
        conn: &mut DbConnection,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Result<(), Bad>, DbError> {
        let head = super::read_head(conn, false)?;
        let head_root: Vec<u8> = audit_tree_head::table
            .filter(audit_tree_head::id.eq(1))
            .select(audit_tree_head::root)
            .first(conn)?;
        let mut checkpoints = load_checkpoints(conn)?.into_iter().peekable();
        // INVARIANT: `checkpoints` only holds sizes above `self.range.size()`.
        while let Some(checkpoint) = checkpoints.next_if(|c| c.size == 0) {
            if let Err(bad) = self.check_checkpoint(&checkpoint) {
                return Ok(Err(bad));
            }
        }
        loop {
            let next = self.range.size();
            let rows = bundle::rows_from(conn, next, VERIFY_BUNDLES)?;
            let Some(end) = rows.last().map(BundleRow::end).transpose()? else {
                break;
            };
            let leaf_tiles = load_leaf_tiles(conn, next, end.saturating_sub(1))?;
            for row in rows {
                let first = row.first()?;
                let index = self.range.size();
                if first > index {
                    return Ok(Err(Bad::at(index, format!("record {index} is missing"))));
                }
                if first < index {
                    return Ok(Err(Bad::at(
                        first,
                        format!("records from {first} are stored twice"),
                    )));
                }
                let stored = match row.decode() {
                    Ok(stored) => stored,
                    Err(e) => {
                        return Ok(Err(Bad::at(
                            first,
                            format!("the bundle of records from {first} is unreadable: {e}"),
                        )));
                    }
                };
                let lines = stored.held();
                if lines != stored.count {
                    let at = first + lines.min(stored.count);
                    return Ok(Err(Bad::at(
                        at,
                        format!(
                            "the bundle of records from {first} counts {} records but holds {lines}",
                            stored.count
                        ),
                    )));
                }
                let mut seen = Seen::default();
                for (index, line) in stored.lines() {
                    if let Err(bad) =
                        self.check_record(conn, line, index, head.size(), &leaf_tiles, &mut seen)?
                    {
                        return Ok(Err(bad));
                    }
                    while let Some(checkpoint) = checkpoints.next_if(|c| c.size == index + 1) {
                        if let Err(bad) = self.check_checkpoint(&checkpoint) {
                            return Ok(Err(bad));
                        }
                    }
                }
                if let Err(bad) = seen.matches(&stored) {
                    return Ok(Err(bad));
                }
            }
            progress(self.range.size(), head.size());
        }
        if let Err(bad) = self.users.finish(conn)? {
            return Ok(Err(bad));
        }
        let stray = bundle::user_entries_after(conn, self.users.last_epoch)?;
        if stray > 0 {
            let stored = self.range.size();
            return Ok(Err(Bad::at(
                stored,
                format!("the access log's index lists {stray} records beyond the log's {stored}"),
            )));
        }
        let stored = self.range.size();
        if let Some(checkpoint) = checkpoints.next() {
            return Ok(Err(Bad::at(
                stored,
                format!(
                    "the checkpoint at size {} covers records that are not stored: the log has {stored} records",
                    checkpoint.size
                ),
            )));
        }
        if head.size() != stored {
            return Ok(Err(Bad::at(
                stored,
                format!(
                    "the tree head counts {} records but {stored} are stored",
                    head.size()
                ),
            )));
        }
        let root = self.range.root();
        if head.root() != root || head_root != root {
            return Ok(Err(Bad::at(
                self.proven,
                "the tree head's root differs from the root of the stored records".to_string(),
            )));
        }
        Ok(Ok(()))
    }

    /// Checks record `index` (a line of its bundle) and appends its leaf.
    fn check_record(
        &mut self,
        conn: &mut DbConnection,
        text: &[u8],
        index: u64,
        head_size: u64,
        leaf_tiles: &[(u64, Vec<Hash>)],
        seen: &mut Seen,
    ) -> Result<Result<(), Bad>, DbError> {
        if index >= head_size {
            return Ok(Err(Bad::at(
                index,
                format!("record {index} lies beyond the tree head of {head_size} records"),
            )));
        }
        let record = match check_leaf_text(text, index) {
            Ok(record) => record,
            Err(problem) => return Ok(Err(Bad::at(index, problem))),
        };
        let kind = record.get("kind").and_then(Value::as_str);
        let ts = record
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_micros);
        let (Some(kind), Some(ts)) = (kind.map(bundle::kind_bit_named), ts) else {
            return Ok(Err(Bad::at(
                index,
                format!("record {index} has no valid `kind` or `ts`"),
            )));
        };
        seen.add(kind, ts);
        let user = record.get("user_id").and_then(Value::as_str);
        if let Err(bad) = self.users.add(conn, user, index)? {
            return Ok(Err(bad));
        }
        let leaf = leaf_hash(text);
        let stored = leaf_tiles
            .iter()
            .find(|(tile, _)| *tile == index / TILE_WIDTH)
            .and_then(|(_, hashes)| hashes.get(usize::try_from(index % TILE_WIDTH).ok()?));
        match stored {
            Some(stored) if *stored == leaf => {}
            Some(_) => {
                return Ok(Err(Bad::at(
                    index,
                    format!("record {index} does not match its stored leaf hash"),
                )));
            }
            None => {
                return Ok(Err(Bad::at(
                    index,
                    format!("the leaf hash of record {index} is not stored"),
                )));
            }
        }
        let mut completed: Vec<(u32, u64, Hash)> = Vec::new();
        self.range.append(leaf, |level, node, hash| {
            if level > 0 && level.is_multiple_of(TILE_HEIGHT) {
                completed.push((level, node, *hash));
            }
        });
        for (level, node, hash) in completed {
            if !self.stored_node_matches(conn, level, node, &hash)? {
                let first = node << level;
                return Ok(Err(Bad::at(
                    first,
                    format!(
                        "the stored hash of the subtree of records {first}..{} differs from those records",
                        first + (1 << level)
                    ),
                )));
            }
        }
        Ok(Ok(()))
    }

    /// Whether the hash tile holding node `(level, node)` stores `hash` for it.
    fn stored_node_matches(
        &mut self,
        conn: &mut DbConnection,
        level: u32,
        node: u64,
        hash: &Hash,
    ) -> Result<bool, DbError> {
        let Some((tile_level, tile_index, offset)) = tile_slot(level, node) else {
            return Ok(true);
        };
        let (_, tile) = match self.upper_tiles.entry(tile_level) {
            Entry::Occupied(entry) => {
                let entry = entry.into_mut();
                if entry.0 != tile_index {
                    *entry = (tile_index, load_tile(conn, tile_level, tile_index)?);
                }
                entry
            }
            Entry::Vacant(entry) => {
                entry.insert((tile_index, load_tile(conn, tile_level, tile_index)?))
            }
        };
        Ok(tile.get(offset) == Some(hash))
    }

    /// Opens a checkpoint row's note with the verifier and compares it with the row and
    /// with the root recomputed at its size.
    fn check_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<(), Bad> {
        let size = checkpoint.size;
        let bad = |problem: String| Bad::at(self.proven, problem);
        let Some(current) = self.keys.last().map(|key| &key.verifier) else {
            return Err(bad("no audit key to verify checkpoints with".to_string()));
        };
        let (signed_with, opened) = self.open(&checkpoint.note, size).map_err(|problem| {
            bad(format!(
                "the checkpoint at size {size} does not verify: {problem}"
            ))
        })?;
        if opened.origin() != current.name() {
            return Err(bad(format!(
                "the checkpoint at size {size} is for the log `{}`, not `{}`",
                opened.origin(),
                current.name()
            )));
        }
        if opened.size() != size || opened.root().as_slice() != checkpoint.root.as_slice() {
            return Err(bad(format!(
                "the checkpoint stored at size {size} differs from its signed note (size {})",
                opened.size()
            )));
        }
        if *opened.root() != self.range.root() {
            return Err(bad(format!(
                "the records do not reproduce the signed root of the checkpoint at size {size}; the first record it does not prove is at index {}",
                self.proven
            )));
        }
        self.checkpoints_verified += 1;
        self.proven = size;
        self.signed_with = signed_with;
        Ok(())
    }

    /// Opens `note`, the checkpoint at `size`, with the key of the last checkpoint or a
    /// later one, within the size that key may sign: the key's position and the checkpoint.
    /// Otherwise why not: a retired key beyond its size, or after its successor, or the
    /// current key's reason.
    fn open(&self, note: &str, size: u64) -> Result<(usize, Checkpoint), String> {
        let mut beyond = None;
        let mut last_error = None;
        for (position, key) in self.keys.iter().enumerate().skip(self.signed_with) {
            match key.verifier.open(note) {
                Ok(opened) => match key.until_size {
                    Some(limit) if size > limit => {
                        beyond = Some(format!(
                            "it is signed by the retired key {:08x}, which signed up to size {limit} only",
                            key.verifier.key_id()
                        ));
                    }
                    _ => return Ok((position, opened)),
                },
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        if let Some(beyond) = beyond {
            return Err(beyond);
        }
        let mut earlier = self.keys.iter().take(self.signed_with);
        if let Some(retired) = earlier.find(|key| key.verifier.open(note).is_ok()) {
            return Err(format!(
                "it is signed by the retired key {:08x} after a checkpoint signed by a later key",
                retired.verifier.key_id()
            ));
        }
        Err(last_error.unwrap_or_else(|| "no audit key to verify it with".to_string()))
    }
}

/// Every checkpoint row, smallest first.
fn load_checkpoints(conn: &mut DbConnection) -> Result<Vec<StoredCheckpoint>, DbError> {
    let rows: Vec<(i64, Vec<u8>, String)> = audit_checkpoints::table
        .order(audit_checkpoints::size.asc())
        .select((
            audit_checkpoints::size,
            audit_checkpoints::root,
            audit_checkpoints::note,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(size, root, note)| {
            let size = u64::try_from(size)
                .map_err(|_| DbError::Corrupt("negative checkpoint size".to_string()))?;
            Ok(StoredCheckpoint { size, root, note })
        })
        .collect()
}

/// The level-0 hash tiles covering records `first..=last`.
fn load_leaf_tiles(
    conn: &mut DbConnection,
    first: u64,
    last: u64,
) -> Result<Vec<(u64, Vec<Hash>)>, DbError> {
    let first_tile = to_i64(first / TILE_WIDTH)?;
    let last_tile = to_i64(last / TILE_WIDTH)?;
    let rows: Vec<(i64, Vec<u8>)> = audit_tiles::table
        .filter(audit_tiles::level.eq(0))
        .filter(audit_tiles::idx.between(first_tile, last_tile))
        .select((audit_tiles::idx, audit_tiles::hashes))
        .load(conn)?;
    rows.into_iter()
        .map(|(index, blob)| Ok((u64::try_from(index).unwrap_or(u64::MAX), decode(&blob)?)))
        .collect()
}

/// Verifies an export against a checkpoint: every line canonical JCS carrying its line
/// number as `index`, the checkpoint's signature by `verifier`, at least as many lines as
/// the checkpoint's size, and the root of that many first lines equal to its root.
///
/// Lines past the checkpoint's size are checked for form only: no signature covers them.
/// `progress(lines)` is called as the count of lines checked passes each multiple of
/// [`OFFLINE_PROGRESS_EVERY`] (with the count reached, checked in batches of a few
/// megabytes), and once at the end with the number of lines read.
///
/// Lines are checked in parallel on every available core, with the one-pass
/// [`CanonicalChecker`](super::primitives::CanonicalChecker) instead of parsing them; a line
/// it refuses is judged by parsing and canonicalising it again, which words the problem. The
/// first bad index reported is the smallest.
///
/// A root that differs is reported at index 0 (unless a line fails its own checks): a root
/// commits to every leaf at once, so an export and one root cannot say which record
/// changed. An earlier export the auditor kept can: its records must be a prefix of the
/// new export, line for line, and the first line that differs is the change.
pub fn verify_offline(
    export: impl BufRead,
    checkpoint_note: &str,
    verifier: &NoteVerifier,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, OfflineError> {
    let failed =
        |size: u64, root: Hash, first_bad_index: Option<u64>, problem: String| VerifyReport {
            ok: false,
            size,
            root,
            checkpoints_verified: 0,
            first_bad_index,
            problem: Some(problem),
        };
    let checkpoint = match verifier.open(checkpoint_note) {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            return Ok(failed(
                0,
                EMPTY_ROOT,
                None,
                format!("the checkpoint does not verify: {e}"),
            ));
        }
    };
    let covered = checkpoint.size();
    let offline::Checked {
        builder,
        lines: read,
        bad,
    } = offline::check_export(export, covered, progress)?;
    if let Some(bad) = bad {
        return Ok(failed(
            builder.size(),
            builder.root(),
            Some(bad.index),
            bad.problem,
        ));
    }
    progress(read);
    if read < covered {
        return Ok(failed(
            builder.size(),
            builder.root(),
            Some(read),
            format!("the export has {read} records but the checkpoint covers {covered}"),
        ));
    }
    if builder.root() != *checkpoint.root() {
        return Ok(failed(
            builder.size(),
            builder.root(),
            Some(0),
            format!(
                "the first {covered} records do not reproduce the checkpoint's root; a root cannot tell which record changed (compare with an earlier export to find it)"
            ),
        ));
    }
    Ok(VerifyReport {
        ok: true,
        size: covered,
        root: builder.root(),
        checkpoints_verified: 1,
        first_bad_index: None,
        problem: None,
    })
}

/// Checks one leaf input: JSON, exactly its own canonical form, with `index` equal to its
/// position. Returns the parsed record.
fn check_leaf_text(text: &[u8], index: u64) -> Result<Value, String> {
    let record: Value = serde_json::from_slice(text)
        .map_err(|e| format!("record {index} is not a JSON text: {e}"))?;
    let canonical =
        canonicalize(&record).map_err(|e| format!("record {index} has no canonical form: {e}"))?;
    if canonical.as_bytes() != text {
        let hint = if text.ends_with(b"\r") {
            " (it ends with a carriage return: lines must end with `\\n` only)"
        } else {
            ""
        };
        return Err(format!(
            "record {index} is not in canonical (RFC 8785) form{hint}"
        ));
    }
    match record.get("index").and_then(Value::as_u64) {
        Some(found) if found == index => Ok(record),
        Some(found) => Err(format!("record {index} carries the index {found}")),
        None => Err(format!("record {index} has no `index` member")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::primitives::{Checkpoint, NoteSigner, RootBuilder};

    fn signer() -> NoteSigner {
        NoteSigner::new(
            "consentgate/unit",
            ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        )
        .unwrap()
    }

    fn export(n: u64) -> Vec<String> {
        (0..n)
            .map(|i| {
                canonicalize(&serde_json::json!({"index": i, "kind": "ingest", "detail": {}}))
                    .unwrap()
            })
            .collect()
    }

    fn checkpoint_of(lines: &[String], size: usize) -> String {
        let mut builder = RootBuilder::new();
        for line in &lines[..size] {
            builder.push_leaf_input(line.as_bytes());
        }
        signer().sign(&Checkpoint::new("consentgate/unit", size as u64, builder.root()).unwrap())
    }

    fn run(lines: &[String], note: &str) -> VerifyReport {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        verify_offline(text.as_bytes(), note, &signer().verifier(), &mut |_| {}).unwrap()
    }

    #[test]
    fn an_export_longer_than_its_checkpoint_verifies_its_covered_prefix() {
        let lines = export(10);
        let report = run(&lines, &checkpoint_of(&lines, 7));
        assert!(report.ok, "{report:?}");
        assert_eq!(report.size, 7);
        assert_eq!(report.checkpoints_verified, 1);
    }

    #[test]
    fn the_empty_export_verifies_against_a_checkpoint_of_size_zero() {
        let report = run(&[], &checkpoint_of(&[], 0));
        assert!(report.ok);
        assert_eq!(report.root, EMPTY_ROOT);
    }

    #[test]
    fn a_non_canonical_line_is_named() {
        let mut lines = export(5);
        let note = checkpoint_of(&lines, 5);
        lines[3] = lines[3].replace(":", ": ");
        let report = run(&lines, &note);
        assert_eq!(report.first_bad_index, Some(3));
        assert!(report.problem.unwrap().contains("canonical"));
    }

    #[test]
    fn a_line_with_another_index_is_named() {
        let mut lines = export(5);
        let note = checkpoint_of(&lines, 5);
        lines.swap(1, 2);
        assert_eq!(run(&lines, &note).first_bad_index, Some(1));
    }

    #[test]
    fn a_short_export_is_reported_at_its_length() {
        let lines = export(5);
        let note = checkpoint_of(&lines, 5);
        assert_eq!(run(&lines[..3], &note).first_bad_index, Some(3));
    }

    #[test]
    fn a_changed_canonical_line_is_a_root_mismatch_reported_at_zero() {
        let mut lines = export(5);
        let note = checkpoint_of(&lines, 5);
        lines[4] = lines[4].replace("ingest", "release");
        let report = run(&lines, &note);
        assert!(!report.ok);
        assert_eq!(report.first_bad_index, Some(0));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_fails_without_an_index() {
        let lines = export(3);
        let other = NoteSigner::new(
            "consentgate/unit",
            ed25519_dalek::SigningKey::from_bytes(&[8; 32]),
        )
        .unwrap();
        let note = other.sign(&Checkpoint::new("consentgate/unit", 3, [0; 32]).unwrap());
        let report = run(&lines, &note);
        assert!(!report.ok);
        assert_eq!(report.first_bad_index, None);
    }

    #[test]
    fn a_public_key_is_read_in_each_accepted_form() {
        let verifier = signer().verifier();
        let key = verifier.verifier_key();
        assert_eq!(parse_verifier(&format!("{key}\n"), None).unwrap(), verifier);
        let json = serde_json::json!({"key_name": "consentgate/unit", "verifier": key}).to_string();
        assert_eq!(parse_verifier(&json, None).unwrap(), verifier);
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let pem = verifier
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        assert_eq!(
            parse_verifier(&pem, Some("consentgate/unit")).unwrap(),
            verifier
        );
        assert!(matches!(
            parse_verifier(&pem, None),
            Err(PublicKeyError::NoName)
        ));
        assert!(matches!(
            parse_verifier("hello", None),
            Err(PublicKeyError::Unrecognised)
        ));
    }

    #[test]
    fn the_report_serializes_as_the_contract_shows_it() {
        let report = VerifyReport {
            ok: true,
            size: 2,
            root: [0; 32],
            checkpoints_verified: 1,
            first_bad_index: None,
            problem: None,
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({"ok": true, "size": 2, "root": STANDARD.encode([0; 32]), "checkpoints_verified": 1})
        );
    }

    /// A SQLite log of `records` ingest records appended by the real appender in
    /// transactions of 50, with a checkpoint every `every` records.
    fn stored_log(records: u64, every: u64) -> (tempfile::TempDir, DbConnection) {
        use crate::audit::{AuditRecord, Kind};
        crate::audit::test_log(records, 50, every, |n| {
            AuditRecord::new(Kind::Ingest, "bank:bank-a")
                .bank("bank-a")
                .detail(serde_json::json!({"n": n}))
        })
    }

    fn verify_stored(conn: &mut DbConnection) -> VerifyReport {
        verify_online(conn, &[current(7)], &mut |_, _| {}).unwrap()
    }

    #[test]
    fn a_stored_log_of_several_tiles_verifies_with_every_checkpoint() {
        let (_dir, mut conn) = stored_log(600, 100);
        let checkpoints: i64 = audit_checkpoints::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        let report = verify_stored(&mut conn);
        assert!(report.ok, "{report:?}");
        assert_eq!(report.size, 600);
        assert_eq!(report.checkpoints_verified, checkpoints as u64);
        assert_eq!(
            report.root,
            super::super::read_head(&mut conn, false).unwrap().root()
        );
    }

    #[test]
    fn a_changed_subtree_hash_is_found_at_the_subtree_s_first_record() {
        let (_dir, mut conn) = stored_log(600, 100);
        let tile = audit_tiles::table
            .filter(audit_tiles::level.eq(1))
            .filter(audit_tiles::idx.eq(0));
        let mut hashes: Vec<u8> = tile.select(audit_tiles::hashes).first(&mut conn).unwrap();
        hashes[40] ^= 1;
        diesel::update(tile)
            .set(audit_tiles::hashes.eq(hashes))
            .execute(&mut conn)
            .unwrap();
        let report = verify_stored(&mut conn);
        assert_eq!(report.first_bad_index, Some(256), "{report:?}");
    }

    /// Changes the row of the bundle starting at `first`.
    fn tamper_bundle(conn: &mut DbConnection, first: i64, change: &str) {
        let changed = diesel::sql_query(format!(
            "UPDATE audit_bundles SET {change} WHERE first_idx = {first}"
        ))
        .execute(conn)
        .unwrap();
        assert_eq!(changed, 1);
    }

    #[test]
    fn a_bundle_whose_time_range_or_kinds_differ_from_its_records_is_found_at_its_first_record() {
        // Bundles of 50 records: [0, 50), [50, 100), [100, 120).
        for change in [
            "ts_min = ts_min + 1",
            "ts_max = ts_max - 1",
            "kinds = kinds | 2",
            "kinds = 0",
        ] {
            let (_dir, mut conn) = stored_log(120, 100);
            assert!(verify_stored(&mut conn).ok);
            tamper_bundle(&mut conn, 50, change);
            let report = verify_stored(&mut conn);
            assert_eq!(report.first_bad_index, Some(50), "{change}: {report:?}");
        }
    }

    #[test]
    fn a_bundle_that_does_not_decode_or_miscounts_is_found() {
        let (_dir, mut conn) = stored_log(120, 100);
        tamper_bundle(&mut conn, 50, "records = X'00'");
        let report = verify_stored(&mut conn);
        assert_eq!(report.first_bad_index, Some(50), "{report:?}");
        assert!(report.problem.unwrap().contains("unreadable"));

        let (_dir, mut conn) = stored_log(120, 100);
        tamper_bundle(&mut conn, 50, "count = 49");
        let report = verify_stored(&mut conn);
        assert!(!report.ok);
        assert_eq!(report.first_bad_index, Some(99), "{report:?}");
    }

    /// Where verification of a [`stored_log`] of `size` records, checkpointed every `every`,
    /// first fails once an access-log entry for u-1 at `(epoch, idx)` is forged.
    fn first_bad_with_forged_entry(size: u64, every: u64, epoch: i64, idx: i64) -> Option<u64> {
        let (_dir, mut conn) = stored_log(size, every);
        diesel::sql_query(format!(
            "INSERT INTO audit_by_user (epoch, user_id, idx) VALUES ({epoch}, 'u-1', {idx})"
        ))
        .execute(&mut conn)
        .unwrap();
        verify_stored(&mut conn).first_bad_index
    }

    #[test]
    fn an_access_log_entry_the_records_do_not_have_is_found() {
        assert_eq!(first_bad_with_forged_entry(120, 100, 0, 77), Some(77));
        // An epoch that ends inside a bundle ([4050, 4100) here) is compared too.
        assert_eq!(first_bad_with_forged_entry(4_200, 1_000, 0, 77), Some(77));
        // An entry beyond the log.
        assert_eq!(first_bad_with_forged_entry(120, 100, 5, 20_480), Some(120));
    }

    #[test]
    fn a_tree_head_with_another_root_is_found_after_the_last_good_checkpoint() {
        let (_dir, mut conn) = stored_log(130, 100);
        let mut peaks: Vec<u8> = audit_tree_head::table
            .select(audit_tree_head::peaks)
            .first(&mut conn)
            .unwrap();
        peaks[0] ^= 1;
        diesel::update(audit_tree_head::table)
            .set(audit_tree_head::peaks.eq(peaks))
            .execute(&mut conn)
            .unwrap();
        // The first transaction is signed (no checkpoint yet), then every 100 records.
        let latest: i64 = audit_checkpoints::table
            .select(diesel::dsl::max(audit_checkpoints::size))
            .first::<Option<i64>>(&mut conn)
            .unwrap()
            .unwrap();
        assert_eq!(latest, 50);
        let report = verify_stored(&mut conn);
        assert!(!report.ok);
        assert_eq!(report.first_bad_index, Some(50), "{report:?}");
    }

    fn verifier_of(seed: u8) -> NoteVerifier {
        NoteSigner::new(
            "consentgate/unit",
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
        .verifier()
    }

    /// The key of `seed` as the current key.
    fn current(seed: u8) -> CheckpointKey {
        CheckpointKey {
            verifier: verifier_of(seed),
            until_size: None,
        }
    }

    /// The key of `seed`, retired after signing up to `until_size`.
    fn retired(seed: u8, until_size: u64) -> CheckpointKey {
        CheckpointKey {
            verifier: verifier_of(seed),
            until_size: Some(until_size),
        }
    }

    /// Appends records `from..to` to the log of `conn` in transactions of 50, each ending
    /// with a checkpoint signed by the key of `seed` ([`stored_log`] signs with seed 7).
    fn append_signed(conn: &mut DbConnection, from: u64, to: u64, seed: u8) {
        use crate::audit::{Appender, AuditRecord, CheckpointSigner, Kind};
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let signer = CheckpointSigner::new("consentgate/unit", key, 50).unwrap();
        for start in (from..to).step_by(50) {
            conn.transaction(|conn| {
                let mut appender = Appender::default();
                for n in start..(start + 50).min(to) {
                    let record = AuditRecord::new(Kind::Ingest, "bank:bank-a")
                        .bank("bank-a")
                        .detail(serde_json::json!({"n": n}));
                    appender.append(conn, record)?;
                }
                appender.finish(conn, &signer).map(|_| ())
            })
            .unwrap();
        }
    }

    fn problem_with(conn: &mut DbConnection, keys: &[CheckpointKey]) -> (Option<u64>, String) {
        let report = verify_online(conn, keys, &mut |_, _| {}).unwrap();
        (report.first_bad_index, report.problem.unwrap_or_default())
    }

    #[test]
    fn checkpoints_signed_before_a_key_rotation_verify_with_the_retired_key_up_to_its_size() {
        // Key 7 signs every 50 records up to 200, key 9 from there to 400.
        let (_dir, mut conn) = stored_log(200, 50);
        append_signed(&mut conn, 200, 400, 9);
        let checkpoints: i64 = audit_checkpoints::table
            .count()
            .get_result(&mut conn)
            .unwrap();

        let report =
            verify_online(&mut conn, &[retired(7, 200), current(9)], &mut |_, _| {}).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.size, 400);
        assert_eq!(report.checkpoints_verified, checkpoints as u64);

        // Without the retired key, the first old checkpoint does not verify.
        let (bad, problem) = problem_with(&mut conn, &[current(9)]);
        assert_eq!(bad, Some(0), "{problem}");
        assert!(problem.contains("does not verify"), "{problem}");

        // A retired key is trusted up to its size only.
        let (bad, problem) = problem_with(&mut conn, &[retired(7, 150), current(9)]);
        assert_eq!(bad, Some(150), "{problem}");
        assert!(problem.contains("signed up to size 150 only"), "{problem}");
    }

    #[test]
    fn a_retired_key_that_signs_again_is_found() {
        // Key 7 until 100, then key 9, then key 7 again (someone who kept the retired key).
        let (_dir, mut conn) = stored_log(100, 50);
        append_signed(&mut conn, 100, 200, 9);
        append_signed(&mut conn, 200, 300, 7);
        let id = format!("{:08x}", verifier_of(7).key_id());

        // After its successor had signed: found whether its bound is right or too wide.
        for until_size in [100, 300] {
            let (bad, problem) = problem_with(&mut conn, &[retired(7, until_size), current(9)]);
            assert_eq!(bad, Some(200), "{problem}");
            assert!(
                problem.contains(&id) && problem.contains("after a checkpoint"),
                "{problem}"
            );
        }

        // Its signature beyond its size counts for nothing, even with every checkpoint of
        // its successor deleted.
        diesel::delete(audit_checkpoints::table.filter(audit_checkpoints::size.gt(100)))
            .execute(&mut conn)
            .unwrap();
        append_signed(&mut conn, 300, 350, 7);
        let (bad, problem) = problem_with(&mut conn, &[retired(7, 100), current(9)]);
        assert_eq!(bad, Some(100), "{problem}");
        assert!(
            problem.contains(&id) && problem.contains("signed up to size 100 only"),
            "{problem}"
        );
    }

    #[test]
    fn the_signer_orders_the_retired_keys_of_its_configuration_by_size() {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let dir = tempfile::tempdir().unwrap();
        let pem = |seed: u8| {
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .unwrap()
        };
        std::fs::write(dir.path().join("2024.pub"), pem(5)).unwrap();
        std::fs::write(dir.path().join("2025.pub"), pem(7)).unwrap();
        let current_key = crate::pki::Ed25519Key::generate();
        std::fs::write(
            dir.path().join("audit.key"),
            current_key.to_pkcs8_pem().unwrap(),
        )
        .unwrap();
        let retired_key = |name: &str, until_size| crate::config::RetiredKey {
            public_key: dir.path().join(name),
            until_size,
        };
        // Listed newest first: the signer puts them in the order they signed.
        let mut config = crate::config::AuditConfig {
            signing_key: dir.path().join("audit.key"),
            origin: "consentgate/unit".to_string(),
            checkpoint_every: 50,
            retired_keys: vec![retired_key("2025.pub", 900), retired_key("2024.pub", 400)],
        };
        let signer = crate::audit::CheckpointSigner::load(&config).unwrap();
        let keys = signer.checkpoint_keys();
        assert_eq!(keys[..2], [retired(5, 400), retired(7, 900)]);
        assert_eq!(keys[2].verifier, signer.verifier());
        assert_eq!(keys[2].until_size, None);
        assert_eq!(
            keys[2].verifier.verifying_key(),
            &current_key.verifying_key()
        );

        std::fs::write(dir.path().join("bad.pub"), "not a key").unwrap();
        config.retired_keys.push(retired_key("bad.pub", 1000));
        let err = crate::audit::CheckpointSigner::load(&config).err().unwrap();
        assert!(err.to_string().contains("bad.pub"), "{err}");
    }
}
