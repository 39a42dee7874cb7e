//! Live updates over the socket: a waiting patient hears its place and its
//! admission; staff watching a queue hear every change; presence follows
//! the consult.

use serde_json::{Value, json};
use signaling::protocol::{ClientMessage, ErrorCode, PresenceStatus, Role, VisitId, VisitStatus};

use crate::clinic::{Clinic, close_body, consent};
use crate::helpers::spawn_app;
use crate::socket::Socket;

#[tokio::test]
async fn a_waiting_patient_hears_its_place_change_and_its_admission() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let first = clinic.waiting(&app, "Ada").await;
    let second = clinic.book(&app, "Bob").await;

    let mut socket = Socket::hello(&app, &second.patient_token).await;
    assert_eq!(socket.role, Role::Patient);
    socket.join(&second.id).await;
    let (_, scheduled) = socket.visit_update(|_| true).await;
    assert_eq!(scheduled.status, VisitStatus::Scheduled);

    app.check_in(&second, &consent()).await;
    let (_, place) = socket
        .visit_update(|u| u.status == VisitStatus::Waiting)
        .await;
    assert_eq!(place.position, Some(2));
    assert!(place.estimated_wait_seconds.unwrap() > 0);

    app.admit(&first, &clinic.clinician).await;
    let (_, moved) = socket.visit_update(|u| u.position == Some(1)).await;
    assert_eq!(moved.status, VisitStatus::Waiting);

    app.admit(&second, &clinic.other_clinician).await;
    let (visit_id, _) = socket
        .visit_update(|u| u.status == VisitStatus::InConsult)
        .await;
    assert_eq!(visit_id, VisitId::new(&second.id));
}

#[tokio::test]
async fn a_waiting_patient_hears_of_arrivals_ahead_of_it_only() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let first = clinic.waiting(&app, "Ada").await;
    let mut socket = Socket::hello(&app, &first.patient_token).await;
    socket.join(&first.id).await;
    let (_, place) = socket.visit_update(|_| true).await;
    assert_eq!(place.position, Some(1));

    // Behind it: its place and estimate stay, so it hears nothing.
    clinic.waiting(&app, "Bob").await;
    let ahead = clinic.waiting(&app, "Cy").await;
    // Ahead of it: it hears its new place, and that is the next frame.
    let response = app
        .patch_visit(&ahead, &clinic.scheduler, &json!({"priority": "urgent"}))
        .await;
    assert!(response.status().is_success(), "raise Cy's priority");

    let (visit_id, moved) = socket.visit_update(|_| true).await;
    assert_eq!(visit_id, VisitId::new(&first.id));
    assert_eq!(moved.status, VisitStatus::Waiting);
    assert_eq!(
        moved.position,
        Some(2),
        "the next frame is the move back, none for arrivals behind it"
    );
}

#[tokio::test]
async fn staff_watching_a_queue_hear_each_change() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mut board = Socket::hello(&app, &clinic.scheduler).await;
    board.subscribe(&clinic.queue_id).await;
    let snapshot = board.queue_update(|_| true).await;
    assert_eq!(snapshot, json!([]));

    let visit = clinic.book(&app, "Ada").await;
    let booked = board.queue_update(|_| true).await;
    assert_eq!(booked[0]["status"], "scheduled");
    app.check_in(&visit, &consent()).await;
    let waiting = board
        .queue_update(|entries| entries[0]["status"] == "waiting")
        .await;
    assert_eq!(waiting[0]["position"], 1);
    app.admit(&visit, &clinic.clinician).await;
    board
        .queue_update(|entries| entries[0]["status"] == "in_consult")
        .await;
    app.close(&visit, &clinic.clinician, &close_body()).await;
    board.queue_update(|entries| entries == &json!([])).await;
}

#[tokio::test]
async fn a_patient_may_join_only_its_own_visit_and_billing_may_not_watch_queues() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mine = clinic.book(&app, "Ada").await;
    let theirs = clinic.book(&app, "Bob").await;
    let mut socket = Socket::hello(&app, &mine.patient_token).await;
    socket.join(&theirs.id).await;
    assert_eq!(socket.error().await, ErrorCode::Forbidden);
    socket.subscribe(&clinic.queue_id).await;
    assert_eq!(socket.error().await, ErrorCode::Forbidden);

    let billing = app.staff_token("bea", "billing").await;
    let mut staff = Socket::hello(&app, &billing).await;
    staff.subscribe(&clinic.queue_id).await;
    assert_eq!(staff.error().await, ErrorCode::Forbidden);
}

#[tokio::test]
async fn the_clinician_and_patient_meet_in_the_call_room_once_admitted() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    let mut patient = Socket::hello(&app, &visit.patient_token).await;
    patient.join(&visit.id).await;
    patient.visit_update(|_| true).await;

    let mut doctor = Socket::hello(&app, &clinic.clinician).await;
    doctor.join(&visit.id).await;
    assert_eq!(
        doctor.error().await,
        ErrorCode::Forbidden,
        "not before admitting"
    );

    app.admit(&visit, &clinic.clinician).await;
    patient.joined().await;
    doctor.join(&visit.id).await;
    let (_, peers) = doctor.joined().await;
    assert_eq!(peers.len(), 1);
    let patient_peer = peers[0].participant_id.clone();
    let doctor_peer = patient.peer_joined().await;
    assert_eq!(doctor_peer.role, Role::Clinician);

    doctor
        .send(&ClientMessage::Offer {
            to: patient_peer,
            sdp: "v=0 fake".to_owned(),
        })
        .await;
    let (from, sdp) = patient.offer().await;
    assert_eq!(from, doctor_peer.participant_id);
    assert_eq!(sdp, "v=0 fake");

    app.close(&visit, &clinic.clinician, &close_body()).await;
    let (visit_id, _) = patient
        .visit_update(|u| u.status == VisitStatus::Closed)
        .await;
    assert_eq!(visit_id, VisitId::new(&visit.id));
}

#[tokio::test]
async fn a_clinicians_presence_is_in_consult_during_a_call() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mut doctor = Socket::hello(&app, &clinic.clinician).await;
    assert_eq!(doctor.role, Role::Clinician);
    doctor
        .send(&ClientMessage::Presence {
            status: PresenceStatus::Available,
        })
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
        .presence_update(|_, status| status == PresenceStatus::Available)
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

#[tokio::test]
async fn a_dropped_socket_resumes_as_the_same_participant_once() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    let mut patient = Socket::hello(&app, &visit.patient_token).await;
    let (participant, token) = (patient.participant_id.clone(), patient.resume_token.clone());
    patient.join(&visit.id).await;
    patient.visit_update(|_| true).await;

    drop(patient);
    let back = Socket::resume(&app, &visit.patient_token, &token).await;
    assert_eq!(back.participant_id, participant);

    let mut stale = Socket::resume(&app, &visit.patient_token, &token).await;
    assert_ne!(
        stale.participant_id, participant,
        "a spent token starts afresh"
    );
    assert_eq!(stale.error().await, ErrorCode::ResumeFailed);
}
