//! Calls end to end: two real webrtc-rs peers, a patient and a clinician,
//! each with its own socket, negotiate through Bedside's signaling and then
//! talk directly — on one node, and across two nodes sharing a database and
//! Redis.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, ada, spawn_app, spawn_app_on, spawn_app_with, within};
use crate::peers::{Manner, Media, Peer, Signal, receive_rtp};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A booked and checked-in visit, with the clinician who will admit it.
struct Booked {
    visit_id: String,
    patient_token: String,
    clinician: String,
}

/// Opens a queue, signs a clinician in, books a visit for a new patient and
/// checks it in, all through the API of `app`.
async fn book_waiting_visit(app: &TestApp) -> Booked {
    let clinician = app.staff_token("dr.grey", "clinician").await;
    let admin = app.admin_token().await;
    let response = app
        .post(
            "/api/v1/queues",
            Some(&admin),
            &json!({"name": "Video visits"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create the queue");
    let queue: Value = response.json().await.expect("queue JSON");
    let patient = app.create_patient(&clinician, &ada()).await;
    let body = json!({"patient_id": patient["id"], "queue_id": queue["id"], "reason": "Rash"});
    let response = app.post("/api/v1/visits", Some(&clinician), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "book the visit");
    let visit: Value = response.json().await.expect("visit JSON");
    let visit_id = visit["id"].as_str().expect("visit id").to_owned();
    let patient_token = visit["patient_token"]
        .as_str()
        .expect("patient token")
        .to_owned();
    let response = app
        .post(
            &format!("/api/v1/visits/{visit_id}/check-in"),
            Some(&patient_token),
            &json!({"consent_to_telehealth": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "check in");
    Booked {
        visit_id,
        patient_token,
        clinician,
    }
}

async fn admit(app: &TestApp, booked: &Booked) {
    let path = format!("/api/v1/visits/{}/admit", booked.visit_id);
    let response = app.post(&path, Some(&booked.clinician), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "admit the visit");
}

/// Fails, rather than skips, when the shared Redis is not there.
async fn require_redis() {
    let client = redis::Client::open(REDIS_URL).expect("a Redis URL");
    let mut connection = within(
        "Redis at 127.0.0.1:6379",
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|e| panic!("Redis must be running at {REDIS_URL} for two-node calls: {e}"));
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .expect("Redis answers PING");
    assert_eq!(pong, "PONG");
}

/// Both directions of the data channel, then closes both peers.
async fn talk_and_hang_up(mut clinician: Peer, mut patient: Peer) {
    let mut clinician_chat = clinician.open_channel().await;
    let mut patient_chat = patient.open_channel().await;
    clinician_chat.send("How are you feeling?").await;
    assert_eq!(patient_chat.receive().await, "How are you feeling?");
    patient_chat.send("Itchy, mostly.").await;
    assert_eq!(clinician_chat.receive().await, "Itchy, mostly.");
    drop((clinician_chat, patient_chat));
    clinician.close().await;
    patient.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_and_a_clinician_connect_through_bedside_and_exchange_data_and_video() {
    let app = spawn_app().await;
    let booked = book_waiting_visit(&app).await;
    admit(&app, &booked).await;

    // The clinician is in the room first, so it meets the patient by `peer_joined`.
    let mut clinician_signal = Signal::hello(&app, &booked.clinician).await;
    clinician_signal.join(&booked.visit_id).await;
    let joined = clinician_signal.expect("joined").await;
    assert_eq!(joined["participants"], json!([]));
    let clinician = Peer::start(
        clinician_signal,
        Manner::Impolite,
        Media {
            data_channel: true,
            video: true,
        },
        None,
    )
    .await;

    let mut patient_signal = Signal::hello(&app, &booked.patient_token).await;
    patient_signal.join(&booked.visit_id).await;
    let joined = patient_signal.expect("joined").await;
    assert_eq!(joined["participants"][0]["role"], "clinician");
    let mut patient = Peer::start(patient_signal, Manner::Polite, Media::default(), None).await;

    let mut clinician = clinician;
    clinician.connected().await;
    patient.connected().await;

    // Video: RTP from the clinician's VP8 track arrives at the patient.
    let (ssrc, payload_type, sending) = clinician.send_video(300).await;
    let track = patient.remote_track().await;
    let packets = receive_rtp(track, 30).await;
    assert!(
        packets
            .iter()
            .all(|&(pt, from)| pt == payload_type && from == ssrc),
        "every packet carries the negotiated VP8 payload type and the sender's SSRC: {packets:?}"
    );
    sending.abort();

    talk_and_hang_up(clinician, patient).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_connects_when_the_patient_and_the_clinician_are_on_different_nodes() {
    require_redis().await;
    let node_a = spawn_app_with(|source| source.set("REDIS_URL", REDIS_URL)).await;
    let url = node_a
        .db
        .as_ref()
        .expect("node A owns the database")
        .url
        .clone();
    let node_b = spawn_app_on(&url, |source| source.set("REDIS_URL", REDIS_URL)).await;
    let booked = book_waiting_visit(&node_a).await;

    // The patient waits on node A; the clinician admits on node B.
    let mut patient_signal = Signal::hello(&node_a, &booked.patient_token).await;
    patient_signal.join(&booked.visit_id).await;
    let waiting = patient_signal.expect("visit").await;
    assert_eq!(waiting["status"], "waiting");
    admit(&node_b, &booked).await;
    let joined = patient_signal.expect("joined").await;
    assert_eq!(joined["visit_id"], booked.visit_id.as_str());
    let patient = Peer::start(patient_signal, Manner::Polite, Media::default(), None).await;

    // The clinician on node B meets the patient in `joined` and offers.
    let mut clinician_signal = Signal::hello(&node_b, &booked.clinician).await;
    clinician_signal.join(&booked.visit_id).await;
    let joined = clinician_signal.expect("joined").await;
    assert_eq!(
        joined["participants"][0]["role"], "patient",
        "node B sees the patient held by node A: {joined}"
    );
    let mut clinician = Peer::start(
        clinician_signal,
        Manner::Impolite,
        Media {
            data_channel: true,
            video: false,
        },
        Some(joined),
    )
    .await;

    let mut patient = patient;
    clinician.connected().await;
    patient.connected().await;
    talk_and_hang_up(clinician, patient).await;
    node_b.stop().await;
    node_a.stop().await;
}
