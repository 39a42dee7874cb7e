//! `TestApp`: the server started in-process on port 0 with a fresh store —
//! a SQLite file in a temporary folder, or a fresh PostgreSQL database when
//! `BEDSIDE_TEST_STORE=postgres` — and what every test file shares: JSON
//! answers checked, FHIR validated, bounded waits, free ports. Its typed
//! helpers, one per route, are in `app.rs`.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bedside::config::{Config, Source};
use bedside::model::clock::Clock;
use bedside::store::Store;
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const STAFF_PASSWORD: &str = "staff-password-1";

/// Which backend this run of the suite uses.
pub fn postgres_wanted() -> bool {
    match std::env::var("BEDSIDE_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("BEDSIDE_TEST_STORE must be sqlite or postgres, not {other}"),
    }
}

/// A fresh, empty database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("BEDSIDE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    pub async fn new() -> Self {
        if postgres_wanted() {
            use sqlx::Connection;
            let admin = postgres_admin_url();
            let name = format!("bedside_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL must be running for BEDSIDE_TEST_STORE=postgres: {e}")
                });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create the test database");
            let (base, _) = admin
                .rsplit_once('/')
                .expect("the PostgreSQL URL names a database");
            Self {
                url: format!("{base}/{name}"),
                _dir: None,
                postgres_name: Some(name),
            }
        } else {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let url = format!("sqlite://{}/bedside.db", dir.path().display());
            Self {
                url,
                _dir: Some(dir),
                postgres_name: None,
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a thread of its own.
        let admin = postgres_admin_url();
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

#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Store,
    /// The app's clock: a test moves it to reach an expiry.
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub db: Option<TestDb>,
}

/// The app on a fresh store, with `admin` / `ADMIN_PASSWORD` as first admin.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|source| source).await
}

/// The app with extra configuration.
pub async fn spawn_app_with(configure: impl FnOnce(Source) -> Source) -> TestApp {
    let db = TestDb::new().await;
    let mut app = spawn_app_on(&db.url, configure).await;
    app.db = Some(db);
    app
}

/// The app on an existing database.
pub async fn spawn_app_on(url: &str, configure: impl FnOnce(Source) -> Source) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let source = Source::default()
        .set("DATABASE_URL", url)
        .set("BEDSIDE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .set("BEDSIDE_PUBLIC_URL", format!("http://{addr}"))
        // Stopping closes sockets at once; draining has tests of its own.
        .set("BEDSIDE_DRAIN_SECONDS", "0");
    let config = Config::from_source(&configure(source)).expect("test config is valid");
    let clock = Clock::system();
    let state = bedside::build_state_with_clock(config, clock.clone())
        .await
        .expect("the app starts");
    let store = state.store.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(bedside::serve(state, listener, async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        store,
        clock,
        shutdown: Some(tx),
        server: Some(server),
        db: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    /// Stops the server and starts another on the same database, which the
    /// new app then owns: a restart, with `configure` for the new process.
    pub async fn restart(mut self, configure: impl FnOnce(Source) -> Source) -> TestApp {
        let db = self.db.take().expect("the app owns its database");
        self.stop().await;
        let mut app = spawn_app_on(&db.url, configure).await;
        app.db = Some(db);
        app
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn ada() -> Value {
    json!({
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": "1985-12-10",
        "sex": "female",
        "email": "ada@example.org",
        "phone": "+1 217 555 0100",
        "address": {"line": "12 Elm Street", "city": "Springfield", "state": "IL", "postal_code": "62701-1234"},
        "insurance": {"payer_id": "DEMOPAYER", "payer_name": "Demo Health Plan", "member_id": "M123", "group_number": "G1"}
    })
}

/// Asserts a problem+json answer with `status`, returning its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// Asserts an answer with `status`, returning its JSON body; the body is
/// shown when the status is not the one expected.
pub async fn assert_json<T: DeserializeOwned>(response: Response, status: StatusCode) -> T {
    let url = response.url().clone();
    let got = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{url}: not the JSON expected ({e}): {text}"))
}

/// Validates a FHIR R4 resource with `tests/fhir_validate.py` (fhir.resources'
/// models), then with the two Node validators; fails, never skips, when a
/// validator is missing.
pub fn assert_valid_fhir(resource: &Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fhir_validate.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(resource.to_string().as_bytes())
        .expect("write the resource");
    let output = child.wait_with_output().expect("the validator runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "fhir.resources is required: {stderr}"
    );
    assert!(
        output.status.success(),
        "not valid FHIR R4 ({}): {stderr}\n{resource:#}",
        resource["resourceType"]
    );
    assert_valid_fhir_node(resource);
}

/// Validates a FHIR R4 resource with `tests/fhir_validate.mjs`: @medplum/core's
/// `validateResource` and FHIR.js, both independent of fhir.resources; fails,
/// never skips, when they are missing (`npm ci` in `tests/fhir-node`).
pub fn assert_valid_fhir_node(resource: &Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fhir_validate.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (npm ci in tests/fhir-node)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(resource.to_string().as_bytes())
        .expect("write the resource");
    let output = child.wait_with_output().expect("the validators run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "@medplum/core and FHIR.js are required: {stderr}"
    );
    assert!(
        output.status.success(),
        "not valid FHIR R4 ({}): {stderr}\n{resource:#}",
        resource["resourceType"]
    );
}

/// The longest any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future` for at most [`WAIT`], failing the test with `what`.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
        let port = udp.local_addr().expect("its address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until `n` sessions of this test's database wait for a lock.
pub async fn lock_waiters(app: &TestApp, n: i64, what: &str) {
    for _ in 0..1_000 {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        if waiting >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} never waited for a lock");
}
