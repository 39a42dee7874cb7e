//! Whether the database can serve: which failures mean "down or out of
//! space, try again" rather than a fault in a query, the pool's check that
//! no connection goes back into use inside a transaction, and the write
//! probe behind `/readyz`.

use sqlx::AnyConnection;
use sqlx::Connection;

use super::{StoreError, Tx};

/// SQLite's primary result codes that mean the file cannot be used now.
/// <https://www.sqlite.org/rescode.html>
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;

/// PostgreSQL SQLSTATE classes that mean the server cannot serve now:
/// connection exceptions, insufficient resources (disk full, out of
/// memory, too many connections) and system errors.
const POSTGRES_UNAVAILABLE_CLASSES: [&str; 3] = ["08", "53", "58"];
/// And the server shutting down, crashed, or still starting up.
const POSTGRES_UNAVAILABLE_CODES: [&str; 3] = ["57P01", "57P02", "57P03"];

/// True when `error` says the database is unreachable, shutting down or out
/// of space: the request may succeed later, unchanged.
pub(super) fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            db.code().is_some_and(|code| {
                if sqlite {
                    sqlite_unavailable(&code)
                } else {
                    postgres_unavailable(&code)
                }
            })
        }
        _ => false,
    }
}

/// SQLite reports its extended result code in decimal; the low byte is
/// the primary code.
fn sqlite_unavailable(code: &str) -> bool {
    code.parse::<i64>().is_ok_and(|extended| {
        matches!(
            extended & 0xff,
            SQLITE_BUSY
                | SQLITE_LOCKED
                | SQLITE_NOMEM
                | SQLITE_READONLY
                | SQLITE_IOERR
                | SQLITE_FULL
                | SQLITE_CANTOPEN
        )
    })
}

/// PostgreSQL reports a five-character SQLSTATE; its first two name the class.
fn postgres_unavailable(code: &str) -> bool {
    POSTGRES_UNAVAILABLE_CLASSES
        .iter()
        .any(|class| code.starts_with(class))
        || POSTGRES_UNAVAILABLE_CODES.contains(&code)
}

/// The pool's check before a connection is handed out: one still inside a
/// transaction (its commit and the rollback after it both failed, as on a
/// full disk) would refuse every `BEGIN`, so it is closed and replaced.
pub(super) fn is_idle(conn: &AnyConnection) -> bool {
    let idle = !conn.is_in_transaction();
    if !idle {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    idle
}

/// Rewrites the probe row: a store that answers reads but cannot write is
/// not ready.
#[tracing::instrument(skip_all)]
pub(super) async fn touch_probe(tx: &mut Tx, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE store_probe SET checked_at = $1 WHERE id = 1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_and_lost_servers_are_unavailable_and_query_faults_are_not() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (778), SQLITE_BUSY.
        for code in ["13", "778", "5"] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_ERROR.
        for code in ["2067", "1"] {
            assert!(!sqlite_unavailable(code), "{code}");
        }
        // PostgreSQL: admin shutdown, cannot connect now, disk full, connection failure.
        for code in ["57P01", "57P03", "53100", "08006"] {
            assert!(postgres_unavailable(code), "{code}");
        }
        // unique_violation, syntax error, query canceled by a statement timeout.
        for code in ["23505", "42601", "57014"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
