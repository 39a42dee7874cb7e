//! Patient demographics and insurance.

use chrono::NaiveDate;

use super::{StoreError, Tx};
use crate::model::codes::PostalCode;
use crate::model::ids::PatientId;
use crate::model::patient::{Address, Insurance, NewPatient, Patient, Sex};
use crate::model::timestamp::Timestamp;
use crate::model::validation::Text;

pub(super) const COLUMNS: &str = "id, mrn, given_name, family_name, birth_date, sex, email, phone,
    address_line, address_city, address_state, address_postal_code,
    payer_id, payer_name, member_id, group_number, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct PatientRow {
    id: String,
    mrn: String,
    given_name: String,
    family_name: String,
    birth_date: String,
    sex: String,
    email: Option<String>,
    phone: Option<String>,
    address_line: Option<String>,
    address_city: Option<String>,
    address_state: Option<String>,
    address_postal_code: Option<String>,
    payer_id: Option<String>,
    payer_name: Option<String>,
    member_id: Option<String>,
    group_number: Option<String>,
    created_at: i64,
}

impl TryFrom<PatientRow> for Patient {
    type Error = StoreError;

    fn try_from(row: PatientRow) -> Result<Self, StoreError> {
        let text = |v: String, what| Text::parse(&v).map_err(|_| StoreError::Corrupt(what));
        let address = match (
            row.address_line,
            row.address_city,
            row.address_state,
            row.address_postal_code,
        ) {
            (Some(line), Some(city), Some(state), Some(postal)) => Some(Address {
                line: text(line, "patients.address_line")?,
                city: text(city, "patients.address_city")?,
                state: text(state, "patients.address_state")?,
                postal_code: PostalCode::parse(&postal)
                    .map_err(|_| StoreError::Corrupt("patients.postal_code"))?,
            }),
            _ => None,
        };
        let insurance = match (row.payer_id, row.payer_name, row.member_id) {
            (Some(payer_id), Some(payer_name), Some(member_id)) => Some(Insurance {
                payer_id: text(payer_id, "patients.payer_id")?,
                payer_name: text(payer_name, "patients.payer_name")?,
                member_id: text(member_id, "patients.member_id")?,
                group_number: row
                    .group_number
                    .map(|g| text(g, "patients.group_number"))
                    .transpose()?,
            }),
            _ => None,
        };
        Ok(Patient {
            id: PatientId::from_trusted(row.id),
            mrn: row.mrn,
            given_name: row.given_name,
            family_name: row.family_name,
            birth_date: NaiveDate::parse_from_str(&row.birth_date, "%Y-%m-%d")
                .map_err(|_| StoreError::Corrupt("patients.birth_date"))?,
            sex: Sex::parse(&row.sex).ok_or(StoreError::Corrupt("patients.sex"))?,
            email: row.email,
            phone: row.phone,
            address,
            insurance,
            created_at: Timestamp(row.created_at),
        })
    }
}

/// Stores a new patient with the next medical record number.
#[tracing::instrument(skip_all)]
pub async fn insert_patient(
    tx: &mut Tx,
    new: &NewPatient,
    at: Timestamp,
) -> Result<Patient, StoreError> {
    let number = super::take_number(tx, super::Counter::Mrn).await?;
    let id = PatientId::new();
    let now = at.millis();
    let address = new.address.as_ref();
    let insurance = new.insurance.as_ref();
    sqlx::query(
        "INSERT INTO patients (id, mrn, given_name, family_name, birth_date, sex, email, phone,
            address_line, address_city, address_state, address_postal_code,
            payer_id, payer_name, member_id, group_number, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
    )
    .bind(id.as_str())
    .bind(format!("MRN{number:07}"))
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
    .bind(insurance.map(|i| i.payer_id.as_str().to_owned()))
    .bind(insurance.map(|i| i.payer_name.as_str().to_owned()))
    .bind(insurance.map(|i| i.member_id.as_str().to_owned()))
    .bind(
        insurance
            .and_then(|i| i.group_number.as_ref())
            .map(|g| g.as_str().to_owned()),
    )
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "medical record number"))?;
    get_patient(tx, &id)
        .await?
        .ok_or(StoreError::Corrupt("patient vanished after insert"))
}

#[tracing::instrument(skip_all)]
pub async fn get_patient(tx: &mut Tx, id: &PatientId) -> Result<Option<Patient>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM patients WHERE id = $1"));
    let row: Option<PatientRow> = sqlx::query_as(sql)
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Patient::try_from).transpose()
}

/// Patients whose given or family name starts with `name` (any case), at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn search_patients(
    tx: &mut Tx,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<Patient>, StoreError> {
    let pattern = name.map(|n| format!("{}%", escape_like(&n.trim().to_lowercase())));
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM patients
         WHERE $1 IS NULL OR lower(family_name) LIKE $1 ESCAPE '\\' OR lower(given_name) LIKE $1 ESCAPE '\\'
         ORDER BY family_name, given_name, id LIMIT $2"
    ));
    let rows: Vec<PatientRow> = sqlx::query_as(sql)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Patient::try_from).collect()
}

fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Replaces a patient's demographics, contact and insurance; `None` when
/// there is no such patient. The record number stays.
#[tracing::instrument(skip_all)]
pub async fn update_patient(
    tx: &mut Tx,
    id: &PatientId,
    new: &NewPatient,
    at: Timestamp,
) -> Result<Option<Patient>, StoreError> {
    let address = new.address.as_ref();
    let insurance = new.insurance.as_ref();
    let done = sqlx::query(
        "UPDATE patients SET given_name = $2, family_name = $3, birth_date = $4, sex = $5,
            email = $6, phone = $7, address_line = $8, address_city = $9, address_state = $10,
            address_postal_code = $11, payer_id = $12, payer_name = $13, member_id = $14,
            group_number = $15, updated_at = $16
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
    .bind(insurance.map(|i| i.payer_id.as_str().to_owned()))
    .bind(insurance.map(|i| i.payer_name.as_str().to_owned()))
    .bind(insurance.map(|i| i.member_id.as_str().to_owned()))
    .bind(
        insurance
            .and_then(|i| i.group_number.as_ref())
            .map(|g| g.as_str().to_owned()),
    )
    .bind(at.millis())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get_patient(tx, id).await
}

/// What the front desk searches patients by; every given part must match.
#[derive(Debug, Clone, Default)]
pub struct PatientLookup {
    /// The start of a given or family name, or of "given family".
    pub name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// The whole medical record number, any case.
    pub mrn: Option<String>,
}

/// Patients matching every part of `query`, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn find_patients(
    tx: &mut Tx,
    query: &PatientLookup,
    limit: i64,
) -> Result<Vec<Patient>, StoreError> {
    let mut sql = super::sql::Sql::new("SELECT ");
    sql.push(
        "id, mrn, given_name, family_name, birth_date, sex, email, phone,
        address_line, address_city, address_state, address_postal_code,
        payer_id, payer_name, member_id, group_number, created_at FROM patients WHERE 1 = 1",
    );
    if let Some(name) = query
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let pattern = format!("{}%", escape_like(&name.to_lowercase()));
        sql.push(" AND (lower(family_name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(given_name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(given_name || ' ' || family_name) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(date) = query.birth_date {
        sql.push(" AND birth_date = ")
            .push_bind(date.format("%Y-%m-%d").to_string());
    }
    if let Some(mrn) = query
        .mrn
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        sql.push(" AND mrn = ").push_bind(mrn.to_ascii_uppercase());
    }
    sql.push(" ORDER BY family_name, given_name, id LIMIT ")
        .push_bind(limit);
    let rows: Vec<PatientRow> = sql.fetch_all(tx).await?;
    rows.into_iter().map(Patient::try_from).collect()
}

/// Patients with exactly this name (any case), birth date and one of these
/// contacts: who a self-booking is matched to.
#[tracing::instrument(skip_all)]
pub async fn match_patient(
    tx: &mut Tx,
    given: &str,
    family: &str,
    birth_date: NaiveDate,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Vec<Patient>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM patients
         WHERE lower(given_name) = $1 AND lower(family_name) = $2 AND birth_date = $3
           AND ((email IS NOT NULL AND lower(email) = $4) OR (phone IS NOT NULL AND phone = $5))
         ORDER BY created_at, id LIMIT 5"
    ));
    let rows: Vec<PatientRow> = sqlx::query_as(sql)
        .bind(given.trim().to_lowercase())
        .bind(family.trim().to_lowercase())
        .bind(birth_date.format("%Y-%m-%d").to_string())
        .bind(email.map(str::to_lowercase))
        .bind(phone.map(str::to_owned))
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Patient::try_from).collect()
}
