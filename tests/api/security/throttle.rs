//! Throttling is per username and address together, with backoff, and says
//! when to retry; forwarded addresses count only from trusted proxies.

use std::net::IpAddr;

use reqwest::{Response, StatusCode};
use serde_json::json;

use bedside::config::Source;

use crate::helpers::{ADMIN_PASSWORD, TestApp, assert_problem, spawn_app_with};

/// A first wait long enough that no test outruns it.
fn slow_backoff(source: Source) -> Source {
    source.set("BEDSIDE_SIGNIN_BACKOFF_SECONDS", "600")
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().expect("an address"))
        .build()
        .expect("a client")
}

async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    password: &str,
    forwarded_for: Option<&str>,
) -> Response {
    let mut request = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("POST")
}

/// Wrong passwords until the throttle answers 429 (within a dozen).
async fn until_throttled(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
) -> Response {
    for _ in 0..12 {
        let response = login(app, client, "wrong-password", forwarded_for).await;
        match response.status() {
            StatusCode::UNAUTHORIZED => continue,
            StatusCode::TOO_MANY_REQUESTS => return response,
            other => panic!("a wrong password answered {other}"),
        }
    }
    panic!("twelve wrong passwords in a row were never throttled");
}

#[tokio::test]
async fn throttled_sign_ins_say_when_to_retry() {
    let app = spawn_app_with(slow_backoff).await;
    let response = until_throttled(&app, &app.client, None).await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=600).contains(&retry), "Retry-After: {retry}");
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("seconds"), "{detail}");
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_out_another() {
    let app = spawn_app_with(slow_backoff).await;
    let attacker = client_from("127.0.0.2");
    until_throttled(&app, &attacker, None).await;
    // The attacker stays throttled, even with the right password…
    let response = login(&app, &attacker, ADMIN_PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // …while the account's owner, elsewhere, signs in.
    let owner = client_from("127.0.0.3");
    let response = login(&app, &owner, ADMIN_PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(slow_backoff).await;
    until_throttled(&app, &app.client, Some("203.0.113.1")).await;
    // Claiming another address changes nothing: the peer is who counts.
    let response = login(&app, &app.client, ADMIN_PASSWORD, Some("203.0.113.2")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn a_forwarded_address_from_a_trusted_proxy_is_the_client() {
    let app =
        spawn_app_with(|s| slow_backoff(s).set("BEDSIDE_TRUSTED_PROXIES", "127.0.0.0/8")).await;
    until_throttled(&app, &app.client, Some("203.0.113.1")).await;
    // Behind the proxy, another client is another address.
    let response = login(&app, &app.client, ADMIN_PASSWORD, Some("203.0.113.2")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = login(&app, &app.client, ADMIN_PASSWORD, Some("203.0.113.1")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

/// Creates a patient as the admin, through a client claiming `forwarded_for`;
/// the address the audit trail recorded for it.
async fn audited_address(app: &TestApp, forwarded_for: &str) -> String {
    let admin = app.admin_token().await;
    let response = app
        .client
        .post(app.url("/api/v1/patients"))
        .bearer_auth(&admin)
        .header("x-forwarded-for", forwarded_for)
        .json(&crate::helpers::ada())
        .send()
        .await
        .expect("POST");
    let patient: serde_json::Value =
        crate::helpers::assert_json(response, StatusCode::CREATED).await;
    let trail = app
        .audit_trail(&admin, patient["id"].as_str().unwrap())
        .await;
    let created = trail
        .iter()
        .find(|e| e["action"] == "patient.create")
        .expect("the creation is audited");
    created["ip"].as_str().expect("an address").to_owned()
}

#[tokio::test]
async fn the_audit_trail_records_the_address_the_throttle_uses() {
    let app = spawn_app_with(|s| s.set("BEDSIDE_TRUSTED_PROXIES", "127.0.0.1")).await;
    assert_eq!(audited_address(&app, "203.0.113.7").await, "203.0.113.7");
    app.stop().await;

    let app = spawn_app_with(slow_backoff).await;
    assert_eq!(audited_address(&app, "203.0.113.7").await, "127.0.0.1");
    app.stop().await;
}
