//! The clinician's note draft: saved as typed during the consult, read
//! back after a reload, only by the visit's clinician, gone at close.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinic::{Clinic, admit, close, close_body, get_json, id, patient_token};
use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn put_draft(app: &TestApp, visit: &Value, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/visits/{}/draft", id(visit))))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("PUT")
}

async fn get_draft(app: &TestApp, visit: &Value, token: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/visits/{}/draft", id(visit)), Some(token))
        .await
}

#[tokio::test]
async fn a_draft_saved_during_the_consult_comes_back_and_is_gone_after_close() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.waiting(&app, "Ada").await;
    assert_eq!(
        admit(&app, &visit, &clinic.clinician).await.status(),
        StatusCode::OK
    );
    assert_problem(
        get_draft(&app, &visit, &clinic.clinician).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let typed = json!({
        "subjective": "Sore throat for three days",
        "assessment": "Viral pharyngitis, likely",
        "diagnoses": "J02.9, R0",
        "total_minutes": "1",
        "patient_location": "home",
        "audio_only": false
    });
    let saved = put_draft(&app, &visit, &clinic.clinician, &typed).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert!(saved["updated_at"].is_string());

    // A reload, or another device: the same fields come back.
    let back: Value = get_draft(&app, &visit, &clinic.clinician)
        .await
        .json()
        .await
        .unwrap();
    for key in [
        "subjective",
        "assessment",
        "diagnoses",
        "total_minutes",
        "patient_location",
    ] {
        assert_eq!(back[key], typed[key], "{key}");
    }
    assert_eq!(back["plan"], "");

    // Only the visit's clinician writes or reads it; a patient never.
    assert_problem(
        put_draft(&app, &visit, &clinic.other_clinician, &typed).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        get_draft(&app, &visit, &clinic.other_clinician).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        get_draft(&app, &visit, patient_token(&visit))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let huge = json!({"plan": "x".repeat(20_001)});
    let refused = assert_problem(
        put_draft(&app, &visit, &clinic.clinician, &huge).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["field"], "plan");

    // Closing makes the note final: the draft is gone and cannot return.
    let closed = close(&app, &visit, &clinic.clinician, &close_body()).await;
    assert_eq!(closed.status(), StatusCode::OK);
    assert_problem(
        get_draft(&app, &visit, &clinic.clinician).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        put_draft(&app, &visit, &clinic.clinician, &typed).await,
        StatusCode::CONFLICT,
    )
    .await;

    let audit = get_json(
        &app,
        &format!(
            "/api/v1/audit?patient_id={}",
            visit["patient_id"].as_str().unwrap()
        ),
        &clinic.admin,
    )
    .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"note_draft.save"), "{actions:?}");
    assert!(actions.contains(&"note_draft.read"), "{actions:?}");
}
