//! What a socket's frames do to the hub: attach (with resume), join, relay,
//! chat, leave, presence, subscribe, detach; and the room changes they and
//! the server cause (enter the call, open, close, leave).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::state::{Link, Session};
use super::{Hub, Reach, encode};
use crate::authoriser::{Denied, Identity, JoinAccess, Refused};
use crate::bus::{BusMessage, MemberRecord};
use crate::chat::ChatRecord;
use crate::events::HubEvent;
use crate::protocol::quality::StatsSummary;
use crate::protocol::{
    ErrorCode, LeaveReason, ParticipantId, ParticipantInfo, PresenceStatus, QueueId, Role,
    ServerMessage, UserId, VisitId, VisitStatus, VisitUpdate,
};
use crate::quality::StatsRecord;

/// Random bytes as hex; `None` only if the OS has no randomness to give.
pub(crate) fn random_id(bytes: usize) -> Option<String> {
    let mut buffer = vec![0_u8; bytes];
    getrandom::fill(&mut buffer).ok()?;
    Some(hex::encode(buffer))
}

/// A socket's session after `hello`.
#[derive(Debug)]
pub(crate) struct Attached {
    pub participant_id: ParticipantId,
    /// When the socket's credential ends.
    pub expires_at: Option<DateTime<Utc>>,
    pub link: u64,
    pub resume_token: String,
    pub outbox: mpsc::Receiver<axum::extract::ws::Utf8Bytes>,
    /// A resume was asked for and could not be honoured.
    pub resume_failed: bool,
}

/// How a socket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// A clean close: leave at once.
    Closed,
    /// Dropped, silent or too slow: keep the place for the resume window.
    Dropped,
    /// Closed by the server (flooding, oversize, shutdown): leave at once.
    Removed,
}

impl Hub {
    /// Checks a `hello` token.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Identity, Denied> {
        self.shared.authoriser.authenticate(token).await
    }

    /// Claims a socket slot; `None` when the node is full.
    pub(crate) fn claim_slot(&self) -> Option<SocketSlot> {
        let max = self.shared.config.max_sockets;
        let claimed = self
            .shared
            .sockets
            .fetch_update(
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
                |open| (open < max).then_some(open + 1),
            )
            .is_ok();
        claimed.then(|| SocketSlot { hub: self.clone() })
    }

    /// A watch that turns true when the hub shuts down.
    pub(crate) fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.shutdown.subscribe()
    }

    /// Attaches an authenticated socket: takes back the session named by
    /// `resume` if it is this subject's and still kept (on this node or
    /// another), else starts one.
    pub(crate) async fn attach(
        &self,
        identity: Identity,
        resume: Option<&str>,
    ) -> Option<Attached> {
        let (sender, outbox) = mpsc::channel(self.shared.config.outbound_capacity);
        let resume_token = random_id(32)?;
        if let Some(token) = resume
            && let Some((participant_id, link)) = self
                .take_back(&identity, token, &sender, &resume_token)
                .await
        {
            return Some(Attached {
                participant_id,
                expires_at: identity.expires_at,
                link,
                resume_token,
                outbox,
                resume_failed: false,
            });
        }

        let participant_id = ParticipantId::new(random_id(12)?);
        let identity = Arc::new(identity);
        let (link, event) = {
            let mut state = self.state();
            let link = state.next_link();
            let event = state.socket_up(&identity);
            state.insert_session(
                participant_id.clone(),
                Session {
                    identity: Arc::clone(&identity),
                    resume_token: resume_token.clone(),
                    link: Some(Link {
                        id: link,
                        outbox: Some(sender),
                    }),
                    dropped_link: None,
                    room: None,
                    queues: Vec::new(),
                },
            );
            (link, event)
        };
        if let Some(event) = event {
            self.emit(event);
        }
        self.save_session(&participant_id).await;
        self.refresh_presence(&identity).await;
        Some(Attached {
            participant_id,
            expires_at: identity.expires_at,
            link,
            resume_token,
            outbox,
            resume_failed: resume.is_some(),
        })
    }

    /// Ends a socket's hold on its session. A dropped socket keeps its
    /// place for the resume window; a closed or removed one leaves now.
    pub(crate) async fn detach(&self, participant_id: &ParticipantId, link: u64, how: Departure) {
        let (identity, room) = {
            let mut state = self.state();
            let Some(session) = state.sessions.get_mut(participant_id) else {
                return;
            };
            if !session.is_linked_to(link) {
                // Resumed elsewhere: that socket owns the session now.
                return;
            }
            session.link = None;
            if how == Departure::Dropped {
                session.dropped_link = Some(link);
            }
            let identity = Arc::clone(&session.identity);
            let room = session.room.clone();
            let event = state.socket_down(&identity);
            drop(state);
            if let Some(event) = event {
                self.emit(event);
            }
            (identity, room)
        };
        match how {
            Departure::Dropped => {
                self.save_session(participant_id).await;
                if let Some(visit_id) = room {
                    self.emit(HubEvent::ParticipantDisconnected {
                        visit_id,
                        participant_id: participant_id.clone(),
                        user_id: identity.subject.clone(),
                    });
                }
                let hub = self.clone();
                let participant_id = participant_id.clone();
                let window = self.shared.config.resume_window;
                tokio::spawn(async move {
                    tokio::time::sleep(window).await;
                    hub.expire_session(&participant_id, link).await;
                });
            }
            Departure::Closed => self.end_session(participant_id, LeaveReason::Left).await,
            Departure::Removed => self.end_session(participant_id, LeaveReason::Removed).await,
        }
    }

    /// The resume window passed: forget the session unless it came back.
    async fn expire_session(&self, participant_id: &ParticipantId, link: u64) {
        let expired = self
            .state()
            .sessions
            .get(participant_id)
            .is_some_and(|session| session.link.is_none() && session.dropped_link == Some(link));
        if expired {
            self.end_session(participant_id, LeaveReason::Timeout).await;
        }
    }

    async fn end_session(&self, participant_id: &ParticipantId, reason: LeaveReason) {
        self.leave_room(participant_id, reason).await;
        self.state().remove_session(participant_id);
        if let Err(error) = self
            .shared
            .bus
            .forget_session(participant_id, &self.shared.node)
            .await
        {
            tracing::warn!(%error, "session not forgotten on the bus");
        }
    }

    /// This node's part of [`Hub::remove_subject`].
    pub(super) async fn remove_subject_local(&self, visit_id: &VisitId, subject: &UserId) {
        self.revoke_local(|identity| {
            identity.subject == *subject && identity.visit_id.as_ref() == Some(visit_id)
        })
        .await;
    }

    /// This node's part of [`Hub::end_credential`].
    pub(super) async fn end_credential_local(&self, credential: &str) {
        self.revoke_local(|identity| identity.credential.as_deref() == Some(credential))
            .await;
    }

    /// Ends the sessions whose identity `lost` says lost its access.
    async fn revoke_local(&self, lost: impl Fn(&Identity) -> bool) {
        let sessions: Vec<ParticipantId> = {
            let mut state = self.state();
            let ids: Vec<ParticipantId> = state
                .sessions
                .iter()
                .filter(|(_, s)| lost(&s.identity))
                .map(|(id, _)| id.clone())
                .collect();
            for id in &ids {
                let Some(session) = state.sessions.get_mut(id) else {
                    continue;
                };
                // Without its outbox the socket's writer ends and the socket closes.
                let Some(link) = session.link.as_mut() else {
                    continue;
                };
                link.outbox = None;
                state.revoked.insert(id.clone());
            }
            ids
        };
        for participant_id in sessions {
            self.end_session(&participant_id, LeaveReason::Removed)
                .await;
        }
    }

    /// Whether a socket's session was ended because its access was taken
    /// away (rather than cut off for falling behind or resumed elsewhere);
    /// asked once, by the socket as it closes.
    pub(crate) fn access_revoked(&self, participant_id: &ParticipantId) -> bool {
        self.state().revoked.remove(participant_id)
    }

    /// `join {visit_id}`.
    pub(crate) async fn join(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        visit_id: VisitId,
    ) -> Result<(), ErrorCode> {
        let identity = self.session_identity(participant_id, link)?;
        if self
            .state()
            .sessions
            .get(participant_id)
            .and_then(|s| s.room.as_ref())
            .is_some()
        {
            return Err(ErrorCode::AlreadyJoined);
        }
        let access = self
            .shared
            .authoriser
            .authorise_join(&identity, &visit_id)
            .await
            .map_err(Denied::code)?;
        let in_call = {
            let mut state = self.state();
            let open = matches!(access, JoinAccess::Open) || state.open_rooms.contains(&visit_id);
            let session = state
                .sessions
                .get_mut(participant_id)
                .filter(|session| session.is_linked_to(link))
                .ok_or(ErrorCode::NotAuthenticated)?;
            if session.room.is_some() {
                return Err(ErrorCode::AlreadyJoined);
            }
            session.room = Some(visit_id.clone());
            state
                .rooms
                .entry(visit_id.clone())
                .or_default()
                .members
                .insert(participant_id.clone(), open);
            open
        };
        self.emit(HubEvent::ParticipantJoined {
            visit_id: visit_id.clone(),
            participant_id: participant_id.clone(),
            user_id: identity.subject.clone(),
            role: identity.role,
            waiting: !in_call,
        });
        self.put_member(&visit_id, participant_id, &identity, in_call)
            .await;
        self.update_session(participant_id).await;
        match access {
            JoinAccess::Open => {
                if in_call {
                    self.enter_call(participant_id, &visit_id).await;
                }
                // An open call may still hold members waiting on other nodes.
                self.open_call(&visit_id).await;
            }
            JoinAccess::Waiting(update) => {
                let frame = ServerMessage::Visit {
                    visit_id: visit_id.clone(),
                    update,
                };
                self.state().deliver(participant_id, &encode(&frame));
                if in_call {
                    self.enter_call(participant_id, &visit_id).await;
                } else if self.shared.bus.room_open(&visit_id).await.unwrap_or(false) {
                    // Opened elsewhere between the authoriser's answer and now.
                    self.promote(&visit_id).await;
                }
            }
        }
        Ok(())
    }

    /// `offer`, `answer`, `candidate`: to one participant of the sender's
    /// call, on this node or another.
    pub(crate) async fn relay(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        to: ParticipantId,
        frame: ServerMessage,
    ) -> Result<(), ErrorCode> {
        let visit_id = {
            let mut state = self.state();
            let visit_id = self.call_of(&state, participant_id, link)?;
            if state.in_call(&visit_id, &to) {
                state.deliver(&to, &encode(&frame));
                return Ok(());
            }
            visit_id
        };
        let members = self
            .shared
            .bus
            .members(&visit_id)
            .await
            .map_err(|_| ErrorCode::Unavailable)?;
        let remote = members.iter().any(|member| {
            member.participant_id == to && member.in_call && member.node != self.shared.node
        });
        if !remote {
            return Err(ErrorCode::NotInRoom);
        }
        // The recipient's node must have heard it: one still reconnecting
        // to the bus would drop it silently.
        match self
            .publish(BusMessage::Direct {
                visit_id,
                to,
                frame,
            })
            .await
        {
            Reach::OtherNodes => Ok(()),
            Reach::NoOtherNode | Reach::Failed => Err(ErrorCode::Unavailable),
        }
    }

    /// `chat {text}`: kept by the server's recorder, then to everyone else
    /// in the call, one message of a room at a time so the record and the
    /// room see the same order.
    ///
    /// A message the recorder could not keep is still relayed: in a consult
    /// a message such as "my chest hurts" must reach the clinician even when
    /// the store is down. The sender then hears `error not_recorded`, so the
    /// person who wrote it knows it is missing from the record.
    pub(crate) async fn chat(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        text: String,
    ) -> Result<(), ErrorCode> {
        let (visit_id, sender) = {
            let state = self.state();
            let visit_id = self.call_of(&state, participant_id, link)?;
            let sender = state
                .sessions
                .get(participant_id)
                .map(|session| Arc::clone(&session.identity))
                .ok_or(ErrorCode::NotAuthenticated)?;
            (visit_id, sender)
        };
        let turn = self.chat_turn(&visit_id);
        let recorded = {
            let _turn = turn.lock().await;
            // Whole milliseconds: the time kept is the time relayed.
            let now = Utc::now();
            let at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
            let recorded = self
                .shared
                .chat
                .record(ChatRecord {
                    visit_id: &visit_id,
                    participant_id,
                    sender: &sender,
                    text: &text,
                    at,
                })
                .await;
            let frame = ServerMessage::Chat {
                from: participant_id.clone(),
                text,
                at,
            };
            let reach = self
                .broadcast_call(&visit_id, Some(participant_id), frame)
                .await;
            if !self.reached_call(&visit_id, reach).await {
                // Those in the call on other nodes may not have it: the
                // sender must know rather than believe it delivered.
                self.tell(
                    participant_id,
                    &ServerMessage::error(ErrorCode::NotDelivered),
                );
            }
            recorded
        };
        drop(turn);
        self.end_chat_turn(&visit_id);
        recorded.map_err(|_| ErrorCode::NotRecorded)
    }

    /// `stats {…}`: kept by the server's recorder, then to the others in
    /// the call as `peer_stats`. Only a participant in the call may send
    /// it. A summary the recorder could not keep is still relayed (the
    /// other side's indicator needs it) and the sender hears `not_recorded`.
    pub(crate) async fn stats(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        stats: StatsSummary,
    ) -> Result<(), ErrorCode> {
        let (visit_id, sender) = self.caller(participant_id, link)?;
        let recorded = self
            .shared
            .stats
            .record(StatsRecord {
                visit_id: &visit_id,
                participant_id,
                sender: &sender,
                stats: &stats,
                at: self.now(),
            })
            .await;
        let frame = ServerMessage::PeerStats {
            from: participant_id.clone(),
            stats,
        };
        self.broadcast_call(&visit_id, Some(participant_id), frame)
            .await;
        recorded.map_err(|_| ErrorCode::NotRecorded)
    }

    /// `screen_share {allowed}`: the clinician lets the others in the call
    /// share their screen (or stops them); everyone else is refused.
    pub(crate) async fn screen_share(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        allowed: bool,
    ) -> Result<(), ErrorCode> {
        let (visit_id, sender) = self.caller(participant_id, link)?;
        if sender.role != Role::Clinician {
            return Err(ErrorCode::Forbidden);
        }
        let frame = ServerMessage::ScreenShare {
            from: participant_id.clone(),
            allowed,
        };
        self.broadcast_call(&visit_id, Some(participant_id), frame)
            .await;
        Ok(())
    }

    /// The call a sender is in and who it is, or why it may not speak there.
    fn caller(
        &self,
        participant_id: &ParticipantId,
        link: u64,
    ) -> Result<(VisitId, Arc<Identity>), ErrorCode> {
        let state = self.state();
        let visit_id = self.call_of(&state, participant_id, link)?;
        let sender = state
            .sessions
            .get(participant_id)
            .map(|session| Arc::clone(&session.identity))
            .ok_or(ErrorCode::NotAuthenticated)?;
        Ok((visit_id, sender))
    }

    /// The room's chat turn, made when the room's first message comes.
    fn chat_turn(&self, visit_id: &VisitId) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .shared
            .chat_turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(turns.entry(visit_id.clone()).or_default())
    }

    /// Forgets a room's turn once no message of it is under way.
    fn end_chat_turn(&self, visit_id: &VisitId) {
        let mut turns = self
            .shared
            .chat_turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if turns
            .get(visit_id)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            turns.remove(visit_id);
        }
    }

    /// `leave`: out of the room, the socket stays.
    pub(crate) async fn leave(
        &self,
        participant_id: &ParticipantId,
        link: u64,
    ) -> Result<(), ErrorCode> {
        self.session_identity(participant_id, link)?;
        self.leave_room(participant_id, LeaveReason::Left).await;
        Ok(())
    }

    /// `presence {status}` (staff).
    pub(crate) async fn choose_presence(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        status: PresenceStatus,
    ) -> Result<(), ErrorCode> {
        let identity = self.session_identity(participant_id, link)?;
        if !identity.role.is_staff() {
            return Err(ErrorCode::Forbidden);
        }
        let user = super::state::presence_user(&identity);
        self.set_presence(&user, status)
            .await
            .map_err(|_| ErrorCode::Unavailable)
    }

    /// `subscribe {queue_id}` (staff).
    pub(crate) async fn subscribe(
        &self,
        participant_id: &ParticipantId,
        link: u64,
        queue_id: QueueId,
    ) -> Result<(), ErrorCode> {
        let identity = self.session_identity(participant_id, link)?;
        if !identity.role.is_staff() {
            self.shared
                .authoriser
                .refused(&identity, Refused::Subscribe(&queue_id))
                .await;
            return Err(ErrorCode::Forbidden);
        }
        let snapshot = self
            .shared
            .authoriser
            .authorise_subscribe(&identity, &queue_id)
            .await
            .map_err(Denied::code)?;
        self.watch_queue(participant_id, queue_id, snapshot)?;
        // A resume on another node brings the subscription along.
        self.update_session(participant_id).await;
        Ok(())
    }

    /// Adds the queue to the session's subscriptions, and sends the
    /// authoriser's snapshot of it.
    pub(super) fn watch_queue(
        &self,
        participant_id: &ParticipantId,
        queue_id: QueueId,
        snapshot: Option<serde_json::Value>,
    ) -> Result<(), ErrorCode> {
        let mut state = self.state();
        let Some(session) = state.sessions.get_mut(participant_id) else {
            return Err(ErrorCode::NotAuthenticated);
        };
        if !session.queues.contains(&queue_id) {
            session.queues.push(queue_id.clone());
        }
        state
            .queues
            .entry(queue_id.clone())
            .or_default()
            .insert(participant_id.clone());
        if let Some(entries) = snapshot {
            let frame = ServerMessage::Queue { queue_id, entries };
            state.deliver(participant_id, &encode(&frame));
        }
        Ok(())
    }

    fn session_identity(
        &self,
        participant_id: &ParticipantId,
        link: u64,
    ) -> Result<Arc<Identity>, ErrorCode> {
        self.state()
            .sessions
            .get(participant_id)
            .filter(|session| session.is_linked_to(link))
            .map(|session| Arc::clone(&session.identity))
            .ok_or(ErrorCode::NotAuthenticated)
    }

    /// The call the sender is in, or why it may not relay.
    fn call_of(
        &self,
        state: &super::state::State,
        participant_id: &ParticipantId,
        link: u64,
    ) -> Result<VisitId, ErrorCode> {
        let session = state
            .sessions
            .get(participant_id)
            .filter(|session| session.is_linked_to(link))
            .ok_or(ErrorCode::NotAuthenticated)?;
        let visit_id = session.room.clone().ok_or(ErrorCode::NotJoined)?;
        if state.in_call(&visit_id, participant_id) {
            Ok(visit_id)
        } else {
            Err(ErrorCode::NotJoined)
        }
    }

    /// Whether a frame for the call that went `reach` reached everyone in
    /// it: when no other node heard it, only if the call has no one on
    /// another node.
    async fn reached_call(&self, visit_id: &VisitId, reach: Reach) -> bool {
        match reach {
            Reach::OtherNodes => true,
            Reach::Failed => false,
            Reach::NoOtherNode => match self.shared.bus.members(visit_id).await {
                Ok(members) => !members
                    .iter()
                    .any(|member| member.in_call && member.node != self.shared.node),
                Err(_) => false,
            },
        }
    }

    /// Records a member in the shared directory; `false` when the write
    /// failed (the directory is then rebuilt on the next beat).
    pub(super) async fn put_member(
        &self,
        visit_id: &VisitId,
        participant_id: &ParticipantId,
        identity: &Identity,
        in_call: bool,
    ) -> bool {
        let record = MemberRecord {
            participant_id: participant_id.clone(),
            user_id: identity.subject.clone(),
            role: identity.role,
            display_name: identity.display_name.clone(),
            node: self.shared.node.clone(),
            in_call,
        };
        if let Err(error) = self.shared.bus.put_member(visit_id, &record).await {
            tracing::warn!(%error, visit.id = %visit_id, "room directory not updated");
            self.shared
                .directory_stale
                .store(true, std::sync::atomic::Ordering::Release);
            return false;
        }
        true
    }

    /// Everyone in the call but `except`, on every node.
    async fn call_members(
        &self,
        visit_id: &VisitId,
        except: &ParticipantId,
    ) -> Vec<ParticipantInfo> {
        let mut members = self.state().call_members(visit_id, except);
        match self.shared.bus.members(visit_id).await {
            Ok(remote) => members.extend(
                remote
                    .iter()
                    .filter(|member| {
                        member.in_call
                            && member.node != self.shared.node
                            && &member.participant_id != except
                    })
                    .map(MemberRecord::info),
            ),
            Err(error) => tracing::warn!(%error, visit.id = %visit_id, "remote members unknown"),
        }
        members.sort_by(|a, b| a.participant_id.cmp(&b.participant_id));
        members.dedup_by(|a, b| a.participant_id == b.participant_id);
        members
    }

    pub(super) async fn send_joined(&self, participant_id: &ParticipantId, visit_id: &VisitId) {
        let participants = self.call_members(visit_id, participant_id).await;
        let frame = ServerMessage::Joined {
            visit_id: visit_id.clone(),
            participants,
        };
        self.state().deliver(participant_id, &encode(&frame));
    }

    /// To the call's members here and on other nodes, but `except`;
    /// answers how far it went beyond this node.
    pub(super) async fn broadcast_call(
        &self,
        visit_id: &VisitId,
        except: Option<&ParticipantId>,
        frame: ServerMessage,
    ) -> Reach {
        self.state().deliver_room(visit_id, except, &encode(&frame));
        self.publish(BusMessage::Room {
            visit_id: visit_id.clone(),
            except: except.cloned(),
            frame,
        })
        .await
    }

    /// A member is in the call: it hears who is there, they hear of it.
    async fn enter_call(&self, participant_id: &ParticipantId, visit_id: &VisitId) {
        let Some(session_info) = self
            .state()
            .sessions
            .get(participant_id)
            .map(|session| (session.info(participant_id), session.presence_user()))
        else {
            return;
        };
        let (info, user) = session_info;
        self.send_joined(participant_id, visit_id).await;
        self.broadcast_call(
            visit_id,
            Some(participant_id),
            ServerMessage::PeerJoined(info),
        )
        .await;
        match self.shared.presence.set_in_consult(&user, true).await {
            Ok(Some(change)) => self.announce_presence(change).await,
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "presence not updated"),
        }
    }

    /// Marks the call open everywhere and lets this node's waiting members in.
    pub(super) async fn open_call(&self, visit_id: &VisitId) {
        if let Err(error) = self.shared.bus.set_room_open(visit_id, true).await {
            tracing::warn!(%error, visit.id = %visit_id, "room directory not updated");
        }
        self.publish(BusMessage::OpenRoom {
            visit_id: visit_id.clone(),
        })
        .await;
        self.promote(visit_id).await;
    }

    /// The call is open: this node's waiting members enter it, one at a
    /// time, so each hears of those before it in `joined` and of those after
    /// it in `peer_joined`.
    pub(super) async fn promote(&self, visit_id: &VisitId) {
        self.state().open_rooms.insert(visit_id.clone());
        while let Some((participant_id, identity)) = self.next_waiting(visit_id) {
            self.put_member(visit_id, &participant_id, &identity, true)
                .await;
            self.update_session(&participant_id).await;
            self.emit(HubEvent::ParticipantAdmitted {
                visit_id: visit_id.clone(),
                participant_id: participant_id.clone(),
                user_id: identity.subject.clone(),
                role: identity.role,
            });
            self.enter_call(&participant_id, visit_id).await;
        }
    }

    /// Moves one waiting member of the room into the call.
    fn next_waiting(&self, visit_id: &VisitId) -> Option<(ParticipantId, Arc<Identity>)> {
        let mut state = self.state();
        let room = state.rooms.get_mut(visit_id)?;
        let (participant_id, in_call) = room.members.iter_mut().find(|(_, in_call)| !**in_call)?;
        *in_call = true;
        let participant_id = participant_id.clone();
        let identity = Arc::clone(&state.sessions.get(&participant_id)?.identity);
        Some((participant_id, identity))
    }

    /// The visit ended: tell this node's members and patient sockets, and
    /// take the members out of the room.
    pub(super) async fn close_local(&self, visit_id: &VisitId, status: VisitStatus) {
        let frame = encode(&ServerMessage::Visit {
            visit_id: visit_id.clone(),
            update: VisitUpdate::status(status),
        });
        let leaving: Vec<(ParticipantId, Arc<Identity>, bool)> = {
            let mut state = self.state();
            state.open_rooms.remove(visit_id);
            let members = state
                .rooms
                .remove(visit_id)
                .map(|room| room.members)
                .unwrap_or_default();
            let mut leaving = Vec::with_capacity(members.len());
            for (participant_id, in_call) in members {
                let Some(session) = state.sessions.get_mut(&participant_id) else {
                    continue;
                };
                session.room = None;
                let identity = Arc::clone(&session.identity);
                if identity.visit_id.as_ref() != Some(visit_id) {
                    state.deliver(&participant_id, &frame);
                }
                leaving.push((participant_id, identity, in_call));
            }
            state.deliver_visit(visit_id, &frame);
            leaving
        };
        for (participant_id, identity, in_call) in leaving {
            if let Err(error) = self
                .shared
                .bus
                .remove_member(visit_id, &participant_id, &self.shared.node)
                .await
            {
                tracing::warn!(%error, visit.id = %visit_id, "room directory not updated");
            }
            self.update_session(&participant_id).await;
            self.after_leaving(
                visit_id,
                &participant_id,
                &identity,
                in_call,
                LeaveReason::RoomClosed,
            )
            .await;
        }
    }

    /// Takes a participant out of its room, telling the call if it was in it.
    async fn leave_room(&self, participant_id: &ParticipantId, reason: LeaveReason) {
        let left = {
            let mut state = self.state();
            let identity = state
                .sessions
                .get(participant_id)
                .map(|session| Arc::clone(&session.identity));
            identity.zip(state.remove_member(participant_id))
        };
        let Some((identity, (visit_id, in_call))) = left else {
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
        self.update_session(participant_id).await;
        if in_call {
            let frame = ServerMessage::PeerLeft {
                participant_id: participant_id.clone(),
                reason,
            };
            self.broadcast_call(&visit_id, Some(participant_id), frame)
                .await;
        }
        self.after_leaving(&visit_id, participant_id, &identity, in_call, reason)
            .await;
    }

    async fn after_leaving(
        &self,
        visit_id: &VisitId,
        participant_id: &ParticipantId,
        identity: &Identity,
        in_call: bool,
        reason: LeaveReason,
    ) {
        if in_call {
            let user = super::state::presence_user(identity);
            match self.shared.presence.set_in_consult(&user, false).await {
                Ok(Some(change)) => self.announce_presence(change).await,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "presence not updated"),
            }
        }
        self.emit(HubEvent::ParticipantLeft {
            visit_id: visit_id.clone(),
            participant_id: participant_id.clone(),
            user_id: identity.subject.clone(),
            role: identity.role,
            reason,
        });
    }

    /// A socket of this user came up: mark it online now rather than at the
    /// next presence round.
    pub(super) async fn refresh_presence(&self, identity: &Identity) {
        let users = [super::state::presence_user(identity)];
        match self.shared.presence.heartbeat(&users).await {
            Ok(changes) => {
                for change in changes {
                    self.announce_presence(change).await;
                }
            }
            Err(error) => tracing::warn!(%error, "presence heartbeat failed"),
        }
    }
}

/// One claimed socket; the count drops with it.
#[derive(Debug)]
pub(crate) struct SocketSlot {
    hub: Hub,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.hub
            .shared
            .sockets
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Cleans up after a socket's task that ended without detaching (a panic,
/// or the task dropped): the session is treated as dropped.
#[derive(Debug)]
pub(crate) struct AttachGuard {
    pub hub: Hub,
    pub participant_id: ParticipantId,
    pub link: u64,
    pub armed: bool,
}

impl AttachGuard {
    /// Detaches now and disarms the guard.
    pub async fn detach(mut self, how: Departure) {
        self.armed = false;
        self.hub.detach(&self.participant_id, self.link, how).await;
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub = self.hub.clone();
        let participant_id = self.participant_id.clone();
        let link = self.link;
        runtime.spawn(async move {
            hub.detach(&participant_id, link, Departure::Dropped).await;
        });
    }
}
