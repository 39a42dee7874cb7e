//! Who is online and how available: staff status set by `presence` frames
//! and automatically (`in_consult` in a call, `offline` once a user's last
//! socket has been gone for the timeout), and waiting patients' online
//! state. In memory for one node ([`MemoryPresence`]), in Redis for many
//! ([`RedisPresence`]).
//!
//! Liveness is a deadline refreshed by the hub's heartbeats. Expiry is an
//! atomic step (one lock, one Lua script), so every node may run it and each
//! lapse is reported by exactly one of them.

mod in_memory;
mod redis;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;

pub use self::in_memory::MemoryPresence;
pub use self::redis::RedisPresence;
use crate::protocol::{PresenceStatus, Role, UserId};

/// A user as presence knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUser {
    pub user_id: UserId,
    pub display_name: String,
    pub role: Role,
}

/// A user with a live socket on a node, as that node knows them: what a
/// lost presence record is rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUser {
    pub user: PresenceUser,
    /// The status last chosen for them while their socket was here.
    pub chosen: Option<PresenceStatus>,
    /// In a call on this node.
    pub in_consult: bool,
}

/// One row of `GET /api/v1/presence`, and a change when returned by an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceEntry {
    pub user_id: UserId,
    pub display_name: String,
    #[serde(skip)]
    pub role: Role,
    pub status: PresenceStatus,
    /// When the status last changed.
    pub since: DateTime<Utc>,
}

/// The presence store did not answer.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("presence store unavailable")]
    Redis(#[from] ::redis::RedisError),
    #[error("presence store returned an unexpected value")]
    Decode,
}

/// Presence state shared by the nodes. Every update returns the users whose
/// effective status changed, so the caller can tell subscribed staff.
pub trait Presence: Send + Sync + 'static {
    /// These users hold a live socket on the calling node: extend their
    /// liveness by the store's timeout.
    fn heartbeat<'a>(
        &'a self,
        users: &'a [PresenceUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>>;

    /// A heartbeat that also refills what a record lost (a presence store
    /// that restarted empty): the chosen status where none is recorded, and
    /// the consult flag where this node holds the user in a call. Never
    /// overrides a status recorded since.
    fn restore<'a>(
        &'a self,
        users: &'a [LiveUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>>;

    /// The user chose a status (a `presence` frame, or the server).
    fn set_status<'a>(
        &'a self,
        user: &'a PresenceUser,
        status: PresenceStatus,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>>;

    /// The user entered or left a call; `in_consult` overrides the chosen
    /// status while set.
    fn set_in_consult<'a>(
        &'a self,
        user: &'a PresenceUser,
        in_consult: bool,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>>;

    /// Everyone known, optionally of one role.
    fn list(&self, role: Option<Role>) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>>;

    /// Marks offline every user whose liveness lapsed. Safe to run on every
    /// node: each lapse is returned to exactly one caller. Patients and
    /// guests are forgotten once offline.
    fn expire(&self) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>>;

    /// Whether the store answers (for `/readyz`).
    fn healthy(&self) -> BoxFuture<'_, bool>;
}

/// The status others see, from what is recorded.
fn effective(alive: bool, chosen: PresenceStatus, in_consult: bool) -> PresenceStatus {
    if !alive || chosen == PresenceStatus::Offline {
        PresenceStatus::Offline
    } else if in_consult {
        PresenceStatus::InConsult
    } else {
        chosen
    }
}
