//! A visit as the store keeps it, the visit state machine and the encounter
//! status each state implies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{EncounterId, PatientId, QueueId, UserId, VisitId};
use super::precall::Verdict;
use super::timestamp::Timestamp;

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
pub enum VisitStatus {
    Scheduled,
    Waiting,
    InConsult,
    Closed,
    Cancelled,
    NoShow,
}

/// FHIR R4 `Encounter.status` values a visit uses.
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
pub enum EncounterStatus {
    Planned,
    Arrived,
    InProgress,
    Finished,
    Cancelled,
}

impl VisitStatus {
    /// Closed, cancelled or a no-show: nothing more happens to the visit.
    pub fn has_ended(self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled | Self::NoShow)
    }

    /// The encounter status that goes with this visit status.
    pub fn encounter_status(self) -> EncounterStatus {
        match self {
            Self::Scheduled => EncounterStatus::Planned,
            Self::Waiting => EncounterStatus::Arrived,
            Self::InConsult => EncounterStatus::InProgress,
            Self::Closed => EncounterStatus::Finished,
            Self::Cancelled | Self::NoShow => EncounterStatus::Cancelled,
        }
    }

    /// The move `self → to`, when the state machine allows it. The store
    /// applies it only to a visit still in `self`, so of two racing moves
    /// one wins.
    pub fn transition(self, to: Self) -> Option<Transition> {
        self.can_become(to).then_some(Transition { from: self, to })
    }

    /// Whether the state machine allows `self → to`.
    pub fn can_become(self, to: Self) -> bool {
        use VisitStatus::{Cancelled, Closed, InConsult, NoShow, Scheduled, Waiting};
        matches!(
            (self, to),
            (Scheduled, Waiting)
                | (Waiting, InConsult)
                | (InConsult, Closed)
                | (Scheduled | Waiting, Cancelled | NoShow)
        )
    }

    /// Still in a queue: scheduled, waiting or being seen.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Scheduled | Self::Waiting | Self::InConsult)
    }
}

/// A move of a visit's status that the state machine allowed; only
/// [`VisitStatus::transition`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: VisitStatus,
    to: VisitStatus,
}

impl Transition {
    pub fn from(self) -> VisitStatus {
        self.from
    }

    pub fn to(self) -> VisitStatus {
        self.to
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
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
pub enum Priority {
    Routine,
    Urgent,
    Emergent,
}

impl Priority {
    /// Sorts before lower priorities (emergent 0, urgent 1, routine 2).
    pub fn rank(self) -> i64 {
        match self {
            Self::Emergent => 0,
            Self::Urgent => 1,
            Self::Routine => 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Queue {
    pub id: QueueId,
    pub name: String,
}

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
pub enum PatientLocation {
    Home,
    Other,
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

/// A visit as the queue sees it.
#[derive(Debug, Clone)]
pub struct QueuedVisit {
    pub visit_id: VisitId,
    pub patient_name: String,
    pub status: VisitStatus,
    pub priority: Priority,
    pub sort_key: i64,
    pub waiting_since: Option<Timestamp>,
    pub clinician_id: Option<UserId>,
    /// The verdict of the patient's latest pre-call check.
    pub network: Option<Verdict>,
    /// The emergency check-in found, if any.
    pub emergency: Option<Emergency>,
}

#[cfg(test)]
mod tests {
    use super::VisitStatus::*;
    use super::*;

    #[test]
    fn only_the_lifecycle_transitions_are_allowed() {
        let allowed = [
            (Scheduled, Waiting),
            (Waiting, InConsult),
            (InConsult, Closed),
            (Scheduled, Cancelled),
            (Scheduled, NoShow),
            (Waiting, Cancelled),
            (Waiting, NoShow),
        ];
        use strum::IntoEnumIterator;
        for from in VisitStatus::iter() {
            for to in VisitStatus::iter() {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
    }

    #[test]
    fn each_visit_status_moves_its_encounter() {
        assert_eq!(Scheduled.encounter_status().as_str(), "planned");
        assert_eq!(Waiting.encounter_status().as_str(), "arrived");
        assert_eq!(InConsult.encounter_status().as_str(), "in-progress");
        assert_eq!(Closed.encounter_status().as_str(), "finished");
        assert_eq!(NoShow.encounter_status().as_str(), "cancelled");
    }

    #[test]
    fn emergent_sorts_first() {
        assert!(Priority::Emergent.rank() < Priority::Urgent.rank());
        assert!(Priority::Urgent.rank() < Priority::Routine.rank());
    }
}

/// What decides whether a patient's join link still works: the visit's
/// state, when it closed, and the link version tokens must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitLink {
    pub visit_id: VisitId,
    pub patient_id: PatientId,
    pub encounter_id: EncounterId,
    pub status: VisitStatus,
    pub closed_at: Option<Timestamp>,
    /// Moves on each revocation or fresh link; older tokens are dead.
    pub version: i64,
}
