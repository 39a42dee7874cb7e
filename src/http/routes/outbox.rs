//! Messages to patients as staff see and steer them: each visit's messages
//! and their state, the link sent again, "running late" from a queue, and
//! whether a patient accepts texts.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Staff, VisitCreators};
use crate::model::ids::{PatientId, QueueId, UserId, VisitId};
use crate::model::message::PatientMessage;
use crate::outbox::{self, TextPreference};
use crate::state::AppState;
use crate::visits::{self, CreatedVisit};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_patient_messages))
        .routes(routes!(send_link_again))
        .routes(routes!(announce_running_late))
        .routes(routes!(get_text_preference, put_text_preference))
}

fn visit_id(id: &str) -> Result<VisitId, ApiError> {
    VisitId::parse(id).ok_or(ApiError::NotFound("visit"))
}

/// `GET /visits/{id}/patient-messages` (scheduler, clinician, admin): the
/// messages sent or to be sent to the visit's patient, each with its state
/// (`queued`, `sending`, `sent`, `failed` with the reason); addresses
/// masked, no bodies.
#[utoipa::path(get, path = "/visits/{id}/patient-messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [PatientMessage]), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_patient_messages(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<Vec<PatientMessage>>, ApiError> {
    let id = visit_id(&id)?;
    Ok(Json(
        outbox::visit_messages(&state.store, &staff.actor, &id).await?,
    ))
}

/// `POST /visits/{id}/patient-messages/link` (scheduler, clinician, admin):
/// a fresh join link, queued to the patient by e-mail and text; the old
/// link stops working and its sockets close. Answers the new link too, to
/// copy. 409 for a cancelled or missed visit.
#[utoipa::path(post, path = "/visits/{id}/patient-messages/link", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CreatedVisit), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn send_link_again(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<CreatedVisit>, ApiError> {
    let reissued = visits::links::reissue_and_send(
        &state.store,
        &state.clock,
        &staff.actor,
        &state.join_links,
        &visit_id(&id)?,
    )
    .await?;
    state.live.credential_ended(&reissued.replaced).await;
    Ok(Json(reissued.created))
}

/// The body of `POST /queues/{id}/running-late`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunningLate {
    /// About how many minutes late (1 to 240).
    pub minutes: i64,
    /// Only this clinician's patients (assigned or admitted); all the
    /// queue's when absent.
    #[serde(default)]
    pub clinician_id: Option<UserId>,
}

/// Which visits were told.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunningLateSent {
    pub visit_ids: Vec<VisitId>,
}

/// `POST /queues/{id}/running-late` (scheduler, clinician, admin): every
/// patient still to be seen in the queue (booked or waiting) is told the
/// clinician is running about `minutes` late, by e-mail and text.
#[utoipa::path(post, path = "/queues/{id}/running-late", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RunningLate,
    responses((status = 200, body = RunningLateSent), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn announce_running_late(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RunningLate>,
) -> Result<Json<RunningLateSent>, ApiError> {
    let queue = QueueId::parse(&id).ok_or(ApiError::NotFound("queue"))?;
    let visit_ids = outbox::running_late(
        &state.store,
        &state.clock,
        &staff.actor,
        &queue,
        body.minutes,
        body.clinician_id.as_ref(),
    )
    .await?;
    Ok(Json(RunningLateSent { visit_ids }))
}

fn patient_id(id: &str) -> Result<PatientId, ApiError> {
    PatientId::parse(id).ok_or(ApiError::NotFound("patient"))
}

/// `GET /patients/{id}/text-messages` (scheduler, clinician, admin):
/// whether the patient opted out of text messages.
#[utoipa::path(get, path = "/patients/{id}/text-messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TextPreference), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_text_preference(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<TextPreference>, ApiError> {
    Ok(Json(
        outbox::text_preference(&state.store, &staff.actor, &patient_id(&id)?).await?,
    ))
}

/// `PUT /patients/{id}/text-messages` (scheduler, clinician, admin):
/// `{opted_out}` records the patient's choice; texts already queued are
/// not sent once they opted out. E-mail still goes.
#[utoipa::path(put, path = "/patients/{id}/text-messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = TextPreference,
    responses((status = 200, body = TextPreference), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn put_text_preference(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TextPreference>,
) -> Result<Json<TextPreference>, ApiError> {
    Ok(Json(
        outbox::set_text_preference(
            &state.store,
            &state.clock,
            &staff.actor,
            &patient_id(&id)?,
            &body,
        )
        .await?,
    ))
}
