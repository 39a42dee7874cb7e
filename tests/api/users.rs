use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{STAFF_PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn an_admin_creates_staff_who_can_sign_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "dr.grey", "password": STAFF_PASSWORD, "role": "clinician", "display_name": "Dr. Grey", "npi": "1234567893"});
    let response = app.post("/api/v1/users", Some(&admin), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["role"], "clinician");
    assert_eq!(user["npi"], "1234567893");
    app.token("dr.grey", STAFF_PASSWORD).await;
}

#[tokio::test]
async fn only_admins_create_users() {
    let app = spawn_app().await;
    for role in ["scheduler", "clinician", "billing"] {
        let token = app.staff_token(&format!("a-{role}"), role).await;
        let body = json!({"username": "x-user", "password": STAFF_PASSWORD, "role": "admin", "display_name": "X"});
        assert_problem(
            app.post("/api/v1/users", Some(&token), &body).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
}

#[tokio::test]
async fn a_taken_username_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "sam", "password": STAFF_PASSWORD, "role": "scheduler", "display_name": "Sam"});
    assert_eq!(
        app.post("/api/v1/users", Some(&admin), &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.post("/api/v1/users", Some(&admin), &body).await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn bad_user_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let good = json!({"username": "dr.who", "password": STAFF_PASSWORD, "role": "clinician", "display_name": "Dr. Who", "npi": "1234567893"});
    let cases = [
        ("npi", json!("1234567890")),
        ("npi", json!("12345")),
        ("role", json!("surgeon")),
        ("password", json!("short")),
        ("username", json!("Has Spaces")),
        ("display_name", json!("  ")),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value;
        let problem = assert_problem(
            app.post("/api/v1/users", Some(&admin), &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let mut no_npi = good.clone();
    no_npi.as_object_mut().unwrap().remove("npi");
    let problem = assert_problem(
        app.post("/api/v1/users", Some(&admin), &no_npi).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "npi");
}

#[tokio::test]
async fn staff_list_users_by_role() {
    let app = spawn_app().await;
    let token = app.staff_token("sched", "scheduler").await;
    app.staff_token("dr.one", "clinician").await;
    let all = app.get_list("/api/v1/users", &token).await;
    assert_eq!(all.len(), 3);
    let clinicians = app.get_list("/api/v1/users?role=clinician", &token).await;
    assert_eq!(clinicians.len(), 1);
    assert_eq!(clinicians[0]["username"], "dr.one");
    let problem = assert_problem(
        app.get("/api/v1/users?role=wizard", Some(&token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "role");
}
