//! Patients registered from the public booking page without an exact
//! match, for the front desk to review; and booking forms used once.

use super::{StoreError, Tx};
use crate::model::ids::{PatientId, UserId};
use crate::model::timestamp::Timestamp;

/// Flags a patient for review; flagging twice keeps the first reason.
#[tracing::instrument(skip_all)]
pub async fn flag_for_review(
    tx: &mut Tx,
    patient: &PatientId,
    reason: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO patient_reviews (patient_id, reason, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (patient_id) DO NOTHING",
    )
    .bind(patient.as_str())
    .bind(reason)
    .bind(at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The patients waiting for review, oldest first: id, reason, flagged at.
#[tracing::instrument(skip_all)]
pub async fn open_reviews(tx: &mut Tx) -> Result<Vec<(PatientId, String, Timestamp)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT patient_id, reason, created_at FROM patient_reviews
         WHERE resolved_at IS NULL ORDER BY created_at, patient_id LIMIT 200",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, reason, at)| (PatientId::from_trusted(id), reason, Timestamp(at)))
        .collect())
}

/// Marks a patient reviewed; `false` when nothing was waiting.
#[tracing::instrument(skip_all)]
pub async fn resolve_review(
    tx: &mut Tx,
    patient: &PatientId,
    by: &UserId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE patient_reviews SET resolved_at = $2, resolved_by = $3
         WHERE patient_id = $1 AND resolved_at IS NULL",
    )
    .bind(patient.as_str())
    .bind(at.millis())
    .bind(by.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a booking form's nonce as used; a second use answers
/// `Duplicate("booking form")`.
#[tracing::instrument(skip_all)]
pub async fn use_booking_form(tx: &mut Tx, nonce: &str, at: Timestamp) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO booking_form_uses (nonce, used_at) VALUES ($1, $2)")
        .bind(nonce)
        .bind(at.millis())
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "booking form"))?;
    Ok(())
}
