//! The note as it is typed: saved on the server by the admitting clinician
//! during the consult, read back after a reload or on another device, and
//! removed when the visit closes. Every save and read is audited.

use super::{VisitError, audit, load};
use crate::audit::Actor;
use crate::auth::User;
use crate::model::draft::{DraftFields, NoteDraft};
use crate::model::ids::VisitId;
use crate::model::visit::VisitStatus;
use crate::store::{self, Store};

/// Saves the draft of a consult in progress; only its admitting clinician.
#[tracing::instrument(skip_all)]
pub async fn save(
    store: &Store,
    actor: &Actor,
    clinician: &User,
    id: &VisitId,
    fields: &DraftFields,
) -> Result<NoteDraft, VisitError> {
    fields.validate()?;
    let mut tx = store.begin().await?;
    // Held until commit, so a close either waits for this save (and then
    // deletes the draft) or has finished (and this save is refused).
    let visit = store::lock_visit(&mut tx, store.backend(), id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    if visit.admitted_by.as_ref() != Some(&clinician.id) {
        return Err(VisitError::Forbidden);
    }
    if visit.status != VisitStatus::InConsult {
        return Err(VisitError::WrongState(format!(
            "the note can be drafted only during the consult; this visit is {}",
            visit.status.as_str()
        )));
    }
    store::save_draft(&mut tx, id, &clinician.id, fields, actor.at).await?;
    store::append_audit(&mut tx, &audit(actor, "note_draft.save", &visit)).await?;
    store::commit(tx).await?;
    Ok(NoteDraft {
        fields: fields.clone(),
        author_id: clinician.id.clone(),
        updated_at: actor.at,
    })
}

/// The saved draft, for the visit's clinician; `None` when there is none.
#[tracing::instrument(skip_all)]
pub async fn read(
    store: &Store,
    actor: &Actor,
    clinician: &User,
    id: &VisitId,
) -> Result<Option<NoteDraft>, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    if !super::is_visit_clinician(&visit, &clinician.id) {
        return Err(VisitError::Forbidden);
    }
    let draft = store::get_draft(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "note_draft.read", &visit)).await?;
    store::commit(tx).await?;
    Ok(draft)
}
