//! The chat of a visit's call is part of its record: each message sent
//! over `/ws` is kept in the order the room relayed it, audited, read back
//! by the visit's patient, its clinician and admins only, shown in the
//! chart, and served as FHIR `Communication`.

use reqwest::StatusCode;
use serde_json::Value;
use signaling::protocol::ErrorCode;

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{TestApp, assert_json, assert_problem, assert_valid_fhir, spawn_app};
use crate::socket::Socket;

/// The visit's patient and clinician, both in its call.
async fn in_call(app: &TestApp, clinic: &Clinic, visit: &Visit) -> (Socket, Socket) {
    let mut patient = Socket::hello(app, &visit.patient_token).await;
    patient.join(&visit.id).await;
    patient.joined().await;
    let mut clinician = Socket::hello(app, &clinic.clinician).await;
    clinician.join(&visit.id).await;
    clinician.joined().await;
    patient.peer_joined().await;
    (patient, clinician)
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

fn field<'a>(messages: &'a [Value], pick: impl Fn(&'a Value) -> &'a Value) -> Vec<&'a Value> {
    messages.iter().map(pick).collect()
}

#[tokio::test]
async fn chat_in_a_call_is_kept_in_order_and_read_back_by_the_visit_s_participants_only() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let (mut patient, mut clinician) = in_call(&app, &clinic, &visit).await;

    patient.chat("I have had a fever since Monday.").await;
    patient.chat("And my throat hurts.").await;
    assert_eq!(
        clinician.chat_message().await,
        (
            patient.participant_id.clone(),
            "I have had a fever since Monday.".to_owned()
        )
    );
    assert_eq!(clinician.chat_message().await.1, "And my throat hurts.");
    clinician.chat("Thank you, Ada. Any cough?").await;
    assert_eq!(patient.chat_message().await.1, "Thank you, Ada. Any cough?");

    let expected = [
        "I have had a fever since Monday.",
        "And my throat hurts.",
        "Thank you, Ada. Any cough?",
    ];
    let at_patient: Vec<Value> = assert_json(
        app.messages(&visit, &visit.patient_token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(texts(&at_patient), expected);
    assert_eq!(
        field(&at_patient, |m| &m["sender"]["role"]),
        ["patient", "patient", "clinician"]
    );
    assert_eq!(at_patient[0]["sender"]["display_name"], "Ada");
    assert_eq!(at_patient[0]["sender"]["id"], visit.patient_id.as_str());
    assert_eq!(
        at_patient[0]["participant_id"],
        patient.participant_id.as_str()
    );
    assert_eq!(field(&at_patient, |m| &m["seq"]), [1, 2, 3]);
    assert_eq!(field(&at_patient, |m| &m["mine"]), [true, true, false]);
    assert!(at_patient.iter().all(|m| m["at"].is_string()));
    assert_eq!(at_patient[2]["encounter_id"], visit.encounter_id.as_str());

    let at_clinician: Vec<Value> = assert_json(
        app.messages(&visit, &clinic.clinician).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(texts(&at_clinician), expected);
    assert_eq!(field(&at_clinician, |m| &m["mine"]), [false, false, true]);
    let at_admin: Vec<Value> =
        assert_json(app.messages(&visit, &clinic.admin).await, StatusCode::OK).await;
    assert_eq!(texts(&at_admin), expected);

    // Nobody else reads it: another patient, another clinician, a scheduler.
    let other = clinic.book(&app, "Bob").await;
    for token in [
        &other.patient_token,
        &clinic.other_clinician,
        &clinic.scheduler,
    ] {
        assert_problem(app.messages(&visit, token).await, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(
        app.messages(&visit, "not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The chart beside a later call shows it too.
    let history = app
        .get_json(
            &format!("/api/v1/patients/{}/history", visit.patient_id),
            &clinic.clinician,
        )
        .await;
    let kept: Vec<Value> = history["messages"].as_array().unwrap().clone();
    assert_eq!(texts(&kept), expected);

    let trail = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    let count = |action: &str| trail.iter().filter(|e| e["action"] == action).count();
    assert_eq!(count("chat.send"), 3);
    assert_eq!(count("chat.read"), 3);
    let sent_by_patient = trail
        .iter()
        .find(|e| e["action"] == "chat.send" && e["actor_type"] == "patient");
    assert!(sent_by_patient.is_some(), "{trail:#?}");
}

#[tokio::test]
async fn a_message_the_store_cannot_keep_still_reaches_the_call_and_its_sender_hears_so() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let (mut patient, mut clinician) = in_call(&app, &clinic, &visit).await;

    // Sabotage: the table is away.
    sqlx::query("ALTER TABLE chat_messages RENAME TO chat_messages_away")
        .execute(app.store.pool())
        .await
        .unwrap();
    patient.chat("My chest hurts.").await;
    assert_eq!(clinician.chat_message().await.1, "My chest hurts.");
    assert_eq!(patient.error().await, ErrorCode::NotRecorded);

    sqlx::query("ALTER TABLE chat_messages_away RENAME TO chat_messages")
        .execute(app.store.pool())
        .await
        .unwrap();
    patient.chat("It is better now.").await;
    assert_eq!(clinician.chat_message().await.1, "It is better now.");
    let kept: Vec<Value> = assert_json(
        app.messages(&visit, &clinic.clinician).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(texts(&kept), ["It is better now."]);
}

#[tokio::test]
async fn chat_reads_as_valid_fhir_communications_of_its_encounter() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let (mut patient, mut clinician) = in_call(&app, &clinic, &visit).await;
    patient.chat("Hello doctor.").await;
    clinician.chat_message().await;
    clinician.chat("Hello Ada.").await;
    patient.chat_message().await;

    let search = |token: &str, query: String| {
        let app = &app;
        let token = token.to_owned();
        async move {
            let response = app
                .get(&format!("/fhir/Communication?{query}"), Some(&token))
                .await;
            let bundle: Value = assert_json(response, StatusCode::OK).await;
            assert_valid_fhir(&bundle);
            bundle["entry"]
                .as_array()
                .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
                .unwrap_or_default()
        }
    };
    let found: Vec<Value> = search(
        &clinic.clinician,
        format!("encounter=Encounter/{}", visit.encounter_id),
    )
    .await;
    assert_eq!(found.len(), 2);
    let first = &found[0];
    assert_eq!(first["resourceType"], "Communication");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["payload"][0]["contentString"], "Hello doctor.");
    assert_eq!(
        first["sender"]["reference"],
        format!("Patient/{}", visit.patient_id)
    );
    assert_eq!(
        first["encounter"]["reference"],
        format!("Encounter/{}", visit.encounter_id)
    );
    assert!(
        found[1]["sender"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/")
    );
    let by_patient = search(
        &visit.patient_token,
        format!("patient={}", visit.patient_id),
    )
    .await;
    assert_eq!(by_patient.len(), 2);

    let id = first["id"].as_str().unwrap();
    let read = app
        .get(
            &format!("/fhir/Communication/{id}"),
            Some(&clinic.clinician),
        )
        .await;
    let read: Value = assert_json(read, StatusCode::OK).await;
    assert_valid_fhir(&read);
    assert_eq!(read, *first);

    // Another patient's token: forbidden to read, absent from its search.
    let other = clinic.book(&app, "Bob").await;
    let denied = app
        .get(
            &format!("/fhir/Communication/{id}"),
            Some(&other.patient_token),
        )
        .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let none = search(
        &other.patient_token,
        format!("patient={}", visit.patient_id),
    )
    .await;
    assert!(none.is_empty());

    let metadata = app.get_json("/fhir/metadata", &clinic.clinician).await;
    let kinds: Vec<&str> = metadata["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"Communication"), "{kinds:?}");
}
