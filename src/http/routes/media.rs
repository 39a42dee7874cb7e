//! How a visit's participants connect their call.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::GuestOrCaller;
use crate::media::livekit::LiveKitError;
use crate::media::{self, MediaError, MediaPlan};
use crate::model::ids::VisitId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_media))
}

/// CONTRACT: `GET /visits/{id}/media` (the visit's participants).
#[utoipa::path(get, path = "/visits/{id}/media", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MediaPlan), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "LiveKit (group video) or the store cannot be reached now; `Retry-After` says when to try again", body = Problem)))]
async fn get_media(
    State(state): State<AppState>,
    GuestOrCaller(caller): GuestOrCaller,
    Path(id): Path<String>,
) -> Result<Json<MediaPlan>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    let livekit = state.livekit.as_deref();
    media::plan_for(
        &state.store,
        &state.clock,
        &state.ice,
        livekit,
        &caller.principal,
        &caller.actor,
        &id,
    )
    .await
    .map(Json)
    .map_err(|error| match error {
        MediaError::NotFound => ApiError::NotFound("visit"),
        MediaError::Forbidden => ApiError::Forbidden,
        MediaError::Store(e) => e.into(),
        MediaError::LiveKit(LiveKitError::Unreachable) => ApiError::Unavailable(
            "group video cannot be reached right now; try again in a few seconds",
        ),
        MediaError::LiveKit(e) => ApiError::internal(e),
    })
}
