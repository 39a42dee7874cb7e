//! PostgreSQL stopped with `-m immediate` under a running node: the API and
//! `/readyz` answer 503 with `Retry-After` within seconds, a socket's
//! `hello` hears `unavailable` and close 1013 (never 1008, which a browser
//! takes as a refused token), and once PostgreSQL is back everything works
//! again without restarting Bedside.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::app::{App, Heard, TRY_AGAIN_LATER, eventually, free_port, within};
use crate::needs;

/// A private PostgreSQL on its own port and folder, run as the `postgres`
/// user (it refuses root); stopped at once when dropped.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Postgres {
    fn start(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("a folder for PostgreSQL");
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path()));
        let port = free_port();
        let postgres = Self { bin, dir, port };
        postgres.as_postgres("initdb", |c| {
            c.args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
                .arg(postgres.data());
        });
        postgres.up();
        postgres
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.as_postgres("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "start"]);
        });
    }

    /// Stops at once, as a crash would: no client is told.
    fn stop_immediately(&self) {
        self.as_postgres("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"]);
        });
    }

    fn as_postgres(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program));
        args(&mut command);
        run(&mut command);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn missing() -> Option<String> {
    needs::root()
        .or_else(|| needs::postgres_bin().err())
        .or_else(|| {
            (!Path::new("/usr/sbin/runuser").exists() && !Path::new("/sbin/runuser").exists())
                .then(|| "runuser is not installed".to_owned())
        })
}

/// How long an answer may take while the store is away (the acquire
/// timeout is set to 2 s below).
const QUICKLY: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_postgresql_outage_answers_503_quickly_and_recovers_without_restarting_bedside() {
    let Some(()) = needs::or_skip("the PostgreSQL outage test", missing()) else {
        return;
    };
    let postgres = Postgres::start(needs::postgres_bin().expect("checked above"));
    let app = App::start(&postgres.url(), |source| {
        source.set("BEDSIDE_STORE_TIMEOUT_SECONDS", "2")
    })
    .await;
    let clinic = app.clinic().await;
    let visit = clinic.book(&app, "Ada").await;
    let patient = visit["patient_token"]
        .as_str()
        .expect("patient token")
        .to_owned();

    postgres.stop_immediately();

    let response = within(QUICKLY, "the API during the outage", async {
        app.get("/api/v1/queues", Some(&clinic.admin)).await
    })
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let fhir = within(QUICKLY, "FHIR during the outage", async {
        app.get("/fhir/Patient?name=Ada", Some(&clinic.admin)).await
    })
    .await;
    assert_eq!(fhir.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(fhir.headers().contains_key("retry-after"));
    let outcome: Value = fhir.json().await.expect("an OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "transient", "{outcome}");
    let ready = within(
        QUICKLY,
        "/readyz during the outage",
        app.get("/readyz", None),
    )
    .await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("readiness JSON");
    assert_eq!(ready["store"], "down", "{ready}");

    // A signed patient token cannot be checked now: "retry", not "refused".
    let mut socket = app.hello(&patient).await;
    match socket.next(QUICKLY).await {
        Heard::Frame(frame) => {
            assert_eq!(frame["type"], "error", "{frame}");
            assert_eq!(frame["code"], "unavailable", "{frame}");
        }
        Heard::Closed(code) => panic!("closed ({code:?}) without saying why"),
    }
    assert_eq!(socket.closed(QUICKLY).await, Some(TRY_AGAIN_LATER));

    postgres.up();

    eventually(Duration::from_secs(20), "the API to work again", || async {
        let response = app.get("/api/v1/queues", Some(&clinic.admin)).await;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let mut socket = app.hello(&patient).await;
    socket.frame("welcome", QUICKLY).await;
}
