//! The clinician's note as it is typed, kept on the server.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Clinicians, Staff};
use crate::model::draft::{DraftFields, NoteDraft};
use crate::model::ids::VisitId;
use crate::state::AppState;
use crate::visits::drafts;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_draft, save_draft))
}

fn visit_id(id: &str) -> Result<VisitId, ApiError> {
    VisitId::parse(id).ok_or(ApiError::NotFound("visit"))
}

/// `GET /visits/{id}/draft` (the visit's clinician): the saved draft; 404 when none.
#[utoipa::path(get, path = "/visits/{id}/draft", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = NoteDraft), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_draft(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
) -> Result<Json<NoteDraft>, ApiError> {
    drafts::read(
        &state.store,
        &clinician.actor,
        &clinician.user,
        &visit_id(&id)?,
    )
    .await?
    .map(Json)
    .ok_or(ApiError::NotFound("draft"))
}

/// `PUT /visits/{id}/draft` (the admitting clinician, during the consult):
/// saves the note form as typed.
#[utoipa::path(put, path = "/visits/{id}/draft", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DraftFields, responses((status = 200, body = NoteDraft), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn save_draft(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DraftFields>,
) -> Result<Json<NoteDraft>, ApiError> {
    Ok(Json(
        drafts::save(
            &state.store,
            &clinician.actor,
            &clinician.user,
            &visit_id(&id)?,
            &body,
        )
        .await?,
    ))
}
