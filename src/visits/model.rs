//! The visit as the API shows it, and the inputs of its transitions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::state::{Priority, VisitStatus};
use crate::codes::Icd10;
use crate::ehr::{SoapNote, Vitals};
use crate::ids::{EncounterId, PatientId, QueueId, UserId, VisitId};
use crate::timestamp::Timestamp;
use crate::validation::Text;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Queue {
    pub id: QueueId,
    pub name: String,
}

/// `GET /queues/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueView {
    pub id: QueueId,
    pub name: String,
    pub entries: Vec<super::queue::QueueEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatientLocation {
    Home,
    Other,
}

impl PatientLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Home, Self::Other]
            .into_iter()
            .find(|l| l.as_str() == value)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Visit {
    pub id: VisitId,
    pub patient_id: PatientId,
    pub queue_id: QueueId,
    pub encounter_id: EncounterId,
    pub clinician_id: Option<UserId>,
    pub status: VisitStatus,
    pub priority: Priority,
    pub reason: String,
    pub scheduled_start: Option<Timestamp>,
    /// The claim billing made from this visit, once it exists.
    pub claim_id: Option<String>,
    pub symptoms: Vec<String>,
    pub consent_at: Option<Timestamp>,
    pub consent_version: Option<String>,
    pub checked_in_at: Option<Timestamp>,
    pub admitted_at: Option<Timestamp>,
    pub admitted_by: Option<UserId>,
    pub closed_at: Option<Timestamp>,
    pub total_minutes: Option<i64>,
    pub new_patient: Option<bool>,
    pub audio_only: bool,
    pub patient_location: Option<PatientLocation>,
    pub created_at: Timestamp,
    /// NEWS2 from the check-in vitals, and its risk band.
    pub news2_score: Option<i64>,
    pub news2_risk: Option<String>,
    /// Red-flag symptoms found at check-in (knowledge-base ids).
    pub red_flags: Vec<String>,
    /// The emergency advice check-in gave the patient, if it found one.
    pub emergency: Option<Emergency>,
    #[serde(skip)]
    pub sort_key: i64,
}

/// What check-in told a patient whose answers suggest an emergency, kept on
/// the visit so the page shows it again after a reload and staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Emergency {
    /// The emergency number of the clinic's region, e.g. `911`.
    pub number: String,
    /// The first thing the patient reads.
    pub headline: String,
    /// What triage found, in plain words for staff ("Chest pain").
    pub findings: Vec<String>,
    /// What the patient is told, most specific first.
    pub advice: Vec<String>,
    /// When the patient confirmed reading the advice.
    #[serde(default)]
    pub acknowledged_at: Option<Timestamp>,
}

/// The body of `POST /visits`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    pub patient_id: PatientId,
    pub queue_id: QueueId,
    #[serde(default)]
    pub clinician_id: Option<UserId>,
    #[serde(default)]
    pub scheduled_start: Option<Timestamp>,
    pub reason: Text,
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// The answer to `POST /visits`: the visit and how its patient joins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedVisit {
    #[serde(flatten)]
    pub visit: Visit,
    pub patient_token: String,
    pub join_url: String,
}

/// The body of `POST /visits/{id}/check-in`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub consent_to_telehealth: bool,
    #[serde(default)]
    pub symptoms: Vec<Text>,
    #[serde(default)]
    pub vitals: Option<Vitals>,
}

/// The answer to a check-in: the visit and what triage found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckedIn {
    #[serde(flatten)]
    pub visit: Visit,
    pub triage: crate::cdss::Triage,
}

/// The body of `PATCH /visits/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitChange {
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub queue_id: Option<QueueId>,
    #[serde(default)]
    pub clinician_id: Option<UserId>,
    /// 1-based place among the waiting visits of the same priority.
    #[serde(default)]
    pub position: Option<usize>,
}

/// The body of `POST /visits/{id}/close`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseVisit {
    /// ICD-10-CM codes, primary first; at most 12.
    pub diagnoses: Vec<Icd10>,
    pub note: SoapNote,
    /// Defaults to the call's length, rounded up to whole minutes.
    #[serde(default)]
    pub total_minutes: Option<i64>,
    /// Overrides the new-or-established detection of billing.
    #[serde(default)]
    pub new_patient: Option<bool>,
    #[serde(default)]
    pub audio_only: Option<bool>,
    /// Defaults to `home`.
    #[serde(default)]
    pub patient_location: Option<PatientLocation>,
}
