//! A second FHIR client beside our own requests: `fhirpy` (PyPI), as Python
//! integrations use it, creates, searches (following `next` links across
//! pages), updates and reads history; the chart and the audit trail must
//! show what it did.

use std::process::Command;

use serde_json::Value;

use crate::fhir_write::Writers;
use crate::helpers::spawn_app;

/// Runs `tests/fhirpy_client.py` against the app's FHIR base.
fn fhirpy(base: &str, token: &str, family: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fhirpy_client.py");
    let output = Command::new("python3")
        .args([script, base, token, family])
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "fhirpy is required: {stderr}"
    );
    assert!(
        output.status.success(),
        "the fhirpy client failed: {stderr}"
    );
    serde_json::from_slice(&output.stdout).expect("the client's JSON summary")
}

#[tokio::test]
async fn fhirpy_creates_pages_through_search_updates_and_reads_history() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let base = app.url("/fhir");
    let seen = tokio::task::spawn_blocking({
        let token = staff.clinician.clone();
        move || fhirpy(&base, &token, "Quimby")
    })
    .await
    .unwrap();

    let id = seen["patient_id"]
        .as_str()
        .expect("the created patient's id");
    assert_eq!(seen["found"], serde_json::json!([id]), "search by name");
    assert_eq!(
        seen["paged_values"],
        serde_json::json!([70.0, 71.0, 72.0, 73.0, 74.0]),
        "five observations read two a page through `next` links"
    );
    assert_eq!(seen["phone"], "+1 217 555 0199");
    assert_eq!(seen["version"], "2");
    assert_eq!(seen["history_versions"], serde_json::json!(["1", "2"]));

    // What the client wrote is the record: the chart shows it.
    let chart = app
        .get_json(&format!("/api/v1/patients/{id}/history"), &staff.clinician)
        .await;
    assert_eq!(chart["vitals"].as_array().unwrap().len(), 5);
    let patient = app
        .get_json(&format!("/api/v1/patients/{id}"), &staff.clinician)
        .await;
    assert_eq!(patient["phone"], "+1 217 555 0199");

    // Each write and each page read is in the patient's audit trail.
    let trail = app
        .get_list(&format!("/api/v1/audit?patient_id={id}"), &staff.admin)
        .await;
    let count = |action: &str| trail.iter().filter(|e| e["action"] == action).count();
    assert_eq!(count("fhir.create"), 6, "the patient and five observations");
    assert_eq!(count("fhir.update"), 1);
    assert!(count("fhir.search") >= 3, "three pages of two: {trail:?}");
}
