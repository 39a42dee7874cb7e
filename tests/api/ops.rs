use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_while_the_process_lives() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_ready_when_the_store_answers() {
    let app = spawn_app().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "up");
    assert_eq!(body["redis"], "not_configured");
}

#[tokio::test]
async fn readyz_names_redis_when_it_cannot_be_reached() {
    // Nothing listens on port 1.
    let app = spawn_app_with(|s| s.set("REDIS_URL", "redis://127.0.0.1:1")).await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["redis"]));
    assert_eq!(body["store"], "up");
}

#[tokio::test]
async fn readyz_reports_redis_up_when_it_answers() {
    let app = spawn_app_with(|s| s.set("REDIS_URL", "redis://127.0.0.1:6379")).await;
    let response = app.get("/readyz", None).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["redis"], "up",
        "Redis must run on 127.0.0.1:6379 for this test"
    );
}

#[tokio::test]
async fn readyz_names_the_store_when_it_is_gone() {
    let app = spawn_app().await;
    app.store.close().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["store"]));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let missing = format!("/api/v1/patients/{}", uuid::Uuid::new_v4());
    assert_eq!(
        app.get(&missing, Some(&token)).await.status(),
        StatusCode::NOT_FOUND
    );
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("bedside_http_requests_total"), "{text}");
    assert!(
        text.lines().any(
            |l| l.contains(r#"route="/api/v1/patients/{id}""#) && l.contains(r#"status="404""#)
        ),
        "{text}"
    );
    assert!(text.contains("bedside_http_request_duration_seconds_bucket"));
    assert!(text.contains("bedside_websocket_connections_open"));
    assert!(
        !text.contains(missing.trim_start_matches("/api/v1/patients/")),
        "ids never become labels"
    );
}

#[tokio::test]
async fn openapi_describes_the_routes_of_the_contract() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/users",
        "/api/v1/patients",
        "/api/v1/patients/{id}",
        "/api/v1/audit",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from OpenAPI");
    }
    assert!(doc["paths"]["/api/v1/patients"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn answers_with_health_data_are_never_cached() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app.get("/api/v1/patients", Some(&token)).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let problem = app.get("/api/v1/patients", None).await;
    assert_eq!(problem.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn unknown_routes_answer_problem_json() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn the_sign_in_page_is_served_with_its_test_hooks() {
    let app = spawn_app().await;
    let response = app.get("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    for hook in [
        r#"data-testid="username""#,
        r#"data-testid="password""#,
        r#"data-testid="sign-in""#,
    ] {
        assert!(html.contains(hook), "{hook}");
    }
    let script = app.get("/assets/app.js", None).await;
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
}

/// `docs/openapi.json` is the generated document, kept beside the API
/// guide; `BEDSIDE_UPDATE_OPENAPI=1` rewrites it after a change.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let generated = serde_json::to_string_pretty(&bedside::http::openapi()).unwrap() + "\n";
    if std::env::var("BEDSIDE_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run BEDSIDE_UPDATE_OPENAPI=1 cargo test -p bedside --test api openapi"
    );
}
