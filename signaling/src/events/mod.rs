//! What the hub tells the server: participants entering and leaving rooms,
//! dropped sockets, staff socket counts and presence changes. The server
//! hands the hub an [`EventSink`]; a tokio mpsc sender is one.

use tokio::sync::mpsc;

use crate::protocol::{LeaveReason, ParticipantId, PresenceStatus, Role, UserId, VisitId};

/// One thing that happened on this node's sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    /// A socket joined a visit's room, in the call or waiting.
    ParticipantJoined {
        visit_id: VisitId,
        participant_id: ParticipantId,
        user_id: UserId,
        role: Role,
        waiting: bool,
    },
    /// A waiting participant entered the call when the room opened.
    ParticipantAdmitted {
        visit_id: VisitId,
        participant_id: ParticipantId,
        user_id: UserId,
        role: Role,
    },
    /// The socket dropped; its place is kept for the resume window.
    ParticipantDisconnected {
        visit_id: VisitId,
        participant_id: ParticipantId,
        user_id: UserId,
    },
    /// A dropped socket came back within the window.
    ParticipantResumed {
        visit_id: VisitId,
        participant_id: ParticipantId,
        user_id: UserId,
    },
    /// The participant is gone from the room.
    ParticipantLeft {
        visit_id: VisitId,
        participant_id: ParticipantId,
        user_id: UserId,
        role: Role,
        reason: LeaveReason,
    },
    /// A staff user's open sockets on this node changed.
    StaffSockets { user_id: UserId, sockets: usize },
    /// A user's effective presence changed (reported by one node only).
    PresenceChanged {
        user_id: UserId,
        status: PresenceStatus,
    },
}

/// Receives the hub's events; must not block (it is called under no lock,
/// but on the socket's task).
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: HubEvent);
}

/// For a server that does not listen.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: HubEvent) {}
}

impl EventSink for mpsc::UnboundedSender<HubEvent> {
    fn emit(&self, event: HubEvent) {
        // A closed receiver means the server stopped listening.
        let _ = self.send(event);
    }
}

impl EventSink for mpsc::Sender<HubEvent> {
    fn emit(&self, event: HubEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.try_send(event) {
            tracing::warn!(?event, "event listener is behind; event dropped");
        }
    }
}
