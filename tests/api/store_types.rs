//! Optional numbers written through one connection: a statement first run
//! with a figure missing, then with it present (a coded vital sign, then a
//! measured one; a pre-call check that never connected, then one that
//! did). PostgreSQL keeps the first run's parameter types for a prepared
//! statement, so both orders must work on both stores.

use bedside::model::ids::{PatientId, PreCallId, VisitId};
use bedside::model::precall::{PreCallResult, Verdict};
use bedside::model::timestamp::Timestamp;
use bedside::model::vitals::{Measurement, loinc};
use bedside::store::{self, DatabaseUrl, ObservationRecord, Store};
use serde_json::json;

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_json, spawn_app};

/// A second store on the app's database with a single connection, so
/// every statement below reuses what the one before it prepared.
async fn one_connection(app: &TestApp) -> Store {
    let url = app.db.as_ref().unwrap().url.clone();
    let database = if url.starts_with("postgres") {
        DatabaseUrl::Postgres(url)
    } else {
        DatabaseUrl::Sqlite(url)
    };
    Store::connect(&database, 1).await.unwrap()
}

fn measured(value: Option<f64>, answer: Option<&'static str>) -> Measurement {
    Measurement {
        category: "vital-signs",
        loinc: if answer.is_some() {
            loinc::CONSCIOUSNESS
        } else {
            loinc::HEART_RATE
        },
        display: "Heart rate",
        value,
        value_code: answer,
        unit: value.map(|_| "beats/minute"),
        ucum: value.map(|_| "/min"),
    }
}

#[tokio::test]
async fn a_missing_figure_then_a_present_one_both_write_through_one_connection() {
    let app = spawn_app().await;
    let scheduler = app.staff_token("types.sched", "scheduler").await;
    let patient = app
        .create_patient(
            &scheduler,
            &json!({"given_name": "Nell", "family_name": "Types", "birth_date": "1980-01-02", "sex": "female"}),
        )
        .await;
    let patient = PatientId::from_trusted(patient["id"].as_str().unwrap().to_owned());
    let queue = app.create_queue(&scheduler, "Types").await;
    let visit = app
        .post(
            "/api/v1/visits",
            Some(&scheduler),
            &json!({"patient_id": patient.as_str(), "queue_id": queue, "reason": "Review"}),
        )
        .await;
    let visit: serde_json::Value = assert_json(visit, StatusCode::CREATED).await;
    let visit = VisitId::from_trusted(visit["id"].as_str().unwrap().to_owned());
    let store = one_connection(&app).await;

    for (first, then) in [(None, Some(88.5)), (Some(61.0), None)] {
        let mut tx = store.begin().await.unwrap();
        let answer = first.is_none().then_some("248234008");
        store::insert_observation(&mut tx, &patient, None, &measured(first, answer), 1)
            .await
            .unwrap();
        let answer = then.is_none().then_some("248234008");
        store::insert_observation(&mut tx, &patient, None, &measured(then, answer), 2)
            .await
            .unwrap();
        store::commit(tx).await.unwrap();
    }

    let record = |value| ObservationRecord {
        patient: patient.clone(),
        encounter: None,
        category: "vital-signs".to_owned(),
        code: loinc::HEART_RATE.to_owned(),
        display: "Heart rate".to_owned(),
        value,
        value_code: value.is_none().then(|| "248234008".to_owned()),
        unit: None,
        ucum: None,
        effective_at: Timestamp(3),
    };
    let mut tx = store.begin().await.unwrap();
    store::save_observation(&mut tx, None, &record(None))
        .await
        .unwrap();
    store::save_observation(&mut tx, None, &record(Some(72.25)))
        .await
        .unwrap();
    store::commit(tx).await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let values: Vec<Option<f64>> = store::observations_for_patient(&mut tx, &patient, None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.value)
        .collect();
    store::commit(tx).await.unwrap();
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    present.sort_by(f64::total_cmp);
    assert_eq!(present, [61.0, 72.25, 88.5]);
    assert_eq!(values.iter().filter(|v| v.is_none()).count(), 3);

    // A check that never connected has no round trip or loss; the next one has both.
    let check = |n: i64, rtt: Option<f64>| PreCallResult {
        id: PreCallId::from_trusted(format!("types-check-{n}")),
        visit_id: visit.clone(),
        started_at: Timestamp(n * 10),
        finished_at: Timestamp(n * 10 + 5),
        verdict: if rtt.is_some() {
            Verdict::Good
        } else {
            Verdict::Failed
        },
        gathered: vec!["host".to_owned()],
        path: rtt.map(|_| "host".to_owned()),
        rtt_ms: rtt,
        loss_percent: rtt.map(|_| 0.5),
        upload_kbps: rtt.map(|_| 900),
        advice: String::new(),
    };
    for (n, rtt) in [(1, None), (2, Some(23.5)), (3, None)] {
        let mut tx = store.begin().await.unwrap();
        store::insert_precall(&mut tx, &check(n, rtt))
            .await
            .unwrap();
        store::commit(tx).await.unwrap();
    }
    let mut tx = store.begin_read().await.unwrap();
    let latest = store::latest_precall(&mut tx, &visit)
        .await
        .unwrap()
        .unwrap();
    store::commit(tx).await.unwrap();
    assert_eq!(latest.id.as_str(), "types-check-3");
    store.close().await;
}
