//! Billing reports: the aging of what is still owed, by payer.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::billing::aging::{self, AgingReport};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{BillingStaff, Staff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_aging))
}

/// What is still owed on coded claims by payer, in 0–30, 31–60, 61–90 and
/// 90+ days since the date of service (billing, admin).
#[utoipa::path(get, path = "/reports/aging", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = AgingReport), (status = 403, body = Problem)))]
async fn get_aging(
    State(state): State<AppState>,
    staff: Staff<BillingStaff>,
) -> Result<Json<AgingReport>, ApiError> {
    Ok(Json(
        aging::report(&state.store, &state.clock, &staff.actor).await?,
    ))
}
