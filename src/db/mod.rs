//! Storage: one diesel connection type over SQLite and PostgreSQL, picked by the URL
//! scheme, a pool for reads, and a dedicated connection for the single writer.

mod analyze;
mod connection;
mod kept;
pub mod periodic;
pub mod schema;
mod settings;
mod wal;

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{self, Pool, PooledConnection};
use diesel::{Connection as _, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use analyze::Analyzer;
pub use connection::DbConnection;
pub use kept::KeptConnection;
pub use settings::content_hash_key;
pub use wal::{WalCheckpointer, writer_settings};

use crate::config::DatabaseConfig;

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long an SQLite connection waits for a lock before failing.
pub const BUSY_TIMEOUT_MS: u32 = 5000;

/// Rows per multi-row INSERT statement (well under both backends' bind-parameter limits).
pub const INSERT_CHUNK: usize = 500;

/// Inserts the rows of the slice `$rows` into `$table` in the caller's transaction,
/// evaluating to `Result<(), DbError>`. On SQLite, one single-row statement per row: it is
/// prepared once and cached, and needs no statement journal, where a multi-row statement is
/// prepared again for each batch size and copies every page it changes into a statement
/// journal. In-process, a statement costs no round trip. On PostgreSQL, multi-row statements
/// of [`INSERT_CHUNK`] rows (a round trip each).
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        let rows = $rows;
        match $conn {
            $crate::db::DbConnection::Sqlite(c) => rows
                .iter()
                .try_for_each(|row| diesel::insert_into($table).values(row).execute(c).map(drop)),
            $crate::db::DbConnection::Pg(c) => {
                rows.chunks($crate::db::INSERT_CHUNK).try_for_each(|chunk| {
                    diesel::insert_into($table)
                        .values(chunk)
                        .execute(c)
                        .map(drop)
                })
            }
        }
        .map_err($crate::db::DbError::from)
    }};
}

/// An index or size as stored (a signed 64-bit integer).
pub fn to_i64(value: u64) -> Result<i64, DbError> {
    i64::try_from(value).map_err(|_| DbError::Corrupt("index out of range".to_string()))
}

/// A stored index or size; negative means the row was tampered with.
pub fn to_u64(value: i64) -> Result<u64, DbError> {
    u64::try_from(value).map_err(|_| DbError::Corrupt("negative index".to_string()))
}

/// Key of the PostgreSQL advisory lock held while migrating, so that gateway nodes
/// starting together do not run the same migration twice.
const MIGRATION_LOCK: i64 = 0x636f_6e73_656e_7401;

/// Runs `$body` with `$c` bound to the backend's own connection type. For statements the
/// multi-backend query builder cannot express (batch inserts, `ON CONFLICT`), written once
/// and type-checked against each backend.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Pg($c) => $body,
        }
    };
}

/// The two supported backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one file; the default.
    Sqlite,
    /// Shared by several gateway nodes.
    Postgres,
}

/// Storage failures. None of these reach a client: the HTTP layer answers 500 or 503 and
/// logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported backend.
    #[error("database url must start with `sqlite://`, `postgres://` or `postgresql://`")]
    UnsupportedUrl,
    /// Could not connect.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// Could not create the SQLite file's folder.
    #[error("cannot create the database folder `{path}`: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A migration failed.
    #[error("cannot apply migrations: {0}")]
    Migration(String),
    /// The pool could not hand out a connection in time.
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A value stored by the gateway itself is malformed.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Where the database is, parsed from the configured URL.
#[derive(Clone)]
pub struct Target {
    backend: Backend,
    /// The SQLite path, or the PostgreSQL URL as given.
    location: String,
}

impl Target {
    /// Picks the backend from the URL scheme.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Self {
                backend: Backend::Sqlite,
                location: path.to_string(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self {
                backend: Backend::Postgres,
                location: url.to_string(),
            })
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }

    /// The backend this target uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection with the backend's session settings applied.
    pub fn connect(&self) -> Result<DbConnection, DbError> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.location)?;
                // CAUTION: FULL, not NORMAL: a 202 promises the batch survives a power loss,
                // and NORMAL in WAL mode may lose the last commits (sqlite.org, pragma
                // synchronous). busy_timeout comes FIRST: switching to WAL takes a lock,
                // and without a timeout a connection opened while another one writes
                // fails at once with "database is locked".
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(DbError::Query)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.location)?;
                conn.batch_execute("SET synchronous_commit = on; SET TIME ZONE 'UTC';")
                    .map_err(DbError::Query)?;
                Ok(DbConnection::Pg(conn))
            }
        }
    }

    /// Creates the SQLite file, and its folder, if they are missing.
    fn prepare(&self) -> Result<(), DbError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let path = std::path::Path::new(&self.location);
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| DbError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        create_private_file(path)
    }
}

/// Creates the SQLite file readable by its owner only (SQLite gives the `-wal` and `-shm`
/// files the same mode): it holds the content-hash key and undelivered payloads.
fn create_private_file(path: &std::path::Path) -> Result<(), DbError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(DbError::Folder {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// A connection borrowed from the [`Database`]'s pool; it goes back when dropped.
pub type Pooled = PooledConnection<connection::Manager>;

/// The database: a pool of readers and the means to open the writer's connection.
#[derive(Clone)]
pub struct Database {
    target: Target,
    pool: Pool<connection::Manager>,
    /// SQLite only: readers with no busy timeout, for reads made on an event loop.
    idle_readers: Option<Pool<connection::Manager>>,
}

impl Database {
    /// Opens the database (creating an SQLite file), applies pending migrations and fills
    /// the pool.
    pub fn open(config: &DatabaseConfig) -> Result<Self, DbError> {
        let target = Target::parse(config.url.expose())?;
        migrate(&target)?;
        let build = |min_idle: u32, manager: connection::Manager| {
            Pool::builder()
                .max_size(config.pool_size)
                .min_idle(Some(min_idle))
                .connection_timeout(Duration::from_secs(5))
                .build(manager)
        };
        let pool = build(1, connection::Manager::new(target.clone()))?;
        let idle_readers = match target.backend {
            // All open from the start: `try_get` takes only a connection that is idle now.
            Backend::Sqlite => Some(build(
                config.pool_size,
                connection::Manager::new(target.clone()).busy_timeout(0),
            )?),
            Backend::Postgres => None,
        };
        Ok(Self {
            target,
            pool,
            idle_readers,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.target.backend
    }

    /// A pooled connection for reads (and writes outside the ingest path).
    pub fn get(&self) -> Result<Pooled, DbError> {
        Ok(self.pool.get()?)
    }

    /// For a read on an event loop (an HTTP worker's), which must not block: a SQLite
    /// connection if one is idle now, with no busy timeout, so a locked database (WAL
    /// recovery, another process's exclusive lock) fails the read at once instead of
    /// stalling the loop. `None` when none is idle, and always on PostgreSQL, where every
    /// read is a round trip.
    pub fn idle_reader(&self) -> Option<Pooled> {
        self.idle_readers.as_ref()?.try_get()
    }

    /// A new connection owned by the caller.
    pub fn connect(&self) -> Result<DbConnection, DbError> {
        self.target.connect()
    }

    /// A connection for a background thread to keep (opened on first use).
    pub fn kept_connection(&self) -> KeptConnection {
        KeptConnection::new(self.target.clone())
    }

    /// The group-commit writer's connection: as [`Self::connect`], but on SQLite it leaves
    /// WAL checkpoints to a [`WalCheckpointer`] (see `db/wal.rs`).
    pub fn connect_writer(&self) -> Result<DbConnection, DbError> {
        let mut conn = self.target.connect()?;
        writer_settings(&mut conn)?;
        Ok(conn)
    }

    /// Starts the thread that checkpoints the writer's WAL (SQLite; `None` on PostgreSQL).
    pub fn start_checkpointer(&self) -> Result<Option<WalCheckpointer>, DbError> {
        WalCheckpointer::start(&self.target)
    }

    /// Starts the thread that keeps PostgreSQL's planner statistics current while the
    /// writer fills the tables (`None` on SQLite).
    pub fn start_analyzer(&self) -> Result<Option<Analyzer>, DbError> {
        Analyzer::start(&self.target)
    }
}

/// Applies pending migrations of the target's backend and returns how many ran.
pub fn migrate(target: &Target) -> Result<usize, DbError> {
    target.prepare()?;
    let conn = target.connect()?;
    let applied = match conn {
        DbConnection::Sqlite(mut conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| DbError::Migration(e.to_string()))?,
        DbConnection::Pg(mut conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| DbError::Migration(e.to_string()));
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result?
        }
    };
    Ok(applied)
}
