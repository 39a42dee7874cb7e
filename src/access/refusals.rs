//! Refused attempts on health data, in the audit trail with outcome
//! `denied`: who asked and for what, with the patient when it is known.

use crate::model::audit::{Actor, AuditEntry, Outcome};
use crate::model::ids::{PatientId, VisitId};
use crate::store::{self, Store, StoreError};

/// What a refused request was after.
#[derive(Debug, Clone)]
pub enum Target {
    /// A visit (and so its patient's record).
    Visit(VisitId),
    /// A patient's record.
    Patient(PatientId),
    /// A resource of a kind, with its id when one was named, and its
    /// patient when known.
    Resource {
        kind: &'static str,
        id: Option<String>,
        patient: Option<PatientId>,
    },
}

/// Appends one `denied` event for `actor`'s attempt at `action` on `target`.
/// A visit's patient is looked up so the event shows in that patient's trail.
#[tracing::instrument(skip_all, fields(action))]
pub async fn record_refusal(
    store: &Store,
    actor: &Actor,
    action: &'static str,
    target: &Target,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let entry = match target {
        Target::Visit(id) => {
            let entry = AuditEntry::new(actor, action, "Visit").resource(id);
            match store::visit_link(&mut tx, id).await? {
                Some(link) => entry.patient(&link.patient_id),
                None => entry,
            }
        }
        Target::Patient(id) => AuditEntry::new(actor, action, "Patient")
            .resource(id)
            .patient(id),
        Target::Resource { kind, id, patient } => {
            let mut entry = AuditEntry::new(actor, action, kind);
            if let Some(id) = id {
                entry = entry.resource(id);
            }
            if let Some(patient) = patient {
                entry = entry.patient(patient);
            }
            entry
        }
    };
    store::append_audit(&mut tx, &entry.outcome(Outcome::Denied)).await?;
    store::commit(tx).await?;
    Ok(())
}
