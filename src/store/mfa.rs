//! Staff MFA: TOTP secrets, recovery codes and sign-in challenges.

use super::{StoreError, Tx};
use crate::model::ids::UserId;
use crate::model::timestamp::Timestamp;

/// A user's TOTP enrolment; `Debug` leaves out the secret.
pub struct MfaRecord {
    pub secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

impl std::fmt::Debug for MfaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRecord")
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

#[tracing::instrument(skip_all)]
pub async fn get_mfa(tx: &mut Tx, user: &UserId) -> Result<Option<MfaRecord>, StoreError> {
    let row: Option<(String, Option<i64>, i64)> =
        sqlx::query_as("SELECT secret, confirmed_at, last_step FROM user_mfa WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(secret, confirmed_at, last_step)| MfaRecord {
        secret,
        confirmed: confirmed_at.is_some(),
        last_step,
    }))
}

/// Starts (or restarts) an enrolment with a new, unconfirmed secret.
/// A confirmed enrolment is left alone: the caller checks first.
#[tracing::instrument(skip_all)]
pub async fn put_pending_mfa(
    tx: &mut Tx,
    user: &UserId,
    secret: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_mfa WHERE user_id = $1 AND confirmed_at IS NULL")
        .bind(user.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO user_mfa (user_id, secret, created_at) VALUES ($1, $2, $3)")
        .bind(user.as_str())
        .bind(secret)
        .bind(now.millis())
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "MFA enrolment"))?;
    Ok(())
}

/// Takes a TOTP step as used, unless it (or a later one) already was:
/// false means a replay.
#[tracing::instrument(skip_all)]
pub async fn use_mfa_step(tx: &mut Tx, user: &UserId, step: i64) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE user_mfa SET last_step = $1 WHERE user_id = $2 AND last_step < $1")
            .bind(step)
            .bind(user.as_str())
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms an enrolment and replaces the recovery codes.
#[tracing::instrument(skip_all)]
pub async fn confirm_mfa(
    tx: &mut Tx,
    user: &UserId,
    recovery_hashes: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE user_mfa SET confirmed_at = $1 WHERE user_id = $2")
        .bind(now.millis())
        .bind(user.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user.as_str())
        .execute(&mut **tx)
        .await?;
    for hash in recovery_hashes {
        sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.as_str())
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Spends an unused recovery code; false when there is none such.
#[tracing::instrument(skip_all)]
pub async fn use_recovery_code(
    tx: &mut Tx,
    user: &UserId,
    code_hash: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $1
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now.millis())
    .bind(user.as_str())
    .bind(code_hash)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn insert_mfa_challenge(
    tx: &mut Tx,
    token_hash: &str,
    user: &UserId,
    purpose: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mfa_challenges (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user.as_str())
    .bind(purpose)
    .bind(expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The user of an unexpired, unused challenge of this purpose.
#[tracing::instrument(skip_all)]
pub async fn find_mfa_challenge(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
    now: Timestamp,
) -> Result<Option<UserId>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT c.user_id FROM mfa_challenges c JOIN users u ON u.id = c.user_id
         WHERE c.token_hash = $1 AND c.purpose = $2 AND c.used_at IS NULL
           AND c.expires_at > $3 AND u.active = 1",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now.millis())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(id,)| UserId::from_trusted(id)))
}

/// Spends a challenge; false when it was already spent.
#[tracing::instrument(skip_all)]
pub async fn use_mfa_challenge(
    tx: &mut Tx,
    token_hash: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now.millis())
    .bind(token_hash)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
