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
    /// A SQLite busy timeout other than the default, set once the connection is open.
    busy_timeout_ms: Option<u32>,
}

impl Manager {
    pub(super) fn new(target: Target) -> Self {
        Self {
            target,
            busy_timeout_ms: None,
        }
    }

    /// SQLite connections that wait `ms` at most for a lock (0: fail at once).
    pub(super) fn busy_timeout(mut self, ms: u32) -> Self {
        self.busy_timeout_ms = Some(ms);
        self
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        let mut conn = self.target.connect()?;
        if let (Some(ms), DbConnection::Sqlite(c)) = (self.busy_timeout_ms, &mut conn) {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                &format!("PRAGMA busy_timeout = {ms};"),
            )
            .map_err(DbError::Query)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.ping().map_err(DbError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl as _;

    use crate::config::{DatabaseConfig, Secret};
    use crate::db::{BUSY_TIMEOUT_MS, Database, DbConnection};

    #[derive(diesel::QueryableByName)]
    struct Timeout {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        timeout: i32,
    }

    fn busy_timeout(conn: &mut DbConnection) -> i32 {
        let DbConnection::Sqlite(c) = conn else {
            unreachable!()
        };
        diesel::sql_query("PRAGMA busy_timeout")
            .get_result::<Timeout>(c)
            .unwrap()
            .timeout
    }

    #[test]
    fn readers_for_an_event_loop_never_wait_for_a_lock_and_the_others_do() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(&DatabaseConfig {
            url: Secret::new(format!("sqlite://{}", dir.path().join("g.db").display())),
            pool_size: 2,
        })
        .unwrap();
        let mut idle = database.idle_reader().unwrap();
        assert_eq!(busy_timeout(&mut idle), 0);
        assert_eq!(
            busy_timeout(&mut database.get().unwrap()),
            BUSY_TIMEOUT_MS as i32
        );
        // Both idle readers in use: the next caller gets none rather than waiting.
        let second = database.idle_reader().unwrap();
        assert!(database.idle_reader().is_none());
        drop((idle, second));
        assert!(database.idle_reader().is_some());
    }
}
