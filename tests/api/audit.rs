use bedside::store::Backend;
use reqwest::StatusCode;

use crate::helpers::{ada, assert_problem, spawn_app};

#[tokio::test]
async fn every_read_and_write_of_a_patient_is_audited_with_who_what_when_and_where() {
    let app = spawn_app().await;
    let clinician = app.staff_token("dr.grey", "clinician").await;
    let patient = app.create_patient(&clinician, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    app.get(&format!("/api/v1/patients/{id}"), Some(&clinician))
        .await;
    app.get("/api/v1/patients?name=love", Some(&clinician))
        .await;

    let admin = app.admin_token().await;
    let trail = app.audit_trail(&admin, id).await;
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["patient.search", "patient.read", "patient.create"],
        "newest first"
    );
    for event in &trail {
        assert_eq!(event["actor_role"], "clinician");
        assert_eq!(event["actor_type"], "user");
        assert_eq!(event["resource_type"], "Patient");
        assert_eq!(event["resource_id"], id);
        assert_eq!(event["outcome"], "success");
        assert_eq!(event["ip"], "127.0.0.1");
        assert!(event["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(event["hash"].as_str().unwrap().len(), 64);
    }
    // Reading the trail is itself in the trail.
    let again = app.audit_trail(&admin, id).await;
    assert_eq!(again[0]["action"], "audit.read");
    assert_eq!(again[0]["actor_role"], "admin");
}

#[tokio::test]
async fn a_read_of_a_missing_patient_is_audited_as_not_found() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = uuid::Uuid::new_v4().to_string();
    app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
        .await;
    let trail = app.audit_trail(&admin, &id).await;
    assert_eq!(trail.last().unwrap()["outcome"], "not_found");
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = spawn_app().await;
    let clinician = app.staff_token("dr.grey", "clinician").await;
    let path = format!("/api/v1/audit?patient_id={}", uuid::Uuid::new_v4());
    assert_problem(
        app.get(&path, Some(&clinician)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(app.get(&path, None).await, StatusCode::UNAUTHORIZED).await;
    let admin = app.admin_token().await;
    let problem = assert_problem(
        app.get("/api/v1/audit?patient_id=x", Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "patient_id");
}

#[tokio::test]
async fn the_audit_chain_links_each_event_to_the_one_before() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let patient = app.create_patient(&admin, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    for _ in 0..3 {
        app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
            .await;
    }
    let trail = app.audit_trail(&admin, id).await;
    for pair in trail.windows(2) {
        assert_eq!(
            pair[0]["prev_hash"], pair[1]["hash"],
            "consecutive events link"
        );
        assert_eq!(
            pair[0]["seq"].as_i64().unwrap(),
            pair[1]["seq"].as_i64().unwrap() + 1
        );
    }
    let report = app.get_json("/api/v1/audit/verify", &admin).await;
    assert_eq!(report["valid"], true);
    assert_eq!(report["events_checked"], 5);
}

#[tokio::test]
async fn concurrent_writes_keep_one_unbroken_chain() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = ada();
    let writes = (0..12).map(|_| app.create_patient(&admin, &body));
    futures_util::future::join_all(writes).await;
    let report = app.get_json("/api/v1/audit/verify", &admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["events_checked"], 12);
}

#[tokio::test]
async fn the_audit_log_refuses_changes_and_tampering_shows_in_verification() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let patient = app.create_patient(&admin, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
        .await;
    app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
        .await;

    bedside::audit::sealer::seal(&app.store).await.unwrap();
    let pool = app.store.pool();
    let update = sqlx::query("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 2")
        .execute(pool)
        .await;
    assert!(update.is_err(), "audit events cannot be updated");
    assert!(
        sqlx::query("DELETE FROM audit_events")
            .execute(pool)
            .await
            .is_err(),
        "nor deleted"
    );

    // Someone with full database rights removes the guard and rewrites history.
    let drop_guard = match app.store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_events_no_update",
        Backend::Postgres => "DROP TRIGGER audit_events_no_change ON audit_events",
    };
    sqlx::query(drop_guard).execute(pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 2")
        .execute(pool)
        .await
        .unwrap();

    let report = app.get_json("/api/v1/audit/verify", &admin).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_broken_seq"], 2);
}

#[tokio::test]
async fn the_running_server_seals_each_committed_event_into_the_chain_by_itself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_patient(&admin, &ada()).await;
    // Nobody reads the trail: the sealer beside the server links the event.
    let pool = app.store.pool();
    let sealed = async {
        loop {
            let (chained,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'patient.create'")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            if chained == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), sealed)
        .await
        .expect("the event was sealed");
    let (waiting,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_pending")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(waiting, 0);
    let (head, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT seq FROM audit_chain WHERE id = 1), (SELECT COUNT(*) FROM audit_events)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(head, events, "the chain's head is its last event");
}
