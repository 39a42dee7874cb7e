//! Staff sign-in and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, SessionToken, User};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ClientIp, Staff, bearer};
use crate::model::timestamp::Timestamp;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(current_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    token: String,
    user: User,
    expires_at: Timestamp,
}

/// CONTRACT: `POST /auth/login`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem),
        (status = 429, description = "Too many failures for this username from this address; `Retry-After` says when to try again", body = Problem),
        (status = 503, description = "Every password check is taken; `Retry-After` says when to try again", body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let signed_in = auth::sign_in(
        &state.store,
        auth::Gate {
            throttle: &state.throttle,
            hashing: &state.hashing,
        },
        &body.username,
        body.password,
        ip,
        &state.clock,
        &state.sessions,
    )
    .await?;
    Ok(Json(LoginResponse {
        token: signed_in.token.expose().to_owned(),
        user: signed_in.user,
        expires_at: signed_in.expires_at,
    }))
}

/// CONTRACT: `POST /auth/logout` — revokes the session of the token sent
/// and closes the sockets it opened.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    _staff: Staff,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&parts)
        .and_then(SessionToken::from_bearer)
        .ok_or(ApiError::Unauthorized)?;
    auth::sign_out(&state.store, &state.clock, &token).await?;
    // The session's sockets close too, on every node.
    state
        .live
        .credential_ended(&auth::Credential::session(&token))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in staff member (used by the browser app).
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem)))]
async fn current_user(staff: Staff) -> Json<User> {
    Json(staff.user)
}
