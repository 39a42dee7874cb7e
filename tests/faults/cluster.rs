//! A cluster the tests can hurt: a private `redis-server` on a port of its
//! own (stopped, restarted empty with `--save ""`, hung with SIGSTOP), and
//! `bedside` nodes started from the built binary as child processes,
//! sharing one SQLite file (or a fresh PostgreSQL database with
//! `BEDSIDE_TEST_STORE=postgres`). A clinic on it, a visit in consult,
//! and the calls across its nodes are built from the public API only.
//!
//! Without `redis-server` the tests skip with a message, unless `CI=true`,
//! where they fail. `BEDSIDE_FAULTS_LOGS=1` shows the nodes' logs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signaling::protocol::{ClientMessage, ErrorCode, ParticipantId, ServerMessage};

use crate::peers::{Channel, Manner, Media, Peer};
use crate::socket::Socket;

/// The longest any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);
/// How long the cluster has to recover from a fault: Redis answering again,
/// a lapsed node's lease (three 2 s beats) and the survivors' own health
/// check before they reap (six beats), with room to spare on a busy machine.
pub const RECOVERY: Duration = Duration::from_secs(40);
/// Between two tries of a condition polled for.
const POLL: Duration = Duration::from_millis(200);
/// How long one relay probe may go unanswered before it counts as lost.
const PROBE: Duration = Duration::from_secs(2);

const ADMIN_PASSWORD: &str = "admin-password-1";
const STAFF_PASSWORD: &str = "staff-password-1";

/// Awaits `future` for at most [`WAIT`], failing the test with `what`.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Tries `attempt` until it answers `Some`, for at most `bound`.
pub async fn eventually<T, F, Fut>(what: &str, bound: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {bound:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn logs() -> Stdio {
    if std::env::var_os("BEDSIDE_FAULTS_LOGS").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// Sends a signal by name to a child (`STOP`, `CONT`) through kill(1).
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "SIG{name} reached process {}", child.id());
}

/// Whether this machine can run the suite; panics on CI without Redis.
pub fn redis_installed() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server must be installed for the fault suite on CI"
        );
        eprintln!("skipped: redis-server is not installed");
    }
    found
}

/// A private Redis the test owns; killed when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.launch().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server, empty and persisting nothing, and waits for PING.
    async fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(logs())
            .stderr(logs())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        eventually("Redis answering PING", WAIT, || async {
            let mut connection = self.connection().await?;
            let pong: Option<String> = redis::cmd("PING").query_async(&mut connection).await.ok();
            pong
        })
        .await;
    }

    /// Kills the server (losing everything) and starts it again, empty.
    pub async fn restart_empty(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Kills the server; it stays down.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server: connections stay open, nothing is answered.
    pub fn hang(&self) {
        signal(self.child.as_ref().expect("Redis runs"), "STOP");
    }

    /// Lets a frozen server go on.
    pub fn wake(&self) {
        signal(self.child.as_ref().expect("Redis runs"), "CONT");
    }

    pub async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url()).ok()?;
        tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()
    }

    /// A Redis command's answer, for the test's own inspection.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let mut connection = within("a Redis connection", self.connection())
            .await
            .expect("Redis answers");
        command
            .query_async(&mut connection)
            .await
            .expect("a Redis answer")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A hung server must be woken to die promptly.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill();
    }
}

/// The store the nodes share: a SQLite file in the cluster's folder, or a
/// fresh PostgreSQL database.
struct Store {
    url: String,
    postgres: Option<(String, String)>,
}

impl Store {
    async fn new(dir: &Path) -> Self {
        if std::env::var("BEDSIDE_TEST_STORE").as_deref() != Ok("postgres") {
            return Self {
                url: format!("sqlite://{}/bedside.db", dir.display()),
                postgres: None,
            };
        }
        use sqlx::Connection;
        let admin = std::env::var("BEDSIDE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("bedside_faults_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be running for BEDSIDE_TEST_STORE=postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
        Self {
            url: format!("{base}/{name}"),
            postgres: Some((admin, name)),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// One `bedside serve` process; killed when dropped.
#[derive(Debug)]
pub struct Node {
    pub addr: SocketAddr,
    client: reqwest::Client,
    child: Option<Child>,
}

impl Node {
    async fn start(dir: &Path, store: &str, redis: &str) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("an address");
        let child = Command::new(env!("CARGO_BIN_EXE_bedside"))
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BEDSIDE_ADDR", addr.to_string())
            .env("BEDSIDE_PUBLIC_URL", format!("http://{addr}"))
            .env("DATABASE_URL", store)
            .env("REDIS_URL", redis)
            .env("BEDSIDE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(logs())
            .stderr(logs())
            .spawn()
            .expect("the bedside binary starts");
        let node = Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            child: Some(child),
        };
        eventually("the node answering /healthz", WAIT, || async {
            let answer = node.client.get(node.url("/healthz")).send().await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
        node
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: the node vanishes mid-call, its sockets with it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    /// `POST path` that must answer `status` with JSON.
    async fn create(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        status: StatusCode,
    ) -> Value {
        let response = self.post(path, token, body).await;
        assert_eq!(response.status(), status, "POST {path}");
        response.json().await.expect("JSON")
    }

    /// `GET /api/v1/presence?role=clinician`: display name → status.
    pub async fn clinician_presence(&self, token: &str) -> Vec<(String, String)> {
        let response = self
            .client
            .get(self.url("/api/v1/presence?role=clinician"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /presence");
        assert_eq!(response.status(), StatusCode::OK, "GET /presence");
        let list: Vec<Value> = response.json().await.expect("presence JSON");
        list.iter()
            .map(|entry| {
                (
                    entry["display_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    entry["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis, a shared store and `n` nodes on them.
pub struct Cluster {
    pub redis: Redis,
    pub nodes: Vec<Node>,
    _store: Store,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `None` when the machine has no Redis to run it with (see [`redis_installed`]).
    pub async fn start(nodes: usize) -> Option<Self> {
        if !redis_installed() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let redis = Redis::start().await;
        let store = Store::new(dir.path()).await;
        // The first node creates the schema and the admin; then the rest.
        let mut started = vec![Node::start(dir.path(), &store.url, &redis.url()).await];
        for _ in 1..nodes {
            started.push(Node::start(dir.path(), &store.url, &redis.url()).await);
        }
        Some(Self {
            redis,
            nodes: started,
            _store: store,
            _dir: dir,
        })
    }

    /// This node's id on the bus, as the room directory records the member.
    pub async fn node_of(&self, visit_id: &str, participant: &ParticipantId) -> String {
        let record: Option<String> = self
            .redis
            .query(
                redis::cmd("HGET")
                    .arg(format!("bedside:room:{visit_id}"))
                    .arg(participant.as_str()),
            )
            .await;
        let record: Value =
            serde_json::from_str(&record.expect("the member is in the directory")).expect("JSON");
        record["node"].as_str().expect("a node").to_owned()
    }

    /// Whether `node`'s lease is held in Redis now.
    pub async fn lease_held(&self, node: &str) -> bool {
        self.redis
            .query(redis::cmd("EXISTS").arg(format!("bedside:node:{node}")))
            .await
    }

    /// The nodes the room directory names for `visit_id`'s members.
    pub async fn directory(&self, visit_id: &str) -> Vec<(String, String)> {
        let records: Vec<(String, String)> = self
            .redis
            .query(redis::cmd("HGETALL").arg(format!("bedside:room:{visit_id}")))
            .await;
        records
            .into_iter()
            .map(|(participant, record)| {
                let record: Value = serde_json::from_str(&record).expect("JSON");
                (
                    participant,
                    record["node"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// The clinic the tests run: staff, a queue, a patient checked in.
pub struct Clinic {
    pub clinician: String,
    pub colleague: String,
    pub scheduler: String,
    pub visit_id: String,
    pub patient: String,
}

impl Clinic {
    /// Sets the clinic up through `node` and has dr.grey admit the patient.
    pub async fn in_consult(node: &Node) -> Self {
        let admin = token(node, "admin", ADMIN_PASSWORD).await;
        let clinician = staff(node, &admin, "dr.grey", "clinician").await;
        let colleague = staff(node, &admin, "dr.house", "clinician").await;
        let scheduler = staff(node, &admin, "sched", "scheduler").await;
        let queue = node
            .create(
                "/api/v1/queues",
                Some(&admin),
                &json!({"name": "Video visits"}),
                StatusCode::CREATED,
            )
            .await;
        let patient = node
            .create(
                "/api/v1/patients",
                Some(&scheduler),
                &json!({"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1985-12-10", "sex": "female"}),
                StatusCode::CREATED,
            )
            .await;
        let visit = node
            .create(
                "/api/v1/visits",
                Some(&scheduler),
                &json!({"patient_id": patient["id"], "queue_id": queue["id"], "reason": "Rash"}),
                StatusCode::CREATED,
            )
            .await;
        let visit_id = visit["id"].as_str().expect("visit id").to_owned();
        let patient = visit["patient_token"].as_str().expect("token").to_owned();
        node.create(
            &format!("/api/v1/visits/{visit_id}/check-in"),
            Some(&patient),
            &json!({"consent_to_telehealth": true}),
            StatusCode::OK,
        )
        .await;
        node.create(
            &format!("/api/v1/visits/{visit_id}/admit"),
            Some(&clinician),
            &json!({}),
            StatusCode::OK,
        )
        .await;
        Self {
            clinician,
            colleague,
            scheduler,
            visit_id,
            patient,
        }
    }
}

async fn token(node: &Node, username: &str, password: &str) -> String {
    let body = node
        .create(
            "/api/v1/auth/login",
            None,
            &json!({"username": username, "password": password}),
            StatusCode::OK,
        )
        .await;
    body["token"].as_str().expect("token").to_owned()
}

async fn staff(node: &Node, admin: &str, username: &str, role: &str) -> String {
    let mut body = json!({"username": username, "password": STAFF_PASSWORD, "role": role, "display_name": username});
    if role == "clinician" {
        body["npi"] = json!("1234567893");
    }
    node.create("/api/v1/users", Some(admin), &body, StatusCode::CREATED)
        .await;
    token(node, username, STAFF_PASSWORD).await
}

/// A call across two nodes: the patient's peer on `patient_node`, the
/// clinician's on `clinician_node`, their data channel open; and a second
/// socket (another tab) of each in the room, for the test to signal with.
pub struct Call {
    pub patient: Peer,
    pub clinician: Peer,
    pub patient_chat: Channel,
    pub clinician_chat: Channel,
    pub patient_tab: Socket,
    pub clinician_tab: Socket,
    /// The patient peer's participant, as the clinician met it.
    pub patient_id: ParticipantId,
    /// Messages the data channel carried so far.
    said: usize,
}

impl Call {
    pub async fn across(clinic: &Clinic, patient_node: &Node, clinician_node: &Node) -> Self {
        let mut patient_socket = Socket::hello(patient_node, &clinic.patient).await;
        patient_socket.join(&clinic.visit_id).await;
        patient_socket.joined().await;
        let patient = Peer::start(patient_socket, Manner::Polite, Media::default(), &[]).await;

        let mut clinician_socket = Socket::hello(clinician_node, &clinic.clinician).await;
        clinician_socket.join(&clinic.visit_id).await;
        let (_, others) = clinician_socket.joined().await;
        assert_eq!(
            others.len(),
            1,
            "the patient, held by the other node: {others:?}"
        );
        let patient_id = others[0].participant_id.clone();
        let mut clinician = Peer::start(
            clinician_socket,
            Manner::Impolite,
            Media {
                data_channel: true,
                video: false,
            },
            &others,
        )
        .await;
        let mut patient = patient;
        clinician.connected().await;
        patient.connected().await;
        let clinician_chat = clinician.open_channel().await;
        let patient_chat = patient.open_channel().await;

        let mut patient_tab = Socket::hello(patient_node, &clinic.patient).await;
        patient_tab.join(&clinic.visit_id).await;
        patient_tab.joined().await;
        let mut clinician_tab = Socket::hello(clinician_node, &clinic.clinician).await;
        clinician_tab.join(&clinic.visit_id).await;
        clinician_tab.joined().await;
        let mut call = Self {
            patient,
            clinician,
            patient_chat,
            clinician_chat,
            patient_tab,
            clinician_tab,
            patient_id,
            said: 0,
        };
        call.talk().await;
        call
    }

    /// One message each way over the data channel, peer to peer.
    pub async fn talk(&mut self) {
        self.said += 1;
        let question = format!("clinician {}", self.said);
        self.clinician_chat.send(&question).await;
        assert_eq!(self.patient_chat.receive().await, question);
        let answer = format!("patient {}", self.said);
        self.patient_chat.send(&answer).await;
        assert_eq!(self.clinician_chat.receive().await, answer);
    }

    pub async fn hang_up(self) {
        drop((self.patient_chat, self.clinician_chat));
        self.clinician.close().await;
        self.patient.close().await;
    }
}

/// Frames the socket had queued before the answer to a `ping`.
pub async fn heard_until_pong(socket: &mut Socket) -> Vec<ServerMessage> {
    socket.send(&ClientMessage::Ping).await;
    within("a pong", async {
        let mut heard = Vec::new();
        loop {
            match socket.next().await.expect("the socket stays open") {
                ServerMessage::Pong => return heard,
                other => heard.push(other),
            }
        }
    })
    .await
}

/// Sends `candidate` frames from `from` to `to` until one is relayed, for
/// at most `bound`; frames other than the probes are returned, in order,
/// so a test can check what else the sockets heard meanwhile.
pub async fn relay_recovers(
    from: &mut Socket,
    to: &mut Socket,
    bound: Duration,
) -> Vec<ServerMessage> {
    let mut heard = Vec::new();
    let mut probe = 0_u32;
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        probe += 1;
        let mut candidate = serde_json::Map::new();
        candidate.insert("candidate".into(), json!(format!("probe {probe}")));
        from.send(&ClientMessage::Candidate {
            to: to.participant_id.clone(),
            candidate,
        })
        .await;
        // An answer comes back either way: the relayed probe at `to`, or
        // an error at `from` (`not_in_room`, `unavailable`); silence is a
        // failed try too, while the deadline lasts.
        let outcome = tokio::time::timeout(PROBE, async {
            loop {
                tokio::select! {
                    frame = to.next() => match frame.expect("the receiving socket stays open") {
                        ServerMessage::Candidate { candidate, .. }
                            if candidate.get("candidate") == Some(&json!(format!("probe {probe}"))) =>
                            return None,
                        ServerMessage::Candidate { .. } => {}
                        other => heard.push(other),
                    },
                    frame = from.next() => match frame.expect("the sending socket stays open") {
                        ServerMessage::Error { code, .. } => return Some(Some(code)),
                        other => heard.push(other),
                    },
                }
            }
        })
        .await
        .unwrap_or(Some(None));
        match outcome {
            None => return heard,
            Some(None) => assert!(
                tokio::time::Instant::now() < deadline,
                "relay across nodes did not recover within {bound:?} (probes unanswered)"
            ),
            Some(Some(code)) => {
                assert!(
                    matches!(code, ErrorCode::NotInRoom | ErrorCode::Unavailable),
                    "relay refused with {code:?}"
                );
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "relay across nodes did not recover within {bound:?} (last: {code:?})"
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }
}
