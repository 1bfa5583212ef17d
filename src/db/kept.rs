//! A connection a background thread keeps between rounds of work (the planner
//! statistics, the delivery backlog count, the check before each delivery attempt): opened on first use, dropped after a round that failed, so the next round opens
//! a new one instead of reusing a broken one.

use super::{DbConnection, DbError, Target};

/// See the module documentation.
pub struct KeptConnection {
    target: Target,
    conn: Option<DbConnection>,
}

impl KeptConnection {
    /// Nothing is opened until the first [`Self::run`].
    pub fn new(target: Target) -> Self {
        Self { target, conn: None }
    }

    /// Runs `work` on the kept connection, opening it first if there is none; drops it if
    /// opening or `work` fails.
    pub fn run<T>(
        &mut self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.target.connect()?),
        };
        let done = work(conn);
        if done.is_err() {
            self.conn = None;
        }
        done
    }
}
