//! The pre-call check: the patient's browser against the server's own peer.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Caller};
use crate::media::precall::{self, Offer, PreCallError, PreCallResult, Started};
use crate::model::ids::VisitId;
use crate::model::validation::FieldError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_check, latest_check))
}

/// Starts a check: the browser's offer (all candidates gathered) in, the
/// server's answer out. The result arrives on the `precall-control` data
/// channel and is stored on the visit. The visit's patient only, before
/// the consult; 429 while this visit's previous check still runs; 503
/// while the server runs as many checks as it allows.
#[utoipa::path(post, path = "/visits/{id}/precall", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Offer,
    responses((status = 201, body = Started), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, description = "This visit's previous check is still running; `Retry-After` says when to try again", body = Problem),
        (status = 503, body = Problem)))]
async fn start_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(offer): ApiJson<Offer>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    let started = state
        .precall
        .start(&caller.principal, caller.actor, &id, offer)
        .await
        .map_err(precall_error)?;
    Ok((StatusCode::CREATED, Json(started)))
}

fn precall_error(error: PreCallError) -> ApiError {
    match error {
        PreCallError::NotFound => ApiError::NotFound("visit"),
        PreCallError::Forbidden => ApiError::Forbidden,
        PreCallError::WrongState(_) => ApiError::Conflict(error.to_string()),
        PreCallError::BadOffer(field, message) => FieldError::new(field, message).into(),
        PreCallError::AlreadyRunning => ApiError::TooManyRequests {
            detail: format!(
                "{error} (within {} seconds)",
                precall::RETRY_AFTER.as_secs()
            ),
            retry_after: precall::RETRY_AFTER.as_secs(),
        },
        PreCallError::Busy => {
            ApiError::Unavailable("too many pre-call checks are running; try again shortly")
        }
        PreCallError::Peer(_) => ApiError::internal(error),
        PreCallError::Store(e) => e.into(),
    }
}

/// The visit's latest check: its patient, and the staff who run or take
/// the queue (clinicians, schedulers, admins). 404 until a check finished.
#[utoipa::path(get, path = "/visits/{id}/precall", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PreCallResult), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn latest_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PreCallResult>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    let allowed = match &caller.principal {
        Principal::Patient { visit_id, .. } => *visit_id == id,
        Principal::Staff(user) => user.role != Role::Billing,
        Principal::Guest { .. } | Principal::App(_) => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden);
    }
    precall::latest(&state.store, &caller.actor, &id)
        .await
        .map_err(precall_error)?
        .map(Json)
        .ok_or(ApiError::NotFound("pre-call check"))
}
