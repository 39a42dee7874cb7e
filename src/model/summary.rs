//! The after-visit summary: what a patient takes home once the visit has
//! closed, in plain words, built from the closed visit's note and
//! diagnoses and the clinic's contact.

use serde::Serialize;
use utoipa::ToSchema;

use super::codes::Icd10;
use super::ids::{EncounterId, PatientId, UserId, VisitId};
use super::timestamp::Timestamp;

/// `GET /visits/{id}/summary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AfterVisitSummary {
    pub visit_id: VisitId,
    pub encounter_id: EncounterId,
    pub patient_id: PatientId,
    /// The clinician who closed the visit.
    pub clinician_id: Option<UserId>,
    /// Their display name, as the patient saw it on the call.
    pub clinician_name: Option<String>,
    /// When the visit closed.
    pub visit_date: Timestamp,
    /// Primary first, each in plain words where the code table knows it.
    pub diagnoses: Vec<SummaryDiagnosis>,
    /// The plan of the clinician's note, as written.
    pub plan: String,
    /// The plan's lines that tell the patient what to do, follow-up aside.
    pub instructions: Vec<String>,
    /// The plan's lines about following up or coming back.
    pub follow_up: Vec<String>,
    /// Whom to call; absent when the clinic has not configured it.
    pub clinic: Option<ClinicContact>,
    /// After this the summary is no longer shown.
    pub available_until: Timestamp,
}

/// One diagnosis: its ICD-10-CM code and, when known, its description.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryDiagnosis {
    pub code: Icd10,
    pub description: Option<String>,
}

/// The clinic as the summary names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicContact {
    pub name: String,
    pub phone: Option<String>,
}
