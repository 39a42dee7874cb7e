//! Sign-in hashing is bounded: a storm of sign-ins beyond the pool and its
//! queue is refused with 503 and `Retry-After` while everything else keeps
//! answering, and a right password still works afterwards.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, assert_problem, spawn_app_with};

/// One wrong sign-in per made-up username, all at once.
async fn storm(app: &TestApp, size: usize) -> Vec<reqwest::Response> {
    let attempts = (0..size).map(|n| async move {
        let body = json!({"username": format!("nobody-{n}"), "password": "not-the-password"});
        app.post("/api/v1/auth/login", None, &body).await
    });
    join_all(attempts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_beyond_the_hashing_pool_get_503_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.set("BEDSIDE_SIGNIN_WORKERS", "1")
            .set("BEDSIDE_SIGNIN_QUEUE", "1")
    })
    .await;

    let answers = storm(&app, 40).await;

    let mut refused = 0;
    for response in answers {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                let retry = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert!(retry.parse::<u64>().unwrap() > 0, "Retry-After: {retry}");
                let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
                assert!(problem["detail"].as_str().unwrap().contains("try again"));
            }
            other => panic!("a wrong sign-in answered {other}"),
        }
    }
    assert!(
        refused > 0,
        "a pool of one with a queue of one refused none of 40"
    );
    // The storm passed: the right password signs in.
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_everything_else_while_sign_ins_queue() {
    let app = spawn_app_with(|s| {
        s.set("BEDSIDE_SIGNIN_WORKERS", "1")
            .set("BEDSIDE_SIGNIN_QUEUE", "200")
            .set("BEDSIDE_SIGNIN_WAIT_MS", "60000")
    })
    .await;
    let admin = app.admin_token().await;

    // A long queue on one hashing thread: the storm takes a while.
    let storm = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/login");
        async move {
            let attempts = (0..45).map(|n| {
                client
                    .post(&url)
                    .json(
                        &json!({"username": format!("nobody-{n}"), "password": "not-the-password"}),
                    )
                    .send()
            });
            join_all(attempts).await
        }
    });
    // Reads and health checks answer while the sign-ins wait their turn.
    let mut health = app.get("/healthz", None).await;
    let mut users = app.get("/api/v1/users", Some(&admin)).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(users.status(), StatusCode::OK);
    for _ in 0..20 {
        health = app.get("/healthz", None).await;
        users = app.get("/api/v1/users", Some(&admin)).await;
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(users.status(), StatusCode::OK);
    }
    assert!(
        !storm.is_finished(),
        "the reads answered only after 45 queued sign-ins"
    );
    let answers = storm.await.expect("the storm");
    for answer in answers {
        assert_eq!(
            answer.expect("an answer").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    app.stop().await;
}
