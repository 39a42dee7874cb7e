//! The bus within one process: a queue per subscribing node, a map of rooms
//! and the resumable sessions. Hubs of one process live and die together,
//! so no lease ever lapses and nothing needs rebuilding.
//!
//! Delivery is lossless: each node's queue holds every envelope of the
//! other nodes until that node reads it, and a node's own envelopes never
//! enter its queue (it delivered them locally), so one node alone queues
//! nothing. What fills a queue is bounded upstream: every socket's frames
//! by its rate limit, every socket's outbound frames by its outbox.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, watch};

use super::{Bus, BusError, Claimant, Envelope, MemberRecord, SessionRecord};
use crate::protocol::{ParticipantId, VisitId};

/// In-memory bus; clones share the channel and the directory.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    subscribers: Mutex<Vec<Subscriber>>,
    rooms: Mutex<Rooms>,
    /// Never changes: the in-memory bus does not reconnect.
    connections: watch::Sender<u64>,
}

/// One node's subscription: the envelopes of the other nodes.
#[derive(Debug)]
struct Subscriber {
    node: String,
    queue: mpsc::UnboundedSender<Envelope>,
}

#[derive(Debug, Default)]
struct Rooms {
    members: HashMap<VisitId, HashMap<ParticipantId, MemberRecord>>,
    open: HashSet<VisitId>,
    /// Resume token → participant, and each session with its token.
    tokens: HashMap<String, ParticipantId>,
    sessions: HashMap<ParticipantId, (SessionRecord, String)>,
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
                subscribers: Mutex::new(Vec::new()),
                rooms: Mutex::new(Rooms::default()),
                connections: watch::channel(1).0,
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
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<bool, BusError>> {
        let mut subscribers = self
            .inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A hub that went away closed its queue: forget it.
        subscribers.retain(|subscriber| !subscriber.queue.is_closed());
        let mut reached = false;
        for subscriber in subscribers
            .iter()
            .filter(|subscriber| subscriber.node != envelope.origin)
        {
            reached |= subscriber.queue.send(envelope.clone()).is_ok();
        }
        Box::pin(future::ready(Ok(reached)))
    }

    fn subscribe<'a>(&'a self, node: &'a str) -> BoxFuture<'a, BoxStream<'static, Envelope>> {
        let (queue, envelopes) = mpsc::unbounded_channel();
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Subscriber {
                node: node.to_owned(),
                queue,
            });
        let envelopes = stream::unfold(envelopes, |mut envelopes| async move {
            let envelope = envelopes.recv().await?;
            Some((envelope, envelopes))
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
        node: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let mut rooms = self.rooms();
        if let Some(members) = rooms.members.get_mut(visit_id) {
            if members
                .get(participant_id)
                .is_some_and(|member| member.node == node)
            {
                members.remove(participant_id);
            }
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
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        // Nodes of one process live and die together: the lease is held.
        Box::pin(future::ready(Ok(true)))
    }

    fn lapsed_nodes(&self) -> BoxFuture<'_, Result<Vec<String>, BusError>> {
        Box::pin(future::ready(Ok(Vec::new())))
    }

    fn reap_node<'a>(
        &'a self,
        _node: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(VisitId, MemberRecord)>, BusError>> {
        Box::pin(future::ready(Ok(Vec::new())))
    }

    fn connections(&self) -> watch::Receiver<u64> {
        self.inner.connections.subscribe()
    }

    fn save_session<'a>(
        &'a self,
        token: &'a str,
        session: &'a SessionRecord,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let mut rooms = self.rooms();
        let elsewhere = rooms
            .sessions
            .get(&session.participant_id)
            .is_some_and(|(record, _)| record.node != session.node);
        if !elsewhere {
            let old = rooms.sessions.insert(
                session.participant_id.clone(),
                (session.clone(), token.to_owned()),
            );
            if let Some((_, old_token)) = old {
                rooms.tokens.remove(&old_token);
            }
            rooms
                .tokens
                .insert(token.to_owned(), session.participant_id.clone());
        }
        Box::pin(future::ready(Ok(())))
    }

    fn claim_session<'a>(
        &'a self,
        token: &'a str,
        new_token: &'a str,
        claim: &'a Claimant,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, BusError>> {
        let mut rooms = self.rooms();
        let Rooms {
            tokens, sessions, ..
        } = &mut *rooms;
        let claimed = tokens.get(token).cloned().and_then(|participant_id| {
            let (record, kept_token) = sessions.get_mut(&participant_id)?;
            if record.user_id != claim.user_id || record.role != claim.role {
                return None;
            }
            let old = record.clone();
            record.node.clone_from(&claim.node);
            tokens.remove(token);
            *kept_token = new_token.to_owned();
            tokens.insert(new_token.to_owned(), participant_id);
            Some(old)
        });
        Box::pin(future::ready(Ok(claimed)))
    }

    fn update_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        if let Some((record, _)) = self.rooms().sessions.get_mut(&session.participant_id)
            && record.node == session.node
        {
            *record = session.clone();
        }
        Box::pin(future::ready(Ok(())))
    }

    fn forget_session<'a>(
        &'a self,
        participant_id: &'a ParticipantId,
        node: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let mut rooms = self.rooms();
        let held = rooms
            .sessions
            .get(participant_id)
            .is_some_and(|(record, _)| record.node == node);
        if held && let Some((_, token)) = rooms.sessions.remove(participant_id) {
            rooms.tokens.remove(&token);
        }
        Box::pin(future::ready(Ok(())))
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(future::ready(true))
    }
}
