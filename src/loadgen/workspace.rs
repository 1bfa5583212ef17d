//! The run's folder: a fresh development PKI, one gateway configuration and one database per
//! phase. Everything is removed at the end (unless kept), PostgreSQL databases included.

use std::path::{Path, PathBuf};

use diesel::RunQueryDsl as _;

use super::BenchError;
use super::args::DatabaseChoice;
use super::cleanup::{Leftover, Registered};
use crate::db::Target;
use crate::pki::{DevSetup, write_dev_setup};

/// The bank the load generator pushes as.
pub const BANK: &str = "bank-a";
/// The recipient consents are granted to.
pub const RECIPIENT: &str = "messenger";

/// The run's folder and its development PKI.
pub struct Workspace {
    dir: PathBuf,
    keep: bool,
    /// Removes the folder at the end, or on an interrupt (none when kept).
    _removal: Option<Registered>,
    /// What `dev-pki` wrote.
    pub setup: DevSetup,
}

impl Workspace {
    /// Makes a new folder under `parent` (default: the temporary folder) with a development
    /// PKI for one bank.
    pub fn create(parent: Option<&Path>, keep: bool) -> Result<Self, BenchError> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = parent.join(format!(
            "consentgate-bench-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let removal = (!keep).then(|| Registered::new(Leftover::Folder(dir.clone())));
        let setup = write_dev_setup(&dir, &[BANK.to_string()])
            .map_err(|e| BenchError::Setup(format!("cannot write the development PKI: {e}")))?;
        Ok(Self {
            dir,
            keep,
            _removal: removal,
            setup,
        })
    }

    /// The run's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the configuration of phase `phase`: the development configuration with both
    /// listeners on a free loopback port, the phase's database, the webhook receiver, and
    /// otherwise the production defaults (delivery on, checkpoints every 1,000 records).
    pub fn write_config(
        &self,
        phase: usize,
        database_url: &str,
        webhook_url: &str,
        workers: Option<usize>,
    ) -> Result<PathBuf, BenchError> {
        let broken =
            |what: &str| BenchError::Setup(format!("the development configuration {what}"));
        let text = std::fs::read_to_string(&self.setup.config).map_err(|e| {
            BenchError::Setup(format!("cannot read the development configuration: {e}"))
        })?;
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| BenchError::Setup(format!("the development configuration: {e}")))?;
        let server = section(&mut table, "server").ok_or_else(|| broken("has no [server]"))?;
        server.insert("bank_listen".into(), "127.0.0.1:0".into());
        server.insert("api_listen".into(), "127.0.0.1:0".into());
        if let Some(workers) = workers {
            let workers = i64::try_from(workers).map_err(|_| broken("cannot hold the workers"))?;
            server.insert("workers".into(), workers.into());
        }
        let database =
            section(&mut table, "database").ok_or_else(|| broken("has no [database]"))?;
        database.insert("url".into(), database_url.into());
        let recipient = table
            .get_mut("recipients")
            .and_then(|r| r.as_array_mut())
            .and_then(|r| r.first_mut())
            .and_then(|r| r.as_table_mut())
            .ok_or_else(|| broken("has no [[recipients]]"))?;
        recipient.insert("webhook_url".into(), webhook_url.into());
        let path = self.dir.join(format!("gateway-{phase}.toml"));
        let text = toml::to_string(&table).map_err(|e| broken(&e.to_string()))?;
        std::fs::write(&path, text)
            .map_err(|e| BenchError::Setup(format!("cannot write `{}`: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.keep {
            println!("the run's folder is kept at `{}`", self.dir.display());
        }
    }
}

/// A `[section]` of the configuration, created if missing.
fn section<'a>(table: &'a mut toml::Table, name: &str) -> Option<&'a mut toml::Table> {
    table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
}

/// One phase's database; a PostgreSQL database is dropped with it.
pub enum PhaseDatabase {
    /// A file in the run's folder.
    Sqlite(PathBuf),
    /// A database created for the phase.
    Postgres {
        /// Its URL.
        url: String,
        /// Drops it at the end, or on an interrupt.
        _removal: Registered,
    },
}

impl PhaseDatabase {
    /// Creates phase `phase`'s database.
    pub fn create(choice: &DatabaseChoice, dir: &Path, phase: usize) -> Result<Self, BenchError> {
        match choice {
            DatabaseChoice::Sqlite => Ok(Self::Sqlite(dir.join(format!("phase-{phase}.db")))),
            DatabaseChoice::Postgres { admin_url } => {
                let name = format!("cg_bench_{}", uuid::Uuid::now_v7().simple());
                let url = sibling_database(admin_url, &name).ok_or_else(|| {
                    BenchError::Usage(format!(
                        "`--database`: cannot find the database name in `{admin_url}`"
                    ))
                })?;
                let mut admin = Target::parse(admin_url)
                    .and_then(|t| t.connect())
                    .map_err(|e| BenchError::Database(format!("`{admin_url}`: {e}")))?;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .map_err(|e| BenchError::Database(format!("cannot create `{name}`: {e}")))?;
                let removal = Registered::new(Leftover::Database {
                    admin_url: admin_url.clone(),
                    name,
                });
                Ok(Self::Postgres {
                    url,
                    _removal: removal,
                })
            }
        }
    }

    /// The URL the gateway and the ceiling measurement use.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// `sqlite` or `postgresql`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres { .. } => "postgresql",
        }
    }
}

/// `url` with its database name replaced by `name`, query parameters kept.
fn sibling_database(url: &str, name: &str) -> Option<String> {
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let (base, _) = path.rsplit_once('/')?;
    if base.ends_with('/') {
        // `postgres://host` has no database part: its last `/` is the scheme's.
        return None;
    }
    Some(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_database_keeps_host_user_and_parameters() {
        assert_eq!(
            sibling_database("postgres://postgres@127.0.0.1:5432/postgres", "x").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/x")
        );
        assert_eq!(
            sibling_database("postgresql://u@h/db?sslmode=disable", "x").as_deref(),
            Some("postgresql://u@h/x?sslmode=disable")
        );
        assert_eq!(sibling_database("postgres://host", "x"), None);
    }
}
