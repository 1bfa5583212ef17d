//! The connection type over both backends and the pool's connection manager.

use diesel::r2d2::{ManageConnection, R2D2Connection as _};
use diesel::{PgConnection, SqliteConnection};

use super::{DbError, Target};

/// One connection to either backend. Queries written with the diesel DSL run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// The embedded default.
    Sqlite(SqliteConnection),
    /// The shared backend for several nodes.
    Pg(PgConnection),
}

/// Opens pool connections on the configured backend, never by guessing from the URL
/// (diesel's own multi-connection `establish` would open any string as a SQLite file).
pub struct Manager {
    target: Target,
}

impl Manager {
    pub(super) fn new(target: Target) -> Self {
        Self { target }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        self.target.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.ping().map_err(DbError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}
