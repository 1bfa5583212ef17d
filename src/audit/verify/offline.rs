//! Reading an NDJSON export and checking its lines on every core, for [`super::verify_offline`].
//!
//! The export is read in batches of about [`BATCH`] bytes cut after a newline. Each batch is
//! split into parts of whole lines that worker threads take in turn; a worker checks each
//! line with [`CanonicalChecker::check_prefix`] (one pass, no value built) and hashes it. A worker
//! cannot know the index of its first line (earlier parts are counted meanwhile), so it
//! checks that its lines carry consecutive indexes from the first one's, and this thread
//! then confirms each part's first index in order. A part that does not confirm is walked
//! again here line by line, and a line refused there gets the reference check of
//! [`super::check_leaf_text`], which words the problem; so the first bad index is still the
//! smallest one, named as before.
//!
//! Meanwhile this thread reads the next batch and folds the previous batch's leaf hashes
//! into the tree, in order. When the reader already holds a large buffer (an export in
//! memory), batches are checked where they lie, without copying.

use std::io::{BufRead, ErrorKind};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Bad, OFFLINE_PROGRESS_EVERY, OfflineError, check_leaf_text};
use crate::audit::primitives::{CanonicalChecker, Hash, RootBuilder, check_canonical, leaf_hash};

/// Bytes read per batch (more when a line is longer).
const BATCH: usize = 8 << 20;

/// Parts per worker thread: small enough that a thread slowed down by other work on the
/// machine does not hold the batch back for long.
const PARTS_PER_THREAD: usize = 4;

/// What checking an export found.
pub(super) struct Checked {
    /// The root of the covered lines read (all of them, up to the first bad one).
    pub(super) builder: RootBuilder,
    /// Lines that passed their checks.
    pub(super) lines: u64,
    /// The first line that did not.
    pub(super) bad: Option<Bad>,
}

/// Checks every line of `export` and hashes the first `covered` ones into a root, stopping
/// at the first bad line. `progress(lines)` is called when a batch takes the count of
/// lines checked past a multiple of [`OFFLINE_PROGRESS_EVERY`].
pub(super) fn check_export(
    export: impl BufRead,
    covered: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Checked, OfflineError> {
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    check_export_in(export, covered, progress, BATCH, threads)
}

/// [`check_export`] with batches of `batch` bytes on `threads` worker threads.
fn check_export_in(
    mut export: impl BufRead,
    covered: u64,
    progress: &mut dyn FnMut(u64),
    batch: usize,
    threads: usize,
) -> Result<Checked, OfflineError> {
    let mut walk = Walk {
        covered,
        batch: batch.max(1),
        threads: threads.max(1),
        builder: RootBuilder::new(),
        lines: 0,
        pending: Vec::new(),
        next_progress: OFFLINE_PROGRESS_EVERY,
    };
    let outcome = walk.read(&mut export, progress);
    walk.fold();
    let bad = match outcome {
        Ok(()) => None,
        Err(Stopped::Bad(bad)) => Some(bad),
        Err(Stopped::Read(source)) => {
            return Err(OfflineError::Read {
                line: walk.lines,
                source,
            });
        }
    };
    Ok(Checked {
        builder: walk.builder,
        lines: walk.lines,
        bad,
    })
}

/// Why reading stopped before the end.
enum Stopped {
    /// A line failed its checks.
    Bad(Bad),
    /// The export could not be read.
    Read(std::io::Error),
}

/// The state of one check of an export.
struct Walk {
    covered: u64,
    /// Bytes read per batch ([`BATCH`] but in tests).
    batch: usize,
    threads: usize,
    builder: RootBuilder,
    /// Lines confirmed so far: the index of the next line.
    lines: u64,
    /// Confirmed leaf hashes, in order, not yet in `builder`.
    pending: Vec<Vec<Hash>>,
    next_progress: u64,
}

/// Bytes read from the export and not yet checked, at the start of a reusable buffer.
#[derive(Default)]
struct Block {
    bytes: Vec<u8>,
    filled: usize,
}

impl Block {
    fn filled(&self) -> &[u8] {
        self.bytes.get(..self.filled).unwrap_or_default()
    }

    /// Reads until at least `want` bytes are held or the export ends; returns whether it
    /// ended.
    fn fill(&mut self, export: &mut impl BufRead, want: usize) -> std::io::Result<bool> {
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        while self.filled < want {
            let Some(space) = self.bytes.get_mut(self.filled..) else {
                break;
            };
            match export.read(space) {
                Ok(0) => return Ok(true),
                Ok(read) => self.filled += read,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Replaces the content with `bytes`.
    fn set(&mut self, bytes: &[u8]) {
        if self.bytes.len() < bytes.len() {
            self.bytes.resize(bytes.len(), 0);
        }
        if let Some(start) = self.bytes.get_mut(..bytes.len()) {
            start.copy_from_slice(bytes);
        }
        self.filled = bytes.len();
    }
}

/// Whether more of the export can be read.
enum Source {
    Open,
    Ended,
    Failed(std::io::Error),
}

impl Walk {
    /// Reads and checks the whole export.
    fn read(
        &mut self,
        export: &mut impl BufRead,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Stopped> {
        // `current` holds what was read and not checked, `next` receives the next batch.
        let mut current = Block::default();
        let mut next = Block::default();
        let mut source = Source::Open;
        loop {
            if current.filled == 0 && matches!(source, Source::Open) && self.in_place(export)? {
                self.report(progress);
                continue;
            }
            if matches!(source, Source::Open) && current.filled < self.batch {
                source = match current.fill(export, self.batch) {
                    Ok(false) => Source::Open,
                    Ok(true) => Source::Ended,
                    Err(e) => Source::Failed(e),
                };
            }
            let held = current.filled();
            let last_newline = held.iter().rposition(|b| *b == b'\n');
            let cut = match (&source, last_newline) {
                // The final line needs no newline.
                (Source::Ended, _) => held.len(),
                (_, Some(at)) => at + 1,
                // A line longer than the block: read on.
                (Source::Open, None) => {
                    let want = current.filled.saturating_mul(2);
                    source = match current.fill(export, want) {
                        Ok(false) => Source::Open,
                        Ok(true) => Source::Ended,
                        Err(e) => Source::Failed(e),
                    };
                    continue;
                }
                (Source::Failed(_), None) => 0,
            };
            let (batch, rest) = held.split_at_checked(cut).unwrap_or((held, &[]));
            if batch.is_empty() {
                break;
            }
            next.set(rest);
            let read_next = matches!(source, Source::Open);
            let batch_size = self.batch;
            let (read, checked) = self.check_batch(batch, || {
                if read_next {
                    next.fill(export, batch_size)
                } else {
                    Ok(false)
                }
            });
            checked.map_err(Stopped::Bad)?;
            self.report(progress);
            if read_next {
                source = match read {
                    Ok(false) => Source::Open,
                    Ok(true) => Source::Ended,
                    Err(e) => Source::Failed(e),
                };
            }
            std::mem::swap(&mut current, &mut next);
        }
        match source {
            Source::Failed(e) => Err(Stopped::Read(e)),
            Source::Open | Source::Ended => Ok(()),
        }
    }

    /// Checks the complete lines of a large buffer the reader already holds, without copying
    /// them. Returns whether there was one.
    fn in_place(&mut self, export: &mut impl BufRead) -> Result<bool, Stopped> {
        let held = loop {
            match export.fill_buf() {
                Ok(held) => break held,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Stopped::Read(e)),
            }
        };
        if held.len() < self.batch {
            return Ok(false);
        }
        let window = held.get(..self.batch).unwrap_or(held);
        let Some(last_newline) = window.iter().rposition(|b| *b == b'\n') else {
            return Ok(false);
        };
        let batch = window.get(..=last_newline).unwrap_or(window);
        let length = batch.len();
        let ((), checked) = self.check_batch(batch, || ());
        checked.map_err(Stopped::Bad)?;
        export.consume(length);
        Ok(true)
    }

    /// Checks `batch` (whole lines) on the worker threads while this one runs `meanwhile`
    /// and folds the previous batch's hashes, then takes parts too.
    fn check_batch<R>(
        &mut self,
        batch: &[u8],
        meanwhile: impl FnOnce() -> R,
    ) -> (R, Result<(), Bad>) {
        let parts = split_lines(batch, self.threads * PARTS_PER_THREAD);
        let taken = AtomicUsize::new(0);
        let covered = self.covered;
        let work = || {
            let mut done = Vec::new();
            loop {
                let part = taken.fetch_add(1, Ordering::Relaxed);
                let Some(lines) = parts.get(part) else {
                    return done;
                };
                done.push((part, check_part(lines, covered)));
            }
        };
        let (result, mut checks) = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..self.threads.min(parts.len()))
                .map(|_| scope.spawn(work))
                .collect();
            let result = meanwhile();
            self.fold();
            // Then help, rather than wait: the parts go to whichever thread is free.
            let mut checks = work();
            for worker in workers {
                match worker.join() {
                    Ok(done) => checks.extend(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            (result, checks)
        });
        checks.sort_unstable_by_key(|(part, _)| *part);
        let mut confirmed = Ok(());
        for (lines, (_, check)) in parts.iter().zip(checks) {
            confirmed = self.confirm(lines, check);
            if confirmed.is_err() {
                self.fold();
                break;
            }
        }
        (result, confirmed)
    }

    /// Takes a worker's check of `lines` when its first index is the one expected here, and
    /// walks the part again from the first line it could not confirm.
    fn confirm(&mut self, lines: &[u8], check: PartCheck) -> Result<(), Bad> {
        let PartCheck {
            first_index,
            lines: passed,
            hashes,
            complete,
        } = check;
        let skip = if first_index == Some(self.lines) {
            self.pending.push(hashes);
            self.lines += passed;
            if complete {
                return Ok(());
            }
            passed
        } else {
            0
        };
        let mut hashes = Vec::new();
        let outcome = self.walk_lines(lines, skip, &mut hashes);
        self.pending.push(hashes);
        outcome
    }

    /// Checks the lines of `part` after the first `skip`, one by one with the exact index
    /// each should carry.
    fn walk_lines(&mut self, part: &[u8], skip: u64, hashes: &mut Vec<Hash>) -> Result<(), Bad> {
        if part.is_empty() {
            return Ok(());
        }
        let body = part.strip_suffix(b"\n").unwrap_or(part);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        for text in body.split(|b| *b == b'\n').skip(skip) {
            let index = self.lines;
            let fast = matches!(check_canonical(text), Ok(Some(found)) if found == index);
            if !fast {
                // CAUTION: the reference decides; the fast check only ever saves its work.
                check_leaf_text(text, index).map_err(|problem| Bad::at(index, problem))?;
            }
            if index < self.covered {
                hashes.push(leaf_hash(text));
            }
            self.lines += 1;
        }
        Ok(())
    }

    /// Moves the pending leaf hashes into the tree.
    fn fold(&mut self) {
        for hashes in self.pending.drain(..) {
            for hash in hashes {
                self.builder.push_leaf_hash(hash);
            }
        }
    }

    fn report(&mut self, progress: &mut dyn FnMut(u64)) {
        if self.lines >= self.next_progress {
            progress(self.lines);
            self.next_progress = (self.lines / OFFLINE_PROGRESS_EVERY + 1) * OFFLINE_PROGRESS_EVERY;
        }
    }
}

/// A worker's check of one part.
struct PartCheck {
    /// The `index` of the part's first line, if it passed.
    first_index: Option<u64>,
    /// Lines that passed, from the first: canonical, each carrying the index after the
    /// previous one's.
    lines: u64,
    /// Leaf hashes of the lines that passed and whose index is below the checkpoint's size.
    hashes: Vec<Hash>,
    /// Whether every line passed.
    complete: bool,
}

/// Checks the lines of `part` until one fails: canonical, and carrying consecutive indexes
/// from the first line's.
fn check_part(part: &[u8], covered: u64) -> PartCheck {
    let mut check = PartCheck {
        first_index: None,
        lines: 0,
        hashes: Vec::with_capacity(part.len() / 256),
        complete: false,
    };
    let mut checker = CanonicalChecker::new();
    let mut rest = part;
    while !rest.is_empty() {
        let Ok((end, Some(index))) = checker.check_prefix(rest) else {
            return check;
        };
        let Some((text, after)) = rest.split_at_checked(end) else {
            return check;
        };
        rest = match after.split_first() {
            Some((b'\n', after)) => after,
            // The final line of the export may end without a newline.
            None => after,
            Some(_) => return check,
        };
        let first = *check.first_index.get_or_insert(index);
        if index != first + check.lines {
            return check;
        }
        if index < covered {
            check.hashes.push(leaf_hash(text));
        }
        check.lines += 1;
    }
    check.complete = true;
    check
}

/// Cuts `batch` into about `parts` pieces of whole lines.
fn split_lines(batch: &[u8], parts: usize) -> Vec<&[u8]> {
    let target = batch.len().div_ceil(parts.max(1)).max(1);
    let mut pieces = Vec::with_capacity(parts + 1);
    let mut rest = batch;
    while !rest.is_empty() {
        let cut = rest
            .get(target - 1..)
            .and_then(|tail| tail.iter().position(|b| *b == b'\n'))
            .map_or(rest.len(), |at| target + at);
        let (piece, tail) = rest.split_at_checked(cut).unwrap_or((rest, &[]));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;
    use crate::audit::primitives::canonicalize;

    /// What verification did before batches and threads: one line at a time.
    fn one_by_one(export: &[u8], covered: u64) -> (u64, u64, Hash, Option<(u64, String)>) {
        let mut builder = RootBuilder::new();
        let mut read = 0;
        for line in export.split_inclusive(|b| *b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if let Err(problem) = check_leaf_text(text, read) {
                return (read, builder.size(), builder.root(), Some((read, problem)));
            }
            if read < covered {
                builder.push_leaf_input(text);
            }
            read += 1;
        }
        (read, builder.size(), builder.root(), None)
    }

    fn summary(checked: Checked) -> (u64, u64, Hash, Option<(u64, String)>) {
        (
            checked.lines,
            checked.builder.size(),
            checked.builder.root(),
            checked.bad.map(|bad| (bad.index, bad.problem)),
        )
    }

    /// A reader that hands out at most `most` bytes a call, then fails at `fail_at` if set.
    struct Trickle<'a> {
        bytes: &'a [u8],
        most: usize,
        fail_at: Option<usize>,
        at: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let end = self.bytes.len().min(self.fail_at.unwrap_or(usize::MAX));
            if self.at == end && self.fail_at.is_some() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.most).min(end - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn record(rng: &mut Rng, index: i64) -> String {
        let text: String = (0..rng.below(40))
            .map(|_| ['a', 'é', '"', '\n', '😀', 'z'][rng.below(6) as usize])
            .collect();
        canonicalize(
            &serde_json::json!({"index": index, "kind": "ingest", "detail": {"text": text}}),
        )
        .unwrap()
    }

    /// An export of `n` records with now and then a defect of the kinds verification must
    /// name at their line.
    fn export(rng: &mut Rng, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut index = 0i64;
        // Defects for about one line in 20, in 800, or none at all.
        let odds = [180, 7200, u64::MAX][rng.below(3) as usize];
        for _ in 0..n {
            let mut line = record(rng, index).into_bytes();
            match rng.below(odds) {
                0 => line = record(rng, index + 1).into_bytes(),
                1 => line.clear(),
                2 => line.push(b'\r'),
                3 => line.insert(1, b' '),
                4 => line.push(b'x'),
                5 => {
                    let at = rng.below(line.len() as u64) as usize;
                    line[at] = 0xff;
                }
                6 => line = record(rng, -1).into_bytes(),
                7 => index += 1, // a record deleted before this one
                8 => line = b"[]".to_vec(),
                _ => {}
            }
            index += 1;
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        if rng.below(4) == 0 {
            out.pop();
        }
        out
    }

    #[test]
    fn batches_on_threads_find_what_one_line_at_a_time_finds() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut clean, mut late) = (0, 0);
        for round in 0..250 {
            let n = rng.below(300);
            let export = export(&mut rng, n);
            let covered = rng.below(n + 3);
            // Tiny batches spawn threads for every line or two: now and then is enough.
            let batch = [2, 300, 300, 1000, 4096, 4096, 1 << 20][rng.below(7) as usize];
            let threads = 1 + rng.below(4) as usize;
            let want = one_by_one(&export, covered);
            match want.3 {
                None => clean += 1,
                Some((index, _)) if index > 50 => late += 1,
                Some(_) => {}
            }
            let in_memory =
                check_export_in(export.as_slice(), covered, &mut |_| {}, batch, threads);
            assert_eq!(
                summary(in_memory.unwrap()),
                want,
                "round {round}, batch {batch}"
            );
            let trickle = Trickle {
                bytes: &export,
                most: 1 + rng.below(5000) as usize,
                fail_at: None,
                at: 0,
            };
            let capacity = 1 + rng.below(2000) as usize;
            let read = check_export_in(
                BufReader::with_capacity(capacity, trickle),
                covered,
                &mut |_| {},
                batch,
                threads,
            );
            assert_eq!(summary(read.unwrap()), want, "round {round}, batch {batch}");
        }
        assert!(clean > 60 && late > 10, "{clean} clean, {late} bad late");
    }

    #[test]
    fn a_read_error_is_reported_at_its_line_unless_an_earlier_line_is_bad() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let n = 1 + rng.below(200);
            let export = export(&mut rng, n);
            let fail_at = rng.below(export.len() as u64 + 1) as usize;
            let complete = export[..fail_at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |at| at + 1);
            let before = one_by_one(&export[..complete], n);
            let trickle = Trickle {
                bytes: &export,
                most: 1 + rng.below(3000) as usize,
                fail_at: Some(fail_at),
                at: 0,
            };
            let batch = [1, 64, 4096][rng.below(3) as usize];
            let outcome = check_export_in(BufReader::new(trickle), n, &mut |_| {}, batch, 2);
            match (outcome, before) {
                (Ok(checked), before @ (_, _, _, Some(_))) => assert_eq!(summary(checked), before),
                (Err(OfflineError::Read { line, .. }), (lines, _, _, None)) => {
                    assert_eq!(line, lines)
                }
                (outcome, before) => panic!("{:?} against {before:?}", outcome.map(summary)),
            }
        }
    }

    #[test]
    fn a_line_longer_than_a_batch_is_read_whole() {
        let mut rng = Rng(7);
        let long =
            canonicalize(&serde_json::json!({"index": 1, "detail": "x".repeat(50_000)})).unwrap();
        let export = format!("{}\n{long}\n{}", record(&mut rng, 0), record(&mut rng, 2));
        let want = one_by_one(export.as_bytes(), 3);
        assert_eq!(want.3, None);
        for batch in [1, 100, 4096] {
            let checked = check_export_in(export.as_bytes(), 3, &mut |_| {}, batch, 2).unwrap();
            assert_eq!(summary(checked), want);
        }
    }

    #[test]
    fn progress_is_reported_as_each_multiple_is_passed() {
        let lines = OFFLINE_PROGRESS_EVERY * 2 + 5;
        let mut export = Vec::new();
        for index in 0..lines {
            export.extend_from_slice(format!("{{\"index\":{index}}}\n").as_bytes());
        }
        let mut seen = Vec::new();
        let checked =
            check_export_in(export.as_slice(), 0, &mut |n| seen.push(n), 1 << 16, 2).unwrap();
        assert_eq!(checked.lines, lines);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0] >= OFFLINE_PROGRESS_EVERY && seen[0] < 2 * OFFLINE_PROGRESS_EVERY);
        assert!(seen[1] >= 2 * OFFLINE_PROGRESS_EVERY);
    }

    #[test]
    fn split_lines_cuts_after_newlines_only() {
        let batch = b"aaaa\nbb\n\nccccccc\nd";
        for parts in 1..8 {
            let pieces = split_lines(batch, parts);
            assert_eq!(pieces.concat(), batch.to_vec());
            for piece in &pieces[..pieces.len() - 1] {
                assert!(piece.ends_with(b"\n"), "{parts}: {pieces:?}");
            }
            assert!(pieces.iter().all(|piece| !piece.is_empty()));
        }
    }
}
