//! Real data: synthetic patients from Synthea's Python port (a fixed
//! seed; `tests/synthea_bundles.py` shapes them to what Bedside keeps) go
//! in through the transaction endpoint and come back out through FHIR
//! search, the chart's REST API and the CDS services.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fhir_write::{Writers, fhir_answer};
use crate::helpers::{assert_valid_fhir, spawn_app};

/// The transaction Bundles of `population` patients made with `seed`.
fn synthea_bundles(seed: u32, population: u32) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/synthea_bundles.py");
    let output = Command::new("python3")
        .args([script, &seed.to_string(), &population.to_string()])
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "Synthea is required: {stderr}"
    );
    assert!(output.status.success(), "Synthea failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("a JSON list of Bundles")
}

fn of_type<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

#[tokio::test]
async fn synthea_patients_import_atomically_and_read_back_through_search_chart_and_cds() {
    let bundles = synthea_bundles(42, 2);
    assert_eq!(bundles.len(), 2, "two living patients from seed 42");
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let mut last_patient = None;
    for bundle in &bundles {
        assert_valid_fhir(bundle);
        let response = app.post("/fhir", Some(&staff.clinician), bundle).await;
        let (_, answer) = fhir_answer(response, StatusCode::OK).await;
        assert_valid_fhir(&answer);
        let sent = bundle["entry"].as_array().unwrap();
        let got = answer["entry"].as_array().unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got.iter().all(|e| e["response"]["status"] == "201 Created"));
        let patient_id = got[0]["response"]["location"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap()
            .to_owned();
        let source = of_type(bundle, "Patient")[0];
        let family = source["name"][0]["family"].as_str().unwrap();

        // FHIR search finds the patient by name, as sent.
        let (_, found) = fhir_answer(
            app.get(
                &format!("/fhir/Patient?name={family}"),
                Some(&staff.clinician),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_valid_fhir(&found);
        assert_eq!(found["total"], 1);
        let read = &found["entry"][0]["resource"];
        assert_eq!(read["id"], patient_id);
        assert_eq!(read["birthDate"], source["birthDate"]);
        assert_eq!(read["gender"], source["gender"]);

        // Each heart rate sent, and no other, is found by code.
        let observations = of_type(bundle, "Observation");
        let heart_rates: Vec<f64> = observations
            .iter()
            .filter(|o| o["code"]["coding"][0]["code"] == "8867-4")
            .map(|o| o["valueQuantity"]["value"].as_f64().unwrap())
            .collect();
        assert!(!heart_rates.is_empty());
        let (_, rates) = fhir_answer(
            app.get(
                &format!("/fhir/Observation?patient={patient_id}&code=http://loinc.org|8867-4"),
                Some(&staff.clinician),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_valid_fhir(&rates);
        let mut served: Vec<f64> = rates["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["valueQuantity"]["value"].as_f64().unwrap())
            .collect();
        let mut expected = heart_rates.clone();
        served.sort_by(f64::total_cmp);
        expected.sort_by(f64::total_cmp);
        assert_eq!(served, expected);
        for entry in rates["entry"].as_array().unwrap().iter().take(3) {
            assert_valid_fhir(&entry["resource"]);
        }

        // The chart holds the whole record.
        let chart = app
            .get_json(
                &format!("/api/v1/patients/{patient_id}/history"),
                &staff.clinician,
            )
            .await;
        assert_eq!(chart["patient"]["family_name"], family);
        assert_eq!(
            chart["vitals"].as_array().unwrap().len(),
            observations.len()
        );
        assert_eq!(
            chart["medications"].as_array().unwrap().len(),
            of_type(bundle, "MedicationStatement").len()
        );
        let allergies = of_type(bundle, "AllergyIntolerance");
        assert_eq!(
            chart["allergies"].as_array().unwrap().len(),
            allergies.len()
        );
        last_patient = Some(patient_id.clone());
    }

    // Decision support reads the imported record: the NSAIDs Synthea
    // prescribed this patient are stopped, so ordering warfarin raises no
    // card; once an active one is written over FHIR, the order does.
    let patient_id = last_patient.expect("a patient was imported");
    let order_warfarin = || {
        let draft = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11289", "display": "Warfarin"}]},
            "subject": {"reference": format!("Patient/{patient_id}")}}}]});
        json!({
            "hook": "order-sign",
            "hookInstance": uuid::Uuid::new_v4().to_string(),
            "context": {"userId": "Practitioner/1", "patientId": patient_id, "draftOrders": draft},
        })
    };
    let response = app
        .post(
            "/cds-services/bedside-order-sign",
            Some(&staff.clinician),
            &order_warfarin(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["cards"], json!([]), "stopped NSAIDs raise nothing");
    let ibuprofen = json!({
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"}], "text": "Ibuprofen 400 MG Oral Tablet"},
        "subject": {"reference": format!("Patient/{patient_id}")},
    });
    let response = app
        .post(
            "/fhir/MedicationStatement",
            Some(&staff.clinician),
            &ibuprofen,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post(
            "/cds-services/bedside-order-sign",
            Some(&staff.clinician),
            &order_warfarin(),
        )
        .await;
    let answer: Value = response.json().await.unwrap();
    let cards = answer["cards"].as_array().unwrap();
    assert!(
        cards.iter().any(|c| c["summary"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("warfarin")),
        "{cards:#?}"
    );
}
