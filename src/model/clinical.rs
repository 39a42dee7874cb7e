//! What clinicians record about a patient: allergies, medications,
//! conditions (diagnoses), vital-sign observations and SOAP notes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::codes::Icd10;
use crate::model::ids::{EncounterId, PatientId, UserId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::Text;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
}

/// The body of `POST /patients/{id}/allergies`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllergy {
    pub substance: Text,
    /// RxNorm (drug) or SNOMED CT code, where known.
    #[serde(default)]
    pub code: Option<Text>,
    #[serde(default)]
    pub reaction: Option<Text>,
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allergy {
    pub id: String,
    pub patient_id: PatientId,
    pub substance: String,
    pub code: Option<String>,
    /// The code's system (RxNorm or SNOMED CT URI), where it was given.
    pub code_system: Option<String>,
    pub reaction: Option<String>,
    pub severity: Option<Severity>,
    pub recorded_at: Timestamp,
}

/// The body of `POST /patients/{id}/medications`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMedication {
    pub name: Text,
    /// RxNorm code, where known.
    #[serde(default)]
    pub code: Option<Text>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Medication {
    pub id: String,
    pub patient_id: PatientId,
    pub name: String,
    pub code: Option<String>,
    /// `active` or `stopped`.
    pub status: String,
    pub recorded_at: Timestamp,
}

/// The body of `POST /patients/{id}/conditions`: a problem-list entry.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCondition {
    pub code: Icd10,
    #[serde(default)]
    pub display: Option<Text>,
}

/// A condition: a problem-list entry, or an encounter's diagnosis (with its rank).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Condition {
    pub id: String,
    pub patient_id: PatientId,
    pub encounter_id: Option<EncounterId>,
    pub code: Icd10,
    pub display: Option<String>,
    /// 1 for the primary diagnosis of an encounter.
    pub rank: Option<i64>,
    /// `active` or `resolved`.
    pub clinical_status: String,
    pub recorded_at: Timestamp,
}

/// A vital-sign observation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Observation {
    pub id: String,
    pub patient_id: PatientId,
    pub encounter_id: Option<EncounterId>,
    /// `vital-signs`.
    pub category: String,
    /// LOINC code.
    pub code: String,
    pub display: String,
    pub value: Option<f64>,
    /// A coded answer (SNOMED CT), for consciousness.
    pub value_code: Option<String>,
    pub unit: Option<String>,
    /// The UCUM code of `unit`.
    pub ucum: Option<String>,
    pub effective_at: Timestamp,
}

/// A SOAP note, as the clinician writes it at close.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SoapNote {
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Note {
    pub id: String,
    pub encounter_id: EncounterId,
    pub author_id: UserId,
    #[serde(flatten)]
    pub soap: SoapNote,
    pub created_at: Timestamp,
}

/// One entry of an encounter's status history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusPeriod {
    pub status: String,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// An EHR encounter (each video visit has one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Encounter {
    pub id: EncounterId,
    pub patient_id: PatientId,
    /// FHIR `Encounter.status`: planned, arrived, in-progress, finished, cancelled.
    pub status: String,
    pub reason: String,
    pub practitioner_id: Option<UserId>,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    pub length_minutes: Option<i64>,
    /// `home` or `other`.
    pub patient_location: Option<String>,
    pub created_at: Timestamp,
    pub status_history: Vec<StatusPeriod>,
}
