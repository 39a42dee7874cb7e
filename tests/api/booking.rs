//! Self-booking from the public page: a patient books a free slot and gets
//! a join link that works; bots are stopped by a signed, time-stamped
//! single-use form, a hidden field and a throttle per address; patients
//! are matched only exactly, anyone else is flagged for review.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_json, assert_problem, spawn_app_with};
use crate::schedule::{Clinic, day_after_tomorrow};

/// A form the page would send, filled after the minimum time.
async fn filled_form(c: &Clinic, start: &str, person: Value) -> Value {
    let form: Value = c.app.get_json_public("/api/v1/booking/form").await;
    c.app.clock.advance(Duration::from_secs(5));
    let mut body = json!({
        "form_token": form["form_token"],
        "website": "",
        "clinician_id": c.clinician_id,
        "start": start,
        "reason": "Itchy rash"
    });
    for (k, v) in person.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn grace() -> Value {
    json!({"given_name": "Grace", "family_name": "Hopper", "birth_date": "1906-12-09",
        "email": "grace@example.org"})
}

async fn free_starts(c: &Clinic) -> Vec<String> {
    let (from, to) = day_after_tomorrow();
    let url = format!(
        "/api/v1/booking/slots?clinician_id={}&from={from}&to={to}",
        c.clinician_id
    );
    let slots: Vec<Value> = c
        .app
        .get_json_public(&url)
        .await
        .as_array()
        .unwrap()
        .clone();
    slots
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

impl crate::helpers::TestApp {
    async fn get_json_public(&self, path: &str) -> Value {
        assert_json(self.get(path, None).await, StatusCode::OK).await
    }
}

#[tokio::test]
async fn a_patient_books_a_free_slot_and_their_link_opens_the_visit() {
    let c = Clinic::open().await;
    let clinicians = c.app.get_json_public("/api/v1/booking/clinicians").await;
    assert_eq!(clinicians[0]["id"], c.clinician_id);
    let starts = free_starts(&c).await;
    assert_eq!(starts.len(), 48);
    let body = filled_form(&c, &starts[5], grace()).await;
    let response = c.app.post("/api/v1/booking", None, &body).await;
    let booked: Value = assert_json(response, StatusCode::CREATED).await;
    assert_eq!(booked["start"], starts[5]);
    assert_eq!(booked["clinician_name"], "dr_cho");

    // The link is the patient's: it opens this visit.
    let join = booked["join_url"].as_str().unwrap();
    let token = join.split("?t=").nth(1).unwrap();
    let visit = c
        .app
        .get_json(
            &format!("/api/v1/visits/{}", booked["visit_id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(visit["reason"], "Itchy rash");
    assert_eq!(visit["status"], "scheduled");
    // The slot is taken, and the front desk sees the visit on the day.
    assert!(!free_starts(&c).await.contains(&starts[5]));
    let (from, to) = day_after_tomorrow();
    let day = c
        .app
        .get_list(
            &format!("/api/v1/calendar?from={from}&to={to}"),
            &c.scheduler,
        )
        .await;
    assert_eq!(day.len(), 1);
    assert_eq!(day[0]["patient_name"], "Grace Hopper");

    // Grace was new: registered and flagged for review, until resolved.
    let reviews = c
        .app
        .get_list("/api/v1/patient-reviews", &c.scheduler)
        .await;
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["patient"]["family_name"], "Hopper");
    let id = reviews[0]["patient"]["id"].as_str().unwrap();
    let response = c
        .app
        .post(
            &format!("/api/v1/patient-reviews/{id}/resolve"),
            Some(&c.scheduler),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        c.app
            .get_list("/api/v1/patient-reviews", &c.scheduler)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_patient_is_matched_only_on_exact_name_birth_date_and_contact() {
    let c = Clinic::open().await;
    let starts = free_starts(&c).await;
    // Ada exists (name, birth date and e-mail as registered, any case).
    let ada = json!({"given_name": "ada", "family_name": "LOVELACE", "birth_date": "1985-12-10",
        "email": "ada@example.org"});
    let body = filled_form(&c, &starts[1], ada).await;
    let booked: Value = assert_json(
        c.app.post("/api/v1/booking", None, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let visit = c
        .app
        .get_json(
            &format!("/api/v1/visits/{}", booked["visit_id"].as_str().unwrap()),
            &c.scheduler,
        )
        .await;
    assert_eq!(visit["patient_id"], c.patient["id"]);
    assert!(
        c.app
            .get_list("/api/v1/patient-reviews", &c.scheduler)
            .await
            .is_empty()
    );

    // The same name and birth date with another contact is someone new.
    let other = json!({"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1985-12-10",
        "email": "someone.else@example.org"});
    let body = filled_form(&c, &starts[2], other).await;
    let booked: Value = assert_json(
        c.app.post("/api/v1/booking", None, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let visit = c
        .app
        .get_json(
            &format!("/api/v1/visits/{}", booked["visit_id"].as_str().unwrap()),
            &c.scheduler,
        )
        .await;
    assert_ne!(visit["patient_id"], c.patient["id"]);
    let reviews = c
        .app
        .get_list("/api/v1/patient-reviews", &c.scheduler)
        .await;
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["patient"]["id"], visit["patient_id"]);
}

#[tokio::test]
async fn bots_are_stopped_by_the_form_checks_and_nothing_is_booked() {
    let c = Clinic::open().await;
    let starts = free_starts(&c).await;
    // The hidden field filled in.
    let mut body = filled_form(&c, &starts[0], grace()).await;
    body["website"] = json!("http://spam.example");
    let problem = assert_problem(
        c.app.post("/api/v1/booking", None, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("hidden"));
    // Sent at once, faster than a person fills a form.
    let mut quick = filled_form(&c, &starts[0], grace()).await;
    let fresh = c.app.get_json_public("/api/v1/booking/form").await;
    quick["form_token"] = fresh["form_token"].clone();
    let problem = assert_problem(
        c.app.post("/api/v1/booking", None, &quick).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("too quickly"));
    // A token we never signed.
    let mut forged = filled_form(&c, &starts[0], grace()).await;
    forged["form_token"] = json!("eyJhbGciOiJIUzI1NiJ9.e30.forged");
    assert_problem(
        c.app.post("/api/v1/booking", None, &forged).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // A form is good once.
    let good = filled_form(&c, &starts[0], grace()).await;
    let _: Value = assert_json(
        c.app.post("/api/v1/booking", None, &good).await,
        StatusCode::CREATED,
    )
    .await;
    let mut again = good.clone();
    again["start"] = json!(starts[1]);
    let problem = assert_problem(
        c.app.post("/api/v1/booking", None, &again).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("already sent"));
    // Only the one booking reached the calendar.
    let (from, to) = day_after_tomorrow();
    let day = c
        .app
        .get_list(
            &format!("/api/v1/calendar?from={from}&to={to}"),
            &c.scheduler,
        )
        .await;
    assert_eq!(day.len(), 1);
    // A missing contact is named.
    let mut no_contact = filled_form(&c, &starts[3], grace()).await;
    no_contact.as_object_mut().unwrap().remove("email");
    let problem = assert_problem(
        c.app.post("/api/v1/booking", None, &no_contact).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "email");
}

#[tokio::test]
async fn one_address_is_throttled_after_its_hourly_bookings() {
    let app = spawn_app_with(|s| s.set("BEDSIDE_BOOKING_PER_HOUR", "2")).await;
    let c = Clinic::on(app).await;
    let starts = free_starts(&c).await;
    for start in &starts[..2] {
        let body = filled_form(&c, start, grace()).await;
        let _: Value = assert_json(
            c.app.post("/api/v1/booking", None, &body).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let body = filled_form(&c, &starts[2], grace()).await;
    let response = c.app.post("/api/v1/booking", None, &body).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(free_starts(&c).await.contains(&starts[2]));
}
