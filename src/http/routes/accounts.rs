//! Patient accounts: charges, insurer payments, adjustments, patient
//! payments and the balance; billers record patient payments.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::{self, Account, AccountEntry, PatientPayment};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Billers, BillingStaff, Staff};
use crate::model::ids::PatientId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_account))
        .routes(routes!(record_patient_payment))
}

fn patient_id(id: &str) -> Result<PatientId, ApiError> {
    PatientId::parse(id).ok_or(ApiError::NotFound("patient"))
}

/// CONTRACT: `GET /patients/{id}/account` (billing, admin).
#[utoipa::path(get, path = "/patients/{id}/account", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Account), (status = 404, body = Problem)))]
async fn get_account(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        billing::account(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

/// Records a payment the patient made (billing).
#[utoipa::path(post, path = "/patients/{id}/account/payments", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatientPayment,
    responses((status = 201, body = AccountEntry), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn record_patient_payment(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatientPayment>,
) -> Result<(StatusCode, Json<AccountEntry>), ApiError> {
    let entry = billing::record_patient_payment(
        &state.store,
        &state.clock,
        &staff.actor,
        &patient_id(&id)?,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
