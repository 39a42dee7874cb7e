//! Staff sign-in sessions, kept as token hashes so they can be revoked.

use super::users::UserRowWithSession;
use super::{Conn, StoreError, Tx};
use crate::model::auth::{Role, User};
use crate::model::ids::UserId;
use crate::model::timestamp::Timestamp;

/// A live session and its user.
#[derive(Debug)]
pub struct SessionRecord {
    pub user: User,
    pub expires_at: Timestamp,
}

/// A session kept by the hash of its token, never the token itself.
#[tracing::instrument(skip_all)]
pub async fn insert_session(
    tx: &mut Tx,
    token_hash: &str,
    user: &UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user.as_str())
        .bind(created_at.millis())
        .bind(expires_at.millis())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The unexpired, unrevoked session of a token, with its active user.
#[tracing::instrument(skip_all)]
pub async fn find_session(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<UserRowWithSession> = sqlx::query_as(
        "SELECT u.id, u.username, u.role, u.display_name, u.npi, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active = 1",
    )
    .bind(token_hash)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(id, username, role, display_name, npi, expires_at)| {
        Ok(SessionRecord {
            user: User {
                id: UserId::from_trusted(id),
                username,
                role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
                display_name,
                npi,
            },
            expires_at: Timestamp(expires_at),
        })
    })
    .transpose()
}

#[tracing::instrument(skip_all)]
pub async fn revoke_session(
    tx: &mut Tx,
    token_hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now.millis())
        .bind(token_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every live session of a user (deactivation, password reset) and
/// returns their token hashes, so their sockets can be closed too.
#[tracing::instrument(skip_all)]
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user: &UserId,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL
         RETURNING token_hash",
    )
    .bind(now.millis())
    .bind(user.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(hash,)| hash).collect())
}
