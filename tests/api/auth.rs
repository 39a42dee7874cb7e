use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_first_admin_signs_in_with_the_configured_password() {
    let app = spawn_app().await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("bss_"));
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["role"], "admin");
    assert!(body["user"]["id"].is_string() && body["user"]["display_name"].is_string());
    assert!(body["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    let wrong = assert_problem(
        app.login("admin", "not-the-password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody", "not-the-password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test]
async fn repeated_failures_for_a_username_get_429_even_with_the_right_password() {
    // A first wait no test outruns; the address is the same throughout.
    let app = spawn_app_with(|s| s.set("BEDSIDE_SIGNIN_BACKOFF_SECONDS", "600")).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("admin", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let body = assert_problem(
        app.login("admin", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert!(
        !body["detail"].as_str().unwrap().contains("password is"),
        "no hint about the password"
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429_for_every_username() {
    let app = spawn_app_with(|s| s.set("BEDSIDE_SIGNIN_BACKOFF_SECONDS", "600")).await;
    // Fifty failures from one address, whatever the usernames, are free.
    for i in 0..50 {
        let status = app
            .login(&format!("guess{i}"), "wrong-password")
            .await
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login("someone-else", "wrong-password").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    let response = app
        .post("/api/v1/auth/logout", Some(&token), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/auth/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.get("/api/v1/users", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn requests_without_or_with_a_bad_token_get_401() {
    let app = spawn_app().await;
    let none = assert_problem(
        app.get("/api/v1/users", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(none["detail"].is_string());
    for token in ["bss_forged", "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        assert_problem(
            app.get("/api/v1/users", Some(token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

#[tokio::test]
async fn an_expired_session_no_longer_signs_in() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_problem(
        app.get("/api/v1/auth/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_malformed_login_body_is_400_and_a_missing_field_422() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    let body = assert_problem(
        app.post("/api/v1/auth/login", None, &json!({"username": "admin"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["field"], "password");
    let form = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_problem(form, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}
