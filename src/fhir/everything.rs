//! `Patient/[id]/$everything` (STANDARDS-2 §2): one patient's whole record
//! as a searchset Bundle — the Patient, then each kind of resource the
//! requester may read, in the searches' order. `_type` narrows the kinds.
//! One audit event for the read, or for its refusal.

use serde_json::Value;

use super::search::MAX_OFFSET;
use super::{Criteria, FhirError, Found, Paging, Requester, ResourceType, searchset, write};
use crate::access;
use crate::audit::{AuditEntry, Outcome};
use crate::model::ids::PatientId;
use crate::model::smart::Interaction;
use crate::store::{self, Store};

/// The kinds of a patient's record, in the order the Bundle lists them.
const RECORD: [ResourceType; 8] = [
    ResourceType::Patient,
    ResourceType::Encounter,
    ResourceType::Observation,
    ResourceType::Condition,
    ResourceType::AllergyIntolerance,
    ResourceType::MedicationStatement,
    ResourceType::Communication,
    ResourceType::Claim,
];

/// The kinds `_type` asks for (comma lists and repeats allowed); all of
/// the record when absent.
fn wanted(pairs: &[(String, String)]) -> Result<Vec<ResourceType>, FhirError> {
    let mut kinds = Vec::new();
    for (_, value) in pairs.iter().filter(|(k, _)| k == "_type") {
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind = ResourceType::parse(name)
                .filter(|k| RECORD.contains(k))
                .ok_or_else(|| {
                    FhirError::InvalidSearch(format!(
                        "_type: {name} is not part of a patient's record"
                    ))
                })?;
            kinds.push(kind);
        }
    }
    Ok(if kinds.is_empty() {
        RECORD.to_vec()
    } else {
        kinds
    })
}

#[tracing::instrument(skip_all)]
pub async fn everything(
    store: &Store,
    who: Requester<'_>,
    id: &str,
    pairs: &[(String, String)],
    self_url: &str,
) -> Result<Value, FhirError> {
    let kinds = wanted(pairs)?;
    let not_found = || FhirError::NotFound(format!("Patient {id} is not known"));
    let patient = PatientId::parse(id).ok_or_else(not_found)?;
    let mut tx = store.begin().await?;
    let record = store::get_patient(&mut tx, &patient).await?;
    let entry = AuditEntry::new(who.actor, "fhir.everything", "Patient")
        .resource(&patient)
        .patient(&patient);
    let Some(record) = record else {
        store::append_audit(&mut tx, &entry.outcome(Outcome::NotFound)).await?;
        store::commit(tx).await?;
        return Err(not_found());
    };
    let owner = super::patient(record, who.base);
    if !who.may_see(ResourceType::Patient, Interaction::Read, &owner) {
        store::append_audit(&mut tx, &entry.outcome(Outcome::Denied)).await?;
        store::commit(tx).await?;
        return Err(FhirError::Forbidden);
    }
    let criteria = Criteria {
        patient: Some(patient.clone()),
        ..Criteria::default()
    };
    let mut resources: Vec<Value> = Vec::new();
    for kind in kinds {
        if !access::reads_any(who.principal, kind.data()) {
            continue;
        }
        let found: Vec<Found> = if kind == ResourceType::Patient {
            vec![super::patient(
                store::get_patient(&mut tx, &patient)
                    .await?
                    .ok_or_else(not_found)?,
                who.base,
            )]
        } else {
            super::find(&mut tx, kind, &criteria, who.base, MAX_OFFSET).await?
        };
        let mut part: Vec<Value> = found
            .into_iter()
            .filter(|f| who.may_see(kind, Interaction::Search, f))
            .map(|f| f.resource)
            .collect();
        write::stamp(&mut tx, kind, &mut part).await?;
        resources.extend(part);
    }
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    let total = resources.len();
    Ok(searchset(
        who.now,
        who.base,
        self_url,
        resources,
        Paging {
            next: None,
            total: Some(total),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_narrows_the_record_and_refuses_what_is_not_part_of_it() {
        let pairs = |v: &str| vec![("_type".to_owned(), v.to_owned())];
        assert_eq!(
            wanted(&pairs("Observation, Condition")).unwrap(),
            vec![ResourceType::Observation, ResourceType::Condition]
        );
        assert_eq!(wanted(&[]).unwrap().len(), RECORD.len());
        assert!(wanted(&pairs("Practitioner")).is_err());
    }
}
