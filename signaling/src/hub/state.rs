//! The node's registry of sessions, rooms and subscriptions, kept under one
//! std mutex. Everything here is synchronous and quick: callers take the
//! lock for a few lines, collect what must happen next, and do the async
//! part (directory, bus, presence) after releasing it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use crate::authoriser::Identity;
use crate::bus::SessionRecord;
use crate::events::HubEvent;
use crate::presence::{LiveUser, PresenceUser};
use crate::protocol::{ParticipantId, ParticipantInfo, PresenceStatus, QueueId, UserId, VisitId};

/// One socket's logical session: it outlives the socket for the resume
/// window.
#[derive(Debug)]
pub(crate) struct Session {
    pub identity: Arc<Identity>,
    pub resume_token: String,
    /// The socket currently attached; `None` while dropped and resumable.
    pub link: Option<Link>,
    /// The link whose drop started the resume window, to tell stale timers.
    pub dropped_link: Option<u64>,
    pub room: Option<VisitId>,
    pub queues: Vec<QueueId>,
    /// Its access was taken away: its socket closes with 1008.
    pub revoked: bool,
}

impl Session {
    pub fn info(&self, participant_id: &ParticipantId) -> ParticipantInfo {
        ParticipantInfo {
            participant_id: participant_id.clone(),
            role: self.identity.role,
            display_name: self.identity.display_name.clone(),
        }
    }

    pub fn presence_user(&self) -> PresenceUser {
        presence_user(&self.identity)
    }

    /// Whether `link` is the socket attached now.
    pub fn is_linked_to(&self, link: u64) -> bool {
        self.link.as_ref().is_some_and(|current| current.id == link)
    }
}

pub(crate) fn presence_user(identity: &Identity) -> PresenceUser {
    PresenceUser {
        user_id: identity.subject.clone(),
        display_name: identity.display_name.clone(),
        role: identity.role,
    }
}

/// The attached socket's outbound queue.
#[derive(Debug)]
pub(crate) struct Link {
    pub id: u64,
    /// Dropped when the socket falls behind: its task then closes it.
    pub outbox: Option<mpsc::Sender<Utf8Bytes>>,
}

/// This node's members of one visit's room: in the call or waiting.
#[derive(Debug, Default)]
pub(crate) struct Room {
    pub members: HashMap<ParticipantId, bool>,
}

/// A user with sockets on this node.
#[derive(Debug)]
struct UserSockets {
    user: PresenceUser,
    sockets: usize,
    /// The status last chosen for them while a socket of theirs was here.
    chosen: Option<PresenceStatus>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub sessions: HashMap<ParticipantId, Session>,
    pub by_resume: HashMap<String, ParticipantId>,
    pub rooms: HashMap<VisitId, Room>,
    /// Calls known open; the directory is the shared truth, this the cache.
    pub open_rooms: HashSet<VisitId>,
    /// Sessions whose token is scoped to a visit (patients, guests).
    pub visit_sockets: HashMap<VisitId, HashSet<ParticipantId>>,
    pub staff: HashSet<ParticipantId>,
    pub queues: HashMap<QueueId, HashSet<ParticipantId>>,
    users: HashMap<UserId, UserSockets>,
    next_link: u64,
}

impl State {
    pub fn next_link(&mut self) -> u64 {
        self.next_link += 1;
        self.next_link
    }

    /// Queues a frame for a participant's socket. A socket too slow to
    /// drain its queue loses its link (its task closes it; it may resume).
    pub fn deliver(&mut self, participant_id: &ParticipantId, frame: &Utf8Bytes) {
        let Some(session) = self.sessions.get_mut(participant_id) else {
            return;
        };
        let Some(link) = session.link.as_mut() else {
            return;
        };
        let Some(outbox) = link.outbox.as_ref() else {
            return;
        };
        match outbox.try_send(frame.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(participant.id = %participant_id, "socket fell behind; dropping it");
                link.outbox = None;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => link.outbox = None,
        }
    }

    /// Delivers to the room's members in the call, but `except`.
    pub fn deliver_room(
        &mut self,
        visit_id: &VisitId,
        except: Option<&ParticipantId>,
        frame: &Utf8Bytes,
    ) {
        let targets: Vec<ParticipantId> = self
            .rooms
            .get(visit_id)
            .map(|room| {
                room.members
                    .iter()
                    .filter(|(id, in_call)| **in_call && Some(*id) != except)
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for target in &targets {
            self.deliver(target, frame);
        }
    }

    /// Delivers to the sockets whose token is scoped to this visit.
    pub fn deliver_visit(&mut self, visit_id: &VisitId, frame: &Utf8Bytes) {
        let targets: Vec<ParticipantId> = self
            .visit_sockets
            .get(visit_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for target in &targets {
            self.deliver(target, frame);
        }
    }

    pub fn deliver_queue(&mut self, queue_id: &QueueId, frame: &Utf8Bytes) {
        let targets: Vec<ParticipantId> = self
            .queues
            .get(queue_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for target in &targets {
            self.deliver(target, frame);
        }
    }

    pub fn deliver_staff(&mut self, frame: &Utf8Bytes) {
        let targets: Vec<ParticipantId> = self.staff.iter().cloned().collect();
        for target in &targets {
            self.deliver(target, frame);
        }
    }

    /// Whether `participant_id` is in the call of `visit_id` on this node.
    pub fn in_call(&self, visit_id: &VisitId, participant_id: &ParticipantId) -> bool {
        self.rooms
            .get(visit_id)
            .and_then(|room| room.members.get(participant_id))
            .copied()
            .unwrap_or(false)
    }

    /// Local members of a call, but `except`.
    pub fn call_members(&self, visit_id: &VisitId, except: &ParticipantId) -> Vec<ParticipantInfo> {
        let Some(room) = self.rooms.get(visit_id) else {
            return Vec::new();
        };
        room.members
            .iter()
            .filter(|(id, in_call)| **in_call && *id != except)
            .filter_map(|(id, _)| self.sessions.get(id).map(|session| session.info(id)))
            .collect()
    }

    /// Registers a new session and its indexes.
    pub fn insert_session(&mut self, participant_id: ParticipantId, session: Session) {
        if session.identity.role.is_staff() {
            self.staff.insert(participant_id.clone());
        }
        if let Some(visit_id) = &session.identity.visit_id {
            self.visit_sockets
                .entry(visit_id.clone())
                .or_default()
                .insert(participant_id.clone());
        }
        self.by_resume
            .insert(session.resume_token.clone(), participant_id.clone());
        self.sessions.insert(participant_id, session);
    }

    /// Forgets a session and its indexes; its room is left by the caller.
    pub fn remove_session(&mut self, participant_id: &ParticipantId) -> Option<Session> {
        let session = self.sessions.remove(participant_id)?;
        self.staff.remove(participant_id);
        self.by_resume.remove(&session.resume_token);
        if let Some(visit_id) = &session.identity.visit_id {
            remove_from(&mut self.visit_sockets, visit_id, participant_id);
        }
        for queue_id in &session.queues {
            remove_from(&mut self.queues, queue_id, participant_id);
        }
        Some(session)
    }

    /// Takes a participant out of its room here; `Some(was_in_call)`.
    pub fn remove_member(&mut self, participant_id: &ParticipantId) -> Option<(VisitId, bool)> {
        let session = self.sessions.get_mut(participant_id)?;
        let visit_id = session.room.take()?;
        let in_call = remove_member_from(&mut self.rooms, &visit_id, participant_id);
        Some((visit_id, in_call))
    }

    /// Counts a socket of this user coming up; an event for staff.
    pub fn socket_up(&mut self, identity: &Identity) -> Option<HubEvent> {
        let live = self
            .users
            .entry(identity.subject.clone())
            .or_insert_with(|| UserSockets {
                user: presence_user(identity),
                sockets: 0,
                chosen: None,
            });
        live.sockets += 1;
        staff_event(identity, live.sockets)
    }

    /// Counts a socket of this user going away; an event for staff.
    pub fn socket_down(&mut self, identity: &Identity) -> Option<HubEvent> {
        let live = self.users.get_mut(&identity.subject)?;
        live.sockets = live.sockets.saturating_sub(1);
        let sockets = live.sockets;
        if sockets == 0 {
            self.users.remove(&identity.subject);
        }
        staff_event(identity, sockets)
    }

    /// Remembers a user's chosen status, if they have a socket here.
    pub fn chose(&mut self, user_id: &UserId, status: PresenceStatus) {
        if let Some(live) = self.users.get_mut(user_id) {
            live.chosen = Some(status);
        }
    }

    /// Users with a live socket here, with what this node knows of their
    /// status: for presence heartbeats, and to rebuild a lost record.
    pub fn live_users(&self) -> Vec<LiveUser> {
        let in_call: HashSet<&UserId> = self
            .sessions
            .iter()
            .filter(|(id, session)| {
                session
                    .room
                    .as_ref()
                    .is_some_and(|visit_id| self.in_call(visit_id, id))
            })
            .map(|(_, session)| &session.identity.subject)
            .collect();
        self.users
            .iter()
            .map(|(user_id, live)| LiveUser {
                user: live.user.clone(),
                chosen: live.chosen,
                in_consult: in_call.contains(user_id),
            })
            .collect()
    }

    /// The shared record of a session held here.
    pub fn session_record(
        &self,
        participant_id: &ParticipantId,
        node: &str,
    ) -> Option<SessionRecord> {
        let session = self.sessions.get(participant_id)?;
        let in_call = session
            .room
            .as_ref()
            .is_some_and(|visit_id| self.in_call(visit_id, participant_id));
        Some(SessionRecord {
            participant_id: participant_id.clone(),
            user_id: session.identity.subject.clone(),
            role: session.identity.role,
            node: node.to_owned(),
            room: session.room.clone(),
            in_call,
            queues: session.queues.clone(),
        })
    }
}

fn staff_event(identity: &Identity, sockets: usize) -> Option<HubEvent> {
    identity.role.is_staff().then(|| HubEvent::StaffSockets {
        user_id: identity.subject.clone(),
        sockets,
    })
}

fn remove_from<K: std::hash::Hash + Eq>(
    index: &mut HashMap<K, HashSet<ParticipantId>>,
    key: &K,
    participant_id: &ParticipantId,
) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(participant_id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

/// Returns whether the member was in the call.
fn remove_member_from(
    rooms: &mut HashMap<VisitId, Room>,
    visit_id: &VisitId,
    participant_id: &ParticipantId,
) -> bool {
    let Some(room) = rooms.get_mut(visit_id) else {
        return false;
    };
    let in_call = room.members.remove(participant_id).unwrap_or(false);
    if room.members.is_empty() {
        rooms.remove(visit_id);
    }
    in_call
}
