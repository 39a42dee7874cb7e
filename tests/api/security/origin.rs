//! Which pages may open the socket, and bodies over the limit.

use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, within};

/// Opens `/ws` with `origin` (none when `None`); the handshake's status.
async fn handshake(app: &TestApp, origin: Option<&str>) -> StatusCode {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("a request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header value"));
    }
    match within("the handshake", tokio_tungstenite::connect_async(request)).await {
        Ok((_, response)) => StatusCode::from_u16(response.status().as_u16()).unwrap(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            StatusCode::from_u16(response.status().as_u16()).unwrap()
        }
        Err(other) => panic!("the handshake failed: {other}"),
    }
}

#[tokio::test]
async fn a_page_from_another_origin_cannot_open_the_socket() {
    let app = spawn_app().await;
    assert_eq!(
        handshake(&app, Some("https://evil.example")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(handshake(&app, Some("null")).await, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn the_servers_own_pages_and_clients_without_origin_connect() {
    let app = spawn_app().await;
    let own = format!("http://{}", app.addr);
    assert_eq!(
        handshake(&app, Some(&own)).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    assert_eq!(handshake(&app, None).await, StatusCode::SWITCHING_PROTOCOLS);
    app.stop().await;
}

#[tokio::test]
async fn a_listed_origin_connects() {
    let app = spawn_app_with(|s| s.set("BEDSIDE_ALLOWED_ORIGINS", "https://app.example.org")).await;
    assert_eq!(
        handshake(&app, Some("https://app.example.org")).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    assert_eq!(
        handshake(&app, Some("https://other.example.org")).await,
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}

#[tokio::test]
async fn a_json_body_over_the_limit_answers_413() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"given_name": "x".repeat(300 * 1024)});
    let response = app.post("/api/v1/patients", Some(&admin), &body).await;
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem["detail"].as_str().unwrap().contains("larger than"));
    app.stop().await;
}
