//! The FHIR R4 facade (CONTRACT.md "FHIR R4"): the health record read as
//! FHIR resources — Patient, Practitioner, Encounter, Observation,
//! Condition, AllergyIntolerance, Communication (a call's chat), and
//! billing's Claim — one at a time or
//! by search into a searchset Bundle. Who reads what is the read policy's
//! ([`crate::access::policy`]), the same the REST routes follow: staff by
//! role, a patient's token only its own visit (another record's resource
//! is forbidden, a search is narrowed to the visit). Every read and search
//! leaves audit events in the transaction that read, refusals included.

mod bundle;
mod claim;
pub mod everything;
mod resources;
mod schedule;
mod search;
pub mod transaction;
pub mod write;

pub use bundle::{Paging, capability_statement, outcome, searchset};
pub use search::{Criteria, DateParam, Prefix, Window};

use std::collections::HashMap;

use serde_json::Value;

use crate::access::{self, Data, ScopeReach, Subject};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::{Principal, Role};
use crate::billing::{Claim, ClaimId};
use crate::ehr::{Allergy, Condition, Encounter, Medication, Observation, Patient};
use crate::model::chat::ChatMessage;
use crate::model::ids::{ChatMessageId, EncounterId, PatientId, UserId};
use crate::model::smart::Interaction;
use crate::model::timestamp::Timestamp;
use crate::store::{self, StaffRecord, Store, StoreError, Tx};

/// Code system URIs (STANDARDS.md §1).
pub mod system {
    pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
    pub const PARTICIPATION_TYPE: &str =
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
    pub const DIAGNOSIS_ROLE: &str = "http://terminology.hl7.org/CodeSystem/diagnosis-role";
    pub const ENCOUNTER_STATUS: &str = "http://hl7.org/fhir/encounter-status";
    pub const OBSERVATION_CATEGORY: &str =
        "http://terminology.hl7.org/CodeSystem/observation-category";
    pub const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
    pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
    pub const ALLERGY_CLINICAL: &str =
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
    pub const ALLERGY_VERIFICATION: &str =
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    pub const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
    pub const IDENTIFIER_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
    pub const LOINC: &str = "http://loinc.org";
    pub const SNOMED: &str = crate::model::clinical::CodeSystem::SNOMED_URI;
    pub const UCUM: &str = "http://unitsofmeasure.org";
    pub const ICD10_CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    pub const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
    pub const RXNORM: &str = crate::model::clinical::CodeSystem::RXNORM_URI;
    pub const PARTICIPATION_MODE: &str =
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode";
}

/// The after-visit summary as a FHIR Composition; its id is the visit's.
pub fn composition(summary: &crate::model::summary::AfterVisitSummary) -> Value {
    resources::composition(summary)
}

/// Most resources one search answers.
pub const SEARCH_LIMIT: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("{0}")]
    NotFound(String),
    #[error("resource type {0} is not supported")]
    UnknownType(String),
    /// An unknown search parameter, modifier or format.
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    InvalidSearch(String),
    #[error("this record belongs to another patient")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Patient,
    Practitioner,
    Encounter,
    Observation,
    Condition,
    AllergyIntolerance,
    MedicationStatement,
    Communication,
    Claim,
    Schedule,
    Slot,
    Appointment,
}

impl ResourceType {
    pub const ALL: [Self; 12] = [
        Self::Patient,
        Self::Practitioner,
        Self::Encounter,
        Self::Observation,
        Self::Condition,
        Self::AllergyIntolerance,
        Self::MedicationStatement,
        Self::Communication,
        Self::Claim,
        Self::Schedule,
        Self::Slot,
        Self::Appointment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Practitioner => "Practitioner",
            Self::Encounter => "Encounter",
            Self::Observation => "Observation",
            Self::Condition => "Condition",
            Self::AllergyIntolerance => "AllergyIntolerance",
            Self::MedicationStatement => "MedicationStatement",
            Self::Communication => "Communication",
            Self::Claim => "Claim",
            Self::Schedule => "Schedule",
            Self::Slot => "Slot",
            Self::Appointment => "Appointment",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// The kind of data the read policy sees in this resource type.
    pub fn data(self) -> Data {
        match self {
            Self::Patient => Data::Demographics,
            Self::Practitioner => Data::Practitioners,
            Self::Encounter => Data::Encounters,
            Self::Observation
            | Self::Condition
            | Self::AllergyIntolerance
            | Self::MedicationStatement => Data::Clinical,
            Self::Communication => Data::Messages,
            Self::Claim => Data::Claims,
            Self::Schedule | Self::Slot => Data::Practitioners,
            Self::Appointment => Data::Visits,
        }
    }

    /// Search parameters and their FHIR types.
    pub fn search_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Patient => &[("name", "string"), ("birthdate", "date")],
            Self::Practitioner => &[("name", "string")],
            Self::Encounter => &[
                ("patient", "reference"),
                ("status", "token"),
                ("date", "date"),
            ],
            Self::Observation => &[
                ("patient", "reference"),
                ("category", "token"),
                ("code", "token"),
            ],
            Self::Condition => &[("patient", "reference"), ("encounter", "reference")],
            Self::AllergyIntolerance | Self::MedicationStatement => &[("patient", "reference")],
            Self::Communication => &[("patient", "reference"), ("encounter", "reference")],
            Self::Claim => &[
                ("patient", "reference"),
                ("encounter", "reference"),
                ("status", "token"),
            ],
            Self::Schedule => &[("actor", "reference")],
            Self::Slot => &[("schedule", "reference")],
            Self::Appointment => &[("patient", "reference"), ("actor", "reference")],
        }
    }
}

/// Who asks, and where the facade is served (`{public_url}/fhir`).
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a Principal,
    pub actor: &'a Actor,
    pub base: &'a str,
    /// When the request is answered.
    pub now: Timestamp,
}

impl Requester<'_> {
    /// The only patient whose record this requester may see, if limited:
    /// a patient's own, or the patient in a SMART app's context.
    fn own_patient(&self, kind: ResourceType, interaction: Interaction) -> Option<&PatientId> {
        match self.principal {
            Principal::Patient { patient_id, .. } => Some(patient_id),
            Principal::App(_) => {
                match access::scope_reach(self.principal, kind.as_str(), interaction) {
                    ScopeReach::Patient(patient) => Some(patient),
                    ScopeReach::None | ScopeReach::Any => None,
                }
            }
            Principal::Staff(_) | Principal::Guest { .. } => None,
        }
    }

    /// Whether the requester may `interaction` on this kind at all: the
    /// read policy, and a SMART app's scopes.
    fn may_use(&self, kind: ResourceType, interaction: Interaction) -> bool {
        access::reads_any(self.principal, kind.data())
            && access::scope_reach(self.principal, kind.as_str(), interaction) != ScopeReach::None
    }

    /// Whether the read policy, and a SMART app's scopes, let this
    /// requester see `found`.
    fn may_see(&self, kind: ResourceType, interaction: Interaction, found: &Found) -> bool {
        let subject = Subject {
            patient: found.patient.as_ref(),
            encounter: found.encounter.as_ref(),
            visit: None,
        };
        access::may_read(self.principal, kind.data(), &subject)
            && access::scopes_allow(
                self.principal,
                kind.as_str(),
                interaction,
                found.patient.as_ref(),
            )
    }
}

/// A resource as read, and the patient (and encounter) whose record it is
/// part of.
struct Found {
    resource: Value,
    patient: Option<PatientId>,
    encounter: Option<EncounterId>,
}

/// A resource id as FHIR allows it: 1 to 64 letters, digits, `-` and `.`.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Encounters as FHIR, each with its diagnoses; the diagnoses of them all
/// are read in one query.
async fn encounters(tx: &mut Tx, encounters: Vec<Encounter>) -> Result<Vec<Found>, StoreError> {
    let ids: Vec<EncounterId> = encounters.iter().map(|e| e.id.clone()).collect();
    let mut diagnoses: HashMap<EncounterId, Vec<Condition>> = HashMap::new();
    for condition in store::encounter_diagnoses(tx, &ids).await? {
        if let Some(encounter) = condition.encounter_id.clone() {
            diagnoses.entry(encounter).or_default().push(condition);
        }
    }
    Ok(encounters
        .into_iter()
        .map(|e| Found {
            resource: resources::encounter(&e, diagnoses.get(&e.id).map_or(&[], Vec::as_slice)),
            patient: Some(e.patient_id),
            encounter: Some(e.id),
        })
        .collect())
}

/// Claims as FHIR, each naming the practitioner who held its consult; the
/// practitioners of them all are read in one query.
async fn claims(tx: &mut Tx, claims: Vec<Claim>) -> Result<Vec<Found>, StoreError> {
    let encounters: Vec<EncounterId> = claims.iter().map(|c| c.encounter_id.clone()).collect();
    let providers = store::encounter_practitioners(tx, &encounters).await?;
    Ok(claims
        .into_iter()
        .map(|c| Found {
            resource: claim::claim(&c, providers.get(&c.encounter_id).map(UserId::as_str)),
            patient: Some(c.patient_id),
            encounter: Some(c.encounter_id),
        })
        .collect())
}

fn patient(p: Patient, base: &str) -> Found {
    Found {
        resource: resources::patient(&p, base),
        patient: Some(p.id),
        encounter: None,
    }
}

fn practitioner(s: &StaffRecord) -> Found {
    Found {
        resource: resources::practitioner(&s.user, s.active),
        patient: None,
        encounter: None,
    }
}

fn observation(o: Observation) -> Found {
    Found {
        resource: resources::observation(&o),
        patient: Some(o.patient_id),
        encounter: o.encounter_id,
    }
}

fn condition(c: Condition) -> Found {
    Found {
        resource: resources::condition(&c),
        patient: Some(c.patient_id),
        encounter: c.encounter_id,
    }
}

fn communication(m: ChatMessage) -> Found {
    Found {
        resource: resources::communication(&m),
        patient: Some(m.patient_id),
        encounter: Some(m.encounter_id),
    }
}

fn allergy(a: Allergy) -> Found {
    Found {
        resource: resources::allergy(&a),
        patient: Some(a.patient_id),
        encounter: None,
    }
}

fn medication(m: Medication) -> Found {
    Found {
        resource: resources::medication_statement(&m),
        patient: Some(m.patient_id),
        encounter: None,
    }
}

async fn load(
    tx: &mut Tx,
    kind: ResourceType,
    id: &str,
    base: &str,
    now: Timestamp,
) -> Result<Option<Found>, StoreError> {
    let found = match kind {
        ResourceType::Patient => match PatientId::parse(id) {
            Some(id) => store::get_patient(tx, &id).await?.map(|p| patient(p, base)),
            None => None,
        },
        ResourceType::Practitioner => match UserId::parse(id) {
            Some(id) => store::get_staff(tx, &id)
                .await?
                .filter(|s| s.user.role == Role::Clinician)
                .as_ref()
                .map(practitioner),
            None => None,
        },
        ResourceType::Encounter => match EncounterId::parse(id) {
            Some(id) => {
                let found = store::get_encounter(tx, &id).await?;
                encounters(tx, found.into_iter().collect()).await?.pop()
            }
            None => None,
        },
        ResourceType::Observation => store::get_observation(tx, id).await?.map(observation),
        ResourceType::Condition => store::get_condition(tx, id).await?.map(condition),
        ResourceType::AllergyIntolerance => store::get_allergy(tx, id).await?.map(allergy),
        ResourceType::MedicationStatement => store::get_medication(tx, id).await?.map(medication),
        ResourceType::Communication => match ChatMessageId::parse(id) {
            Some(id) => store::get_chat_message(tx, &id).await?.map(communication),
            None => None,
        },
        ResourceType::Claim => match ClaimId::parse(id) {
            Some(id) => {
                let found = store::get_claim(tx, &id).await?;
                claims(tx, found.into_iter().collect()).await?.pop()
            }
            None => None,
        },
        ResourceType::Schedule => schedule::load_schedule(tx, id, now).await?,
        ResourceType::Slot => schedule::load_slot(tx, id).await?,
        ResourceType::Appointment => schedule::load_appointment(tx, id).await?,
    };
    Ok(found)
}

/// Reads one resource, as the read policy allows: a role that never reads
/// this kind of data, or a patient's token asking beyond its visit, is
/// refused, and the attempt is audited as denied.
#[tracing::instrument(skip_all)]
pub async fn read(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    id: &str,
) -> Result<Value, FhirError> {
    let mut tx = store.begin().await?;
    if !who.may_use(kind, Interaction::Read) {
        let mut entry = AuditEntry::new(who.actor, "fhir.read", kind.as_str());
        if valid_id(id) {
            entry = entry.resource(id);
        }
        store::append_audit(&mut tx, &entry.outcome(Outcome::Denied)).await?;
        store::commit(tx).await?;
        return Err(FhirError::Forbidden);
    }
    let found = if valid_id(id) {
        load(&mut tx, kind, id, who.base, who.now).await?
    } else {
        None
    };
    let mut entry = AuditEntry::new(who.actor, "fhir.read", kind.as_str());
    if valid_id(id) {
        entry = entry.resource(id);
    }
    let result = match found {
        None => {
            entry = entry.outcome(Outcome::NotFound);
            Err(FhirError::NotFound(format!(
                "{} {id} is not known",
                kind.as_str()
            )))
        }
        Some(found) => {
            if let Some(patient) = &found.patient {
                entry = entry.patient(patient);
            }
            if !who.may_see(kind, Interaction::Read, &found) {
                entry = entry.outcome(Outcome::Denied);
                Err(FhirError::Forbidden)
            } else {
                let mut resources = [found.resource];
                write::stamp(&mut tx, kind, &mut resources).await?;
                let [resource] = resources;
                Ok(resource)
            }
        }
    };
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    result
}

/// Searches one resource type. `pairs` is the decoded query string;
/// `self_url` the URL as asked, for the Bundle's self link.
#[tracing::instrument(skip_all)]
pub async fn search(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    pairs: &[(String, String)],
    self_url: &str,
) -> Result<Value, FhirError> {
    let mut criteria = Criteria::parse(kind, pairs)?;
    criteria.now_ms = who.now.millis();
    if !who.may_use(kind, Interaction::Search) {
        let mut tx = store.begin().await?;
        let mut entry = AuditEntry::new(who.actor, "fhir.search", kind.as_str());
        if let Some(patient) = &criteria.patient {
            entry = entry.patient(patient);
        }
        store::append_audit(&mut tx, &entry.outcome(Outcome::Denied)).await?;
        store::commit(tx).await?;
        return Err(FhirError::Forbidden);
    }
    // A patient's token searches its own record: another patient's is simply not there.
    if let Some(own) = who.own_patient(kind, Interaction::Search) {
        match kind {
            ResourceType::Practitioner => {}
            _ if criteria.patient.as_ref().is_some_and(|p| p != own) => {
                criteria.matches_nothing = true;
            }
            _ => criteria.patient = Some(own.clone()),
        }
    }
    let paging = search::Pager::new(&criteria);
    // Read without the write lock, then audit in one short write: a search
    // holds the audit chain for one append, however many patients it saw.
    let mut read = store.begin_read().await?;
    let found = if criteria.matches_nothing {
        Vec::new()
    } else {
        find(&mut read, kind, &criteria, who.base, paging.fetch()).await?
    };
    // A patient's token sees its own visit's part of its record only.
    let found: Vec<Found> = found
        .into_iter()
        .filter(|f| who.may_see(kind, Interaction::Search, f))
        .collect();
    let (found, page) = paging.cut(found, self_url);
    let mut patients: Vec<&PatientId> = Vec::new();
    for patient in found.iter().filter_map(|f| f.patient.as_ref()) {
        if !patients.contains(&patient) {
            patients.push(patient);
        }
    }
    let mut entries: Vec<AuditEntry> = patients
        .iter()
        .map(|patient| {
            let entry = AuditEntry::new(who.actor, "fhir.search", kind.as_str()).patient(patient);
            if kind == ResourceType::Patient {
                entry.resource(patient)
            } else {
                entry
            }
        })
        .collect();
    if entries.is_empty() {
        entries.push(AuditEntry::new(who.actor, "fhir.search", kind.as_str()));
    }
    let mut resources: Vec<Value> = found.into_iter().map(|f| f.resource).collect();
    write::stamp(&mut read, kind, &mut resources).await?;
    store::commit(read).await?;
    // Nothing is answered unless its reading is on the record.
    let mut tx = store.begin().await?;
    store::append_audits(&mut tx, &entries).await?;
    store::commit(tx).await?;
    Ok(searchset(who.now, who.base, self_url, resources, page))
}

/// The first `limit` matches of a search, in a stable order: one query
/// for the matches, and one for the related rows of them all where a
/// resource needs some.
async fn find(
    tx: &mut Tx,
    kind: ResourceType,
    c: &Criteria,
    base: &str,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    let found = match kind {
        ResourceType::Practitioner => {
            store::search_staff(tx, Role::Clinician, c.name.as_deref(), limit)
                .await?
                .iter()
                .map(practitioner)
                .collect()
        }
        ResourceType::Patient => {
            let (born_from, born_before) = c.birthdate.days();
            let query = store::PatientQuery {
                only: c.patient.as_ref(),
                name: c.name.as_deref(),
                born_from: born_from.map(|d| d.format("%Y-%m-%d").to_string()),
                born_before: born_before.map(|d| d.format("%Y-%m-%d").to_string()),
            };
            store::fhir_patients(tx, &query, limit)
                .await?
                .into_iter()
                .map(|p| patient(p, base))
                .collect()
        }
        ResourceType::Encounter => {
            let query = store::EncounterQuery {
                patient: c.patient.as_ref(),
                statuses: c.statuses.as_deref(),
                start_from: c.date.start_from,
                start_before: c.date.start_before,
                end_from: c.date.end_from,
                end_before: c.date.end_before,
            };
            let found = store::fhir_encounters(tx, &query, limit).await?;
            encounters(tx, found).await?
        }
        ResourceType::Observation => {
            let query = store::ObservationQuery {
                patient: c.patient.as_ref(),
                categories: c.categories.as_deref(),
                codes: c.codes.as_deref(),
            };
            store::fhir_observations(tx, &query, limit)
                .await?
                .into_iter()
                .map(observation)
                .collect()
        }
        ResourceType::Condition => {
            store::fhir_conditions(tx, c.patient.as_ref(), c.encounter.as_ref(), limit)
                .await?
                .into_iter()
                .map(condition)
                .collect()
        }
        ResourceType::AllergyIntolerance => store::fhir_allergies(tx, c.patient.as_ref(), limit)
            .await?
            .into_iter()
            .map(allergy)
            .collect(),
        ResourceType::MedicationStatement => store::fhir_medications(tx, c.patient.as_ref(), limit)
            .await?
            .into_iter()
            .map(medication)
            .collect(),
        ResourceType::Communication => {
            store::fhir_communications(tx, c.patient.as_ref(), c.encounter.as_ref(), limit)
                .await?
                .into_iter()
                .map(communication)
                .collect()
        }
        ResourceType::Claim => {
            let statuses = c.statuses.as_deref().map(claim::stored_statuses);
            let query = store::ClaimQuery {
                patient: c.patient.as_ref(),
                encounter: c.encounter.as_ref(),
                statuses: statuses.as_deref(),
            };
            let found = store::fhir_claims(tx, &query, limit).await?;
            claims(tx, found).await?
        }
        ResourceType::Schedule => {
            schedule::find_schedules(tx, c.actor.as_ref(), Timestamp(c.now_ms)).await?
        }
        ResourceType::Slot => {
            schedule::find_slots(tx, c.schedule.as_ref(), Timestamp(c.now_ms), limit).await?
        }
        ResourceType::Appointment => {
            let query = store::CalendarQuery {
                patient: c.patient.clone(),
                clinician: c.actor.clone(),
                ..store::CalendarQuery::default()
            };
            schedule::find_appointments(tx, &query, limit).await?
        }
    };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_round_trip_and_unknown_ones_are_refused() {
        for kind in ResourceType::ALL {
            assert_eq!(ResourceType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ResourceType::parse("Coverage"), None);
        assert_eq!(ResourceType::parse("patient"), None);
    }

    #[test]
    fn ids_follow_the_fhir_id_shape() {
        assert!(valid_id("0190e4a2-1234-7abc-8def-0123456789ab"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
