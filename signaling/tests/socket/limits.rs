//! Frame size, rate and flooding limits.

use std::num::NonZeroU32;

use futures_util::SinkExt;
use serde_json::json;
use signaling::HubConfig;
use signaling::protocol::{ErrorCode, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Parts, quick_config, spawn_app, spawn_app_with};

fn limit(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let app = spawn_app().await;
    let (mut client, _) = app.signed_in("patient-v1").await;

    let text = json!({"type": "chat", "text": "x".repeat(70 * 1024)}).to_string();
    client.send_text(text).await;

    assert_eq!(client.closed().await, CloseCode::Size);
}

#[tokio::test]
async fn a_frame_just_under_64_kib_is_accepted() {
    let app = spawn_app().await;
    let (mut client, _) = app.signed_in("patient-v1").await;

    let text = json!({"type": "chat", "text": "x".repeat(60 * 1024)}).to_string();
    client.send_text(text).await;

    client.expect_error(ErrorCode::NotJoined).await;
}

#[tokio::test]
async fn frames_beyond_the_burst_are_rate_limited_and_the_socket_stays_open() {
    // The contract's burst; a slow refill so the count does not depend on
    // how fast this machine is.
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            rate_per_second: limit(1),
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    let (mut client, _) = app.signed_in("patient-v1").await;
    let sent = 1_100;

    for _ in 0..sent {
        client.send_json(json!({"type": "ping"})).await;
    }

    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..sent {
        match client.frame().await {
            ServerMessage::Pong => pongs += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited > 0, "no frame was rate limited");
    assert!(
        pongs >= 1_000,
        "the burst of 1,000 was not honoured: {pongs}"
    );
    assert!(
        client
            .ws
            .send(Message::Ping(Vec::new().into()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn persistent_flooding_closes_with_1008() {
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            rate_per_second: limit(10),
            rate_burst: limit(20),
            flood_per_second: limit(1),
            flood_burst: limit(20),
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    let (mut client, _) = app.signed_in("patient-v1").await;

    for _ in 0..200 {
        if client
            .ws
            .send(Message::Text(json!({"type": "ping"}).to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }

    assert_eq!(client.closed().await, CloseCode::Policy);
}
