//! Queries behind the FHIR facade's searches: each reads the matching
//! records (in the facade's order, at most `limit`) in one query built
//! from the criteria given; and the practitioners, who are clinician
//! accounts.

use super::billing::{CLAIM_COLUMNS, ClaimRow};
use super::clinical::{
    ALLERGY_COLUMNS, AllergyRow, CONDITION_COLUMNS, ConditionRecord, OBSERVATION_COLUMNS,
    ObservationRow, allergy, condition, observation,
};
use super::encounters::{self, EncounterRow};
use super::patients::{self, PatientRow};
use super::sql::Sql;
use super::{StoreError, Tx, is_sqlite};
use crate::model::auth::{Role, User};
use crate::model::claim::{Claim, ClaimStatus};
use crate::model::clinical::{Allergy, Condition, Encounter, Observation};
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::patient::Patient;

fn like_prefix(value: &str) -> String {
    let escaped = value
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
}

/// `SELECT {columns} FROM {table} WHERE 1 = 1`, for `AND` clauses to follow.
fn select(columns: &'static str, from: &'static str) -> Sql {
    let mut sql = Sql::new("SELECT ");
    sql.push(columns).push(from).push(" WHERE 1 = 1");
    sql
}

/// The strings that start with `value` lowercased, as `[from, before)` in
/// code-point order (SQLite's own): `before` is `from` with its last
/// character moved up by one. `None` when there is nothing to bound.
fn prefix_range(value: &str) -> Option<(String, String)> {
    let from = value.trim().to_lowercase();
    let mut before = from.clone();
    let last = before.pop()?;
    let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32)?;
    before.push(next);
    Some((from, before))
}

/// Ends a search: its order and its limit.
fn order_limit(sql: &mut Sql, order: &'static str, limit: i64) {
    sql.push(" ORDER BY ")
        .push(order)
        .push(" LIMIT ")
        .push_bind(limit);
}

/// Which patients a Patient search wants.
#[derive(Debug, Clone, Default)]
pub struct PatientQuery<'a> {
    /// Only this patient (a patient's own token).
    pub only: Option<&'a PatientId>,
    /// The start of a given or family name, any case.
    pub name: Option<&'a str>,
    /// Birth dates as `YYYY-MM-DD`: on or after `born_from`, before `born_before`.
    pub born_from: Option<String>,
    pub born_before: Option<String>,
}

/// Patients by name and birth date, by family then given name.
#[tracing::instrument(skip_all)]
pub async fn fhir_patients(
    tx: &mut Tx,
    query: &PatientQuery<'_>,
    limit: i64,
) -> Result<Vec<Patient>, StoreError> {
    let mut sql = select(patients::COLUMNS, " FROM patients");
    if let Some(id) = query.only {
        sql.push(" AND id = ").push_bind(id.as_str());
    }
    if let Some(name) = query.name {
        let pattern = like_prefix(name);
        // SQLite uses no index for LIKE on an expression: the same prefix as
        // a range lets it use one per name (PostgreSQL's pattern indexes
        // serve the LIKE itself).
        let range = is_sqlite(tx).then(|| prefix_range(name)).flatten();
        for column in [
            " AND ((lower(family_name) LIKE ",
            " OR (lower(given_name) LIKE ",
        ] {
            sql.push(column)
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\'");
            if let Some((from, before)) = &range {
                sql.push(if column.contains("family") {
                    " AND lower(family_name) >= "
                } else {
                    " AND lower(given_name) >= "
                })
                .push_bind(from.clone())
                .push(if column.contains("family") {
                    " AND lower(family_name) < "
                } else {
                    " AND lower(given_name) < "
                })
                .push_bind(before.clone());
            }
            sql.push(")");
        }
        sql.push(")");
    }
    // Dates are stored as `YYYY-MM-DD`, so text order is date order.
    if let Some(from) = &query.born_from {
        sql.push(" AND birth_date >= ").push_bind(from.as_str());
    }
    if let Some(before) = &query.born_before {
        sql.push(" AND birth_date < ").push_bind(before.as_str());
    }
    order_limit(&mut sql, "family_name, given_name, id", limit);
    let rows: Vec<PatientRow> = sql.fetch_all(tx).await?;
    rows.into_iter().map(Patient::try_from).collect()
}

/// Which encounters an Encounter search wants. The encounter's period is
/// `[period_start, period_end]`, open-ended while it goes on; the bounds
/// are Unix milliseconds, and any of them makes encounters that never
/// started fall out.
#[derive(Debug, Clone, Default)]
pub struct EncounterQuery<'a> {
    pub patient: Option<&'a PatientId>,
    /// Any of these statuses; `None` for any status.
    pub statuses: Option<&'a [String]>,
    pub start_from: Option<i64>,
    pub start_before: Option<i64>,
    pub end_from: Option<i64>,
    pub end_before: Option<i64>,
}

/// Encounters with their status histories, newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_encounters(
    tx: &mut Tx,
    query: &EncounterQuery<'_>,
    limit: i64,
) -> Result<Vec<Encounter>, StoreError> {
    const END: &str = " AND COALESCE(period_end, 9223372036854775807)";
    let mut sql = select(encounters::COLUMNS, " FROM encounters");
    if let Some(patient) = query.patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    if let Some(statuses) = query.statuses {
        sql.push(" AND ")
            .push_in("status", statuses.iter().map(String::as_str));
    }
    let dated = [
        query.start_from,
        query.start_before,
        query.end_from,
        query.end_before,
    ]
    .iter()
    .any(Option::is_some);
    if dated {
        sql.push(" AND period_start IS NOT NULL");
    }
    if let Some(v) = query.start_from {
        sql.push(" AND period_start >= ").push_bind(v);
    }
    if let Some(v) = query.start_before {
        sql.push(" AND period_start < ").push_bind(v);
    }
    if let Some(v) = query.end_from {
        sql.push(END).push(" >= ").push_bind(v);
    }
    if let Some(v) = query.end_before {
        sql.push(END).push(" < ").push_bind(v);
    }
    order_limit(&mut sql, "created_at DESC, id", limit);
    let rows: Vec<EncounterRow> = sql.fetch_all(tx).await?;
    encounters::with_history(tx, rows).await
}

/// Which observations an Observation search wants.
#[derive(Debug, Clone, Default)]
pub struct ObservationQuery<'a> {
    pub patient: Option<&'a PatientId>,
    /// Any of these categories; `None` for any category.
    pub categories: Option<&'a [String]>,
    /// Any of these LOINC codes; `None` for any code.
    pub codes: Option<&'a [String]>,
}

/// Observations, newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_observations(
    tx: &mut Tx,
    query: &ObservationQuery<'_>,
    limit: i64,
) -> Result<Vec<Observation>, StoreError> {
    let mut sql = select(OBSERVATION_COLUMNS, " FROM observations");
    if let Some(patient) = query.patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    if let Some(categories) = query.categories {
        sql.push(" AND ")
            .push_in("category", categories.iter().map(String::as_str));
    }
    if let Some(codes) = query.codes {
        sql.push(" AND ")
            .push_in("code", codes.iter().map(String::as_str));
    }
    order_limit(&mut sql, "effective_at DESC, id", limit);
    let rows: Vec<ObservationRow> = sql.fetch_all(tx).await?;
    Ok(rows.into_iter().map(observation).collect())
}

/// Conditions by patient and encounter (either optional), newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_conditions(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    encounter: Option<&EncounterId>,
    limit: i64,
) -> Result<Vec<Condition>, StoreError> {
    let mut sql = select(CONDITION_COLUMNS, " FROM conditions");
    if let Some(patient) = patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    if let Some(encounter) = encounter {
        sql.push(" AND encounter_id = ")
            .push_bind(encounter.as_str());
    }
    order_limit(&mut sql, "recorded_at DESC, rank, id", limit);
    let rows: Vec<ConditionRecord> = sql.fetch_all(tx).await?;
    rows.into_iter().map(condition).collect()
}

/// Allergies, of one patient or of all, newest first.
#[tracing::instrument(skip_all)]
pub async fn fhir_allergies(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    limit: i64,
) -> Result<Vec<Allergy>, StoreError> {
    let mut sql = select(ALLERGY_COLUMNS, " FROM allergies");
    if let Some(patient) = patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    order_limit(&mut sql, "recorded_at DESC, id", limit);
    let rows: Vec<AllergyRow> = sql.fetch_all(tx).await?;
    rows.into_iter().map(allergy).collect()
}

/// Which claims a Claim search wants.
#[derive(Debug, Clone, Default)]
pub struct ClaimQuery<'a> {
    pub patient: Option<&'a PatientId>,
    pub encounter: Option<&'a EncounterId>,
    /// Any of these statuses; `None` for any status.
    pub statuses: Option<&'a [ClaimStatus]>,
}

/// Claims, oldest first (as billing lists them).
#[tracing::instrument(skip_all)]
pub async fn fhir_claims(
    tx: &mut Tx,
    query: &ClaimQuery<'_>,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let mut sql = select(CLAIM_COLUMNS, " FROM claims");
    if let Some(patient) = query.patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    if let Some(encounter) = query.encounter {
        sql.push(" AND encounter_id = ")
            .push_bind(encounter.as_str());
    }
    if let Some(statuses) = query.statuses {
        sql.push(" AND ")
            .push_in("status", statuses.iter().map(|s| s.as_str()));
    }
    order_limit(&mut sql, "created_at, id", limit);
    let rows: Vec<ClaimRow> = sql.fetch_all(tx).await?;
    rows.into_iter().map(Claim::try_from).collect()
}

/// A staff account and whether it is still active.
#[derive(Debug, Clone)]
pub struct StaffRecord {
    pub user: User,
    pub active: bool,
}

type StaffRow = (String, String, String, String, Option<String>, i64);

fn staff_record(
    (id, username, role, display_name, npi, active): StaffRow,
) -> Result<StaffRecord, StoreError> {
    Ok(StaffRecord {
        user: User {
            id: UserId::from_trusted(id),
            username,
            role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
            display_name,
            npi,
        },
        active: active != 0,
    })
}

/// A staff account by id, active or not.
#[tracing::instrument(skip_all)]
pub async fn get_staff(tx: &mut Tx, id: &UserId) -> Result<Option<StaffRecord>, StoreError> {
    let row: Option<StaffRow> = sqlx::query_as(
        "SELECT id, username, role, display_name, npi, CAST(active AS BIGINT) FROM users WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(staff_record).transpose()
}

/// Accounts of one role whose display name or username starts with `name`.
#[tracing::instrument(skip_all)]
pub async fn search_staff(
    tx: &mut Tx,
    role: Role,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<StaffRecord>, StoreError> {
    let rows: Vec<StaffRow> = sqlx::query_as(
        "SELECT id, username, role, display_name, npi, CAST(active AS BIGINT) FROM users
         WHERE role = $1 AND ($2 IS NULL OR lower(display_name) LIKE $2 ESCAPE '\\' OR lower(username) LIKE $2 ESCAPE '\\')
         ORDER BY display_name, id LIMIT $3",
    )
    .bind(role.as_str())
    .bind(name.map(like_prefix))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(staff_record).collect()
}

#[cfg(test)]
mod tests {
    use super::prefix_range;

    #[test]
    fn a_prefix_bounds_every_string_that_starts_with_it() {
        let (from, before) = prefix_range(" Load12 ").unwrap();
        assert_eq!((from.as_str(), before.as_str()), ("load12", "load13"));
        for name in ["load12", "load129", "load12zzz", "load12\u{10FFFF}"] {
            assert!(from.as_str() <= name && name < before.as_str(), "{name}");
        }
        for name in ["load11", "load13", "load1"] {
            assert!(!(from.as_str() <= name && name < before.as_str()), "{name}");
        }
        // The character after the last surrogate gap is found, not a surrogate.
        assert_eq!(prefix_range("a\u{D7FF}").unwrap().1, "a\u{E000}");
        assert_eq!(prefix_range("  "), None);
    }
}
