//! The visit as the API shows it, and the inputs of its transitions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ehr::{SoapNote, Vitals};
use crate::model::codes::Icd10;
use crate::model::ids::{PatientId, QueueId, UserId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::Text;
use crate::model::visit::{PatientLocation, Priority, Visit};

/// `GET /queues/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueView {
    pub id: QueueId,
    pub name: String,
    pub entries: Vec<super::queue::QueueEntry>,
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
    /// Defaults to the measured call: audio-only when more than half of
    /// its connected time went without video.
    #[serde(default)]
    pub audio_only: Option<bool>,
    /// Defaults to `home`.
    #[serde(default)]
    pub patient_location: Option<PatientLocation>,
    /// Required when `audio_only` contradicts the measured call: why the
    /// claim should say otherwise. Kept on the claim, and audited.
    #[serde(default)]
    pub call_override_reason: Option<String>,
}

/// The body of `POST /visits/{id}/close/preview`: the close form as it
/// stands; what is missing takes its default, as closing would.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosePreview {
    #[serde(default)]
    pub diagnoses: Vec<Icd10>,
    #[serde(default)]
    pub total_minutes: Option<i64>,
    #[serde(default)]
    pub new_patient: Option<bool>,
    #[serde(default)]
    pub audio_only: Option<bool>,
    #[serde(default)]
    pub patient_location: Option<PatientLocation>,
    /// Taken so the close form can send the same body; a preview changes nothing.
    #[serde(default)]
    pub call_override_reason: Option<String>,
}
