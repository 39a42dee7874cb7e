//! Presence for one node: a map under a mutex, deadlines on tokio's clock
//! (so tests can pause time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::{self, BoxFuture};
use tokio::time::Instant;

use super::{LiveUser, Presence, PresenceEntry, PresenceError, PresenceUser, effective};
use crate::protocol::{PresenceStatus, Role, UserId};

/// In-memory presence; clones share the same state.
#[derive(Debug, Clone)]
pub struct MemoryPresence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    offline_after: Duration,
    users: Mutex<HashMap<UserId, Record>>,
}

#[derive(Debug)]
struct Record {
    display_name: String,
    role: Role,
    chosen: PresenceStatus,
    in_consult: bool,
    alive_until: Option<Instant>,
    status: PresenceStatus,
    since: DateTime<Utc>,
}

impl Record {
    fn new(user: &PresenceUser) -> Self {
        Self {
            display_name: user.display_name.clone(),
            role: user.role,
            chosen: PresenceStatus::Available,
            in_consult: false,
            alive_until: None,
            status: PresenceStatus::Offline,
            since: Utc::now(),
        }
    }

    /// Recomputes the status; `Some` when it changed.
    fn settle(&mut self, user_id: &UserId) -> Option<PresenceEntry> {
        let now = effective(self.alive_until.is_some(), self.chosen, self.in_consult);
        if now == self.status {
            return None;
        }
        self.status = now;
        self.since = Utc::now();
        Some(self.entry(user_id))
    }

    fn entry(&self, user_id: &UserId) -> PresenceEntry {
        PresenceEntry {
            user_id: user_id.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            status: self.status,
            since: self.since,
        }
    }
}

impl MemoryPresence {
    /// A user is offline once no heartbeat came for `offline_after`.
    pub fn new(offline_after: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                offline_after,
                users: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Record>> {
        // A panic elsewhere leaves the map consistent: every update is one step.
        self.inner
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn update(
        &self,
        user: &PresenceUser,
        change: impl FnOnce(&mut Record),
    ) -> Option<PresenceEntry> {
        let mut users = self.users();
        let record = users
            .entry(user.user_id.clone())
            .or_insert_with(|| Record::new(user));
        change(record);
        record.settle(&user.user_id)
    }
}

impl Presence for MemoryPresence {
    fn heartbeat<'a>(
        &'a self,
        users: &'a [PresenceUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>> {
        let until = Instant::now() + self.inner.offline_after;
        let changes = users
            .iter()
            .filter_map(|user| {
                self.update(user, |record| {
                    record.display_name.clone_from(&user.display_name);
                    record.role = user.role;
                    record.alive_until = Some(until);
                })
            })
            .collect();
        Box::pin(future::ready(Ok(changes)))
    }

    fn restore<'a>(
        &'a self,
        users: &'a [LiveUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>> {
        // Memory is never lost while the node runs: only fill in a record
        // that is new (a user whose record was forgotten).
        let until = Instant::now() + self.inner.offline_after;
        let mut records = self.users();
        let changes = users
            .iter()
            .filter_map(|live| {
                let user = &live.user;
                let record = records.entry(user.user_id.clone()).or_insert_with(|| {
                    let mut record = Record::new(user);
                    record.chosen = live.chosen.unwrap_or(PresenceStatus::Available);
                    record
                });
                record.display_name.clone_from(&user.display_name);
                record.role = user.role;
                record.alive_until = Some(until);
                record.in_consult |= live.in_consult;
                record.settle(&user.user_id)
            })
            .collect();
        Box::pin(future::ready(Ok(changes)))
    }

    fn set_status<'a>(
        &'a self,
        user: &'a PresenceUser,
        status: PresenceStatus,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>> {
        let change = self.update(user, |record| record.chosen = status);
        Box::pin(future::ready(Ok(change)))
    }

    fn set_in_consult<'a>(
        &'a self,
        user: &'a PresenceUser,
        in_consult: bool,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>> {
        let change = self.update(user, |record| record.in_consult = in_consult);
        Box::pin(future::ready(Ok(change)))
    }

    fn list(&self, role: Option<Role>) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>> {
        let mut entries: Vec<PresenceEntry> = self
            .users()
            .iter()
            .filter(|(_, record)| role.is_none_or(|role| record.role == role))
            .map(|(user_id, record)| record.entry(user_id))
            .collect();
        entries.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Box::pin(future::ready(Ok(entries)))
    }

    fn expire(&self) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>> {
        let now = Instant::now();
        let mut users = self.users();
        let mut changes = Vec::new();
        users.retain(|user_id, record| {
            if record.alive_until.is_some_and(|until| until <= now) {
                record.alive_until = None;
                changes.extend(record.settle(user_id));
                // Patients come back with a new socket; no need to remember them.
                return record.role.is_staff();
            }
            true
        });
        Box::pin(future::ready(Ok(changes)))
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(future::ready(true))
    }
}
