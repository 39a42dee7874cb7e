//! The FHIR R4 API under `/fhir` (CONTRACT.md "FHIR R4"): the
//! CapabilityStatement, read and search. Answers are
//! `application/fhir+json`; errors are OperationOutcomes, not problem+json.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::access::{self, Data};
use crate::fhir::{self, FhirError, Requester, ResourceType};
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::refusals::RefusalAudited;
use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::state::AppState;
use crate::store::StoreError;
use crate::visits::{self, VisitError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metadata", get(capability_statement))
        .route(
            "/.well-known/smart-configuration",
            get(super::smart::smart_configuration),
        )
        .route("/Composition/{id}", get(read_composition))
        .route("/{kind}", get(search_resources))
        .route("/{kind}/{id}", get(read_resource))
        .merge(super::fhir_write::router())
        .fallback(|| async {
            FhirResponse::error(StatusCode::NOT_FOUND, "not-found", "no such FHIR endpoint")
        })
        .method_not_allowed_fallback(|| async {
            FhirResponse::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                "this FHIR endpoint does not take this method",
            )
        })
        // SMART apps call FHIR with their access tokens, from their own origin.
        .layer(axum::Extension(crate::http::extract::AppSurface))
        .layer(super::smart::cors())
}

/// A FHIR JSON body with its status.
#[derive(Debug)]
pub(super) struct FhirResponse(pub(super) StatusCode, pub(super) Value);

impl FhirResponse {
    pub(super) fn error(status: StatusCode, code: &str, diagnostics: &str) -> Self {
        Self(status, fhir::outcome("error", code, diagnostics))
    }
}

impl IntoResponse for FhirResponse {
    fn into_response(self) -> Response {
        let version = self.1["meta"]["versionId"].as_str().map(str::to_owned);
        let mut response = (self.0, axum::Json(self.1)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json"),
        );
        // A resource's version is its weak ETag (STANDARDS-2 §2).
        if let Some(version) = version
            && let Ok(etag) = HeaderValue::from_str(&format!("W/\"{version}\""))
        {
            response.headers_mut().insert(header::ETAG, etag);
        }
        if self.0 == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The facade's errors, each an OperationOutcome.
#[derive(Debug)]
pub(super) enum FhirApiError {
    Fhir(FhirError),
    Login,
    /// A status, an issue type and a sentence for the client.
    Outcome(StatusCode, &'static str, String),
    /// The store cannot serve now: 503, retry later.
    Unavailable,
    Internal(anyhow::Error),
}

impl From<FhirError> for FhirApiError {
    fn from(error: FhirError) -> Self {
        Self::Fhir(error)
    }
}

impl From<ApiError> for FhirApiError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized | ApiError::Unauthenticated(_) => Self::Login,
            ApiError::Forbidden => Self::Outcome(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token does not reach FHIR resources".to_owned(),
            ),
            ApiError::Unavailable(_) => Self::Unavailable,
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for FhirApiError {
    fn into_response(self) -> Response {
        // The facade audits its own refusals, knowing the resource's patient.
        let audited = matches!(self, Self::Fhir(FhirError::Forbidden));
        let (status, code, diagnostics) = match self {
            Self::Login => (
                StatusCode::UNAUTHORIZED,
                "login",
                "a valid bearer token is required".to_owned(),
            ),
            Self::Fhir(FhirError::NotFound(what)) => (StatusCode::NOT_FOUND, "not-found", what),
            Self::Fhir(e @ FhirError::UnknownType(_)) => {
                (StatusCode::NOT_FOUND, "not-supported", e.to_string())
            }
            Self::Fhir(FhirError::NotSupported(what)) => {
                (StatusCode::BAD_REQUEST, "not-supported", what)
            }
            Self::Fhir(FhirError::InvalidSearch(what)) => (StatusCode::BAD_REQUEST, "value", what),
            Self::Fhir(e @ FhirError::Forbidden) => {
                (StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            Self::Outcome(status, code, why) => (status, code, why),
            Self::Fhir(FhirError::Store(StoreError::Unavailable(_))) | Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the service cannot reach its records right now; try again in a few seconds"
                    .to_owned(),
            ),
            Self::Fhir(FhirError::Store(e)) => return Self::Internal(e.into()).into_response(),
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "FHIR request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "The server could not complete the request.".to_owned(),
                )
            }
        };
        let mut response = FhirResponse::error(status, code, &diagnostics).into_response();
        if audited {
            response.extensions_mut().insert(RefusalAudited);
        }
        response
    }
}

pub(super) fn resource_type(kind: &str) -> Result<ResourceType, FhirError> {
    ResourceType::parse(kind).ok_or_else(|| FhirError::UnknownType(kind.to_owned()))
}

pub(super) fn base(state: &AppState) -> String {
    format!("{}/fhir", state.config.public_url)
}

/// `path` with the request's query string, for a Bundle's `self` link.
pub(super) fn with_query(path: &str, raw: Option<&str>) -> String {
    match raw.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// Who calls a FHIR route, with the facade's base and the time of the
/// request. A bearer that is missing or refused answers as an
/// OperationOutcome, as every FHIR error does.
pub(super) struct FhirCaller {
    pub(super) caller: Caller,
    pub(super) base: String,
    now: Timestamp,
}

impl FhirCaller {
    pub(super) fn requester(&self) -> Requester<'_> {
        Requester {
            principal: &self.caller.principal,
            actor: &self.caller.actor,
            base: &self.base,
            now: self.now,
        }
    }
}

impl FromRequestParts<AppState> for FhirCaller {
    type Rejection = FhirApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FhirApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self {
            caller,
            base: base(state),
            now: state.clock.now(),
        })
    }
}

/// CONTRACT: `GET /fhir/metadata`. It holds no health data, and clients
/// read it before they sign in, so it needs no token.
async fn capability_statement(State(state): State<AppState>) -> FhirResponse {
    let mut statement = fhir::capability_statement(state.clock.now(), &base(&state));
    statement["rest"][0]["security"] = super::smart::capability_security(&state);
    FhirResponse(StatusCode::OK, statement)
}

/// CONTRACT: read `GET /fhir/{type}/{id}` (staff; a patient its own record).
async fn read_resource(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<FhirResponse, FhirApiError> {
    let kind = resource_type(&kind)?;
    let resource = fhir::read(&state.store, caller.requester(), kind, &id).await?;
    Ok(FhirResponse(StatusCode::OK, resource))
}

/// `GET /fhir/Composition/{id}` (the visit's patient, or staff): the
/// after-visit summary of visit `id`, on the same terms as
/// `GET /visits/{id}/summary`.
async fn read_composition(
    State(state): State<AppState>,
    FhirCaller { caller, .. }: FhirCaller,
    Path(id): Path<String>,
) -> Result<FhirResponse, FhirApiError> {
    let not_found = || FhirError::NotFound(format!("Composition {id} is not known"));
    let visit = VisitId::parse(&id).ok_or_else(not_found)?;
    if !access::may_read_visit(&caller.principal, Data::Clinical, &visit) {
        return Err(FhirApiError::Outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this summary is not yours to read".to_owned(),
        ));
    }
    let profile = crate::clinic::profile(&state.store, state.config.region, &state.config.summary)
        .await
        .map_err(ApiError::from)?;
    let settings = crate::clinic::summary_settings(&profile, &state.config.summary);
    let summary = visits::summary::read(&state.store, &caller.actor, &settings, &visit)
        .await
        .map_err(|e| match e {
            VisitError::NotFound(_) => FhirApiError::Fhir(not_found()),
            VisitError::WrongState(why) => {
                FhirApiError::Outcome(StatusCode::CONFLICT, "conflict", why)
            }
            VisitError::Gone(why) => FhirApiError::Outcome(StatusCode::GONE, "deleted", why),
            other => ApiError::from(other).into(),
        })?;
    Ok(FhirResponse(StatusCode::OK, fhir::composition(&summary)))
}

/// CONTRACT: search `GET /fhir/{type}?…` (staff; a patient within its own record).
async fn search_resources(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path(kind): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    RawQuery(raw): RawQuery,
) -> Result<FhirResponse, FhirApiError> {
    let kind = resource_type(&kind)?;
    let Query(pairs) = query.map_err(|_| {
        FhirError::InvalidSearch("the query string could not be decoded".to_owned())
    })?;
    let self_url = with_query(
        &format!("{}/{}", caller.base, kind.as_str()),
        raw.as_deref(),
    );
    let bundle = fhir::search(&state.store, caller.requester(), kind, &pairs, &self_url).await?;
    Ok(FhirResponse(StatusCode::OK, bundle))
}
