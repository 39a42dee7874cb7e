//! Reading encounters with their status history.

use super::{StoreError, Tx};
use crate::model::clinical::{Encounter, StatusPeriod};
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::timestamp::Timestamp;

type EncounterRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

const COLUMNS: &str = "id, patient_id, status, reason, practitioner_id, period_start, period_end, length_minutes, patient_location, created_at";

async fn with_history(tx: &mut Tx, row: EncounterRow) -> Result<Encounter, StoreError> {
    let (id, patient, status, reason, practitioner, start, end, length, location, created) = row;
    let history: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT status, period_start, period_end FROM encounter_status_history WHERE encounter_id = $1 ORDER BY seq",
    )
    .bind(&id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Encounter {
        id: EncounterId::from_trusted(id),
        patient_id: PatientId::from_trusted(patient),
        status,
        reason,
        practitioner_id: practitioner.map(UserId::from_trusted),
        period_start: start.map(Timestamp),
        period_end: end.map(Timestamp),
        length_minutes: length,
        patient_location: location,
        created_at: Timestamp(created),
        status_history: history
            .into_iter()
            .map(|(status, start, end)| StatusPeriod {
                status,
                start: Timestamp(start),
                end: end.map(Timestamp),
            })
            .collect(),
    })
}

pub async fn get_encounter(tx: &mut Tx, id: &EncounterId) -> Result<Option<Encounter>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM encounters WHERE id = $1");
    let row: Option<EncounterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => Ok(Some(with_history(tx, row).await?)),
        None => Ok(None),
    }
}

/// Encounters by patient and status (either optional), newest first.
pub async fn find_encounters(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Encounter>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM encounters WHERE ($1 IS NULL OR patient_id = $1) AND ($2 IS NULL OR status = $2)
         ORDER BY created_at DESC, id LIMIT $3"
    );
    let rows: Vec<EncounterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.map(PatientId::as_str))
        .bind(status)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    let mut encounters = Vec::with_capacity(rows.len());
    for row in rows {
        encounters.push(with_history(tx, row).await?);
    }
    Ok(encounters)
}
