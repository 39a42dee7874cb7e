//! Invited guests: an expiring, single-visit link; audited; the guest's
//! socket enters the call only once the clinician lets it in, and then
//! carries a real WebRTC connection to the clinician; a peer-to-peer mesh
//! holds four, LiveKit more; revoked or expired links stop working.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signaling::protocol::{ErrorCode, LeaveReason, ParticipantInfo, Role};

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::media::{LiveKitDouble, decode_join_token, spawn_livekit_app};
use crate::peers::{Manner, Media, Peer};
use crate::socket::Socket;

async fn invite(app: &TestApp, visit: &Visit, token: &str, name: &str) -> Value {
    let response = app
        .post(
            &format!("/api/v1/visits/{}/guests", visit.id),
            Some(token),
            &json!({"display_name": name, "kind": "interpreter"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "invite {name}");
    response.json().await.expect("invitation JSON")
}

async fn let_in(app: &TestApp, visit: &Visit, guest: &Value, clinician: &str) -> reqwest::Response {
    let path = format!(
        "/api/v1/visits/{}/guests/{}/admit",
        visit.id,
        guest["guest"]["id"].as_str().expect("guest id")
    );
    app.post(&path, Some(clinician), &json!({})).await
}

fn token(invited: &Value) -> &str {
    invited["token"].as_str().expect("a guest token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_interpreter_joins_the_call_once_the_clinician_lets_them_in() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let invited = invite(&app, &visit, &clinic.clinician, "Maria (interpreter)").await;
    assert_eq!(invited["guest"]["status"], "invited");
    assert_eq!(invited["guest"]["kind"], "interpreter");
    let url = invited["join_url"].as_str().expect("a link");
    assert!(
        url.contains(&format!("/guest/{}?t=", visit.id)),
        "a guest link for this visit: {url}"
    );
    let guest = token(&invited);

    // The guest knows itself and nothing else.
    let me = app.get_json("/api/v1/guests/me", guest).await;
    assert_eq!(me["guest"]["display_name"], "Maria (interpreter)");
    assert_eq!(me["visit_status"], "in_consult");
    let patient_path = format!("/fhir/Patient/{}", visit.patient_id);
    for path in [
        format!("/api/v1/visits/{}", visit.id),
        format!("/api/v1/visits/{}/media", visit.id),
        format!("/api/v1/patients/{}", visit.patient_id),
        format!("/api/v1/visits/{}/guests", visit.id),
    ] {
        let response = app.get(&path, Some(guest)).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app.get(&patient_path, Some(guest)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The patient and the clinician are in the call; the guest is not yet.
    let mut clinician = Socket::hello(&app, &clinic.clinician).await;
    clinician.join(&visit.id).await;
    clinician.joined().await;
    let mut patient = Socket::hello(&app, &visit.patient_token).await;
    patient.join(&visit.id).await;
    patient.joined().await;
    let guests_path = format!("/api/v1/visits/{}/guests", visit.id);
    let listed = app.get_json(&guests_path, &clinic.clinician).await;
    assert_eq!(listed[0]["online"], false, "not there yet: {listed}");
    let mut guest_socket = Socket::hello(&app, guest).await;
    guest_socket.join(&visit.id).await;
    assert_eq!(guest_socket.error().await, ErrorCode::Forbidden);
    // The clinician sees the guest waiting with its page open.
    let listed = app.get_json(&guests_path, &clinic.clinician).await;
    assert_eq!(listed[0]["online"], true, "waiting: {listed}");
    assert_eq!(listed[0]["status"], "invited");

    // Only the clinician in the consult lets a guest in.
    let response = let_in(&app, &visit, &invited, &clinic.other_clinician).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
    let response = let_in(&app, &visit, &invited, &clinic.clinician).await;
    assert_eq!(response.status(), StatusCode::OK);
    let admitted: Value = response.json().await.unwrap();
    assert_eq!(admitted["status"], "admitted");
    guest_socket.visit_update(|_| true).await;
    guest_socket.join(&visit.id).await;
    let (_, others) = guest_socket.joined().await;
    let roles: Vec<Role> = others.iter().map(|p| p.role).collect();
    assert_eq!(roles.len(), 2, "{others:?}");
    assert!(
        roles.contains(&Role::Patient) && roles.contains(&Role::Clinician),
        "{others:?}"
    );
    for socket in [&mut clinician, &mut patient] {
        // The clinician heard of the patient first.
        let arrived = loop {
            let arrived = socket.peer_joined().await;
            if arrived.role != Role::Patient {
                break arrived;
            }
        };
        assert_eq!(arrived.role, Role::Guest);
        assert_eq!(arrived.display_name, "Maria (interpreter)");
    }

    // A real connection from the guest to the clinician, addressed by id.
    let to_clinician: Vec<ParticipantInfo> = others
        .into_iter()
        .filter(|p| p.role == Role::Clinician)
        .collect();
    let mut at_clinician = Peer::start(clinician, Manner::Polite, Media::default(), &[]).await;
    let mut at_guest = Peer::start(
        guest_socket,
        Manner::Impolite,
        Media {
            data_channel: true,
            video: false,
        },
        &to_clinician,
    )
    .await;
    at_guest.connected().await;
    at_clinician.connected().await;
    let guest_chat = at_guest.open_channel().await;
    let mut clinician_chat = at_clinician.open_channel().await;
    guest_chat.send("Hola, soy la intérprete.").await;
    assert_eq!(clinician_chat.receive().await, "Hola, soy la intérprete.");
    drop((guest_chat, clinician_chat));
    at_guest.close().await;
    at_clinician.close().await;

    // Admitted, the guest gets its call's media plan.
    app.media_plan(&visit, guest).await;

    // Revoked mid-call: the others hear it leave, and its link is dead.
    let mut guest_again = Socket::hello(&app, guest).await;
    guest_again.join(&visit.id).await;
    guest_again.joined().await;
    let revoke = format!(
        "/api/v1/visits/{}/guests/{}/revoke",
        visit.id,
        invited["guest"]["id"].as_str().unwrap()
    );
    let response = app.post(&revoke, Some(&clinic.clinician), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reason = loop {
        let (left, reason) = patient.peer_left().await;
        if left == guest_again.participant_id {
            break reason;
        }
    };
    assert_eq!(reason, LeaveReason::Removed);
    guest_again.expect_closed().await;
    let response = app.get("/api/v1/guests/me", Some(guest)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // All of it is audited.
    let events = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    for action in ["visit.guest.invite", "visit.guest.admit"] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "{action} in {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "visit.join" && e["actor_type"] == "guest"),
        "the guest's join is audited: {events:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_peer_to_peer_call_holds_four_and_livekit_more() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Grace").await;
    let mut guests = Vec::new();
    for name in ["Interpreter", "Daughter", "Son"] {
        guests.push(invite(&app, &visit, &clinic.scheduler, name).await);
    }
    for guest in &guests[..2] {
        let response = let_in(&app, &visit, guest, &clinic.clinician).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = let_in(&app, &visit, &guests[2], &clinic.clinician).await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("4 participants"),
        "{problem}"
    );
    // Letting in one already in changes nothing.
    let response = let_in(&app, &visit, &guests[0], &clinic.clinician).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;

    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Hedy").await;
    for name in ["Interpreter", "Daughter", "Son"] {
        let guest = invite(&app, &visit, &clinic.clinician, name).await;
        let response = let_in(&app, &visit, &guest, &clinic.clinician).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "LiveKit carries {name} too"
        );
        let plan = app.media_plan(&visit, token(&guest)).await;
        assert_eq!(plan["mode"], "livekit");
        let claims = decode_join_token(plan["livekit"]["token"].as_str().unwrap());
        assert_eq!(
            claims["sub"],
            format!("guest-{}", guest["guest"]["id"].as_str().unwrap())
        );
        assert_eq!(claims["name"], name);
        assert_eq!(claims["video"]["room"], format!("visit-{}", visit.id));
    }
    app.stop().await;
}

#[tokio::test]
async fn invitations_are_checked_and_a_revoked_or_expired_link_stops_working() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Dorothy").await;
    let path = format!("/api/v1/visits/{}/guests", visit.id);
    for (body, field) in [
        (
            json!({"display_name": " ", "kind": "family"}),
            "display_name",
        ),
        (
            json!({"display_name": "Tom", "kind": "family", "expires_in_minutes": 2}),
            "expires_in_minutes",
        ),
        (json!({"display_name": "Tom", "kind": "cousin"}), "kind"),
    ] {
        let response = app.post(&path, Some(&clinic.scheduler), &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let biller = app.staff_token("biller", "billing").await;
    let body = json!({"display_name": "Tom", "kind": "family"});
    for token in [biller.as_str(), visit.patient_token.as_str()] {
        let response = app.post(&path, Some(token), &body).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }

    // Before the consult, no one is let in.
    let invited = invite(&app, &visit, &clinic.scheduler, "Tom").await;
    let response = let_in(&app, &visit, &invited, &clinic.clinician).await;
    assert_problem(response, StatusCode::CONFLICT).await;
    let listed = app.get_json(&path, &clinic.clinician).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Revoked: the link no longer signs anyone in.
    let response = app
        .post(
            &format!("{path}/{}/revoke", invited["guest"]["id"].as_str().unwrap()),
            Some(&clinic.scheduler),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let revoked: Value = response.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    let response = app.get("/api/v1/guests/me", Some(token(&invited))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // Expired: the store's expiry counts, whatever the token says.
    let other = invite(&app, &visit, &clinic.scheduler, "Sue").await;
    let response = app.get("/api/v1/guests/me", Some(token(&other))).await;
    assert_eq!(response.status(), StatusCode::OK);
    sqlx::query("UPDATE visit_guests SET expires_at = 0 WHERE id = $1")
        .bind(other["guest"]["id"].as_str().unwrap())
        .execute(app.store.pool())
        .await
        .unwrap();
    let response = app.get("/api/v1/guests/me", Some(token(&other))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // An ended visit takes no more guests.
    let response = app.cancel(&visit, &clinic.scheduler).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.post(&path, Some(&clinic.scheduler), &body).await;
    assert_problem(response, StatusCode::CONFLICT).await;
    app.stop().await;
}
