//! The front desk's calendar: working hours, free slots, booking and
//! moving appointments, and the day and week views.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Schedulers, Staff, VisitCreators};
use crate::model::ids::{PatientId, QueueId, UserId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::schedule::{
    self, CalendarEntry, CalendarQuery, NewAppointment, Rebooking, Schedule, ScheduleInput, Slot,
};
use crate::state::AppState;
use crate::visits::{CreatedVisit, Visit};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, put_schedule))
        .routes(routes!(list_slots))
        .routes(routes!(book_appointment))
        .routes(routes!(rebook_visit))
        .routes(routes!(get_calendar))
}

fn clinician_id(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).ok_or(ApiError::NotFound("clinician"))
}

/// An instant from a query parameter, or a 422 naming it.
fn instant(field: &'static str, value: &str) -> Result<Timestamp, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| Timestamp(t.timestamp_millis()))
        .map_err(|_| {
            FieldError::new(
                field,
                "must be an RFC 3339 date-time such as 2026-03-02T00:00:00Z",
            )
            .into()
        })
}

fn optional_id<T>(
    field: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| parse(v).ok_or_else(|| FieldError::new(field, "is not a valid id").into()))
        .transpose()
}

/// Every active clinician's working hours (staff).
#[utoipa::path(get, path = "/schedules", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = Vec<Schedule>)))]
async fn list_schedules(
    State(state): State<AppState>,
    _staff: Staff,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(schedule::schedules(&state.store).await?))
}

/// A clinician's working hours, visit length and queue (staff).
#[utoipa::path(get, path = "/clinicians/{id}/schedule", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path, description = "The clinician's user id")),
    responses((status = 200, body = Schedule), (status = 404, body = Problem)))]
async fn get_schedule(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(
        schedule::schedule(&state.store, &clinician_id(&id)?).await?,
    ))
}

/// Sets a clinician's working hours (scheduler, admin).
#[utoipa::path(put, path = "/clinicians/{id}/schedule", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path, description = "The clinician's user id")), request_body = ScheduleInput,
    responses((status = 200, body = Schedule), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_schedule(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScheduleInput>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(
        schedule::set_schedule(
            &state.store,
            &state.clock,
            &staff.actor,
            &clinician_id(&id)?,
            &body,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SlotSearch {
    /// One clinician; every clinician with working hours when left out.
    clinician_id: Option<String>,
    /// RFC 3339; slots starting at or after it.
    from: String,
    /// RFC 3339; slots starting before it (at most 35 days after `from`).
    to: String,
}

/// Bookable slots, free and busy, between two instants (staff).
#[utoipa::path(get, path = "/slots", tag = "schedule", security(("bearer" = [])), params(SlotSearch),
    responses((status = 200, body = Vec<Slot>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_slots(
    State(state): State<AppState>,
    _staff: Staff,
    search: Result<Query<SlotSearch>, QueryRejection>,
) -> Result<Json<Vec<Slot>>, ApiError> {
    let Query(search) = search.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let clinician = optional_id(
        "clinician_id",
        search.clinician_id.as_deref(),
        UserId::parse,
    )?;
    let from = instant("from", &search.from)?;
    let to = instant("to", &search.to)?;
    Ok(Json(
        schedule::slots(&state.store, &state.clock, clinician.as_ref(), from, to).await?,
    ))
}

/// Books a free slot for a patient (scheduler, clinician, admin): 409 when
/// someone booked it first.
#[utoipa::path(post, path = "/appointments", tag = "schedule", security(("bearer" = [])), request_body = NewAppointment,
    responses((status = 201, body = CreatedVisit), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn book_appointment(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    ApiJson(body): ApiJson<NewAppointment>,
) -> Result<(StatusCode, Json<CreatedVisit>), ApiError> {
    let created = schedule::book(
        &state.store,
        &state.clock,
        &staff.actor,
        &state.join_links,
        &body,
    )
    .await?;
    state.live.queue_changed(&created.visit.queue_id).await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Moves a booked visit to another free slot (scheduler, admin).
#[utoipa::path(post, path = "/visits/{id}/rebook", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Rebooking,
    responses((status = 200, body = Visit), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn rebook_visit(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rebooking>,
) -> Result<Json<Visit>, ApiError> {
    let id = VisitId::parse(&id).ok_or(ApiError::NotFound("visit"))?;
    let visit = schedule::rebook(&state.store, &state.clock, &staff.actor, &id, &body).await?;
    state.live.visit_changed(&visit).await;
    Ok(Json(visit))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CalendarSearch {
    /// RFC 3339; visits starting at or after it.
    from: String,
    /// RFC 3339; visits starting before it (a day or a week later).
    to: String,
    clinician_id: Option<String>,
    queue_id: Option<String>,
    patient_id: Option<String>,
}

/// The booked visits of a day or a week, every status included, with time,
/// reason and status (scheduler, clinician, admin).
#[utoipa::path(get, path = "/calendar", tag = "schedule", security(("bearer" = [])), params(CalendarSearch),
    responses((status = 200, body = Vec<CalendarEntry>), (status = 422, body = Problem)))]
async fn get_calendar(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    search: Result<Query<CalendarSearch>, QueryRejection>,
) -> Result<Json<Vec<CalendarEntry>>, ApiError> {
    let Query(search) = search.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let query = CalendarQuery {
        clinician: optional_id(
            "clinician_id",
            search.clinician_id.as_deref(),
            UserId::parse,
        )?,
        queue: optional_id("queue_id", search.queue_id.as_deref(), QueueId::parse)?,
        patient: optional_id("patient_id", search.patient_id.as_deref(), PatientId::parse)?,
        visit: None,
    };
    let from = instant("from", &search.from)?;
    let to = instant("to", &search.to)?;
    Ok(Json(
        schedule::calendar(&state.store, &staff.actor, from, to, &query).await?,
    ))
}
