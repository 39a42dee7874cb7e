//! The clinician's note draft: saved as typed during the consult, read
//! back after a reload, only by the visit's clinician, gone at close.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinic::{Clinic, close_body};
use crate::helpers::{assert_json, assert_problem, spawn_app};

#[tokio::test]
async fn a_draft_saved_during_the_consult_comes_back_and_is_gone_after_close() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    assert_problem(
        app.draft(&visit, &clinic.clinician).await,
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
    let saved: Value = assert_json(
        app.save_draft(&visit, &clinic.clinician, &typed).await,
        StatusCode::OK,
    )
    .await;
    assert!(saved["updated_at"].is_string());

    // A reload, or another device: the same fields come back.
    let back: Value = assert_json(app.draft(&visit, &clinic.clinician).await, StatusCode::OK).await;
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
        app.save_draft(&visit, &clinic.other_clinician, &typed)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.draft(&visit, &clinic.other_clinician).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.draft(&visit, &visit.patient_token).await.status(),
        StatusCode::FORBIDDEN
    );
    let huge = json!({"plan": "x".repeat(20_001)});
    let refused = assert_problem(
        app.save_draft(&visit, &clinic.clinician, &huge).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["field"], "plan");

    // Closing makes the note final: the draft is gone and cannot return.
    let closed = app.close(&visit, &clinic.clinician, &close_body()).await;
    assert_eq!(closed.status(), StatusCode::OK);
    assert_problem(
        app.draft(&visit, &clinic.clinician).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.save_draft(&visit, &clinic.clinician, &typed).await,
        StatusCode::CONFLICT,
    )
    .await;

    let actions: Vec<String> = app
        .audit_trail(&clinic.admin, &visit.patient_id)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.iter().any(|a| a == "note_draft.save"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "note_draft.read"),
        "{actions:?}"
    );
}
