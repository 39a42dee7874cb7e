//! Relay of offer, answer, candidate and chat between call members.

use serde_json::json;
use signaling::protocol::{ErrorCode, ServerMessage};

use crate::helpers::{Parts, call_in_v1, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_forged_from_is_replaced_by_the_server() {
    let app = spawn_app().await;
    let ((mut patient, patient_id), (mut clinician, clinician_id)) = call_in_v1(&app).await;

    clinician
        .send_json(
            json!({"type": "offer", "to": patient_id, "sdp": "v=0 offer", "from": "someone-else"}),
        )
        .await;

    assert_eq!(
        patient.frame().await,
        ServerMessage::Offer {
            from: clinician_id,
            sdp: "v=0 offer".into(),
        }
    );
}

#[tokio::test]
async fn offer_answer_and_candidates_are_relayed_as_sent_and_in_order() {
    let app = spawn_app().await;
    let ((mut patient, patient_id), (mut clinician, clinician_id)) = call_in_v1(&app).await;

    clinician
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "offer-sdp"}))
        .await;
    assert_eq!(
        patient.frame().await,
        ServerMessage::Offer {
            from: clinician_id.clone(),
            sdp: "offer-sdp".into(),
        }
    );
    patient
        .send_json(json!({"type": "answer", "to": clinician_id, "sdp": "answer-sdp"}))
        .await;
    assert_eq!(
        clinician.frame().await,
        ServerMessage::Answer {
            from: patient_id.clone(),
            sdp: "answer-sdp".into(),
        }
    );
    for index in 0..50 {
        let candidate =
            json!({"candidate": format!("candidate:{index}"), "sdpMid": "0", "sdpMLineIndex": 0});
        patient
            .send_json(json!({"type": "candidate", "to": clinician_id, "candidate": candidate}))
            .await;
    }
    for index in 0..50 {
        match clinician.frame().await {
            ServerMessage::Candidate { from, candidate } => {
                assert_eq!(from, patient_id);
                assert_eq!(
                    serde_json::Value::Object(candidate),
                    json!({"candidate": format!("candidate:{index}"), "sdpMid": "0", "sdpMLineIndex": 0})
                );
            }
            other => panic!("expected candidate {index}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn relay_to_someone_outside_the_room_is_not_in_room() {
    let app = spawn_app().await;
    let ((_patient, _), (mut clinician, _)) = call_in_v1(&app).await;
    let (mut other_patient, other_id) = app.signed_in("patient-v2").await;

    clinician
        .send_json(json!({"type": "offer", "to": other_id, "sdp": "x"}))
        .await;
    clinician.expect_error(ErrorCode::NotInRoom).await;
    clinician
        .send_json(json!({"type": "offer", "to": "nobody", "sdp": "x"}))
        .await;
    clinician.expect_error(ErrorCode::NotInRoom).await;
    other_patient.ping_pong().await;
}

#[tokio::test]
async fn relay_before_joining_a_call_is_refused() {
    let app = spawn_app().await;
    let (mut patient, _) = app.signed_in("patient-v1").await;
    let (_clinician, clinician_id) = app.signed_in("clinician-1").await;

    patient
        .send_json(json!({"type": "offer", "to": clinician_id, "sdp": "x"}))
        .await;
    patient.expect_error(ErrorCode::NotJoined).await;
    patient.join("v1").await;
    assert!(matches!(patient.frame().await, ServerMessage::Visit { .. }));
    patient
        .send_json(json!({"type": "offer", "to": clinician_id, "sdp": "x"}))
        .await;
    patient.expect_error(ErrorCode::NotJoined).await;
}

#[tokio::test]
async fn chat_reaches_the_others_with_the_server_clock() {
    let app = spawn_app().await;
    let ((mut patient, patient_id), (mut clinician, _)) = call_in_v1(&app).await;
    let before = chrono::Utc::now();

    patient
        .send_json(json!({"type": "chat", "text": "hello doctor"}))
        .await;

    match clinician.frame().await {
        ServerMessage::Chat { from, text, at } => {
            assert_eq!(from, patient_id);
            assert_eq!(text, "hello doctor");
            assert!(at >= before - chrono::Duration::seconds(1));
        }
        other => panic!("expected chat, got {other:?}"),
    }
    patient.ping_pong().await;
}

/// Keeps chat in memory, or refuses every message while `failing`.
#[derive(Default)]
struct Kept {
    messages: std::sync::Mutex<Vec<(String, String, String)>>,
    failing: std::sync::atomic::AtomicBool,
}

impl signaling::ChatRecorder for Kept {
    fn record<'a>(
        &'a self,
        message: signaling::ChatRecord<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<(), signaling::NotRecorded>> {
        let outcome = if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(signaling::NotRecorded)
        } else {
            self.messages.lock().unwrap().push((
                message.visit_id.to_string(),
                message.sender.display_name.clone(),
                message.text.to_owned(),
            ));
            Ok(())
        };
        Box::pin(futures_util::future::ready(outcome))
    }
}

#[tokio::test]
async fn chat_is_kept_in_the_order_relayed_and_still_relayed_when_it_cannot_be() {
    let kept = std::sync::Arc::new(Kept::default());
    let app = spawn_app_with(Parts {
        chat: Some(kept.clone()),
        ..Parts::default()
    })
    .await;
    let ((mut patient, _), (mut clinician, _)) = call_in_v1(&app).await;

    for text in ["one", "two", "three"] {
        patient
            .send_json(json!({"type": "chat", "text": text}))
            .await;
    }
    let mut heard = Vec::new();
    while heard.len() < 3 {
        if let ServerMessage::Chat { text, .. } = clinician.frame().await {
            heard.push(text);
        }
    }
    assert_eq!(heard, ["one", "two", "three"]);
    clinician
        .send_json(json!({"type": "chat", "text": "four"}))
        .await;
    assert!(matches!(patient.frame().await, ServerMessage::Chat { text, .. } if text == "four"));
    let texts: Vec<String> = kept
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|(visit, _, text)| {
            assert_eq!(visit, "v1");
            text.clone()
        })
        .collect();
    assert_eq!(texts, ["one", "two", "three", "four"]);
    assert_eq!(kept.messages.lock().unwrap()[0].1, "Ann Patient");

    // The store is away: the message still reaches the clinician, and the
    // patient learns it is not in the record.
    kept.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    patient
        .send_json(json!({"type": "chat", "text": "my chest hurts"}))
        .await;
    assert!(
        matches!(clinician.frame().await, ServerMessage::Chat { text, .. } if text == "my chest hurts")
    );
    patient.expect_error(ErrorCode::NotRecorded).await;
    assert_eq!(kept.messages.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn messages_sent_at_once_are_kept_in_the_order_the_room_hears_them() {
    let kept = std::sync::Arc::new(Kept::default());
    let app = spawn_app_with(Parts {
        chat: Some(kept.clone()),
        ..Parts::default()
    })
    .await;
    let ((mut patient, _), (mut clinician, _)) = call_in_v1(&app).await;
    let (mut guest, _) = app.signed_in("guest-v1").await;
    guest.join("v1").await;
    assert!(matches!(guest.frame().await, ServerMessage::Joined { .. }));

    for i in 0..5 {
        patient
            .send_json(json!({"type": "chat", "text": format!("patient {i}")}))
            .await;
        clinician
            .send_json(json!({"type": "chat", "text": format!("clinician {i}")}))
            .await;
    }
    let mut heard = Vec::new();
    while heard.len() < 10 {
        if let ServerMessage::Chat { text, .. } = guest.frame().await {
            heard.push(text);
        }
    }
    let texts: Vec<String> = kept
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, text)| text.clone())
        .collect();
    assert_eq!(texts, heard);
}
