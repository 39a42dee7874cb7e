//! Numbers handed out once each: medical record numbers and claim numbers.
//!
//! On PostgreSQL they come from sequences, which hold no lock. A counter row
//! is held by whoever updated it until its commit, so every registration (or
//! claim batch) in the clinic waited for the one before it to reach the disk.
//! A number taken by a transaction that rolls back is not handed out again:
//! numbers are unique, not gapless. On SQLite, one writer at a time, they
//! come from the `counters` table in the taker's transaction.

use super::{StoreError, Tx, is_sqlite};

/// What is numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Medical record numbers (`MRN0000001`).
    Mrn,
    /// Claim numbers (`CLM00000001`).
    ClaimNumber,
}

impl Counter {
    /// The row in `counters` (SQLite).
    fn row(self) -> &'static str {
        match self {
            Self::Mrn => "mrn",
            Self::ClaimNumber => "claim_number",
        }
    }

    /// `nextval` of the sequence (PostgreSQL), `n` times.
    fn next_values(self) -> &'static str {
        match self {
            Self::Mrn => "SELECT nextval('mrn_seq') FROM generate_series(1, $1)",
            Self::ClaimNumber => "SELECT nextval('claim_number_seq') FROM generate_series(1, $1)",
        }
    }
}

/// Takes `n` numbers of `counter`, in increasing order.
#[tracing::instrument(skip_all)]
pub async fn take_numbers(tx: &mut Tx, counter: Counter, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = n as i64;
    if is_sqlite(tx) {
        let last = add_to_counter(tx, counter.row(), n).await?;
        return Ok((last - n + 1..=last).collect());
    }
    let rows: Vec<(i64,)> = sqlx::query_as(counter.next_values())
        .bind(n)
        .fetch_all(&mut **tx)
        .await?;
    let mut numbers: Vec<i64> = rows.into_iter().map(|(value,)| value).collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Takes the next number of `counter`.
pub async fn take_number(tx: &mut Tx, counter: Counter) -> Result<i64, StoreError> {
    take_numbers(tx, counter, 1)
        .await?
        .pop()
        .ok_or(StoreError::Corrupt("a counter answered no number"))
}

/// The next value of a row of `counters` on either store (X12 control
/// numbers, taken a few times a day); each value is handed out once.
#[tracing::instrument(skip_all)]
pub async fn next_counter(tx: &mut Tx, name: &str) -> Result<i64, StoreError> {
    add_to_counter(tx, name, 1).await
}

/// Adds `n` to the row `name` of `counters`; answers the new value. The
/// row stays locked until the transaction ends.
async fn add_to_counter(tx: &mut Tx, name: &str, n: i64) -> Result<i64, StoreError> {
    let (last,): (i64,) =
        sqlx::query_as("UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value")
            .bind(name)
            .bind(n)
            .fetch_one(&mut **tx)
            .await?;
    Ok(last)
}
