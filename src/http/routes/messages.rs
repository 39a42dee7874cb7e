//! The chat of a visit's call, kept in its record.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::Caller;
use crate::model::ids::VisitId;
use crate::state::AppState;
use crate::visits::chat::{self, VisitMessage};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_messages))
}

/// `GET /visits/{id}/messages` (the visit's patient, its clinician, admin):
/// the messages sent in the visit's call, oldest first.
#[utoipa::path(get, path = "/visits/{id}/messages", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [VisitMessage]), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<VisitMessage>>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    Ok(Json(
        chat::read(&state.store, &caller.actor, &caller.principal, &id).await?,
    ))
}
