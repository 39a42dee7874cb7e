//! Fixtures for visit tests: a clinic with a queue and its staff, a visit
//! booked by the clinician who will see it, and the usual request bodies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app::Visit;
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
        let queue_id = app.create_queue(&scheduler, "Urgent care").await;
        Self {
            queue_id,
            scheduler,
            clinician,
            other_clinician,
            admin,
        }
    }

    /// Books a visit for a new patient, `given_name` Lovelace.
    pub async fn book(&self, app: &TestApp, given_name: &str) -> Visit {
        let mut patient = ada();
        patient["given_name"] = json!(given_name);
        let patient = app.create_patient(&self.scheduler, &patient).await;
        app.book_visit(&self.scheduler, &patient, &self.queue_id, "Sore throat")
            .await
    }

    /// Books and checks in.
    pub async fn waiting(&self, app: &TestApp, given_name: &str) -> Visit {
        let visit = self.book(app, given_name).await;
        let response = app.check_in(&visit, &consent()).await;
        assert_eq!(response.status(), StatusCode::OK, "check in");
        visit
    }

    /// Books, checks in, and has dr.grey admit.
    pub async fn in_consult(&self, app: &TestApp, given_name: &str) -> Visit {
        let visit = self.waiting(app, given_name).await;
        let response = app.admit(&visit, &self.clinician).await;
        assert_eq!(response.status(), StatusCode::OK, "admit");
        visit
    }

    /// Names of the queue's entries, in order.
    pub async fn queue_order(&self, app: &TestApp) -> Vec<String> {
        let queue = app
            .get_json(
                &format!("/api/v1/queues/{}", self.queue_id),
                &self.scheduler,
            )
            .await;
        queue["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["patient_name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A visit booked and checked in, with the clinician who will admit it.
#[derive(Debug)]
pub struct Booked {
    pub visit: Visit,
    pub clinician: String,
}

impl Booked {
    /// The clinician admits the visit; panics unless it works.
    pub async fn admit(&self, app: &TestApp) {
        let response = app.admit(&self.visit, &self.clinician).await;
        assert_eq!(response.status(), StatusCode::OK, "admit the visit");
    }
}

/// Signs in a clinician named `clinician_name`, opens a queue, books a
/// visit for a new patient and checks it in, all through the API of `app`;
/// the clinician books the visit.
pub async fn book_waiting_visit(app: &TestApp, clinician_name: &str) -> Booked {
    let clinician = app.staff_token(clinician_name, "clinician").await;
    let admin = app.admin_token().await;
    let queue_id = app
        .create_queue(&admin, &format!("Video visits {clinician_name}"))
        .await;
    let patient = app.create_patient(&clinician, &ada()).await;
    let visit = app
        .book_visit(&clinician, &patient, &queue_id, "Rash")
        .await;
    let response = app.check_in(&visit, &consent()).await;
    assert_eq!(response.status(), StatusCode::OK, "check in");
    Booked { visit, clinician }
}

/// A check-in with consent and nothing else.
pub fn consent() -> Value {
    json!({"consent_to_telehealth": true})
}

pub fn close_body() -> Value {
    json!({
        "diagnoses": ["J06.9", "R50.9"],
        "note": {"subjective": "Sore throat for 3 days", "objective": "Erythema", "assessment": "Viral pharyngitis", "plan": "Fluids, rest"},
        "total_minutes": 18,
        "patient_location": "home"
    })
}
