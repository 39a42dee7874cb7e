//! A billing webhook receiver that accepts connections and never answers:
//! closed consults still get their claims within seconds, deliveries are
//! attempted side by side rather than one after another, and each is tried
//! again after its attempt times out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedside::config::Config;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::app::{App, Clinic, eventually};

/// Attempts seen, by `X-Bedside-Delivery` id.
pub type Attempts = Arc<Mutex<HashMap<String, usize>>>;

/// Reads each request's head, counts it, and then holds the connection
/// open without a word until the test ends.
pub async fn hanging_receiver() -> (String, Attempts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let attempts = Attempts::default();
    let seen = attempts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if let Some(id) = head
                    .lines()
                    .find_map(|line| line.strip_prefix("x-bedside-delivery:"))
                {
                    *seen
                        .lock()
                        .unwrap()
                        .entry(id.trim().to_owned())
                        .or_default() += 1;
                }
                // Never answer; keep reading until the sender gives up.
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    (url, attempts)
}

async fn claim_of(app: &App, clinic: &Clinic, visit: &str) -> Option<String> {
    let visit: Value = app
        .get(&format!("/api/v1/visits/{visit}"), Some(&clinic.admin))
        .await
        .json()
        .await
        .ok()?;
    visit["claim_id"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_webhook_receiver_that_never_answers_holds_up_no_claim_and_is_retried() {
    let dir = tempfile::tempdir().expect("a folder");
    let url = format!("sqlite://{}/bedside.db", dir.path().display());
    let (hook, attempts) = hanging_receiver().await;
    let app = App::start(&url, |source| {
        Config::with_demo_defaults(&source)
            .set("BEDSIDE_BILLING_WEBHOOK_URL", hook)
            .set(
                "BEDSIDE_BILLING_WEBHOOK_SECRET",
                "a-secret-of-enough-length",
            )
            .set("BEDSIDE_BILLING_POLL_SECONDS", "1")
    })
    .await;
    let clinic = app.clinic().await;

    let first = clinic.close_a_consult(&app, "First").await;
    eventually(
        Duration::from_secs(10),
        "the first delivery to hang",
        || async { (!attempts.lock().unwrap().is_empty()).then_some(()) },
    )
    .await;

    // While that delivery hangs, new consults are billed at once.
    let others = [
        clinic.close_a_consult(&app, "Second").await,
        clinic.close_a_consult(&app, "Third").await,
    ];
    for visit in &others {
        eventually(
            Duration::from_secs(5),
            "a claim behind a hanging webhook",
            || claim_of(&app, &clinic, visit),
        )
        .await;
    }
    assert!(claim_of(&app, &clinic, &first).await.is_some());
    // Their deliveries do not wait for the first one to time out.
    eventually(
        Duration::from_secs(5),
        "three deliveries in flight at once",
        || async { (attempts.lock().unwrap().len() == 3).then_some(()) },
    )
    .await;
    // A hanging attempt times out (10 s) and is tried again after its backoff.
    eventually(
        Duration::from_secs(30),
        "a delivery to be retried",
        || async {
            attempts
                .lock()
                .unwrap()
                .values()
                .any(|&n| n >= 2)
                .then_some(())
        },
    )
    .await;
}
