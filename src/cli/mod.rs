//! The command line (CONTRACT §2). Exit codes: 0 success, 1 the work failed, 2 bad usage
//! or bad configuration (the message names the key or file).

mod audit;
mod demo;
mod dev_pki;
mod migrate;
mod policy;
mod serve;
mod token;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use token::{DevKeyError, DevTokenSigner};

use crate::config::Config;

/// Folder of the embedded defaults: the development PKI, keys, configuration and database.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Configuration file looked for in the working folder when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "consentgate.toml";

#[derive(Parser)]
#[command(
    name = "consentgate",
    version,
    about = "Consent gateway between banks and a messaging platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults when there is no configuration).
    Serve(serve::Args),
    /// Apply pending database migrations and exit.
    Migrate(migrate::Args),
    /// Write a development CA, certificates, keys and a matching configuration.
    DevPki(dev_pki::Args),
    /// Mint a development JWT with the configured `auth.signing_key`.
    Token(token::Args),
    /// Work with policy sets.
    Policy {
        #[command(subcommand)]
        command: policy::Command,
    },
    /// Export and verify the audit log.
    Audit {
        #[command(subcommand)]
        command: audit::Command,
    },
    /// Run the whole flow on a temporary database with a built-in webhook receiver.
    Demo(demo::Args),
}

/// A command's failure and the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Exit 2: bad usage or configuration.
    Usage(String),
    /// Exit 1: the work failed.
    Work(String),
}

/// Parses the arguments, runs the command and maps its result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::DevPki(args) => dev_pki::run(args),
        Command::Token(args) => token::run(args),
        Command::Policy { command } => policy::run(command),
        Command::Audit { command } => audit::run(command),
        Command::Demo(args) => demo::run(args),
    };
    exit_code(result)
}

/// Runs the gateway on the configuration file `config` as `consentgate serve --config
/// CONFIG` does, and also stops it when standard input reaches its end. The load generator
/// (`consentgate-bench`) runs the gateway under test this way, as its child process: its
/// memory is measured apart, and it never outlives the load generator.
pub fn serve_as_child(config: &Path) -> ExitCode {
    init_logging();
    let result = resolve_config(Some(config), false)
        .and_then(|config| serve::serve(&config, serve::shutdown_signal_or_end_of_input()));
    exit_code(result)
}

fn exit_code(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Work(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// The configuration a command uses: `--config FILE`, else `./consentgate.toml`, else the
/// embedded defaults under `./data` (created when `create_defaults`).
fn resolve_config(explicit: Option<&Path>, create_defaults: bool) -> Result<Config, Failure> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => PathBuf::from(DEFAULT_CONFIG_FILE),
        None => default_config_path(create_defaults)?,
    };
    Config::load(&path).map_err(|e| Failure::Usage(e.to_string()))
}

fn default_config_path(create: bool) -> Result<PathBuf, Failure> {
    let dir = Path::new(DEFAULT_DATA_DIR);
    let path = dir.join(DEFAULT_CONFIG_FILE);
    if !path.exists() {
        if !create {
            return Err(Failure::Usage(format!(
                "no configuration: pass `--config FILE`, create `./{DEFAULT_CONFIG_FILE}`, or run `consentgate serve` once to create the development defaults"
            )));
        }
        let setup = crate::pki::write_dev_setup(dir, &[])
            .map_err(|e| Failure::Work(format!("cannot create the development defaults: {e}")))?;
        eprintln!(
            "created development PKI, keys and configuration in `{}` (banks: {})",
            dir.display(),
            setup
                .banks
                .iter()
                .map(|b| b.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(path)
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
