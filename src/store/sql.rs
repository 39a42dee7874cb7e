//! SQL built at run time, for searches whose filters vary: fixed text
//! pushed piece by piece, every value bound. It follows sqlx's
//! `QueryBuilder`, with one difference: placeholders are numbered `$N`,
//! which both backends take. sqlx 0.9's `QueryBuilder<Any>` writes `?`,
//! which PostgreSQL refuses (launchbadge/sqlx#3000).

use std::fmt::{self, Write};

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::{Any, Arguments, Encode, FromRow, Type};

use super::writes::Writes;
use super::{StoreError, Tx};

/// A query being built. Only `&'static str` text goes into it, so what a
/// caller passes in can only ever arrive as a bound value.
#[derive(Default)]
pub(super) struct Sql {
    text: String,
    args: AnyArguments,
    /// The first value that could not be bound, reported when run.
    unbound: Option<BoxDynError>,
}

impl fmt::Debug for Sql {
    // The values may be health data: show the text only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sql").field("text", &self.text).finish()
    }
}

impl Sql {
    pub(super) fn new(text: &'static str) -> Self {
        let mut sql = Self::default();
        sql.push(text);
        sql
    }

    pub(super) fn push(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Writes a number into the text: a count or an index the code made,
    /// never a value from outside.
    pub(super) fn push_int(&mut self, n: usize) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{n}");
        self
    }

    /// Binds `value` to the next placeholder, written here.
    pub(super) fn push_bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any>,
    {
        if let Err(error) = self.args.add(value) {
            self.unbound.get_or_insert(error);
        }
        // Writing to a String cannot fail.
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    /// Row `index` of a multi-row `VALUES` list: `(a, b, …)`, after a
    /// comma unless it is the first, with `values` binding each value.
    pub(super) fn push_row(
        &mut self,
        index: usize,
        values: impl FnOnce(&mut Row<'_>),
    ) -> &mut Self {
        self.push(if index == 0 { "(" } else { ", (" });
        values(&mut Row {
            sql: self,
            first: true,
        });
        self.push(")")
    }

    /// `column IN ($a, $b, …)`, or a condition that is never true when
    /// `values` is empty (`IN ()` is not SQL). The list is padded to a
    /// power of two by repeating its last value, which matches nothing
    /// more: a statement's text is what its prepared statement and plan
    /// are cached by, so lists of 33 to 64 share one and are not planned
    /// afresh for each length.
    pub(super) fn push_in<'t, T>(
        &mut self,
        column: &'static str,
        values: impl IntoIterator<Item = T>,
    ) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + Clone,
    {
        let values: Vec<T> = values.into_iter().collect();
        let Some(last) = values.last().cloned() else {
            return self.push("1 = 0");
        };
        let padding = values.len().next_power_of_two() - values.len();
        self.push(column).push(" IN (");
        let padded = values.into_iter().chain(std::iter::repeat_n(last, padding));
        for (i, value) in padded.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self.push(")")
    }

    /// Runs the statement, and says how many rows it touched.
    pub(super) async fn execute(self, tx: &mut Tx) -> Result<u64, StoreError> {
        if let Some(error) = self.unbound {
            return Err(sqlx::Error::Encode(error).into());
        }
        Ok(
            sqlx::query_with::<Any, _>(sqlx::AssertSqlSafe(self.text), self.args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        )
    }

    /// Runs the query and reads every row as a `T`.
    pub(super) async fn fetch_all<T>(self, tx: &mut Tx) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        if let Some(error) = self.unbound {
            return Err(sqlx::Error::Encode(error).into());
        }
        Ok(
            sqlx::query_as_with::<Any, T, _>(sqlx::AssertSqlSafe(self.text), self.args)
                .fetch_all(&mut **tx)
                .await?,
        )
    }
}

/// Inserts `rows`, [`ROWS_PER_STATEMENT`] to a statement: `head` (up to
/// and including `VALUES `), each row's values as `bind` binds them, then
/// `tail` (an `ON CONFLICT` clause, or nothing).
pub(super) async fn insert_rows<T>(
    tx: &mut Tx,
    head: &'static str,
    tail: &'static str,
    rows: &[T],
    mut bind: impl FnMut(&mut Row<'_>, &T),
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(head);
        for (i, item) in chunk.iter().enumerate() {
            sql.push_row(i, |row| bind(row, item));
        }
        sql.push(tail);
        sql.execute(tx).await?;
    }
    Ok(())
}

/// Adds `rows` to `writes` as [`insert_rows`] inserts them.
pub(super) fn write_rows<T>(
    writes: &mut Writes,
    head: &'static str,
    tail: &'static str,
    rows: &[T],
    mut bind: impl FnMut(&mut Row<'_>, &T),
) {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        writes.push(|sql| {
            sql.push(head);
            for (i, item) in chunk.iter().enumerate() {
                sql.push_row(i, |row| bind(row, item));
            }
            sql.push(tail);
        });
    }
}

/// One row of a `VALUES` list being written ([`Sql::push_row`]).
pub(super) struct Row<'s> {
    sql: &'s mut Sql,
    first: bool,
}

impl Row<'_> {
    /// Binds the row's next value.
    pub(super) fn bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any>,
    {
        if !self.first {
            self.sql.push(", ");
        }
        self.first = false;
        self.sql.push_bind(value);
        self
    }
}

/// Rows (or listed ids) one statement carries at most, under every
/// backend's limit on bound parameters (the widest row binds 25).
pub(super) const ROWS_PER_STATEMENT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_parenthesised_and_separated() {
        let mut sql = Sql::new("INSERT INTO t (a, b) VALUES ");
        for (i, (a, b)) in [(1_i64, "x"), (2, "y")].into_iter().enumerate() {
            sql.push_row(i, |row| {
                row.bind(a).bind(b);
            });
        }
        assert_eq!(sql.text, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
        assert_eq!(sql.args.len(), 4);
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT id FROM t WHERE a = ");
        sql.push_bind("x")
            .push(" AND ")
            .push_in("b", [1_i64, 2])
            .push(" AND ")
            .push_in("c", Vec::<String>::new())
            .push(" LIMIT ")
            .push_bind(5_i64);
        assert_eq!(
            sql.text,
            "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3) AND 1 = 0 LIMIT $4"
        );
        assert_eq!(sql.args.len(), 4);
    }

    #[test]
    fn lists_of_nearby_lengths_are_written_alike() {
        let text = |n: i64| {
            let mut sql = Sql::new("SELECT id FROM t WHERE ");
            sql.push_in("id", 1..=n);
            sql.text
        };
        assert_eq!(text(3), "SELECT id FROM t WHERE id IN ($1, $2, $3, $4)");
        assert_eq!(text(3), text(4));
        assert_eq!(text(33), text(64));
        assert_ne!(text(64), text(65));
        assert_eq!(text(1), "SELECT id FROM t WHERE id IN ($1)");
    }
}
