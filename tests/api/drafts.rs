//! The clinician's note draft: saved as typed during the consult, read
//! back after a reload, only by the visit's clinician, gone at close.

use bedside::store::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinic::{Clinic, close_body};
use crate::helpers::{assert_json, assert_problem, lock_waiters, spawn_app};

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

/// A save that comes while the visit is closing waits for the close and is
/// refused, so no draft outlives its visit. On PostgreSQL the test holds
/// the visit's row as a transition would, lets the close and then the save
/// queue behind it, and lets go; SQLite runs one writer at a time, so there
/// the two simply run side by side.
#[tokio::test]
async fn a_draft_saved_while_the_visit_closes_does_not_outlive_it() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let typed = json!({"subjective": "Typed as the visit closed"});
    let postgres = app.store.backend() == Backend::Postgres;
    let mut holder = app.store.pool().begin().await.unwrap();
    if postgres {
        sqlx::query("SELECT id FROM visits WHERE id = $1 FOR UPDATE")
            .bind(visit.id.as_str())
            .execute(&mut *holder)
            .await
            .unwrap();
    }

    let body = close_body();
    let close = app.close(&visit, &clinic.clinician, &body);
    let save_behind_it = async {
        if postgres {
            lock_waiters(&app, 1, "the close").await;
        }
        let release = async {
            if postgres {
                lock_waiters(&app, 2, "the save").await;
            }
            holder.rollback().await.unwrap();
        };
        tokio::join!(app.save_draft(&visit, &clinic.clinician, &typed), release).0
    };
    let (closed, saved) = tokio::join!(close, save_behind_it);

    assert_eq!(closed.status(), StatusCode::OK);
    if postgres {
        assert_problem(saved, StatusCode::CONFLICT).await;
    } else {
        // Whichever went first, the close has the last word.
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&saved.status()),
            "{}",
            saved.status()
        );
    }
    assert_problem(
        app.draft(&visit, &clinic.clinician).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM note_drafts WHERE visit_id = $1")
        .bind(visit.id.as_str())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "no draft is left of a closed visit");
}
