//! The audit log, for admins.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, AuditEvent, AuditQuery, ChainReport};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, Staff};
use crate::model::ids::PatientId;
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_events))
        .routes(routes!(verify_audit_chain))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditFilter {
    patient_id: Option<String>,
    /// The acting user's id.
    user_id: Option<String>,
    /// An action, such as `patient.read` or `user.deactivate`.
    action: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC) or instant (RFC 3339) on.
    from: Option<String>,
    /// Up to and including this day, or before this instant.
    to: Option<String>,
    /// The page, from 1 (default 1).
    page: Option<String>,
    /// Events a page, newest first (default 500, at most 5000).
    page_size: Option<String>,
    /// The same as `page_size` (kept for older clients).
    limit: Option<String>,
}

fn number(field: &str, value: Option<&str>, default: i64, max: i64) -> Result<i64, FieldError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match value.parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::new(
            field,
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

/// A day (UTC) or an RFC 3339 instant; a day as `to` means the day's end.
fn instant(
    field: &str,
    value: Option<&str>,
    end_of_day: bool,
) -> Result<Option<Timestamp>, FieldError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        let start = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(Some(Timestamp(start.timestamp_millis())));
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| Some(Timestamp(t.timestamp_millis())))
        .map_err(|_| FieldError::new(field, "must be a date like 2026-01-31 or an RFC 3339 time"))
}

fn optional_id(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if uuid::Uuid::parse_str(&v).is_ok() => Ok(Some(v)),
        Some(_) => Err(FieldError::new(field, "is not an id")),
    }
}

/// CONTRACT: `GET /audit?patient_id=` (admin), with optional filters by
/// user, action and time, newest first and paged; `X-Total-Count` says how
/// many match in all. Reading the trail is itself audited.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = Vec<AuditEvent>, headers(("X-Total-Count" = i64, description = "Events matching the filters, over all pages"))),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_audit_events(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    filter: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<([(&'static str, String); 1], Json<Vec<AuditEvent>>), ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let patient_id = optional_id("patient_id", filter.patient_id)?;
    if let Some(id) = &patient_id {
        PatientId::parse(id).ok_or_else(|| FieldError::new("patient_id", "is not a patient id"))?;
    }
    let query = AuditQuery {
        patient_id,
        actor_id: optional_id("user_id", filter.user_id)?,
        action: filter.action.filter(|a| !a.is_empty()),
        from: instant("from", filter.from.as_deref(), false)?,
        to: instant("to", filter.to.as_deref(), true)?,
    };
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from.millis() >= to.millis()
    {
        return Err(FieldError::new("to", "must be after from").into());
    }
    let page = number("page", filter.page.as_deref(), 1, 1_000_000)?;
    let size = filter.page_size.as_deref().or(filter.limit.as_deref());
    let page_size = number("page_size", size, 500, 5_000)?;
    let (events, total) =
        audit::search(&state.store, &admin.actor, &query, page, page_size).await?;
    Ok(([("x-total-count", total.to_string())], Json(events)))
}

/// Walks the whole hash chain and reports the first broken link.
#[utoipa::path(get, path = "/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = ChainReport), (status = 403, body = Problem)))]
async fn verify_audit_chain(
    State(state): State<AppState>,
    _admin: Staff<Admins>,
) -> Result<Json<ChainReport>, ApiError> {
    Ok(Json(audit::verify(&state.store).await?))
}
