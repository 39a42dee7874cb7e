//! What the payer says of claims sent: a claim-status inquiry (X12 276
//! through the clearinghouse, its 277 moving the claim) and the 999
//! acknowledgements of 837P batches.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::ClaimId;
use crate::billing::inquiries::{self, AcknowledgementResult, StatusInquiryResult};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Billers, Staff};
use crate::http::routes::eligibility::clearinghouse;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inquire_claim_status))
        .routes(routes!(receive_acknowledgement))
}

/// Asks the payer where a submitted claim stands (X12 276 through the
/// clearinghouse); the 277's status category moves the claim (A2 accepted,
/// A3/A6/A7/A8 rejected, F1 paid, F2 denied; A1, F4 and P* are noted in its
/// history) (billing). 409 before submission; 502 when the clearinghouse
/// fails or its answer does not answer this claim.
#[utoipa::path(post, path = "/claims/{id}/status-inquiry", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = StatusInquiryResult), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 502, body = Problem)))]
async fn inquire_claim_status(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    Path(id): Path<String>,
) -> Result<Json<StatusInquiryResult>, ApiError> {
    let claim = ClaimId::parse(&id).ok_or(ApiError::NotFound("claim"))?;
    let clearinghouse = clearinghouse(&state)?;
    Ok(Json(
        inquiries::inquire_claim_status(
            &state.store,
            &state.clock,
            &staff.actor,
            &state.billing,
            &clearinghouse,
            &claim,
        )
        .await?,
    ))
}

/// Reads an X12 999 (the body, as text), ties it to the 837P batch whose
/// GS06 its AK102 names, and moves each claim of the batch to accepted
/// (IK5 `A`/`E`) or rejected (`R`/`M`/`W`/`X`, with the errors) (billing).
/// 422 when it is not a 999 or names no batch sent.
#[utoipa::path(post, path = "/acknowledgements", tag = "billing", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 201, body = AcknowledgementResult), (status = 422, body = Problem)))]
async fn receive_acknowledgement(
    State(state): State<AppState>,
    staff: Staff<Billers>,
    body: Bytes,
) -> Result<(axum::http::StatusCode, Json<AcknowledgementResult>), ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::Malformed("the acknowledgement is not UTF-8 text".to_owned()))?;
    let result =
        inquiries::receive_acknowledgement(&state.store, &state.clock, &staff.actor, text).await?;
    Ok((axum::http::StatusCode::CREATED, Json(result)))
}
