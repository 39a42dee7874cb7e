//! Guests invited to visits.

use super::{Conn, StoreError, Tx};
use crate::model::guest::{Guest, GuestKind, GuestStatus};
use crate::model::ids::{GuestId, UserId, VisitId};
use crate::model::timestamp::Timestamp;

const GUEST_COLUMNS: &str = "id, visit_id, display_name, kind, status, invited_by, invited_at, \
                             expires_at, admitted_by, admitted_at";

#[tracing::instrument(skip_all)]
pub async fn insert_guest(tx: &mut Tx, guest: &Guest) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visit_guests (id, visit_id, display_name, kind, status, invited_by, invited_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(guest.id.as_str())
    .bind(guest.visit_id.as_str())
    .bind(&guest.display_name)
    .bind(guest.kind.as_str())
    .bind(guest.status.as_str())
    .bind(guest.invited_by.as_str())
    .bind(guest.invited_at.millis())
    .bind(guest.expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    visit_id: String,
    display_name: String,
    kind: String,
    status: String,
    invited_by: String,
    invited_at: i64,
    expires_at: i64,
    admitted_by: Option<String>,
    admitted_at: Option<i64>,
}

impl TryFrom<Row> for Guest {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: GuestId::from_trusted(r.id),
            visit_id: VisitId::from_trusted(r.visit_id),
            display_name: r.display_name,
            kind: GuestKind::parse(&r.kind).ok_or(StoreError::Corrupt("visit_guests.kind"))?,
            status: GuestStatus::parse(&r.status)
                .ok_or(StoreError::Corrupt("visit_guests.status"))?,
            invited_by: UserId::from_trusted(r.invited_by),
            invited_at: Timestamp(r.invited_at),
            expires_at: Timestamp(r.expires_at),
            admitted_by: r.admitted_by.map(UserId::from_trusted),
            admitted_at: r.admitted_at.map(Timestamp),
        })
    }
}

#[tracing::instrument(skip_all)]
pub async fn get_guest(conn: &mut Conn, id: &GuestId) -> Result<Option<Guest>, StoreError> {
    let sql = format!("SELECT {GUEST_COLUMNS} FROM visit_guests WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(Guest::try_from).transpose()
}

/// A visit's guests, in the order they were invited.
#[tracing::instrument(skip_all)]
pub async fn visit_guests(tx: &mut Tx, visit: &VisitId) -> Result<Vec<Guest>, StoreError> {
    let sql = format!(
        "SELECT {GUEST_COLUMNS} FROM visit_guests WHERE visit_id = $1 ORDER BY invited_at, id"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(visit.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Guest::try_from).collect()
}

#[tracing::instrument(skip_all)]
pub async fn count_admitted_guests(tx: &mut Tx, visit: &VisitId) -> Result<usize, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM visit_guests WHERE visit_id = $1 AND status = $2")
            .bind(visit.as_str())
            .bind(GuestStatus::Admitted.as_str())
            .fetch_one(&mut **tx)
            .await?;
    Ok(n as usize)
}

/// Invited → admitted; false when the guest was not waiting.
#[tracing::instrument(skip_all)]
pub async fn mark_guest_admitted(
    tx: &mut Tx,
    id: &GuestId,
    by: &UserId,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visit_guests SET status = $4, admitted_by = $2, admitted_at = $3
         WHERE id = $1 AND status = $5",
    )
    .bind(id.as_str())
    .bind(by.as_str())
    .bind(now)
    .bind(GuestStatus::Admitted.as_str())
    .bind(GuestStatus::Invited.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn revoke_guest(tx: &mut Tx, id: &GuestId, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE visit_guests SET status = $3, revoked_at = $2
         WHERE id = $1 AND status <> $3",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(GuestStatus::Revoked.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
