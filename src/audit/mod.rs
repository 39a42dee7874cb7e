//! The audit trail of health data: who read or wrote which record, when,
//! from where, and with what outcome. The events and their hash chain are
//! model types ([`crate::model::audit`]); this module seals waiting events
//! into the chain and reads them for admins.
//!
//! - [`sealer`]: links the events changes wrote into the chain, in batches.

pub mod sealer;

pub use crate::model::audit::{
    Actor, AuditEntry, AuditEvent, ChainReport, GENESIS_HASH, Outcome, verify_chain,
};

use crate::model::ids::PatientId;
use crate::store::{self, Store, StoreError};

/// A patient's events, newest first, at most `limit`; reading the trail is
/// itself audited.
#[tracing::instrument(skip_all)]
pub async fn events_for_patient(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    sealer::seal(store).await?;
    let mut tx = store.begin().await?;
    let events = store::audit_events_for_patient(&mut tx, patient.as_str(), limit).await?;
    let entry = AuditEntry::new(actor, "audit.read", "AuditEvent").patient(patient);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(events)
}

/// Walks the whole hash chain and reports the first broken link.
#[tracing::instrument(skip_all)]
pub async fn verify(store: &Store) -> Result<ChainReport, StoreError> {
    sealer::seal(store).await?;
    let mut tx = store.begin_read().await?;
    let report = store::verify_audit_chain(&mut tx).await?;
    store::commit(tx).await?;
    Ok(report)
}

pub use crate::store::AuditQuery;

/// One page of the trail as an admin filtered it, and the count of all
/// matching events; the reading is itself audited.
#[tracing::instrument(skip_all)]
pub async fn search(
    store: &Store,
    actor: &Actor,
    query: &AuditQuery,
    page: i64,
    page_size: i64,
) -> Result<(Vec<AuditEvent>, i64), StoreError> {
    sealer::seal(store).await?;
    let mut tx = store.begin().await?;
    let found = store::search_audit(&mut tx, query, (page - 1) * page_size, page_size).await?;
    let mut entry = AuditEntry::new(actor, "audit.read", "AuditEvent");
    if let Some(patient) = &query.patient_id {
        entry = entry.patient(patient);
    }
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(found)
}
