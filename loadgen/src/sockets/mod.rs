//! The sockets of a run. [`open`] connects one socket from a chosen
//! loopback source address, says `hello` and joins a call room; [`spawn`]
//! hands it to a task that sends the frames the schedule asks for, stamped
//! with the time of writing, and times the frames its peer relays back
//! through the server. The counters and the latency histogram are shared in
//! [`Stats`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::args::Frame;

/// How long one socket may take to connect, be welcomed and join.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// The contract asks for a ping at least every 15 s.
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// Frames a socket may have waiting to be sent before the schedule skips it.
const QUEUE: usize = 64;

pub type Ws = WebSocketStream<TcpStream>;

/// A socket that said hello and joined its room.
#[derive(Debug)]
pub struct Joined {
    pub ws: Ws,
    /// The other participant already in the room, if any.
    pub peer: Option<String>,
}

/// Connects from `source`, says `hello` with `token` and joins `visit_id`.
pub async fn open(
    server: SocketAddr,
    source: IpAddr,
    token: &str,
    visit_id: &str,
) -> anyhow::Result<Joined> {
    tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(server, source, token, visit_id),
    )
    .await
    .with_context(|| {
        format!("the socket from {source} did not join within {HANDSHAKE_TIMEOUT:?}")
    })?
}

async fn handshake(
    server: SocketAddr,
    source: IpAddr,
    token: &str,
    visit_id: &str,
) -> anyhow::Result<Joined> {
    let mut ws = connect(server, source, token).await?;
    send(&mut ws, &json!({"type": "join", "visit_id": visit_id})).await?;
    let joined = expect(&mut ws, "joined").await?;
    let peer = joined["participants"][0]["participant_id"]
        .as_str()
        .map(str::to_owned);
    Ok(Joined { ws, peer })
}

/// Connects from `source` and says `hello` with `token`; answers the
/// welcomed socket.
pub async fn hello(server: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(server, source, token))
        .await
        .with_context(|| {
            format!("the socket from {source} was not welcomed within {HANDSHAKE_TIMEOUT:?}")
        })?
}

async fn connect(server: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    let socket = if source.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("Failed to create a socket")?;
    socket
        .bind(SocketAddr::new(source, 0))
        .with_context(|| format!("Failed to bind {source}"))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("Failed to connect from {source}"))?;
    stream.set_nodelay(true)?;
    // Small buffers: this process holds as many sockets as the server.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{server}/ws"),
        stream,
        Some(config),
    )
    .await
    .context("The WebSocket upgrade failed")?;
    send(&mut ws, &json!({"type": "hello", "token": token})).await?;
    expect(&mut ws, "welcome").await?;
    Ok(ws)
}

pub async fn send(ws: &mut Ws, frame: &Value) -> anyhow::Result<()> {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .context("Failed to send a frame")
}

/// Reads until a frame of `kind`, skipping `visit`, `presence` and the like.
pub async fn expect(ws: &mut Ws, kind: &str) -> anyhow::Result<Value> {
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message.context("the socket failed")? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).context("a frame that is not JSON")?;
        match frame["type"].as_str() {
            Some(t) if t == kind => return Ok(frame),
            Some("error") => bail!("error frame while waiting for {kind}: {frame}"),
            _ => {}
        }
    }
    bail!("the server closed the socket before {kind}")
}

/// Counters and the latency histogram of a run, shared by every socket.
#[derive(Debug)]
pub struct Stats {
    base: Instant,
    pub open: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub error_frames: AtomicU64,
    pub rate_limited: AtomicU64,
    pub dropped: AtomicU64,
    /// Frames not sent because the socket had not met its peer yet.
    pub unaddressed: AtomicU64,
    last_received_ns: AtomicU64,
    /// Relay latency in microseconds.
    latency: Mutex<Histogram<u64>>,
}

impl Stats {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            base: Instant::now(),
            open: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            unaddressed: AtomicU64::new(0),
            last_received_ns: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        })
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// When the last relayed frame arrived.
    pub fn last_received(&self) -> Instant {
        self.base + Duration::from_nanos(self.last_received_ns.load(Ordering::Relaxed))
    }

    /// A copy of the latency histogram (microseconds).
    pub fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Times a relayed frame; returns the participant a `peer_joined` names.
    fn on_frame(&self, text: &str) -> Option<String> {
        let Ok(frame) = serde_json::from_str::<Relayed>(text) else {
            return None;
        };
        let sent_ns = match frame.kind.as_str() {
            "peer_joined" => return frame.participant_id,
            "candidate" => frame.candidate.and_then(|c| c.loadgen_ns),
            "chat" => frame
                .text
                .as_deref()
                .and_then(|t| t.strip_prefix("loadgen "))
                .and_then(|t| t.parse().ok()),
            "error" => {
                self.error_frames.fetch_add(1, Ordering::Relaxed);
                if frame.code.as_deref() == Some("rate_limited") {
                    self.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            _ => None,
        };
        let sent_ns = sent_ns?;
        let now = self.now_ns();
        let micros = now.saturating_sub(sent_ns) / 1_000;
        self.received.fetch_add(1, Ordering::Relaxed);
        self.last_received_ns.fetch_max(now, Ordering::Relaxed);
        if let Ok(mut histogram) = self.latency.lock() {
            histogram.saturating_record(micros.max(1));
        }
        None
    }
}

/// The parts of a relayed frame the timing needs.
#[derive(Deserialize)]
struct Relayed {
    #[serde(rename = "type")]
    kind: String,
    candidate: Option<Probe>,
    text: Option<String>,
    code: Option<String>,
    participant_id: Option<String>,
}

#[derive(Deserialize)]
struct Probe {
    loadgen_ns: Option<u64>,
}

/// Runs a joined socket until `stop`; returns where the schedule sends it
/// work (each item is one frame to the peer). A socket alone in its room
/// learns its peer from `peer_joined`.
pub fn spawn(
    joined: Joined,
    frame: Frame,
    stats: std::sync::Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) -> mpsc::Sender<()> {
    let (tx, mut rx) = mpsc::channel::<()>(QUEUE);
    let Joined { mut ws, mut peer } = joined;
    stats.open.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + PING_EVERY;
        let mut ping = tokio::time::interval_at(start, PING_EVERY);
        let ping_frame = json!({"type": "ping"}).to_string();
        let mut dropped = false;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                work = rx.recv() => {
                    if work.is_none() {
                        break;
                    }
                    let Some(to) = peer.as_deref() else {
                        stats.unaddressed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let text = probe(frame, to, stats.now_ns());
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        dropped = true;
                        break;
                    }
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                message = ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(joined) = stats.on_frame(&text) {
                            peer = Some(joined);
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        dropped = true;
                        break;
                    }
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    if ws.send(Message::Text(ping_frame.clone().into())).await.is_err() {
                        dropped = true;
                        break;
                    }
                }
            }
        }
        if dropped {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
    });
    tx
}

/// One relayed frame carrying its send time.
fn probe(frame: Frame, peer: &str, sent_ns: u64) -> String {
    match frame {
        Frame::Candidate => json!({
            "type": "candidate",
            "to": peer,
            "candidate": {
                "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "loadgen_ns": sent_ns
            }
        }),
        Frame::Chat => json!({"type": "chat", "text": format!("loadgen {sent_ns}")}),
    }
    .to_string()
}
