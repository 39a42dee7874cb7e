//! Remittances: an X12 835 posted by a biller, paying and adjusting the
//! claims it names.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::{self, RemittanceHold, RemittanceResult};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Billers, BillingStaff, Staff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_remittance))
        .routes(routes!(list_remittance_holds))
}

/// Imports an X12 835 (the body, as text): payments and adjustments go to
/// the matching claims and accounts; a trace number already imported is
/// 409, a file that does not balance 422; answers that match no open claim
/// or do not balance or fit their claim are held for review (billing).
#[utoipa::path(post, path = "/remittances", tag = "billing", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 201, body = RemittanceResult), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn import_remittance(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    body: Bytes,
) -> Result<(axum::http::StatusCode, Json<RemittanceResult>), ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::Malformed("the remittance is not UTF-8 text".to_owned()))?;
    let result = billing::import_remittance(&state.store, &state.clock, &staff.actor, text).await?;
    Ok((axum::http::StatusCode::CREATED, Json(result)))
}

/// What remittances could not post, waiting for a biller (billing, admin).
#[utoipa::path(get, path = "/remittances/holds", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Vec<RemittanceHold>), (status = 403, body = Problem)))]
async fn list_remittance_holds(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
) -> Result<Json<Vec<RemittanceHold>>, ApiError> {
    Ok(Json(
        billing::remittance_holds(&state.store, &staff.actor).await?,
    ))
}
