//! Joining rooms, waiting, admission, leaving, closing, queues.

use serde_json::json;
use signaling::HubEvent;
use signaling::protocol::{
    ErrorCode, LeaveReason, QueueId, Role, ServerMessage, VisitId, VisitStatus, VisitUpdate,
};

use crate::helpers::{call_in_v1, spawn_app};

#[tokio::test]
async fn a_patient_may_not_join_another_patients_visit() {
    let app = spawn_app().await;
    let (mut patient, _) = app.signed_in("patient-v1").await;

    patient.join("v2").await;

    patient.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn a_waiting_patient_hears_of_its_visit_and_no_peers_until_the_room_opens() {
    let mut app = spawn_app().await;
    let (mut patient, patient_id) = app.signed_in("patient-v1").await;
    let (mut guest, guest_id) = app.signed_in("guest-v1").await;

    patient.join("v1").await;
    let waiting = ServerMessage::Visit {
        visit_id: VisitId::new("v1"),
        update: VisitUpdate {
            status: VisitStatus::Waiting,
            position: Some(1),
            estimated_wait_seconds: Some(300),
        },
    };
    assert_eq!(patient.frame().await, waiting);
    guest.join("v1").await;
    assert_eq!(guest.frame().await, waiting);
    app.event(|event| matches!(event, HubEvent::ParticipantJoined { waiting: true, .. }))
        .await;
    // Waiting members do not hear of each other.
    patient.ping_pong().await;

    let update = VisitUpdate {
        status: VisitStatus::Waiting,
        position: Some(0),
        estimated_wait_seconds: Some(30),
    };
    app.hub
        .notify_visit(&VisitId::new("v1"), update.clone())
        .await;
    let expected = ServerMessage::Visit {
        visit_id: VisitId::new("v1"),
        update,
    };
    assert_eq!(patient.frame().await, expected);
    assert_eq!(guest.frame().await, expected);

    app.authoriser.admit("v1");
    app.hub.open_room(&VisitId::new("v1")).await;
    let admitted = ServerMessage::Visit {
        visit_id: VisitId::new("v1"),
        update: VisitUpdate::status(VisitStatus::InConsult),
    };
    assert_eq!(patient.frame().await, admitted);
    // Whichever entered first hears of the other by peer_joined; the
    // second finds the first in its joined.
    let sees_guest = match patient.frame().await {
        ServerMessage::Joined { participants, .. } if participants.is_empty() => {
            matches!(patient.frame().await, ServerMessage::PeerJoined(info) if info.participant_id == guest_id)
        }
        ServerMessage::Joined { participants, .. } => {
            participants.len() == 1 && participants[0].participant_id == guest_id
        }
        other => panic!("expected joined, got {other:?}"),
    };
    assert!(sees_guest, "patient never heard of the guest");
    assert_eq!(guest.frame().await, admitted);
    assert!(matches!(guest.frame().await, ServerMessage::Joined { .. }));

    let (mut clinician, clinician_id) = app.signed_in("clinician-1").await;
    clinician.join("v1").await;
    match clinician.frame().await {
        ServerMessage::Joined { participants, .. } => {
            let mut ids: Vec<_> = participants.into_iter().map(|p| p.participant_id).collect();
            ids.sort();
            let mut expected = vec![patient_id, guest_id];
            expected.sort();
            assert_eq!(ids, expected);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    match patient
        .until(|f| matches!(f, ServerMessage::PeerJoined(_)))
        .await
    {
        ServerMessage::PeerJoined(info) => {
            assert_eq!(info.participant_id, clinician_id);
            assert_eq!(info.role, Role::Clinician);
            assert_eq!(info.display_name, "Dr One");
        }
        other => panic!("expected peer_joined, got {other:?}"),
    }
}

#[tokio::test]
async fn leaving_tells_the_others_peer_left() {
    let app = spawn_app().await;
    let ((mut patient, patient_id), (mut clinician, _)) = call_in_v1(&app).await;

    patient.send_json(json!({"type": "leave"})).await;

    assert_eq!(
        clinician.frame().await,
        ServerMessage::PeerLeft {
            participant_id: patient_id,
            reason: LeaveReason::Left,
        }
    );
    patient.ping_pong().await;
}

#[tokio::test]
async fn a_clean_close_tells_the_others_peer_left() {
    let mut app = spawn_app().await;
    let ((mut patient, _), (clinician, clinician_id)) = call_in_v1(&app).await;

    clinician.close_cleanly().await;

    assert_eq!(
        patient.frame().await,
        ServerMessage::PeerLeft {
            participant_id: clinician_id,
            reason: LeaveReason::Left,
        }
    );
    app.event(|event| {
        matches!(
            event,
            HubEvent::ParticipantLeft {
                reason: LeaveReason::Left,
                role: Role::Clinician,
                ..
            }
        )
    })
    .await;
}

#[tokio::test]
async fn closing_the_room_tells_everyone_and_empties_it() {
    let app = spawn_app().await;
    let ((mut patient, _), (mut clinician, _)) = call_in_v1(&app).await;

    app.hub
        .close_room(&VisitId::new("v1"), VisitStatus::Closed)
        .await;

    let closed = ServerMessage::Visit {
        visit_id: VisitId::new("v1"),
        update: VisitUpdate::status(VisitStatus::Closed),
    };
    assert_eq!(patient.frame().await, closed);
    assert_eq!(clinician.frame().await, closed);
    clinician
        .send_json(json!({"type": "chat", "text": "still there?"}))
        .await;
    clinician.expect_error(ErrorCode::NotJoined).await;
}

#[tokio::test]
async fn joining_twice_is_refused() {
    let app = spawn_app().await;
    let ((mut patient, _), _) = call_in_v1(&app).await;

    patient.join("v1").await;

    patient.expect_error(ErrorCode::AlreadyJoined).await;
}

#[tokio::test]
async fn staff_subscribed_to_a_queue_hear_its_updates() {
    let app = spawn_app().await;
    let (mut scheduler, _) = app.signed_in("scheduler-1").await;

    scheduler
        .send_json(json!({"type": "subscribe", "queue_id": "q1"}))
        .await;
    assert_eq!(
        scheduler.frame().await,
        ServerMessage::Queue {
            queue_id: QueueId::new("q1"),
            entries: json!([]),
        }
    );
    let entries = json!([{"visit_id": "v1", "position": 1}]);
    app.hub
        .publish_queue(&QueueId::new("q1"), entries.clone())
        .await;

    assert_eq!(
        scheduler.frame().await,
        ServerMessage::Queue {
            queue_id: QueueId::new("q1"),
            entries,
        }
    );
}

#[tokio::test]
async fn patients_and_unauthorised_queues_may_not_be_subscribed() {
    let app = spawn_app().await;
    let (mut patient, _) = app.signed_in("patient-v1").await;
    let (mut scheduler, _) = app.signed_in("scheduler-1").await;

    patient
        .send_json(json!({"type": "subscribe", "queue_id": "q1"}))
        .await;
    scheduler
        .send_json(json!({"type": "subscribe", "queue_id": "q-secret"}))
        .await;

    patient.expect_error(ErrorCode::Forbidden).await;
    scheduler.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn the_server_hears_a_staff_users_socket_count() {
    let mut app = spawn_app().await;
    let (first, _) = app.signed_in("clinician-1").await;
    let (_second, _) = app.signed_in("clinician-1").await;
    app.event(|event| matches!(event, HubEvent::StaffSockets { sockets: 2, .. }))
        .await;

    first.close_cleanly().await;

    let event = app
        .event(|event| matches!(event, HubEvent::StaffSockets { sockets: 1, .. }))
        .await;
    assert!(matches!(event, HubEvent::StaffSockets { user_id, .. } if user_id.as_str() == "c1"));
}
