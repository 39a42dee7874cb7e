//! One connection's actor: the task that owns the socket. It waits for
//! `hello`, then runs one `select!` over inbound frames, its bounded
//! outbound queue, the idle deadline and shutdown. It alone writes to the
//! socket.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

use crate::Denied;
use crate::hub::{Attached, Departure, Hub};
use crate::protocol::{ClientMessage, ErrorCode, ParticipantId, ServerMessage};

/// How long a closing socket may take to answer our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Serves one upgraded `/ws` socket until it closes.
pub async fn serve_socket(mut socket: WebSocket, hub: Hub) {
    let Some(_slot) = hub.claim_slot() else {
        close(&mut socket, close_code::AGAIN, "server full").await;
        return;
    };
    // Boxed, as is each frame's handling below: a task's future is as large
    // as its largest state, and every idle socket would carry these.
    let Some((attached, first)) = Box::pin(greet(&mut socket, &hub)).await else {
        return;
    };
    let guard = crate::hub::AttachGuard {
        hub: hub.clone(),
        participant_id: attached.participant_id.clone(),
        link: attached.link,
        armed: true,
    };
    let mut connection = Connection {
        limiter: RateLimiter::direct(
            Quota::per_second(hub.config().rate_per_second).allow_burst(hub.config().rate_burst),
        ),
        flood: RateLimiter::direct(
            Quota::per_second(hub.config().flood_per_second).allow_burst(hub.config().flood_burst),
        ),
        participant_id: attached.participant_id.clone(),
        link: attached.link,
        expires_at: attached.expires_at,
        last_stats: None,
        hub,
        socket,
    };
    let how = connection.run(attached, first).await;
    guard.detach(how).await;
}

/// How long after its `reconnect` delay a draining node closes the socket,
/// for a client that did not go by itself.
const RECONNECT_GRACE: Duration = Duration::from_secs(1);

/// Resolves with the drain window once the node starts draining.
async fn draining(drain: &mut watch::Receiver<Option<Duration>>) -> Duration {
    let window = drain.wait_for(Option::is_some).await.map(|window| *window);
    match window {
        Ok(window) => window.unwrap_or_default(),
        // The hub is gone: the shutdown branch ends the socket.
        Err(_) => std::future::pending().await,
    }
}

/// A random delay in the first half of the drain window, so the clients of
/// one node reconnect spread out rather than all at once.
fn reconnect_delay(window: Duration) -> Duration {
    let half = u64::try_from(window.as_millis() / 2).unwrap_or(u64::MAX);
    let random = getrandom::u64().unwrap_or(half / 2);
    Duration::from_millis(random.checked_rem(half.saturating_add(1)).unwrap_or(0))
}

/// Waits for `hello` and attaches; closes with 1008 (1009, 1011, or 1013
/// when the token cannot be checked now) otherwise.
async fn greet(socket: &mut WebSocket, hub: &Hub) -> Option<(Attached, Option<ErrorCode>)> {
    let first = match timeout(hub.config().hello_timeout, next_text(socket)).await {
        Err(_) => {
            close(socket, close_code::POLICY, "hello timeout").await;
            return None;
        }
        Ok(Inbound::Text(text)) => text,
        Ok(Inbound::TooBig) => {
            close_now(socket, close_code::SIZE, "frame too large").await;
            return None;
        }
        Ok(Inbound::Binary | Inbound::Closed | Inbound::Gone) => {
            close(socket, close_code::POLICY, "hello first").await;
            return None;
        }
        Ok(Inbound::Control) => return None,
    };
    let Ok(ClientMessage::Hello { token, resume }) = ClientMessage::parse(&first) else {
        close(socket, close_code::POLICY, "hello first").await;
        return None;
    };
    let identity = match hub.authenticate(token.expose()).await {
        Ok(identity) => identity,
        // The server cannot check the token now: say "retry" (1013), never
        // 1008, which a client takes as a refused token.
        Err(Denied::Unavailable) => {
            let _ = socket
                .send(text(&ServerMessage::error(ErrorCode::Unavailable)))
                .await;
            close(socket, close_code::AGAIN, "try again later").await;
            return None;
        }
        Err(_) => {
            close(socket, close_code::POLICY, "not authenticated").await;
            return None;
        }
    };
    let role = identity.role;
    let Some(attached) = hub
        .attach(identity, resume.as_ref().map(|token| token.expose()))
        .await
    else {
        close(socket, close_code::ERROR, "try again").await;
        return None;
    };
    let welcome = ServerMessage::Welcome {
        participant_id: attached.participant_id.clone(),
        role,
        resume_token: crate::protocol::Secret::new(attached.resume_token.clone()),
    };
    if socket.send(text(&welcome)).await.is_err() {
        // The guard is not set up yet: leave now rather than wait.
        hub.detach(&attached.participant_id, attached.link, Departure::Dropped)
            .await;
        return None;
    }
    let notice = attached.resume_failed.then_some(ErrorCode::ResumeFailed);
    Some((attached, notice))
}

enum Inbound {
    Text(Utf8Bytes),
    Binary,
    /// WebSocket ping or pong: liveness only.
    Control,
    /// The client sent a close frame.
    Closed,
    /// Over the 64 KiB limit.
    TooBig,
    /// The connection failed or ended without a close frame.
    Gone,
}

/// Reads until the next data frame (hello phase).
async fn next_text(socket: &mut WebSocket) -> Inbound {
    loop {
        match read(socket).await {
            Inbound::Control => {}
            other => return other,
        }
    }
}

async fn read(socket: &mut WebSocket) -> Inbound {
    match socket.recv().await {
        Some(Ok(Message::Text(text))) => Inbound::Text(text),
        Some(Ok(Message::Binary(_))) => Inbound::Binary,
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Control,
        Some(Ok(Message::Close(_))) => Inbound::Closed,
        Some(Err(error)) if too_big(&error) => Inbound::TooBig,
        Some(Err(_)) | None => Inbound::Gone,
    }
}

fn too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

fn text(frame: &ServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(frame.to_json()))
}

/// Sends a close frame and waits briefly for the client's answer, reading
/// (and dropping) what it still sends, so the close is not lost to a reset.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    close_now(socket, code, reason).await;
    let _ = timeout(CLOSE_GRACE, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

/// Sends a close frame when the socket can no longer be read.
async fn close_now(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Completes at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Connection {
    hub: Hub,
    socket: WebSocket,
    participant_id: ParticipantId,
    link: u64,
    limiter: DefaultDirectRateLimiter,
    /// Refused frames: a socket that keeps flooding is closed.
    flood: DefaultDirectRateLimiter,
    /// When the credential of the socket's token ends.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When this socket's last kept `stats` frame came.
    last_stats: Option<Instant>,
}

impl Connection {
    async fn run(&mut self, attached: Attached, notice: Option<ErrorCode>) -> Departure {
        let Attached { mut outbox, .. } = attached;
        if let Some(code) = notice
            && self.reply(code).await.is_err()
        {
            return Departure::Dropped;
        }
        let mut shutdown = self.hub.shutdown_signal();
        let mut drain = self.hub.drain_signal();
        // Once told to reconnect: when this node closes the socket.
        let mut leave_at: Option<Instant> = None;
        let idle = self.hub.config().idle_timeout;
        let mut deadline = Instant::now() + idle;
        let expiry = self.expiry_deadline();
        loop {
            tokio::select! {
                inbound = read(&mut self.socket) => {
                    deadline = Instant::now() + idle;
                    if self.expired() {
                        return self.close_expired().await;
                    }
                    match inbound {
                        Inbound::Text(text) => {
                            if let Some(how) = self.admit().await {
                                return how;
                            }
                            if Box::pin(self.handle(&text)).await.is_err() {
                                return Departure::Dropped;
                            }
                        }
                        Inbound::Binary => {
                            if let Some(how) = self.admit().await {
                                return how;
                            }
                            if self.reply(ErrorCode::Malformed).await.is_err() {
                                return Departure::Dropped;
                            }
                        }
                        Inbound::Control => {
                            if let Some(how) = self.admit().await {
                                return how;
                            }
                        }
                        Inbound::Closed => {
                            close(&mut self.socket, close_code::NORMAL, "bye").await;
                            return Departure::Closed;
                        }
                        Inbound::TooBig => {
                            close_now(&mut self.socket, close_code::SIZE, "frame too large").await;
                            return Departure::Removed;
                        }
                        Inbound::Gone => return Departure::Dropped,
                    }
                }
                frame = outbox.recv() => {
                    let Some(frame) = frame else {
                        if self.hub.access_revoked(&self.participant_id) {
                            close(&mut self.socket, close_code::POLICY, "access revoked").await;
                            return Departure::Removed;
                        }
                        // The hub cut this socket off: it fell behind, or
                        // the session resumed on another socket.
                        close(&mut self.socket, close_code::AGAIN, "reconnect").await;
                        return Departure::Dropped;
                    };
                    if self.expired() {
                        return self.close_expired().await;
                    }
                    if self.socket.send(Message::Text(frame)).await.is_err() {
                        return Departure::Dropped;
                    }
                }
                () = sleep_until(deadline) => {
                    close(&mut self.socket, close_code::AWAY, "idle").await;
                    return Departure::Dropped;
                }
                () = until(expiry) => return self.close_expired().await,
                () = crate::hub::stopped(&mut shutdown) => {
                    close(&mut self.socket, close_code::AWAY, "shutting down").await;
                    return Departure::Removed;
                }
                window = draining(&mut drain), if leave_at.is_none() => {
                    let after = reconnect_delay(window);
                    let frame = ServerMessage::Reconnect {
                        after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    };
                    if self.send(&frame).await.is_err() {
                        return Departure::Dropped;
                    }
                    leave_at = Some(Instant::now() + after + RECONNECT_GRACE);
                }
                () = sleep_until(leave_at.unwrap_or(deadline)), if leave_at.is_some() => {
                    // A drop, not a leave: the session resumes elsewhere.
                    close(&mut self.socket, close_code::RESTART, "reconnect elsewhere").await;
                    return Departure::Dropped;
                }
            }
        }
    }

    /// Whether the socket's credential has ended by the authoriser's clock
    /// (checked on every frame: that clock may run ahead of this timer's).
    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| self.hub.now() >= at)
    }

    /// When the credential ends, as a timer deadline.
    fn expiry_deadline(&self) -> Option<Instant> {
        let left = self.expires_at? - self.hub.now();
        Some(Instant::now() + left.to_std().unwrap_or(Duration::ZERO))
    }

    async fn close_expired(&mut self) -> Departure {
        close(&mut self.socket, close_code::POLICY, "session expired").await;
        Departure::Removed
    }

    /// Applies the frame rate; `Some` when flooding must close the socket.
    async fn admit(&mut self) -> Option<Departure> {
        if self.limiter.check().is_ok() {
            return None;
        }
        if self.flood.check().is_err() {
            close(&mut self.socket, close_code::POLICY, "flooding").await;
            return Some(Departure::Removed);
        }
        self.reply(ErrorCode::RateLimited)
            .await
            .err()
            .map(|()| Departure::Dropped)
    }

    /// Parses and acts on one text frame; `Err` when the socket failed.
    async fn handle(&mut self, text: &str) -> Result<(), ()> {
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(code) => return self.reply(code).await,
        };
        let hub = &self.hub;
        let (me, link) = (&self.participant_id, self.link);
        let outcome = match message {
            ClientMessage::Hello { .. } => Err(ErrorCode::AlreadyAuthenticated),
            ClientMessage::Ping => return self.send(&ServerMessage::Pong).await,
            ClientMessage::Join { visit_id } => hub.join(me, link, visit_id).await,
            ClientMessage::Offer { to, sdp } => {
                let frame = ServerMessage::Offer {
                    from: me.clone(),
                    sdp,
                };
                hub.relay(me, link, to, frame).await
            }
            ClientMessage::Answer { to, sdp } => {
                let frame = ServerMessage::Answer {
                    from: me.clone(),
                    sdp,
                };
                hub.relay(me, link, to, frame).await
            }
            ClientMessage::Candidate { to, candidate } => {
                let frame = ServerMessage::Candidate {
                    from: me.clone(),
                    candidate,
                };
                hub.relay(me, link, to, frame).await
            }
            ClientMessage::Chat { text } => hub.chat(me, link, text).await,
            ClientMessage::Leave => hub.leave(me, link).await,
            ClientMessage::Presence { status } => hub.choose_presence(me, link, status).await,
            ClientMessage::Subscribe { queue_id } => hub.subscribe(me, link, queue_id).await,
            ClientMessage::Stats(stats) => {
                let now = Instant::now();
                let interval = hub.config().stats_interval;
                if self
                    .last_stats
                    .is_some_and(|last| now.duration_since(last) < interval)
                {
                    Err(ErrorCode::RateLimited)
                } else {
                    self.last_stats = Some(now);
                    hub.stats(me, link, stats).await
                }
            }
            ClientMessage::ScreenShare { allowed } => hub.screen_share(me, link, allowed).await,
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(code) => self.reply(code).await,
        }
    }

    async fn reply(&mut self, code: ErrorCode) -> Result<(), ()> {
        self.send(&ServerMessage::error(code)).await
    }

    async fn send(&mut self, frame: &ServerMessage) -> Result<(), ()> {
        self.socket.send(text(frame)).await.map_err(|_| ())
    }
}
