//! SIGTERM on a `bedside` process: its sockets hear `reconnect {after_ms}`
//! and are closed (1012) soon after, new requests and sockets get 503 with
//! `Retry-After`, `/readyz` says `draining`, and the process exits within
//! the drain window, even with a webhook delivery hanging at the time.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::process::Command;

use crate::app::{ADMIN_PASSWORD, App, SERVICE_RESTART, eventually, free_port, within};
use crate::webhooks::hanging_receiver;

/// `BEDSIDE_DRAIN_SECONDS` for the process under test.
const DRAIN_SECONDS: u64 = 4;

#[tokio::test]
async fn sigterm_sends_sockets_elsewhere_refuses_new_work_and_exits_within_the_drain_window() {
    let dir = tempfile::tempdir().expect("a folder");
    let port = free_port();
    let (hook, attempts) = hanging_receiver().await;
    let mut node = Command::new(env!("CARGO_BIN_EXE_bedside"))
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/bedside.db", dir.path().display()),
        )
        .env("BEDSIDE_ADDR", format!("127.0.0.1:{port}"))
        .env("BEDSIDE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("BEDSIDE_DRAIN_SECONDS", DRAIN_SECONDS.to_string())
        .env("BEDSIDE_BILLING_POLL_SECONDS", "1")
        .env("BEDSIDE_BILLING_WEBHOOK_URL", hook)
        .env(
            "BEDSIDE_BILLING_WEBHOOK_SECRET",
            "a-secret-of-enough-length",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("bedside starts");
    let app = App::at(format!("127.0.0.1:{port}").parse().expect("an address"));
    eventually(Duration::from_secs(30), "the node to be ready", || async {
        let ready = app.client.get(app.url("/readyz")).send().await.ok()?;
        (ready.status() == StatusCode::OK).then_some(())
    })
    .await;
    let clinic = app.clinic().await;
    clinic.close_a_consult(&app, "Ada").await;
    // Its claim's webhook delivery now waits on a receiver that never answers.
    eventually(Duration::from_secs(10), "a delivery to hang", || async {
        (!attempts.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    let admin = clinic.admin.clone();
    let mut socket = app.hello(&admin).await;
    socket.frame("welcome", Duration::from_secs(5)).await;

    let pid = node.id().expect("a running process").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());

    let reconnect = socket.frame("reconnect", Duration::from_secs(5)).await;
    let after_ms = reconnect["after_ms"].as_u64().expect("after_ms");
    assert!(after_ms <= DRAIN_SECONDS * 1000 / 2, "{reconnect}");

    // Draining: nothing new is taken, and the probes say so.
    let refused = app.get("/api/v1/queues", Some(&admin)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("readiness JSON");
    assert_eq!(ready["status"], "draining");
    let url = format!("ws://127.0.0.1:{port}/ws");
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        other => panic!("a new socket was not refused: {other:?}"),
    }

    // The socket is let go a moment after its delay, kept for resume (1012).
    assert_eq!(
        socket
            .closed(Duration::from_millis(after_ms) + Duration::from_secs(5))
            .await,
        Some(SERVICE_RESTART)
    );
    // Neither the hanging delivery (10 s per attempt) nor the billing loop
    // holds the exit beyond the sockets' drain.
    let exit = within(
        Duration::from_secs(DRAIN_SECONDS + 4),
        "the node to exit",
        node.wait(),
    )
    .await
    .expect("the exit status");
    assert!(exit.success(), "{exit:?}");
}
