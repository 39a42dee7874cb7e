//! `hello`, `welcome`, bad first frames, malformed frames, resume.

use std::time::Duration;

use serde_json::json;
use signaling::protocol::{ErrorCode, LeaveReason, ServerMessage};
use signaling::{HubConfig, HubEvent};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Parts, quick_config, spawn_app, spawn_app_with};

#[tokio::test]
async fn hello_with_a_good_token_is_welcomed() {
    let app = spawn_app().await;
    let mut client = app.connect().await;

    client
        .send_json(json!({"type": "hello", "token": "clinician-1"}))
        .await;

    match client.frame().await {
        ServerMessage::Welcome {
            participant_id,
            role,
            resume_token,
        } => {
            assert!(!participant_id.as_str().is_empty());
            assert_eq!(role, signaling::protocol::Role::Clinician);
            assert!(resume_token.expose().len() >= 32);
        }
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn hello_with_a_bad_token_closes_with_1008() {
    let app = spawn_app().await;
    let mut client = app.connect().await;

    client
        .send_json(json!({"type": "hello", "token": "forged"}))
        .await;

    assert_eq!(client.closed().await, CloseCode::Policy);
}

#[tokio::test]
async fn hello_the_server_cannot_check_now_hears_unavailable_and_closes_with_1013() {
    let app = spawn_app().await;
    let mut client = app.connect().await;

    client
        .send_json(json!({"type": "hello", "token": "store-down"}))
        .await;

    client.expect_error(ErrorCode::Unavailable).await;
    assert_eq!(client.closed().await, CloseCode::Again);
}

#[tokio::test]
async fn a_draining_hub_sends_each_socket_to_reconnect_and_keeps_its_session_for_resume() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    let (participant_id, resume) = client.hello("clinician-1").await;

    app.hub.drain(Duration::from_secs(2));

    match client.frame().await {
        ServerMessage::Reconnect { after_ms } => assert!(after_ms <= 1_000, "{after_ms}"),
        other => panic!("expected reconnect, got {other:?}"),
    }
    assert_eq!(client.closed().await, CloseCode::Restart);
    // Let go as a drop, not a leave: the session resumes.
    let mut back = app.connect().await;
    back.send_json(json!({"type": "hello", "token": "clinician-1", "resume": resume}))
        .await;
    assert_eq!(back.welcome().await.0, participant_id);
}

#[tokio::test]
async fn a_first_frame_other_than_hello_closes_with_1008() {
    let app = spawn_app().await;
    let mut client = app.connect().await;

    client.send_json(json!({"type": "ping"})).await;

    assert_eq!(client.closed().await, CloseCode::Policy);
}

#[tokio::test]
async fn a_socket_that_never_says_hello_is_closed() {
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            hello_timeout: Duration::from_millis(100),
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    let mut client = app.connect().await;

    assert_eq!(client.closed().await, CloseCode::Policy);
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            idle_timeout: Duration::from_millis(200),
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    let (mut client, _) = app.signed_in("patient-v1").await;

    assert_eq!(client.closed().await, CloseCode::Away);
}

#[tokio::test]
async fn malformed_and_unknown_frames_get_errors_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (mut client, _) = app.signed_in("patient-v1").await;

    client.send_text("not json".into()).await;
    client.expect_error(ErrorCode::Malformed).await;
    client.send_json(json!({"type": "dance"})).await;
    client.expect_error(ErrorCode::UnknownType).await;
    client.send_json(json!({"type": "join"})).await;
    client.expect_error(ErrorCode::Malformed).await;
    client
        .send_json(json!({"type": "candidate", "to": "x", "candidate": "not an object"}))
        .await;
    client.expect_error(ErrorCode::Malformed).await;
    client
        .send_json(json!({"type": "hello", "token": "patient-v1"}))
        .await;
    client.expect_error(ErrorCode::AlreadyAuthenticated).await;

    client.ping_pong().await;
}

#[tokio::test]
async fn a_resume_within_the_window_keeps_the_participant_id_and_peers_see_nothing() {
    let mut app = spawn_app().await;
    app.authoriser.admit("v1");
    let mut patient = app.connect().await;
    let (patient_id, resume) = patient.hello("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    let (mut clinician, clinician_id) = app.signed_in("clinician-1").await;
    clinician.join("v1").await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Joined { .. }
    ));

    patient.drop_connection();
    app.event(|event| matches!(event, HubEvent::ParticipantDisconnected { .. }))
        .await;
    let mut back = app.connect().await;
    back.send_json(json!({"type": "hello", "token": "patient-v1", "resume": resume}))
        .await;
    let (resumed_id, new_resume) = back.welcome().await;

    assert_eq!(resumed_id, patient_id);
    assert_ne!(new_resume, resume);
    match back.frame().await {
        ServerMessage::Joined { participants, .. } => {
            assert_eq!(participants.len(), 1);
            assert_eq!(participants[0].participant_id, clinician_id);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    // Nothing (no peer_left) reached the clinician before this pong.
    clinician.ping_pong().await;
    clinician
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "v=0"}))
        .await;
    assert!(matches!(back.frame().await, ServerMessage::Offer { .. }));
}

#[tokio::test]
async fn a_resume_after_the_window_fails_and_peers_saw_peer_left() {
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            resume_window: Duration::from_millis(100),
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    app.authoriser.admit("v1");
    let mut patient = app.connect().await;
    let (patient_id, resume) = patient.hello("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    let (mut clinician, _) = app.signed_in("clinician-1").await;
    clinician.join("v1").await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Joined { .. }
    ));

    patient.drop_connection();

    assert_eq!(
        clinician.frame().await,
        ServerMessage::PeerLeft {
            participant_id: patient_id.clone(),
            reason: LeaveReason::Timeout,
        }
    );
    let mut late = app.connect().await;
    late.send_json(json!({"type": "hello", "token": "patient-v1", "resume": resume}))
        .await;
    let (new_id, _) = late.welcome().await;
    assert_ne!(new_id, patient_id);
    late.expect_error(ErrorCode::ResumeFailed).await;
}

#[tokio::test]
async fn a_resume_token_of_someone_else_is_not_honoured() {
    let app = spawn_app().await;
    let mut patient = app.connect().await;
    let (patient_id, resume) = patient.hello("patient-v1").await;

    let mut thief = app.connect().await;
    thief
        .send_json(json!({"type": "hello", "token": "patient-v2", "resume": resume}))
        .await;
    let (thief_id, _) = thief.welcome().await;

    assert_ne!(thief_id, patient_id);
    thief.expect_error(ErrorCode::ResumeFailed).await;
    patient.ping_pong().await;
}

#[tokio::test]
async fn sockets_beyond_the_node_limit_are_closed_with_1013() {
    let app = spawn_app_with(Parts {
        config: Some(HubConfig {
            max_sockets: 1,
            ..quick_config()
        }),
        ..Parts::default()
    })
    .await;
    let (mut first, _) = app.signed_in("patient-v1").await;

    let mut second = app.connect().await;

    assert_eq!(second.closed().await, CloseCode::Again);
    first.ping_pong().await;
}

#[tokio::test]
async fn shutting_the_hub_down_closes_its_sockets_with_1001() {
    let app = spawn_app().await;
    let (mut client, _) = app.signed_in("clinician-1").await;

    app.hub.shutdown();

    assert_eq!(client.closed().await, CloseCode::Away);
}
