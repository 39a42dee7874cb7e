//! Guests invited to a visit: an interpreter or a family member.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, Clinicians, GuestOrCaller, Staff, VisitCreators};
use crate::media::livekit;
use crate::model::ids::{GuestId, VisitId};
use crate::state::AppState;
use crate::visits::VisitStatus;
use crate::visits::guests::{self, Guest, InviteGuest, InvitedGuest, MESH_LIMIT};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_guest, list_guests))
        .routes(routes!(admit_guest))
        .routes(routes!(revoke_guest))
        .routes(routes!(guest_self))
}

fn ids(visit: &str, guest: Option<&str>) -> Result<(VisitId, Option<GuestId>), ApiError> {
    let visit = VisitId::parse(visit).ok_or(ApiError::NotFound("visit"))?;
    let guest = guest
        .map(|g| GuestId::parse(g).ok_or(ApiError::NotFound("guest")))
        .transpose()?;
    Ok((visit, guest))
}

/// Invites a guest to the visit with an expiring link for it alone
/// (scheduler, clinician, admin).
#[utoipa::path(post, path = "/visits/{id}/guests", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = InviteGuest,
    responses((status = 201, body = InvitedGuest), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn invite_guest(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InviteGuest>,
) -> Result<(StatusCode, Json<InvitedGuest>), ApiError> {
    let (visit, _) = ids(&id, None)?;
    let invited = guests::invite(
        &state.store,
        &state.tokens,
        &state.config.public_url,
        &staff.actor,
        &staff.user,
        &visit,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(invited)))
}

/// A guest as staff see it: the invitation, and whether the guest has its
/// page open now (so the clinician knows who waits to be let in).
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestView {
    #[serde(flatten)]
    pub guest: Guest,
    pub online: bool,
}

/// The visit's guests (scheduler, clinician, admin).
#[utoipa::path(get, path = "/visits/{id}/guests", tag = "visits", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [GuestView]), (status = 404, body = Problem)))]
async fn list_guests(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path(id): Path<String>,
) -> Result<Json<Vec<GuestView>>, ApiError> {
    let (visit, _) = ids(&id, None)?;
    let guests = guests::list(&state.store, &staff.actor, &visit).await?;
    let online = state.live.guests_online().await;
    Ok(Json(
        guests
            .into_iter()
            .map(|guest| GuestView {
                online: online.contains(guest.id.as_str()),
                guest,
            })
            .collect(),
    ))
}

/// The clinician in the consult lets a guest into the call: four
/// participants at most peer-to-peer, more with LiveKit.
#[utoipa::path(post, path = "/visits/{id}/guests/{guest_id}/admit", tag = "visits", security(("bearer" = [])),
    params(("id" = String, Path), ("guest_id" = String, Path)),
    responses((status = 200, body = Guest), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn admit_guest(
    State(state): State<AppState>,
    staff: Staff<Clinicians>,
    Path((id, guest_id)): Path<(String, String)>,
) -> Result<Json<Guest>, ApiError> {
    let (visit, guest) = ids(&id, Some(&guest_id))?;
    let guest = guest.ok_or(ApiError::NotFound("guest"))?;
    let limit = if state.livekit.is_some() {
        livekit::MAX_PARTICIPANTS as usize
    } else {
        MESH_LIMIT
    };
    let admitted = guests::admit(
        &state.store,
        &state.clock,
        &staff.actor,
        &staff.user,
        &visit,
        &guest,
        limit,
    )
    .await?;
    state.live.guest_admitted(&visit).await;
    Ok(Json(admitted))
}

/// Revokes an invitation: its link stops working and a guest in the call is
/// taken out of it (scheduler, clinician, admin).
#[utoipa::path(post, path = "/visits/{id}/guests/{guest_id}/revoke", tag = "visits", security(("bearer" = [])),
    params(("id" = String, Path), ("guest_id" = String, Path)),
    responses((status = 200, body = Guest), (status = 404, body = Problem)))]
async fn revoke_guest(
    State(state): State<AppState>,
    staff: Staff<VisitCreators>,
    Path((id, guest_id)): Path<(String, String)>,
) -> Result<Json<Guest>, ApiError> {
    let (visit, guest) = ids(&id, Some(&guest_id))?;
    let guest = guest.ok_or(ApiError::NotFound("guest"))?;
    let revoked = guests::revoke(&state.store, &state.clock, &staff.actor, &visit, &guest).await?;
    state.live.guest_removed(&visit, &guest).await;
    Ok(Json(revoked))
}

/// What a guest's page needs: its invitation and the visit's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestSelf {
    pub guest: Guest,
    pub visit_status: VisitStatus,
}

/// The guest holding this token: its invitation and whether the visit is
/// under way. Guests only.
#[utoipa::path(get, path = "/guests/me", tag = "visits", security(("bearer" = [])),
    responses((status = 200, body = GuestSelf), (status = 403, body = Problem)))]
async fn guest_self(
    State(state): State<AppState>,
    GuestOrCaller(caller): GuestOrCaller,
) -> Result<Json<GuestSelf>, ApiError> {
    let Principal::Guest {
        visit_id, guest_id, ..
    } = &caller.principal
    else {
        return Err(ApiError::Forbidden);
    };
    match guests::guest_self(&state.store, visit_id, guest_id).await? {
        Some((guest, visit_status)) => Ok(Json(GuestSelf {
            guest,
            visit_status,
        })),
        None => Err(ApiError::NotFound("guest")),
    }
}
