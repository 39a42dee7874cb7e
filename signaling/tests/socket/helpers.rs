//! The test app: a hub behind `/ws` on 127.0.0.1:0 with a fixed-token
//! authoriser, and a typed WebSocket client.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use signaling::bus::Bus;
use signaling::presence::Presence;
use signaling::protocol::{
    ErrorCode, ParticipantId, PresenceStatus, QueueId, Role, ServerMessage, UserId, VisitId,
    VisitStatus, VisitUpdate,
};
use signaling::{Authoriser, ChatRecorder, Denied, Hub, HubConfig, HubEvent, Identity, JoinAccess};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for a frame that must come.
const PATIENCE: Duration = Duration::from_secs(5);

/// Tokens: `clinician-1`, `clinician-2`, `scheduler-1`, `patient-v1`,
/// `patient-v2`, `guest-v1`. Patients and guests may join their own visit
/// only, waiting until it is admitted; staff may join admitted visits.
#[derive(Debug, Default)]
pub struct TestAuthoriser {
    admitted: Mutex<HashSet<VisitId>>,
}

impl TestAuthoriser {
    pub fn admit(&self, visit_id: &str) {
        self.admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(VisitId::new(visit_id));
    }

    fn is_admitted(&self, visit_id: &VisitId) -> bool {
        self.admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(visit_id)
    }
}

/// Each token stands for its own credential (`credential-of-{token}`);
/// `clinician-1-brief` is clinician one's, ending a moment after `hello`.
pub fn identity(token: &str) -> Option<Identity> {
    if token == "clinician-1-brief" {
        let mut brief = identity("clinician-1")?;
        brief.credential = Some(format!("credential-of-{token}"));
        brief.expires_at = Some(chrono::Utc::now() + chrono::Duration::milliseconds(200));
        return Some(brief);
    }
    let (subject, role, name, visit) = match token {
        "clinician-1" => ("c1", Role::Clinician, "Dr One", None),
        "clinician-2" => ("c2", Role::Clinician, "Dr Two", None),
        "scheduler-1" => ("s1", Role::Scheduler, "Sam Scheduler", None),
        "patient-v1" => ("pat1", Role::Patient, "Ann Patient", Some("v1")),
        "patient-v2" => ("pat2", Role::Patient, "Bob Patient", Some("v2")),
        "guest-v1" => ("g1", Role::Guest, "Interpreter", Some("v1")),
        _ => return None,
    };
    Some(Identity {
        subject: UserId::new(subject),
        role,
        display_name: name.to_owned(),
        visit_id: visit.map(VisitId::new),
        credential: Some(format!("credential-of-{token}")),
        expires_at: None,
    })
}

impl Authoriser for TestAuthoriser {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, Denied>> {
        // `store-down`: the server cannot check any token right now.
        let answer = match token {
            "store-down" => Err(Denied::Unavailable),
            _ => identity(token).ok_or(Denied::Unauthenticated),
        };
        Box::pin(future::ready(answer))
    }

    fn authorise_join<'a>(
        &'a self,
        who: &'a Identity,
        visit_id: &'a VisitId,
    ) -> BoxFuture<'a, Result<JoinAccess, Denied>> {
        let admitted = self.is_admitted(visit_id);
        let access = if who.role.is_staff() {
            if admitted {
                Ok(JoinAccess::Open)
            } else {
                Err(Denied::Forbidden)
            }
        } else if who.visit_id.as_ref() != Some(visit_id) {
            Err(Denied::Forbidden)
        } else if admitted {
            Ok(JoinAccess::Open)
        } else {
            Ok(JoinAccess::Waiting(VisitUpdate {
                status: VisitStatus::Waiting,
                position: Some(1),
                estimated_wait_seconds: Some(300),
            }))
        };
        Box::pin(future::ready(access))
    }

    fn authorise_subscribe<'a>(
        &'a self,
        _who: &'a Identity,
        queue_id: &'a QueueId,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, Denied>> {
        let answer = if queue_id.as_str() == "q1" {
            Ok(Some(json!([])))
        } else {
            Err(Denied::Forbidden)
        };
        Box::pin(future::ready(answer))
    }
}

/// Config with the contract's limits and test-sized timeouts where a test
/// does not set its own.
pub fn quick_config() -> HubConfig {
    HubConfig {
        presence_interval: Duration::from_millis(50),
        ..HubConfig::default()
    }
}

/// A hub serving `/ws` on its own port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub hub: Hub,
    pub authoriser: Arc<TestAuthoriser>,
    pub events: mpsc::UnboundedReceiver<HubEvent>,
}

/// What a test may share between apps (nodes).
#[derive(Default)]
pub struct Parts {
    pub config: Option<HubConfig>,
    pub bus: Option<Arc<dyn Bus>>,
    pub presence: Option<Arc<dyn Presence>>,
    pub authoriser: Option<Arc<TestAuthoriser>>,
    pub chat: Option<Arc<dyn ChatRecorder>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Parts::default()).await
}

pub async fn spawn_app_with(parts: Parts) -> TestApp {
    let authoriser = parts.authoriser.unwrap_or_default();
    let (sender, events) = mpsc::unbounded_channel();
    let mut builder = Hub::builder(authoriser.clone())
        .config(parts.config.unwrap_or_else(quick_config))
        .events(Arc::new(sender));
    if let Some(bus) = parts.bus {
        builder = builder.bus(bus);
    }
    if let Some(presence) = parts.presence {
        builder = builder.presence(presence);
    }
    if let Some(chat) = parts.chat {
        builder = builder.chat(chat);
    }
    let hub = builder.start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let router = hub.router::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    TestApp {
        addr,
        hub,
        authoriser,
        events,
    }
}

impl TestApp {
    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client { ws }
    }

    /// A client that said hello and got its welcome.
    pub async fn signed_in(&self, token: &str) -> (Client, ParticipantId) {
        let mut client = self.connect().await;
        let (id, _) = client.hello(token).await;
        (client, id)
    }

    /// Waits for an event the test expects.
    pub async fn event(&mut self, wanted: impl Fn(&HubEvent) -> bool) -> HubEvent {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let event = self.events.recv().await.expect("events open");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("event in time")
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Says hello; returns the participant id and resume token.
    pub async fn hello(&mut self, token: &str) -> (ParticipantId, String) {
        self.send_json(json!({"type": "hello", "token": token}))
            .await;
        self.welcome().await
    }

    pub async fn welcome(&mut self) -> (ParticipantId, String) {
        match self.frame().await {
            ServerMessage::Welcome {
                participant_id,
                resume_token,
                ..
            } => (participant_id, resume_token.expose().to_owned()),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// The next server frame of any kind.
    pub async fn any_frame(&mut self) -> ServerMessage {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str(text.as_str()).expect("server frame");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("frame in time")
    }

    /// The next server frame that is not a presence update.
    pub async fn frame(&mut self) -> ServerMessage {
        loop {
            let frame = self.any_frame().await;
            if !matches!(frame, ServerMessage::Presence { .. }) {
                return frame;
            }
        }
    }

    /// Skips frames until one matches.
    pub async fn until(&mut self, wanted: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let frame = self.any_frame().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.frame().await {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code),
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// The next frame is a pong: nothing else was queued before it.
    pub async fn ping_pong(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        assert_eq!(self.frame().await, ServerMessage::Pong);
    }

    pub async fn join(&mut self, visit_id: &str) {
        self.send_json(json!({"type": "join", "visit_id": visit_id}))
            .await;
    }

    /// Waits for the server to close; returns the close code.
    pub async fn closed(&mut self) -> CloseCode {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => return frame.code,
                    Some(Ok(Message::Close(None))) => panic!("close without a code"),
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("close in time")
    }

    /// Drops the connection without a close frame, as a lost network does.
    pub fn drop_connection(self) {
        drop(self.ws);
    }

    pub async fn close_cleanly(mut self) {
        self.ws.close(None).await.expect("close");
        // Read the server's answer so the handshake completes.
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}

/// Waits until `client` hears `user` has `status`.
pub async fn presence_of(client: &mut Client, user: &str, status: PresenceStatus) {
    client
        .until(|frame| {
            matches!(frame, ServerMessage::Presence { user_id, status: got }
                if user_id.as_str() == user && *got == status)
        })
        .await;
}

/// A patient and a clinician in the admitted visit v1's call.
pub async fn call_in_v1(app: &TestApp) -> ((Client, ParticipantId), (Client, ParticipantId)) {
    app.authoriser.admit("v1");
    let (mut patient, patient_id) = app.signed_in("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    let (mut clinician, clinician_id) = app.signed_in("clinician-1").await;
    clinician.join("v1").await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Joined { .. }
    ));
    assert!(matches!(
        patient.frame().await,
        ServerMessage::PeerJoined(_)
    ));
    ((patient, patient_id), (clinician, clinician_id))
}
