//! FHIR R4 Schedule, Slot and Appointment, read and searched, each checked
//! with the FHIR validator (`tests/fhir_validate.py`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_json, assert_valid_fhir};
use crate::schedule::Clinic;

async fn fhir(c: &Clinic, path: &str) -> Value {
    let response = c.app.get(path, Some(&c.scheduler)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let body: Value = response.json().await.unwrap();
    assert_valid_fhir(&body);
    body
}

fn resources(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"].clone())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn schedules_slots_and_appointments_read_as_valid_fhir() {
    let c = Clinic::open().await;
    let start = c.slots().await[7]["start"].as_str().unwrap().to_owned();
    let booked: Value = assert_json(c.book(&start, "Knee pain").await, StatusCode::CREATED).await;
    let visit = booked["id"].as_str().unwrap();
    let patient = c.patient["id"].as_str().unwrap();

    let appointment = fhir(&c, &format!("/fhir/Appointment/{visit}")).await;
    assert_eq!(appointment["status"], "booked");
    assert_eq!(appointment["start"], start);
    assert_eq!(appointment["minutesDuration"], 30);
    assert_eq!(
        appointment["participant"][0]["actor"]["reference"],
        format!("Patient/{patient}")
    );
    let slot_ref = appointment["slot"][0]["reference"]
        .as_str()
        .unwrap()
        .to_owned();

    let found = resources(&fhir(&c, &format!("/fhir/Appointment?patient=Patient/{patient}")).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], visit);
    let none = resources(
        &fhir(
            &c,
            "/fhir/Appointment?patient=Patient/0190e4a2-1234-7abc-8def-0123456789ab",
        )
        .await,
    );
    assert!(none.is_empty());

    let schedule = fhir(&c, &format!("/fhir/Schedule/{}", c.clinician_id)).await;
    assert_eq!(
        schedule["actor"][0]["reference"],
        format!("Practitioner/{}", c.clinician_id)
    );
    let schedules = resources(
        &fhir(
            &c,
            &format!("/fhir/Schedule?actor=Practitioner/{}", c.clinician_id),
        )
        .await,
    );
    assert_eq!(schedules.len(), 1);

    // The booked slot reads as busy; the search lists the coming free ones.
    let slot = fhir(&c, &format!("/fhir/{slot_ref}")).await;
    assert_eq!(slot["status"], "busy");
    assert_eq!(slot["start"], start);
    assert_eq!(
        slot["schedule"]["reference"],
        format!("Schedule/{}", c.clinician_id)
    );
    let slots = resources(
        &fhir(
            &c,
            &format!("/fhir/Slot?schedule=Schedule/{}", c.clinician_id),
        )
        .await,
    );
    assert!(slots.iter().any(|s| s["status"] == "free"));
    // The clinic works around the clock: the search answers the first slots of its schedule.
    assert!(slots.iter().all(|s| s["schedule"] == slot["schedule"]));
    assert!(
        slots
            .windows(2)
            .all(|w| w[0]["start"].as_str() < w[1]["start"].as_str())
    );

    // Cancelled, the appointment says so and the slot is free again.
    let response = c
        .app
        .post(
            &format!("/api/v1/visits/{visit}/cancel"),
            Some(&c.scheduler),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        fhir(&c, &format!("/fhir/Appointment/{visit}")).await["status"],
        "cancelled"
    );
    assert_eq!(
        fhir(&c, &format!("/fhir/{slot_ref}")).await["status"],
        "free"
    );

    let metadata: Value = c
        .app
        .get("/fhir/metadata", None)
        .await
        .json()
        .await
        .unwrap();
    let served: Vec<&str> = metadata["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for kind in ["Schedule", "Slot", "Appointment"] {
        assert!(served.contains(&kind), "{kind} in {served:?}");
    }
}
