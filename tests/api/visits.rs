//! The consult lifecycle: booking, check-in, the queue, admit, close, and
//! the encounter that moves with it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinic::{Clinic, close_body, consent};
use crate::helpers::{TestApp, ada, assert_problem, spawn_app};

async fn outbox_rows(app: &TestApp, visit_id: &str) -> i64 {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM billing_outbox WHERE visit_id = $1")
            .bind(visit_id)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    count
}

#[tokio::test]
async fn a_visit_moves_from_booking_to_a_finished_encounter() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    assert_eq!(visit.status, "scheduled");
    assert!(!visit.encounter_id.is_empty());
    let join_url = &visit.join_url;
    assert!(
        join_url.contains(&format!("/join/{}?t=", visit.id)),
        "{join_url}"
    );

    let vitals = json!({"heart_rate": 96, "respiratory_rate": 18, "spo2": 97, "systolic_bp": 128, "temperature_c": 38.1, "consciousness": "alert"});
    let body = json!({"consent_to_telehealth": true, "symptoms": ["sore throat", "fever"], "vitals": vitals});
    let response = app.check_in(&visit, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let waiting: Value = response.json().await.unwrap();
    assert_eq!(waiting["status"], "waiting");
    assert!(waiting["consent_at"].is_string());
    assert_eq!(waiting["consent_version"], "telehealth-consent-2026-01");
    assert_eq!(waiting["symptoms"], json!(["sore throat", "fever"]));

    let admitted: Value = app
        .admit(&visit, &clinic.clinician)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admitted["status"], "in_consult");
    assert!(admitted["admitted_at"].is_string());

    let response = app.close(&visit, &clinic.clinician, &close_body()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let closed: Value = response.json().await.unwrap();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["total_minutes"], 18);
    assert_eq!(closed["patient_location"], "home");
    assert_eq!(
        outbox_rows(&app, &visit.id).await,
        1,
        "billing is handed the visit"
    );

    let patient_id = &visit.patient_id;
    let history = app
        .get_json(
            &format!("/api/v1/patients/{patient_id}/history"),
            &clinic.clinician,
        )
        .await;
    let encounter = &history["encounters"][0];
    assert_eq!(encounter["status"], "finished");
    assert!(encounter["period_start"].is_string() && encounter["period_end"].is_string());
    assert_eq!(encounter["length_minutes"], 18);
    let statuses: Vec<&str> = encounter["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["planned", "arrived", "in-progress", "finished"]);
    // Each period ends where the next starts; the finished one is closed.
    let periods = encounter["status_history"].as_array().unwrap();
    for pair in periods.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "{periods:?}");
    }
    let last = &periods[3];
    assert!(
        last["end"].is_string() && last["end"] == last["start"],
        "{last}"
    );
    let codes: Vec<&str> = history["vitals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect();
    for loinc in ["8867-4", "9279-1", "2708-6", "8480-6", "8310-5", "67775-7"] {
        assert!(
            codes.contains(&loinc),
            "vital {loinc} stored as an observation"
        );
    }
    let diagnoses: Vec<(&str, i64)> = history["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap(), c["rank"].as_i64().unwrap()))
        .collect();
    assert!(
        diagnoses.contains(&("J06.9", 1)) && diagnoses.contains(&("R50.9", 2)),
        "{diagnoses:?}"
    );
    assert_eq!(history["notes"][0]["assessment"], "Viral pharyngitis");

    let trail = app.audit_trail(&clinic.admin, patient_id).await;
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "visit.create",
        "visit.check_in",
        "visit.admit",
        "visit.close",
        "patient.history",
    ] {
        assert!(actions.contains(&action), "{action} audited");
    }
}

#[tokio::test]
async fn check_in_needs_consent_and_changes_nothing_without_it() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    let problem = assert_problem(
        app.check_in(&visit, &json!({"consent_to_telehealth": false}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "consent_to_telehealth");
    let problem = assert_problem(
        app.check_in(
            &visit,
            &json!({"consent_to_telehealth": true, "vitals": {"spo2": 140}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "vitals.spo2");
    let current = app.visit(&visit, &visit.patient_token).await;
    assert_eq!(current["status"], "scheduled");
}

#[tokio::test]
async fn only_the_visits_own_patient_checks_in_and_reads_it() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mine = clinic.book(&app, "Ada").await;
    let theirs = clinic.book(&app, "Alan").await;
    let path = format!("/api/v1/visits/{}/check-in", theirs.id);
    let body = json!({"consent_to_telehealth": true});
    assert_problem(
        app.post(&path, Some(&mine.patient_token), &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.post(&path, Some(&clinic.scheduler), &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/visits/{}", theirs.id),
            Some(&mine.patient_token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get("/api/v1/queues", Some(&mine.patient_token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_transition_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.book(&app, "Ada").await;
    assert_problem(
        app.admit(&visit, &clinic.clinician).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_problem(
        app.close(&visit, &clinic.clinician, &close_body()).await,
        StatusCode::CONFLICT,
    )
    .await;
    app.check_in(&visit, &consent()).await;
    assert_problem(app.check_in(&visit, &consent()).await, StatusCode::CONFLICT).await;
    app.admit(&visit, &clinic.clinician).await;
    assert_problem(
        app.cancel(&visit, &clinic.scheduler).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_problem(
        app.patch_visit(&visit, &clinic.scheduler, &json!({"priority": "urgent"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let current = app.visit(&visit, &clinic.scheduler).await;
    assert_eq!(current["status"], "in_consult");
    assert_eq!(current["priority"], "routine");
}

#[tokio::test]
async fn two_clinicians_admitting_at_once_exactly_one_wins() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    for round in 0..3 {
        let visit = clinic.waiting(&app, &format!("P{round}")).await;
        let (a, b) = tokio::join!(
            app.admit(&visit, &clinic.clinician),
            app.admit(&visit, &clinic.other_clinician)
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409]);
    }
}

#[tokio::test]
async fn closing_a_consult_twice_hands_billing_one_visit() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    app.admit(&visit, &clinic.clinician).await;
    let body = close_body();
    let (a, b) = tokio::join!(
        app.close(&visit, &clinic.clinician, &body),
        app.close(&visit, &clinic.clinician, &body)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_problem(
        app.close(&visit, &clinic.clinician, &close_body()).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(outbox_rows(&app, &visit.id).await, 1);
}

#[tokio::test]
async fn only_the_admitting_clinician_closes_and_diagnoses_must_be_icd10() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    app.admit(&visit, &clinic.clinician).await;
    assert_problem(
        app.close(&visit, &clinic.other_clinician, &close_body())
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.close(&visit, &clinic.scheduler, &close_body()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let mut bad = close_body();
    bad["diagnoses"] = json!(["J06.9", "sore throat"]);
    let problem = assert_problem(
        app.close(&visit, &clinic.clinician, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "diagnoses[1]");
    bad["diagnoses"] = json!([]);
    assert_problem(
        app.close(&visit, &clinic.clinician, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        outbox_rows(&app, &visit.id).await,
        0,
        "nothing reached billing"
    );
    let current = app.visit(&visit, &clinic.scheduler).await;
    assert_eq!(current["status"], "in_consult");
}

#[tokio::test]
async fn a_diagnosis_must_be_a_billable_code_of_the_code_set_not_just_its_shape() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let mut body = close_body();

    body["diagnoses"] = json!(["J06.9", "A00.0000"]);
    let unknown = assert_problem(
        app.close(&visit, &clinic.clinician, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(unknown["field"], "diagnoses[1]");
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("A00.0000 is not an ICD-10-CM code"),
        "{unknown}"
    );

    body["diagnoses"] = json!(["J06"]);
    let header = assert_problem(
        app.close(&visit, &clinic.clinician, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(header["field"], "diagnoses[0]");
    let detail = header["detail"].as_str().unwrap();
    assert!(
        detail.contains("J06 ") && detail.contains("heading"),
        "{detail}"
    );
    assert!(
        detail.contains("J06.9 Acute upper respiratory infection, unspecified"),
        "the billable codes under it are suggested: {detail}"
    );
    let preview = app
        .post(
            &format!("/api/v1/visits/{}/close/preview", visit.id),
            Some(&clinic.clinician),
            &json!({"diagnoses": ["J06"]}),
        )
        .await;
    assert_problem(preview, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        outbox_rows(&app, &visit.id).await,
        0,
        "nothing reached billing"
    );

    body["diagnoses"] = json!(["j069"]);
    let closed = app.close(&visit, &clinic.clinician, &body).await;
    assert_eq!(closed.status(), StatusCode::OK);
    let conditions = app
        .get_json(
            &format!("/fhir/Condition?patient={}", visit.patient_id),
            &clinic.clinician,
        )
        .await;
    let coding = &conditions["entry"][0]["resource"]["code"]["coding"][0];
    assert_eq!(coding["code"], "J06.9");
    assert_eq!(
        coding["display"], "Acute upper respiratory infection, unspecified",
        "the condition carries the code set's description"
    );
}

#[tokio::test]
async fn the_queue_orders_by_priority_then_arrival_and_schedulers_reorder_it() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let ada = clinic.waiting(&app, "Ada").await;
    let _bob = clinic.waiting(&app, "Bob").await;
    let cy = clinic.waiting(&app, "Cy").await;
    assert_eq!(
        clinic.queue_order(&app).await,
        ["Ada Lovelace", "Bob Lovelace", "Cy Lovelace"]
    );

    assert_eq!(
        app.patch_visit(&cy, &clinic.scheduler, &json!({"priority": "urgent"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        clinic.queue_order(&app).await,
        ["Cy Lovelace", "Ada Lovelace", "Bob Lovelace"]
    );

    assert_eq!(
        app.patch_visit(&ada, &clinic.scheduler, &json!({"position": 2}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        clinic.queue_order(&app).await,
        ["Cy Lovelace", "Bob Lovelace", "Ada Lovelace"]
    );

    let queue = app
        .get_json(
            &format!("/api/v1/queues/{}", clinic.queue_id),
            &clinic.scheduler,
        )
        .await;
    let entries = queue["entries"].as_array().unwrap();
    let positions: Vec<i64> = entries
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3]);
    let waits: Vec<i64> = entries
        .iter()
        .map(|e| e["estimated_wait_seconds"].as_i64().unwrap())
        .collect();
    assert!(
        waits.windows(2).all(|w| w[0] <= w[1]) && waits[2] > 0,
        "{waits:?}"
    );

    assert_problem(
        app.patch_visit(&ada, &clinic.clinician, &json!({"priority": "emergent"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let problem = assert_problem(
        app.patch_visit(&ada, &clinic.scheduler, &json!({"priority": "asap"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "priority");
}

#[tokio::test]
async fn next_admits_the_first_waiting_visit_the_clinician_may_take() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let next = format!("/api/v1/queues/{}/next", clinic.queue_id);
    assert_eq!(
        app.post(&next, Some(&clinic.clinician), &json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let house_id = app.user_id(&clinic.scheduler, "dr.house").await;
    let first = clinic.waiting(&app, "Ada").await;
    app.patch_visit(
        &first,
        &clinic.scheduler,
        &json!({"clinician_id": house_id}),
    )
    .await;
    let second = clinic.waiting(&app, "Bob").await;

    let taken: Value = app
        .post(&next, Some(&clinic.clinician), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        taken["id"], second.id,
        "Ada is assigned to another clinician"
    );
    assert_eq!(taken["status"], "in_consult");
    let taken: Value = app
        .post(&next, Some(&clinic.other_clinician), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(taken["id"], first.id);
    assert_problem(
        app.post(&next, Some(&clinic.scheduler), &json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn cancel_and_no_show_end_the_visit_and_cancel_its_encounter() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let booked = clinic.book(&app, "Ada").await;
    let waiting = clinic.waiting(&app, "Bob").await;
    let cancelled: Value = app
        .cancel(&booked, &clinic.scheduler)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let no_show: Value = app
        .no_show(&waiting, &clinic.clinician)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(no_show["status"], "no_show");
    let history = app
        .get_json(
            &format!("/api/v1/patients/{}/history", waiting.patient_id),
            &clinic.clinician,
        )
        .await;
    assert_eq!(history["encounters"][0]["status"], "cancelled");
    assert!(clinic.queue_order(&app).await.is_empty());
    let billing = app.staff_token("bea", "billing").await;
    assert_problem(app.cancel(&waiting, &billing).await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn bad_visit_bookings_name_the_field() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let patient = app.create_patient(&clinic.scheduler, &ada()).await;
    let good = json!({"patient_id": patient["id"], "queue_id": clinic.queue_id, "reason": "Cough"});
    let cases = [
        (
            "patient_id",
            json!(uuid::Uuid::new_v4().to_string()),
            "patient_id",
        ),
        (
            "queue_id",
            json!(uuid::Uuid::new_v4().to_string()),
            "queue_id",
        ),
        (
            "clinician_id",
            json!(uuid::Uuid::new_v4().to_string()),
            "clinician_id",
        ),
        ("priority", json!("whenever"), "priority"),
        ("scheduled_start", json!("tomorrow"), "scheduled_start"),
        ("reason", json!(""), "reason"),
    ];
    for (key, value, field) in cases {
        let mut body = good.clone();
        body[key] = value;
        let problem = assert_problem(
            app.post_visit(&clinic.scheduler, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    assert_problem(
        app.post_visit(&app.staff_token("bea", "billing").await, &good)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn clinicians_record_allergies_medications_and_conditions() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let patient = app.create_patient(&clinic.scheduler, &ada()).await;
    let base = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    let allergy = json!({"substance": "Penicillin", "code": "7980", "reaction": "Hives", "severity": "moderate"});
    assert_eq!(
        app.post(
            &format!("{base}/allergies"),
            Some(&clinic.clinician),
            &allergy
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let medication = json!({"name": "Warfarin", "code": "11289"});
    assert_eq!(
        app.post(
            &format!("{base}/medications"),
            Some(&clinic.clinician),
            &medication
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let condition = json!({"code": "I48.91", "display": "Atrial fibrillation"});
    assert_eq!(
        app.post(
            &format!("{base}/conditions"),
            Some(&clinic.clinician),
            &condition
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    assert_problem(
        app.post(
            &format!("{base}/allergies"),
            Some(&clinic.scheduler),
            &allergy,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let bad = json!({"substance": "Penicillin", "severity": "deadly"});
    let problem = assert_problem(
        app.post(&format!("{base}/allergies"), Some(&clinic.clinician), &bad)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "severity");
    let missing = format!("/api/v1/patients/{}/allergies", uuid::Uuid::new_v4());
    assert_problem(
        app.post(&missing, Some(&clinic.clinician), &allergy).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let history = app
        .get_json(&format!("{base}/history"), &clinic.clinician)
        .await;
    assert_eq!(history["allergies"][0]["substance"], "Penicillin");
    assert_eq!(history["medications"][0]["code"], "11289");
    assert_eq!(history["conditions"][0]["code"], "I48.91");
    assert_problem(
        app.get(&format!("{base}/history"), Some(&clinic.scheduler))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let allergies = app
        .get_json(&format!("{base}/allergies"), &clinic.clinician)
        .await;
    assert_eq!(allergies.as_array().unwrap().len(), 1);
    // The chart is the clinicians' (and admins'): the read policy's.
    assert_problem(
        app.get(&format!("{base}/allergies"), Some(&clinic.scheduler))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}
