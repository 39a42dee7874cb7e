//! The cross-node bus: frames for sockets held by other nodes, and the room
//! directory that tells every node who is in which room and whether its call
//! is open. In memory for one process ([`MemoryBus`]; clones share it, so
//! two hubs in one test behave as two nodes), Redis pub/sub and hashes for
//! many ([`RedisBus`]).
//!
//! Every node receives every envelope and delivers to the sockets it holds;
//! a node ignores its own envelopes, having delivered locally already.

mod in_memory;
mod redis;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use self::in_memory::MemoryBus;
pub use self::redis::{RedisBus, redis_connection};
use crate::protocol::{
    ParticipantId, ParticipantInfo, QueueId, Role, ServerMessage, UserId, VisitId, VisitStatus,
};

/// A message from one node to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node, so it can skip its own envelopes.
    pub origin: String,
    pub message: BusMessage,
}

/// What a node asks the others to do with their sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusMessage {
    /// A relayed frame for one participant of a room.
    Direct {
        visit_id: VisitId,
        to: ParticipantId,
        frame: ServerMessage,
    },
    /// A frame for everyone in a room's call, but `except`.
    Room {
        visit_id: VisitId,
        except: Option<ParticipantId>,
        frame: ServerMessage,
    },
    /// A frame for the visit's patient sockets.
    Patients {
        visit_id: VisitId,
        frame: ServerMessage,
    },
    /// The call opened: waiting members enter it.
    OpenRoom { visit_id: VisitId },
    /// The visit ended: every member leaves.
    CloseRoom {
        visit_id: VisitId,
        status: VisitStatus,
    },
    /// A frame for the sockets subscribed to a queue.
    Queue {
        queue_id: QueueId,
        frame: ServerMessage,
    },
    /// A frame for every staff socket (presence changes).
    Staff { frame: ServerMessage },
    /// A visit-scoped identity lost its access (a revoked guest): its
    /// sessions end and their sockets close.
    RemoveSubject { visit_id: VisitId, subject: UserId },
    /// A credential ended (a sign-out, a revoked link): the sessions it
    /// opened end and their sockets close.
    EndCredential { credential: String },
}

/// A room member as the directory records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub role: Role,
    pub display_name: String,
    /// The node holding the socket.
    pub node: String,
    /// In the call, as opposed to waiting.
    pub in_call: bool,
}

impl MemberRecord {
    /// As peers see it.
    pub fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            participant_id: self.participant_id.clone(),
            role: self.role,
            display_name: self.display_name.clone(),
        }
    }
}

/// The bus did not answer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable")]
    Redis(#[from] ::redis::RedisError),
    #[error("bus message could not be encoded or decoded")]
    Codec(#[from] serde_json::Error),
}

/// Messages between nodes and the room directory they share.
pub trait Bus: Send + Sync + 'static {
    /// Sends to every node (the sender's own copy is skipped by `origin`).
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<(), BusError>>;

    /// Envelopes from every node, for as long as the stream is held. Returns
    /// once the first subscription is in place (or failed: the stream then
    /// keeps trying, and starts delivering when the bus is back).
    fn subscribe(&self) -> BoxFuture<'_, BoxStream<'static, Envelope>>;

    /// Records or updates a room member.
    fn put_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        member: &'a MemberRecord,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Forgets a room member.
    fn remove_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        participant_id: &'a ParticipantId,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// The room's members on nodes that are alive.
    fn members<'a>(
        &'a self,
        visit_id: &'a VisitId,
    ) -> BoxFuture<'a, Result<Vec<MemberRecord>, BusError>>;

    /// Marks the call open; closing forgets the room and its members.
    fn set_room_open<'a>(
        &'a self,
        visit_id: &'a VisitId,
        open: bool,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Whether the call is open.
    fn room_open<'a>(&'a self, visit_id: &'a VisitId) -> BoxFuture<'a, Result<bool, BusError>>;

    /// This node is alive for `ttl`; members of nodes that stop saying so
    /// drop out of [`Bus::members`].
    fn announce_node<'a>(
        &'a self,
        node: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Whether the bus answers and the subscription is in place (`/readyz`).
    fn healthy(&self) -> BoxFuture<'_, bool>;
}
