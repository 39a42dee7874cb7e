//! The patient's screen in a LiveKit room. A join token fixes what its
//! holder may publish when it is made, and the patient's never includes
//! the screen; so when the visit's clinician lets the patient share (or
//! stops it), Bedside changes the patient's permission in the room through
//! LiveKit. In a peer-to-peer call the socket's `screen_share` frame is
//! the whole permission and none of this is needed.

use super::livekit::{CallParticipant, LiveKit, LiveKitError};
use crate::audit::{Actor, AuditEntry};
use crate::auth::User;
use crate::model::ids::VisitId;
use crate::model::visit::VisitStatus;
use crate::store::{self, Store, StoreError};
use crate::visits;

#[derive(Debug, thiserror::Error)]
pub enum ScreenShareError {
    #[error("no such visit")]
    NotFound,
    #[error("only the visit's clinician lets the patient share their screen")]
    Forbidden,
    #[error("screen sharing belongs to the consult's call; this visit is {0}")]
    NotInConsult(&'static str),
    #[error(
        "calls here are peer-to-peer: the patient's permission is the call's `screen_share` frame"
    )]
    PeerToPeer,
    #[error("the patient is not in the call's room yet")]
    PatientAbsent,
    #[error(transparent)]
    LiveKit(LiveKitError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lets the visit's patient publish its screen in the visit's LiveKit room,
/// or stops it (a screen being shared stops with the permission). Only the
/// visit's clinician, during the consult. Letting needs the patient in the
/// room; stopping does not, since a patient who is not there may not share
/// anyway. Each change LiveKit took is audited: `media.grant` when allowed,
/// `media.revoke` when withdrawn.
#[tracing::instrument(skip_all, fields(visit.id = %id, allowed))]
pub async fn set_patient_screen_share(
    store: &Store,
    livekit: Option<&LiveKit>,
    clinician: &User,
    actor: &Actor,
    id: &VisitId,
    allowed: bool,
) -> Result<(), ScreenShareError> {
    let mut tx = store.begin_read().await?;
    let visit = store::get_visit(&mut tx, id).await?;
    store::commit(tx).await?;
    let visit = visit.ok_or(ScreenShareError::NotFound)?;
    if !visits::is_visit_clinician(&visit, &clinician.id) {
        return Err(ScreenShareError::Forbidden);
    }
    if visit.status != VisitStatus::InConsult {
        return Err(ScreenShareError::NotInConsult(visit.status.as_str()));
    }
    let livekit = livekit.ok_or(ScreenShareError::PeerToPeer)?;
    let patient = CallParticipant::patient(&visit.id);
    match livekit
        .set_screen_share(&visit.id, &patient.identity, allowed)
        .await
    {
        Ok(()) => {}
        Err(LiveKitError::NotInRoom) if !allowed => {}
        Err(LiveKitError::NotInRoom) => return Err(ScreenShareError::PatientAbsent),
        Err(error) => return Err(ScreenShareError::LiveKit(error)),
    }
    let action = if allowed {
        "media.grant"
    } else {
        "media.revoke"
    };
    let mut tx = store.begin().await?;
    let entry = AuditEntry::new(actor, action, "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(())
}
