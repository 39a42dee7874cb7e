//! Claims: search, read, X12 837P export (one claim or a batch of every
//! ready claim), the status a biller records, and the fix-and-release of a
//! claim that waits in `needs_review`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::{self, Claim, ClaimFilter, ClaimId, ClaimStatus, Release, StatusChange};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Billers, BillingStaff, Staff};
use crate::model::ids::{EncounterId, PatientId};
use crate::model::validation::FieldError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_claims))
        .routes(routes!(get_claim))
        .routes(routes!(get_claim_x12))
        .routes(routes!(change_claim_status))
        .routes(routes!(release_claim))
        .routes(routes!(export_claims))
}

fn claim_id(id: &str) -> Result<ClaimId, ApiError> {
    ClaimId::parse(id).ok_or(ApiError::NotFound("claim"))
}

fn x12_response(text: String) -> Response {
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClaimSearch {
    encounter_id: Option<String>,
    patient_id: Option<String>,
    /// `needs_review`, `ready`, `submitted`, `accepted`, `rejected`, `paid` or `denied`.
    status: Option<String>,
}

/// CONTRACT: `GET /claims?encounter_id=&status=` (billing, admin).
#[utoipa::path(get, path = "/claims", tag = "billing", security(("bearer" = [])), params(ClaimSearch),
    responses((status = 200, body = Vec<Claim>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_claims(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Query(search): Query<ClaimSearch>,
) -> Result<Json<Vec<Claim>>, ApiError> {
    let filter = ClaimFilter {
        encounter_id: search
            .encounter_id
            .as_deref()
            .map(|id| {
                EncounterId::parse(id)
                    .ok_or_else(|| FieldError::new("encounter_id", "is not an encounter id"))
            })
            .transpose()?,
        patient_id: search
            .patient_id
            .as_deref()
            .map(|id| {
                PatientId::parse(id)
                    .ok_or_else(|| FieldError::new("patient_id", "is not a patient id"))
            })
            .transpose()?,
        status: search
            .status
            .as_deref()
            .map(|s| {
                ClaimStatus::parse(s)
                    .ok_or_else(|| FieldError::new("status", "is not a claim status"))
            })
            .transpose()?,
    };
    Ok(Json(
        billing::list_claims(&state.store, &staff.actor, &filter).await?,
    ))
}

/// CONTRACT: `GET /claims/{id}` (billing, admin).
#[utoipa::path(get, path = "/claims/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Claim), (status = 404, body = Problem)))]
async fn get_claim(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Path(id): Path<String>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        billing::read_claim(&state.store, &staff.actor, &claim_id(&id)?).await?,
    ))
}

/// CONTRACT: `GET /claims/{id}/x12` (billing, admin): one X12 837P 5010 interchange.
#[utoipa::path(get, path = "/claims/{id}/x12", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the claim needs review or billing is not configured")))]
async fn get_claim_x12(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text =
        billing::claim_x12(&state.store, &staff.actor, &state.billing, &claim_id(&id)?).await?;
    Ok(x12_response(text))
}

/// CONTRACT: `POST /claims/{id}/status` (billing).
#[utoipa::path(post, path = "/claims/{id}/status", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = StatusChange,
    responses((status = 200, body = Claim), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn change_claim_status(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusChange>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        billing::change_status(
            &state.store,
            &state.clock,
            &staff.actor,
            &claim_id(&id)?,
            &body,
        )
        .await?,
    ))
}

/// A biller fixes a claim in `needs_review` (lines, or coding again under
/// the current configuration) and releases it as `ready` (billing).
#[utoipa::path(post, path = "/claims/{id}/release", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Release,
    responses((status = 200, body = Claim), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn release_claim(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Release>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        billing::release(
            &state.store,
            &state.clock,
            &staff.actor,
            &state.billing,
            &claim_id(&id)?,
            &body,
        )
        .await?,
    ))
}

/// Every ready claim in one X12 837P interchange, each marked `submitted`
/// (billing); 204 when none is ready.
#[utoipa::path(post, path = "/claims/batch", tag = "billing", security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 204),
        (status = 409, body = Problem, description = "billing is not configured")))]
async fn export_claims(
    State(state): State<AppState>,
    staff: Staff<Billers>,
) -> Result<Response, ApiError> {
    match billing::export_ready(&state.store, &state.clock, &staff.actor, &state.billing).await? {
        Some((text, _)) => Ok(x12_response(text)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
