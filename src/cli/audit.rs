//! `consentgate audit export` and `consentgate audit verify`: the audit log as NDJSON, and
//! its verification online (the database) or offline (an export and a kept checkpoint).

use std::io::{BufRead, BufReader, BufWriter, IsTerminal as _, Write as _};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::{Failure, resolve_config};
use crate::audit::{
    CheckpointSigner, VerifyReport, checkpoint_origin, parse_verifier, read_head, verify_offline,
    verify_online,
};
use crate::config::Config;
use crate::db::{Backend, DbConnection, Target};

/// Progress on a terminal: one `\r` update per this many records.
const TERMINAL_PROGRESS_EVERY: u64 = 100_000;
/// Progress when stderr is not a terminal (a log file): one line per this many records, so
/// small logs print nothing.
const LOG_PROGRESS_EVERY: u64 = 1_000_000;

/// `consentgate audit …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Write the audit log as NDJSON (one canonical JSON record per line) to stdout.
    Export(ExportArgs),
    /// Recompute the Merkle tree and check the signed checkpoints: exit 0 `ok`, or 1 with
    /// the first bad index.
    Verify(VerifyArgs),
}

/// Arguments of `audit export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Configuration file naming the database.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// First index written (inclusive; default 0).
    #[arg(long, value_name = "INDEX")]
    from: Option<u64>,
    /// Index to stop before (exclusive, like a range `from..to`; default: the tree size
    /// when the export starts).
    #[arg(long, value_name = "INDEX")]
    to: Option<u64>,
}

/// Arguments of `audit verify`: `--config`, or `--export` with `--checkpoint` and
/// `--public-key`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["config", "export"])))]
pub struct VerifyArgs {
    /// Verify the database of this configuration, with its audit key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["export", "checkpoint", "public_key"])]
    config: Option<PathBuf>,
    /// NDJSON export to verify (`-` for stdin), as `audit export` writes it from index 0.
    #[arg(long, value_name = "FILE", requires_all = ["checkpoint", "public_key"])]
    export: Option<PathBuf>,
    /// Signed checkpoint note kept by the auditor (`GET /v1/audit/checkpoint`).
    #[arg(long, value_name = "FILE", requires = "export")]
    checkpoint: Option<PathBuf>,
    /// The log's public key: note verifier key, Ed25519 PEM, or the JSON of
    /// `GET /v1/audit/public-key`.
    #[arg(long, value_name = "FILE", requires = "export")]
    public_key: Option<PathBuf>,
}

/// Runs an `audit` command.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Export(args) => export(&args),
        Command::Verify(args) => match (
            &args.config,
            &args.export,
            &args.checkpoint,
            &args.public_key,
        ) {
            (Some(config), _, _, _) => verify_database(config),
            (None, Some(export), Some(checkpoint), Some(public_key)) => {
                verify_export(export, checkpoint, public_key)
            }
            _ => Err(Failure::Usage(
                "pass `--config FILE`, or `--export FILE --checkpoint FILE --public-key FILE`"
                    .to_string(),
            )),
        },
    }
}

/// Streams records `[from, to)` in pages through one buffered writer.
fn export(args: &ExportArgs) -> Result<(), Failure> {
    let config = resolve_config(Some(&args.config), false)?;
    let mut conn = connect(&config)?;
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return Err(Failure::Usage(format!(
            "`--from {from}` is after `--to {to}`"
        )));
    }
    // Records below the head's size are committed and never change: reading the head first
    // gives a consistent prefix without holding a transaction open.
    let size = read_head(&mut conn, false)
        .map_err(|e| Failure::Work(e.to_string()))?
        .size();
    let end = args.to.map_or(size, |to| to.min(size));
    let from = args.from.unwrap_or(0);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut write_error = None;
    crate::audit::bundle::walk(&mut conn, from, end, Default::default(), |_, line| {
        let written = out.write_all(line).and_then(|()| out.write_all(b"\n"));
        Ok::<_, crate::db::DbError>(match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        })
    })
    .map_err(|e| Failure::Work(format!("cannot read the audit log: {e}")))?;
    if let Some(e) = write_error {
        return stdout_closed(e);
    }
    out.flush().or_else(stdout_closed)
}

/// A reader that stopped reading (`| head`) is not a failure of the export.
fn stdout_closed(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::Work(format!("cannot write the export: {e}")))
    }
}

/// `audit verify --config FILE`.
fn verify_database(config_path: &Path) -> Result<(), Failure> {
    let config = resolve_config(Some(config_path), false)?;
    let keys = CheckpointSigner::load(&config.audit)
        .map_err(|e| Failure::Usage(e.to_string()))?
        .checkpoint_keys();
    let mut conn = connect(&config)?;
    let mut display = Progress::new("verifying");
    let report = verify_online(&mut conn, &keys, &mut |done, total| {
        display.show(done, Some(total));
    })
    .map_err(|e| Failure::Work(e.to_string()))?;
    display.finish();
    if report.ok {
        println!(
            "ok: {} records, {} checkpoints verified, root {}",
            report.size,
            report.checkpoints_verified,
            report.root_base64()
        );
        Ok(())
    } else {
        failed(&report)
    }
}

/// `audit verify --export FILE --checkpoint FILE --public-key FILE`.
fn verify_export(export: &Path, checkpoint: &Path, public_key: &Path) -> Result<(), Failure> {
    // A note ends with exactly one newline; files saved by other tools often have one more
    // (or none). Only the signed text counts, so that difference is not worth failing on.
    let note = format!(
        "{}\n",
        read_text(checkpoint, "checkpoint")?.trim_end_matches('\n')
    );
    let key = read_text(public_key, "public key")?;
    let verifier = parse_verifier(&key, checkpoint_origin(&note))
        .map_err(|e| Failure::Usage(format!("`{}`: {e}", public_key.display())))?;
    let reader: Box<dyn BufRead> = if export == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(export).map_err(|e| {
            Failure::Usage(format!(
                "cannot open the export `{}`: {e}",
                export.display()
            ))
        })?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let mut display = Progress::new("reading the export");
    let mut lines = 0;
    let report = verify_offline(reader, &note, &verifier, &mut |read| {
        lines = read;
        display.show(read, None);
    })
    .map_err(|e| Failure::Work(e.to_string()))?;
    display.finish();
    if !report.ok {
        return failed(&report);
    }
    println!(
        "ok: {} records, 1 checkpoint verified ({} at size {}), root {}",
        report.size,
        checkpoint_origin(&note).unwrap_or_default(),
        report.size,
        report.root_base64()
    );
    if lines > report.size {
        println!(
            "note: the export has {lines} records; the {} from index {} on are not covered by this checkpoint",
            lines - report.size,
            report.size
        );
    }
    Ok(())
}

/// Prints the failed check on stdout and exits 1.
fn failed(report: &VerifyReport) -> Result<(), Failure> {
    let problem = report.problem.as_deref().unwrap_or("verification failed");
    match report.first_bad_index {
        Some(index) => println!("failed: first bad index {index}: {problem}"),
        None => println!("failed: {problem}"),
    }
    Err(Failure::Work("the audit log does not verify".to_string()))
}

/// A connection to the configured database, never creating a SQLite file that is not there.
fn connect(config: &Config) -> Result<DbConnection, Failure> {
    let url = config.database.url.expose();
    let target = Target::parse(url).map_err(|e| Failure::Usage(e.to_string()))?;
    if target.backend() == Backend::Sqlite {
        let path = url.trim_start_matches("sqlite://");
        if !Path::new(path).exists() {
            return Err(Failure::Usage(format!(
                "`database.url`: the SQLite file `{path}` does not exist"
            )));
        }
    }
    target.connect().map_err(|e| Failure::Work(e.to_string()))
}

fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the {what} `{}`: {e}", path.display())))
}

/// A progress line on stderr: rewritten in place on a terminal, a line per million records
/// otherwise (so small logs and tests print nothing).
struct Progress {
    label: &'static str,
    terminal: bool,
    next: u64,
    shown: bool,
}

impl Progress {
    fn new(label: &'static str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal {
            TERMINAL_PROGRESS_EVERY
        } else {
            LOG_PROGRESS_EVERY
        };
        Self {
            label,
            terminal,
            next: every,
            shown: false,
        }
    }

    fn show(&mut self, done: u64, total: Option<u64>) {
        if done < self.next {
            return;
        }
        let every = if self.terminal {
            TERMINAL_PROGRESS_EVERY
        } else {
            LOG_PROGRESS_EVERY
        };
        self.next = (done / every + 1) * every;
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        if self.terminal {
            eprint!("\r{}: {done}{of} records", self.label);
            self.shown = true;
        } else {
            eprintln!("{}: {done}{of} records", self.label);
        }
    }

    fn finish(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}
