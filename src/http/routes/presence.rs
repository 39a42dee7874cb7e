//! Who is online, and the signaling socket.

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ClientIp, Staff};
use crate::http::origin;
use crate::model::timestamp::Timestamp;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_presence))
}

/// `GET /ws`: the signaling socket (CONTRACT.md, WebSocket). Authentication
/// happens in the first frame, never in the URL. A browser page from an
/// origin that is neither ours nor listed is refused with 403.
pub async fn open_socket(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(unreadable)");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let config = &state.config;
        if !origin::allowed(origin, host, &config.public_url, &config.allowed_origins) {
            tracing::warn!(%ip, origin, "socket refused: its page's origin is not allowed");
            return Err(ApiError::Refused(
                "pages from this origin may not open the socket; the operator may list it in BEDSIDE_ALLOWED_ORIGINS",
            ));
        }
    }
    Ok(state.live.hub().upgrade(upgrade))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PresenceFilter {
    role: Option<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceRow {
    user_id: String,
    display_name: String,
    /// available, busy, in_consult, away or offline.
    status: String,
    since: Timestamp,
}

/// CONTRACT: `GET /presence?role=` (staff).
#[utoipa::path(get, path = "/presence", tag = "presence", security(("bearer" = [])), params(PresenceFilter),
    responses((status = 200, body = Vec<PresenceRow>), (status = 401, body = Problem)))]
async fn list_presence(
    State(state): State<AppState>,
    _staff: Staff,
    Query(filter): Query<PresenceFilter>,
) -> Result<Json<Vec<PresenceRow>>, ApiError> {
    let rows = state
        .live
        .presence(filter.role)
        .await
        .into_iter()
        .map(|entry| PresenceRow {
            user_id: entry.user_id.to_string(),
            display_name: entry.display_name,
            status: serde_json::to_value(entry.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            since: Timestamp(entry.since.timestamp_millis()),
        })
        .collect();
    Ok(Json(rows))
}
