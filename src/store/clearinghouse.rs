//! What the clearinghouse exchanges leave behind: each eligibility check
//! against its visit (the answer as JSON, the 271 as received), the 999s
//! received and the verdict they put on an 837P batch.

use super::{StoreError, Tx};
use crate::model::ids::{PatientId, VisitId};
use crate::model::timestamp::Timestamp;

/// One eligibility check as kept; `answer` is the domain's JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EligibilityRow {
    pub id: String,
    pub visit_id: String,
    pub patient_id: String,
    pub trace: String,
    pub coverage: String,
    pub answer: String,
    pub response: String,
    pub checked_by: Option<String>,
    pub checked_at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_eligibility_check(tx: &mut Tx, row: &EligibilityRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO eligibility_checks (id, visit_id, patient_id, trace, coverage, answer, response,
                                         checked_by, checked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.id)
    .bind(&row.visit_id)
    .bind(&row.patient_id)
    .bind(&row.trace)
    .bind(&row.coverage)
    .bind(&row.answer)
    .bind(&row.response)
    .bind(row.checked_by.as_deref())
    .bind(row.checked_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The visit's latest check, if any.
#[tracing::instrument(skip_all)]
pub async fn latest_eligibility_check(
    tx: &mut Tx,
    visit: &VisitId,
) -> Result<Option<EligibilityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, visit_id, patient_id, trace, coverage, answer, response, checked_by, checked_at
         FROM eligibility_checks WHERE visit_id = $1 ORDER BY checked_at DESC, id DESC LIMIT 1",
    )
    .bind(visit.as_str())
    .fetch_optional(&mut **tx)
    .await?)
}

/// The patient's checks, newest first: for the billing console.
#[tracing::instrument(skip_all)]
pub async fn patient_eligibility_checks(
    tx: &mut Tx,
    patient: &PatientId,
    limit: i64,
) -> Result<Vec<EligibilityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, visit_id, patient_id, trace, coverage, answer, response, checked_by, checked_at
         FROM eligibility_checks WHERE patient_id = $1 ORDER BY checked_at DESC, id DESC LIMIT $2",
    )
    .bind(patient.as_str())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

/// An 837P batch found by its interchange and group control number.
#[derive(Debug, Clone)]
pub struct SentBatch {
    pub id: String,
    pub body: String,
}

#[tracing::instrument(skip_all)]
pub async fn batch_by_control_number(
    tx: &mut Tx,
    control_number: i64,
) -> Result<Option<SentBatch>, StoreError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, body FROM claim_batches WHERE control_number = $1")
            .bind(control_number)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(id, body)| SentBatch { id, body }))
}

/// A 999 as received.
#[derive(Debug)]
pub struct NewAcknowledgement<'a> {
    pub batch_id: Option<&'a str>,
    pub functional_id: &'a str,
    pub group_control_number: i64,
    pub verdict: &'a str,
    pub body: &'a str,
    pub received_by: Option<&'a str>,
    pub at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn insert_acknowledgement(
    tx: &mut Tx,
    ack: &NewAcknowledgement<'_>,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO x12_acknowledgements (id, batch_id, functional_id, group_control_number,
                                           verdict, body, received_by, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(ack.batch_id)
    .bind(ack.functional_id)
    .bind(ack.group_control_number)
    .bind(ack.verdict)
    .bind(ack.body)
    .bind(ack.received_by)
    .bind(ack.at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Puts the 999's verdict on a batch.
#[tracing::instrument(skip_all)]
pub async fn mark_batch_acknowledged(
    tx: &mut Tx,
    batch: &str,
    verdict: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE claim_batches SET ack_verdict = $1, ack_at = $2 WHERE id = $3")
        .bind(verdict)
        .bind(at.millis())
        .bind(batch)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A batch's verdict from its 999, if one came.
#[tracing::instrument(skip_all)]
pub async fn batch_acknowledgement(
    tx: &mut Tx,
    batch: &str,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    let row: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT ack_verdict, ack_at FROM claim_batches WHERE id = $1")
            .bind(batch)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.and_then(|(verdict, at)| Some((verdict?, Timestamp(at?)))))
}
