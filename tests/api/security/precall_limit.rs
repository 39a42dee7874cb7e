//! One pre-call check at a time per visit, so one patient cannot take every
//! slot; and the WebRTC crates' warnings stay out of the default log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tracing_subscriber::layer::SubscriberExt;

use crate::clinic::Clinic;
use crate::helpers::{assert_problem, spawn_app_with, within};
use crate::precall::{Client, latest, loopback};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_runs_one_pre_call_check_at_a_time() {
    let app = spawn_app_with(|s| loopback(s).set("BEDSIDE_PRECALL_MAX", "2")).await;
    let clinic = Clinic::open(&app).await;
    let ada = clinic.waiting(&app, "Ada").await;
    let hedy = clinic.waiting(&app, "Hedy").await;

    let running = Client::new(None).await;
    let response = running.post(&app, &ada.id, &ada.patient_token).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // The same patient again, while the first check runs: refused, with when.
    let again = Client::new(None).await;
    let response = again.post(&app, &ada.id, &ada.patient_token).await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already running for this visit")
    );

    // Another patient still gets the slot left.
    let other = Client::new(None).await;
    let response = other.post(&app, &hedy.id, &hedy.patient_token).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Once the first check ended, the patient may run another.
    running.pc.close().await.expect("closed");
    within("the first check to end", async {
        while latest(&app, &ada.id, &ada.patient_token).await.status() != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let response = again.post(&app, &ada.id, &ada.patient_token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    other.pc.close().await.expect("closed");
    again.pc.close().await.expect("closed");
    app.stop().await;
}

/// Keeps the targets of the events that pass the filter.
#[derive(Clone, Default)]
struct Targets(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Targets {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(event.metadata().target().to_owned());
    }
}

#[test]
fn the_default_log_keeps_our_warnings_and_drops_the_webrtc_crates_warnings() {
    let targets = Targets::default();
    let subscriber = tracing_subscriber::registry()
        .with(targets.clone())
        .with(tracing_subscriber::EnvFilter::new(bedside::LOG_FILTER));
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(target: "rtc_ice::agent", "pair failed");
        tracing::warn!(target: "webrtc::peer_connection", "ice failed");
        tracing::info!(target: "rtc_dtls::conn", "retransmit");
        tracing::warn!(target: "bedside::media::precall", "could not store a check");
        tracing::error!(target: "webrtc::peer_connection", "broken");
    });
    assert_eq!(
        *targets.0.lock().unwrap(),
        ["bedside::media::precall", "webrtc::peer_connection"]
    );
}
