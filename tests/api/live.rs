//! Live updates over the socket: a waiting patient hears its place and its
//! admission; staff watching a queue hear every change; presence follows
//! the consult.

use serde_json::{Value, json};

use crate::clinic::{Clinic, Socket, close_body, consent};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_waiting_patient_hears_its_place_change_and_its_admission() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let first = clinic.waiting(&app, "Ada").await;
    let second = clinic.book(&app, "Bob").await;

    let (mut socket, welcome) = Socket::connect(&app, &second.patient_token).await;
    assert_eq!(welcome["role"], "patient");
    socket
        .send(json!({"type": "join", "visit_id": second.id}))
        .await;
    let scheduled = socket.next_of("visit").await;
    assert_eq!(scheduled["status"], "scheduled");

    app.check_in(&second, &consent()).await;
    let place = socket
        .until(|f| f["type"] == "visit" && f["status"] == "waiting")
        .await;
    assert_eq!(place["position"], 2);
    assert!(place["estimated_wait_seconds"].as_i64().unwrap() > 0);

    app.admit(&first, &clinic.clinician).await;
    let moved = socket
        .until(|f| f["type"] == "visit" && f["position"] == 1)
        .await;
    assert_eq!(moved["status"], "waiting");

    app.admit(&second, &clinic.other_clinician).await;
    let admitted = socket
        .until(|f| f["type"] == "visit" && f["status"] == "in_consult")
        .await;
    assert_eq!(admitted["visit_id"], second.id);
}

#[tokio::test]
async fn staff_watching_a_queue_hear_each_change() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let (mut board, _) = Socket::connect(&app, &clinic.scheduler).await;
    board
        .send(json!({"type": "subscribe", "queue_id": clinic.queue_id}))
        .await;
    let snapshot = board.next_of("queue").await;
    assert_eq!(snapshot["entries"], json!([]));

    let visit = clinic.book(&app, "Ada").await;
    let booked = board.next_of("queue").await;
    assert_eq!(booked["entries"][0]["status"], "scheduled");
    app.check_in(&visit, &consent()).await;
    let waiting = board
        .until(|f| f["type"] == "queue" && f["entries"][0]["status"] == "waiting")
        .await;
    assert_eq!(waiting["entries"][0]["position"], 1);
    app.admit(&visit, &clinic.clinician).await;
    board
        .until(|f| f["type"] == "queue" && f["entries"][0]["status"] == "in_consult")
        .await;
    app.close(&visit, &clinic.clinician, &close_body()).await;
    board
        .until(|f| f["type"] == "queue" && f["entries"] == json!([]))
        .await;
}

#[tokio::test]
async fn a_patient_may_join_only_its_own_visit_and_billing_may_not_watch_queues() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mine = clinic.book(&app, "Ada").await;
    let theirs = clinic.book(&app, "Bob").await;
    let (mut socket, _) = Socket::connect(&app, &mine.patient_token).await;
    socket
        .send(json!({"type": "join", "visit_id": theirs.id}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "forbidden");
    socket
        .send(json!({"type": "subscribe", "queue_id": clinic.queue_id}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "forbidden");

    let billing = app.staff_token("bea", "billing").await;
    let (mut staff, _) = Socket::connect(&app, &billing).await;
    staff
        .send(json!({"type": "subscribe", "queue_id": clinic.queue_id}))
        .await;
    assert_eq!(staff.next_of("error").await["code"], "forbidden");
}

#[tokio::test]
async fn the_clinician_and_patient_meet_in_the_call_room_once_admitted() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    let (mut patient, _) = Socket::connect(&app, &visit.patient_token).await;
    patient
        .send(json!({"type": "join", "visit_id": visit.id}))
        .await;
    patient.next_of("visit").await;

    let (mut doctor, _) = Socket::connect(&app, &clinic.clinician).await;
    doctor
        .send(json!({"type": "join", "visit_id": visit.id}))
        .await;
    assert_eq!(
        doctor.next_of("error").await["code"],
        "forbidden",
        "not before admitting"
    );

    app.admit(&visit, &clinic.clinician).await;
    patient.until(|f| f["type"] == "joined").await;
    doctor
        .send(json!({"type": "join", "visit_id": visit.id}))
        .await;
    let joined = doctor.next_of("joined").await;
    let peers = joined["participants"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    let patient_peer = peers[0]["participant_id"].as_str().unwrap().to_owned();
    let doctor_peer = patient.next_of("peer_joined").await;
    assert_eq!(doctor_peer["role"], "clinician");

    doctor
        .send(json!({"type": "offer", "to": patient_peer, "sdp": "v=0 fake"}))
        .await;
    let offer = patient.next_of("offer").await;
    assert_eq!(offer["from"], doctor_peer["participant_id"]);
    assert_eq!(offer["sdp"], "v=0 fake");

    app.close(&visit, &clinic.clinician, &close_body()).await;
    let ended = patient
        .until(|f| f["type"] == "visit" && f["status"] == "closed")
        .await;
    assert_eq!(ended["visit_id"], visit.id);
}

#[tokio::test]
async fn a_clinicians_presence_is_in_consult_during_a_call() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let (mut doctor, welcome) = Socket::connect(&app, &clinic.clinician).await;
    assert_eq!(welcome["role"], "clinician");
    doctor
        .send(json!({"type": "presence", "status": "available"}))
        .await;
    let status = |list: &Value, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["display_name"] == name)
            .map(|e| e["status"].clone())
    };
    // Every staff socket hears presence changes, its own included.
    doctor
        .until(|f| f["type"] == "presence" && f["status"] == "available")
        .await;
    let list = app
        .get_json("/api/v1/presence?role=clinician", &clinic.scheduler)
        .await;
    assert_eq!(status(&list, "dr.grey").unwrap(), "available");

    let visit = clinic.waiting(&app, "Ada").await;
    app.admit(&visit, &clinic.clinician).await;
    let list = app
        .get_json("/api/v1/presence?role=clinician", &clinic.scheduler)
        .await;
    assert_eq!(status(&list, "dr.grey").unwrap(), "in_consult");
    app.close(&visit, &clinic.clinician, &close_body()).await;
    let list = app
        .get_json("/api/v1/presence?role=clinician", &clinic.scheduler)
        .await;
    assert_eq!(status(&list, "dr.grey").unwrap(), "available");
}
