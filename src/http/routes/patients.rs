//! Patients: demographics and insurance.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ehr::{self, NewPatient, Patient};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Staff};
use crate::ids::PatientId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient, search_patients))
        .routes(routes!(get_patient))
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
}

/// CONTRACT: `GET /patients?name=` (staff).
#[utoipa::path(get, path = "/patients", tag = "patients", security(("bearer" = [])), params(PatientSearch),
    responses((status = 200, body = Vec<Patient>)))]
async fn search_patients(
    State(state): State<AppState>,
    staff: Staff,
    Query(search): Query<PatientSearch>,
) -> Result<Json<Vec<Patient>>, ApiError> {
    let name = search
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    Ok(Json(
        ehr::search_patients(&state.store, &staff.actor, name).await?,
    ))
}
