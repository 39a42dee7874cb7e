//! Patients: demographics and insurance.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ehr::{
    self, Allergy, Condition, History, Medication, NewAllergy, NewCondition, NewMedication,
    NewPatient, Patient,
};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ChartReaders, Clinicians, Staff, VisitCreators};
use crate::model::ids::PatientId;
use crate::model::validation::FieldError;
use crate::schedule::{self, CalendarEntry};
use crate::state::AppState;
use crate::store::PatientLookup;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient, search_patients))
        .routes(routes!(get_patient, update_patient))
        .routes(routes!(patient_visits))
        .routes(routes!(add_allergy, list_allergies))
        .routes(routes!(add_medication, list_medications))
        .routes(routes!(add_condition, list_conditions))
        .routes(routes!(patient_history))
}

/// CONTRACT: `POST /patients` (staff).
#[utoipa::path(post, path = "/patients", tag = "patients", security(("bearer" = [])), request_body = NewPatient,
    responses((status = 201, body = Patient), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_patient(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(body): ApiJson<NewPatient>,
) -> Result<(StatusCode, Json<Patient>), ApiError> {
    let patient = ehr::create_patient(&state.store, &staff.actor, &body).await?;
    Ok((StatusCode::CREATED, Json(patient)))
}

/// CONTRACT: `GET /patients/{id}` (staff).
#[utoipa::path(get, path = "/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = Patient), (status = 404, body = Problem)))]
async fn get_patient(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<Patient>, ApiError> {
    let id = PatientId::parse(&id).ok_or(ApiError::NotFound("patient"))?;
    Ok(Json(
        ehr::read_patient(&state.store, &staff.actor, &id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PatientSearch {
    /// The start of a given or family name.
    name: Option<String>,
    /// `YYYY-MM-DD`.
    birth_date: Option<String>,
    /// The whole medical record number.
    mrn: Option<String>,
    /// One search box: a birth date `YYYY-MM-DD`, a record number `MRN…`,
    /// or the start of a name.
    q: Option<String>,
}

impl PatientSearch {
    /// The front desk's query, when anything beyond `name` is asked.
    fn front_desk(&self) -> Result<Option<PatientLookup>, ApiError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (q, birth, mrn) = (given(&self.q), given(&self.birth_date), given(&self.mrn));
        if q.is_none() && birth.is_none() && mrn.is_none() {
            return Ok(None);
        }
        let date = |field: &'static str, v: &str| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::from(FieldError::new(field, "must be a date YYYY-MM-DD")))
        };
        let mut query = PatientLookup {
            name: given(&self.name),
            birth_date: birth
                .as_deref()
                .map(|b| date("birth_date", b))
                .transpose()?,
            mrn,
        };
        if let Some(q) = q {
            if let Ok(day) = chrono::NaiveDate::parse_from_str(&q, "%Y-%m-%d") {
                query.birth_date = Some(day);
            } else if q.len() > 3 && q[..3].eq_ignore_ascii_case("mrn") {
                query.mrn = Some(q);
            } else {
                query.name = Some(q);
            }
        }
        Ok(Some(query))
    }
}

/// CONTRACT: `GET /patients?name=` (staff); also by `birth_date`, `mrn`
/// or one search box `q`.
#[utoipa::path(get, path = "/patients", tag = "patients", security(("bearer" = [])), params(PatientSearch),
    responses((status = 200, body = Vec<Patient>), (status = 422, body = Problem)))]
async fn search_patients(
    State(state): State<AppState>,
    staff: Staff,
    Query(search): Query<PatientSearch>,
) -> Result<Json<Vec<Patient>>, ApiError> {
    if let Some(query) = search.front_desk()? {
        return Ok(Json(
            ehr::find_patients(&state.store, &staff.actor, &query).await?,
        ));
    }
    let name = search
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    Ok(Json(
        ehr::search_patients(&state.store, &staff.actor, name).await?,
    ))
}

/// Corrects a patient's demographics, contact or insurance (scheduler,
/// clinician, admin); the whole record is sent, as at registration.
#[utoipa::path(put, path = "/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")), request_body = NewPatient,
    responses((status = 200, body = Patient), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_patient(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewPatient>,
) -> Result<Json<Patient>, ApiError> {
    Ok(Json(
        ehr::update_patient(&state.store, &staff.actor, &patient_id(&id)?, &body).await?,
    ))
}

/// A patient's visits, newest first, with time, reason and status
/// (scheduler, clinician, admin).
#[utoipa::path(get, path = "/patients/{id}/visits", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = Vec<CalendarEntry>), (status = 404, body = Problem)))]
async fn patient_visits(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<Vec<CalendarEntry>>, ApiError> {
    let id = patient_id(&id)?;
    ehr::read_patient(&state.store, &staff.actor, &id).await?;
    let mut visits = schedule::patient_visits(&state.store, &staff.actor, &id).await?;
    visits.reverse();
    Ok(Json(visits))
}

/// CONTRACT: `POST /patients/{id}/allergies` (clinician).
#[utoipa::path(post, path = "/patients/{id}/allergies", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewAllergy,
    responses((status = 201, body = Allergy), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_allergy(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewAllergy>,
) -> Result<(StatusCode, Json<Allergy>), ApiError> {
    let allergy = ehr::add_allergy(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user.id,
        &patient_id(&id)?,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(allergy)))
}

/// The patient's allergies (who reads the chart: clinician, admin).
#[utoipa::path(get, path = "/patients/{id}/allergies", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<Allergy>), (status = 403, body = Problem)))]
async fn list_allergies(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Allergy>>, ApiError> {
    Ok(Json(
        ehr::allergies(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

/// CONTRACT: `POST /patients/{id}/medications` (clinician).
#[utoipa::path(post, path = "/patients/{id}/medications", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewMedication,
    responses((status = 201, body = Medication), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_medication(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewMedication>,
) -> Result<(StatusCode, Json<Medication>), ApiError> {
    let medication = ehr::add_medication(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user.id,
        &patient_id(&id)?,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(medication)))
}

/// The patient's medications (who reads the chart: clinician, admin).
#[utoipa::path(get, path = "/patients/{id}/medications", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<Medication>), (status = 403, body = Problem)))]
async fn list_medications(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Medication>>, ApiError> {
    Ok(Json(
        ehr::medications(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

/// A problem-list condition (clinician).
#[utoipa::path(post, path = "/patients/{id}/conditions", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewCondition,
    responses((status = 201, body = Condition), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_condition(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCondition>,
) -> Result<(StatusCode, Json<Condition>), ApiError> {
    let condition = ehr::add_condition(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user.id,
        &patient_id(&id)?,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(condition)))
}

/// The patient's conditions, problem list and diagnoses (who reads the chart: clinician, admin).
#[utoipa::path(get, path = "/patients/{id}/conditions", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<Condition>), (status = 403, body = Problem)))]
async fn list_conditions(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Condition>>, ApiError> {
    Ok(Json(
        ehr::conditions(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

/// The chart beside the call: encounters, notes, vitals, diagnoses, allergies, medications (clinician, admin).
#[utoipa::path(get, path = "/patients/{id}/history", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = History), (status = 403, body = Problem)))]
async fn patient_history(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    Ok(Json(
        ehr::history(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

fn patient_id(id: &str) -> Result<PatientId, ApiError> {
    PatientId::parse(id).ok_or(ApiError::NotFound("patient"))
}
