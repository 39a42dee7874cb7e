use reqwest::StatusCode;
use serde_json::{Value, json};

use bedside::store::{self, Backend, Counter};

use crate::helpers::{ada, assert_problem, lock_waiters, spawn_app};

#[tokio::test]
async fn staff_create_a_patient_and_read_it_back() {
    let app = spawn_app().await;
    let token = app.staff_token("sched", "scheduler").await;
    let created = app.create_patient(&token, &ada()).await;
    assert!(created["mrn"].as_str().unwrap().starts_with("MRN"));
    assert_eq!(created["address"]["postal_code"], "62701-1234");
    assert_eq!(created["insurance"]["member_id"], "M123");

    let id = created["id"].as_str().unwrap();
    let read = app
        .get_json(&format!("/api/v1/patients/{id}"), &token)
        .await;
    assert_eq!(read, created);
}

#[tokio::test]
async fn each_patient_gets_its_own_medical_record_number() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let a = app.create_patient(&token, &ada()).await;
    let b = app.create_patient(&token, &ada()).await;
    assert_ne!(a["mrn"], b["mrn"]);
    assert_ne!(a["id"], b["id"]);
}

/// On PostgreSQL medical record numbers come from a sequence: a registration
/// still open holds no lock that another has to wait for.
#[tokio::test]
async fn a_registration_does_not_wait_for_another_still_open() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut open = app.store.begin().await.unwrap();
    let taken = store::take_number(&mut open, Counter::Mrn).await.unwrap();
    let patient = ada();
    let created = if app.store.backend() == Backend::Postgres {
        let created = tokio::select! {
            created = app.create_patient(&token, &patient) => created,
            () = lock_waiters(&app, 1, "the registration") => {
                panic!("the registration waited for the open one's number")
            }
        };
        store::commit(open).await.unwrap();
        created
    } else {
        // One writer at a time: a registration waits for the open one to end.
        store::commit(open).await.unwrap();
        app.create_patient(&token, &patient).await
    };
    assert_ne!(created["mrn"], format!("MRN{taken:07}"));
    let after = app.create_patient(&token, &ada()).await;
    assert_ne!(after["mrn"], created["mrn"]);
}

#[tokio::test]
async fn patients_are_found_by_the_start_of_a_name() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.create_patient(&token, &ada()).await;
    let mut alan = ada();
    alan["given_name"] = json!("Alan");
    alan["family_name"] = json!("Turing");
    app.create_patient(&token, &alan).await;

    let found = app.get_list("/api/v1/patients?name=lov", &token).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["family_name"], "Lovelace");
    let by_given = app.get_list("/api/v1/patients?name=ALA", &token).await;
    assert_eq!(by_given.len(), 1);
    let wildcard = app.get_list("/api/v1/patients?name=%25", &token).await;
    assert!(
        wildcard.is_empty(),
        "LIKE wildcards in the query are literal"
    );
    let all = app.get_list("/api/v1/patients", &token).await;
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn a_missing_or_malformed_patient_id_is_404() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_problem(
        app.get(
            &format!("/api/v1/patients/{}", uuid::Uuid::new_v4()),
            Some(&token),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/api/v1/patients/not-an-id", Some(&token)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn invalid_patient_fields_are_422_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let cases: [(&str, Value, &str); 10] = [
        ("birth_date", json!("1990-02-30"), "birth_date"),
        ("birth_date", json!("2999-01-01"), "birth_date"),
        ("birth_date", json!("yesterday"), "birth_date"),
        ("sex", json!("f"), "sex"),
        ("given_name", json!(""), "given_name"),
        ("email", json!("not-an-email"), "email"),
        ("phone", json!("call me"), "phone"),
        (
            "address",
            json!({"line": "1 A St", "city": "X", "state": "IL", "postal_code": "1234"}),
            "address.postal_code",
        ),
        (
            "address",
            json!({"line": "1 A St", "city": "X", "state": "Illinois", "postal_code": "62701"}),
            "address.state",
        ),
        (
            "insurance",
            json!({"payer_id": "P", "payer_name": "Plan"}),
            "insurance.member_id",
        ),
    ];
    for (key, value, field) in cases {
        let mut body = ada();
        body[key] = value;
        let problem = assert_problem(
            app.post("/api/v1/patients", Some(&token), &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let mut missing = ada();
    missing.as_object_mut().unwrap().remove("family_name");
    let problem = assert_problem(
        app.post("/api/v1/patients", Some(&token), &missing).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "family_name");
    let mut extra = ada();
    extra["ssn"] = json!("123-45-6789");
    let problem = assert_problem(
        app.post("/api/v1/patients", Some(&token), &extra).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "ssn");

    let all = app.get_list("/api/v1/patients", &token).await;
    assert!(all.is_empty(), "no invalid patient was stored");
}

#[tokio::test]
async fn a_patient_token_cannot_use_staff_routes() {
    let app = spawn_app().await;
    let staff = app.admin_token().await;
    let patient = app.create_patient(&staff, &ada()).await;
    let queue = app.create_queue(&staff, "Clinic").await;
    let visit = app.book_visit(&staff, &patient, &queue, "Cough").await;
    let token = visit.patient_token;
    let own = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    assert_problem(app.get(&own, Some(&token)).await, StatusCode::FORBIDDEN).await;
    assert_problem(
        app.get("/api/v1/patients", Some(&token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.post("/api/v1/patients", Some(&token), &ada()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut body = ada();
    body["given_name"] = json!("x".repeat(300 * 1024));
    let response = app.post("/api/v1/patients", Some(&token), &body).await;
    assert!(response.status().is_client_error());
    let all = app.get_list("/api/v1/patients", &token).await;
    assert!(all.is_empty());
}
