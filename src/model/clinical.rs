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

/// Where a chart entry's code comes from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CodeSystem {
    Rxnorm,
    Snomed,
}

impl CodeSystem {
    pub const RXNORM_URI: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
    pub const SNOMED_URI: &str = "http://snomed.info/sct";

    /// The system's URI, as FHIR names it.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Rxnorm => Self::RXNORM_URI,
            Self::Snomed => Self::SNOMED_URI,
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::Rxnorm, Self::Snomed]
            .into_iter()
            .find(|s| s.uri() == uri)
    }

    /// The system's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rxnorm => "RxNorm",
            Self::Snomed => "SNOMED CT",
        }
    }
}

/// An allergy's clinical status (FHIR `allergyintolerance-clinical`), or
/// `entered-in-error` for one recorded by mistake.
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
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum AllergyStatus {
    Active,
    Inactive,
    Resolved,
    EnteredInError,
}

/// Who ended a chart entry, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Ended {
    pub at: Timestamp,
    pub by: UserId,
    pub reason: Option<String>,
}

/// The body of `POST /patients/{id}/allergies/{allergy_id}/end`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndAllergy {
    /// `inactive`, `resolved` (the default) or `entered-in-error`.
    #[serde(default)]
    pub status: Option<AllergyStatus>,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// How a medication ends.
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
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum MedicationEnd {
    Stopped,
    EnteredInError,
}

/// The body of `POST /patients/{id}/medications/{medication_id}/end`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndMedication {
    /// `stopped` (the default) or `entered-in-error`.
    #[serde(default)]
    pub status: Option<MedicationEnd>,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// How a problem ends.
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
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ConditionEnd {
    Resolved,
    Inactive,
    Remission,
}

/// The body of `POST /patients/{id}/conditions/{condition_id}/end`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCondition {
    /// `resolved` (the default), `inactive` or `remission`.
    #[serde(default)]
    pub status: Option<ConditionEnd>,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// The body of `POST /patients/{id}/allergies`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllergy {
    pub substance: Text,
    /// RxNorm (drug) or SNOMED CT code from `GET /codes/substances`; a
    /// code Bedside's tables do not hold is refused.
    #[serde(default)]
    pub code: Option<Text>,
    /// The code's system; found from the code when left out.
    #[serde(default)]
    pub system: Option<CodeSystem>,
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
    pub status: AllergyStatus,
    pub recorded_at: Timestamp,
    pub ended: Option<Ended>,
}

/// The body of `POST /patients/{id}/medications`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMedication {
    pub name: Text,
    /// RxNorm code from `GET /codes/rxnorm`; a code Bedside's tables do
    /// not hold is refused.
    #[serde(default)]
    pub code: Option<Text>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Medication {
    pub id: String,
    pub patient_id: PatientId,
    pub name: String,
    pub code: Option<String>,
    /// `active`, `completed`, `stopped` or `entered-in-error`.
    pub status: String,
    pub recorded_at: Timestamp,
    pub ended: Option<Ended>,
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
    /// `active`, `resolved`, `inactive`, … (FHIR `condition-clinical`).
    pub clinical_status: String,
    pub recorded_at: Timestamp,
    pub ended: Option<Ended>,
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
