//! Decision support through the API: triage at check-in, the console's
//! cards, and CDS Hooks 2.0 discovery, calls and feedback.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{TestApp, ada, assert_problem, spawn_app, spawn_app_with};

/// Checks a card against CDS Hooks 2.0: required fields, the summary's
/// length, the indicator's values, selectionBehavior with suggestions, and
/// no empty optional values.
fn assert_card_shape(card: &Value) {
    let summary = card["summary"].as_str().expect("summary");
    assert!(
        !summary.is_empty() && summary.chars().count() < 140,
        "{summary}"
    );
    assert!(["info", "warning", "critical"].contains(&card["indicator"].as_str().unwrap()));
    assert!(!card["source"]["label"].as_str().unwrap().is_empty());
    if let Some(suggestions) = card.get("suggestions") {
        assert!(!suggestions.as_array().unwrap().is_empty());
        assert!(
            ["at-most-one", "any"].contains(
                &card["selectionBehavior"]
                    .as_str()
                    .expect("selectionBehavior")
            )
        );
        for s in suggestions.as_array().unwrap() {
            assert!(s["label"].is_string());
            for action in s["actions"].as_array().unwrap() {
                assert!(["create", "update", "delete"].contains(&action["type"].as_str().unwrap()));
                assert!(action["description"].is_string());
            }
        }
    }
    for (key, value) in card.as_object().unwrap() {
        let empty = value.is_null() || value == "" || value == &json!([]) || value == &json!({});
        assert!(!empty, "{key} is empty in {card}");
    }
}

async fn hook(app: &TestApp, token: &str, service: &str, body: &Value) -> reqwest::Response {
    app.post(&format!("/cds-services/{service}"), Some(token), body)
        .await
}

fn call(hook: &str, context: Value) -> Value {
    json!({"hook": hook, "hookInstance": uuid::Uuid::new_v4().to_string(), "context": context})
}

#[tokio::test]
async fn abnormal_check_in_vitals_move_a_patient_to_the_front_of_the_queue() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    clinic.waiting(&app, "Ada").await;
    clinic.waiting(&app, "Bob").await;
    let sick = clinic.book(&app, "Cy").await;
    let vitals = json!({"respiratory_rate": 26, "spo2": 90, "systolic_bp": 95, "heart_rate": 128, "temperature_c": 39.4, "consciousness": "alert"});
    let body =
        json!({"consent_to_telehealth": true, "symptoms": ["fever", "cough"], "vitals": vitals});
    let response = app.check_in(&sick, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let checked_in: Value = response.json().await.unwrap();
    assert_eq!(checked_in["triage"]["news2"]["score"], 3 + 3 + 2 + 2 + 2);
    assert_eq!(checked_in["triage"]["news2"]["risk"], "high");
    assert_eq!(checked_in["priority"], "emergent");
    assert_eq!(checked_in["news2_score"], 12);
    assert!(
        checked_in["triage"]["patient_advice"]
            .as_str()
            .unwrap()
            .contains("emergency")
    );
    assert_eq!(
        clinic.queue_order(&app).await,
        ["Cy Lovelace", "Ada Lovelace", "Bob Lovelace"]
    );

    let history = app
        .get_json(
            &format!("/api/v1/patients/{}/history", sick.patient_id),
            &clinic.clinician,
        )
        .await;
    let news2 = history["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == "88330-6")
        .expect("NEWS2 stored as an observation");
    assert_eq!(news2["value"], 12.0);
}

#[tokio::test]
async fn a_red_flag_symptom_makes_the_visit_emergent_and_tells_the_patient() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    clinic.waiting(&app, "Ada").await;
    let visit = clinic.book(&app, "Bob").await;
    let checked_in: Value = app
        .check_in(
            &visit,
            &json!({"consent_to_telehealth": true, "symptoms": ["crushing chest pain"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checked_in["triage"]["red_flags"][0]["id"], "chest-pain");
    assert_eq!(checked_in["priority"], "emergent");
    assert_eq!(checked_in["red_flags"], json!(["chest-pain"]));
    assert!(
        checked_in["triage"]["patient_advice"]
            .as_str()
            .unwrap()
            .contains("heart attack")
    );
    assert_eq!(clinic.queue_order(&app).await[0], "Bob Lovelace");

    let calm = clinic.book(&app, "Cy").await;
    let calm: Value = app
        .check_in(
            &calm,
            &json!({"consent_to_telehealth": true, "symptoms": ["sore throat"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(calm["priority"], "routine");
    assert!(calm["triage"]["patient_advice"].is_null());
}

async fn acknowledge(app: &TestApp, visit: &Visit, token: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/visits/{}/emergency/acknowledge", visit.id),
        Some(token),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn the_emergency_advice_stays_on_the_visit_reaches_staff_and_is_acknowledged_by_its_patient()
{
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let calm = clinic.waiting(&app, "Ada").await;
    let visit = clinic.book(&app, "Bob").await;
    let checked_in: Value = app
        .check_in(
            &visit,
            &json!({"consent_to_telehealth": true, "symptoms": ["crushing chest pain"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let emergency = &checked_in["emergency"];
    assert_eq!(emergency["number"], "911");
    assert_eq!(emergency["findings"], json!(["Chest pain"]));
    let advice: Vec<&str> = emergency["advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(advice[0].contains("heart attack"));
    assert!(advice.iter().any(|a| a.contains("call 911 now")));
    assert!(emergency["acknowledged_at"].is_null());

    // The patient's page reads it again after a reload.
    let patient = &visit.patient_token;
    let again = app.visit(&visit, patient).await;
    assert_eq!(again["emergency"]["findings"], json!(["Chest pain"]));

    // Staff watching the queue see it on the entry.
    let queue = app
        .get_json(
            &format!("/api/v1/queues/{}", clinic.queue_id),
            &clinic.clinician,
        )
        .await;
    let entry = &queue["entries"][0];
    assert_eq!(entry["visit_id"], visit.id);
    assert_eq!(entry["emergency"]["findings"], json!(["Chest pain"]));
    assert!(queue["entries"][1]["emergency"].is_null());

    // Only the visit's own patient acknowledges it.
    assert_problem(
        acknowledge(&app, &visit, &calm.patient_token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        acknowledge(&app, &visit, &clinic.clinician).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let response = acknowledge(&app, &visit, patient).await;
    assert_eq!(response.status(), StatusCode::OK);
    let acknowledged: Value = response.json().await.unwrap();
    let at = acknowledged["emergency"]["acknowledged_at"].clone();
    assert!(at.is_string());
    let repeated: Value = acknowledge(&app, &visit, patient)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(repeated["emergency"]["acknowledged_at"], at);
    let queue = app
        .get_json(
            &format!("/api/v1/queues/{}", clinic.queue_id),
            &clinic.clinician,
        )
        .await;
    assert_eq!(queue["entries"][0]["emergency"]["acknowledged_at"], at);

    // A visit without an emergency has nothing to acknowledge.
    assert_problem(
        acknowledge(&app, &calm, &calm.patient_token).await,
        StatusCode::CONFLICT,
    )
    .await;

    let audit = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    let acknowledgements = audit
        .iter()
        .filter(|e| e["action"] == "visit.emergency_acknowledged")
        .count();
    assert_eq!(acknowledgements, 1, "one acknowledgement, audited once");
}

#[tokio::test]
async fn a_clinic_in_great_britain_advises_999_with_nhs_sources() {
    let app = spawn_app_with(|source| source.set("BEDSIDE_REGION", "GB")).await;
    let settings: Value = app.get("/api/v1/clinic", None).await.json().await.unwrap();
    assert_eq!(
        settings,
        json!({"region": "GB", "emergency_number": "999", "temperature_unit": "C"})
    );
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Bob").await;
    let checked_in: Value = app
        .check_in(
            &visit,
            &json!({"consent_to_telehealth": true, "symptoms": ["I feel suicidal"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let advice = checked_in["triage"]["patient_advice"].as_str().unwrap();
    assert!(
        advice.contains("call 999") && advice.contains("116 123"),
        "{advice}"
    );
    assert!(
        !advice.contains("911") && !advice.contains("988"),
        "{advice}"
    );
    assert_eq!(checked_in["emergency"]["number"], "999");
    assert!(
        checked_in["triage"]["red_flags"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("NHS")
    );

    let us = spawn_app().await;
    let settings: Value = us.get("/api/v1/clinic", None).await.json().await.unwrap();
    assert_eq!(
        settings,
        json!({"region": "US", "emergency_number": "911", "temperature_unit": "F"})
    );
}

#[tokio::test]
async fn the_console_shows_cards_for_a_visit_and_audits_each_one() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    let patient = &visit.patient_id;
    let base = format!("/api/v1/patients/{patient}");
    app.post(
        &format!("{base}/allergies"),
        Some(&clinic.clinician),
        &json!({"substance": "Penicillin", "code": "7980"}),
    )
    .await;
    app.post(
        &format!("{base}/medications"),
        Some(&clinic.clinician),
        &json!({"name": "Warfarin", "code": "11289"}),
    )
    .await;
    app.post(
        &format!("{base}/medications"),
        Some(&clinic.clinician),
        &json!({"name": "Ibuprofen 400 mg"}),
    )
    .await;
    let vitals = json!({"respiratory_rate": 22, "spo2": 95, "heart_rate": 112});
    app.check_in(
        &visit,
        &json!({"consent_to_telehealth": true, "vitals": vitals}),
    )
    .await;
    app.admit(&visit, &clinic.clinician).await;

    let body = app
        .get_json(
            &format!("/api/v1/visits/{}/cds", visit.id),
            &clinic.clinician,
        )
        .await;
    let cards = body["cards"].as_array().unwrap();
    for card in cards {
        assert_card_shape(card);
    }
    let summaries: Vec<&str> = cards
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries.iter().any(|s| s.starts_with("NEWS2 5")),
        "{summaries:?}"
    );
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("Warfarin with an NSAID")),
        "{summaries:?}"
    );

    assert_problem(
        app.get(
            &format!("/api/v1/visits/{}/cds", visit.id),
            Some(&clinic.scheduler),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let trail = app.audit_trail(&clinic.admin, patient).await;
    let shown = trail
        .iter()
        .filter(|e| e["action"] == "cds.card_shown")
        .count();
    assert_eq!(shown, cards.len());
}

#[tokio::test]
async fn discovery_lists_the_three_hooks_with_prefetch_templates() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let body = app.get_json("/cds-services", &clinic.clinician).await;
    let services = body["services"].as_array().unwrap();
    let hooks: Vec<&str> = services
        .iter()
        .map(|s| s["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["patient-view", "encounter-start", "order-sign"]);
    for service in services {
        assert!(
            service["id"].is_string()
                && service["description"].is_string()
                && service["title"].is_string()
        );
        assert_eq!(
            service["prefetch"]["patient"],
            "Patient/{{context.patientId}}"
        );
    }
    assert_problem(
        app.get("/cds-services", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn patient_view_reads_the_store_when_nothing_is_prefetched() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let patient = app.create_patient(&clinic.scheduler, &ada()).await;
    let pid = patient["id"].as_str().unwrap();
    for name in ["Simvastatin 40 mg", "Clarithromycin 500 mg"] {
        app.post(
            &format!("/api/v1/patients/{pid}/medications"),
            Some(&clinic.clinician),
            &json!({"name": name}),
        )
        .await;
    }
    let response = hook(
        &app,
        &clinic.clinician,
        "bedside-patient-view",
        &call(
            "patient-view",
            json!({"userId": "Practitioner/1", "patientId": pid}),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let cards = body["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1);
    assert_card_shape(&cards[0]);
    assert_eq!(cards[0]["indicator"], "critical");
    assert!(
        cards[0]["summary"]
            .as_str()
            .unwrap()
            .contains("rhabdomyolysis")
    );
}

#[tokio::test]
async fn order_sign_uses_prefetch_and_flags_an_allergy_with_a_removal_suggestion() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let draft = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "723", "display": "Amoxicillin"}]},
        "subject": {"reference": "Patient/outside-1"}}}]});
    let mut body = call(
        "order-sign",
        json!({"userId": "Practitioner/1", "patientId": "outside-1", "draftOrders": draft}),
    );
    body["prefetch"] = json!({
        "allergies": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
            "resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/outside-1"},
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "70618", "display": "Penicillin"}]}}}]},
        "medications": null,
        "vitals": null
    });
    let response = hook(&app, &clinic.clinician, "bedside-order-sign", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let card = &answer["cards"][0];
    assert_card_shape(card);
    assert_eq!(card["indicator"], "critical");
    assert_eq!(card["selectionBehavior"], "at-most-one");
    assert_eq!(card["suggestions"][0]["actions"][0]["type"], "delete");
    assert_eq!(
        card["suggestions"][0]["actions"][0]["resourceId"],
        "MedicationRequest/draft-1"
    );
    assert!(
        card["overrideReasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );

    body["prefetch"]["allergies"] = Value::Null;
    let clean: Value = hook(&app, &clinic.clinician, "bedside-order-sign", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clean, json!({"cards": []}));
}

#[tokio::test]
async fn a_hook_without_data_it_can_read_is_412_and_a_malformed_one_400() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let token = &clinic.clinician;
    let unknown = call(
        "patient-view",
        json!({"userId": "Practitioner/1", "patientId": "not-here"}),
    );
    assert_problem(
        hook(&app, token, "bedside-patient-view", &unknown).await,
        StatusCode::PRECONDITION_FAILED,
    )
    .await;

    let cases = [
        call("patient-view", json!({"userId": "Practitioner/1"})),
        call(
            "order-sign",
            json!({"userId": "Practitioner/1", "patientId": "p"}),
        ),
        json!({"hook": "patient-view", "hookInstance": "not-a-uuid", "context": {"userId": "u", "patientId": "p"}}),
        json!({"hookInstance": uuid::Uuid::new_v4().to_string(), "context": {}}),
        json!([1, 2, 3]),
    ];
    for body in &cases {
        assert_problem(
            hook(&app, token, "bedside-patient-view", body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let start = call(
        "encounter-start",
        json!({"userId": "Practitioner/1", "patientId": "p"}),
    );
    assert_problem(
        hook(&app, token, "bedside-encounter-start", &start).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        hook(&app, token, "no-such-service", &unknown).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        hook(&app, &clinic.scheduler, "bedside-patient-view", &unknown).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn feedback_is_recorded_and_an_override_is_audited() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let card = uuid::Uuid::new_v4().to_string();
    let body = json!({"feedback": [{
        "card": card, "outcome": "overridden",
        "overrideReason": {"reason": {"code": "will-monitor", "system": "urn:bedside:cds:override-reason", "display": "Will monitor closely"}},
        "outcomeTimestamp": "2026-11-25T10:00:00Z"
    }]});
    let response = app
        .post(
            "/cds-services/bedside-order-sign/feedback",
            Some(&clinic.clinician),
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (reason,): (Option<String>,) =
        sqlx::query_as("SELECT override_reason FROM cds_feedback WHERE card_uuid = $1")
            .bind(&card)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("Will monitor closely"));
    bedside::audit::sealer::seal(&app.store).await.unwrap();
    let (audited,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'cds.override' AND resource_id = $1",
    )
    .bind(&card)
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let bad = json!({"feedback": [{"card": card, "outcome": "ignored"}]});
    assert_problem(
        app.post(
            "/cds-services/bedside-order-sign/feedback",
            Some(&clinic.clinician),
            &bad,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
