//! FHIR writes under `/fhir` (STANDARDS-2 §2): create, update with
//! `If-Match`, vread and `_history`, and transaction or batch Bundles at
//! the base. Merged into the FHIR router; answers and errors are FHIR
//! JSON like the rest of the facade.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::fhir::{FhirApiError, FhirCaller, FhirResponse, resource_type, with_query};
use crate::fhir::FhirError;
use crate::fhir::transaction;
use crate::fhir::write::{self, WriteError, Written};
use crate::http::refusals::RefusalAudited;
use crate::state::AppState;

/// Largest transaction or batch Bundle read: a whole patient record.
pub const BUNDLE_LIMIT: usize = 16 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            post(process_bundle).layer(DefaultBodyLimit::max(BUNDLE_LIMIT)),
        )
        .route("/{kind}", post(create_resource))
        .route("/{kind}/{id}", axum::routing::put(update_resource))
        .route("/{kind}/{id}/_history", get(read_history))
        .route("/{kind}/{id}/_history/{version}", get(read_version))
        .route("/Patient/{id}/$everything", get(patient_everything))
}

/// A write's failure as an OperationOutcome.
struct WriteFailure(WriteError);

impl From<WriteError> for WriteFailure {
    fn from(error: WriteError) -> Self {
        Self(error)
    }
}

impl From<FhirError> for WriteFailure {
    fn from(error: FhirError) -> Self {
        Self(WriteError::Fhir(error))
    }
}

impl IntoResponse for WriteFailure {
    fn into_response(self) -> Response {
        match self.0 {
            WriteError::Fhir(e) => FhirApiError::from(e).into_response(),
            WriteError::Store(e) => FhirApiError::from(FhirError::Store(e)).into_response(),
            other => {
                let (status, outcome) = transaction::failure(&other);
                let status = status
                    .get(..3)
                    .and_then(|code| code.parse().ok())
                    .and_then(|code| StatusCode::from_u16(code).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = FhirResponse(status, outcome).into_response();
                if matches!(other, WriteError::Forbidden(_)) {
                    response.extensions_mut().insert(RefusalAudited);
                }
                response
            }
        }
    }
}

fn fail(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    FhirResponse::error(status, code, diagnostics).into_response()
}

/// The request body as JSON; a body that cannot be read or is not JSON
/// answers as an OperationOutcome saying why.
struct FhirJson(Value);

impl FromRequest<AppState> for FhirJson {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                fail(
                    rejection.status(),
                    "too-costly",
                    "the request body could not be read (too large?)",
                )
            })?;
        serde_json::from_slice(&body).map(Self).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                "structure",
                &format!("the body is not JSON: {e}"),
            )
        })
    }
}

/// HTTP-date, as `Last-Modified` wants.
fn http_date(written: &Written) -> String {
    written
        .last_updated
        .to_datetime()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// The written resource with its version headers.
fn written_response(caller: &FhirCaller, status: StatusCode, written: Written) -> Response {
    let location = format!("{}/{}", caller.base, written.location());
    let modified = http_date(&written);
    let mut response = FhirResponse(status, written.resource).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
        if status == StatusCode::OK {
            headers.insert(header::CONTENT_LOCATION, headers[header::LOCATION].clone());
            headers.remove(header::LOCATION);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&modified) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    response
}

/// `POST /fhir/{type}` (clinicians and admins; schedulers for Patient):
/// create, 201 with `Location` and `ETag`.
async fn create_resource(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path(kind): Path<String>,
    FhirJson(body): FhirJson,
) -> Result<Response, WriteFailure> {
    let kind = resource_type(&kind)?;
    let written = write::create(&state.store, caller.requester(), kind, &body).await?;
    Ok(written_response(&caller, StatusCode::CREATED, written))
}

/// `PUT /fhir/{type}/{id}`: update, checked against `If-Match` when sent.
async fn update_resource(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    FhirJson(body): FhirJson,
) -> Result<Response, WriteFailure> {
    let kind = resource_type(&kind)?;
    let if_match = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(write::parse_if_match) {
            Some(version) => Some(version),
            None => {
                return Ok(fail(
                    StatusCode::BAD_REQUEST,
                    "value",
                    "If-Match must be a version tag like W/\"3\"",
                ));
            }
        },
    };
    let written =
        write::update(&state.store, caller.requester(), kind, &id, &body, if_match).await?;
    Ok(written_response(&caller, StatusCode::OK, written))
}

/// `GET /fhir/{type}/{id}/_history`: every version, newest first.
async fn read_history(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<FhirResponse, WriteFailure> {
    let kind = resource_type(&kind)?;
    let bundle = write::history(&state.store, caller.requester(), kind, &id).await?;
    Ok(FhirResponse(StatusCode::OK, bundle))
}

/// `GET /fhir/{type}/{id}/_history/{vid}`: one version (vread).
async fn read_version(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path((kind, id, version)): Path<(String, String, String)>,
) -> Result<FhirResponse, WriteFailure> {
    let kind = resource_type(&kind)?;
    let resource = write::vread(&state.store, caller.requester(), kind, &id, &version).await?;
    Ok(FhirResponse(StatusCode::OK, resource))
}

/// `POST /fhir` with a transaction Bundle (all or nothing) or a batch
/// Bundle (each entry on its own).
async fn process_bundle(
    State(state): State<AppState>,
    caller: FhirCaller,
    FhirJson(body): FhirJson,
) -> Result<FhirResponse, WriteFailure> {
    let bundle = transaction::process(&state.store, caller.requester(), &body).await?;
    Ok(FhirResponse(StatusCode::OK, bundle))
}

/// `GET /fhir/Patient/{id}/$everything`: the patient's whole record, as
/// far as the requester reads it.
async fn patient_everything(
    State(state): State<AppState>,
    caller: FhirCaller,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(Query(pairs)) = query else {
        return fail(
            StatusCode::BAD_REQUEST,
            "value",
            "the query string could not be decoded",
        );
    };
    let self_url = with_query(
        &format!("{}/Patient/{id}/$everything", caller.base),
        raw.as_deref(),
    );
    let who = caller.requester();
    match crate::fhir::everything::everything(&state.store, who, &id, &pairs, &self_url).await {
        Ok(bundle) => FhirResponse(StatusCode::OK, bundle).into_response(),
        Err(e) => FhirApiError::from(e).into_response(),
    }
}
