//! Waiting-room queues.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Clinicians, Schedulers, Staff};
use crate::model::ids::QueueId;
use crate::model::validation::Text;
use crate::state::AppState;
use crate::visits::{self, Queue, QueueView, Visit};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_queue, list_queues))
        .routes(routes!(get_queue))
        .routes(routes!(admit_next))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    name: Text,
}

fn queue_id(id: &str) -> Result<QueueId, ApiError> {
    QueueId::parse(id).ok_or(ApiError::NotFound("queue"))
}

/// CONTRACT: `POST /queues` (scheduler, admin).
#[utoipa::path(post, path = "/queues", tag = "queues", security(("bearer" = [])), request_body = NewQueue,
    responses((status = 201, body = Queue), (status = 409, body = Problem)))]
async fn create_queue(
    State(state): State<AppState>,
    _staff: Staff<Schedulers>,
    ApiJson(body): ApiJson<NewQueue>,
) -> Result<(StatusCode, Json<Queue>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(visits::create_queue(&state.store, &state.clock, &body.name).await?),
    ))
}

/// CONTRACT: `GET /queues` (staff).
#[utoipa::path(get, path = "/queues", tag = "queues", security(("bearer" = [])), responses((status = 200, body = Vec<Queue>)))]
async fn list_queues(
    State(state): State<AppState>,
    _staff: Staff,
) -> Result<Json<Vec<Queue>>, ApiError> {
    Ok(Json(visits::list_queues(&state.store).await?))
}

/// CONTRACT: `GET /queues/{id}` (staff): entries in order with wait estimates.
#[utoipa::path(get, path = "/queues/{id}", tag = "queues", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = QueueView), (status = 404, body = Problem)))]
async fn get_queue(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<QueueView>, ApiError> {
    let available = state.live.clinicians_available().await;
    Ok(Json(
        visits::queue_view(&state.store, &queue_id(&id)?, available).await?,
    ))
}

/// CONTRACT: `POST /queues/{id}/next` (clinician): admits the first waiting
/// visit this clinician may take, or answers 204.
#[utoipa::path(post, path = "/queues/{id}/next", tag = "queues", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Visit), (status = 204), (status = 404, body = Problem)))]
async fn admit_next(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let queue = queue_id(&id)?;
    match visits::admit_next(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user,
        &queue,
    )
    .await?
    {
        Some(visit) => {
            state.live.consult_started(&clinician.user, &visit).await;
            Ok(Json(visit).into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
