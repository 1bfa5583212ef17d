//! `consentgate migrate [--config FILE]`.

use std::path::PathBuf;

use super::{Failure, resolve_config};
use crate::db::{Target, migrate};

/// Arguments of `migrate`.
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: `./consentgate.toml`, else `./data/consentgate.toml`).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let config = resolve_config(args.config.as_deref(), false)?;
    let target =
        Target::parse(config.database.url.expose()).map_err(|e| Failure::Usage(e.to_string()))?;
    let applied = migrate(&target).map_err(|e| Failure::Work(e.to_string()))?;
    println!("applied {applied} migration(s)");
    Ok(())
}
