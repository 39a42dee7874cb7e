//! The patient's join link: a fresh one for the front desk to resend, and
//! revocation. Either moves the visit's link version on in the store, so
//! every token issued before stops working on every node at once; the
//! caller then closes the sockets those tokens opened.

use super::{CreatedVisit, SummarySettings, VisitError, audit, load, patient_token_ttl_seconds};
use crate::audit::Actor;
use crate::auth::{Credential, TokenKeys};
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::model::visit::VisitStatus;
use crate::store::{self, Store};

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
    keys: &TokenKeys,
    public_url: &str,
    summary: &SummarySettings,
    id: &VisitId,
) -> Result<Reissued, VisitError> {
    replace(store, clock, actor, keys, public_url, summary, id, false).await
}

/// As [`reissue`], and the fresh link is queued to the patient (e-mail and
/// text) in the same transaction.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn reissue_and_send(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    keys: &TokenKeys,
    public_url: &str,
    summary: &SummarySettings,
    id: &VisitId,
) -> Result<Reissued, VisitError> {
    replace(store, clock, actor, keys, public_url, summary, id, true).await
}

#[allow(clippy::too_many_arguments)]
async fn replace(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    keys: &TokenKeys,
    public_url: &str,
    summary: &SummarySettings,
    id: &VisitId,
    send: bool,
) -> Result<Reissued, VisitError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    if matches!(visit.status, VisitStatus::Cancelled | VisitStatus::NoShow) {
        return Err(VisitError::WrongState(format!(
            "a visit that is {} has no join link; book a new visit",
            visit.status.as_str().replace('_', " ")
        )));
    }
    let version = store::bump_link_version(&mut tx, id, now)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    store::append_audit(&mut tx, &audit(actor, "visit.link_issue", &visit)).await?;
    if send {
        crate::outbox::queue_link(&mut tx, &visit, version, now).await?;
    }
    store::commit(tx).await?;
    let token = keys.issue_patient(
        &visit.id,
        &visit.patient_id,
        version,
        now.millis() / 1000,
        patient_token_ttl_seconds(summary),
    );
    let join_url = format!("{public_url}/join/{}?t={}", visit.id, token.expose());
    Ok(Reissued {
        replaced: Credential::visit_link(&visit.id, version - 1),
        created: CreatedVisit {
            visit,
            patient_token: token.expose().to_owned(),
            join_url,
        },
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
    keys: &TokenKeys,
    public_url: &str,
    summary: &SummarySettings,
    id: &VisitId,
) -> Result<CreatedVisit, VisitError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    if matches!(visit.status, VisitStatus::Cancelled | VisitStatus::NoShow) {
        return Err(VisitError::WrongState(format!(
            "a visit that is {} has no join link; book a new visit",
            visit.status.as_str().replace('_', " ")
        )));
    }
    let version = store::visit_link(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?
        .version;
    store::append_audit(&mut tx, &audit(actor, "visit.link_read", &visit)).await?;
    store::commit(tx).await?;
    let token = keys.issue_patient(
        &visit.id,
        &visit.patient_id,
        version,
        now.millis() / 1000,
        patient_token_ttl_seconds(summary),
    );
    let join_url = format!("{public_url}/join/{}?t={}", visit.id, token.expose());
    Ok(CreatedVisit {
        visit,
        patient_token: token.expose().to_owned(),
        join_url,
    })
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
