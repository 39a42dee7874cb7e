//! One read policy for REST and FHIR: schedulers read demographics and
//! visits, billers what billing needs (demographics, encounters, claims),
//! neither the chart; clinicians and admins read the chart.

use reqwest::StatusCode;

use crate::clinic::{Clinic, close_body};
use crate::helpers::{TestApp, spawn_app};

async fn status(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.get(path, Some(token)).await.status()
}

#[tokio::test]
async fn rest_and_fhir_give_each_role_the_same_answer() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let response = app.close(&visit, &clinic.clinician, &close_body()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let biller = app.staff_token("biller", "billing").await;
    let pid = &visit.patient_id;

    let chart = [
        format!("/api/v1/patients/{pid}/history"),
        format!("/api/v1/patients/{pid}/conditions"),
        format!("/api/v1/patients/{pid}/allergies"),
        format!("/api/v1/patients/{pid}/medications"),
        format!("/api/v1/visits/{}/summary", visit.id),
        format!("/fhir/Observation?patient=Patient/{pid}"),
        format!("/fhir/Condition?patient=Patient/{pid}"),
        format!("/fhir/AllergyIntolerance?patient=Patient/{pid}"),
        format!("/fhir/Composition/{}", visit.id),
    ];
    let demographics = [
        format!("/api/v1/patients/{pid}"),
        format!("/api/v1/visits/{}", visit.id),
        format!("/fhir/Patient/{pid}"),
    ];
    let encounter = format!("/fhir/Encounter/{}", visit.encounter_id);
    let encounters = format!("/fhir/Encounter?patient=Patient/{pid}");
    let claims = format!("/fhir/Claim?patient=Patient/{pid}");

    for path in chart.iter() {
        assert_eq!(
            status(&app, path, &clinic.scheduler).await,
            StatusCode::FORBIDDEN,
            "scheduler {path}"
        );
        assert_eq!(
            status(&app, path, &biller).await,
            StatusCode::FORBIDDEN,
            "biller {path}"
        );
        assert_eq!(
            status(&app, path, &clinic.clinician).await,
            StatusCode::OK,
            "clinician {path}"
        );
        assert_eq!(
            status(&app, path, &clinic.admin).await,
            StatusCode::OK,
            "admin {path}"
        );
    }
    for path in demographics.iter() {
        for token in [&clinic.scheduler, &biller, &clinic.clinician, &clinic.admin] {
            assert_eq!(status(&app, path, token).await, StatusCode::OK, "{path}");
        }
    }
    for path in [&encounter, &encounters] {
        assert_eq!(
            status(&app, path, &clinic.scheduler).await,
            StatusCode::FORBIDDEN,
            "scheduler {path}"
        );
        assert_eq!(
            status(&app, path, &biller).await,
            StatusCode::OK,
            "biller {path}"
        );
        assert_eq!(
            status(&app, path, &clinic.clinician).await,
            StatusCode::OK,
            "clinician {path}"
        );
    }
    assert_eq!(status(&app, &claims, &biller).await, StatusCode::OK);
    assert_eq!(status(&app, &claims, &clinic.admin).await, StatusCode::OK);
    assert_eq!(
        status(&app, &claims, &clinic.scheduler).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, &claims, &clinic.clinician).await,
        StatusCode::FORBIDDEN
    );
}
