//! Calls end to end: two real webrtc-rs peers, a patient and a clinician,
//! each with its own socket, negotiate through Bedside's signaling and then
//! talk directly — on one node, and across two nodes sharing a database and
//! Redis.

use signaling::protocol::{Role, VisitId, VisitStatus};

use crate::clinic::book_waiting_visit;
use crate::helpers::{spawn_app, spawn_app_on, spawn_app_with, within};
use crate::peers::{Manner, Media, Peer, receive_rtp};
use crate::socket::Socket;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

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
    let booked = book_waiting_visit(&app, "dr.grey").await;
    booked.admit(&app).await;

    // The clinician is in the room first, so it meets the patient by `peer_joined`.
    let mut clinician_socket = Socket::hello(&app, &booked.clinician).await;
    clinician_socket.join(&booked.visit.id).await;
    let (_, others) = clinician_socket.joined().await;
    assert!(others.is_empty(), "{others:?}");
    let clinician = Peer::start(
        clinician_socket,
        Manner::Impolite,
        Media {
            data_channel: true,
            video: true,
        },
        &[],
    )
    .await;

    let mut patient_socket = Socket::hello(&app, &booked.visit.patient_token).await;
    patient_socket.join(&booked.visit.id).await;
    let (_, others) = patient_socket.joined().await;
    assert_eq!(others[0].role, Role::Clinician);
    let mut patient = Peer::start(patient_socket, Manner::Polite, Media::default(), &[]).await;

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
    let booked = book_waiting_visit(&node_a, "dr.grey").await;

    // The patient waits on node A; the clinician admits on node B.
    let mut patient_socket = Socket::hello(&node_a, &booked.visit.patient_token).await;
    patient_socket.join(&booked.visit.id).await;
    let (_, waiting) = patient_socket.visit_update(|_| true).await;
    assert_eq!(waiting.status, VisitStatus::Waiting);
    booked.admit(&node_b).await;
    let (visit_id, _) = patient_socket.joined().await;
    assert_eq!(visit_id, VisitId::new(&booked.visit.id));
    let patient = Peer::start(patient_socket, Manner::Polite, Media::default(), &[]).await;

    // The clinician on node B meets the patient in `joined` and offers.
    let mut clinician_socket = Socket::hello(&node_b, &booked.clinician).await;
    clinician_socket.join(&booked.visit.id).await;
    let (_, others) = clinician_socket.joined().await;
    assert_eq!(
        others[0].role,
        Role::Patient,
        "node B sees the patient held by node A: {others:?}"
    );
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
    talk_and_hang_up(clinician, patient).await;
    node_b.stop().await;
    node_a.stop().await;
}
