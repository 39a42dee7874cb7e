//! Bedside in-process on port 0 over a database the test chose, and the
//! few steps the fault tests take through its API and socket: sign in,
//! close a consult, say `hello`. Every wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bedside::config::{Config, Source};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const STAFF_PASSWORD: &str = "staff-password-1";

/// Fails the test unless `future` finishes within `limit`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Polls `check` until it answers `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(limit, what, async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
}

#[derive(Debug)]
pub struct App {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl App {
    /// Starts Bedside on `database_url` with `admin` as first admin.
    pub async fn start(database_url: &str, configure: impl FnOnce(Source) -> Source) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        let source = Source::default()
            .set("DATABASE_URL", database_url)
            .set("BEDSIDE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .set("BEDSIDE_PUBLIC_URL", format!("http://{addr}"))
            .set("BEDSIDE_DRAIN_SECONDS", "0");
        let config = Config::from_source(&configure(source)).expect("test config is valid");
        let state = bedside::build_state(config).await.expect("the app starts");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(bedside::serve(state, listener, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            // Requests never wait on the client's side: the server must answer.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            shutdown: Some(tx),
        }
    }

    /// A server already listening at `addr` (a child process).
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            shutdown: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    /// `POST`, panicking unless the answer is `status`; its JSON body.
    pub async fn expect(&self, path: &str, token: &str, body: &Value, status: StatusCode) -> Value {
        let response = self.post(path, Some(token), body).await;
        let got = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(got, status, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> String {
        let body = json!({"username": username, "password": password});
        let answer = self
            .post("/api/v1/auth/login", None, &body)
            .await
            .json::<Value>()
            .await
            .expect("login JSON");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// A clinic: the admin's token, a clinician's and a queue.
    pub async fn clinic(&self) -> Clinic {
        let admin = self.sign_in("admin", ADMIN_PASSWORD).await;
        let user = json!({"username": "dr.grey", "password": STAFF_PASSWORD, "role": "clinician",
            "display_name": "Dr Grey", "npi": "1234567893"});
        self.expect("/api/v1/users", &admin, &user, StatusCode::CREATED)
            .await;
        let clinician = self.sign_in("dr.grey", STAFF_PASSWORD).await;
        let queue = self
            .expect(
                "/api/v1/queues",
                &admin,
                &json!({"name": "Urgent care"}),
                StatusCode::CREATED,
            )
            .await;
        Clinic {
            admin,
            clinician,
            queue_id: queue["id"].as_str().expect("queue id").to_owned(),
        }
    }

    /// Opens `/ws` and says `hello` with `token`; the socket, welcomed or not.
    pub async fn hello(&self, token: &str) -> Socket {
        let url = format!("ws://{}/ws", self.addr);
        let (mut stream, _) = within(Duration::from_secs(10), "the socket to open", async {
            tokio_tungstenite::connect_async(url).await
        })
        .await
        .expect("the socket opens");
        let hello = json!({"type": "hello", "token": token}).to_string();
        stream.send(Message::text(hello)).await.expect("send hello");
        Socket { stream }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug)]
pub struct Clinic {
    pub admin: String,
    pub clinician: String,
    pub queue_id: String,
}

/// A patient, as `POST /patients` takes one.
pub fn patient(given_name: &str) -> Value {
    json!({"given_name": given_name, "family_name": "Lovelace", "birth_date": "1985-12-10", "sex": "female",
        "insurance": {"payer_id": "DEMOPAYER", "payer_name": "Demo Health Plan", "member_id": "M123"}})
}

impl Clinic {
    /// Books a visit for a new patient; the visit's JSON (with `patient_token`).
    pub async fn book(&self, app: &App, given_name: &str) -> Value {
        let patient = app
            .expect(
                "/api/v1/patients",
                &self.admin,
                &patient(given_name),
                StatusCode::CREATED,
            )
            .await;
        let visit = json!({"patient_id": patient["id"], "queue_id": self.queue_id, "reason": "Sore throat"});
        app.expect(
            "/api/v1/visits",
            &self.clinician,
            &visit,
            StatusCode::CREATED,
        )
        .await
    }

    /// Books, checks in, admits and closes a consult; the visit's id.
    pub async fn close_a_consult(&self, app: &App, given_name: &str) -> String {
        let visit = self.book(app, given_name).await;
        let id = visit["id"].as_str().expect("visit id").to_owned();
        let patient = visit["patient_token"].as_str().expect("patient token");
        let path = |step: &str| format!("/api/v1/visits/{id}/{step}");
        let consent = json!({"consent_to_telehealth": true});
        app.expect(&path("check-in"), patient, &consent, StatusCode::OK)
            .await;
        app.expect(&path("admit"), &self.clinician, &json!({}), StatusCode::OK)
            .await;
        let close = json!({"diagnoses": ["J06.9"], "total_minutes": 18, "patient_location": "home",
            "note": {"subjective": "Sore throat", "objective": "Erythema", "assessment": "Pharyngitis", "plan": "Rest"}});
        app.expect(&path("close"), &self.clinician, &close, StatusCode::OK)
            .await;
        id
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket that said `hello`.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
}

/// What the server did next on a socket.
#[derive(Debug, PartialEq)]
pub enum Heard {
    Frame(Value),
    Closed(Option<u16>),
}

impl Socket {
    /// The next frame or the close, within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Heard {
        within(limit, "the next socket frame", async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return Heard::Frame(serde_json::from_str(&text).expect("a JSON frame"));
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Heard::Closed(frame.map(|f| u16::from(f.code)));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Heard::Closed(None),
                }
            }
        })
        .await
    }

    /// The next frame of `kind`, skipping others; panics on a close.
    pub async fn frame(&mut self, kind: &str, limit: Duration) -> Value {
        within(limit, kind, async {
            loop {
                match self.next(limit).await {
                    Heard::Frame(frame) if frame["type"] == kind => return frame,
                    Heard::Frame(_) => {}
                    Heard::Closed(code) => panic!("the socket closed ({code:?}) before `{kind}`"),
                }
            }
        })
        .await
    }

    /// Frames until the close; the close code.
    pub async fn closed(&mut self, limit: Duration) -> Option<u16> {
        within(limit, "the socket to close", async {
            loop {
                if let Heard::Closed(code) = self.next(limit).await {
                    return code;
                }
            }
        })
        .await
    }
}

/// The close code a server sends to say "try again later".
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The close code of a server restarting (draining).
pub const SERVICE_RESTART: u16 = 1012;

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
