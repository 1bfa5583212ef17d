//! `consentgate policy check [DIR]`: loads a policy folder exactly as the gateway would
//! (parse, strict validation, catalog and prohibited-purpose checks) without starting it.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::policy::{PolicyDiagnostic, PolicyEngine, PolicyError};

/// `consentgate policy …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a policy folder: exit 0 with a summary, or 1 with every problem and where it is.
    Check(CheckArgs),
}

/// Arguments of `policy check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The policy folder: `catalog.toml`, one `*.cedarschema` and the `*.cedar` files.
    #[arg(default_value = "policies")]
    dir: PathBuf,
}

/// Runs a `policy` command.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Check(args) => check(&args.dir),
    }
}

/// Prints the summary, or each problem as `FILE:LINE:COLUMN: message` on stderr.
fn check(dir: &Path) -> Result<(), Failure> {
    if !dir.is_dir() {
        return Err(Failure::Usage(format!(
            "`{}` is not a policy folder",
            dir.display()
        )));
    }
    match PolicyEngine::load(Some(dir)) {
        Ok(engine) => {
            println!("ok: {}", engine.summary());
            Ok(())
        }
        Err(PolicyError::Invalid(problems)) => {
            for line in report(dir, &problems) {
                eprintln!("{line}");
            }
            Err(Failure::Work(format!(
                "the policy set in `{}` is invalid: {} problem{}",
                dir.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )))
        }
        Err(error @ PolicyError::Read { .. }) => Err(Failure::Work(error.to_string())),
    }
}

/// One line per problem, the file given with its folder so editors can jump to it.
fn report(dir: &Path, problems: &[PolicyDiagnostic]) -> Vec<String> {
    problems
        .iter()
        .map(|problem| {
            format!(
                "{}:{}:{}: {}",
                dir.join(&problem.file).display(),
                problem.line,
                problem.column,
                problem.message
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_bundled(dir: &Path) {
        let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for entry in std::fs::read_dir(bundled).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }

    #[test]
    fn the_bundled_folder_checks_ok() {
        let dir = tempfile::tempdir().unwrap();
        copy_bundled(dir.path());
        assert!(check(dir.path()).is_ok());
    }

    #[test]
    fn a_broken_folder_fails_the_check_with_exit_1() {
        let dir = tempfile::tempdir().unwrap();
        copy_bundled(dir.path());
        std::fs::write(dir.path().join("extra.cedar"), "permit (principal,);\n").unwrap();
        match check(dir.path()) {
            Err(Failure::Work(message)) => assert!(message.contains("is invalid"), "{message}"),
            other => panic!("expected a work failure, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_folder_is_bad_usage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            check(&dir.path().join("nope")),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn a_problem_is_reported_as_file_line_column_message() {
        let problem = PolicyDiagnostic {
            file: "release_table.cedar".to_string(),
            line: 12,
            column: 3,
            message: "unexpected token `)`".to_string(),
        };
        let dir = Path::new("policies");
        assert_eq!(
            report(dir, &[problem]),
            [format!(
                "{}:12:3: unexpected token `)`",
                dir.join("release_table.cedar").display()
            )]
        );
    }
}
