//! Patients: demographics and insurance.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::chart::{self, Ender};
use crate::ehr::{
    self, Allergy, Condition, EndAllergy, EndCondition, EndMedication, History, Medication,
    NewAllergy, NewCondition, NewMedication, NewPatient, Patient,
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
        .routes(routes!(end_allergy))
        .routes(routes!(end_medication))
        .routes(routes!(end_condition))
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

/// Ends an active allergy as inactive, resolved or entered-in-error
/// (clinician); a new FHIR version, audited as `allergy.end`.
#[utoipa::path(post, path = "/patients/{id}/allergies/{allergy_id}/end", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path), ("allergy_id" = String, Path)), request_body = EndAllergy,
    responses((status = 200, body = Allergy), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn end_allergy(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path((id, allergy_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndAllergy>,
) -> Result<Json<Allergy>, ApiError> {
    let base = super::fhir::base(&state);
    let who = ender(&state, &clinician, &base);
    Ok(Json(
        chart::end_allergy(&state.store, who, &patient_id(&id)?, &allergy_id, &body).await?,
    ))
}

/// Stops an active medication (clinician); a new FHIR version, audited
/// as `medication.end`.
#[utoipa::path(post, path = "/patients/{id}/medications/{medication_id}/end", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path), ("medication_id" = String, Path)), request_body = EndMedication,
    responses((status = 200, body = Medication), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn end_medication(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path((id, medication_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndMedication>,
) -> Result<Json<Medication>, ApiError> {
    let base = super::fhir::base(&state);
    let who = ender(&state, &clinician, &base);
    Ok(Json(
        chart::end_medication(&state.store, who, &patient_id(&id)?, &medication_id, &body).await?,
    ))
}

/// Resolves an active problem (clinician); a new FHIR version, audited
/// as `condition.end`.
#[utoipa::path(post, path = "/patients/{id}/conditions/{condition_id}/end", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path), ("condition_id" = String, Path)), request_body = EndCondition,
    responses((status = 200, body = Condition), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn end_condition(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path((id, condition_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndCondition>,
) -> Result<Json<Condition>, ApiError> {
    let base = super::fhir::base(&state);
    let who = ender(&state, &clinician, &base);
    Ok(Json(
        chart::end_condition(&state.store, who, &patient_id(&id)?, &condition_id, &body).await?,
    ))
}

fn ender<'a>(state: &AppState, clinician: &'a Staff<Clinicians>, base: &'a str) -> Ender<'a> {
    Ender {
        actor: &clinician.actor,
        user: &clinician.user.id,
        fhir_base: base,
        now: state.clock.now(),
    }
}

fn patient_id(id: &str) -> Result<PatientId, ApiError> {
    PatientId::parse(id).ok_or(ApiError::NotFound("patient"))
}
