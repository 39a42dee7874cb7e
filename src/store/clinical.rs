//! The clinical record: observations, conditions, notes, allergies and
//! medications.

use super::sql::{Sql, write_rows};
use super::writes::Writes;
use super::{StoreError, Tx};
use crate::model::clinical::{
    Allergy, AllergyStatus, CodeSystem, Condition, Ended, Medication, NewAllergy, NewMedication,
    Note, Observation, Severity, SoapNote,
};
use crate::model::codes::Icd10;
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::timestamp::Timestamp;
use crate::model::vitals::Measurement;

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `ended_at, ended_by, end_reason`, as read.
pub(super) type EndedColumns = (Option<i64>, Option<String>, Option<String>);

fn ended((at, by, reason): EndedColumns) -> Option<Ended> {
    Some(Ended {
        at: Timestamp(at?),
        by: UserId::from_trusted(by?),
        reason,
    })
}

/// Why a chart entry ends: its new status, who ends it, when and why.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    pub status: &'a str,
    pub by: &'a UserId,
    pub at: Timestamp,
    pub reason: Option<&'a str>,
}

/// Ends one entry of `table` while its status is still one of `current`;
/// false when it was not (already ended, or no such entry).
async fn end_entry(
    tx: &mut Tx,
    table: &'static str,
    status_column: &'static str,
    current: &'static str,
    id: &str,
    ending: Ending<'_>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE {table} SET {status_column} = $2, ended_at = $3, ended_by = $4, end_reason = $5
         WHERE id = $1 AND {status_column} IN ({current})"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(ending.status)
        .bind(ending.at.millis())
        .bind(ending.by.as_str())
        .bind(ending.reason)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends an active allergy.
#[tracing::instrument(skip_all)]
pub async fn end_allergy(tx: &mut Tx, id: &str, ending: Ending<'_>) -> Result<bool, StoreError> {
    end_entry(tx, "allergies", "status", "'active'", id, ending).await
}

/// Ends an active medication.
#[tracing::instrument(skip_all)]
pub async fn end_medication(tx: &mut Tx, id: &str, ending: Ending<'_>) -> Result<bool, StoreError> {
    end_entry(tx, "medications", "status", "'active'", id, ending).await
}

/// Ends a condition that is still active (or has come back).
#[tracing::instrument(skip_all)]
pub async fn end_condition(tx: &mut Tx, id: &str, ending: Ending<'_>) -> Result<bool, StoreError> {
    end_entry(
        tx,
        "conditions",
        "clinical_status",
        "'active', 'recurrence', 'relapse'",
        id,
        ending,
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn insert_observation(
    tx: &mut Tx,
    patient: &PatientId,
    encounter: Option<&EncounterId>,
    m: &Measurement,
    at: i64,
) -> Result<String, StoreError> {
    let id = new_id();
    super::query_with_optional_floats(
        "INSERT INTO observations (id, patient_id, encounter_id, category, code, display, value, value_code, unit, ucum, effective_at)
         VALUES ($1, $2, $3, $11, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(patient.as_str())
    .bind(encounter.map(EncounterId::as_str))
    .bind(m.loinc)
    .bind(m.display)
    .bind(m.value)
    .bind(m.value_code)
    .bind(m.unit)
    .bind(m.ucum)
    .bind(at)
    .bind(m.category)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub(super) type ObservationRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<f64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

pub(super) const OBSERVATION_COLUMNS: &str = "id, patient_id, encounter_id, category, code, display, value, value_code, unit, ucum, effective_at";

pub(super) fn observation(
    (id, patient, encounter, category, code, display, value, value_code, unit, ucum, at): ObservationRow,
) -> Observation {
    Observation {
        id,
        patient_id: PatientId::from_trusted(patient),
        encounter_id: encounter.map(EncounterId::from_trusted),
        category,
        code,
        display,
        value,
        value_code,
        unit,
        ucum,
        effective_at: Timestamp(at),
    }
}

/// Observations by patient (newest first), optionally by LOINC code.
#[tracing::instrument(skip_all)]
pub async fn observations_for_patient(
    tx: &mut Tx,
    patient: &PatientId,
    code: Option<&str>,
) -> Result<Vec<Observation>, StoreError> {
    let sql = format!(
        "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE patient_id = $1 AND ($2 IS NULL OR code = $2)
         ORDER BY effective_at DESC, id"
    );
    let rows: Vec<ObservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.as_str())
        .bind(code)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(observation).collect())
}

#[tracing::instrument(skip_all)]
pub async fn get_observation(tx: &mut Tx, id: &str) -> Result<Option<Observation>, StoreError> {
    let sql = format!("SELECT {OBSERVATION_COLUMNS} FROM observations WHERE id = $1");
    let row: Option<ObservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(observation))
}

/// A condition to record: a problem-list entry, or a diagnosis of an encounter.
#[derive(Debug, Clone, Copy)]
pub struct NewConditionRow<'a> {
    pub patient: &'a PatientId,
    pub encounter: Option<&'a EncounterId>,
    pub code: &'a Icd10,
    pub display: Option<&'a str>,
    pub rank: Option<i64>,
    pub recorder: &'a UserId,
    pub at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_condition(
    tx: &mut Tx,
    row: NewConditionRow<'_>,
) -> Result<Condition, StoreError> {
    let NewConditionRow {
        patient,
        encounter,
        code,
        display,
        rank,
        recorder,
        at,
    } = row;
    let id = new_id();
    sqlx::query(
        "INSERT INTO conditions (id, patient_id, encounter_id, code, display, rank, clinical_status, recorder_id, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8)",
    )
    .bind(&id)
    .bind(patient.as_str())
    .bind(encounter.map(EncounterId::as_str))
    .bind(code.as_str())
    .bind(display)
    .bind(rank)
    .bind(recorder.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(Condition {
        id,
        patient_id: patient.clone(),
        encounter_id: encounter.cloned(),
        code: code.clone(),
        display: display.map(str::to_owned),
        rank,
        clinical_status: "active".to_owned(),
        recorded_at: Timestamp(at),
        ended: None,
    })
}

/// Records several conditions at once, in one statement per
/// [`ROWS_PER_STATEMENT`]: an encounter's diagnoses as it closes.
#[tracing::instrument(skip_all)]
pub fn insert_conditions(writes: &mut Writes, rows: &[NewConditionRow<'_>]) {
    write_rows(
        writes,
        "INSERT INTO conditions (id, patient_id, encounter_id, code, display, rank, clinical_status, recorder_id, recorded_at)
         VALUES ",
        "",
        rows,
        |values, row| {
            values
                .bind(new_id())
                .bind(row.patient.as_str().to_owned())
                .bind(row.encounter.map(|e| e.as_str().to_owned()))
                .bind(row.code.as_str().to_owned())
                .bind(row.display.map(str::to_owned))
                .bind(row.rank)
                .bind("active")
                .bind(row.recorder.as_str().to_owned())
                .bind(row.at);
        },
    );
}

pub(super) type ConditionRecord = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub(super) const CONDITION_COLUMNS: &str = "id, patient_id, encounter_id, code, display, rank, clinical_status, recorded_at, ended_at, ended_by, end_reason";

pub(super) fn condition(
    (id, patient, encounter, code, display, rank, status, at, ended_at, ended_by, end_reason): ConditionRecord,
) -> Result<Condition, StoreError> {
    Ok(Condition {
        id,
        patient_id: PatientId::from_trusted(patient),
        encounter_id: encounter.map(EncounterId::from_trusted),
        code: Icd10::parse(&code).map_err(|_| StoreError::Corrupt("conditions.code"))?,
        display,
        rank,
        clinical_status: status,
        recorded_at: Timestamp(at),
        ended: ended((ended_at, ended_by, end_reason)),
    })
}

/// Conditions of a patient, or of one encounter in rank order.
#[tracing::instrument(skip_all)]
pub async fn conditions(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    encounter: Option<&EncounterId>,
) -> Result<Vec<Condition>, StoreError> {
    let sql = format!(
        "SELECT {CONDITION_COLUMNS} FROM conditions
         WHERE ($1 IS NULL OR patient_id = $1) AND ($2 IS NULL OR encounter_id = $2)
         ORDER BY recorded_at DESC, rank, id"
    );
    let rows: Vec<ConditionRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.map(PatientId::as_str))
        .bind(encounter.map(EncounterId::as_str))
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(condition).collect()
}

/// The diagnoses of these encounters, in the order `conditions` gives one
/// encounter's, read in one query.
#[tracing::instrument(skip_all)]
pub async fn encounter_diagnoses(
    tx: &mut Tx,
    encounters: &[EncounterId],
) -> Result<Vec<Condition>, StoreError> {
    if encounters.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT ");
    sql.push(CONDITION_COLUMNS)
        .push(" FROM conditions WHERE ")
        .push_in("encounter_id", encounters.iter().map(EncounterId::as_str))
        .push(" ORDER BY recorded_at DESC, rank, id");
    let rows: Vec<ConditionRecord> = sql.fetch_all(tx).await?;
    rows.into_iter().map(condition).collect()
}

#[tracing::instrument(skip_all)]
pub async fn get_condition(tx: &mut Tx, id: &str) -> Result<Option<Condition>, StoreError> {
    let sql = format!("SELECT {CONDITION_COLUMNS} FROM conditions WHERE id = $1");
    let row: Option<ConditionRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(condition).transpose()
}

#[tracing::instrument(skip_all)]
pub fn insert_note(
    writes: &mut Writes,
    encounter: &EncounterId,
    patient: &PatientId,
    author: &UserId,
    soap: &SoapNote,
    at: i64,
) {
    writes.push(|sql| {
        sql.push(
            "INSERT INTO notes (id, encounter_id, patient_id, author_id, subjective, objective, assessment, plan, created_at)
             VALUES ",
        )
        .push_row(0, |row| {
            row.bind(new_id())
                .bind(encounter.as_str().to_owned())
                .bind(patient.as_str().to_owned())
                .bind(author.as_str().to_owned())
                .bind(soap.subjective.clone())
                .bind(soap.objective.clone())
                .bind(soap.assessment.clone())
                .bind(soap.plan.clone())
                .bind(at);
        });
    });
}

#[tracing::instrument(skip_all)]
pub async fn notes_for_patient(tx: &mut Tx, patient: &PatientId) -> Result<Vec<Note>, StoreError> {
    type Row = (String, String, String, String, String, String, String, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, encounter_id, author_id, subjective, objective, assessment, plan, created_at
         FROM notes WHERE patient_id = $1 ORDER BY created_at DESC",
    )
    .bind(patient.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, encounter, author, subjective, objective, assessment, plan, at)| Note {
                id,
                encounter_id: EncounterId::from_trusted(encounter),
                author_id: UserId::from_trusted(author),
                soap: SoapNote {
                    subjective,
                    objective,
                    assessment,
                    plan,
                },
                created_at: Timestamp(at),
            },
        )
        .collect())
}

/// Records an allergy, its code in `system` where it has one.
#[tracing::instrument(skip_all)]
pub async fn insert_allergy(
    tx: &mut Tx,
    patient: &PatientId,
    new: &NewAllergy,
    system: Option<CodeSystem>,
    recorder: &UserId,
    at: i64,
) -> Result<Allergy, StoreError> {
    let id = new_id();
    let code_system = system.map(CodeSystem::uri);
    sqlx::query(
        "INSERT INTO allergies (id, patient_id, substance, code, code_system, reaction, severity, status, recorder_id, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9)",
    )
    .bind(&id)
    .bind(patient.as_str())
    .bind(new.substance.as_str())
    .bind(new.code.as_ref().map(|c| c.as_str()))
    .bind(code_system)
    .bind(new.reaction.as_ref().map(|r| r.as_str()))
    .bind(new.severity.map(Severity::as_str))
    .bind(recorder.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(Allergy {
        id,
        patient_id: patient.clone(),
        substance: new.substance.as_str().to_owned(),
        code: new.code.as_ref().map(|c| c.as_str().to_owned()),
        code_system: code_system.map(str::to_owned),
        reaction: new.reaction.as_ref().map(|r| r.as_str().to_owned()),
        severity: new.severity,
        status: AllergyStatus::Active,
        recorded_at: Timestamp(at),
        ended: None,
    })
}

pub(super) type AllergyRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub(super) const ALLERGY_COLUMNS: &str = "id, patient_id, substance, code, reaction, severity, recorded_at, code_system, status, ended_at, ended_by, end_reason";

pub(super) fn allergy(
    (
        id,
        patient,
        substance,
        code,
        reaction,
        severity,
        at,
        code_system,
        status,
        ended_at,
        ended_by,
        end_reason,
    ): AllergyRow,
) -> Result<Allergy, StoreError> {
    Ok(Allergy {
        id,
        patient_id: PatientId::from_trusted(patient),
        substance,
        code,
        code_system,
        reaction,
        severity: severity.as_deref().and_then(Severity::parse),
        status: AllergyStatus::parse(&status).ok_or(StoreError::Corrupt("allergies.status"))?,
        recorded_at: Timestamp(at),
        ended: ended((ended_at, ended_by, end_reason)),
    })
}

#[tracing::instrument(skip_all)]
pub async fn allergies_for_patient(
    tx: &mut Tx,
    patient: &PatientId,
) -> Result<Vec<Allergy>, StoreError> {
    let sql = format!(
        "SELECT {ALLERGY_COLUMNS} FROM allergies WHERE patient_id = $1 ORDER BY recorded_at, id"
    );
    let rows: Vec<AllergyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(allergy).collect()
}

#[tracing::instrument(skip_all)]
pub async fn get_allergy(tx: &mut Tx, id: &str) -> Result<Option<Allergy>, StoreError> {
    let sql = format!("SELECT {ALLERGY_COLUMNS} FROM allergies WHERE id = $1");
    let row: Option<AllergyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(allergy).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn insert_medication(
    tx: &mut Tx,
    patient: &PatientId,
    new: &NewMedication,
    recorder: &UserId,
    at: i64,
) -> Result<Medication, StoreError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO medications (id, patient_id, name, code, status, recorder_id, recorded_at)
         VALUES ($1, $2, $3, $4, 'active', $5, $6)",
    )
    .bind(&id)
    .bind(patient.as_str())
    .bind(new.name.as_str())
    .bind(new.code.as_ref().map(|c| c.as_str()))
    .bind(recorder.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(Medication {
        id,
        patient_id: patient.clone(),
        name: new.name.as_str().to_owned(),
        code: new.code.as_ref().map(|c| c.as_str().to_owned()),
        status: "active".to_owned(),
        recorded_at: Timestamp(at),
        ended: None,
    })
}

pub(super) const MEDICATION_COLUMNS: &str =
    "id, patient_id, name, code, status, recorded_at, ended_at, ended_by, end_reason";

pub(super) type MedicationRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub(super) fn medication(
    (id, patient, name, code, status, at, ended_at, ended_by, end_reason): MedicationRow,
) -> Medication {
    Medication {
        id,
        patient_id: PatientId::from_trusted(patient),
        name,
        code,
        status,
        recorded_at: Timestamp(at),
        ended: ended((ended_at, ended_by, end_reason)),
    }
}

#[tracing::instrument(skip_all)]
pub async fn medications_for_patient(
    tx: &mut Tx,
    patient: &PatientId,
) -> Result<Vec<Medication>, StoreError> {
    let sql = format!(
        "SELECT {MEDICATION_COLUMNS} FROM medications WHERE patient_id = $1 ORDER BY recorded_at, id"
    );
    let rows: Vec<MedicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.as_str())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(medication).collect())
}

/// The note written at an encounter's close, if any.
#[tracing::instrument(skip_all)]
pub async fn note_for_encounter(
    tx: &mut Tx,
    encounter: &EncounterId,
) -> Result<Option<Note>, StoreError> {
    type Row = (String, String, String, String, String, String, String, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, encounter_id, author_id, subjective, objective, assessment, plan, created_at
         FROM notes WHERE encounter_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(encounter.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(
        |(id, encounter, author, subjective, objective, assessment, plan, at)| Note {
            id,
            encounter_id: EncounterId::from_trusted(encounter),
            author_id: UserId::from_trusted(author),
            soap: SoapNote {
                subjective,
                objective,
                assessment,
                plan,
            },
            created_at: Timestamp(at),
        },
    ))
}
