//! Queries behind the FHIR facade's searches: each finds the ids of the
//! matching records (newest first, at most `limit`), which the callers then
//! read with the usual `get_*` functions; and the practitioners, who are
//! clinician accounts.

use super::{StoreError, Tx};
use crate::model::auth::{Role, User};
use crate::model::ids::{EncounterId, PatientId, UserId};

/// A bind value of a query built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE` clauses with numbered placeholders, and their values in order.
/// Column names come from this file only; values are always bound.
#[derive(Debug, Default)]
struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    fn next(&self) -> usize {
        self.args.len() + 1
    }

    fn text(&mut self, column: &str, op: &str, value: &str) {
        let n = self.next();
        self.clauses.push(format!("{column} {op} ${n}"));
        self.args.push(Arg::Text(value.to_owned()));
    }

    fn int(&mut self, expr: &str, op: &str, value: i64) {
        let n = self.next();
        self.clauses.push(format!("{expr} {op} ${n}"));
        self.args.push(Arg::Int(value));
    }

    /// `column IN (…)`; an empty list matches nothing.
    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.clauses.push("1 = 0".to_owned());
            return;
        }
        let start = self.next();
        let placeholders: Vec<String> = (start..start + values.len())
            .map(|n| format!("${n}"))
            .collect();
        self.clauses
            .push(format!("{column} IN ({})", placeholders.join(", ")));
        self.args.extend(values.iter().cloned().map(Arg::Text));
    }

    fn raw(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// Runs `SELECT id FROM {table} WHERE … ORDER BY {order} LIMIT limit`.
    async fn ids(
        self,
        tx: &mut Tx,
        table: &str,
        order: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let condition = if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" AND ")
        };
        let sql = format!(
            "SELECT id FROM {table} WHERE {condition} ORDER BY {order} LIMIT ${}",
            self.next()
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for arg in self.args {
            query = match arg {
                Arg::Text(value) => query.bind(value),
                Arg::Int(value) => query.bind(value),
            };
        }
        Ok(query.bind(limit).fetch_all(&mut **tx).await?)
    }
}

fn like_prefix(value: &str) -> String {
    let escaped = value
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
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

pub async fn fhir_patient_ids(
    tx: &mut Tx,
    query: &PatientQuery<'_>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut filter = Filter::default();
    if let Some(id) = query.only {
        filter.text("id", "=", id.as_str());
    }
    if let Some(name) = query.name {
        let n = filter.next();
        filter.clauses.push(format!(
            "(lower(family_name) LIKE ${n} ESCAPE '\\' OR lower(given_name) LIKE ${n} ESCAPE '\\')"
        ));
        filter.args.push(Arg::Text(like_prefix(name)));
    }
    // Dates are stored as `YYYY-MM-DD`, so text order is date order.
    if let Some(from) = &query.born_from {
        filter.text("birth_date", ">=", from);
    }
    if let Some(before) = &query.born_before {
        filter.text("birth_date", "<", before);
    }
    filter
        .ids(tx, "patients", "family_name, given_name, id", limit)
        .await
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

pub async fn fhir_encounter_ids(
    tx: &mut Tx,
    query: &EncounterQuery<'_>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    const END: &str = "COALESCE(period_end, 9223372036854775807)";
    let mut filter = Filter::default();
    if let Some(patient) = query.patient {
        filter.text("patient_id", "=", patient.as_str());
    }
    if let Some(statuses) = query.statuses {
        filter.any_of("status", statuses);
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
        filter.raw("period_start IS NOT NULL");
    }
    if let Some(v) = query.start_from {
        filter.int("period_start", ">=", v);
    }
    if let Some(v) = query.start_before {
        filter.int("period_start", "<", v);
    }
    if let Some(v) = query.end_from {
        filter.int(END, ">=", v);
    }
    if let Some(v) = query.end_before {
        filter.int(END, "<", v);
    }
    filter
        .ids(tx, "encounters", "created_at DESC, id", limit)
        .await
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

pub async fn fhir_observation_ids(
    tx: &mut Tx,
    query: &ObservationQuery<'_>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut filter = Filter::default();
    if let Some(patient) = query.patient {
        filter.text("patient_id", "=", patient.as_str());
    }
    if let Some(categories) = query.categories {
        filter.any_of("category", categories);
    }
    if let Some(codes) = query.codes {
        filter.any_of("code", codes);
    }
    filter
        .ids(tx, "observations", "effective_at DESC, id", limit)
        .await
}

pub async fn fhir_condition_ids(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    encounter: Option<&EncounterId>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut filter = Filter::default();
    if let Some(patient) = patient {
        filter.text("patient_id", "=", patient.as_str());
    }
    if let Some(encounter) = encounter {
        filter.text("encounter_id", "=", encounter.as_str());
    }
    filter
        .ids(tx, "conditions", "recorded_at DESC, rank, id", limit)
        .await
}

pub async fn fhir_allergy_ids(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut filter = Filter::default();
    if let Some(patient) = patient {
        filter.text("patient_id", "=", patient.as_str());
    }
    filter
        .ids(tx, "allergies", "recorded_at DESC, id", limit)
        .await
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
