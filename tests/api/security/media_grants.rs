//! A visit's media credentials go to its participants only (its patient,
//! its clinician, admitted guests), never to an admin who is not one;
//! each grant is audited.

use reqwest::StatusCode;
use serde_json::Value;

use crate::clinic::Clinic;
use crate::helpers::{assert_json, spawn_app_with};

#[tokio::test]
async fn an_admin_gets_no_turn_credentials_and_each_grant_is_audited() {
    let app = spawn_app_with(|source| {
        source
            .set("BEDSIDE_TURN_URLS", "turn:turn.example.org:3478")
            .set("BEDSIDE_TURN_SECRET", "a-turn-secret-for-tests")
    })
    .await;
    let clinic = Clinic::open(&app).await;
    let visit = clinic.in_consult(&app, "Ada").await;
    let path = format!("/api/v1/visits/{}/media", visit.id);

    let refused = app.get(&path, Some(&clinic.admin)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    for token in [&visit.patient_token, &clinic.clinician] {
        let plan: Value = assert_json(app.get(&path, Some(token)).await, StatusCode::OK).await;
        let turn = plan["ice_servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["credential"].is_string());
        assert!(
            turn.is_some(),
            "a participant gets TURN credentials: {plan}"
        );
    }

    let events = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    let grants: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "media.grant")
        .collect();
    let mut roles: Vec<&str> = grants
        .iter()
        .map(|e| e["actor_role"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["clinician", "patient"], "{events:#?}");
    assert!(
        grants
            .iter()
            .all(|e| e["resource_id"] == visit.encounter_id.as_str())
    );
    assert!(
        events.iter().any(|e| e["outcome"] == "denied"
            && e["actor_role"] == "admin"
            && e["resource_id"] == visit.id.as_str()),
        "the admin's attempt is audited: {events:#?}"
    );
}
