//! A patient's join token reaches its own visit only (its encounter, its
//! patient, what was recorded in it), dies when the visit is cancelled or
//! missed and its summary days after close, and the front desk can revoke
//! it or issue a fresh one; sockets it opened close on every node.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signaling::protocol::{ServerMessage, VisitStatus};

use crate::app::Visit;
use crate::clinic::{Clinic, close_body, consent};
use crate::helpers::{TestApp, ada, assert_json, spawn_app, spawn_app_on, spawn_app_with, within};
use crate::socket::Socket;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const DAY: Duration = Duration::from_secs(24 * 3600);

/// One patient with a closed visit (two diagnoses) and a second one booked.
struct TwoVisits {
    patient_id: String,
    closed: Visit,
    booked: Visit,
}

async fn two_visits(app: &TestApp, clinic: &Clinic) -> TwoVisits {
    let patient = app.create_patient(&clinic.scheduler, &ada()).await;
    let closed = app
        .book_visit(&clinic.clinician, &patient, &clinic.queue_id, "Sore throat")
        .await;
    assert_eq!(
        app.check_in(&closed, &consent()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.admit(&closed, &clinic.clinician).await.status(),
        StatusCode::OK
    );
    let response = app.close(&closed, &clinic.clinician, &close_body()).await;
    assert_eq!(response.status(), StatusCode::OK, "close the first visit");
    let booked = app
        .book_visit(&clinic.scheduler, &patient, &clinic.queue_id, "Follow-up")
        .await;
    TwoVisits {
        patient_id: patient["id"].as_str().unwrap().to_owned(),
        closed,
        booked,
    }
}

async fn status(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.get(path, Some(token)).await.status()
}

/// The resources of a FHIR search, which must answer 200.
async fn search(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let bundle: Value = assert_json(app.get(path, Some(token)).await, StatusCode::OK).await;
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_visit_token_reaches_its_own_visit_and_not_the_rest_of_the_record() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visits = two_visits(&app, &clinic).await;
    let token = &visits.booked.patient_token;
    let pid = &visits.patient_id;

    assert_eq!(
        status(&app, &format!("/fhir/Patient/{pid}"), token).await,
        StatusCode::OK
    );
    let own = format!("/fhir/Encounter/{}", visits.booked.encounter_id);
    assert_eq!(status(&app, &own, token).await, StatusCode::OK);
    let other = format!("/fhir/Encounter/{}", visits.closed.encounter_id);
    assert_eq!(status(&app, &other, token).await, StatusCode::FORBIDDEN);

    let encounters = search(&app, "/fhir/Encounter", token).await;
    let ids: Vec<&Value> = encounters.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&json!(visits.booked.encounter_id)]);
    // The other visit's diagnoses are conditions of this patient: not for this link.
    let by_staff = search(
        &app,
        &format!("/fhir/Condition?patient=Patient/{pid}"),
        &clinic.clinician,
    )
    .await;
    assert_eq!(by_staff.len(), 2, "the closed visit's two diagnoses exist");
    assert!(
        search(
            &app,
            &format!("/fhir/Condition?patient=Patient/{pid}"),
            token
        )
        .await
        .is_empty()
    );
    let condition = by_staff[0]["id"].as_str().unwrap();
    assert_eq!(
        status(&app, &format!("/fhir/Condition/{condition}"), token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, &format!("/fhir/Claim?patient=Patient/{pid}"), token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, &format!("/api/v1/visits/{}", visits.closed.id), token).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_cancelled_visits_token_reads_nothing_at_all() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visits = two_visits(&app, &clinic).await;
    let token = &visits.booked.patient_token;
    let pid = &visits.patient_id;
    assert_eq!(
        status(&app, &format!("/api/v1/visits/{}", visits.booked.id), token).await,
        StatusCode::OK
    );

    assert_eq!(
        app.cancel(&visits.booked, &clinic.scheduler).await.status(),
        StatusCode::OK
    );

    for path in [
        format!("/api/v1/visits/{}", visits.booked.id),
        format!("/fhir/Patient/{pid}"),
        format!("/fhir/Encounter/{}", visits.closed.encounter_id),
        format!("/fhir/Condition?patient=Patient/{pid}"),
        format!("/fhir/Claim?patient=Patient/{pid}"),
    ] {
        assert_eq!(
            status(&app, &path, token).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_no_show_ends_the_visits_link() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    let path = format!("/api/v1/visits/{}", visit.id);
    assert_eq!(
        status(&app, &path, &visit.patient_token).await,
        StatusCode::OK
    );

    assert_eq!(
        app.no_show(&visit, &clinic.scheduler).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        status(&app, &path, &visit.patient_token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_closed_visits_link_lasts_its_summary_days_and_no_longer() {
    let app = spawn_app_with(|source| source.set("BEDSIDE_SUMMARY_DAYS", "10")).await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let response = app.close(&visit, &clinic.clinician, &close_body()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let summary = format!("/api/v1/visits/{}/summary", visit.id);

    app.clock.advance(DAY * 9);
    assert_eq!(
        status(&app, &summary, &visit.patient_token).await,
        StatusCode::OK
    );

    app.clock.advance(DAY * 2);
    assert_eq!(
        status(&app, &summary, &visit.patient_token).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn reissue(app: &TestApp, visit: &Visit, token: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/visits/{}/link", visit.id),
        Some(token),
        &json!({}),
    )
    .await
}

async fn revoke(app: &TestApp, visit: &Visit, token: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/visits/{}/link/revoke", visit.id),
        Some(token),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn a_scheduler_revokes_a_link_and_sends_a_fresh_one_that_alone_works() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    let path = format!("/api/v1/visits/{}", visit.id);
    let biller = app.staff_token("biller", "billing").await;
    assert_eq!(
        revoke(&app, &visit, &biller).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reissue(&app, &visit, &clinic.clinician).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, &path, &visit.patient_token).await,
        StatusCode::OK
    );

    assert_eq!(
        revoke(&app, &visit, &clinic.scheduler).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&app, &path, &visit.patient_token).await,
        StatusCode::UNAUTHORIZED
    );

    let fresh: Value = assert_json(
        reissue(&app, &visit, &clinic.scheduler).await,
        StatusCode::OK,
    )
    .await;
    let fresh_token = fresh["patient_token"].as_str().unwrap();
    assert!(fresh["join_url"].as_str().unwrap().ends_with(fresh_token));
    assert_eq!(status(&app, &path, fresh_token).await, StatusCode::OK);
    assert_eq!(
        status(&app, &path, &visit.patient_token).await,
        StatusCode::UNAUTHORIZED
    );

    // Another fresh link replaces that one in turn.
    let newest: Value =
        assert_json(reissue(&app, &visit, &clinic.admin).await, StatusCode::OK).await;
    assert_eq!(
        status(&app, &path, fresh_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, &path, newest["patient_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cancelled_visit_gets_no_fresh_link() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    assert_eq!(
        app.cancel(&visit, &clinic.scheduler).await.status(),
        StatusCode::OK
    );

    let problem = crate::helpers::assert_problem(
        reissue(&app, &visit, &clinic.scheduler).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("cancelled"),
        "{problem}"
    );
}

/// A patient's socket joined to its visit, past the first `visit` frame.
async fn waiting_socket(app: &TestApp, visit: &Visit) -> Socket {
    let mut socket = Socket::hello(app, &visit.patient_token).await;
    socket.join(&visit.id).await;
    socket.visit_update(|_| true).await;
    socket
}

#[tokio::test]
async fn revoking_a_link_closes_the_sockets_it_opened() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    let mut socket = waiting_socket(&app, &visit).await;

    assert_eq!(
        revoke(&app, &visit, &clinic.scheduler).await.status(),
        StatusCode::NO_CONTENT
    );

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, 1008, "closed as {seen:?}");
    assert_eq!(Socket::refused(&app, &visit.patient_token).await, 1008);
}

#[tokio::test]
async fn cancelling_a_visit_tells_its_patient_then_closes_the_socket() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    let mut socket = waiting_socket(&app, &visit).await;

    assert_eq!(
        app.cancel(&visit, &clinic.scheduler).await.status(),
        StatusCode::OK
    );

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, 1008, "closed as {seen:?}");
    assert!(
        seen.frames.iter().any(|f| matches!(
            f,
            ServerMessage::Visit { update, .. } if update.status == VisitStatus::Cancelled
        )),
        "the patient heard the visit was cancelled first: {:?}",
        seen.frames
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_link_on_one_node_closes_its_socket_on_another() {
    let client = redis::Client::open(REDIS_URL).expect("a Redis URL");
    within(
        "Redis at 127.0.0.1:6379",
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|e| panic!("Redis must be running at {REDIS_URL}: {e}"));
    let node_a = spawn_app_with(|source| source.set("REDIS_URL", REDIS_URL)).await;
    let url = node_a
        .db
        .as_ref()
        .expect("node A owns the database")
        .url
        .clone();
    let node_b = spawn_app_on(&url, |source| source.set("REDIS_URL", REDIS_URL)).await;
    let clinic = Clinic::open(&node_a).await;
    let visit = clinic.waiting(&node_a, "Ada").await;
    let mut socket = waiting_socket(&node_b, &visit).await;

    assert_eq!(
        revoke(&node_a, &visit, &clinic.scheduler).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(socket.close_frame().await.code, 1008);
    // The store says so to every node, bus or no bus.
    assert_eq!(
        status(
            &node_b,
            &format!("/api/v1/visits/{}", visit.id),
            &visit.patient_token
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
}
