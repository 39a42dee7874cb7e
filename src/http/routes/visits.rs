//! Visits and their lifecycle.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Data};
use crate::billing::BillingPreview;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Caller, Clinicians, Schedulers, Staff, VisitCreators};
use crate::model::ids::VisitId;
use crate::model::summary::AfterVisitSummary;
use crate::state::AppState;
use crate::visits::{
    self, CheckIn, CheckedIn, ClosePreview, CloseVisit, CreatedVisit, NewVisit, Visit, VisitChange,
    VisitStatus,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_visit))
        .routes(routes!(get_visit, update_visit))
        .routes(routes!(check_in))
        .routes(routes!(acknowledge_emergency))
        .routes(routes!(get_summary))
        .routes(routes!(admit_visit))
        .routes(routes!(close_visit))
        .routes(routes!(preview_close))
        .routes(routes!(cancel_visit))
        .routes(routes!(no_show_visit))
        .routes(routes!(reissue_link, show_link))
        .routes(routes!(revoke_link))
}

fn visit_id(id: &str) -> Result<VisitId, ApiError> {
    VisitId::parse(id).ok_or(ApiError::NotFound("visit"))
}

/// CONTRACT: `POST /visits` (scheduler, clinician, admin).
#[utoipa::path(post, path = "/visits", tag = "visits", security(("bearer" = [])), request_body = NewVisit,
    responses((status = 201, body = CreatedVisit), (status = 422, body = Problem)))]
async fn create_visit(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    ApiJson(body): ApiJson<NewVisit>,
) -> Result<(StatusCode, Json<CreatedVisit>), ApiError> {
    let created = visits::create_visit(
        &state.store,
        &state.clock,
        &staff.actor,
        &body,
        &state.join_links,
    )
    .await?;
    state.live.queue_changed(&created.visit.queue_id).await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// CONTRACT: `GET /visits/{id}` (staff; the visit's patient).
#[utoipa::path(get, path = "/visits/{id}", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Visit), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_visit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Visit>, ApiError> {
    let id = visit_id(&id)?;
    if !access::may_read_visit(&caller.principal, Data::Visits, &id) {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(
        visits::read_visit(&state.store, &caller.actor, &id).await?,
    ))
}

/// CONTRACT: `POST /visits/{id}/check-in` (the visit's patient).
#[utoipa::path(post, path = "/visits/{id}/check-in", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CheckIn, responses((status = 200, body = CheckedIn), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn check_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CheckIn>,
) -> Result<Json<CheckedIn>, ApiError> {
    let id = visit_id(&id)?;
    match caller.patient() {
        Some((_, own)) if *own == id => {}
        _ => return Err(ApiError::Forbidden),
    }
    let checked_in = visits::check_in(
        &state.store,
        &state.clock,
        &state.knowledge,
        &caller.actor,
        &id,
        &body,
    )
    .await?;
    state.live.visit_changed(&checked_in.visit).await;
    Ok(Json(checked_in))
}

/// `POST /visits/{id}/emergency/acknowledge` (the visit's patient): the
/// patient has read the emergency advice; staff see it reached them.
#[utoipa::path(post, path = "/visits/{id}/emergency/acknowledge", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Visit), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn acknowledge_emergency(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Visit>, ApiError> {
    let id = visit_id(&id)?;
    match caller.patient() {
        Some((_, own)) if *own == id => {}
        _ => return Err(ApiError::Forbidden),
    }
    let visit =
        visits::acknowledge_emergency(&state.store, &state.clock, &caller.actor, &id).await?;
    state.live.queue_changed(&visit.queue_id).await;
    Ok(Json(visit))
}

/// `GET /visits/{id}/summary` (the visit's patient, or staff who read the chart): the
/// after-visit summary, once closed (409 before) and for the configured
/// days after (410 after).
#[utoipa::path(get, path = "/visits/{id}/summary", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AfterVisitSummary), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem)))]
async fn get_summary(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AfterVisitSummary>, ApiError> {
    let id = visit_id(&id)?;
    if !access::may_read_visit(&caller.principal, Data::Clinical, &id) {
        return Err(ApiError::Forbidden);
    }
    let profile =
        crate::clinic::profile(&state.store, state.config.region, &state.config.summary).await?;
    let settings = crate::clinic::summary_settings(&profile, &state.config.summary);
    Ok(Json(
        visits::summary::read(&state.store, &caller.actor, &settings, &id).await?,
    ))
}

/// CONTRACT: `PATCH /visits/{id}` (scheduler, admin).
#[utoipa::path(patch, path = "/visits/{id}", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = VisitChange, responses((status = 200, body = Visit), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_visit(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VisitChange>,
) -> Result<Json<Visit>, ApiError> {
    let (visit, left) = visits::change(
        &state.store,
        &state.clock,
        &staff.actor,
        &visit_id(&id)?,
        &body,
    )
    .await?;
    if let Some(queue) = left {
        state.live.queue_changed(&queue).await;
    }
    state.live.visit_changed(&visit).await;
    Ok(Json(visit))
}

/// CONTRACT: `POST /visits/{id}/admit` (clinician): 409 unless waiting.
#[utoipa::path(post, path = "/visits/{id}/admit", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Visit), (status = 409, body = Problem)))]
async fn admit_visit(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
) -> Result<Json<Visit>, ApiError> {
    let visit = visits::admit(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user,
        &visit_id(&id)?,
    )
    .await?;
    state.live.consult_started(&clinician.user, &visit).await;
    Ok(Json(visit))
}

/// `POST /visits/{id}/close/preview` (the admitting clinician): what closing
/// now would hand billing, and why a claim would wait for review.
#[utoipa::path(post, path = "/visits/{id}/close/preview", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ClosePreview, responses((status = 200, body = BillingPreview), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn preview_close(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClosePreview>,
) -> Result<Json<BillingPreview>, ApiError> {
    Ok(Json(
        visits::close_preview(
            &state.store,
            &state.clock,
            &state.billing,
            &clinician.user,
            &visit_id(&id)?,
            &body,
        )
        .await?,
    ))
}

/// CONTRACT: `POST /visits/{id}/close` (the admitting clinician).
#[utoipa::path(post, path = "/visits/{id}/close", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CloseVisit, responses((status = 200, body = Visit), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn close_visit(
    State(state): State<AppState>,
    clinician: Staff<Clinicians>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseVisit>,
) -> Result<Json<Visit>, ApiError> {
    let visit = visits::close(
        &state.store,
        &state.clock,
        &clinician.actor,
        &clinician.user,
        &visit_id(&id)?,
        &body,
    )
    .await?;
    // Its claim is waiting in the outbox now: no need to wait for the poll.
    state.billing_nudge.nudge();
    end_call(&state, &visit.id);
    state.live.consult_ended(&clinician.user, &visit).await;
    Ok(Json(visit))
}

/// After an ended visit is committed: removes everyone from its LiveKit
/// room (revoking their tokens) and deletes the room, off the request path,
/// so a LiveKit outage neither delays nor undoes the change.
fn end_call(state: &AppState, visit: &VisitId) {
    let Some(livekit) = state.livekit.clone() else {
        return;
    };
    let visit = visit.clone();
    tokio::spawn(async move {
        if let Err(error) = livekit.close_room(&visit).await {
            tracing::warn!(%error, "could not close the visit's LiveKit room");
        }
    });
}

async fn end_visit(
    state: &AppState,
    staff: &Staff<VisitCreators>,
    id: &str,
    to: VisitStatus,
) -> Result<Json<Visit>, ApiError> {
    let visit = visits::end(&state.store, &state.clock, &staff.actor, &visit_id(id)?, to).await?;
    end_call(state, &visit.id);
    state.live.visit_changed(&visit).await;
    // The patient has heard the visit ended; its link is dead now.
    match visits::links::current(&state.store, &visit.id).await {
        Ok(link) => state.live.credential_ended(&link).await,
        // The change is committed: the token is refused anyway.
        Err(error) => tracing::warn!(%error, "the ended visit's sockets were not closed"),
    }
    Ok(Json(visit))
}

/// CONTRACT: `POST /visits/{id}/cancel` (scheduler, clinician, admin).
#[utoipa::path(post, path = "/visits/{id}/cancel", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Visit), (status = 409, body = Problem)))]
async fn cancel_visit(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<Visit>, ApiError> {
    end_visit(&state, &staff, &id, VisitStatus::Cancelled).await
}

/// CONTRACT: `POST /visits/{id}/no-show` (scheduler, clinician, admin).
#[utoipa::path(post, path = "/visits/{id}/no-show", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Visit), (status = 409, body = Problem)))]
async fn no_show_visit(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<Visit>, ApiError> {
    end_visit(&state, &staff, &id, VisitStatus::NoShow).await
}

/// `POST /visits/{id}/link` (scheduler, admin): a fresh join link for the
/// patient, say to resend it; every earlier link of the visit stops working
/// and its sockets close. 409 for a cancelled or missed visit.
#[utoipa::path(post, path = "/visits/{id}/link", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CreatedVisit), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reissue_link(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
) -> Result<Json<CreatedVisit>, ApiError> {
    let reissued = visits::links::reissue(
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

/// `GET /visits/{id}/link` (scheduler, admin): the visit's join link as it
/// stands, to copy again; links already sent keep working.
#[utoipa::path(get, path = "/visits/{id}/link", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CreatedVisit), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn show_link(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
) -> Result<Json<CreatedVisit>, ApiError> {
    Ok(Json(
        visits::links::show(
            &state.store,
            &state.clock,
            &staff.actor,
            &state.join_links,
            &visit_id(&id)?,
        )
        .await?,
    ))
}

/// `POST /visits/{id}/link/revoke` (scheduler, admin): the patient's join
/// link stops working at once, on every node, and its sockets close.
#[utoipa::path(post, path = "/visits/{id}/link/revoke", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_link(
    State(state): State<AppState>,
    staff: Staff<Schedulers>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revoked =
        visits::links::revoke(&state.store, &state.clock, &staff.actor, &visit_id(&id)?).await?;
    state.live.credential_ended(&revoked).await;
    Ok(StatusCode::NO_CONTENT)
}
