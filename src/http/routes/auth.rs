//! Staff sign-in and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::mfa::{self, MfaPolicy, PasswordStep};
use crate::auth::{self, SessionToken, SignedIn, User};
use crate::http::error::{ApiError, Problem, SecondStep};
use crate::http::extract::{ApiJson, ClientIp, Staff, bearer};
use crate::model::timestamp::Timestamp;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(start_mfa_enrolment))
        .routes(routes!(confirm_mfa_enrolment))
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

/// CONTRACT: `POST /auth/login`. With MFA the right password answers a
/// problem with `code` and `challenge` instead of a session: 401
/// `mfa_required` (send a code to `/auth/login/mfa`) or 403
/// `mfa_enrolment_required` (set up TOTP with `/auth/mfa/enrolment`).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
        (status = 401, description = "Wrong username or password; or, with `code` `mfa_required`, the password was right and a code must follow with `challenge`", body = Problem),
        (status = 403, description = "`code` `mfa_enrolment_required`: the role requires MFA; enrol with `challenge` first", body = Problem),
        (status = 429, description = "Too many failures for this username from this address; `Retry-After` says when to try again", body = Problem),
        (status = 503, description = "Every password check is taken; `Retry-After` says when to try again", body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let step = mfa::sign_in_step(
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
        &policy(&state),
    )
    .await?;
    match step {
        PasswordStep::SignedIn(signed_in) => Ok(Json(signed_in.into())),
        PasswordStep::CodeRequired(c) => Err(ApiError::SecondStep(SecondStep::Code(
            c.expose().to_owned(),
        ))),
        PasswordStep::EnrolmentRequired(c) => Err(ApiError::SecondStep(SecondStep::Enrol(
            c.expose().to_owned(),
        ))),
    }
}

impl From<SignedIn> for LoginResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self {
            token: signed_in.token.expose().to_owned(),
            user: signed_in.user,
            expires_at: signed_in.expires_at,
        }
    }
}

fn policy(state: &AppState) -> MfaPolicy {
    MfaPolicy {
        required_roles: state.config.mfa_required_roles.clone(),
        issuer: "Bedside".to_owned(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCodeRequest {
    /// The `challenge` of the sign-in's `mfa_required` problem.
    #[schema(value_type = String)]
    challenge: SecretString,
    /// Six digits from the authenticator app, or an unused recovery code.
    #[schema(value_type = String, example = "123456")]
    code: SecretString,
}

fn check_code_shape(code: &SecretString) -> Result<(), ApiError> {
    if mfa::looks_like_code(code.expose_secret()) {
        Ok(())
    } else {
        Err(crate::model::validation::FieldError::new(
            "code",
            "must be the six digits from your authenticator app or a ten-character recovery code",
        )
        .into())
    }
}

/// The code step of a sign-in: a TOTP code (within one 30 s step either
/// side, each used once) or a recovery code (each used once). A wrong code
/// counts toward the sign-in throttle.
#[utoipa::path(post, path = "/auth/login/mfa", tag = "auth", request_body = MfaCodeRequest,
    responses((status = 200, body = LoginResponse),
        (status = 401, description = "The code is wrong or used, or the challenge has expired", body = Problem),
        (status = 422, body = Problem),
        (status = 429, description = "Too many failures; `Retry-After` says when to try again", body = Problem)))]
async fn login_mfa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<MfaCodeRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    check_code_shape(&body.code)?;
    let signed_in = mfa::complete_sign_in(
        &state.store,
        &state.throttle,
        body.challenge.expose_secret(),
        body.code.expose_secret(),
        ip,
        &state.clock,
        &state.sessions,
    )
    .await?;
    Ok(Json(signed_in.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentStart {
    /// The `challenge` of an `mfa_enrolment_required` sign-in; without it,
    /// the bearer's own account.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    challenge: Option<SecretString>,
}

/// A new TOTP secret, shown this once: as text for typing in and as a QR
/// code (an SVG `data:` URL). It takes effect when confirmed with a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentResponse {
    /// Base32, for typing into an authenticator app.
    secret: String,
    otpauth_url: String,
    qr_code: String,
}

/// The user an enrolment request is for: the bearer, or the challenge's.
async fn enrolling_user(
    state: &AppState,
    staff: Result<Staff, ApiError>,
    challenge: Option<&SecretString>,
) -> Result<User, ApiError> {
    match challenge {
        Some(c) => Ok(
            mfa::enrolment_challenge_user(&state.store, c.expose_secret(), &state.clock).await?,
        ),
        None => staff.map(|s| s.user),
    }
}

/// Starts TOTP enrolment for the signed-in staff member (bearer) or for a
/// sign-in sent to enrol (`challenge`). 409 once MFA is set up.
#[utoipa::path(post, path = "/auth/mfa/enrolment", tag = "auth", security(("bearer" = []), ()),
    request_body = EnrolmentStart,
    responses((status = 200, body = EnrolmentResponse), (status = 401, body = Problem), (status = 409, body = Problem)))]
async fn start_mfa_enrolment(
    State(state): State<AppState>,
    staff: Result<Staff, ApiError>,
    ApiJson(body): ApiJson<EnrolmentStart>,
) -> Result<Json<EnrolmentResponse>, ApiError> {
    let user = enrolling_user(&state, staff, body.challenge.as_ref()).await?;
    let enrolment =
        mfa::start_enrolment(&state.store, &user, &state.clock, &policy(&state)).await?;
    Ok(Json(EnrolmentResponse {
        secret: enrolment.secret.expose_base32().to_owned(),
        otpauth_url: enrolment.otpauth_url.expose_secret().to_owned(),
        qr_code: enrolment.qr_data_url.expose_secret().to_owned(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentConfirm {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    challenge: Option<SecretString>,
    /// The first code the authenticator app shows.
    #[schema(value_type = String, example = "123456")]
    code: SecretString,
}

/// MFA is on: the ten recovery codes, shown this once; with a challenge,
/// also the session the sign-in was waiting for.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentDone {
    recovery_codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<LoginResponse>,
}

/// Confirms enrolment with a first code. A wrong code counts toward the
/// sign-in throttle.
#[utoipa::path(post, path = "/auth/mfa/enrolment/confirm", tag = "auth", security(("bearer" = []), ()),
    request_body = EnrolmentConfirm,
    responses((status = 200, body = EnrolmentDone), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn confirm_mfa_enrolment(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    staff: Result<Staff, ApiError>,
    ApiJson(body): ApiJson<EnrolmentConfirm>,
) -> Result<Json<EnrolmentDone>, ApiError> {
    let code = body.code.expose_secret().trim();
    if code.len() != auth::totp::DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(crate::model::validation::FieldError::new(
            "code",
            "must be the six digits your authenticator app shows",
        )
        .into());
    }
    let user = enrolling_user(&state, staff, body.challenge.as_ref()).await?;
    let codes =
        mfa::confirm_enrolment(&state.store, &state.throttle, &user, code, ip, &state.clock)
            .await?;
    let session = match &body.challenge {
        Some(c) => Some(
            mfa::finish_enrolment_sign_in(
                &state.store,
                c.expose_secret(),
                user,
                &state.clock,
                &state.sessions,
            )
            .await?
            .into(),
        ),
        None => None,
    };
    Ok(Json(EnrolmentDone {
        recovery_codes: codes.0,
        session,
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
