//! `consentgate dev-pki --out DIR [--bank ID]...`.

use std::path::PathBuf;

use super::Failure;
use crate::pki::{PkiError, write_dev_setup};

/// Arguments of `dev-pki`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// A bank to issue a client certificate for (repeatable; default `bank-a`).
    #[arg(long = "bank")]
    banks: Vec<String>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let setup = write_dev_setup(&args.out, &args.banks).map_err(|e| match e {
        PkiError::AlreadyExists(_) | PkiError::InvalidBankId(_) | PkiError::DuplicateBankId(_) => {
            Failure::Usage(e.to_string())
        }
        other => Failure::Work(other.to_string()),
    })?;
    println!(
        "wrote a development PKI and configuration to `{}`",
        args.out.display()
    );
    for bank in &setup.banks {
        println!("  bank `{}`: certificate pin {}", bank.id, bank.spki_sha256);
    }
    println!(
        "run it with: consentgate serve --config {}",
        args.out.join("consentgate.toml").display()
    );
    Ok(())
}
