//! SMART on FHIR over HTTP (STANDARDS-2.md §1): the app registry and EHR
//! launches under `/api/v1/smart`, the authorization server under
//! `/oauth` (authorize, the consent page's calls, token, revoke, jwks),
//! and the SMART configuration the FHIR router serves.

use axum::Form;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, ApiJson, Caller, ChartReaders, ClientIp, Staff};
use crate::model::ids::{EncounterId, PatientId};
use crate::smart::apps::{self, AppView, ClientAuth, NewApp, RegisterError, Registered};
use crate::smart::authorize::{self, AuthorizeFailure, AuthorizeParams, Description};
use crate::smart::token::{self, Origin, TokenForm, TokenResponse};
use crate::smart::{Endpoints, OAuthError, configuration};
use crate::state::AppState;

/// The app registry and launches, under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_app, list_apps))
        .routes(routes!(revoke_app))
        .routes(routes!(open_launch))
}

/// The authorization server, at the root. The token, revocation and key
/// endpoints answer any origin: browser apps call them cross-origin, and
/// they take no cookies.
pub fn oauth_router() -> OpenApiRouter<AppState> {
    let open = OpenApiRouter::new()
        .routes(routes!(exchange_token))
        .routes(routes!(revoke_token))
        .routes(routes!(jwks))
        .layer(cors());
    OpenApiRouter::new()
        .routes(routes!(authorize_request))
        .routes(routes!(describe_request))
        .routes(routes!(decide_request))
        .merge(open)
}

/// CORS for what browser apps call from their own origin (bearer tokens,
/// never cookies, so any origin may ask).
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([header::LOCATION, header::ETAG, header::WWW_AUTHENTICATE])
}

fn endpoints(state: &AppState) -> Endpoints {
    Endpoints::new(&state.config.public_url)
}

/// `GET /fhir/.well-known/smart-configuration` (SAL `conformance.html`):
/// JSON whatever `Accept` says, no token needed.
pub async fn smart_configuration(State(state): State<AppState>) -> Response {
    let mut response = Json(configuration::smart_configuration(&endpoints(&state))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The CapabilityStatement's `rest[].security` with the OAuth URIs.
pub fn capability_security(state: &AppState) -> serde_json::Value {
    configuration::capability_security(&endpoints(state))
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(e) => Self::Invalid(e),
            RegisterError::Store(e) => e.into(),
        }
    }
}

/// Registers a SMART app (admin). A confidential-symmetric app's
/// `client_secret` is in this answer only.
#[utoipa::path(post, path = "/smart/apps", tag = "smart", security(("bearer" = [])), request_body = NewApp,
    responses((status = 201, body = Registered), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn register_app(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    ApiJson(body): ApiJson<NewApp>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = apps::register(&state.store, &admin.actor, &body).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// The registered apps (staff: the console lists them beside the chart).
#[utoipa::path(get, path = "/smart/apps", tag = "smart", security(("bearer" = [])),
    responses((status = 200, body = Vec<AppView>), (status = 401, body = Problem)))]
async fn list_apps(
    State(state): State<AppState>,
    _staff: Staff,
) -> Result<Json<Vec<AppView>>, ApiError> {
    Ok(Json(apps::list(&state.store).await?))
}

/// Revokes an app and every token it holds (admin).
#[utoipa::path(post, path = "/smart/apps/{client_id}/revoke", tag = "smart", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_app(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if apps::revoke(&state.store, &admin.actor, &client_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("active app"))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    client_id: String,
    patient_id: PatientId,
    #[serde(default)]
    encounter_id: Option<EncounterId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Launch {
    /// The app's launch URL with `iss` and `launch`: open it.
    launch_url: String,
}

/// An EHR launch from the console: a launch id bound to this clinician,
/// the chart's patient and encounter (SAL `app-launch.html` step 2).
#[utoipa::path(post, path = "/smart/launches", tag = "smart", security(("bearer" = [])), request_body = LaunchRequest,
    responses((status = 201, body = Launch), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn open_launch(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    ApiJson(body): ApiJson<LaunchRequest>,
) -> Result<(StatusCode, Json<Launch>), ApiError> {
    let url = authorize::open_launch(
        &state.store,
        &endpoints(&state),
        &staff.actor,
        &staff.user,
        &body.client_id,
        &body.patient_id,
        body.encounter_id.as_ref(),
    )
    .await?
    .ok_or(ApiError::NotFound("app with a launch URL, or patient"))?;
    Ok((StatusCode::CREATED, Json(Launch { launch_url: url })))
}

/// An authorization failure as the browser sees it: back to the app when
/// its redirect URI is known, else a plain page saying why.
fn failure_response(failure: &AuthorizeFailure) -> Response {
    match (failure.redirect_url(), failure) {
        (Some(url), _) => Redirect::to(&url).into_response(),
        (None, AuthorizeFailure::Shown(why)) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("This app cannot be authorized: {why}."),
        )
            .into_response(),
        (None, AuthorizeFailure::Redirect { .. }) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /oauth/authorize` (SAL `app-launch.html` step 4). An EHR launch is
/// authorized at once (the user opened the app from the chart); a
/// standalone launch goes to the consent page.
#[utoipa::path(get, path = "/oauth/authorize", tag = "smart", params(AuthorizeParams),
    responses((status = 302, description = "to the app's redirect_uri with code and state, or error"),
        (status = 303, description = "to the sign-in and consent page"), (status = 400, description = "unknown client or redirect_uri")))]
async fn authorize_request(
    State(state): State<AppState>,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return failure_response(&AuthorizeFailure::Shown(
            "the request's parameters could not be read".into(),
        ));
    };
    let endpoints = endpoints(&state);
    if params.launch.as_deref().is_some_and(|l| !l.is_empty()) {
        return match authorize::authorize_launch(
            &state.store,
            &endpoints,
            &params,
            state.clock.now(),
        )
        .await
        {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(failure) => failure_response(&failure),
        };
    }
    match authorize::check_request(&state.store, &endpoints, &params).await {
        Ok(_) => {
            let query = serde_urlencoded::to_string(&params).unwrap_or_default();
            Redirect::to(&format!("/authorize?{query}")).into_response()
        }
        Err(failure) => failure_response(&failure),
    }
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthProblem {
    error: &'static str,
    error_description: String,
}

fn oauth_error(error: &OAuthError, basic: bool) -> Response {
    let status = match error {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::Store(crate::store::StoreError::Unavailable(_)) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            tracing::error!(error = %error, "SMART request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let description = match error {
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            "The server could not complete the request.".to_owned()
        }
        other => other.to_string(),
    };
    let mut response = (
        status,
        Json(OAuthProblem {
            error: error.code(),
            error_description: description,
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if basic {
            "Basic realm=\"bedside\""
        } else {
            "Bearer"
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// What the consent page shows of an authorization request.
#[utoipa::path(get, path = "/oauth/authorize/details", tag = "smart", params(AuthorizeParams),
    responses((status = 200, body = Description), (status = 400, body = OAuthProblem)))]
async fn describe_request(
    State(state): State<AppState>,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return oauth_error(
            &OAuthError::InvalidRequest("the parameters could not be read".into()),
            false,
        );
    };
    let endpoints = endpoints(&state);
    match authorize::check_request(&state.store, &endpoints, &params).await {
        Ok(checked) => Json(authorize::describe(&checked)).into_response(),
        Err(AuthorizeFailure::Shown(why)) => oauth_error(&OAuthError::InvalidRequest(why), false),
        Err(AuthorizeFailure::Redirect { error, .. }) => oauth_error(&error, false),
    }
}

/// The user's answer on the consent page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The authorization request, as the app sent it.
    request: AuthorizeParams,
    approve: bool,
    /// The patient a staff member chooses for a patient-scoped grant.
    #[serde(default)]
    patient_id: Option<PatientId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    /// Where the browser goes next: the app's redirect URI with a code, or an error.
    redirect_to: String,
}

/// A signed-in staff member's, or a patient's (visit link), answer to a
/// standalone launch's authorization request.
#[utoipa::path(post, path = "/oauth/authorize/decision", tag = "smart", security(("bearer" = [])), request_body = Decision,
    responses((status = 200, body = Decided), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn decide_request(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Decided>, ApiError> {
    let result = authorize::decide(
        &state.store,
        &endpoints(&state),
        &body.request,
        &caller.principal,
        &caller.actor,
        body.patient_id.as_ref(),
        body.approve,
    )
    .await;
    match result {
        Ok(url) => Ok(Json(Decided { redirect_to: url })),
        Err(failure) => match failure.redirect_url() {
            Some(url) => Ok(Json(Decided { redirect_to: url })),
            None => match failure {
                AuthorizeFailure::Shown(why) => Err(ApiError::Invalid(
                    crate::model::validation::FieldError::new("request", why),
                )),
                AuthorizeFailure::Redirect { .. } => Err(ApiError::Forbidden),
            },
        },
    }
}

/// `Authorization: Basic` client credentials (RFC 6749 §2.3.1: each part
/// form-urlencoded before base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        let spaced = s.replace('+', " ");
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={spaced}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, v)| v)
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// `POST /oauth/token`: authorization code (with PKCE), refresh token
/// (rotated), client credentials (backend services, `private_key_jwt`).
#[utoipa::path(post, path = "/oauth/token", tag = "smart",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthProblem), (status = 401, body = OAuthProblem)))]
async fn exchange_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let basic = basic_credentials(&headers);
    let uses_basic = basic.is_some();
    let Ok(Form(form)) = form else {
        return oauth_error(
            &OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded, each parameter once".into(),
            ),
            uses_basic,
        );
    };
    let origin = Origin {
        ip: Some(ip.to_string()),
        now: state.clock.now(),
    };
    match token::exchange(
        &state.store,
        &state.smart_keys,
        &endpoints(&state),
        &form,
        basic,
        &origin,
    )
    .await
    {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => oauth_error(&error, uses_basic),
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RevokeForm {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was known.
#[utoipa::path(post, path = "/oauth/revoke", tag = "smart",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200), (status = 400, body = OAuthProblem), (status = 401, body = OAuthProblem)))]
async fn revoke_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let basic = basic_credentials(&headers);
    let uses_basic = basic.is_some();
    let Some(form) = form.ok().map(|Form(f)| f).filter(|f| f.token.is_some()) else {
        return oauth_error(
            &OAuthError::InvalidRequest("token is required, in a form body".into()),
            uses_basic,
        );
    };
    let client = ClientAuth {
        client_id: form.client_id,
        client_secret: form.client_secret,
        basic,
        assertion_type: form.client_assertion_type,
        assertion: form.client_assertion,
    };
    let origin = Origin {
        ip: Some(ip.to_string()),
        now: state.clock.now(),
    };
    let token = form.token.unwrap_or_default();
    match token::revoke(&state.store, &endpoints(&state), &token, &client, &origin).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => oauth_error(&error, uses_basic),
    }
}

/// The keys that verify Bedside's `id_token`s.
#[utoipa::path(get, path = "/oauth/jwks", tag = "smart",
    responses((status = 200, description = "a JSON Web Key Set")))]
async fn jwks(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let key = state
        .smart_keys
        .get(&state.store, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(key.jwks()))
}
