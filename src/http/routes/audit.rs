//! The audit log, for admins.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, AuditEvent, ChainReport};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, Staff};
use crate::model::ids::PatientId;
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
    /// At most this many events, newest first (default 500).
    limit: Option<i64>,
}

/// CONTRACT: `GET /audit?patient_id=` (admin). Reading the trail is itself audited.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_audit_events(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let patient_id = filter
        .patient_id
        .as_deref()
        .ok_or_else(|| FieldError::new("patient_id", "is required"))?;
    let patient_id = PatientId::parse(patient_id)
        .ok_or_else(|| FieldError::new("patient_id", "is not a patient id"))?;
    let limit = filter.limit.unwrap_or(500).clamp(1, 5_000);
    Ok(Json(
        audit::events_for_patient(&state.store, &admin.actor, &patient_id, limit).await?,
    ))
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
