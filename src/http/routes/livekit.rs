//! LiveKit's webhooks, mounted at the root: the body is read as raw bytes
//! because its signature covers exactly those bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::media::livekit::{self, WebhookRejection};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_livekit_webhook))
}

/// CONTRACT: `POST /webhooks/livekit` (LiveKit, signed with the API secret).
#[utoipa::path(post, path = "/webhooks/livekit", tag = "media",
    request_body(content = String, content_type = "application/webhook+json", description = "A LiveKit WebhookEvent as protobuf JSON; `Authorization` carries LiveKit's JWT with the body's sha256"),
    responses((status = 200, description = "Recorded, or already seen"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn receive_livekit_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(lk) = state.livekit.as_deref() else {
        return Err(ApiError::NotFound("route"));
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let event = lk
        .verify_webhook(&body, authorization)
        .map_err(|rejection| match rejection {
            WebhookRejection::Unauthorized => ApiError::Unauthorized,
            WebhookRejection::Malformed => ApiError::Malformed(rejection.to_string()),
        })?;
    let digest = hex::encode(Sha256::digest(&body));
    livekit::apply_webhook(&state.store, &event, &digest, state.clock.now().millis()).await?;
    Ok(StatusCode::OK)
}
