//! Helpers for visit tests: a clinic with a queue, staff and patients, one
//! call per lifecycle step, and a WebSocket client that speaks the protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, ada};

/// A queue, a scheduler, two clinicians and the admin's token.
#[derive(Debug)]
pub struct Clinic {
    pub queue_id: String,
    pub scheduler: String,
    pub clinician: String,
    pub other_clinician: String,
    pub admin: String,
}

impl Clinic {
    pub async fn open(app: &TestApp) -> Self {
        let scheduler = app.staff_token("sched", "scheduler").await;
        let clinician = app.staff_token("dr.grey", "clinician").await;
        let other_clinician = app.staff_token("dr.house", "clinician").await;
        let admin = app.admin_token().await;
        let response = app
            .post(
                "/api/v1/queues",
                Some(&scheduler),
                &json!({"name": "Urgent care"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let queue: Value = response.json().await.unwrap();
        Self {
            queue_id: queue["id"].as_str().unwrap().to_owned(),
            scheduler,
            clinician,
            other_clinician,
            admin,
        }
    }

    /// Books a visit for a new patient; returns the visit JSON (with `patient_token`).
    pub async fn book(&self, app: &TestApp, given_name: &str) -> Value {
        self.book_with(app, given_name, json!({})).await
    }

    pub async fn book_with(&self, app: &TestApp, given_name: &str, extra: Value) -> Value {
        let mut patient = ada();
        patient["given_name"] = json!(given_name);
        let patient = app.create_patient(&self.scheduler, &patient).await;
        let mut body = json!({"patient_id": patient["id"], "queue_id": self.queue_id, "reason": "Sore throat"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = app
            .post("/api/v1/visits", Some(&self.scheduler), &body)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Books and checks in; returns the visit JSON from booking.
    pub async fn waiting(&self, app: &TestApp, given_name: &str) -> Value {
        let visit = self.book(app, given_name).await;
        let response = check_in(app, &visit, json!({"consent_to_telehealth": true})).await;
        assert_eq!(response.status(), StatusCode::OK);
        visit
    }
}

pub fn id(visit: &Value) -> &str {
    visit["id"].as_str().unwrap()
}

pub fn patient_token(visit: &Value) -> &str {
    visit["patient_token"].as_str().unwrap()
}

pub async fn check_in(app: &TestApp, visit: &Value, body: Value) -> Response {
    app.post(
        &format!("/api/v1/visits/{}/check-in", id(visit)),
        Some(patient_token(visit)),
        &body,
    )
    .await
}

pub async fn admit(app: &TestApp, visit: &Value, clinician: &str) -> Response {
    app.post(
        &format!("/api/v1/visits/{}/admit", id(visit)),
        Some(clinician),
        &json!({}),
    )
    .await
}

pub fn close_body() -> Value {
    json!({
        "diagnoses": ["J06.9", "R50.9"],
        "note": {"subjective": "Sore throat for 3 days", "objective": "Erythema", "assessment": "Viral pharyngitis", "plan": "Fluids, rest"},
        "total_minutes": 18,
        "patient_location": "home"
    })
}

pub async fn close(app: &TestApp, visit: &Value, clinician: &str, body: &Value) -> Response {
    app.post(
        &format!("/api/v1/visits/{}/close", id(visit)),
        Some(clinician),
        body,
    )
    .await
}

pub async fn patch(app: &TestApp, visit: &Value, token: &str, body: Value) -> Response {
    app.client
        .patch(app.url(&format!("/api/v1/visits/{}", id(visit))))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// Names of the queue's entries, in order.
pub async fn queue_order(app: &TestApp, clinic: &Clinic) -> Vec<String> {
    let queue = get_json(
        app,
        &format!("/api/v1/queues/{}", clinic.queue_id),
        &clinic.scheduler,
    )
    .await;
    queue["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["patient_name"].as_str().unwrap().to_owned())
        .collect()
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signaling client: one socket, frames as JSON.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
}

impl Socket {
    /// Connects and says hello; panics unless welcomed.
    pub async fn connect(app: &TestApp, token: &str) -> (Self, Value) {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
            .await
            .expect("ws connect");
        let mut socket = Self { stream };
        socket.send(json!({"type": "hello", "token": token})).await;
        let welcome = socket.next_of("welcome").await;
        (socket, welcome)
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    /// The next JSON frame, within five seconds.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.stream.next())
                .await
                .expect("a frame within 5 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("JSON frame");
            }
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Skips frames until `accept` takes one.
    pub async fn until(&mut self, mut accept: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let frame = self.next().await;
            if accept(&frame) {
                return frame;
            }
        }
    }
}
