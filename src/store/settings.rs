//! Server-wide settings kept in the store, shared by every node.

use super::{StoreError, Tx};
use crate::auth::TokenKeys;

/// The secret that signs patient tokens, created by the first node to ask.
pub async fn token_secret(tx: &mut Tx) -> Result<String, StoreError> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind("patient_token_secret")
        .bind(TokenKeys::generate_secret())
        .execute(&mut **tx)
        .await?;
    let (secret,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
        .bind("patient_token_secret")
        .fetch_one(&mut **tx)
        .await?;
    Ok(secret)
}
