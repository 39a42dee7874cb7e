//! Queue updates that cost what changed. Each queue has one feed: a change
//! takes a ticket, and one computation at a time reads the queue and sends
//! it; a change whose ticket an already finished computation covered sends
//! nothing more. So arrivals faster than a queue can be read share reads
//! (coalescing), and the `queue` frame keeps its meaning: the whole queue.
//!
//! A waiting patient hears a `visit` frame only when its place or estimate
//! changed since this node last told it: an arrival at the back of a queue
//! tells one patient, not every one. The memory is this node's; when
//! another node also publishes the queue, it is dropped after each send, so
//! each node tells every waiting patient, as the sockets may be anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use signaling::protocol::VisitUpdate;

use super::update_for;
use crate::model::ids::{QueueId, VisitId};
use crate::visits::{QueueEntry, VisitStatus};

/// The feeds of every queue this node has published.
#[derive(Debug, Default)]
pub(super) struct Feeds {
    feeds: Mutex<HashMap<QueueId, Arc<Feed>>>,
}

impl Feeds {
    pub fn feed(&self, queue: &QueueId) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(feeds.entry(queue.clone()).or_default())
    }
}

/// One queue's tickets and what its patients were last told.
#[derive(Debug, Default)]
pub(super) struct Feed {
    requested: AtomicU64,
    /// Held while a computation reads and sends the queue; fair, so
    /// waiting changes go in the order they came.
    turn: tokio::sync::Mutex<Told>,
}

/// What the last computation sent.
#[derive(Debug, Default)]
pub(super) struct Told {
    /// The last ticket a finished computation covered.
    covered: u64,
    /// Each waiting patient's last `visit` update.
    waiting: HashMap<VisitId, VisitUpdate>,
}

/// A turn to read and send the queue, or `None` when a computation that
/// started after this change already sent it.
pub(super) struct Turn<'a> {
    told: tokio::sync::MutexGuard<'a, Told>,
    ticket: u64,
}

impl Feed {
    /// Takes a ticket for a change just committed, and waits for the turn.
    pub async fn turn(&self) -> Option<Turn<'_>> {
        let mine = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let told = self.turn.lock().await;
        if told.covered >= mine {
            return None;
        }
        // Read after the lock: this computation covers every change whose
        // ticket was taken before it reads the queue.
        let ticket = self.requested.load(Ordering::Acquire);
        Some(Turn { told, ticket })
    }
}

impl Turn<'_> {
    /// The patients whose place or estimate changed, with their update;
    /// remembers them as told.
    pub fn changed(&mut self, entries: &[QueueEntry]) -> Vec<(VisitId, VisitUpdate)> {
        changed_places(&mut self.told.waiting, entries)
    }

    /// The queue went out: the changes up to this ticket are covered. When
    /// other nodes publish the queue too, the memory is dropped.
    pub fn sent(mut self, shared_with_other_nodes: bool) {
        self.told.covered = self.ticket;
        if shared_with_other_nodes {
            self.told.waiting.clear();
        }
    }
}

/// Compares the waiting entries with what each was last told; keeps only
/// the waiting in `told`.
fn changed_places(
    told: &mut HashMap<VisitId, VisitUpdate>,
    entries: &[QueueEntry],
) -> Vec<(VisitId, VisitUpdate)> {
    let mut now = HashMap::with_capacity(told.len());
    let mut changed = Vec::new();
    for entry in entries.iter().filter(|e| e.status == VisitStatus::Waiting) {
        let update = update_for(entry);
        if told.get(&entry.visit_id) != Some(&update) {
            changed.push((entry.visit_id.clone(), update.clone()));
        }
        now.insert(entry.visit_id.clone(), update);
    }
    *told = now;
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::visit::Priority;

    fn waiting(id: &VisitId, position: usize) -> QueueEntry {
        QueueEntry {
            visit_id: id.clone(),
            patient_name: String::from("P"),
            status: VisitStatus::Waiting,
            priority: Priority::Routine,
            position: Some(position),
            waiting_since: None,
            estimated_wait_seconds: Some(600 * (position as i64 - 1)),
            clinician_id: None,
            network: None,
            emergency: None,
        }
    }

    #[test]
    fn an_arrival_at_the_back_tells_only_the_new_patient() {
        let (first, second, third) = (VisitId::new(), VisitId::new(), VisitId::new());
        let mut told = HashMap::new();
        let all = changed_places(&mut told, &[waiting(&first, 1), waiting(&second, 2)]);
        assert_eq!(all.len(), 2);

        let changed = changed_places(
            &mut told,
            &[waiting(&first, 1), waiting(&second, 2), waiting(&third, 3)],
        );

        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, third);
        assert_eq!(changed[0].1.position, Some(3));
    }

    #[test]
    fn an_arrival_in_front_tells_everyone_it_passed() {
        let (first, second, urgent) = (VisitId::new(), VisitId::new(), VisitId::new());
        let mut told = HashMap::new();
        changed_places(&mut told, &[waiting(&first, 1), waiting(&second, 2)]);

        let changed = changed_places(
            &mut told,
            &[waiting(&urgent, 1), waiting(&first, 2), waiting(&second, 3)],
        );

        let places: Vec<_> = changed
            .iter()
            .map(|(id, update)| (id.clone(), update.position))
            .collect();
        assert_eq!(
            places,
            [(urgent, Some(1)), (first, Some(2)), (second, Some(3))]
        );
    }

    #[test]
    fn a_patient_who_left_and_came_back_is_told_again() {
        let first = VisitId::new();
        let mut told = HashMap::new();
        changed_places(&mut told, &[waiting(&first, 1)]);
        assert!(changed_places(&mut told, &[]).is_empty());
        assert!(told.is_empty());

        assert_eq!(changed_places(&mut told, &[waiting(&first, 1)]).len(), 1);
    }

    #[tokio::test]
    async fn a_change_covered_by_a_later_read_sends_nothing_more() {
        let feed = Feed::default();
        let first = feed.turn().await.expect("the first change reads");
        // Two changes commit while the first read is under way.
        let (second, third) = (feed.turn(), feed.turn());
        tokio::pin!(second, third);
        assert!(futures_util::poll!(&mut second).is_pending());
        assert!(futures_util::poll!(&mut third).is_pending());
        first.sent(false);

        let second = second.await.expect("the second change reads again");
        second.sent(false);

        assert!(
            third.await.is_none(),
            "the second read started after the third change: it covered it"
        );
    }
}
