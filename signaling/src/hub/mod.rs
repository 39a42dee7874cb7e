//! The hub: this node's sessions, rooms and subscriptions, the background
//! tasks that keep presence and the bus flowing, and the API the server
//! calls when visits change (notify, open, close, publish a queue).
//!
//! [`Hub`] is a cheap handle over `Arc<Shared>`. Its state sits under one
//! std mutex held for a few lines and never across `.await`; the async work
//! (directory, bus, presence) happens after the lock is released.

mod cluster;
mod resume;
mod session;
mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxumState;
use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;
use tokio::sync::watch;

pub(crate) use self::session::{AttachGuard, Attached, Departure};
use self::state::State;
use crate::authoriser::Authoriser;
use crate::bus::{Bus, BusMessage, Envelope, MemoryBus};
use crate::chat::{ChatRecorder, NoRecord};
use crate::config::{HubConfig, configure_upgrade};
use crate::events::{EventSink, HubEvent, NoEvents};
use crate::presence::{MemoryPresence, Presence, PresenceEntry, PresenceError, PresenceUser};
use crate::protocol::{
    PresenceStatus, QueueId, Role, ServerMessage, UserId, VisitId, VisitStatus, VisitUpdate,
};
use crate::quality::{NoStats, StatsRecorder};

/// Presence timeout of the default in-memory store: three missed refreshes.
const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(30);

/// The signaling hub of this node; clone it freely.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.shared.node)
            .field("sockets", &self.shared.sockets.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: HubConfig,
    /// This node's name on the bus and in the directory.
    node: String,
    authoriser: Arc<dyn Authoriser>,
    presence: Arc<dyn Presence>,
    bus: Arc<dyn Bus>,
    events: Arc<dyn EventSink>,
    chat: Arc<dyn ChatRecorder>,
    stats: Arc<dyn StatsRecorder>,
    /// One turn per room with chat under way: a message is recorded and
    /// relayed before the next one of that room is.
    chat_turns: std::sync::Mutex<HashMap<VisitId, Arc<tokio::sync::Mutex<()>>>>,
    state: std::sync::Mutex<State>,
    sockets: AtomicUsize,
    /// A write to the bus failed, or the bus forgot this node: rebuild this
    /// node's share (directory, sessions, presence) on the next beat.
    directory_stale: AtomicBool,
    shutdown: watch::Sender<bool>,
    /// Set when the node drains: the window its sockets reconnect within.
    drain: watch::Sender<Option<Duration>>,
}

/// Puts a hub together; everything but the authoriser has a one-node default.
pub struct HubBuilder {
    config: HubConfig,
    authoriser: Arc<dyn Authoriser>,
    presence: Option<Arc<dyn Presence>>,
    bus: Option<Arc<dyn Bus>>,
    events: Arc<dyn EventSink>,
    chat: Arc<dyn ChatRecorder>,
    stats: Arc<dyn StatsRecorder>,
}

impl std::fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HubBuilder {
    /// Timeouts and limits (default: the contract's).
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// The presence store (default: in memory).
    pub fn presence(mut self, presence: Arc<dyn Presence>) -> Self {
        self.presence = Some(presence);
        self
    }

    /// The bus (default: in memory, this node alone).
    pub fn bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Where the hub reports what happens (default: nowhere).
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// Where each chat message is kept before it is relayed (default: nowhere).
    pub fn chat(mut self, chat: Arc<dyn ChatRecorder>) -> Self {
        self.chat = chat;
        self
    }

    /// Where each call-quality summary is kept before it is relayed
    /// (default: nowhere).
    pub fn stats(mut self, stats: Arc<dyn StatsRecorder>) -> Self {
        self.stats = stats;
        self
    }

    /// Subscribes to the bus, then starts the background tasks. Must run
    /// inside a tokio runtime. Returns once the bus subscription is in place
    /// (or its first try failed; it keeps retrying).
    pub async fn start(self) -> Hub {
        let node = session::random_id(8).unwrap_or_else(|| String::from("node"));
        let shared = Arc::new(Shared {
            presence: self
                .presence
                .unwrap_or_else(|| Arc::new(MemoryPresence::new(DEFAULT_OFFLINE_AFTER))),
            bus: self.bus.unwrap_or_else(|| Arc::new(MemoryBus::new())),
            config: self.config,
            node,
            authoriser: self.authoriser,
            events: self.events,
            chat: self.chat,
            stats: self.stats,
            chat_turns: std::sync::Mutex::new(HashMap::new()),
            state: std::sync::Mutex::new(State::default()),
            sockets: AtomicUsize::new(0),
            directory_stale: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            drain: watch::channel(None).0,
        });
        let envelopes = shared.bus.subscribe(&shared.node).await;
        let connections = shared.bus.connections();
        let hub = Hub { shared };
        tokio::spawn(consume_bus(Arc::downgrade(&hub.shared), envelopes));
        tokio::spawn(keep_presence(Arc::downgrade(&hub.shared)));
        tokio::spawn(cluster::keep_lease(Arc::downgrade(&hub.shared)));
        tokio::spawn(cluster::rebuild_on_reconnect(
            Arc::downgrade(&hub.shared),
            connections,
        ));
        hub
    }
}

impl Hub {
    /// Starts building a hub around the server's authoriser.
    pub fn builder(authoriser: Arc<dyn Authoriser>) -> HubBuilder {
        HubBuilder {
            config: HubConfig::default(),
            authoriser,
            presence: None,
            bus: None,
            events: Arc::new(NoEvents),
            chat: Arc::new(NoRecord),
            stats: Arc::new(NoStats),
        }
    }

    /// The configured limits.
    pub fn config(&self) -> &HubConfig {
        &self.shared.config
    }

    /// This node's id on the bus.
    pub fn node_id(&self) -> &str {
        &self.shared.node
    }

    /// Upgrades a `GET /ws` request with the recommended buffer sizes and
    /// serves the socket.
    pub fn upgrade(&self, upgrade: WebSocketUpgrade) -> Response {
        let hub = self.clone();
        configure_upgrade(upgrade).on_upgrade(move |socket| crate::serve_socket(socket, hub))
    }

    /// A router with `GET /ws`, ready to merge into the server's.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new()
            .route("/ws", get(open_socket))
            .with_state(self.clone())
    }

    /// Sends a `visit` frame to the visit's patient sockets, on every node
    /// (their place in the queue, their estimate).
    pub async fn notify_visit(&self, visit_id: &VisitId, update: VisitUpdate) {
        let frame = ServerMessage::Visit {
            visit_id: visit_id.clone(),
            update,
        };
        self.state().deliver_visit(visit_id, &encode(&frame));
        self.publish(BusMessage::Patients {
            visit_id: visit_id.clone(),
            frame,
        })
        .await;
    }

    /// The clinician admitted the visit: patients hear `visit {in_consult}`,
    /// and waiting members on every node enter the call (`joined` for them,
    /// `peer_joined` for the others).
    pub async fn open_room(&self, visit_id: &VisitId) {
        self.notify_visit(visit_id, VisitUpdate::status(VisitStatus::InConsult))
            .await;
        self.open_call(visit_id).await;
    }

    /// The visit ended (`closed`, `cancelled`, `no_show`): every member and
    /// patient socket hears `visit {status}` and leaves the room.
    pub async fn close_room(&self, visit_id: &VisitId, status: VisitStatus) {
        if let Err(error) = self.shared.bus.set_room_open(visit_id, false).await {
            tracing::warn!(%error, visit.id = %visit_id, "room directory not updated");
        }
        self.close_local(visit_id, status).await;
        self.publish(BusMessage::CloseRoom {
            visit_id: visit_id.clone(),
            status,
        })
        .await;
    }

    /// Ends every session of a visit-scoped `subject` (a guest whose
    /// invitation was revoked), on every node: the call hears `peer_left`
    /// (`removed`), the sockets close, and no resume brings them back.
    pub async fn remove_subject(&self, visit_id: &VisitId, subject: &UserId) {
        self.remove_subject_local(visit_id, subject).await;
        self.publish(BusMessage::RemoveSubject {
            visit_id: visit_id.clone(),
            subject: subject.clone(),
        })
        .await;
    }

    /// Ends every session opened with `credential` (a staff session signed
    /// out, a patient link revoked), on every node: the call hears
    /// `peer_left` (`removed`), the sockets close with 1008, and no resume
    /// brings them back.
    pub async fn end_credential(&self, credential: &str) {
        self.end_credential_local(credential).await;
        self.publish(BusMessage::EndCredential {
            credential: credential.to_owned(),
        })
        .await;
    }

    /// The authoriser's time, which credentials' expiries are read against.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.authoriser.now()
    }

    /// Sends a `queue` frame to the sockets subscribed to the queue, on
    /// every node. Answers whether it may have reached another node (or the
    /// bus failed to say), so the caller knows whether this node alone
    /// publishes the queue.
    pub async fn publish_queue(&self, queue_id: &QueueId, entries: serde_json::Value) -> bool {
        let frame = ServerMessage::Queue {
            queue_id: queue_id.clone(),
            entries,
        };
        self.state().deliver_queue(queue_id, &encode(&frame));
        let reach = self
            .publish(BusMessage::Queue {
                queue_id: queue_id.clone(),
                frame,
            })
            .await;
        reach != Reach::NoOtherNode
    }

    /// Sets a user's chosen status (from the server, or a staff socket).
    /// Every node holding their sockets remembers it, to restore it should
    /// the presence store lose it.
    pub async fn set_presence(
        &self,
        user: &PresenceUser,
        status: PresenceStatus,
    ) -> Result<(), PresenceError> {
        self.state().chose(&user.user_id, status);
        self.publish(BusMessage::PresenceChosen {
            user_id: user.user_id.clone(),
            status,
        })
        .await;
        let change = self.shared.presence.set_status(user, status).await?;
        if let Some(change) = change {
            self.announce_presence(change).await;
        }
        Ok(())
    }

    /// Everyone's presence, optionally of one role (`GET /api/v1/presence`).
    pub async fn presence_list(
        &self,
        role: Option<Role>,
    ) -> Result<Vec<PresenceEntry>, PresenceError> {
        self.shared.presence.list(role).await
    }

    /// Whether the bus and the presence store answer (`/readyz`).
    pub async fn healthy(&self) -> bool {
        let (bus, presence) =
            tokio::join!(self.shared.bus.healthy(), self.shared.presence.healthy());
        bus && presence
    }

    /// Sockets open on this node.
    pub fn socket_count(&self) -> usize {
        self.shared.sockets.load(Ordering::Relaxed)
    }

    /// Closes every socket with 1001 and stops the background tasks.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Sends every socket on this node elsewhere: each hears `reconnect
    /// {after_ms}` with its own delay within half of `window` (so clients
    /// do not all arrive at once), and is closed (1012, its session kept
    /// for resume) a moment after it. [`Hub::socket_count`] tells when
    /// they have gone.
    pub fn drain(&self, window: Duration) {
        self.shared.drain.send_replace(Some(window));
    }

    pub(crate) fn drain_signal(&self) -> watch::Receiver<Option<Duration>> {
        self.shared.drain.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Each critical section leaves the state whole; a panic in one must
        // not take every socket down with it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: HubEvent) {
        self.shared.events.emit(event);
    }

    /// Sends to the other nodes; a failing bus leaves this node serving
    /// its own sockets. Answers how far the message went.
    async fn publish(&self, message: BusMessage) -> Reach {
        let envelope = Envelope {
            origin: self.shared.node.clone(),
            message,
        };
        match self.shared.bus.publish(&envelope).await {
            Ok(true) => Reach::OtherNodes,
            Ok(false) => Reach::NoOtherNode,
            Err(error) => {
                tracing::warn!(%error, "bus publish failed");
                Reach::Failed
            }
        }
    }

    /// Tells staff sockets everywhere, and the server, of a status change.
    async fn announce_presence(&self, change: PresenceEntry) {
        // Staff watch each other's presence; a patient's online state is
        // the server's to read, not a frame for every staff socket.
        if !change.role.is_staff() {
            self.emit(HubEvent::PresenceChanged {
                user_id: change.user_id,
                status: change.status,
            });
            return;
        }
        let frame = ServerMessage::Presence {
            user_id: change.user_id.clone(),
            status: change.status,
        };
        self.state().deliver_staff(&encode(&frame));
        self.emit(HubEvent::PresenceChanged {
            user_id: change.user_id,
            status: change.status,
        });
        self.publish(BusMessage::Staff { frame }).await;
    }

    /// Handles another node's envelope for the sockets held here.
    async fn receive(&self, envelope: Envelope) {
        if envelope.origin == self.shared.node {
            return;
        }
        match envelope.message {
            BusMessage::Direct {
                visit_id,
                to,
                frame,
            } => {
                let mut state = self.state();
                if state.in_call(&visit_id, &to) {
                    state.deliver(&to, &encode(&frame));
                }
            }
            BusMessage::Room {
                visit_id,
                except,
                frame,
            } => self
                .state()
                .deliver_room(&visit_id, except.as_ref(), &encode(&frame)),
            BusMessage::Patients { visit_id, frame } => {
                self.state().deliver_visit(&visit_id, &encode(&frame));
            }
            BusMessage::OpenRoom { visit_id } => self.promote(&visit_id).await,
            BusMessage::CloseRoom { visit_id, status } => self.close_local(&visit_id, status).await,
            BusMessage::Queue { queue_id, frame } => {
                self.state().deliver_queue(&queue_id, &encode(&frame));
            }
            BusMessage::Staff { frame } => self.state().deliver_staff(&encode(&frame)),
            BusMessage::RemoveSubject { visit_id, subject } => {
                self.remove_subject_local(&visit_id, &subject).await;
            }
            BusMessage::PresenceChosen { user_id, status } => {
                self.state().chose(&user_id, status);
            }
            BusMessage::Takeover {
                participant_id,
                node,
            } => {
                if node != self.shared.node {
                    self.drop_copy(&participant_id).await;
                }
            }
            BusMessage::EndCredential { credential } => {
                self.end_credential_local(&credential).await;
            }
        }
    }

    /// One presence round: refresh this node's users (refilling what the
    /// store may have lost), and expire whoever lapsed anywhere.
    async fn presence_round(&self) {
        let users = self.state().live_users();
        let mut changes = match self.shared.presence.restore(&users).await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "presence heartbeat failed");
                Vec::new()
            }
        };
        match self.shared.presence.expire().await {
            Ok(expired) => changes.extend(expired),
            Err(error) => tracing::warn!(%error, "presence expiry failed"),
        }
        for change in changes {
            self.announce_presence(change).await;
        }
    }
}

/// How far a message published on the bus went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Another node's subscription took it.
    OtherNodes,
    /// The bus took it, but no other node was listening.
    NoOtherNode,
    /// The bus did not answer.
    Failed,
}

/// `GET /ws` (CONTRACT.md "WebSocket GET /ws").
async fn open_socket(upgrade: WebSocketUpgrade, AxumState(hub): AxumState<Hub>) -> Response {
    hub.upgrade(upgrade)
}

pub(crate) fn encode(frame: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(frame.to_json())
}

/// Forwards the bus to the hub until the hub is gone or shut down.
async fn consume_bus(
    shared: Weak<Shared>,
    mut envelopes: futures_util::stream::BoxStream<'static, Envelope>,
) {
    let Some(mut shutdown) = shared.upgrade().map(|shared| shared.shutdown.subscribe()) else {
        return;
    };
    loop {
        let envelope = tokio::select! {
            envelope = envelopes.next() => envelope,
            () = stopped(&mut shutdown) => return,
        };
        let (Some(envelope), Some(shared)) = (envelope, shared.upgrade()) else {
            return;
        };
        Hub { shared }.receive(envelope).await;
    }
}

/// Runs a presence round every `presence_interval`.
async fn keep_presence(shared: Weak<Shared>) {
    let Some((mut shutdown, period)) = shared
        .upgrade()
        .map(|shared| (shared.shutdown.subscribe(), shared.config.presence_interval))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        Hub { shared }.presence_round().await;
    }
}

/// Completes when the hub shuts down (or is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
