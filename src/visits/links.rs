//! The patient's join link: a fresh one for the front desk to resend, the
//! current one to copy, and revocation. Replacing or revoking
//! moves the visit's link version on in the store, so every token issued
//! before stops working on every node at once; the caller then closes the
//! sockets those tokens opened.

use super::{CreatedVisit, Visit, VisitError, audit, load};
use crate::audit::Actor;
use crate::auth::{Credential, JoinLinks};
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::model::visit::VisitStatus;
use crate::store::{self, Store};

/// The visit with a link of `version` for its patient.
pub(super) fn created(
    links: &JoinLinks,
    visit: Visit,
    version: i64,
    now: Timestamp,
) -> CreatedVisit {
    let link = links.issue(&visit.id, &visit.patient_id, version, now);
    CreatedVisit {
        visit,
        patient_token: link.token.expose().to_owned(),
        join_url: link.url,
    }
}

/// A fresh link, and the credential of the link it replaced (whose
/// sockets are to close).
#[derive(Debug)]
pub struct Reissued {
    pub created: CreatedVisit,
    pub replaced: Credential,
}

/// The credential of the visit's current link.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn current(store: &Store, id: &VisitId) -> Result<Credential, VisitError> {
    let mut tx = store.begin_read().await?;
    let link = store::visit_link(&mut tx, id).await?;
    store::commit(tx).await?;
    let link = link.ok_or(VisitError::NotFound("visit"))?;
    Ok(Credential::visit_link(id, link.version))
}

/// Replaces the visit's join link: the old token dies, a new one is
/// issued. A cancelled or missed visit has no link to give (409); a closed
/// one gets a link for the rest of its summary days.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn reissue(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
    id: &VisitId,
) -> Result<Reissued, VisitError> {
    replace(store, clock, actor, links, id, false).await
}

/// As [`reissue`], and the fresh link is queued to the patient (e-mail and
/// text) in the same transaction.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn reissue_and_send(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
    id: &VisitId,
) -> Result<Reissued, VisitError> {
    replace(store, clock, actor, links, id, true).await
}

async fn replace(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
    id: &VisitId,
    send: bool,
) -> Result<Reissued, VisitError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    has_link(&visit)?;
    let version = store::bump_link_version(&mut tx, id, now)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    store::append_audit(&mut tx, &audit(actor, "visit.link_issue", &visit)).await?;
    if send {
        crate::outbox::queue_link(&mut tx, &visit, version, now).await?;
    }
    store::commit(tx).await?;
    Ok(Reissued {
        replaced: Credential::visit_link(&visit.id, version - 1),
        created: created(links, visit, version, now),
    })
}

/// The visit's join link as it stands, to show or copy again: a token of
/// the current link version, so links sent before keep working. A
/// cancelled or missed visit has none (409).
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn show(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
    id: &VisitId,
) -> Result<CreatedVisit, VisitError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    has_link(&visit)?;
    let version = store::visit_link(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?
        .version;
    store::append_audit(&mut tx, &audit(actor, "visit.link_read", &visit)).await?;
    store::commit(tx).await?;
    Ok(created(links, visit, version, now))
}

/// A cancelled or missed visit has no join link to give.
fn has_link(visit: &Visit) -> Result<(), VisitError> {
    if matches!(visit.status, VisitStatus::Cancelled | VisitStatus::NoShow) {
        return Err(VisitError::WrongState(format!(
            "a visit that is {} has no join link; book a new visit",
            visit.status.as_str().replace('_', " ")
        )));
    }
    Ok(())
}

/// Revokes the visit's join link: every token issued for it stops working.
/// Answers the credential of the revoked link.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn revoke(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &VisitId,
) -> Result<Credential, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    let version = store::bump_link_version(&mut tx, id, clock.now())
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    store::append_audit(&mut tx, &audit(actor, "visit.link_revoke", &visit)).await?;
    store::commit(tx).await?;
    Ok(Credential::visit_link(id, version - 1))
}
