//! The front desk's messages beyond sending: times written on the clinic's
//! clock, patients opting out (and back in) by replying to a text through
//! Twilio's signed inbound-message webhook, and the daily cap on texts.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Timelike, Utc};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;

use crate::clinic::Clinic;
use crate::helpers::{TestApp, assert_json, assert_problem, spawn_app_with};
use crate::outbox::{
    AUTH_TOKEN, FROM, SmtpSink, announce_late, book_for, emailed_patient, failed, of, sent,
    start_twilio, texted_patient, wait_for_message, wait_for_messages, with_smtp, with_twilio,
};

const CHICAGO: &str = "America/Chicago";

/// Gives `clinician` working hours around the clock in Chicago.
async fn chicago_hours(app: &TestApp, clinic: &Clinic, clinician: &str) -> String {
    let id = app.user_id(&clinic.scheduler, clinician).await;
    let hours: Vec<Value> = (1..=7)
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "24:00"}))
        .collect();
    let body = json!({"time_zone": CHICAGO, "visit_minutes": 30, "queue_id": clinic.queue_id, "hours": hours});
    let response = app
        .client
        .put(app.url(&format!("/api/v1/clinicians/{id}/schedule")))
        .bearer_auth(&clinic.scheduler)
        .json(&body)
        .send()
        .await
        .unwrap();
    let _: Value = assert_json(response, StatusCode::OK).await;
    id
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn messages_and_the_day_view_give_the_clinics_local_time_and_zone() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let clinician = chicago_hours(&app, &clinic, "dr.grey").await;
    let patient = app
        .create_patient(
            &clinic.scheduler,
            &emailed_patient("Ada", "ada@example.org"),
        )
        .await;

    // The slot at 15:00 UTC ten days ahead.
    let day = (Utc::now() + chrono::Duration::days(10)).date_naive();
    let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let to = from + chrono::Duration::days(1);
    let slots = app
        .get_list(
            &format!(
                "/api/v1/slots?clinician_id={clinician}&from={}&to={}",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            &clinic.scheduler,
        )
        .await;
    let slot = slots
        .iter()
        .find(|s| instant(&s["start"]).hour() == 15 && instant(&s["start"]).minute() == 0)
        .expect("a slot at 15:00 UTC");
    assert_eq!(slot["time_zone"], CHICAGO);
    let body = json!({"patient_id": patient["id"], "clinician_id": clinician,
        "start": slot["start"], "reason": "Follow-up"});
    let booked: Value = assert_json(
        app.post("/api/v1/appointments", Some(&clinic.scheduler), &body)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let visit = booked["id"].as_str().unwrap();

    // Chicago is five or six hours behind UTC: 09:00 CST or 10:00 CDT.
    let local = instant(&slot["start"]).with_timezone(&chrono_tz::America::Chicago);
    let expected = local.format("%-d %b %Y at %H:%M %Z").to_string();
    assert!(expected.contains("09:00 CST") || expected.contains("10:00 CDT"));
    wait_for_messages(&app, visit, &clinic.scheduler, "the link", |m| {
        sent(m, "link", "email", 1)
    })
    .await;
    let mail = sink.to("ada@example.org");
    let text = mail[0]["body"].as_str().unwrap();
    assert!(
        text.contains(&format!("{expected} (America/Chicago)")),
        "{text}"
    );
    assert!(!text.contains("15:00"), "no bare UTC time: {text}");

    // The day view carries the zone each visit is shown in.
    let calendar = app
        .get_list(
            &format!(
                "/api/v1/calendar?from={}&to={}",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            &clinic.scheduler,
        )
        .await;
    let entry = calendar
        .iter()
        .find(|e| e["visit_id"] == visit)
        .expect("the visit in the day view");
    assert_eq!(entry["time_zone"], CHICAGO);

    // A visit booked into the queue with no clinician takes the zone of
    // the queue's clinician's hours.
    let start =
        (to + chrono::Duration::hours(15)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let anyone = book_for(
        &app,
        &clinic,
        &emailed_patient("Alan", "alan@example.org"),
        Some(start.clone()),
    )
    .await;
    let calendar = app
        .get_list(
            &format!("/api/v1/patients/{}/visits", anyone.patient_id),
            &clinic.scheduler,
        )
        .await;
    assert_eq!(calendar[0]["time_zone"], CHICAGO, "{calendar:#?}");

    // A visit in a queue where no clinician has working hours takes the
    // clinic's zone, as the front desk's calendar says its times are.
    let walk_in = app.create_queue(&clinic.scheduler, "Walk-in").await;
    let grace = app
        .create_patient(
            &clinic.scheduler,
            &emailed_patient("Grace", "grace@example.org"),
        )
        .await;
    let created = app
        .book_visit(&clinic.scheduler, &grace, &walk_in, "Walk-in")
        .await;
    let visits = app
        .get_list(
            &format!("/api/v1/patients/{}/visits", grace["id"].as_str().unwrap()),
            &clinic.scheduler,
        )
        .await;
    assert_eq!(visits[0]["visit_id"], created.id.as_str(), "{visits:#?}");
    assert_eq!(visits[0]["time_zone"], CHICAGO, "{visits:#?}");
    wait_for_messages(&app, &anyone.id, &clinic.scheduler, "the link", |m| {
        sent(m, "link", "email", 1)
    })
    .await;
    let local = instant(&json!(start)).with_timezone(&chrono_tz::America::Chicago);
    let expected = local
        .format("%-d %b %Y at %H:%M %Z (America/Chicago)")
        .to_string();
    let text = sink.to("alan@example.org")[0]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&expected), "{expected} in {text}");
}

/// Twilio's signature, computed here from its documentation: HMAC-SHA1
/// under the auth token of the URL and the fields sorted by name, base64.
fn twilio_signature(token: &str, url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let mut signed = url.to_owned();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const WEBHOOK: &str = "/webhooks/twilio/sms";

/// Posts an inbound text as Twilio does, signed with `token`.
async fn reply(app: &TestApp, token: &str, from: &str, body: &str) -> reqwest::Response {
    let fields = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", crate::outbox::SID),
        ("From", from),
        ("To", FROM),
        ("Body", body),
        ("NumMedia", "0"),
    ];
    let signature = twilio_signature(token, &app.url(WEBHOOK), &fields);
    app.client
        .post(app.url(WEBHOOK))
        .header("x-twilio-signature", signature)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn opted_out(app: &TestApp, clinic: &Clinic, patient: &str) -> bool {
    app.get_json(
        &format!("/api/v1/patients/{patient}/text-messages"),
        &clinic.scheduler,
    )
    .await["opted_out"]
        .as_bool()
        .unwrap()
}

#[tokio::test]
async fn replying_stop_opts_the_patient_out_and_start_opts_them_back_in() {
    let sink = SmtpSink::start().await;
    let (_twilio, base) = start_twilio().await;
    let app = spawn_app_with(with_twilio(base, &sink)).await;
    let clinic = Clinic::open(&app).await;
    let patient = app
        .create_patient(&clinic.scheduler, &texted_patient("Ada", "(217) 555-0142"))
        .await;
    let other = app
        .create_patient(&clinic.scheduler, &texted_patient("Alan", "(217) 555-0143"))
        .await;
    let id = patient["id"].as_str().unwrap();

    let response = reply(&app, AUTH_TOKEN, "+12175550142", "Stop").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let twiml = response.text().await.unwrap();
    assert!(twiml.contains("<Response><Message>"), "{twiml}");
    assert!(twiml.contains("no more text messages"), "{twiml}");
    assert!(
        !twiml.contains("Ada") && !twiml.contains("Lovelace"),
        "{twiml}"
    );
    assert!(opted_out(&app, &clinic, id).await);
    assert!(!opted_out(&app, &clinic, other["id"].as_str().unwrap()).await);

    // Any other words change nothing and get no answer.
    let response = reply(&app, AUTH_TOKEN, "+12175550142", "see you then").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.text().await.unwrap().contains("<Message>"));
    assert!(opted_out(&app, &clinic, id).await);

    let response = reply(&app, AUTH_TOKEN, "+12175550142", "START").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!opted_out(&app, &clinic, id).await);

    let trail = app.audit_trail(&clinic.admin, id).await;
    for action in ["patient.text_opt_out", "patient.text_opt_in"] {
        let event = trail
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} audited: {trail:#?}"));
        assert_eq!(event["actor_id"], "twilio-webhook", "{event:#?}");
    }
}

#[tokio::test]
async fn a_reply_without_twilios_signature_is_refused_and_audited() {
    let sink = SmtpSink::start().await;
    let (_twilio, base) = start_twilio().await;
    let app = spawn_app_with(with_twilio(base, &sink)).await;
    let clinic = Clinic::open(&app).await;
    let patient = app
        .create_patient(&clinic.scheduler, &texted_patient("Ada", "(217) 555-0142"))
        .await;
    let id = patient["id"].as_str().unwrap();

    // Signed with another token.
    let response = reply(&app, "not-the-auth-token", "+12175550142", "STOP").await;
    let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Twilio-Signature")
    );
    // Signed rightly, then a field changed on the way.
    let fields = [("From", "+12175550142"), ("Body", "START")];
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK), &fields);
    let response = app
        .client
        .post(app.url(WEBHOOK))
        .header("x-twilio-signature", signature)
        .form(&[("From", "+12175550142"), ("Body", "STOP")])
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    // No signature at all.
    let response = app
        .client
        .post(app.url(WEBHOOK))
        .form(&[("From", "+12175550142"), ("Body", "STOP")])
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    assert!(!opted_out(&app, &clinic, id).await);

    let refused = app
        .get_list("/api/v1/audit?action=sms.inbound_refused", &clinic.admin)
        .await;
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert!(refused.iter().all(|e| e["outcome"] == "denied"));
    assert!(refused.iter().all(|e| e["patient_id"].is_null()));
}

#[tokio::test]
async fn texts_beyond_the_daily_cap_wait_or_are_dropped_with_the_reason_shown() {
    let sink = SmtpSink::start().await;
    let (twilio, base) = start_twilio().await;
    let configure = with_twilio(base, &sink);
    let app =
        spawn_app_with(move |source| configure(source).set("BEDSIDE_SMS_DAILY_CAP", "2")).await;
    let clinic = Clinic::open(&app).await;
    let patient = texted_patient("Ada", "(217) 555-0150");
    let first = book_for(&app, &clinic, &patient, None).await;
    let patient_id = first.patient_id.clone();
    wait_for_messages(&app, &first.id, &clinic.scheduler, "the first text", |m| {
        sent(m, "link", "sms", 1)
    })
    .await;
    let second = app
        .book_visit(
            &clinic.scheduler,
            &json!({"id": patient_id}),
            &clinic.queue_id,
            "Follow-up",
        )
        .await;
    wait_for_messages(
        &app,
        &second.id,
        &clinic.scheduler,
        "the second text",
        |m| sent(m, "link", "sms", 1),
    )
    .await;

    // The third text of the day waits, saying why and until when.
    let third = app
        .book_visit(
            &clinic.scheduler,
            &json!({"id": patient_id}),
            &clinic.queue_id,
            "Results",
        )
        .await;
    let messages = wait_for_messages(&app, &third.id, &clinic.scheduler, "the hold", |m| {
        of(m, "link", "sms")
            .first()
            .is_some_and(|m| m["failure"].is_string())
    })
    .await;
    let held = of(&messages, "link", "sms")[0];
    assert_eq!(held["state"], "queued", "{held:#?}");
    assert_eq!(held["attempts"], 0, "a hold is not a failed attempt");
    let reason = held["failure"].as_str().unwrap();
    assert!(
        reason.starts_with("held: 2 texts already went to this patient in the last 24 hours"),
        "{reason}"
    );
    assert!(held["next_attempt_at"].is_string());

    // "Running late" is no use tomorrow: dropped, with the reason.
    announce_late(&app, &clinic, 15).await;
    for visit in [&first, &second, &third] {
        let late = ("running_late", "sms");
        let dropped =
            wait_for_message(&app, &visit.id, &clinic.scheduler, late, "the drop", failed).await;
        assert!(
            dropped["failure"]
                .as_str()
                .unwrap()
                .starts_with("not sent: 2 texts already went to this patient"),
            "{dropped:#?}"
        );
    }
    assert_eq!(twilio.accepted.lock().unwrap().len(), 2);

    // A day on, the held text goes.
    app.clock.advance(Duration::from_secs(25 * 3600));
    wait_for_messages(
        &app,
        &third.id,
        &clinic.scheduler,
        "the held text sent",
        |m| sent(m, "link", "sms", 1),
    )
    .await;
    assert_eq!(twilio.accepted.lock().unwrap().len(), 3);
}
