//! A staff session's sockets end with the session: on sign-out (on any
//! node) and at its expiry, they close with 1008 and hear nothing more.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use signaling::protocol::ServerMessage;

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{STAFF_PASSWORD, TestApp, spawn_app, spawn_app_on, spawn_app_with, within};
use crate::socket::{CloseSeen, Socket};

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const POLICY: u16 = 1008;

async fn logout(app: &TestApp, token: &str) {
    let response = app
        .post("/api/v1/auth/logout", Some(token), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// A scheduler's socket watching the clinic's queue, past its first frame.
async fn watching(app: &TestApp, token: &str, queue_id: &str) -> Socket {
    let mut socket = Socket::hello(app, token).await;
    socket.subscribe(queue_id).await;
    socket.queue_update(|_| true).await;
    socket
}

/// Books a visit into the clinic's queue with a fresh admin sign-in.
async fn book_as_admin(app: &TestApp, clinic: &Clinic) -> Visit {
    let admin = app.admin_token().await;
    let patient = app.create_patient(&admin, &crate::helpers::ada()).await;
    app.book_visit(&admin, &patient, &clinic.queue_id, "Cough")
        .await
}

fn no_queue_frames(seen: &CloseSeen) {
    assert!(
        !seen
            .frames
            .iter()
            .any(|f| matches!(f, ServerMessage::Queue { .. })),
        "queue frames after the session ended: {:?}",
        seen.frames
    );
}

#[tokio::test]
async fn signing_out_closes_the_sessions_socket_and_no_queue_frame_follows() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mut socket = watching(&app, &clinic.scheduler, &clinic.queue_id).await;

    logout(&app, &clinic.scheduler).await;
    // The queue changes after the sign-out: the old socket must not hear it.
    book_as_admin(&app, &clinic).await;

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, POLICY, "closed as {seen:?}");
    no_queue_frames(&seen);
    assert_eq!(Socket::refused(&app, &clinic.scheduler).await, POLICY);
}

#[tokio::test]
async fn signing_out_one_session_leaves_the_users_other_session_open() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let second = app.token("sched", STAFF_PASSWORD).await;
    let mut first_socket = watching(&app, &clinic.scheduler, &clinic.queue_id).await;
    let mut second_socket = watching(&app, &second, &clinic.queue_id).await;

    logout(&app, &clinic.scheduler).await;
    assert_eq!(first_socket.close_frame().await.code, POLICY);
    let booked = book_as_admin(&app, &clinic).await;
    second_socket
        .queue_update(|entries| entries.to_string().contains(&booked.id))
        .await;
}

#[tokio::test]
async fn a_socket_closes_when_its_session_expires() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mut socket = watching(&app, &clinic.scheduler, &clinic.queue_id).await;

    // Past the default twelve-hour session; a fresh sign-in changes the queue.
    app.clock.advance(Duration::from_secs(13 * 3600));
    book_as_admin(&app, &clinic).await;

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, POLICY, "closed as {seen:?}");
    assert_eq!(seen.reason, "session expired");
    no_queue_frames(&seen);
}

#[tokio::test]
async fn an_expired_sessions_socket_cannot_subscribe() {
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let mut socket = Socket::hello(&app, &clinic.scheduler).await;

    app.clock.advance(Duration::from_secs(13 * 3600));
    socket.subscribe(&clinic.queue_id).await;

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, POLICY, "closed as {seen:?}");
    no_queue_frames(&seen);
}

/// Fails, rather than skips, when the shared Redis is not there.
async fn require_redis() {
    let client = redis::Client::open(REDIS_URL).expect("a Redis URL");
    within(
        "Redis at 127.0.0.1:6379",
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|e| panic!("Redis must be running at {REDIS_URL}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_node_closes_the_sessions_socket_on_another() {
    require_redis().await;
    let node_a = spawn_app_with(|source| source.set("REDIS_URL", REDIS_URL)).await;
    let url = node_a
        .db
        .as_ref()
        .expect("node A owns the database")
        .url
        .clone();
    let node_b = spawn_app_on(&url, |source| source.set("REDIS_URL", REDIS_URL)).await;
    let clinic = Clinic::open(&node_a).await;
    let mut socket = watching(&node_b, &clinic.scheduler, &clinic.queue_id).await;

    logout(&node_a, &clinic.scheduler).await;

    let seen = socket.close_frame().await;
    assert_eq!(seen.code, POLICY, "closed as {seen:?}");
    no_queue_frames(&seen);
}
