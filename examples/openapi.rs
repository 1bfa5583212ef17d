//! Writes the published API contract into `schema/`: the OpenAPI document and the JSON
//! Schemas, as `consentgate::openapi` builds them.
//!
//! Run `cargo run --example openapi` after changing an endpoint or a body shape, and commit
//! the result; `cargo test --test api schema` fails while the files are stale.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(consentgate::openapi::SCHEMA_DIR);
    match write_all(&dir) {
        Ok(written) => {
            for name in written {
                println!("wrote {}", dir.join(name).display());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(dir: &Path) -> Result<Vec<&'static str>, String> {
    let files = consentgate::openapi::files()
        .map_err(|e| format!("cannot render the schema files: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}
