//! The cross-node bus: frames for sockets held by other nodes, and the room
//! directory that tells every node who is in which room and whether its call
//! is open. In memory for one process ([`MemoryBus`]; clones share it, so
//! two hubs in one test behave as two nodes), Redis pub/sub and hashes for
//! many ([`RedisBus`]).
//!
//! Every node receives every envelope and delivers to the sockets it holds;
//! a node ignores its own envelopes, having delivered locally already.
//!
//! The directory is rebuilt, never trusted to survive: each node holds a
//! short lease (`announce_node`) and rewrites its own members whenever the
//! lease was missing or the subscription reconnected, so a store that came
//! back empty fills up again from the nodes' sockets. A node whose lease
//! lapsed is reaped by one survivor (`reap_node`), which removes its members.

mod in_memory;
mod redis;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use self::in_memory::MemoryBus;
pub use self::redis::{RedisBus, redis_connection};
use crate::protocol::{
    ParticipantId, ParticipantInfo, PresenceStatus, QueueId, Role, ServerMessage, UserId, VisitId,
    VisitStatus,
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
    /// A staff user chose a status: nodes holding their sockets remember it,
    /// to restore it if the presence store loses it.
    PresenceChosen {
        user_id: UserId,
        status: PresenceStatus,
    },
    /// A session was resumed on `node`: any other copy of it ends quietly
    /// (no `peer_left`) and its socket closes.
    Takeover {
        participant_id: ParticipantId,
        node: String,
    },
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

/// A resumable session as the bus keeps it for every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub participant_id: ParticipantId,
    /// The token's subject and role: a resume must present the same.
    pub user_id: UserId,
    pub role: Role,
    /// The node holding it now.
    pub node: String,
    /// The room it is in, and whether in the call.
    pub room: Option<VisitId>,
    pub in_call: bool,
    /// The queues it watches. Left out when empty: Redis's Lua would
    /// write an empty list back as an object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueId>,
}

/// Who asks to take a session over: the resuming token's subject and role,
/// and the node that will hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimant {
    pub user_id: UserId,
    pub role: Role,
    pub node: String,
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
    /// Answers whether another node's subscription took it: a node whose
    /// subscription is still reconnecting misses what is published meanwhile.
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<bool, BusError>>;

    /// Envelopes from every node but `node` (the subscriber's own), for as
    /// long as the stream is held. Returns once the first subscription is in
    /// place (or failed: the stream then keeps trying, and starts delivering
    /// when the bus is back).
    fn subscribe<'a>(&'a self, node: &'a str) -> BoxFuture<'a, BoxStream<'static, Envelope>>;

    /// Records or updates a room member.
    fn put_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        member: &'a MemberRecord,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Forgets a room member, if `node` still holds it (a session resumed
    /// elsewhere belongs to that node now).
    fn remove_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        participant_id: &'a ParticipantId,
        node: &'a str,
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
    /// drop out of [`Bus::members`]. Answers whether the lease was still
    /// held: `false` on the first beat, after a lapse, or when the store
    /// lost its data, and the node then rewrites its share.
    fn announce_node<'a>(
        &'a self,
        node: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, BusError>>;

    /// Nodes that announced themselves once and whose lease has lapsed.
    fn lapsed_nodes(&self) -> BoxFuture<'_, Result<Vec<String>, BusError>>;

    /// Removes a lapsed node's members from their rooms and forgets the
    /// node. Exactly one caller gets the members; the others get none.
    fn reap_node<'a>(
        &'a self,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(VisitId, MemberRecord)>, BusError>>;

    /// Counts the subscription's (re)connections: a change means the bus
    /// was away and may have lost the directory.
    fn connections(&self) -> watch::Receiver<u64>;

    /// Records a session under its resume token for `ttl`, so that a
    /// `hello {resume}` on any node finds it.
    fn save_session<'a>(
        &'a self,
        token: &'a str,
        session: &'a SessionRecord,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Takes over the session of `token` for `claim.node` under
    /// `new_token`, if it is still kept and belongs to `claim.user_id` and
    /// `claim.role`: atomic, so of two sockets resuming with one token
    /// exactly one wins. Answers the session as it was (its former node).
    fn claim_session<'a>(
        &'a self,
        token: &'a str,
        new_token: &'a str,
        claim: &'a Claimant,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, BusError>>;

    /// The session's room changed (joined, entered the call, left).
    fn update_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// The session ended on `node`; nothing if another node took it over.
    fn forget_session<'a>(
        &'a self,
        participant_id: &'a ParticipantId,
        node: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Whether the bus answers and the subscription is in place (`/readyz`).
    fn healthy(&self) -> BoxFuture<'_, bool>;
}
