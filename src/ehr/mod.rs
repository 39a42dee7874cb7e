//! The electronic health record: patients now; encounters, notes,
//! observations, allergies, medications and diagnoses join as they land.
//! Every read or write here leaves an audit event in the same transaction.

pub use crate::model::clinical::{
    Allergy, AllergyStatus, CodeSystem, Condition, ConditionEnd, Encounter, EndAllergy,
    EndCondition, EndMedication, Ended, Medication, MedicationEnd, NewAllergy, NewCondition,
    NewMedication, Note, Observation, Severity, SoapNote, StatusPeriod,
};
pub use crate::model::patient::{Address, Insurance, NewPatient, Patient, Sex};
pub use crate::model::vitals::{Consciousness, Measurement, SNOMED_ALERT, Vitals, loinc};

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::codeset::{self, SubstanceKind};
use crate::model::chat::ChatMessage;
use crate::model::clock::Clock;
use crate::model::ids::{PatientId, UserId};
use crate::model::validation::FieldError;
use crate::store::{self, Store, StoreError, Tx};

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

#[tracing::instrument(skip_all)]
pub async fn create_patient(
    store: &Store,
    actor: &Actor,
    new: &NewPatient,
) -> Result<Patient, EhrError> {
    new.validate(actor.at.to_datetime().date_naive())?;
    let mut tx = store.begin().await?;
    let patient = store::insert_patient(&mut tx, new, actor.at).await?;
    let entry = AuditEntry::new(actor, "patient.create", "Patient")
        .resource(&patient.id)
        .patient(&patient.id);
    audited(tx, &entry).await?;
    Ok(patient)
}

#[tracing::instrument(skip_all)]
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
    audited(tx, &entry).await?;
    patient.ok_or(EhrError::NotFound("patient"))
}

/// Patients by the start of a name; each one returned is an audited read.
#[tracing::instrument(skip_all)]
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

/// Patients by name, birth date or record number (the front desk's
/// search); each one returned is an audited read.
#[tracing::instrument(skip_all)]
pub async fn find_patients(
    store: &Store,
    actor: &Actor,
    query: &store::PatientLookup,
) -> Result<Vec<Patient>, EhrError> {
    let mut tx = store.begin().await?;
    let patients = store::find_patients(&mut tx, query, SEARCH_LIMIT).await?;
    for patient in &patients {
        let entry = AuditEntry::new(actor, "patient.search", "Patient")
            .resource(&patient.id)
            .patient(&patient.id);
        store::append_audit(&mut tx, &entry).await?;
    }
    if patients.is_empty() {
        let entry = AuditEntry::new(actor, "patient.search", "Patient");
        store::append_audit(&mut tx, &entry).await?;
    }
    store::commit(tx).await?;
    Ok(patients)
}

/// Corrects a patient's demographics, contact or insurance; audited.
#[tracing::instrument(skip_all)]
pub async fn update_patient(
    store: &Store,
    actor: &Actor,
    id: &PatientId,
    new: &NewPatient,
) -> Result<Patient, EhrError> {
    new.validate(actor.at.to_datetime().date_naive())?;
    let mut tx = store.begin().await?;
    let patient = store::update_patient(&mut tx, id, new, actor.at)
        .await?
        .ok_or(EhrError::NotFound("patient"))?;
    let entry = AuditEntry::new(actor, "patient.update", "Patient")
        .resource(id)
        .patient(id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(patient)
}

/// Everything a clinician sees of a patient beside the call.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct History {
    pub patient: Patient,
    pub encounters: Vec<Encounter>,
    pub notes: Vec<Note>,
    pub vitals: Vec<Observation>,
    pub conditions: Vec<Condition>,
    pub allergies: Vec<Allergy>,
    pub medications: Vec<Medication>,
    /// The chat of the patient's visits, oldest first.
    pub messages: Vec<ChatMessage>,
}

async fn require_patient(tx: &mut store::Tx, id: &PatientId) -> Result<Patient, EhrError> {
    store::get_patient(tx, id)
        .await?
        .ok_or(EhrError::NotFound("patient"))
}

/// The system of a new allergy's code: the one named, which must hold
/// it, else the one that does; a code no table holds is refused.
fn allergy_code_system(new: &NewAllergy) -> Result<Option<CodeSystem>, FieldError> {
    let Some(code) = &new.code else {
        return match new.system {
            Some(_) => Err(FieldError::new(
                "system",
                "names the system of a code; give the code too, or leave both out",
            )),
            None => Ok(None),
        };
    };
    let table = codeset::substances();
    let found = match new.system {
        Some(system) => table.get(system, code.as_str()),
        None => table.find(SubstanceKind::Any, code.as_str()),
    };
    match (found, new.system) {
        (Some(substance), _) => Ok(Some(substance.system)),
        (None, Some(system)) => Err(FieldError::new(
            "code",
            format!(
                "{} code {} is not one Bedside knows; choose the substance from the search, or leave the code out to record it uncoded",
                system.label(),
                code.as_str()
            ),
        )),
        (None, None) => Err(FieldError::new(
            "code",
            format!(
                "{} is not an RxNorm or SNOMED CT code Bedside knows; choose the substance from the search, or leave the code out to record it uncoded",
                code.as_str()
            ),
        )),
    }
}

#[tracing::instrument(skip_all)]
pub async fn add_allergy(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    recorder: &UserId,
    patient: &PatientId,
    new: &NewAllergy,
) -> Result<Allergy, EhrError> {
    let system = allergy_code_system(new)?;
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    let allergy = store::insert_allergy(
        &mut tx,
        patient,
        new,
        system,
        recorder,
        clock.now().millis(),
    )
    .await?;
    let entry = AuditEntry::new(actor, "allergy.create", "AllergyIntolerance")
        .resource(&allergy.id)
        .patient(patient);
    audited(tx, &entry).await?;
    Ok(allergy)
}

#[tracing::instrument(skip_all)]
pub async fn add_medication(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    recorder: &UserId,
    patient: &PatientId,
    new: &NewMedication,
) -> Result<Medication, EhrError> {
    if let Some(code) = &new.code
        && codeset::substances()
            .get(CodeSystem::Rxnorm, code.as_str())
            .is_none()
    {
        return Err(FieldError::new(
            "code",
            format!(
                "RxNorm code {} is not one Bedside knows; choose the drug from the search, or leave the code out to record it uncoded",
                code.as_str()
            ),
        )
        .into());
    }
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    let medication =
        store::insert_medication(&mut tx, patient, new, recorder, clock.now().millis()).await?;
    let entry = AuditEntry::new(actor, "medication.create", "MedicationStatement")
        .resource(&medication.id)
        .patient(patient);
    audited(tx, &entry).await?;
    Ok(medication)
}

#[tracing::instrument(skip_all)]
pub async fn add_condition(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    recorder: &UserId,
    patient: &PatientId,
    new: &NewCondition,
) -> Result<Condition, EhrError> {
    if codeset::icd10cm().get(&new.code).is_none() {
        return Err(FieldError::new(
            "code",
            format!(
                "{} is not an ICD-10-CM code; choose the problem from the search",
                new.code.as_str()
            ),
        )
        .into());
    }
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    let display = new.display.as_ref().map(|d| d.as_str());
    let row = store::NewConditionRow {
        patient,
        encounter: None,
        code: &new.code,
        display,
        rank: None,
        recorder,
        at: clock.now().millis(),
    };
    let condition = store::insert_condition(&mut tx, row).await?;
    let entry = AuditEntry::new(actor, "condition.create", "Condition")
        .resource(&condition.id)
        .patient(patient);
    audited(tx, &entry).await?;
    Ok(condition)
}

#[tracing::instrument(skip_all)]
pub async fn allergies(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Vec<Allergy>, EhrError> {
    let mut tx = open_chart(store, patient).await?;
    let list = store::allergies_for_patient(&mut tx, patient).await?;
    let entry = AuditEntry::new(actor, "allergy.read", "AllergyIntolerance").patient(patient);
    audited(tx, &entry).await?;
    Ok(list)
}

#[tracing::instrument(skip_all)]
pub async fn medications(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Vec<Medication>, EhrError> {
    let mut tx = open_chart(store, patient).await?;
    let list = store::medications_for_patient(&mut tx, patient).await?;
    let entry = AuditEntry::new(actor, "medication.read", "MedicationStatement").patient(patient);
    audited(tx, &entry).await?;
    Ok(list)
}

#[tracing::instrument(skip_all)]
pub async fn conditions(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Vec<Condition>, EhrError> {
    let mut tx = open_chart(store, patient).await?;
    let list = store::conditions(&mut tx, Some(patient), None).await?;
    let entry = AuditEntry::new(actor, "condition.read", "Condition").patient(patient);
    audited(tx, &entry).await?;
    Ok(list)
}

/// A transaction on `patient`'s chart; `NotFound` when there is no such patient.
async fn open_chart(store: &Store, patient: &PatientId) -> Result<Tx, EhrError> {
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    Ok(tx)
}

/// Audits what the transaction read or wrote, and commits: nothing is
/// answered before its audit is written.
async fn audited(mut tx: Tx, entry: &AuditEntry) -> Result<(), EhrError> {
    store::append_audit(&mut tx, entry).await?;
    store::commit(tx).await?;
    Ok(())
}

/// The patient's chart: past encounters, notes, vitals, diagnoses, allergies, medications.
#[tracing::instrument(skip_all)]
pub async fn history(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<History, EhrError> {
    let mut tx = store.begin().await?;
    let record = require_patient(&mut tx, patient).await?;
    let history = History {
        encounters: store::find_encounters(&mut tx, Some(patient), None, 100).await?,
        notes: store::notes_for_patient(&mut tx, patient).await?,
        vitals: store::observations_for_patient(&mut tx, patient, None).await?,
        conditions: store::conditions(&mut tx, Some(patient), None).await?,
        allergies: store::allergies_for_patient(&mut tx, patient).await?,
        medications: store::medications_for_patient(&mut tx, patient).await?,
        messages: store::patient_messages(&mut tx, patient).await?,
        patient: record,
    };
    audited(
        tx,
        &AuditEntry::new(actor, "patient.history", "Patient")
            .resource(patient)
            .patient(patient),
    )
    .await?;
    Ok(history)
}
