//! Self-booking from the public page (no sign-in), and the front desk's
//! review of the patients it registered.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ClientIp, Schedulers, Staff};
use crate::model::ids::{PatientId, UserId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::schedule::Slot;
use crate::schedule::booking::{
    self, BookableClinician, BookingError, BookingForm, PublicBooked, PublicBooking, Review,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bookable_clinicians))
        .routes(routes!(bookable_slots))
        .routes(routes!(booking_form))
        .routes(routes!(book_online))
        .routes(routes!(list_reviews))
        .routes(routes!(resolve_review))
}

impl From<BookingError> for ApiError {
    fn from(error: BookingError) -> Self {
        match error {
            BookingError::Throttled(wait) => Self::TooManyRequests {
                detail: error.to_string(),
                retry_after: wait.as_secs().max(1),
            },
            BookingError::Refused(detail) => Self::Refused(detail),
            BookingError::Visit(e) => e.into(),
        }
    }
}

/// Who patients may book online (anyone).
#[utoipa::path(get, path = "/booking/clinicians", tag = "booking",
    responses((status = 200, body = Vec<BookableClinician>)))]
async fn bookable_clinicians(
    State(state): State<AppState>,
) -> Result<Json<Vec<BookableClinician>>, ApiError> {
    Ok(Json(booking::clinicians(&state.store).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FreeSlotSearch {
    /// A clinician open to online booking.
    clinician_id: String,
    /// RFC 3339.
    from: String,
    /// RFC 3339, at most 35 days after `from`.
    to: String,
}

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

/// A clinician's free slots, for the public page (anyone): times only.
#[utoipa::path(get, path = "/booking/slots", tag = "booking", params(FreeSlotSearch),
    responses((status = 200, body = Vec<Slot>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn bookable_slots(
    State(state): State<AppState>,
    search: Result<Query<FreeSlotSearch>, QueryRejection>,
) -> Result<Json<Vec<Slot>>, ApiError> {
    let Query(search) = search.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let clinician = UserId::parse(&search.clinician_id).ok_or(ApiError::NotFound("clinician"))?;
    let from = instant("from", &search.from)?;
    let to = instant("to", &search.to)?;
    Ok(Json(
        booking::free_slots(&state.store, &state.clock, &clinician, from, to).await?,
    ))
}

/// A fresh booking form token (anyone); good once, after a few seconds.
#[utoipa::path(get, path = "/booking/form", tag = "booking", responses((status = 200, body = BookingForm)))]
async fn booking_form(State(state): State<AppState>) -> Json<BookingForm> {
    Json(booking::form(
        &state.tokens,
        &state.clock,
        &state.booking.settings,
    ))
}

/// Books a free slot from the public page (anyone): 201 with the join
/// link; 403 when the form fails the bot checks, 409 when the slot was
/// taken, 429 past the hourly allowance of the address.
#[utoipa::path(post, path = "/booking", tag = "booking", request_body = PublicBooking,
    responses((status = 201, body = PublicBooked), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn book_online(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PublicBooking>,
) -> Result<(StatusCode, Json<PublicBooked>), ApiError> {
    let booked = booking::book_online(
        &state.store,
        &state.clock,
        &state.tokens,
        &state.join_links,
        &state.booking,
        ip,
        &body,
    )
    .await?;
    state.live.queue_changed(&booked.queue_id).await;
    Ok((StatusCode::CREATED, Json(booked)))
}

/// Patients the booking page registered without an exact match, for the
/// front desk to check (scheduler, admin).
#[utoipa::path(get, path = "/patient-reviews", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = Vec<Review>), (status = 403, body = Problem)))]
async fn list_reviews(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
) -> Result<Json<Vec<Review>>, ApiError> {
    Ok(Json(booking::reviews(&state.store, &staff.actor).await?))
}

/// Marks a self-booked patient's record as checked (scheduler, admin).
#[utoipa::path(post, path = "/patient-reviews/{patient_id}/resolve", tag = "booking", security(("bearer" = [])),
    params(("patient_id" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn resolve_review(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(patient_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = PatientId::parse(&patient_id).ok_or(ApiError::NotFound("review"))?;
    booking::resolve(&state.store, &staff.actor, &staff.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
