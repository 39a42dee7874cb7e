//! Decision support: CDS Hooks 2.0 services for other systems, and the same
//! cards for Bedside's console.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cdss::{self, Card, HookRequest};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ChartReaders, ClientIp, Clinicians, Staff};
use crate::model::ids::VisitId;
use crate::state::AppState;

/// `/api/v1` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(visit_cards))
}

/// `/cds-services` routes (CDS Hooks discovery, calls, feedback).
pub fn hooks_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discover_services))
        .routes(routes!(call_service))
        .routes(routes!(send_feedback))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cards {
    cards: Vec<Card>,
}

/// CONTRACT: `GET /visits/{id}/cds` (clinician): the cards for this patient.
#[utoipa::path(get, path = "/visits/{id}/cds", tag = "cds", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Cards), (status = 404, body = Problem)))]
async fn visit_cards(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
) -> Result<Json<Cards>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    let cards = cdss::visit_cards(&state.store, &state.knowledge, &clinician.actor, &id).await?;
    Ok(Json(Cards { cards }))
}

/// CDS Hooks discovery: the services Bedside offers.
#[utoipa::path(get, path = "/cds-services", tag = "cds", security(("bearer" = [])), responses((status = 200, body = Object)))]
async fn discover_services(_staff: Staff<ChartReaders>) -> Json<Value> {
    Json(cdss::discovery())
}

/// A CDS Hooks call: 400 when malformed, 412 when the data it needs can be
/// neither prefetched nor read.
#[utoipa::path(post, path = "/cds-services/{id}", tag = "cds", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Object,
    responses((status = 200, body = Cards), (status = 400, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem)))]
async fn call_service(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Cards>, ApiError> {
    let lent = body.get("fhirAuthorization").cloned();
    let request: HookRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::Malformed(format!("not a CDS Hooks request: {e}")))?;
    // No prefetch: the data is read here, as far as the lent SMART token reaches.
    let all_prefetched = ["allergies", "medications", "vitals"]
        .iter()
        .all(|key| request.prefetched(key).is_some());
    if let Some(lent) = lent.filter(|_| !all_prefetched) {
        let patient = request.context.get("patientId").and_then(Value::as_str);
        crate::smart::cds::check_lent_token(
            &state.store,
            &crate::smart::Endpoints::new(&state.config.public_url),
            request.fhir_server.as_deref(),
            &lent,
            patient.unwrap_or_default(),
            Some(ip.to_string()),
            state.clock.now(),
        )
        .await
        .map_err(|e| match e {
            crate::smart::cds::Refused::Unusable(why) => ApiError::PreconditionFailed(why),
            crate::smart::cds::Refused::Store(e) => e.into(),
        })?;
    }
    let cards =
        cdss::call_hook(&state.store, &state.knowledge, &staff.actor, &id, &request).await?;
    Ok(Json(Cards { cards }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackReceipt {
    recorded: usize,
}

/// CDS Hooks feedback: accepted and overridden cards.
#[utoipa::path(post, path = "/cds-services/{id}/feedback", tag = "cds", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = FeedbackReceipt), (status = 400, body = Problem)))]
async fn send_feedback(
    State(state): State<AppState>,
    staff: Staff<ChartReaders>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<FeedbackReceipt>, ApiError> {
    let recorded =
        cdss::record_feedback(&state.store, &state.clock, &staff.actor, &id, &body).await?;
    Ok(Json(FeedbackReceipt { recorded }))
}
