//! The electronic health record: patients now; encounters, notes,
//! observations, allergies, medications and diagnoses join as they land.
//! Every read or write here leaves an audit event in the same transaction.

mod patients;

pub use patients::{Address, Insurance, NewPatient, Patient, Sex};

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::ids::PatientId;
use crate::store::{self, Store, StoreError};
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum EhrError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Most patients one search returns.
pub const SEARCH_LIMIT: i64 = 50;

pub async fn create_patient(
    store: &Store,
    actor: &Actor,
    new: &NewPatient,
) -> Result<Patient, EhrError> {
    new.validate(chrono::Utc::now().date_naive())?;
    let mut tx = store.begin().await?;
    let patient = store::insert_patient(&mut tx, new).await?;
    let entry = AuditEntry::new(actor, "patient.create", "Patient")
        .resource(&patient.id)
        .patient(&patient.id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(patient)
}

pub async fn read_patient(
    store: &Store,
    actor: &Actor,
    id: &PatientId,
) -> Result<Patient, EhrError> {
    let mut tx = store.begin().await?;
    let patient = store::get_patient(&mut tx, id).await?;
    let outcome = if patient.is_some() {
        Outcome::Success
    } else {
        Outcome::NotFound
    };
    let entry = AuditEntry::new(actor, "patient.read", "Patient")
        .resource(id)
        .patient(id)
        .outcome(outcome);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    patient.ok_or(EhrError::NotFound("patient"))
}

/// Patients by the start of a name; each one returned is an audited read.
pub async fn search_patients(
    store: &Store,
    actor: &Actor,
    name: Option<&str>,
) -> Result<Vec<Patient>, EhrError> {
    let mut tx = store.begin().await?;
    let patients = store::search_patients(&mut tx, name, SEARCH_LIMIT).await?;
    for patient in &patients {
        let entry = AuditEntry::new(actor, "patient.search", "Patient")
            .resource(&patient.id)
            .patient(&patient.id);
        store::append_audit(&mut tx, &entry).await?;
    }
    if patients.is_empty() {
        store::append_audit(
            &mut tx,
            &AuditEntry::new(actor, "patient.search", "Patient"),
        )
        .await?;
    }
    store::commit(tx).await?;
    Ok(patients)
}
