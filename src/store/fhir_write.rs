//! FHIR writes: the versions of resources as they were served (vread and
//! `_history`), and the record rows a FHIR create or update writes.

use std::collections::HashMap;

use super::clinical::{MEDICATION_COLUMNS, MedicationRow, medication};
use super::sql::Sql;
use super::{StoreError, Tx};
use crate::model::clinical::{AllergyStatus, Medication};
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::patient::NewPatient;
use crate::model::timestamp::Timestamp;

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One stored version of a resource.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub version: i64,
    pub last_updated: Timestamp,
    /// The resource's JSON as served, `meta` included.
    pub resource: String,
}

/// The current version of a resource and when it was written, if it has
/// any stored version.
#[tracing::instrument(skip_all)]
pub async fn fhir_version_head(
    tx: &mut Tx,
    kind: &str,
    id: &str,
) -> Result<Option<(i64, Timestamp)>, StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT version_id, last_updated FROM fhir_versions
         WHERE resource_type = $1 AND resource_id = $2 ORDER BY version_id DESC LIMIT 1",
    )
    .bind(kind)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(v, at)| (v, Timestamp(at))))
}

/// The current version of each of `ids` that has one, in one query.
#[tracing::instrument(skip_all)]
pub async fn fhir_version_heads(
    tx: &mut Tx,
    kind: &str,
    ids: &[String],
) -> Result<HashMap<String, (i64, Timestamp)>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = Sql::new(
        "SELECT resource_id, MAX(version_id), MAX(last_updated) FROM fhir_versions WHERE resource_type = ",
    );
    sql.push_bind(kind)
        .push(" AND ")
        .push_in("resource_id", ids.iter().map(String::as_str))
        .push(" GROUP BY resource_id");
    let rows: Vec<(String, i64, i64)> = sql.fetch_all(tx).await?;
    Ok(rows
        .into_iter()
        .map(|(id, v, at)| (id, (v, Timestamp(at))))
        .collect())
}

/// Stores one version; a version already stored (two writers racing) is
/// a `Duplicate`.
#[tracing::instrument(skip_all)]
pub async fn insert_fhir_version(
    tx: &mut Tx,
    kind: &str,
    id: &str,
    version: &StoredVersion,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO fhir_versions (resource_type, resource_id, version_id, last_updated, resource)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kind)
    .bind(id)
    .bind(version.version)
    .bind(version.last_updated.millis())
    .bind(&version.resource)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "resource version"))?;
    Ok(())
}

type VersionRow = (i64, i64, String);

fn stored((version, at, resource): VersionRow) -> StoredVersion {
    StoredVersion {
        version,
        last_updated: Timestamp(at),
        resource,
    }
}

/// Every stored version of a resource, newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_versions(
    tx: &mut Tx,
    kind: &str,
    id: &str,
) -> Result<Vec<StoredVersion>, StoreError> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT version_id, last_updated, resource FROM fhir_versions
         WHERE resource_type = $1 AND resource_id = $2 ORDER BY version_id DESC",
    )
    .bind(kind)
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(stored).collect())
}

/// One stored version of a resource.
#[tracing::instrument(skip_all)]
pub async fn fhir_version(
    tx: &mut Tx,
    kind: &str,
    id: &str,
    version: i64,
) -> Result<Option<StoredVersion>, StoreError> {
    let row: Option<VersionRow> = sqlx::query_as(
        "SELECT version_id, last_updated, resource FROM fhir_versions
         WHERE resource_type = $1 AND resource_id = $2 AND version_id = $3",
    )
    .bind(kind)
    .bind(id)
    .bind(version)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(stored))
}

#[tracing::instrument(skip_all)]
pub async fn get_medication(tx: &mut Tx, id: &str) -> Result<Option<Medication>, StoreError> {
    let sql = format!("SELECT {MEDICATION_COLUMNS} FROM medications WHERE id = $1");
    let row: Option<MedicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(medication))
}

/// Medications, of one patient or of all, newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_medications(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    limit: i64,
) -> Result<Vec<Medication>, StoreError> {
    let mut sql = Sql::new("SELECT ");
    sql.push(MEDICATION_COLUMNS)
        .push(" FROM medications WHERE 1 = 1");
    if let Some(patient) = patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    sql.push(" ORDER BY recorded_at DESC, id LIMIT ")
        .push_bind(limit);
    let rows: Vec<MedicationRow> = sql.fetch_all(tx).await?;
    Ok(rows.into_iter().map(medication).collect())
}

/// A patient's demographics as a FHIR update leaves them; insurance is
/// not part of the Patient resource and stays as it was.
#[tracing::instrument(skip_all)]
pub async fn update_patient_demographics(
    tx: &mut Tx,
    id: &PatientId,
    new: &NewPatient,
    at: Timestamp,
) -> Result<(), StoreError> {
    let address = new.address.as_ref();
    sqlx::query(
        "UPDATE patients SET given_name = $2, family_name = $3, birth_date = $4, sex = $5,
            email = $6, phone = $7, address_line = $8, address_city = $9, address_state = $10,
            address_postal_code = $11, updated_at = $12
         WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(new.given_name.as_str())
    .bind(new.family_name.as_str())
    .bind(new.birth_date.format("%Y-%m-%d").to_string())
    .bind(new.sex.as_str())
    .bind(new.email.clone().map(String::from))
    .bind(new.phone.clone().map(String::from))
    .bind(address.map(|a| a.line.as_str().to_owned()))
    .bind(address.map(|a| a.city.as_str().to_owned()))
    .bind(address.map(|a| a.state.as_str().to_ascii_uppercase()))
    .bind(address.map(|a| a.postal_code.digits().to_owned()))
    .bind(at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An observation row as a FHIR write gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRecord {
    pub patient: PatientId,
    pub encounter: Option<EncounterId>,
    pub category: String,
    pub code: String,
    pub display: String,
    pub value: Option<f64>,
    pub value_code: Option<String>,
    pub unit: Option<String>,
    pub ucum: Option<String>,
    pub effective_at: Timestamp,
}

/// Inserts the observation with `id` given, or updates the one with it.
#[tracing::instrument(skip_all)]
pub async fn save_observation(
    tx: &mut Tx,
    id: Option<&str>,
    o: &ObservationRecord,
) -> Result<String, StoreError> {
    let (id, sql) = match id {
        None => (
            new_id(),
            "INSERT INTO observations (id, patient_id, encounter_id, category, code, display, value, value_code, unit, ucum, effective_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        ),
        Some(id) => (
            id.to_owned(),
            "UPDATE observations SET patient_id = $2, encounter_id = $3, category = $4, code = $5, display = $6,
                value = $7, value_code = $8, unit = $9, ucum = $10, effective_at = $11
             WHERE id = $1",
        ),
    };
    super::query_with_optional_floats(sql)
        .bind(&id)
        .bind(o.patient.as_str())
        .bind(o.encounter.as_ref().map(EncounterId::as_str))
        .bind(&o.category)
        .bind(&o.code)
        .bind(&o.display)
        .bind(o.value)
        .bind(o.value_code.as_deref())
        .bind(o.unit.as_deref())
        .bind(o.ucum.as_deref())
        .bind(o.effective_at.millis())
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// An allergy row as a FHIR write gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllergyRecord {
    pub patient: PatientId,
    pub substance: String,
    pub code: Option<String>,
    pub code_system: Option<String>,
    pub reaction: Option<String>,
    pub severity: Option<&'static str>,
    pub status: AllergyStatus,
    pub recorded_at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn save_allergy(
    tx: &mut Tx,
    id: Option<&str>,
    a: &AllergyRecord,
    recorder: &UserId,
) -> Result<String, StoreError> {
    let (id, sql) = match id {
        None => (
            new_id(),
            "INSERT INTO allergies (id, patient_id, substance, code, code_system, reaction, severity, recorded_at, recorder_id, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        ),
        Some(id) => (
            id.to_owned(),
            "UPDATE allergies SET patient_id = $2, substance = $3, code = $4, code_system = $5,
                reaction = $6, severity = $7, recorded_at = $8, recorder_id = $9, status = $10
             WHERE id = $1",
        ),
    };
    sqlx::query(sql)
        .bind(&id)
        .bind(a.patient.as_str())
        .bind(&a.substance)
        .bind(a.code.as_deref())
        .bind(a.code_system.as_deref())
        .bind(a.reaction.as_deref())
        .bind(a.severity)
        .bind(a.recorded_at.millis())
        .bind(recorder.as_str())
        .bind(a.status.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// A medication row as a FHIR write gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicationRecord {
    pub patient: PatientId,
    pub name: String,
    pub code: Option<String>,
    pub status: String,
    pub recorded_at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn save_medication(
    tx: &mut Tx,
    id: Option<&str>,
    m: &MedicationRecord,
    recorder: &UserId,
) -> Result<String, StoreError> {
    let (id, sql) = match id {
        None => (
            new_id(),
            "INSERT INTO medications (id, patient_id, name, code, status, recorded_at, recorder_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ),
        Some(id) => (
            id.to_owned(),
            "UPDATE medications SET patient_id = $2, name = $3, code = $4, status = $5,
                recorded_at = $6, recorder_id = $7
             WHERE id = $1",
        ),
    };
    sqlx::query(sql)
        .bind(&id)
        .bind(m.patient.as_str())
        .bind(&m.name)
        .bind(m.code.as_deref())
        .bind(&m.status)
        .bind(m.recorded_at.millis())
        .bind(recorder.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// A condition row as a FHIR write gives it (never an encounter's ranked
/// diagnosis: those are made by closing a visit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionRecordIn {
    pub patient: PatientId,
    pub encounter: Option<EncounterId>,
    pub code: String,
    pub display: Option<String>,
    pub clinical_status: String,
    pub recorded_at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn save_condition(
    tx: &mut Tx,
    id: Option<&str>,
    c: &ConditionRecordIn,
    recorder: &UserId,
) -> Result<String, StoreError> {
    let (id, sql) = match id {
        None => (
            new_id(),
            "INSERT INTO conditions (id, patient_id, encounter_id, code, display, clinical_status, recorded_at, recorder_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        ),
        Some(id) => (
            id.to_owned(),
            "UPDATE conditions SET patient_id = $2, encounter_id = $3, code = $4, display = $5,
                clinical_status = $6, recorded_at = $7, recorder_id = $8
             WHERE id = $1",
        ),
    };
    sqlx::query(sql)
        .bind(&id)
        .bind(c.patient.as_str())
        .bind(c.encounter.as_ref().map(EncounterId::as_str))
        .bind(&c.code)
        .bind(c.display.as_deref())
        .bind(&c.clinical_status)
        .bind(c.recorded_at.millis())
        .bind(recorder.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(id)
}
