//! Call quality: the measured call of a visit, and the operations view.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Data};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, Caller, Staff};
use crate::model::ids::VisitId;
use crate::model::validation::FieldError;
use crate::quality::operations::{self, OperationsReport};
use crate::quality::{self, MeasuredCall};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_call))
        .routes(routes!(get_operations))
}

/// The call as the participants' quality summaries measured it: real start
/// and end, connected and audio-only minutes, relay path, grades. Staff who
/// read encounters, and the visit's patient.
#[utoipa::path(get, path = "/visits/{id}/call", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MeasuredCall), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MeasuredCall>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    if !access::may_read_visit(&caller.principal, Data::Encounters, &id) {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(
        quality::measured_call(&state.store, &caller.actor, &id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OperationsQuery {
    /// Days up to today (UTC), 1–90; default 14.
    days: Option<i64>,
}

/// Across admitted visits, per UTC day and in total: connect success rate,
/// admit→connected p50/p95, shares relayed through TURN and degraded to
/// audio-only (admin). No health data: counts and durations only.
#[utoipa::path(get, path = "/admin/operations", tag = "admin", security(("bearer" = [])), params(OperationsQuery),
    responses((status = 200, body = OperationsReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn get_operations(
    State(state): State<AppState>,
    _admin: Staff<Admins>,
    Query(query): Query<OperationsQuery>,
) -> Result<Json<OperationsReport>, ApiError> {
    let days = query.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(FieldError::new("days", "must be from 1 to 90").into());
    }
    Ok(Json(
        operations::report(&state.store, state.clock.now(), days).await?,
    ))
}
