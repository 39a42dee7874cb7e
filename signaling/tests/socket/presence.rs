//! Presence over the socket: chosen status, in_consult, offline expiry.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signaling::MemoryPresence;
use signaling::presence::{Presence, PresenceUser};
use signaling::protocol::{ErrorCode, PresenceStatus, Role, UserId};

use crate::helpers::{Parts, call_in_v1, presence_of, spawn_app, spawn_app_with};

fn short_presence() -> Arc<dyn Presence> {
    Arc::new(MemoryPresence::new(Duration::from_millis(500)))
}

#[tokio::test]
async fn staff_hear_a_colleague_come_online_and_change_status() {
    let app = spawn_app().await;
    let (mut scheduler, _) = app.signed_in("scheduler-1").await;
    let (mut clinician, _) = app.signed_in("clinician-1").await;
    presence_of(&mut scheduler, "c1", PresenceStatus::Available).await;

    clinician
        .send_json(json!({"type": "presence", "status": "busy"}))
        .await;

    presence_of(&mut scheduler, "c1", PresenceStatus::Busy).await;
    let listed = app
        .hub
        .presence_list(Some(Role::Clinician))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user_id, UserId::new("c1"));
    assert_eq!(listed[0].status, PresenceStatus::Busy);
    assert_eq!(listed[0].display_name, "Dr One");
}

#[tokio::test]
async fn patients_may_not_set_presence() {
    let app = spawn_app().await;
    let (mut patient, _) = app.signed_in("patient-v1").await;

    patient
        .send_json(json!({"type": "presence", "status": "away"}))
        .await;

    patient.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn a_clinician_in_a_call_is_in_consult_and_available_again_after() {
    let app = spawn_app().await;
    let (mut scheduler, _) = app.signed_in("scheduler-1").await;
    let ((_patient, _), (mut clinician, _)) = call_in_v1(&app).await;

    presence_of(&mut scheduler, "c1", PresenceStatus::InConsult).await;
    clinician.send_json(json!({"type": "leave"})).await;

    presence_of(&mut scheduler, "c1", PresenceStatus::Available).await;
}

#[tokio::test]
async fn a_user_whose_last_socket_is_gone_goes_offline_after_the_timeout() {
    let app = spawn_app_with(Parts {
        presence: Some(short_presence()),
        ..Parts::default()
    })
    .await;
    let (mut scheduler, _) = app.signed_in("scheduler-1").await;
    let (clinician, _) = app.signed_in("clinician-1").await;
    let (second_tab, _) = app.signed_in("clinician-1").await;
    presence_of(&mut scheduler, "c1", PresenceStatus::Available).await;

    clinician.close_cleanly().await;
    // One tab is still open: the scheduler keeps hearing nothing about c1.
    scheduler.ping_pong().await;
    second_tab.close_cleanly().await;

    presence_of(&mut scheduler, "c1", PresenceStatus::Offline).await;
    let listed = app.hub.presence_list(None).await.expect("list");
    let c1 = listed
        .iter()
        .find(|entry| entry.user_id.as_str() == "c1")
        .expect("c1 listed");
    assert_eq!(c1.status, PresenceStatus::Offline);
}

#[tokio::test(start_paused = true)]
async fn memory_presence_expires_on_the_clock_and_reports_each_lapse_once() {
    let presence = MemoryPresence::new(Duration::from_secs(30));
    let user = PresenceUser {
        user_id: UserId::new("c1"),
        display_name: "Dr One".into(),
        role: Role::Clinician,
    };

    let online = presence
        .heartbeat(std::slice::from_ref(&user))
        .await
        .expect("heartbeat");
    assert_eq!(online.len(), 1);
    assert_eq!(online[0].status, PresenceStatus::Available);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(presence.expire().await.expect("expire").is_empty());
    tokio::time::advance(Duration::from_secs(2)).await;

    let lapsed = presence.expire().await.expect("expire");
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].status, PresenceStatus::Offline);
    assert!(presence.expire().await.expect("expire").is_empty());
}
