//! The clinician lets the patient share its screen in a LiveKit call.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Clinicians, Staff};
use crate::media::livekit::LiveKitError;
use crate::media::screen_share::{self, ScreenShareError};
use crate::model::ids::VisitId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_screen_share))
}

/// Whether the patient may share its screen.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenShare {
    pub allowed: bool,
}

/// `PUT /visits/{id}/screen-share` (the visit's clinician, during the
/// consult, in LiveKit mode): the patient's screen-share permission in the
/// visit's room.
#[utoipa::path(put, path = "/visits/{id}/screen-share", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ScreenShare,
    responses((status = 204, description = "LiveKit took the permission"), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the visit is not in consult, calls are peer-to-peer, or the patient is not in the room", body = Problem),
        (status = 422, body = Problem),
        (status = 503, description = "LiveKit cannot be reached now; `Retry-After` says when to try again", body = Problem)))]
async fn set_screen_share(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScreenShare>,
) -> Result<StatusCode, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    screen_share::set_patient_screen_share(
        &state.store,
        state.livekit.as_deref(),
        &clinician.user,
        &clinician.actor,
        &id,
        body.allowed,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<ScreenShareError> for ApiError {
    fn from(error: ScreenShareError) -> Self {
        match error {
            ScreenShareError::NotFound => Self::NotFound("visit"),
            ScreenShareError::Forbidden => Self::Forbidden,
            e @ (ScreenShareError::NotInConsult(_)
            | ScreenShareError::PeerToPeer
            | ScreenShareError::PatientAbsent) => Self::Conflict(e.to_string()),
            ScreenShareError::LiveKit(LiveKitError::Unreachable) => Self::Unavailable(
                "group video cannot be reached right now; try again in a few seconds",
            ),
            ScreenShareError::LiveKit(e) => Self::internal(e),
            ScreenShareError::Store(e) => e.into(),
        }
    }
}
