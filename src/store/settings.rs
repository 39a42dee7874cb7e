//! Server-wide settings kept in the store, shared by every node.

use super::{StoreError, Tx};

/// The secret that signs patient tokens: `fresh` becomes it when no node
/// has stored one yet; otherwise the stored one wins.
#[tracing::instrument(skip_all)]
pub async fn token_secret(tx: &mut Tx, fresh: &str) -> Result<String, StoreError> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind("patient_token_secret")
        .bind(fresh)
        .execute(&mut **tx)
        .await?;
    let (secret,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
        .bind("patient_token_secret")
        .fetch_one(&mut **tx)
        .await?;
    Ok(secret)
}
