//! A signaling client for Bedside's `/ws`: one socket, its frames built and
//! read as the `signaling::protocol` messages the server itself speaks.
//! Every wait is bounded by [`WAIT`](crate::helpers::WAIT), and an `error`
//! frame fails a wait for anything else.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use signaling::protocol::{
    ClientMessage, ErrorCode, LeaveReason, ParticipantId, ParticipantInfo, PresenceStatus, QueueId,
    Role, Secret, ServerMessage, UserId, VisitId, VisitUpdate,
};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, within};

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How the server closed a socket, and the frames it sent before.
#[derive(Debug)]
pub struct CloseSeen {
    pub code: u16,
    pub reason: String,
    pub frames: Vec<ServerMessage>,
}

/// One signaling socket that said `hello` and was welcomed.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
    /// This socket's participant, from `welcome`.
    pub participant_id: ParticipantId,
    /// Whom the server took the token for, from `welcome`.
    pub role: Role,
    /// The token that takes this session back after a drop, from `welcome`.
    pub resume_token: String,
}

impl Socket {
    /// Opens a socket and says `hello`; panics unless `welcome` comes back.
    pub async fn hello(app: &TestApp, token: &str) -> Self {
        Self::greet(app, token, None).await
    }

    /// Opens a socket and says `hello {resume}` to take back a dropped
    /// session; panics unless `welcome` comes back (whether the session
    /// came back is the participant id's and the next frames' to say).
    pub async fn resume(app: &TestApp, token: &str, resume_token: &str) -> Self {
        Self::greet(app, token, Some(resume_token)).await
    }

    async fn greet(app: &TestApp, token: &str, resume: Option<&str>) -> Self {
        let url = format!("ws://{}/ws", app.addr);
        let (mut stream, _) = within("the socket to open", tokio_tungstenite::connect_async(url))
            .await
            .expect("the socket opens");
        let hello = ClientMessage::Hello {
            token: Secret::new(token),
            resume: resume.map(Secret::new),
        };
        send(&mut stream, &hello).await;
        let (participant_id, role, resume_token) = within("a `welcome` frame", async {
            loop {
                match read(&mut stream).await {
                    Some(ServerMessage::Welcome {
                        participant_id,
                        role,
                        resume_token,
                    }) => return (participant_id, role, resume_token.expose().to_owned()),
                    Some(error @ ServerMessage::Error { .. }) => {
                        panic!("an error frame instead of `welcome`: {error:?}")
                    }
                    Some(_) => {}
                    None => panic!("the socket closed before `welcome`"),
                }
            }
        })
        .await;
        Self {
            stream,
            participant_id,
            role,
            resume_token,
        }
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        send(&mut self.stream, message).await;
    }

    /// Sends a text frame as given, valid or not.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("the frame is sent");
    }

    /// Sends `join {visit_id}`.
    pub async fn join(&mut self, visit_id: &str) {
        self.send(&ClientMessage::Join {
            visit_id: VisitId::new(visit_id),
        })
        .await;
    }

    /// Sends `subscribe {queue_id}`.
    pub async fn subscribe(&mut self, queue_id: &str) {
        self.send(&ClientMessage::Subscribe {
            queue_id: QueueId::new(queue_id),
        })
        .await;
    }

    /// Sends `chat {text}`.
    pub async fn chat(&mut self, text: &str) {
        self.send(&ClientMessage::Chat {
            text: text.to_owned(),
        })
        .await;
    }

    /// The next relayed `chat`: its sender and text.
    pub async fn chat_message(&mut self) -> (ParticipantId, String) {
        self.until("a `chat` frame", |frame| match frame {
            ServerMessage::Chat { from, text, .. } => Some((from.clone(), text.clone())),
            _ => None,
        })
        .await
    }

    /// The next frame, or `None` once the socket closed; no time limit.
    pub async fn next(&mut self) -> Option<ServerMessage> {
        read(&mut self.stream).await
    }

    /// Waits for the server to close the socket.
    pub async fn expect_closed(&mut self) {
        within("the socket to close", async {
            while self.next().await.is_some() {}
        })
        .await;
    }

    /// Waits for the server's close frame, skipping the frames before it
    /// (`frames` counts them); its code and reason.
    pub async fn close_frame(&mut self) -> CloseSeen {
        within("the server to close the socket", async {
            let mut frames = Vec::new();
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame.map_or((1005, String::new()), |f| {
                            (u16::from(f.code), f.reason.to_string())
                        });
                        return CloseSeen {
                            code,
                            reason,
                            frames,
                        };
                    }
                    Some(Ok(Message::Text(text))) => frames.push(
                        serde_json::from_str(&text)
                            .unwrap_or_else(|e| panic!("not a server frame ({e}): {text}")),
                    ),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("the socket failed instead of closing: {e}"),
                    None => panic!("the socket ended without a close frame"),
                }
            }
        })
        .await
    }

    /// Opens a socket and says `hello` with a token the server must refuse;
    /// the close code it answers with.
    pub async fn refused(app: &TestApp, token: &str) -> u16 {
        let url = format!("ws://{}/ws", app.addr);
        let (stream, _) = within("the socket to open", tokio_tungstenite::connect_async(url))
            .await
            .expect("the socket opens");
        let mut socket = Self {
            stream,
            participant_id: ParticipantId::new("none"),
            role: Role::Patient,
            resume_token: String::new(),
        };
        socket
            .send(&ClientMessage::Hello {
                token: Secret::new(token),
                resume: None,
            })
            .await;
        let seen = socket.close_frame().await;
        assert!(
            !seen
                .frames
                .iter()
                .any(|f| matches!(f, ServerMessage::Welcome { .. })),
            "the token was welcomed"
        );
        seen.code
    }

    /// Skips frames until `pick` takes one, and returns what it made of it.
    /// An `error` frame that `pick` does not take fails the test.
    pub async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
    ) -> T {
        within(what, async {
            loop {
                let frame = self
                    .next()
                    .await
                    .unwrap_or_else(|| panic!("the socket closed while waiting for {what}"));
                if let Some(picked) = pick(&frame) {
                    return picked;
                }
                if let ServerMessage::Error { .. } = frame {
                    panic!("an error frame while waiting for {what}: {frame:?}");
                }
            }
        })
        .await
    }

    /// The code of the next `error` frame.
    pub async fn error(&mut self) -> ErrorCode {
        self.until("an `error` frame", |frame| match frame {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await
    }

    /// The next `joined`: the room's visit and the others already in it.
    pub async fn joined(&mut self) -> (VisitId, Vec<ParticipantInfo>) {
        self.until("a `joined` frame", |frame| match frame {
            ServerMessage::Joined {
                visit_id,
                participants,
            } => Some((visit_id.clone(), participants.clone())),
            _ => None,
        })
        .await
    }

    /// The next `peer_joined`.
    pub async fn peer_joined(&mut self) -> ParticipantInfo {
        self.until("a `peer_joined` frame", |frame| match frame {
            ServerMessage::PeerJoined(info) => Some(info.clone()),
            _ => None,
        })
        .await
    }

    /// The next `peer_left`: who left, and why.
    pub async fn peer_left(&mut self) -> (ParticipantId, LeaveReason) {
        self.until("a `peer_left` frame", |frame| match frame {
            ServerMessage::PeerLeft {
                participant_id,
                reason,
            } => Some((participant_id.clone(), *reason)),
            _ => None,
        })
        .await
    }

    /// The next relayed `offer`: its sender and SDP.
    pub async fn offer(&mut self) -> (ParticipantId, String) {
        self.until("an `offer` frame", |frame| match frame {
            ServerMessage::Offer { from, sdp } => Some((from.clone(), sdp.clone())),
            _ => None,
        })
        .await
    }

    /// The first `visit` update that `accept` takes.
    pub async fn visit_update(
        &mut self,
        accept: impl Fn(&VisitUpdate) -> bool,
    ) -> (VisitId, VisitUpdate) {
        self.until("a `visit` frame", |frame| match frame {
            ServerMessage::Visit { visit_id, update } if accept(update) => {
                Some((visit_id.clone(), update.clone()))
            }
            _ => None,
        })
        .await
    }

    /// The entries of the first `queue` frame that `accept` takes.
    pub async fn queue_update(&mut self, accept: impl Fn(&Value) -> bool) -> Value {
        self.until("a `queue` frame", |frame| match frame {
            ServerMessage::Queue { entries, .. } if accept(entries) => Some(entries.clone()),
            _ => None,
        })
        .await
    }

    /// The first `presence` frame that `accept` takes.
    pub async fn presence_update(
        &mut self,
        accept: impl Fn(&UserId, PresenceStatus) -> bool,
    ) -> (UserId, PresenceStatus) {
        self.until("a `presence` frame", |frame| match frame {
            ServerMessage::Presence { user_id, status } if accept(user_id, *status) => {
                Some((user_id.clone(), *status))
            }
            _ => None,
        })
        .await
    }
}

async fn send(stream: &mut Stream, message: &ClientMessage) {
    let text = serde_json::to_string(message).expect("a client frame serializes");
    stream
        .send(Message::text(text))
        .await
        .expect("the socket takes the frame");
}

/// The next server frame, or `None` once the socket closed.
async fn read(stream: &mut Stream) -> Option<ServerMessage> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(text)) => {
                return Some(
                    serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("not a server frame ({e}): {text}")),
                );
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
