//! Eligibility: before a visit, a scheduler or biller asks the patient's
//! payer (X12 270 through the clearinghouse) and the 271's answer is kept
//! on the visit.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::clearinghouse::{ClearinghouseError, HttpClearinghouse};
use crate::billing::inquiries::{self, EligibilityCheck};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{RoleSet, Staff};
use crate::model::auth::Role;
use crate::model::ids::VisitId;
use crate::state::AppState;

/// Who checks eligibility: schedulers book, billers bill, admins both.
#[derive(Debug)]
pub struct EligibilityCheckers;
impl RoleSet for EligibilityCheckers {
    const ROLES: &'static [Role] = &[Role::Scheduler, Role::Billing, Role::Admin];
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_eligibility, get_eligibility))
}

fn visit_id(id: &str) -> Result<VisitId, ApiError> {
    VisitId::parse(id).ok_or(ApiError::NotFound("visit"))
}

/// The configured clearinghouse adapter, or 409 when none is.
pub fn clearinghouse(state: &AppState) -> Result<HttpClearinghouse, ApiError> {
    state
        .billing
        .clearinghouse
        .as_ref()
        .map(HttpClearinghouse::new)
        .ok_or_else(|| crate::billing::BillingError::from(ClearinghouseError::NotConfigured).into())
}

/// Asks the patient's payer whether the visit is covered (X12 270 through
/// the clearinghouse) and keeps the 271's answer on the visit (scheduler,
/// billing, admin). 409 without insurance, billing config or a
/// clearinghouse; 502 when the clearinghouse fails or answers nonsense.
#[utoipa::path(post, path = "/visits/{id}/eligibility", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EligibilityCheck), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 502, body = Problem)))]
async fn check_eligibility(
    State(state): State<AppState>,
    staff: Staff<EligibilityCheckers>,
    Path(id): Path<String>,
) -> Result<Json<EligibilityCheck>, ApiError> {
    let visit = visit_id(&id)?;
    let clearinghouse = clearinghouse(&state)?;
    Ok(Json(
        inquiries::check_eligibility(
            &state.store,
            &state.clock,
            &staff.actor,
            &state.billing,
            &clearinghouse,
            &visit,
        )
        .await?,
    ))
}

/// The visit's latest eligibility answer (scheduler, billing, admin); 404
/// when none was asked.
#[utoipa::path(get, path = "/visits/{id}/eligibility", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EligibilityCheck), (status = 404, body = Problem)))]
async fn get_eligibility(
    State(state): State<AppState>,
    staff: Staff<EligibilityCheckers>,
    Path(id): Path<String>,
) -> Result<Json<EligibilityCheck>, ApiError> {
    inquiries::last_eligibility(&state.store, &staff.actor, &visit_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("eligibility check for this visit"))
}
