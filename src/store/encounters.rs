//! Reading encounters with their status history.

use std::collections::HashMap;

use super::sql::Sql;
use super::{StoreError, Tx};
use crate::model::clinical::{Encounter, StatusPeriod};
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::timestamp::Timestamp;

pub(super) type EncounterRow = (
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

pub(super) const COLUMNS: &str = "id, patient_id, status, reason, practitioner_id, period_start, period_end, length_minutes, patient_location, created_at";

/// Encounters from their rows, in the same order, with every status
/// history read in one query.
pub(super) async fn with_history(
    tx: &mut Tx,
    rows: Vec<EncounterRow>,
) -> Result<Vec<Encounter>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT encounter_id, status, period_start, period_end FROM encounter_status_history WHERE ",
    );
    sql.push_in("encounter_id", rows.iter().map(|row| row.0.as_str()))
        .push(" ORDER BY encounter_id, seq");
    let periods: Vec<(String, String, i64, Option<i64>)> = sql.fetch_all(tx).await?;
    let mut histories: HashMap<String, Vec<StatusPeriod>> = HashMap::new();
    for (encounter, status, start, end) in periods {
        let history = histories.entry(encounter).or_default();
        // An entry ends where the next starts; only the last stores its end.
        if let Some(before) = history.last_mut() {
            before.end.get_or_insert(Timestamp(start));
        }
        history.push(StatusPeriod {
            status,
            start: Timestamp(start),
            end: end.map(Timestamp),
        });
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let (id, patient, status, reason, practitioner, start, end, length, location, created) =
                row;
            Encounter {
                status_history: histories.remove(&id).unwrap_or_default(),
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
            }
        })
        .collect())
}

#[tracing::instrument(skip_all)]
pub async fn get_encounter(tx: &mut Tx, id: &EncounterId) -> Result<Option<Encounter>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM encounters WHERE id = $1");
    let row: Option<EncounterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let rows = row.into_iter().collect();
    Ok(with_history(tx, rows).await?.pop())
}

/// Encounters by patient and status (either optional), newest first.
#[tracing::instrument(skip_all)]
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
    with_history(tx, rows).await
}

/// The practitioner who held each of these encounters, for those that had one.
#[tracing::instrument(skip_all)]
pub async fn encounter_practitioners(
    tx: &mut Tx,
    encounters: &[EncounterId],
) -> Result<HashMap<EncounterId, UserId>, StoreError> {
    if encounters.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = Sql::new("SELECT id, practitioner_id FROM encounters WHERE ");
    sql.push_in("id", encounters.iter().map(EncounterId::as_str))
        .push(" AND practitioner_id IS NOT NULL");
    let rows: Vec<(String, String)> = sql.fetch_all(tx).await?;
    Ok(rows
        .into_iter()
        .map(|(id, practitioner)| {
            (
                EncounterId::from_trusted(id),
                UserId::from_trusted(practitioner),
            )
        })
        .collect())
}
