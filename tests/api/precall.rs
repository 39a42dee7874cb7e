//! The pre-call check against the server's own WebRTC peer: a webrtc-rs
//! client plays the patient's browser (two data channels, an offer with
//! every candidate, the echo and upload side of the protocol), on loopback
//! and relay-only through a real coturn. The result is stored on the
//! visit, shown to staff and in the queue, and checks are limited.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use reqwest::StatusCode;
use rtc::data_channel::RTCDataChannelInit;
use serde_json::{Value, json};
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCIceServer,
    RTCSessionDescription,
};

use crate::clinic::{Clinic, consent};
use crate::helpers::{TestApp, assert_problem, spawn_app_with, within};
use crate::media::{Coturn, turn_source};
use crate::peers::{build_connection, turn_servers};

/// The server's peer stays on loopback, where the test client is.
pub fn loopback(source: bedside::config::Source) -> bedside::config::Source {
    source.set("BEDSIDE_PRECALL_UDP_ADDRS", "127.0.0.1:0")
}

struct Gathering(watch::Sender<bool>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathering {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.send(true);
        }
    }
}

/// The patient's side of a check: the browser's part, in webrtc-rs.
pub struct Client {
    pub pc: Arc<dyn PeerConnection>,
    control: Arc<dyn DataChannel>,
    probe: Arc<dyn DataChannel>,
    offer: String,
}

impl Client {
    /// A connection with both channels and an offer holding every candidate.
    /// With `relay`, only candidates through those TURN servers.
    pub async fn new(relay: Option<Vec<RTCIceServer>>) -> Self {
        let (gathered_tx, mut gathered) = watch::channel(false);
        let pc = build_connection(Arc::new(Gathering(gathered_tx)), relay).await;
        let control = pc
            .create_data_channel("precall-control", None)
            .await
            .expect("the control channel");
        let unreliable = RTCDataChannelInit {
            ordered: false,
            max_retransmits: Some(0),
            ..Default::default()
        };
        let probe = pc
            .create_data_channel("precall-probe", Some(unreliable))
            .await
            .expect("the probe channel");
        let offer = pc.create_offer(None).await.expect("an offer");
        pc.set_local_description(offer).await.expect("offer set");
        within("ICE gathering", gathered.wait_for(|done| *done))
            .await
            .expect("gathering ends");
        let offer = pc.local_description().await.expect("the offer").sdp;
        Self {
            pc,
            control,
            probe,
            offer,
        }
    }

    pub async fn post(&self, app: &TestApp, visit: &str, token: &str) -> reqwest::Response {
        app.post(
            &format!("/api/v1/visits/{visit}/precall"),
            Some(token),
            &json!({"type": "offer", "sdp": self.offer}),
        )
        .await
    }

    /// Posts the offer, sets the answer, and plays the browser's side until
    /// the server sends its result.
    async fn check(self, app: &TestApp, visit: &str, token: &str) -> (Value, Value) {
        let response = self.post(app, visit, token).await;
        assert_eq!(response.status(), StatusCode::CREATED, "start the check");
        let started: Value = response.json().await.expect("started JSON");
        assert_eq!(started["answer"]["type"], "answer");
        let answer = RTCSessionDescription::answer(
            started["answer"]["sdp"].as_str().expect("sdp").to_owned(),
        )
        .expect("an answer");
        self.pc
            .set_remote_description(answer)
            .await
            .expect("the answer is set");
        let result = within("the check's result", self.browse()).await;
        self.pc.close().await.expect("the connection closes");
        (started, result)
    }

    /// Echoes pings, uploads when asked, returns the result.
    async fn browse(&self) -> Value {
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        for (which, channel) in [("control", &self.control), ("probe", &self.probe)] {
            let (channel, tx) = (Arc::clone(channel), tx.clone());
            tokio::spawn(async move {
                while let Some(event) = channel.poll().await {
                    if tx.send((which, event)).is_err() {
                        break;
                    }
                }
            });
        }
        while let Some((which, event)) = events.recv().await {
            let DataChannelEvent::OnMessage(message) = event else {
                continue;
            };
            if which == "probe" {
                let text = String::from_utf8(message.data.to_vec()).expect("pings are text");
                let _ = self.probe.send_text(&text).await;
                continue;
            }
            let command: Value = serde_json::from_slice(&message.data).expect("commands are JSON");
            match command["t"].as_str() {
                Some("upload") => {
                    let millis = command["ms"].as_u64().expect("upload ms");
                    let probe = Arc::clone(&self.probe);
                    let control = Arc::clone(&self.control);
                    tokio::spawn(async move {
                        let until = tokio::time::Instant::now() + Duration::from_millis(millis);
                        let chunk = BytesMut::from(&[7_u8; 1200][..]);
                        while tokio::time::Instant::now() < until {
                            if probe.send(chunk.clone()).await.is_err() {
                                break;
                            }
                        }
                        let _ = control.send_text(r#"{"t":"upload_done"}"#).await;
                    });
                }
                Some("result") => {
                    let _ = self.control.send_text(r#"{"t":"bye"}"#).await;
                    return command["result"].clone();
                }
                other => panic!("an unknown command {other:?} in {command}"),
            }
        }
        panic!("the channels closed before the result");
    }
}

pub async fn latest(app: &TestApp, visit: &str, token: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/visits/{visit}/precall"), Some(token))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_checks_the_network_and_the_clinician_sees_the_result_before_admitting() {
    let app = spawn_app_with(loopback).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Grace").await;
    let token = &visit.patient_token;
    let response = latest(&app, &visit.id, &clinic.clinician).await;
    assert_problem(response, StatusCode::NOT_FOUND).await;

    let (started, result) = Client::new(None).await.check(&app, &visit.id, token).await;
    assert_eq!(result["id"], started["id"]);
    assert_eq!(result["visit_id"], visit.id);
    assert_eq!(result["gathered"], json!(["host"]));
    assert_eq!(result["path"], "host", "a loopback host pair: {result}");
    let rtt = result["rtt_ms"].as_f64().expect("a round trip");
    assert!((0.0..200.0).contains(&rtt), "loopback round trip {rtt} ms");
    assert_eq!(result["loss_percent"], 0.0, "loopback loses nothing");
    let upload = result["upload_kbps"].as_i64().expect("an upload rate");
    assert!(upload > 300, "loopback carries {upload} kbit/s");
    let expected = if upload >= 1000 { "good" } else { "fair" };
    assert_eq!(result["verdict"], expected, "{result}");
    assert!(!result["advice"].as_str().expect("advice").is_empty());

    // Stored: the clinician and the patient read the same result, the
    // queue shows the verdict, and both the check and the reads are audited.
    for reader in [clinic.clinician.as_str(), token] {
        let response = latest(&app, &visit.id, reader).await;
        assert_eq!(response.status(), StatusCode::OK);
        let stored: Value = response.json().await.expect("result JSON");
        assert_eq!(stored, result);
    }
    let queue = app
        .get_json(
            &format!("/api/v1/queues/{}", clinic.queue_id),
            &clinic.clinician,
        )
        .await;
    let entry = queue["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["visit_id"] == visit.id.as_str())
        .expect("the visit is queued");
    assert_eq!(entry["network"], result["verdict"]);
    let audit = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"visit.precall"), "{actions:?}");
    assert!(actions.contains(&"visit.precall.read"), "{actions:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_browser_is_checked_through_coturn() {
    let coturn = Coturn::start().await;
    let app = spawn_app_with(|source| loopback(turn_source(&coturn.url())(source))).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Katherine").await;
    let token = &visit.patient_token;
    let plan = app.media_plan(&visit, token).await;
    let relay = turn_servers(&plan["ice_servers"]);
    assert_eq!(relay.len(), 1, "one TURN server in {plan}");

    let client = Client::new(Some(relay)).await;
    let (_, result) = client.check(&app, &visit.id, token).await;
    assert_eq!(result["gathered"], json!(["relay"]));
    assert_eq!(result["path"], "relay", "{result}");
    assert_ne!(result["verdict"], "failed");
    app.stop().await;
    coturn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_never_connects_gets_a_failed_verdict_with_advice() {
    let app = spawn_app_with(loopback).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Dorothy").await;
    let token = &visit.patient_token;
    let client = Client::new(None).await;
    let response = client.post(&app, &visit.id, token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The browser goes away without taking the answer.
    client.pc.close().await.expect("closed");

    let stored = within("the failed result to be stored", async {
        loop {
            let response = latest(&app, &visit.id, token).await;
            if response.status() == StatusCode::OK {
                return response.json::<Value>().await.expect("result JSON");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    assert_eq!(stored["verdict"], "failed");
    assert_eq!(stored["path"], Value::Null);
    assert_eq!(stored["gathered"], json!(["host"]));
    assert!(
        stored["advice"]
            .as_str()
            .unwrap()
            .contains("another network")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_beyond_the_limit_wait_with_503_until_one_finishes() {
    let app = spawn_app_with(|s| loopback(s).set("BEDSIDE_PRECALL_MAX", "1")).await;
    let clinic = Clinic::open(&app).await;
    let first = clinic.waiting(&app, "Ada").await;
    let second = clinic.waiting(&app, "Hedy").await;

    let running = Client::new(None).await;
    let response = running.post(&app, &first.id, &first.patient_token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let waiting = Client::new(None).await;
    let response = waiting.post(&app, &second.id, &second.patient_token).await;
    assert_eq!(response.headers()["retry-after"], "5");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;

    // The first browser leaves; once its check has ended, the second runs.
    running.pc.close().await.expect("closed");
    within("the first check to end", async {
        while latest(&app, &first.id, &first.patient_token).await.status() != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let (_, result) = waiting.check(&app, &second.id, &second.patient_token).await;
    assert_eq!(result["path"], "host");
    app.stop().await;
}

#[tokio::test]
async fn only_the_visits_patient_checks_and_a_bad_offer_names_its_field() {
    let app = spawn_app_with(loopback).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Barbara").await;
    let other = clinic.book(&app, "Frances").await;
    let path = format!("/api/v1/visits/{}/precall", visit.id);
    let offer = json!({"type": "offer", "sdp": "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"});

    for token in [clinic.clinician.as_str(), other.patient_token.as_str()] {
        let response = app.post(&path, Some(token), &offer).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app.post(&path, None, &offer).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let biller = app.staff_token("biller", "billing").await;
    assert_problem(
        latest(&app, &visit.id, &biller).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        latest(&app, &visit.id, &other.patient_token).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let token = &visit.patient_token;
    for (body, field) in [
        (json!({"type": "answer", "sdp": offer["sdp"]}), "type"),
        (json!({"type": "offer", "sdp": "v=0\r\n"}), "sdp"),
        (offer.clone(), "sdp"),
        (
            json!({"type": "offer", "sdp": "x".repeat(70_000) + "m=application"}),
            "sdp",
        ),
    ] {
        let response = app.post(&path, Some(token), &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let response = app
        .post(&path, Some(token), &json!({"type": "offer"}))
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    // A consult under way is past its pre-call check.
    let response = app.check_in(&visit, &consent()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.admit(&visit, &clinic.clinician).await;
    assert_eq!(response.status(), StatusCode::OK);
    let client = Client::new(None).await;
    let response = client.post(&app, &visit.id, token).await;
    assert_problem(response, StatusCode::CONFLICT).await;
    client.pc.close().await.expect("closed");
    app.stop().await;
}
