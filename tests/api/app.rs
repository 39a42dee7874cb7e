//! One `TestApp` method per route the tests share. A step whose failures
//! tests look at (signing in, check-in, admit, close, …) answers the raw
//! `Response`; a step tests only need done (creating a patient, a queue,
//! booking a visit, reading JSON) answers a typed value and fails the test
//! unless the server agreed.

use reqwest::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, STAFF_PASSWORD, TestApp, assert_json};

/// A booked visit, as `POST /visits` answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Visit {
    pub id: String,
    pub patient_id: String,
    pub encounter_id: String,
    /// The status at booking.
    pub status: String,
    /// The patient's bearer token for this visit.
    pub patient_token: String,
    pub join_url: String,
}

impl TestApp {
    // -- Signing in -------------------------------------------------------

    /// `POST /auth/login`, raw.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Signs in and returns the token; panics unless it works.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in of {username}");
        let body: Value = response.json().await.expect("login JSON");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD).await
    }

    /// Creates a staff user with `STAFF_PASSWORD` and signs it in.
    pub async fn staff_token(&self, username: &str, role: &str) -> String {
        let admin = self.admin_token().await;
        let mut body = json!({"username": username, "password": STAFF_PASSWORD, "role": role, "display_name": username});
        if role == "clinician" {
            body["npi"] = json!("1234567893");
        }
        let response = self.post("/api/v1/users", Some(&admin), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {username}");
        self.token(username, STAFF_PASSWORD).await
    }

    /// The id of the user signed in as `username`, as `GET /users` lists it.
    pub async fn user_id(&self, token: &str, username: &str) -> String {
        let users = self.get_list("/api/v1/users", token).await;
        users
            .iter()
            .find(|u| u["username"] == username)
            .and_then(|u| u["id"].as_str())
            .unwrap_or_else(|| panic!("{username} is listed in {users:?}"))
            .to_owned()
    }

    // -- Reading ----------------------------------------------------------

    /// `GET path` with `token`; panics unless it answers 200 with JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        assert_json(self.get(path, Some(token)).await, StatusCode::OK).await
    }

    /// `GET path` with `token`; panics unless it answers 200 with a JSON list.
    pub async fn get_list(&self, path: &str, token: &str) -> Vec<Value> {
        assert_json(self.get(path, Some(token)).await, StatusCode::OK).await
    }

    /// The audit trail of one patient, newest first, read by an admin.
    pub async fn audit_trail(&self, admin: &str, patient_id: &str) -> Vec<Value> {
        self.get_list(&format!("/api/v1/audit?patient_id={patient_id}"), admin)
            .await
    }

    // -- Patients and queues ----------------------------------------------

    /// Creates a patient and returns its JSON.
    pub async fn create_patient(&self, token: &str, body: &Value) -> Value {
        let response = self.post("/api/v1/patients", Some(token), body).await;
        assert_json(response, StatusCode::CREATED).await
    }

    /// Opens a queue named `name`; returns its id.
    pub async fn create_queue(&self, token: &str, name: &str) -> String {
        let response = self
            .post("/api/v1/queues", Some(token), &json!({"name": name}))
            .await;
        let queue: Value = assert_json(response, StatusCode::CREATED).await;
        queue["id"].as_str().expect("queue id").to_owned()
    }

    // -- The visit's lifecycle --------------------------------------------

    /// `POST /visits`, raw.
    pub async fn post_visit(&self, token: &str, body: &Value) -> Response {
        self.post("/api/v1/visits", Some(token), body).await
    }

    /// Books `patient` into a queue; panics unless the visit is created.
    pub async fn book_visit(
        &self,
        token: &str,
        patient: &Value,
        queue_id: &str,
        reason: &str,
    ) -> Visit {
        let body = json!({"patient_id": patient["id"], "queue_id": queue_id, "reason": reason});
        let response = self.post_visit(token, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "book the visit");
        response.json().await.expect("visit JSON")
    }

    /// `POST /visits/{id}/check-in` with the visit's own patient token, raw.
    pub async fn check_in(&self, visit: &Visit, body: &Value) -> Response {
        self.post(
            &visit_path(visit, "check-in"),
            Some(&visit.patient_token),
            body,
        )
        .await
    }

    /// `POST /visits/{id}/admit`, raw.
    pub async fn admit(&self, visit: &Visit, token: &str) -> Response {
        self.post(&visit_path(visit, "admit"), Some(token), &json!({}))
            .await
    }

    /// `POST /visits/{id}/close`, raw.
    pub async fn close(&self, visit: &Visit, token: &str, body: &Value) -> Response {
        self.post(&visit_path(visit, "close"), Some(token), body)
            .await
    }

    /// `POST /visits/{id}/cancel`, raw.
    pub async fn cancel(&self, visit: &Visit, token: &str) -> Response {
        self.post(&visit_path(visit, "cancel"), Some(token), &json!({}))
            .await
    }

    /// `POST /visits/{id}/no-show`, raw.
    pub async fn no_show(&self, visit: &Visit, token: &str) -> Response {
        self.post(&visit_path(visit, "no-show"), Some(token), &json!({}))
            .await
    }

    /// `PATCH /visits/{id}`, raw.
    pub async fn patch_visit(&self, visit: &Visit, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(&format!("/api/v1/visits/{}", visit.id)))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    /// `GET /visits/{id}`; panics unless it answers 200.
    pub async fn visit(&self, visit: &Visit, token: &str) -> Value {
        self.get_json(&format!("/api/v1/visits/{}", visit.id), token)
            .await
    }

    /// `PUT /visits/{id}/draft`, raw.
    pub async fn save_draft(&self, visit: &Visit, token: &str, body: &Value) -> Response {
        self.client
            .put(self.url(&visit_path(visit, "draft")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    /// `GET /visits/{id}/draft`, raw.
    pub async fn draft(&self, visit: &Visit, token: &str) -> Response {
        self.get(&visit_path(visit, "draft"), Some(token)).await
    }

    /// `GET /visits/{id}/messages`: the chat kept in the visit's record.
    pub async fn messages(&self, visit: &Visit, token: &str) -> Response {
        self.get(&visit_path(visit, "messages"), Some(token)).await
    }

    /// `GET /visits/{id}/media`: the call's media plan; panics unless 200.
    pub async fn media_plan(&self, visit: &Visit, token: &str) -> Value {
        self.get_json(&visit_path(visit, "media"), token).await
    }
}

fn visit_path(visit: &Visit, step: &str) -> String {
    format!("/api/v1/visits/{}/{step}", visit.id)
}
