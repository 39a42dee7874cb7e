//! Every refused attempt on health data is in the audit trail: who asked
//! (actor, role, address) and for what, with outcome `denied`.

use reqwest::StatusCode;
use serde_json::Value;
use signaling::protocol::ErrorCode;

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::TestApp;
use crate::helpers::spawn_app;
use crate::socket::Socket;

/// The denied events in `patient`'s trail, read by the admin.
async fn denials(app: &TestApp, clinic: &Clinic, patient: &str) -> Vec<Value> {
    app.audit_trail(&clinic.admin, patient)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect()
}

/// Whether one denial is of `role` at `resource` (`actor_id` when given).
fn has_denial(
    events: &[Value],
    action: &str,
    role: &str,
    resource: &str,
    actor: Option<&str>,
) -> bool {
    events.iter().any(|e| {
        e["action"] == action
            && e["actor_role"] == role
            && e["resource_id"] == resource
            && actor.is_none_or(|id| e["actor_id"] == id)
    })
}

#[tokio::test]
async fn a_patient_token_asking_for_another_visit_is_audited() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let ada = clinic.book(&app, "Ada").await;
    let grace = clinic.book(&app, "Grace").await;

    for path in [
        format!("/api/v1/visits/{}", grace.id),
        format!("/api/v1/visits/{}/summary", grace.id),
        format!("/api/v1/visits/{}/media", grace.id),
        format!("/api/v1/visits/{}/precall", grace.id),
        format!("/api/v1/visits/{}/messages", grace.id),
    ] {
        let response = app.get(&path, Some(&ada.patient_token)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }

    let events = denials(&app, &clinic, &grace.patient_id).await;
    let by_ada: Vec<&Value> = events
        .iter()
        .filter(|e| e["actor_id"] == ada.patient_id.as_str())
        .collect();
    assert_eq!(by_ada.len(), 5, "each refusal once: {events:#?}");
    for event in by_ada {
        assert_eq!(event["action"], "access.denied");
        assert_eq!(event["actor_role"], "patient");
        assert_eq!(event["resource_type"], "Visit");
        assert_eq!(event["resource_id"], grace.id.as_str());
        assert_eq!(event["ip"], "127.0.0.1");
    }
}

#[tokio::test]
async fn a_refused_socket_join_is_audited() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let ada = clinic.waiting(&app, "Ada").await;
    let grace: Visit = clinic.waiting(&app, "Grace").await;

    let mut socket = Socket::hello(&app, &ada.patient_token).await;
    socket.join(&grace.id).await;
    assert_eq!(socket.error().await, ErrorCode::Forbidden);
    // A clinician not on the visit is refused too.
    let mut other = Socket::hello(&app, &clinic.other_clinician).await;
    other.join(&grace.id).await;
    assert_eq!(other.error().await, ErrorCode::Forbidden);

    let events = denials(&app, &clinic, &grace.patient_id).await;
    assert!(
        has_denial(
            &events,
            "visit.join",
            "patient",
            &grace.id,
            Some(&ada.patient_id)
        ),
        "{events:#?}"
    );
    assert!(
        has_denial(&events, "visit.join", "clinician", &grace.id, None),
        "{events:#?}"
    );
}

#[tokio::test]
async fn a_role_refused_the_chart_is_audited() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    let biller = app.staff_token("biller", "billing").await;

    for token in [&clinic.scheduler, &biller] {
        let response = app
            .get(
                &format!("/api/v1/patients/{}/history", visit.patient_id),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = app
            .get(
                &format!("/fhir/Observation?patient=Patient/{}", visit.patient_id),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    let events = denials(&app, &clinic, &visit.patient_id).await;
    for role in ["scheduler", "billing"] {
        assert!(
            has_denial(&events, "access.denied", role, &visit.patient_id, None),
            "{role}: {events:#?}"
        );
    }
}

#[tokio::test]
async fn a_refused_fhir_search_names_the_patient_it_asked_about() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;

    let path = format!("/fhir/Condition?patient=Patient/{}", visit.patient_id);
    let response = app.get(&path, Some(&clinic.scheduler)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let events = denials(&app, &clinic, &visit.patient_id).await;
    assert!(
        events.iter().any(|e| e["action"] == "fhir.search"
            && e["resource_type"] == "Condition"
            && e["actor_role"] == "scheduler"),
        "{events:#?}"
    );
    assert_eq!(events.len(), 1, "audited once: {events:#?}");
}

#[tokio::test]
async fn a_refused_queue_subscription_is_audited() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let ada = clinic.waiting(&app, "Ada").await;
    let biller = app.staff_token("biller", "billing").await;

    let mut billing = Socket::hello(&app, &biller).await;
    billing.subscribe(&clinic.queue_id).await;
    assert_eq!(billing.error().await, ErrorCode::Forbidden);
    // A patient is refused by the socket's own rules, and audited all the same.
    let mut patient = Socket::hello(&app, &ada.patient_token).await;
    patient.subscribe(&clinic.queue_id).await;
    assert_eq!(patient.error().await, ErrorCode::Forbidden);

    let events: Vec<Value> = app
        .get_list("/api/v1/audit?action=queue.subscribe", &clinic.admin)
        .await;
    for role in ["billing", "patient"] {
        assert!(
            events.iter().any(|e| e["outcome"] == "denied"
                && e["actor_role"] == role
                && e["resource_id"] == clinic.queue_id.as_str()),
            "{role}: {events:#?}"
        );
    }
}
