//! The visit state machine and the encounter status each state implies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Scheduled,
    Waiting,
    InConsult,
    Closed,
    Cancelled,
    NoShow,
}

/// FHIR R4 `Encounter.status` values a visit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EncounterStatus {
    Planned,
    Arrived,
    InProgress,
    Finished,
    Cancelled,
}

impl EncounterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Arrived => "arrived",
            Self::InProgress => "in-progress",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Planned,
            Self::Arrived,
            Self::InProgress,
            Self::Finished,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

impl VisitStatus {
    pub const ALL: [Self; 6] = [
        Self::Scheduled,
        Self::Waiting,
        Self::InConsult,
        Self::Closed,
        Self::Cancelled,
        Self::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Waiting => "waiting",
            Self::InConsult => "in_consult",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

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

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    Urgent,
    Emergent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Urgent => "urgent",
            Self::Emergent => "emergent",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Routine, Self::Urgent, Self::Emergent]
            .into_iter()
            .find(|p| p.as_str() == value)
    }

    /// Sorts before lower priorities (emergent 0, urgent 1, routine 2).
    pub fn rank(self) -> i64 {
        match self {
            Self::Emergent => 0,
            Self::Urgent => 1,
            Self::Routine => 2,
        }
    }
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
        for from in VisitStatus::ALL {
            for to in VisitStatus::ALL {
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
