//! Bedside's signaling: the WebSocket protocol, rooms per visit, relay of
//! WebRTC negotiation between participants, presence and the cross-node bus.
//! It knows nothing of the store: the server hands it an [`Authoriser`] and
//! listens to its [`HubEvent`]s.
//!
//! # Layout
//!
//! - [`protocol`]: the frames of CONTRACT.md's `GET /ws`, typed ids, error codes.
//! - [`authoriser`]: the trait the server implements (token, join, subscribe).
//! - [`chat`]: the [`ChatRecorder`] the hub hands each chat message before relaying it.
//! - [`quality`]: the [`StatsRecorder`] the hub hands each `stats` summary before relaying it.
//! - [`config`]: [`HubConfig`] timeouts and limits, the upgrade settings.
//! - [`hub`]: [`Hub`], this node's sessions and rooms, the server-facing API,
//!   and this node's share of the cluster (lease, rebuild, reaping).
//! - `socket`: [`serve_socket`], one actor task per connection.
//! - [`presence`]: who is online, in memory or in Redis.
//! - [`bus`]: frames and the room directory across nodes, in memory or Redis.
//! - [`events`]: what the hub reports to the server.
//!
//! # Choices the contract leaves open
//!
//! - `joined.participants` lists the others already in the call, not the
//!   joiner; a client treats a `peer_joined` for someone it knows as a no-op.
//! - `chat` goes to the others in the call, not back to the sender, after
//!   the server's [`ChatRecorder`] kept it; one it could not keep is still
//!   relayed, and the sender hears `error not_recorded`.
//! - `presence` frames go to every staff socket.
//! - [`Hub::open_room`] also tells the visit's patients `visit {in_consult}`.
//! - A resume is honoured on any node sharing the bus: the session is
//!   claimed atomically on the bus, so one socket alone holds a participant
//!   id; a copy on another node ends quietly and its socket closes. A token
//!   unknown, spent or of someone else fails with `error resume_failed`
//!   after a fresh `welcome`.
//! - Chat that may not have reached the call on other nodes (the bus is
//!   down) is reported to its sender with `error not_delivered`.
//! - `stats` is kept by the server's [`StatsRecorder`], then relayed to the
//!   others in the call as `peer_stats {from, …}`; one per
//!   [`HubConfig::stats_interval`] per socket, more get `error rate_limited`.
//!   `screen_share {allowed}` is the clinician's alone; the call hears it.
//! - A node whose lease on the bus lapsed is taken for dead: one survivor
//!   removes its participants, and their calls hear `peer_left {node_lost}`.
//! - A socket lives no longer than its token's credential: when the server
//!   ends it ([`Hub::end_credential`], on every node) or it reaches
//!   [`Identity::expires_at`], the socket closes with 1008.

pub mod authoriser;
pub mod bus;
pub mod chat;
pub mod config;
pub mod events;
pub mod hub;
pub mod presence;
pub mod protocol;
pub mod quality;
mod socket;

pub use authoriser::{Authoriser, Denied, Identity, JoinAccess, Refused};
pub use bus::{Bus, MemoryBus, RedisBus, redis_connection};
pub use chat::{ChatRecord, ChatRecorder, NoRecord, NotRecorded};
pub use config::{HubConfig, configure_upgrade};
pub use events::{EventSink, HubEvent, NoEvents};
pub use hub::{Hub, HubBuilder};
pub use presence::{MemoryPresence, Presence, PresenceEntry, PresenceUser, RedisPresence};
pub use quality::{NoStats, StatsRecord, StatsRecorder};
pub use socket::serve_socket;
