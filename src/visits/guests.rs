//! Invited guests: an interpreter or a family member joins one visit's call
//! from an expiring link, once the visit's clinician admits them. A
//! peer-to-peer call is a mesh and carries four at most; LiveKit carries more.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{VisitError, VisitStatus, audit, load};
use crate::audit::Actor;
use crate::auth::{GuestToken, TokenKeys, User};
use crate::model::clock::Clock;
pub use crate::model::guest::{Guest, GuestKind, GuestStatus};
use crate::model::ids::{GuestId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::store::{self, Store};

/// Participants a peer-to-peer mesh carries: each browser sends its media
/// to every other, so the uplink it needs grows with each one.
pub const MESH_LIMIT: usize = 4;

/// An invitation lasts four hours unless the inviter says otherwise.
const DEFAULT_MINUTES: i64 = 4 * 60;

/// `POST /visits/{id}/guests`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InviteGuest {
    /// How the others see the guest, e.g. "Maria (interpreter)".
    pub display_name: String,
    pub kind: GuestKind,
    /// From 5 to 1440; 240 when absent.
    pub expires_in_minutes: Option<i64>,
}

/// The invitation, its token and the link to send the guest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitedGuest {
    pub guest: Guest,
    pub token: String,
    pub join_url: String,
}

/// Invites a guest to a visit that has not ended; audited.
#[tracing::instrument(skip_all)]
pub async fn invite(
    store: &Store,
    keys: &TokenKeys,
    public_url: &str,
    actor: &Actor,
    inviter: &User,
    visit_id: &VisitId,
    input: &InviteGuest,
) -> Result<InvitedGuest, VisitError> {
    let name = input.display_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new("display_name", "must be 1 to 100 characters").into());
    }
    let minutes = input.expires_in_minutes.unwrap_or(DEFAULT_MINUTES);
    if !(5..=24 * 60).contains(&minutes) {
        return Err(FieldError::new("expires_in_minutes", "must be from 5 to 1440").into());
    }
    let now = actor.at.millis();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, visit_id).await?;
    if visit.status.has_ended() {
        return Err(VisitError::WrongState(format!(
            "the visit is {}; guests join visits that have not ended",
            visit.status.as_str()
        )));
    }
    let guest = Guest {
        id: GuestId::new(),
        visit_id: visit.id.clone(),
        display_name: name.to_owned(),
        kind: input.kind,
        status: GuestStatus::Invited,
        invited_by: inviter.id.clone(),
        invited_at: Timestamp(now),
        expires_at: Timestamp(now + minutes * 60_000),
        admitted_by: None,
        admitted_at: None,
    };
    store::insert_guest(&mut tx, &guest).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.guest.invite", &visit)).await?;
    store::commit(tx).await?;
    let token: GuestToken = keys.issue_guest(
        &visit.id,
        &guest.id,
        now / 1000,
        guest.expires_at.millis() / 1000,
    );
    let join_url = format!("{public_url}/guest/{}?t={}", visit.id, token.expose());
    Ok(InvitedGuest {
        guest,
        token: token.expose().to_owned(),
        join_url,
    })
}

/// The visit's guests, for staff; audited.
#[tracing::instrument(skip_all)]
pub async fn list(
    store: &Store,
    actor: &Actor,
    visit_id: &VisitId,
) -> Result<Vec<Guest>, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, visit_id).await?;
    let guests = store::visit_guests(&mut tx, visit_id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.guest.list", &visit)).await?;
    store::commit(tx).await?;
    Ok(guests)
}

/// The clinician in the consult lets a waiting guest into the call. With
/// `mesh` (peer-to-peer media) the call holds [`MESH_LIMIT`] at most, else
/// `room_limit`.
#[tracing::instrument(skip_all)]
pub async fn admit(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    clinician: &User,
    visit_id: &VisitId,
    guest_id: &GuestId,
    room_limit: usize,
) -> Result<Guest, VisitError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, visit_id).await?;
    if visit.status != VisitStatus::InConsult {
        return Err(VisitError::WrongState(
            "guests are let in during the consult".to_owned(),
        ));
    }
    if visit.admitted_by.as_ref() != Some(&clinician.id) {
        return Err(VisitError::Forbidden);
    }
    let guest = store::get_guest(&mut tx, guest_id)
        .await?
        .filter(|g| g.visit_id == visit.id)
        .ok_or(VisitError::NotFound("guest"))?;
    if !guest.is_active(now) {
        return Err(VisitError::WrongState(
            "the invitation was revoked or has expired".to_owned(),
        ));
    }
    if guest.status == GuestStatus::Admitted {
        store::commit(tx).await?;
        return Ok(guest);
    }
    let admitted = store::count_admitted_guests(&mut tx, visit_id).await?;
    // The patient and the clinician, then the guests already in.
    if 2 + admitted + 1 > room_limit {
        return Err(VisitError::WrongState(format!(
            "this call carries {room_limit} participants at most"
        )));
    }
    if !store::mark_guest_admitted(&mut tx, guest_id, &clinician.id, now).await? {
        return Err(VisitError::WrongState(
            "the guest's invitation changed".to_owned(),
        ));
    }
    store::append_audit(&mut tx, &audit(actor, "visit.guest.admit", &visit)).await?;
    let guest = store::get_guest(&mut tx, guest_id)
        .await?
        .ok_or(VisitError::NotFound("guest"))?;
    store::commit(tx).await?;
    Ok(guest)
}

/// Revokes an invitation: its link stops working at once; audited.
#[tracing::instrument(skip_all)]
pub async fn revoke(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    visit_id: &VisitId,
    guest_id: &GuestId,
) -> Result<Guest, VisitError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, visit_id).await?;
    let found = store::get_guest(&mut tx, guest_id)
        .await?
        .filter(|g| g.visit_id == visit.id)
        .ok_or(VisitError::NotFound("guest"))?;
    if found.status != GuestStatus::Revoked {
        store::revoke_guest(&mut tx, guest_id, now).await?;
        store::append_audit(&mut tx, &audit(actor, "visit.guest.revoke", &visit)).await?;
    }
    let guest = store::get_guest(&mut tx, guest_id)
        .await?
        .ok_or(VisitError::NotFound("guest"))?;
    store::commit(tx).await?;
    Ok(guest)
}

/// A guest's own invitation and the status of its visit, as its page
/// needs them; `None` when either is gone.
#[tracing::instrument(skip_all)]
pub async fn guest_self(
    store: &Store,
    visit: &VisitId,
    guest: &GuestId,
) -> Result<Option<(Guest, VisitStatus)>, VisitError> {
    let mut tx = store.begin_read().await?;
    let guest = store::get_guest(&mut tx, guest).await?;
    let visit = store::get_visit(&mut tx, visit).await?;
    store::commit(tx).await?;
    Ok(guest.zip(visit.map(|v| v.status)))
}
