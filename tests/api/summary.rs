//! The after-visit summary: the visit's patient reads it once the visit has
//! closed and for the configured days after, as JSON and as a FHIR
//! Composition; every read is audited.

use std::time::Duration;

use bedside::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{
    STAFF_PASSWORD, TestApp, assert_json, assert_problem, assert_valid_fhir, spawn_app_with,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn summary_path(visit: &Visit) -> String {
    format!("/api/v1/visits/{}/summary", visit.id)
}

pub fn closing() -> Value {
    json!({
        "diagnoses": ["J06.9", "Z99.89"],
        "note": {
            "subjective": "Sore throat for 3 days",
            "objective": "Erythema",
            "assessment": "Viral upper respiratory infection",
            "plan": "Rest and drink plenty of fluids. Paracetamol as needed.\nFollow up in 1 week if not better."
        },
        "total_minutes": 18,
        "patient_location": "home"
    })
}

/// A clinic with billing configured (its name and phone) and 10 summary days.
async fn clinic_app() -> TestApp {
    spawn_app_with(|source| {
        Config::with_demo_defaults(&source)
            .set("BEDSIDE_BILLING_POLL_SECONDS", "0")
            .set("BEDSIDE_SUMMARY_DAYS", "10")
    })
    .await
}

async fn closed_visit(app: &TestApp, clinic: &Clinic, name: &str) -> Visit {
    let visit = clinic.in_consult(app, name).await;
    assert_json::<Value>(
        app.close(&visit, &clinic.clinician, &closing()).await,
        StatusCode::OK,
    )
    .await;
    visit
}

#[tokio::test]
async fn the_patient_reads_the_summary_of_a_closed_visit_in_plain_words() {
    let app = clinic_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let early = assert_problem(
        app.get(&summary_path(&visit), Some(&visit.patient_token))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        early["detail"]
            .as_str()
            .unwrap()
            .contains("once the visit has closed"),
        "{early}"
    );
    assert_json::<Value>(
        app.close(&visit, &clinic.clinician, &closing()).await,
        StatusCode::OK,
    )
    .await;

    let summary: Value = assert_json(
        app.get(&summary_path(&visit), Some(&visit.patient_token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(summary["clinician_name"].is_string(), "{summary}");
    assert!(summary["visit_date"].is_string());
    assert_eq!(summary["diagnoses"][0]["code"], "J06.9");
    assert_eq!(
        summary["diagnoses"][0]["description"],
        "Acute upper respiratory infection, unspecified"
    );
    assert_eq!(summary["diagnoses"][1]["code"], "Z99.89");
    assert_eq!(
        summary["diagnoses"][1]["description"],
        "Dependence on other enabling machines and devices"
    );
    assert_eq!(
        summary["instructions"],
        json!(["Rest and drink plenty of fluids.", "Paracetamol as needed."])
    );
    assert_eq!(
        summary["follow_up"],
        json!(["Follow up in 1 week if not better."])
    );
    assert_eq!(summary["clinic"]["name"], "Bedside Demo Clinic");
    assert_eq!(summary["clinic"]["phone"], "(217) 555-0100");

    // Staff read it too.
    assert_json::<Value>(
        app.get(&summary_path(&visit), Some(&clinic.clinician))
            .await,
        StatusCode::OK,
    )
    .await;

    let actions: Vec<String> = app
        .audit_trail(&clinic.admin, &visit.patient_id)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "visit.summary_read")
            .count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn another_patients_token_cannot_read_the_summary() {
    let app = clinic_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = closed_visit(&app, &clinic, "Ada").await;
    let other = clinic.book(&app, "Grace").await;
    assert_problem(
        app.get(&summary_path(&visit), Some(&other.patient_token))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let fhir = app
        .get(
            &format!("/fhir/Composition/{}", visit.id),
            Some(&other.patient_token),
        )
        .await;
    assert_eq!(fhir.status(), StatusCode::FORBIDDEN);
    assert_problem(
        app.get(&summary_path(&visit), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn the_summary_is_gone_after_its_days_and_so_is_the_link() {
    let app = clinic_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = closed_visit(&app, &clinic, "Ada").await;

    // The join link outlives its seven days to carry the summary.
    app.clock.advance(DAY * 9);
    assert_json::<Value>(
        app.get(&summary_path(&visit), Some(&visit.patient_token))
            .await,
        StatusCode::OK,
    )
    .await;

    app.clock.advance(DAY * 2);
    // Past its days the link itself is dead; staff still hear the summary is gone.
    assert_problem(
        app.get(&summary_path(&visit), Some(&visit.patient_token))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let clinician = app.token("dr.grey", STAFF_PASSWORD).await;
    let gone = assert_problem(
        app.get(&summary_path(&visit), Some(&clinician)).await,
        StatusCode::GONE,
    )
    .await;
    let detail = gone["detail"].as_str().unwrap();
    assert!(detail.contains("no longer available"), "{detail}");
    assert!(detail.contains("Bedside Demo Clinic"), "{detail}");
    let fhir = app
        .get(&format!("/fhir/Composition/{}", visit.id), Some(&clinician))
        .await;
    assert_eq!(fhir.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_summary_is_a_valid_fhir_composition_for_the_patient_and_staff() {
    let app = clinic_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = closed_visit(&app, &clinic, "Ada").await;
    let path = format!("/fhir/Composition/{}", visit.id);

    let composition: Value = assert_json(
        app.get(&path, Some(&visit.patient_token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(composition["resourceType"], "Composition");
    assert_eq!(composition["status"], "final");
    assert_eq!(
        composition["subject"]["reference"],
        format!("Patient/{}", visit.patient_id)
    );
    assert_eq!(
        composition["encounter"]["reference"],
        format!("Encounter/{}", visit.encounter_id)
    );
    let titles: Vec<&str> = composition["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Diagnoses",
            "Plan and instructions",
            "Follow-up",
            "Contact the clinic"
        ]
    );
    assert!(
        composition["section"][0]["text"]["div"]
            .as_str()
            .unwrap()
            .contains("Acute upper respiratory infection, unspecified (J06.9)")
    );
    assert_valid_fhir(&composition);

    let by_staff: Value = assert_json(
        app.get(&path, Some(&clinic.clinician)).await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&by_staff);

    // Before close it is a conflict, as an OperationOutcome.
    let open = clinic.in_consult(&app, "Grace").await;
    let early = app
        .get(
            &format!("/fhir/Composition/{}", open.id),
            Some(&open.patient_token),
        )
        .await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let outcome: Value = early.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
}
