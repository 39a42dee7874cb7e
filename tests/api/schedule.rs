//! The front desk's calendar: working hours, slots, booking (exactly one of
//! many racing bookings of a slot wins, in the store), moving and
//! cancelling, the day view, and the join link shown again.

use bedside::model::ids::{UserId, VisitId};
use bedside::model::schedule::Booking;
use bedside::model::timestamp::Timestamp;
use bedside::store::{self, Store, StoreError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, ada, assert_json, assert_problem, spawn_app};

/// A clinic with a scheduler, a clinician who works every day around the
/// clock in 30-minute visits (UTC), a queue and a patient.
pub struct Clinic {
    pub app: TestApp,
    pub scheduler: String,
    pub clinician: String,
    pub clinician_id: String,
    pub queue: String,
    pub patient: Value,
}

impl Clinic {
    pub async fn open() -> Self {
        Self::on(spawn_app().await).await
    }

    pub async fn on(app: TestApp) -> Self {
        let scheduler = app.staff_token("sam", "scheduler").await;
        let clinician = app.staff_token("dr_cho", "clinician").await;
        let clinician_id = app.user_id(&scheduler, "dr_cho").await;
        let queue = app.create_queue(&scheduler, "Appointments").await;
        let hours: Vec<Value> = (1..=7)
            .map(|d| json!({"weekday": d, "start": "00:00", "end": "24:00"}))
            .collect();
        let body =
            json!({"time_zone": "UTC", "visit_minutes": 30, "queue_id": queue, "hours": hours});
        let response = app
            .client
            .put(app.url(&format!("/api/v1/clinicians/{clinician_id}/schedule")))
            .bearer_auth(&scheduler)
            .json(&body)
            .send()
            .await
            .unwrap();
        let _: Value = assert_json(response, StatusCode::OK).await;
        let patient = app.create_patient(&scheduler, &ada()).await;
        Self {
            app,
            scheduler,
            clinician,
            clinician_id,
            queue,
            patient,
        }
    }

    /// The clinician's slots over the whole day after tomorrow (UTC).
    pub async fn slots(&self) -> Vec<Value> {
        let (from, to) = day_after_tomorrow();
        self.app
            .get_list(
                &format!(
                    "/api/v1/slots?clinician_id={}&from={from}&to={to}",
                    self.clinician_id
                ),
                &self.scheduler,
            )
            .await
    }

    pub async fn book(&self, start: &str, reason: &str) -> reqwest::Response {
        let body = json!({"patient_id": self.patient["id"], "clinician_id": self.clinician_id,
            "start": start, "reason": reason});
        self.app
            .post("/api/v1/appointments", Some(&self.scheduler), &body)
            .await
    }
}

/// Midnight to midnight of the day after tomorrow, UTC, as RFC 3339.
pub fn day_after_tomorrow() -> (String, String) {
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let to = from + chrono::Duration::days(1);
    (
        from.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        to.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn at(text: &str) -> Timestamp {
    Timestamp(
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis(),
    )
}

#[tokio::test]
async fn slots_come_from_working_hours_minus_booked_visits() {
    let c = Clinic::open().await;
    let slots = c.slots().await;
    assert_eq!(slots.len(), 48, "a day of 30-minute slots");
    assert!(slots.iter().all(|s| s["status"] == "free"));
    let start = slots[20]["start"].as_str().unwrap().to_owned();

    let booked: Value = assert_json(c.book(&start, "Follow-up").await, StatusCode::CREATED).await;
    assert_eq!(booked["scheduled_start"], start);
    assert_eq!(booked["clinician_id"], c.clinician_id);
    assert_eq!(booked["queue_id"], c.queue);
    assert!(booked["join_url"].as_str().unwrap().contains("/join/"));

    let slots = c.slots().await;
    let busy: Vec<&str> = slots
        .iter()
        .filter(|s| s["status"] == "busy")
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(busy, [start.as_str()]);

    // A second booking of the taken slot is refused in plain words.
    let problem = assert_problem(c.book(&start, "Again").await, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("just booked"));
    // A time that is not a slot of the clinician's hours is refused, naming the field.
    let off = format!("{}:10:00Z", &start[..13]);
    let problem = assert_problem(c.book(&off, "Odd").await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["field"], "start");
}

#[tokio::test]
async fn many_bookings_racing_for_one_slot_let_exactly_one_win() {
    let c = Clinic::open().await;
    let start = c.slots().await[10]["start"].as_str().unwrap().to_owned();
    let tries = (0..8).map(|i| c.book(&start, if i % 2 == 0 { "Rash" } else { "Cough" }));
    let answers = futures_util::future::join_all(tries).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7,
        "{statuses:?}"
    );
    // Exactly one visit holds that time; the losers left no visit behind.
    let (from, to) = day_after_tomorrow();
    let day = c
        .app
        .get_list(
            &format!("/api/v1/calendar?from={from}&to={to}"),
            &c.scheduler,
        )
        .await;
    assert_eq!(day.len(), 1);
}

/// Visits that hold no slot yet, straight through `POST /visits`.
async fn unbooked_visits(c: &Clinic, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            c.app
                .book_visit(&c.scheduler, &c.patient, &c.queue, "Check")
                .await
                .id,
        );
    }
    ids
}

#[tokio::test]
async fn the_store_lets_one_of_many_concurrent_claims_of_a_slot_win() {
    let c = Clinic::open().await;
    let visits = unbooked_visits(&c, 6).await;
    let (from, _) = day_after_tomorrow();
    let start = at(&from);
    let clinician = UserId::from_trusted(c.clinician_id.clone());
    // Two pools on one database, as two nodes would have.
    let url = c.app.db.as_ref().unwrap().url.clone();
    let database = if url.starts_with("postgres") {
        store::DatabaseUrl::Postgres(url)
    } else {
        store::DatabaseUrl::Sqlite(url)
    };
    let other = Store::connect(&database, 4).await.unwrap();
    let tasks = visits.iter().enumerate().map(|(i, visit)| {
        let pool = if i % 2 == 0 {
            c.app.store.clone()
        } else {
            other.clone()
        };
        let booking = Booking {
            clinician_id: clinician.clone(),
            start,
            end: Timestamp(start.millis() + 30 * 60_000),
            visit_id: VisitId::from_trusted(visit.clone()),
        };
        tokio::spawn(async move {
            let mut tx = pool.begin().await?;
            store::claim_slot(&mut tx, &booking, start).await?;
            store::commit(tx).await
        })
    });
    let results = futures_util::future::join_all(tasks).await;
    let mut won = 0;
    for result in results {
        match result.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Duplicate("slot")) => {}
            Err(other) => panic!("a lost race answers Duplicate(slot), not {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let mut tx = c.app.store.begin_read().await.unwrap();
    let held = store::bookings_between(&mut tx, &clinician, start, Timestamp(start.millis() + 1))
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    other.close().await;
}

#[tokio::test]
async fn rebooking_moves_the_visit_and_cancelling_frees_its_slot() {
    let c = Clinic::open().await;
    let slots = c.slots().await;
    let first = slots[4]["start"].as_str().unwrap().to_owned();
    let second = slots[6]["start"].as_str().unwrap().to_owned();
    let visit: Value = assert_json(c.book(&first, "Back pain").await, StatusCode::CREATED).await;
    let id = visit["id"].as_str().unwrap();

    let response = c
        .app
        .post(
            &format!("/api/v1/visits/{id}/rebook"),
            Some(&c.scheduler),
            &json!({"start": second}),
        )
        .await;
    let moved: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(moved["scheduled_start"], second);
    let busy: Vec<String> = c
        .slots()
        .await
        .iter()
        .filter(|s| s["status"] == "busy")
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(busy, std::slice::from_ref(&second));

    let response = c
        .app
        .post(
            &format!("/api/v1/visits/{id}/cancel"),
            Some(&c.scheduler),
            &json!({}),
        )
        .await;
    let _: Value = assert_json(response, StatusCode::OK).await;
    assert!(c.slots().await.iter().all(|s| s["status"] == "free"));
    // A cancelled visit cannot move.
    let response = c
        .app
        .post(
            &format!("/api/v1/visits/{id}/rebook"),
            Some(&c.scheduler),
            &json!({"start": first}),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT).await;
    // The cancelled visit stays on the day's list, with its time, reason and status.
    let (from, to) = day_after_tomorrow();
    let day = c
        .app
        .get_list(
            &format!("/api/v1/calendar?from={from}&to={to}"),
            &c.scheduler,
        )
        .await;
    assert_eq!(day.len(), 1);
    assert_eq!(day[0]["status"], "cancelled");
    assert_eq!(day[0]["reason"], "Back pain");
    assert_eq!(day[0]["start"], second);
    assert_eq!(day[0]["patient_name"], "Ada Lovelace");
    // The freed slot books again.
    let _: Value = assert_json(c.book(&second, "Back pain").await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn the_day_view_filters_by_clinician_and_queue_and_is_audited() {
    let c = Clinic::open().await;
    let slots = c.slots().await;
    let start = slots[2]["start"].as_str().unwrap().to_owned();
    let _: Value = assert_json(c.book(&start, "Sore throat").await, StatusCode::CREATED).await;
    let (from, to) = day_after_tomorrow();
    let mine = c
        .app
        .get_list(
            &format!(
                "/api/v1/calendar?from={from}&to={to}&clinician_id={}",
                c.clinician_id
            ),
            &c.clinician,
        )
        .await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["clinician_name"], "dr_cho");
    assert_eq!(mine[0]["queue_name"], "Appointments");
    let other_queue = c.app.create_queue(&c.scheduler, "Walk-in").await;
    let none = c
        .app
        .get_list(
            &format!("/api/v1/calendar?from={from}&to={to}&queue_id={other_queue}"),
            &c.scheduler,
        )
        .await;
    assert!(none.is_empty());
    let admin = c.app.admin_token().await;
    let trail = c
        .app
        .audit_trail(&admin, c.patient["id"].as_str().unwrap())
        .await;
    assert!(trail.iter().any(|e| e["action"] == "schedule.read"));

    // Bad spans and ids get plain words.
    let response = c
        .app
        .get(
            &format!("/api/v1/calendar?from={to}&to={from}"),
            Some(&c.scheduler),
        )
        .await;
    assert_eq!(
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "to"
    );
    let response = c
        .app
        .get(
            "/api/v1/calendar?from=monday&to=tuesday",
            Some(&c.scheduler),
        )
        .await;
    assert_eq!(
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "from"
    );
    // Billing staff do not read the calendar.
    let billing = c.app.staff_token("bill", "billing").await;
    let response = c
        .app
        .get(
            &format!("/api/v1/calendar?from={from}&to={to}"),
            Some(&billing),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_schedule_with_bad_hours_is_refused_naming_the_field() {
    let c = Clinic::open().await;
    let put = |body: Value| {
        c.app
            .client
            .put(
                c.app
                    .url(&format!("/api/v1/clinicians/{}/schedule", c.clinician_id)),
            )
            .bearer_auth(&c.scheduler)
            .json(&body)
            .send()
    };
    let cases = [
        (
            json!({"time_zone": "Nowhere/City", "visit_minutes": 20, "queue_id": c.queue, "hours": []}),
            "time_zone",
        ),
        (
            json!({"time_zone": "UTC", "visit_minutes": 2, "queue_id": c.queue, "hours": []}),
            "visit_minutes",
        ),
        (
            json!({"time_zone": "UTC", "visit_minutes": 20, "queue_id": c.queue,
            "hours": [{"weekday": 1, "start": "10:00", "end": "09:00"}]}),
            "hours[0].end",
        ),
    ];
    for (body, field) in cases {
        let problem =
            assert_problem(put(body).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field);
    }
    // The clinician cannot set hours; the scheduler's stay as they were.
    let response = c
        .app
        .client
        .put(
            c.app
                .url(&format!("/api/v1/clinicians/{}/schedule", c.clinician_id)),
        )
        .bearer_auth(&c.clinician)
        .json(&json!({"time_zone": "UTC", "visit_minutes": 20, "queue_id": c.queue, "hours": []}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(c.slots().await.len(), 48);
}

#[tokio::test]
async fn the_scheduler_sees_the_current_join_link_again_and_it_still_works() {
    let c = Clinic::open().await;
    let start = c.slots().await[3]["start"].as_str().unwrap().to_owned();
    let booked: Value = assert_json(c.book(&start, "Rash").await, StatusCode::CREATED).await;
    let id = booked["id"].as_str().unwrap();
    let shown: Value = c
        .app
        .get_json(&format!("/api/v1/visits/{id}/link"), &c.scheduler)
        .await;
    let token = shown["patient_token"].as_str().unwrap();
    assert!(shown["join_url"].as_str().unwrap().contains(id));
    // Both the first link and the one shown again open the visit.
    for token in [token, booked["patient_token"].as_str().unwrap()] {
        let visit = c.app.get_json(&format!("/api/v1/visits/{id}"), token).await;
        assert_eq!(visit["reason"], "Rash");
    }
    let response = c
        .app
        .get(&format!("/api/v1/visits/{id}/link"), Some(&c.clinician))
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_front_desk_finds_edits_and_lists_the_visits_of_a_patient() {
    let c = Clinic::open().await;
    let id = c.patient["id"].as_str().unwrap();
    let mrn = c.patient["mrn"].as_str().unwrap();
    for query in [
        "q=1985-12-10".to_owned(),
        format!("q={}", mrn.to_lowercase()),
        "q=ada%20love".to_owned(),
        "birth_date=1985-12-10&name=Lov".to_owned(),
    ] {
        let found = c
            .app
            .get_list(&format!("/api/v1/patients?{query}"), &c.scheduler)
            .await;
        assert_eq!(found.len(), 1, "{query}");
        assert_eq!(found[0]["id"], id);
    }
    let none = c
        .app
        .get_list("/api/v1/patients?q=1985-12-11", &c.scheduler)
        .await;
    assert!(none.is_empty());
    let response = c
        .app
        .get("/api/v1/patients?birth_date=10/12/1985", Some(&c.scheduler))
        .await;
    assert_eq!(
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "birth_date"
    );

    let mut edited = ada();
    edited["phone"] = json!("+1 217 555 0199");
    edited["family_name"] = json!("King");
    let response = c
        .app
        .client
        .put(c.app.url(&format!("/api/v1/patients/{id}")))
        .bearer_auth(&c.scheduler)
        .json(&edited)
        .send()
        .await
        .unwrap();
    let saved: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(saved["family_name"], "King");
    assert_eq!(saved["phone"], "+1 217 555 0199");
    assert_eq!(saved["mrn"], mrn);
    let mut bad = edited.clone();
    bad["birth_date"] = json!("2999-01-01");
    let response = c
        .app
        .client
        .put(c.app.url(&format!("/api/v1/patients/{id}")))
        .bearer_auth(&c.scheduler)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        c.app
            .get_json(&format!("/api/v1/patients/{id}"), &c.scheduler)
            .await["family_name"],
        "King"
    );

    let slots = c.slots().await;
    for (i, reason) in [(1, "Cough"), (3, "Follow-up")] {
        let start = slots[i]["start"].as_str().unwrap();
        let _: Value = assert_json(c.book(start, reason).await, StatusCode::CREATED).await;
    }
    let visits = c
        .app
        .get_list(&format!("/api/v1/patients/{id}/visits"), &c.scheduler)
        .await;
    let reasons: Vec<&str> = visits
        .iter()
        .map(|v| v["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Follow-up", "Cough"], "newest first");
    let admin = c.app.admin_token().await;
    let trail = c.app.audit_trail(&admin, id).await;
    assert!(trail.iter().any(|e| e["action"] == "patient.update"));
}
