//! Writes of one change that go to the database together. On PostgreSQL
//! they are sent as one statement, each a data-modifying `WITH` query, so
//! a change of several tables costs one round trip, not one a table; on
//! SQLite, in process, they run one after another.
//!
//! Every part sees the database as it was before the writes: no part may
//! read what another writes, nor write a row another writes.

use super::sql::Sql;
use super::{StoreError, Tx, is_sqlite};

/// Writes being gathered; [`Writes::run`] sends them.
#[derive(Debug)]
pub struct Writes {
    /// PostgreSQL: the one statement being written.
    joined: Option<Sql>,
    /// SQLite: a statement a part.
    each: Vec<Sql>,
    parts: usize,
}

impl Writes {
    pub fn new(tx: &Tx) -> Self {
        Self {
            joined: (!is_sqlite(tx)).then(Sql::default),
            each: Vec::new(),
            parts: 0,
        }
    }

    /// Adds one `INSERT`, `UPDATE` or `DELETE`, as `write` writes it.
    pub(super) fn push(&mut self, write: impl FnOnce(&mut Sql)) {
        match &mut self.joined {
            Some(sql) => {
                sql.push(if self.parts == 0 { "WITH w" } else { ", w" })
                    .push_int(self.parts)
                    .push(" AS (");
                write(sql);
                sql.push(")");
            }
            None => {
                let mut sql = Sql::default();
                write(&mut sql);
                self.each.push(sql);
            }
        }
        self.parts += 1;
    }

    /// Sends the writes in `tx`.
    pub async fn run(self, tx: &mut Tx) -> Result<(), StoreError> {
        match self.joined {
            // Each `WITH` query runs whether or not the query reads it.
            Some(mut sql) if self.parts > 0 => {
                sql.push(" SELECT 1");
                sql.execute(tx).await?;
            }
            Some(_) => {}
            None => {
                for sql in self.each {
                    sql.execute(tx).await?;
                }
            }
        }
        Ok(())
    }
}
