//! The server's side of signaling: the authoriser the hub asks, the
//! recorder that keeps each chat message in the visit's record (and each
//! call-quality summary in the visit's timeline), and the
//! live updates the domain triggers after each commit — `visit` frames to a
//! waiting patient, `queue` frames to watching staff, rooms opened and
//! closed, and clinicians' presence around a consult.

mod authoriser;
mod chat;
mod feeds;
mod stats;

pub use authoriser::StoreAuthoriser;
pub use chat::StoreChatRecorder;
pub use stats::StoreStatsRecorder;

use signaling::protocol::{self as wire, PresenceStatus, VisitUpdate};
use signaling::{Hub, PresenceEntry, PresenceUser};

use std::sync::Arc;

use crate::auth::{Credential, Role, User};
use crate::model::ids::{GuestId, QueueId, VisitId};
use crate::store::Store;
use crate::visits::{self, QueueEntry, Visit, VisitStatus};

/// Pushes changes out to the sockets; cheap to clone.
#[derive(Debug, Clone)]
pub struct Live {
    hub: Hub,
    store: Store,
    feeds: Arc<feeds::Feeds>,
}

pub fn wire_role(role: Role) -> wire::Role {
    match role {
        Role::Admin => wire::Role::Admin,
        Role::Scheduler => wire::Role::Scheduler,
        Role::Clinician => wire::Role::Clinician,
        Role::Billing => wire::Role::Billing,
    }
}

pub fn wire_status(status: VisitStatus) -> wire::VisitStatus {
    match status {
        VisitStatus::Scheduled => wire::VisitStatus::Scheduled,
        VisitStatus::Waiting => wire::VisitStatus::Waiting,
        VisitStatus::InConsult => wire::VisitStatus::InConsult,
        VisitStatus::Closed => wire::VisitStatus::Closed,
        VisitStatus::Cancelled => wire::VisitStatus::Cancelled,
        VisitStatus::NoShow => wire::VisitStatus::NoShow,
    }
}

/// The `visit` frame for a queue entry.
pub fn update_for(entry: &QueueEntry) -> VisitUpdate {
    VisitUpdate {
        status: wire_status(entry.status),
        position: entry.position.map(|p| p as u32),
        estimated_wait_seconds: entry.estimated_wait_seconds.map(|s| s.max(0) as u64),
    }
}

impl Live {
    pub fn new(hub: Hub, store: Store) -> Self {
        Self {
            hub,
            store,
            feeds: Arc::default(),
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Clinicians whose presence is `available` (at least one is assumed
    /// when presence cannot be read).
    #[tracing::instrument(skip_all)]
    pub async fn clinicians_available(&self) -> usize {
        match self.hub.presence_list(Some(wire::Role::Clinician)).await {
            Ok(list) => list
                .iter()
                .filter(|e| e.status == PresenceStatus::Available)
                .count(),
            Err(_) => 1,
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn presence(&self, role: Option<Role>) -> Vec<PresenceEntry> {
        self.hub
            .presence_list(role.map(wire_role))
            .await
            .unwrap_or_default()
    }

    /// Guests with a socket open now, by guest id.
    #[tracing::instrument(skip_all)]
    pub async fn guests_online(&self) -> std::collections::HashSet<String> {
        self.hub
            .presence_list(Some(wire::Role::Guest))
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|entry| entry.status != PresenceStatus::Offline)
            .map(|entry| entry.user_id.to_string())
            .collect()
    }

    /// After a visit changed state: its room, its patient, its queue.
    #[tracing::instrument(skip_all)]
    pub async fn visit_changed(&self, visit: &Visit) {
        match visit.status {
            VisitStatus::InConsult => {
                self.hub
                    .open_room(&wire::VisitId::new(visit.id.as_str()))
                    .await
            }
            VisitStatus::Closed | VisitStatus::Cancelled | VisitStatus::NoShow => {
                self.hub
                    .close_room(
                        &wire::VisitId::new(visit.id.as_str()),
                        wire_status(visit.status),
                    )
                    .await;
            }
            VisitStatus::Scheduled | VisitStatus::Waiting => {}
        }
        self.queue_changed(&visit.queue_id).await;
    }

    /// A guest was let into the call: the visit's sockets hear that the
    /// consult is under way, and a waiting guest asks to join again.
    #[tracing::instrument(skip_all)]
    pub async fn guest_admitted(&self, visit: &VisitId) {
        self.hub
            .notify_visit(
                &wire::VisitId::new(visit.as_str()),
                VisitUpdate::status(wire::VisitStatus::InConsult),
            )
            .await;
    }

    /// A guest's invitation was revoked: out of the call, its sockets closed.
    #[tracing::instrument(skip_all)]
    pub async fn guest_removed(&self, visit: &VisitId, guest: &GuestId) {
        self.hub
            .remove_subject(
                &wire::VisitId::new(visit.as_str()),
                &wire::UserId::new(guest.as_str()),
            )
            .await;
    }

    /// A credential ended (a sign-out, a revoked or dead patient link): the
    /// sockets it opened close, on every node.
    #[tracing::instrument(skip_all)]
    pub async fn credential_ended(&self, credential: &Credential) {
        self.hub.end_credential(credential.as_str()).await;
    }

    /// Sends the queue to its watchers, and each waiting patient whose place
    /// or estimate changed its new one (see [`feeds`]: changes coming faster
    /// than the queue is read share one read).
    #[tracing::instrument(skip_all)]
    pub async fn queue_changed(&self, queue: &QueueId) {
        let feed = self.feeds.feed(queue);
        let Some(mut turn) = feed.turn().await else {
            return;
        };
        let available = self.clinicians_available().await;
        let view = match visits::queue_view(&self.store, queue, available).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(%error, queue.id = %queue, "queue update not sent");
                return;
            }
        };
        for (visit_id, update) in turn.changed(&view.entries) {
            self.hub
                .notify_visit(&wire::VisitId::new(visit_id.as_str()), update)
                .await;
        }
        let entries = serde_json::to_value(&view.entries).unwrap_or_default();
        let shared = self
            .hub
            .publish_queue(&wire::QueueId::new(queue.as_str()), entries)
            .await;
        turn.sent(shared);
    }

    /// A clinician admitted a patient: the clinician shows as in consult
    /// (so no scheduler routes them another patient), the room opens.
    #[tracing::instrument(skip_all)]
    pub async fn consult_started(&self, clinician: &User, visit: &Visit) {
        self.clinician_status(clinician, PresenceStatus::InConsult)
            .await;
        self.visit_changed(visit).await;
    }

    /// A clinician closed a consult: available again, the room closes.
    #[tracing::instrument(skip_all)]
    pub async fn consult_ended(&self, clinician: &User, visit: &Visit) {
        self.clinician_status(clinician, PresenceStatus::Available)
            .await;
        self.visit_changed(visit).await;
    }

    /// A clinician's presence around a consult: `in_consult` while in one.
    async fn clinician_status(&self, clinician: &User, status: PresenceStatus) {
        let user = PresenceUser {
            user_id: wire::UserId::new(clinician.id.as_str()),
            display_name: clinician.display_name.clone(),
            role: wire::Role::Clinician,
        };
        if let Err(error) = self.hub.set_presence(&user, status).await {
            tracing::warn!(%error, "presence not updated");
        }
    }
}
