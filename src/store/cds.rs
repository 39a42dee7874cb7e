//! What decision support reads and records beyond the clinical record.

use super::{StoreError, Tx};
use crate::model::ids::{EncounterId, VisitId};
use crate::model::visit::Emergency;

/// The symptoms the patient gave at check-in for the visit of an encounter.
#[tracing::instrument(skip_all)]
pub async fn symptoms_for_encounter(
    tx: &mut Tx,
    encounter: &EncounterId,
) -> Result<Vec<String>, StoreError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT symptoms FROM visits WHERE encounter_id = $1")
            .bind(encounter.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    match row.and_then(|(s,)| s) {
        Some(json) => {
            serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("visits.symptoms"))
        }
        None => Ok(Vec::new()),
    }
}

/// Keeps the check-in triage on the visit and raises its priority.
#[tracing::instrument(skip_all)]
pub async fn record_triage(
    tx: &mut Tx,
    visit: &VisitId,
    news2: Option<(i64, &str)>,
    red_flags: &[String],
    emergency: Option<&Emergency>,
    priority: Option<&str>,
) -> Result<(), StoreError> {
    let flags = serde_json::to_string(red_flags).map_err(|_| StoreError::Corrupt("red_flags"))?;
    let emergency = emergency
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| StoreError::Corrupt("emergency"))?;
    sqlx::query(
        "UPDATE visits SET news2_score = $2, news2_risk = $3, red_flags = $4, priority = COALESCE($5, priority),
            emergency = $6
         WHERE id = $1",
    )
    .bind(visit.as_str())
    .bind(news2.map(|(score, _)| score))
    .bind(news2.map(|(_, risk)| risk))
    .bind(flags)
    .bind(priority)
    .bind(emergency)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One piece of feedback on a card.
#[derive(Debug)]
pub struct Feedback<'a> {
    pub service_id: &'a str,
    pub card_uuid: &'a str,
    pub outcome: &'a str,
    pub override_reason: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_cds_feedback(tx: &mut Tx, feedback: &Feedback<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cds_feedback (id, service_id, card_uuid, outcome, override_reason, user_id, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(feedback.service_id)
    .bind(feedback.card_uuid)
    .bind(feedback.outcome)
    .bind(feedback.override_reason)
    .bind(feedback.user_id)
    .bind(feedback.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
