//! The floor: the least a relay with Bedside's framing can do, on bare
//! tokio-tungstenite, so a run can put Bedside's figures beside what the
//! machine allows. It speaks the part of the protocol the relay scenario
//! uses — `hello` → `welcome`, `join` → `joined` (and `peer_joined` to the
//! others), `candidate`/`offer`/`answer`/`chat` relayed adding `from`,
//! `ping` → `pong` — with no authentication, store or limits. Each socket
//! has one task that alone writes to it, fed by a bounded queue, and the
//! same buffer sizes as Bedside's sockets, so the comparison is of the
//! work done per frame, not of settings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Bedside's per-socket settings (signaling's `config` module).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_MESSAGE: usize = 64 * 1024;
/// Frames queued for one socket before it is dropped, as in Bedside.
const OUTBOX: usize = 64;

/// A room's participants with their outboxes.
type Members = Vec<(String, mpsc::Sender<Utf8Bytes>)>;

/// The rooms: visit id → participants.
#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, Members>>,
    next_id: AtomicU64,
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Members>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the floor on `listen` until the process ends.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!("--listen: {} is not a loopback address", listen.ip());
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    eprintln!("floor relay listening on {listen}");
    let rooms = Arc::new(Rooms::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the others.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let rooms = Arc::clone(&rooms);
        tokio::spawn(async move {
            let _ = connection(stream, rooms).await;
        });
    }
}

async fn connection(stream: TcpStream, rooms: Arc<Rooms>) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(2 * MAX_MESSAGE + WRITE_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    // hello → welcome
    let hello = loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => break text,
            Some(Ok(_)) => {}
            _ => return Ok(()),
        }
    };
    let hello: Value = serde_json::from_str(&hello)?;
    if hello["type"] != "hello" || !hello["token"].is_string() {
        return Ok(());
    }
    let me = format!("f{}", rooms.next_id.fetch_add(1, Ordering::Relaxed));
    let welcome =
        json!({"type": "welcome", "participant_id": me, "role": "patient", "resume_token": me});
    ws.send(Message::text(welcome.to_string())).await?;

    let (outbox, mut inbox) = mpsc::channel::<Utf8Bytes>(OUTBOX);
    let mut room: Option<String> = None;
    let result = loop {
        tokio::select! {
            inbound = ws.next() => {
                let Some(Ok(message)) = inbound else { break Ok(()) };
                let Message::Text(text) = message else { continue };
                if let Some(answer) = handle(&rooms, &me, &mut room, &outbox, &text)
                    && let Err(error) = ws.send(Message::Text(answer)).await
                {
                    break Err(error.into());
                }
            }
            outbound = inbox.recv() => {
                let Some(frame) = outbound else { break Ok(()) };
                if let Err(error) = ws.send(Message::Text(frame)).await {
                    break Err(error.into());
                }
            }
        }
    };
    if let Some(visit) = room {
        let mut rooms = rooms.lock();
        if let Some(members) = rooms.get_mut(&visit) {
            members.retain(|(id, _)| *id != me);
            if members.is_empty() {
                rooms.remove(&visit);
            }
        }
    }
    result
}

/// One inbound frame; answers what goes back to the sender, if anything.
fn handle(
    rooms: &Rooms,
    me: &str,
    room: &mut Option<String>,
    outbox: &mpsc::Sender<Utf8Bytes>,
    text: &str,
) -> Option<Utf8Bytes> {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return Some(error("malformed"));
    };
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match kind.as_str() {
        "ping" => Some(Utf8Bytes::from(json!({"type": "pong"}).to_string())),
        "join" => {
            let visit = frame.get("visit_id").and_then(Value::as_str)?.to_owned();
            let joined_peer = Utf8Bytes::from(
                json!({"type": "peer_joined", "participant_id": me, "role": "patient", "display_name": me})
                    .to_string(),
            );
            let mut rooms = rooms.lock();
            let members = rooms.entry(visit.clone()).or_default();
            let others: Vec<Value> = members
                .iter()
                .map(|(id, _)| json!({"participant_id": id, "role": "clinician", "display_name": id}))
                .collect();
            for (_, peer) in members.iter() {
                let _ = peer.try_send(joined_peer.clone());
            }
            members.push((me.to_owned(), outbox.clone()));
            *room = Some(visit.clone());
            Some(Utf8Bytes::from(
                json!({"type": "joined", "visit_id": visit, "participants": others}).to_string(),
            ))
        }
        "candidate" | "offer" | "answer" => {
            let to = frame
                .remove("to")
                .and_then(|to| to.as_str().map(str::to_owned))?;
            frame.insert("from".into(), Value::from(me));
            let relayed = Utf8Bytes::from(Value::Object(frame).to_string());
            let rooms = rooms.lock();
            let peer = room
                .as_ref()
                .and_then(|visit| rooms.get(visit))
                .and_then(|members| members.iter().find(|(id, _)| *id == to));
            match peer {
                Some((_, peer)) => {
                    let _ = peer.try_send(relayed);
                    None
                }
                None => Some(error("not_in_room")),
            }
        }
        "chat" => {
            let text = frame.get("text").cloned().unwrap_or(Value::Null);
            let relayed = Utf8Bytes::from(
                json!({"type": "chat", "from": me, "text": text, "at": 0}).to_string(),
            );
            let rooms = rooms.lock();
            if let Some(members) = room.as_ref().and_then(|visit| rooms.get(visit)) {
                for (_, peer) in members.iter().filter(|(id, _)| id != me) {
                    let _ = peer.try_send(relayed.clone());
                }
            }
            None
        }
        _ => Some(error("unknown_type")),
    }
}

fn error(code: &str) -> Utf8Bytes {
    let mut frame = Map::new();
    frame.insert("type".into(), Value::from("error"));
    frame.insert("code".into(), Value::from(code));
    frame.insert("message".into(), Value::from(code));
    Utf8Bytes::from(Value::Object(frame).to_string())
}
