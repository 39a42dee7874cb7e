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

/// The clinic details an admin set; `None` where the configuration holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredClinic {
    pub name: Option<String>,
    pub region: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn clinic_settings(tx: &mut Tx) -> Result<StoredClinic, StoreError> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT name, region, contact_phone, contact_email FROM clinic_settings WHERE id = 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row
        .map(
            |(name, region, contact_phone, contact_email)| StoredClinic {
                name,
                region,
                contact_phone,
                contact_email,
            },
        )
        .unwrap_or_default())
}

#[tracing::instrument(skip_all)]
pub async fn put_clinic_settings(
    tx: &mut Tx,
    clinic: &StoredClinic,
    now: crate::model::timestamp::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO clinic_settings (id, name, region, contact_phone, contact_email, updated_at)
         VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET name = $1, region = $2, contact_phone = $3,
             contact_email = $4, updated_at = $5",
    )
    .bind(&clinic.name)
    .bind(&clinic.region)
    .bind(&clinic.contact_phone)
    .bind(&clinic.contact_email)
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
