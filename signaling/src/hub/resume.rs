//! Resume across nodes: a `hello {resume}` claims the session on the bus
//! (atomically, so one socket alone holds a participant id), then rebinds
//! it here, whether this node or another held it; and the bus's record of
//! each session, kept as its room changes, for the next node to claim it.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Hub;
use super::state::{Link, Session};
use crate::authoriser::Identity;
use crate::bus::{BusMessage, Claimant, SessionRecord};
use crate::events::HubEvent;
use crate::protocol::{ParticipantId, VisitId};

impl Hub {
    /// Claims the session of `token` on the bus, so that one socket alone
    /// holds it, then rebinds it here: the local session, or one another
    /// node held (that node drops its copy).
    pub(super) async fn take_back(
        &self,
        identity: &Identity,
        token: &str,
        sender: &mpsc::Sender<axum::extract::ws::Utf8Bytes>,
        new_token: &str,
    ) -> Option<(ParticipantId, u64)> {
        let claimant = Claimant {
            user_id: identity.subject.clone(),
            role: identity.role,
            node: self.shared.node.clone(),
        };
        let claimed = match self
            .shared
            .bus
            .claim_session(token, new_token, &claimant)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                // No other node can claim it while the bus is away either:
                // the node holding it may hand it back, and the next
                // rebuild records the new token.
                tracing::warn!(%error, "resume not claimed on the bus");
                self.shared
                    .directory_stale
                    .store(true, std::sync::atomic::Ordering::Release);
                return self.resume_here(identity, token, sender, new_token).await;
            }
        };
        let Some(record) = claimed else {
            // Unknown, expired or taken over elsewhere: a copy of this
            // subject's kept here must not come back.
            let stale = {
                let state = self.state();
                state.by_resume.get(token).cloned().filter(|id| {
                    state.sessions.get(id).is_some_and(|session| {
                        session.identity.subject == identity.subject
                            && session.identity.role == identity.role
                    })
                })
            };
            if let Some(participant_id) = stale {
                self.drop_copy(&participant_id).await;
            }
            return None;
        };
        if record.node == self.shared.node {
            if let Some(resumed) = self.resume_here(identity, token, sender, new_token).await {
                return Some(resumed);
            }
        } else {
            // Another node held it last: what is kept here is out of date.
            let stale = self.state().by_resume.get(token).cloned();
            if let Some(stale) = stale {
                self.drop_copy(&stale).await;
            }
        }
        self.take_over(identity, record, sender, new_token).await
    }

    /// Rebinds a session this node holds; `None` when it holds none.
    async fn resume_here(
        &self,
        identity: &Identity,
        token: &str,
        sender: &mpsc::Sender<axum::extract::ws::Utf8Bytes>,
        new_token: &str,
    ) -> Option<(ParticipantId, u64)> {
        let (participant_id, link, room) = self.resume(identity, token, sender, new_token)?;
        self.refresh_presence(identity).await;
        if let Some(visit_id) = room {
            self.emit(HubEvent::ParticipantResumed {
                visit_id: visit_id.clone(),
                participant_id: participant_id.clone(),
                user_id: identity.subject.clone(),
            });
            // The client rebuilds its call from a fresh `joined`.
            if self.state().in_call(&visit_id, &participant_id) {
                self.send_joined(&participant_id, &visit_id).await;
            }
        }
        Some((participant_id, link))
    }

    /// Takes over a session another node held (alive or dead): the same
    /// participant id, back in its room if it may still be there.
    async fn take_over(
        &self,
        identity: &Identity,
        record: SessionRecord,
        sender: &mpsc::Sender<axum::extract::ws::Utf8Bytes>,
        new_token: &str,
    ) -> Option<(ParticipantId, u64)> {
        let participant_id = record.participant_id.clone();
        self.publish(BusMessage::Takeover {
            participant_id: participant_id.clone(),
            node: self.shared.node.clone(),
        })
        .await;
        let room = match record.room.clone() {
            Some(visit_id) => self
                .shared
                .authoriser
                .authorise_join(identity, &visit_id)
                .await
                .ok()
                .map(|_| visit_id),
            None => None,
        };
        let in_call = room.is_some() && record.in_call;
        let identity = Arc::new(identity.clone());
        let (link, event) = {
            let mut state = self.state();
            let link = state.next_link();
            let event = state.socket_up(&identity);
            state.insert_session(
                participant_id.clone(),
                Session {
                    identity: Arc::clone(&identity),
                    resume_token: new_token.to_owned(),
                    link: Some(Link {
                        id: link,
                        outbox: Some(sender.clone()),
                    }),
                    dropped_link: None,
                    room: room.clone(),
                    queues: Vec::new(),
                    revoked: false,
                },
            );
            if let Some(visit_id) = &room {
                state
                    .rooms
                    .entry(visit_id.clone())
                    .or_default()
                    .members
                    .insert(participant_id.clone(), in_call);
                if in_call {
                    state.open_rooms.insert(visit_id.clone());
                }
            }
            (link, event)
        };
        if let Some(event) = event {
            self.emit(event);
        }
        // Its queue subscriptions come along, if still allowed.
        for queue_id in record.queues {
            if let Ok(snapshot) = self
                .shared
                .authoriser
                .authorise_subscribe(&identity, &queue_id)
                .await
            {
                let _ = self.watch_queue(&participant_id, queue_id, snapshot);
            }
        }
        self.update_session(&participant_id).await;
        self.refresh_presence(&identity).await;
        if let Some(visit_id) = room {
            self.put_member(&visit_id, &participant_id, &identity, in_call)
                .await;
            self.emit(HubEvent::ParticipantResumed {
                visit_id: visit_id.clone(),
                participant_id: participant_id.clone(),
                user_id: identity.subject.clone(),
            });
            if in_call {
                self.announce_return(&participant_id, &visit_id).await;
            }
        }
        Some((participant_id, link))
    }

    /// Records the session on the bus for any node to resume: for a day
    /// while a socket holds it, for the resume window once it dropped.
    /// `false` when the write failed.
    pub(super) async fn save_session(&self, participant_id: &ParticipantId) -> bool {
        let saved = {
            let state = self.state();
            state
                .session_record(participant_id, &self.shared.node)
                .zip(state.sessions.get(participant_id))
                .map(|(record, session)| {
                    let ttl = if session.link.is_some() {
                        super::cluster::ATTACHED_SESSION_TTL
                    } else {
                        self.shared.config.resume_window + super::cluster::SESSION_GRACE
                    };
                    (record, session.resume_token.clone(), ttl)
                })
        };
        let Some((record, token, ttl)) = saved else {
            return true;
        };
        if let Err(error) = self.shared.bus.save_session(&token, &record, ttl).await {
            tracing::warn!(%error, "session not recorded on the bus");
            self.shared
                .directory_stale
                .store(true, std::sync::atomic::Ordering::Release);
            return false;
        }
        true
    }

    /// The session's room changed: the bus's record follows.
    pub(super) async fn update_session(&self, participant_id: &ParticipantId) {
        let record = self
            .state()
            .session_record(participant_id, &self.shared.node);
        let Some(record) = record else { return };
        if let Err(error) = self.shared.bus.update_session(&record).await {
            tracing::warn!(%error, "session not updated on the bus");
            self.shared
                .directory_stale
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Rebinds a kept session to a new socket, rotating its resume token.
    /// A socket still attached to it is cut off (its queue closes).
    fn resume(
        &self,
        identity: &Identity,
        token: &str,
        sender: &mpsc::Sender<axum::extract::ws::Utf8Bytes>,
        new_token: &str,
    ) -> Option<(ParticipantId, u64, Option<VisitId>)> {
        let mut state = self.state();
        let participant_id = state.by_resume.get(token)?.clone();
        let link = state.next_link();
        let session = state.sessions.get_mut(&participant_id)?;
        if session.identity.subject != identity.subject || session.identity.role != identity.role {
            return None;
        }
        // The resumed session lives under the credential that resumed it.
        if session.identity.credential != identity.credential
            || session.identity.expires_at != identity.expires_at
        {
            session.identity = Arc::new(identity.clone());
        }
        let was_linked = session.link.is_some();
        session.link = Some(Link {
            id: link,
            outbox: Some(sender.clone()),
        });
        session.dropped_link = None;
        let old_token = std::mem::replace(&mut session.resume_token, new_token.to_owned());
        let room = session.room.clone();
        let kept = Arc::clone(&session.identity);
        state.by_resume.remove(&old_token);
        state
            .by_resume
            .insert(new_token.to_owned(), participant_id.clone());
        let event = if was_linked {
            None
        } else {
            state.socket_up(&kept)
        };
        drop(state);
        if let Some(event) = event {
            self.emit(event);
        }
        Some((participant_id, link, room))
    }
}
