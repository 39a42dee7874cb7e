//! The bus within one process: a broadcast channel and a map of rooms.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use super::{Bus, BusError, Envelope, MemberRecord};
use crate::protocol::{ParticipantId, VisitId};

/// Envelopes buffered for a lagging subscriber before it misses some.
const CAPACITY: usize = 4_096;

/// In-memory bus; clones share the channel and the directory.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: broadcast::Sender<Envelope>,
    rooms: Mutex<Rooms>,
}

#[derive(Debug, Default)]
struct Rooms {
    members: HashMap<VisitId, HashMap<ParticipantId, MemberRecord>>,
    open: HashSet<VisitId>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// A bus for the hubs of this process.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                sender: broadcast::channel(CAPACITY).0,
                rooms: Mutex::new(Rooms::default()),
            }),
        }
    }

    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Bus for MemoryBus {
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<(), BusError>> {
        // No receiver just means no other hub: nothing to deliver.
        let _ = self.inner.sender.send(envelope.clone());
        Box::pin(future::ready(Ok(())))
    }

    fn subscribe(&self) -> BoxFuture<'_, BoxStream<'static, Envelope>> {
        let receiver = self.inner.sender.subscribe();
        let envelopes = stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(envelope) => return Some((envelope, receiver)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "bus subscriber lagged; envelopes lost");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Box::pin(future::ready(envelopes.boxed()))
    }

    fn put_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        member: &'a MemberRecord,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        self.rooms()
            .members
            .entry(visit_id.clone())
            .or_default()
            .insert(member.participant_id.clone(), member.clone());
        Box::pin(future::ready(Ok(())))
    }

    fn remove_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        participant_id: &'a ParticipantId,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let mut rooms = self.rooms();
        if let Some(members) = rooms.members.get_mut(visit_id) {
            members.remove(participant_id);
            if members.is_empty() {
                rooms.members.remove(visit_id);
            }
        }
        Box::pin(future::ready(Ok(())))
    }

    fn members<'a>(
        &'a self,
        visit_id: &'a VisitId,
    ) -> BoxFuture<'a, Result<Vec<MemberRecord>, BusError>> {
        let members = self
            .rooms()
            .members
            .get(visit_id)
            .map(|members| members.values().cloned().collect())
            .unwrap_or_default();
        Box::pin(future::ready(Ok(members)))
    }

    fn set_room_open<'a>(
        &'a self,
        visit_id: &'a VisitId,
        open: bool,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let mut rooms = self.rooms();
        if open {
            rooms.open.insert(visit_id.clone());
        } else {
            rooms.open.remove(visit_id);
            rooms.members.remove(visit_id);
        }
        Box::pin(future::ready(Ok(())))
    }

    fn room_open<'a>(&'a self, visit_id: &'a VisitId) -> BoxFuture<'a, Result<bool, BusError>> {
        let open = self.rooms().open.contains(visit_id);
        Box::pin(future::ready(Ok(open)))
    }

    fn announce_node<'a>(
        &'a self,
        _node: &'a str,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        // Nodes of one process live and die together.
        Box::pin(future::ready(Ok(())))
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(future::ready(true))
    }
}
