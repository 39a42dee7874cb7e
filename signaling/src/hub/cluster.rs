//! This node's share of what the nodes hold in common: its lease on the
//! bus, the rebuild of its directory entries, sessions and presence when
//! the bus comes back (possibly empty), and the reaping of nodes that died.
//!
//! Nothing here trusts the shared store to have kept anything: each node
//! rewrites what its own sockets prove, whenever its lease was found
//! missing or its subscription reconnected.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::{Hub, Shared, encode, stopped};
use crate::authoriser::Identity;
use crate::events::HubEvent;
use crate::protocol::{LeaveReason, ParticipantId, ServerMessage, VisitId};

/// A lease lasts this many beats: two may be lost before others see a lapse.
const LEASE_BEATS: u32 = 3;
/// Healthy beats in a row before this node reaps others: long enough for
/// every live node to have renewed its lease since the bus came back, so a
/// bus that was hung or emptied makes no live node look dead.
const REAP_AFTER_BEATS: u32 = 2 * LEASE_BEATS;
/// How long a dropped socket's session stays claimable beyond its window,
/// so the node's own expiry (not the store's) decides.
pub(super) const SESSION_GRACE: Duration = Duration::from_secs(5);
/// A session attached to a socket: renewed by every claim and rebuild.
pub(super) const ATTACHED_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Retries of a rebuild after a reconnection, before leaving it to the lease.
const REBUILD_TRIES: u32 = 5;

impl Hub {
    /// One beat: renew the lease; rebuild when it was missing or a write
    /// failed; reap lapsed nodes once this node has been healthy long enough.
    async fn lease_round(&self, streak: &mut u32) {
        let ttl = self.shared.config.node_interval * LEASE_BEATS;
        match self.shared.bus.announce_node(&self.shared.node, ttl).await {
            Ok(true) => *streak = streak.saturating_add(1),
            Ok(false) => {
                // First beat, a lapse, or a store that lost its data.
                *streak = 0;
                self.shared.directory_stale.store(true, Ordering::Release);
            }
            Err(error) => {
                *streak = 0;
                tracing::warn!(%error, "node lease not renewed");
                return;
            }
        }
        if self.shared.directory_stale.swap(false, Ordering::AcqRel) {
            self.rebuild_share().await;
        }
        if *streak >= REAP_AFTER_BEATS {
            self.reap_lapsed().await;
        }
    }

    /// Rewrites everything this node's sockets prove: room members and
    /// open calls in the directory, resumable sessions, and its users'
    /// presence. Idempotent; a failed write leaves the directory marked
    /// stale for the next beat. Answers whether every write went through.
    pub(super) async fn rebuild_share(&self) -> bool {
        let (members, open, sessions) = {
            let state = self.state();
            let members: Vec<(VisitId, ParticipantId, Arc<Identity>, bool)> = state
                .rooms
                .iter()
                .flat_map(|(visit_id, room)| {
                    let state = &state;
                    room.members
                        .iter()
                        .filter_map(move |(participant_id, in_call)| {
                            let identity =
                                Arc::clone(&state.sessions.get(participant_id)?.identity);
                            Some((visit_id.clone(), participant_id.clone(), identity, *in_call))
                        })
                })
                .collect();
            let open: Vec<VisitId> = state
                .open_rooms
                .iter()
                .filter(|visit_id| state.rooms.contains_key(*visit_id))
                .cloned()
                .collect();
            let sessions: Vec<ParticipantId> = state.sessions.keys().cloned().collect();
            (members, open, sessions)
        };
        let mut whole = true;
        for visit_id in &open {
            if let Err(error) = self.shared.bus.set_room_open(visit_id, true).await {
                tracing::warn!(%error, visit.id = %visit_id, "open call not restored");
                whole = false;
            }
        }
        for (visit_id, participant_id, identity, in_call) in &members {
            whole &= self
                .put_member(visit_id, participant_id, identity, *in_call)
                .await;
        }
        for participant_id in &sessions {
            whole &= self.save_session(participant_id).await;
        }
        let users = self.state().live_users();
        match self.shared.presence.restore(&users).await {
            Ok(changes) => {
                for change in changes {
                    self.announce_presence(change).await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "presence not restored");
                whole = false;
            }
        }
        if !whole {
            self.shared.directory_stale.store(true, Ordering::Release);
        }
        whole
    }

    /// Removes the members of nodes whose lease lapsed: the calls they were
    /// in hear `peer_left {node_lost}`, and relay to them is refused.
    async fn reap_lapsed(&self) {
        let lapsed = match self.shared.bus.lapsed_nodes().await {
            Ok(lapsed) => lapsed,
            Err(error) => {
                tracing::warn!(%error, "lapsed nodes unknown");
                return;
            }
        };
        for node in lapsed.iter().filter(|node| **node != self.shared.node) {
            let gone = match self.shared.bus.reap_node(node).await {
                Ok(gone) => gone,
                Err(error) => {
                    tracing::warn!(%error, "lapsed node not reaped");
                    continue;
                }
            };
            if !gone.is_empty() {
                tracing::warn!(node, members = gone.len(), "node lost; its members left");
            }
            for (visit_id, member) in gone {
                if member.in_call {
                    let frame = ServerMessage::PeerLeft {
                        participant_id: member.participant_id.clone(),
                        reason: LeaveReason::NodeLost,
                    };
                    self.broadcast_call(&visit_id, None, frame).await;
                    let user = crate::presence::PresenceUser {
                        user_id: member.user_id.clone(),
                        display_name: member.display_name.clone(),
                        role: member.role,
                    };
                    match self.shared.presence.set_in_consult(&user, false).await {
                        Ok(Some(change)) => self.announce_presence(change).await,
                        Ok(None) => {}
                        Err(error) => tracing::warn!(%error, "presence not updated"),
                    }
                }
                self.emit(HubEvent::ParticipantLeft {
                    visit_id,
                    participant_id: member.participant_id,
                    user_id: member.user_id,
                    role: member.role,
                    reason: LeaveReason::NodeLost,
                });
            }
        }
    }

    /// Another node took this session over: forget it here without telling
    /// the room (the participant is still in it, elsewhere), close its
    /// socket if one is still attached, and drop it from this node's index
    /// of members (the directory's record is the new node's now).
    pub(super) async fn drop_copy(&self, participant_id: &ParticipantId) {
        let Some(visit_id) = self.forget_copy(participant_id) else {
            return;
        };
        if let Err(error) = self
            .shared
            .bus
            .remove_member(&visit_id, participant_id, &self.shared.node)
            .await
        {
            tracing::warn!(%error, visit.id = %visit_id, "room directory not updated");
        }
    }

    /// The local part of [`Hub::drop_copy`]; answers the room it was in.
    fn forget_copy(&self, participant_id: &ParticipantId) -> Option<VisitId> {
        let (event, room) = {
            let mut state = self.state();
            let session = state.sessions.get_mut(participant_id)?;
            // Without its outbox the socket's writer ends and the socket closes.
            let linked = session.link.take().is_some();
            session.dropped_link = None;
            let identity = Arc::clone(&session.identity);
            let room = state
                .remove_member(participant_id)
                .map(|(visit_id, _)| visit_id);
            state.remove_session(participant_id);
            let event = if linked {
                state.socket_down(&identity)
            } else {
                None
            };
            (event, room)
        };
        if let Some(event) = event {
            self.emit(event);
        }
        room
    }

    /// Sends the participant a fresh `joined` and the call a `peer_joined`
    /// for it: after a takeover, peers that heard it left meet it again
    /// (for those who knew it, the contract makes it a no-op).
    pub(super) async fn announce_return(&self, participant_id: &ParticipantId, visit_id: &VisitId) {
        let info = self
            .state()
            .sessions
            .get(participant_id)
            .map(|session| session.info(participant_id));
        let Some(info) = info else { return };
        self.send_joined(participant_id, visit_id).await;
        self.broadcast_call(
            visit_id,
            Some(participant_id),
            ServerMessage::PeerJoined(info),
        )
        .await;
    }

    /// Tells the participant's socket something directly.
    pub(super) fn tell(&self, participant_id: &ParticipantId, frame: &ServerMessage) {
        self.state().deliver(participant_id, &encode(frame));
    }
}

/// Renews this node's lease every `node_interval`.
pub(super) async fn keep_lease(shared: Weak<Shared>) {
    let Some((mut shutdown, period)) = shared
        .upgrade()
        .map(|shared| (shared.shutdown.subscribe(), shared.config.node_interval))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut streak = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        Hub { shared }.lease_round(&mut streak).await;
    }
}

/// Rebuilds this node's share each time the bus subscription reconnects:
/// the bus was away and may have come back empty. Retries briefly while
/// the command connection catches up; the lease round finishes the job.
pub(super) async fn rebuild_on_reconnect(
    shared: Weak<Shared>,
    mut connections: watch::Receiver<u64>,
) {
    let Some(mut shutdown) = shared.upgrade().map(|shared| shared.shutdown.subscribe()) else {
        return;
    };
    connections.borrow_and_update();
    loop {
        tokio::select! {
            changed = connections.changed() => if changed.is_err() { return },
            () = stopped(&mut shutdown) => return,
        }
        let mut backoff = Duration::from_millis(200);
        for _ in 0..REBUILD_TRIES {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if (Hub { shared }).rebuild_share().await {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopped(&mut shutdown) => return,
            }
            backoff *= 2;
        }
    }
}
