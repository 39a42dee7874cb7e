//! Claims: search, read, X12 837P export (one claim or a batch of every
//! ready claim), the status a biller records, and the fix-and-release of a
//! claim that waits in `needs_review`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use chrono::NaiveDate;

use crate::billing::correction::{self, Correction, Void};
use crate::billing::{
    self, Claim, ClaimBatch, ClaimDetail, ClaimFilter, ClaimId, ClaimStatus, QueuedClaim, Release,
    StatusChange, StatusCount,
};
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
        .routes(routes!(claim_counts))
        .routes(routes!(get_claim_detail))
        .routes(routes!(correct_claim))
        .routes(routes!(void_claim))
        .routes(routes!(list_batches))
        .routes(routes!(get_batch_x12))
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
    /// The payer's id, as on the claim.
    payer_id: Option<String>,
    /// Dates of service from and to, inclusive (`YYYY-MM-DD`).
    from: Option<String>,
    to: Option<String>,
    /// The start of the patient's given or family name, or of "given family".
    patient: Option<String>,
    /// At most this many claims (default and most 1000).
    limit: Option<i64>,
    /// Claims to skip, for the next page (default 0).
    offset: Option<i64>,
}

fn date(field: &'static str, value: Option<&str>) -> Result<Option<NaiveDate>, FieldError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| FieldError::new(field, "is not a date such as 2026-03-31"))
        })
        .transpose()
}

fn text(field: &'static str, value: Option<&str>) -> Result<Option<String>, FieldError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    if value.is_some_and(|v| v.chars().count() > 100) {
        return Err(FieldError::new(field, "is longer than 100 characters"));
    }
    Ok(value.map(str::to_owned))
}

impl ClaimSearch {
    fn filter(&self) -> Result<ClaimFilter, FieldError> {
        let filter = ClaimFilter {
            encounter_id: self
                .encounter_id
                .as_deref()
                .map(|id| {
                    EncounterId::parse(id)
                        .ok_or_else(|| FieldError::new("encounter_id", "is not an encounter id"))
                })
                .transpose()?,
            patient_id: self
                .patient_id
                .as_deref()
                .map(|id| {
                    PatientId::parse(id)
                        .ok_or_else(|| FieldError::new("patient_id", "is not a patient id"))
                })
                .transpose()?,
            status: self
                .status
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    ClaimStatus::parse(s)
                        .ok_or_else(|| FieldError::new("status", "is not a claim status"))
                })
                .transpose()?,
            payer_id: text("payer_id", self.payer_id.as_deref())?,
            from: date("from", self.from.as_deref())?,
            to: date("to", self.to.as_deref())?,
            patient_name: text("patient", self.patient.as_deref())?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(FieldError::new("to", "is before from"));
        }
        Ok(filter)
    }
}

/// CONTRACT: `GET /claims?encounter_id=&status=` (billing, admin); also by
/// payer, dates of service and patient name, paged by `limit` and
/// `offset`, oldest first. `X-Total-Count` tells how many match in all.
#[utoipa::path(get, path = "/claims", tag = "billing", security(("bearer" = [])), params(ClaimSearch),
    responses((status = 200, body = Vec<QueuedClaim>, headers(("x-total-count" = i64, description = "how many claims match"))),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_claims(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Query(search): Query<ClaimSearch>,
) -> Result<Response, ApiError> {
    let filter = search.filter()?;
    let limit = search.limit.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(FieldError::new("limit", "must be from 1 to 1000").into());
    }
    let offset = search.offset.unwrap_or(0);
    if offset < 0 {
        return Err(FieldError::new("offset", "must not be negative").into());
    }
    let page = billing::list_claims(&state.store, &staff.actor, &filter, limit, offset).await?;
    let mut response = Json(page.claims).into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(page.total),
    );
    Ok(response)
}

/// Most claims one page of `GET /claims` holds.
const MAX_PAGE: i64 = 1_000;

/// How many claims match the filters in each status; `status` is ignored
/// (billing, admin).
#[utoipa::path(get, path = "/claims/counts", tag = "billing", security(("bearer" = [])), params(ClaimSearch),
    responses((status = 200, body = Vec<StatusCount>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn claim_counts(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Query(search): Query<ClaimSearch>,
) -> Result<Json<Vec<StatusCount>>, ApiError> {
    let filter = search.filter()?;
    Ok(Json(
        billing::claim_counts(&state.store, &staff.actor, &filter).await?,
    ))
}

/// A claim with its patient's name, its diagnoses' descriptions and its
/// history of status changes (billing, admin).
#[utoipa::path(get, path = "/claims/{id}/detail", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ClaimDetail), (status = 404, body = Problem)))]
async fn get_claim_detail(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Path(id): Path<String>,
) -> Result<Json<ClaimDetail>, ApiError> {
    Ok(Json(
        billing::claim_detail(&state.store, &staff.actor, &claim_id(&id)?).await?,
    ))
}

/// Replaces a paid or denied claim with a corrected one (CLM05-3 `7`,
/// `REF*F8` naming the payer's claim), ready for the next batch (billing).
#[utoipa::path(post, path = "/claims/{id}/correct", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Correction,
    responses((status = 200, body = Claim), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn correct_claim(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Correction>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        correction::correct(
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

/// Voids a paid or denied claim (CLM05-3 `8`, `REF*F8`), ready for the
/// next batch (billing).
#[utoipa::path(post, path = "/claims/{id}/void", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Void,
    responses((status = 200, body = Claim), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn void_claim(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Void>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        correction::void(
            &state.store,
            &state.clock,
            &staff.actor,
            &claim_id(&id)?,
            &body,
        )
        .await?,
    ))
}

/// The 837P batches sent, newest first (billing, admin).
#[utoipa::path(get, path = "/claims/batches", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Vec<ClaimBatch>), (status = 403, body = Problem)))]
async fn list_batches(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
) -> Result<Json<Vec<ClaimBatch>>, ApiError> {
    Ok(Json(billing::batches(&state.store, &staff.actor).await?))
}

/// One batch's interchange again, as it was sent (billing, admin).
#[utoipa::path(get, path = "/claims/batches/{id}/x12", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)))]
async fn get_batch_x12(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("batch"))?;
    let text = billing::batch_x12(&state.store, &staff.actor, &id.to_string()).await?;
    Ok(x12_response(text))
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
/// and the batch kept (`X-Batch-Id`, `X-Claim-Count`) (billing); 204 when
/// none is ready.
#[utoipa::path(post, path = "/claims/batch", tag = "billing", security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String,
            headers(("x-batch-id" = String), ("x-claim-count" = i64))), (status = 204),
        (status = 409, body = Problem, description = "billing is not configured")))]
async fn export_claims(
    State(state): State<AppState>,
    staff: Staff<Billers>,
) -> Result<Response, ApiError> {
    match billing::export_ready(&state.store, &state.clock, &staff.actor, &state.billing).await? {
        Some((text, batch)) => {
            let mut response = x12_response(text);
            let headers = response.headers_mut();
            if let Ok(id) = HeaderValue::from_str(&batch.id) {
                headers.insert(HeaderName::from_static("x-batch-id"), id);
            }
            headers.insert(
                HeaderName::from_static("x-claim-count"),
                HeaderValue::from(batch.claim_count),
            );
            Ok(response)
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
