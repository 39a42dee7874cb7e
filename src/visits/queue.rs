//! Queue order and wait estimates, computed from the visits in a queue.
//! Order: priority (emergent, urgent, routine), then the sort key — the
//! check-in time, the scheduled start, or where a scheduler placed it.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::ids::{UserId, VisitId};
use crate::model::precall::Verdict;
use crate::model::timestamp::Timestamp;
use crate::model::visit::{Emergency, Priority, QueuedVisit, VisitStatus};

/// One row of `GET /queues/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueEntry {
    pub visit_id: VisitId,
    pub patient_name: String,
    pub status: VisitStatus,
    pub priority: Priority,
    /// 1-based place among the waiting; absent unless waiting.
    pub position: Option<usize>,
    pub waiting_since: Option<Timestamp>,
    pub estimated_wait_seconds: Option<i64>,
    pub clinician_id: Option<UserId>,
    /// The verdict of the patient's latest pre-call check, if one ran.
    pub network: Option<Verdict>,
    /// What check-in found that calls for emergency care, and whether the
    /// patient has confirmed reading the advice; staff are alerted by it.
    pub emergency: Option<Emergency>,
}

/// What the estimate is made from.
#[derive(Debug, Clone, Copy)]
pub struct WaitBasis {
    /// Mean length of recent consults in this queue, in seconds.
    pub mean_consult_seconds: i64,
    /// Clinicians available to take the next patient (at least one is assumed).
    pub clinicians_available: usize,
}

/// Assumed consult length when a queue has no history yet.
pub const DEFAULT_CONSULT_SECONDS: i64 = 15 * 60;

/// Orders a queue's active visits: the waiting first, in order, then those
/// in consult, then the scheduled by their start.
pub fn order(mut visits: Vec<QueuedVisit>, basis: WaitBasis) -> Vec<QueueEntry> {
    let group = |s: VisitStatus| match s {
        VisitStatus::Waiting => 0,
        VisitStatus::InConsult => 1,
        _ => 2,
    };
    visits.sort_by_key(|v| {
        (
            group(v.status),
            v.priority.rank(),
            v.sort_key,
            v.visit_id.clone(),
        )
    });
    let servers = basis.clinicians_available.max(1) as i64;
    let mut waiting = 0;
    visits
        .into_iter()
        .map(|v| {
            let (position, estimate) = if v.status == VisitStatus::Waiting {
                waiting += 1;
                // Patients ahead are seen `servers` at a time.
                (
                    Some(waiting),
                    Some(basis.mean_consult_seconds * ((waiting as i64 - 1) / servers)),
                )
            } else {
                (None, None)
            };
            QueueEntry {
                visit_id: v.visit_id,
                patient_name: v.patient_name,
                status: v.status,
                priority: v.priority,
                position,
                waiting_since: v.waiting_since,
                estimated_wait_seconds: estimate,
                clinician_id: v.clinician_id,
                network: v.network,
                emergency: v.emergency,
            }
        })
        .collect()
}

/// A sort key that places a visit at `position` (1-based) among `others`,
/// already in queue order. `None` when the keys around it are too close and
/// the queue must be renumbered first.
pub fn key_for_position(others: &[i64], position: usize) -> Option<i64> {
    const GAP: i64 = 1_000;
    let index = position.saturating_sub(1).min(others.len());
    let before = index.checked_sub(1).map(|i| others[i]);
    let after = others.get(index).copied();
    match (before, after) {
        (None, None) => Some(0),
        (None, Some(a)) => Some(a - GAP),
        (Some(b), None) => Some(b + GAP),
        (Some(b), Some(a)) if a - b >= 2 => Some(b + (a - b) / 2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(name: &str, status: VisitStatus, priority: Priority, sort_key: i64) -> QueuedVisit {
        QueuedVisit {
            visit_id: VisitId::new(),
            patient_name: name.into(),
            status,
            priority,
            sort_key,
            waiting_since: None,
            clinician_id: None,
            network: None,
            emergency: None,
        }
    }

    const BASIS: WaitBasis = WaitBasis {
        mean_consult_seconds: 600,
        clinicians_available: 1,
    };

    #[test]
    fn priority_comes_before_arrival() {
        let entries = order(
            vec![
                visit("early-routine", VisitStatus::Waiting, Priority::Routine, 1),
                visit("late-emergent", VisitStatus::Waiting, Priority::Emergent, 9),
                visit("mid-urgent", VisitStatus::Waiting, Priority::Urgent, 5),
                visit("later-routine", VisitStatus::Waiting, Priority::Routine, 2),
            ],
            BASIS,
        );
        let names: Vec<_> = entries.iter().map(|e| e.patient_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "late-emergent",
                "mid-urgent",
                "early-routine",
                "later-routine"
            ]
        );
        let positions: Vec<_> = entries.iter().map(|e| e.position.unwrap()).collect();
        assert_eq!(positions, [1, 2, 3, 4]);
    }

    #[test]
    fn estimates_grow_with_position_and_shrink_with_clinicians() {
        let waiting = || {
            (0..4)
                .map(|i| visit("p", VisitStatus::Waiting, Priority::Routine, i))
                .collect()
        };
        let one: Vec<_> = order(waiting(), BASIS)
            .iter()
            .map(|e| e.estimated_wait_seconds.unwrap())
            .collect();
        assert_eq!(one, [0, 600, 1200, 1800]);
        let two = WaitBasis {
            clinicians_available: 2,
            ..BASIS
        };
        let two: Vec<_> = order(waiting(), two)
            .iter()
            .map(|e| e.estimated_wait_seconds.unwrap())
            .collect();
        assert_eq!(two, [0, 0, 600, 600]);
    }

    #[test]
    fn only_the_waiting_have_positions() {
        let entries = order(
            vec![
                visit("seen", VisitStatus::InConsult, Priority::Routine, 0),
                visit("booked", VisitStatus::Scheduled, Priority::Routine, 0),
                visit("here", VisitStatus::Waiting, Priority::Routine, 5),
            ],
            BASIS,
        );
        assert_eq!(entries[0].patient_name, "here");
        assert_eq!(entries[0].position, Some(1));
        assert!(
            entries[1..]
                .iter()
                .all(|e| e.position.is_none() && e.estimated_wait_seconds.is_none())
        );
    }

    #[test]
    fn a_position_key_falls_between_its_neighbours() {
        assert_eq!(key_for_position(&[], 1), Some(0));
        assert_eq!(key_for_position(&[10, 20], 1), Some(10 - 1_000));
        assert_eq!(key_for_position(&[10, 20], 2), Some(15));
        assert_eq!(key_for_position(&[10, 20], 9), Some(20 + 1_000));
        assert_eq!(key_for_position(&[10, 11], 2), None);
    }
}
