//! Messages to patients: the join link on booking, reminders when the clock
//! reaches them, "running late" from the queue and cancellation notices,
//! through a real SMTP server (aiosmtpd, started here) and a local stand-in
//! for Twilio's Messages API that checks the request Twilio documents.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::app::Visit;
use crate::clinic::Clinic;
use crate::helpers::{TestApp, WAIT, ada, assert_problem, free_port, spawn_app_with};

/// The SMTP server: a child process writing each accepted message as JSON.
pub(crate) struct SmtpSink {
    port: u16,
    folder: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    pub(crate) async fn start() -> Self {
        let mut sink = Self {
            port: free_port(),
            folder: tempfile::tempdir().expect("a mailbox folder"),
            child: None,
        };
        sink.restart().await;
        sink
    }

    /// Starts the server (again) on the same port and mailbox.
    async fn restart(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.folder.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (pip install -r tests/requirements.txt)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the SMTP server starts in time")
            .expect("its output");
        assert_eq!(
            line.as_deref(),
            Some("ready"),
            "the SMTP server did not start: is aiosmtpd installed (tests/requirements.txt)?"
        );
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("stop the SMTP server");
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .expect("the mailbox")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    pub(crate) fn to(&self, address: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| m["rcpt_tos"] == json!([address]))
            .collect()
    }
}

pub(crate) fn with_smtp(
    sink: &SmtpSink,
) -> impl FnOnce(bedside::config::Source) -> bedside::config::Source {
    let url = sink.url();
    move |source| {
        source
            .set("BEDSIDE_SMTP_URL", url)
            .set(
                "BEDSIDE_SMTP_FROM",
                "Springfield Clinic <visits@clinic.example>",
            )
            .set("BEDSIDE_SMTP_TLS", "none")
            .set("BEDSIDE_MESSAGE_POLL_SECONDS", "1")
            // Staff stay signed in while the clock moves days ahead.
            .set("BEDSIDE_SESSION_TTL_MINUTES", "10080")
    }
}

pub(crate) async fn patient_messages(app: &TestApp, visit: &str, token: &str) -> Vec<Value> {
    app.get_list(&format!("/api/v1/visits/{visit}/patient-messages"), token)
        .await
}

/// Polls the visit's messages until `done` holds, for at most [`WAIT`].
pub(crate) async fn wait_for_messages(
    app: &TestApp,
    visit: &str,
    token: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let messages = patient_messages(app, visit, token).await;
        if done(&messages) {
            return messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {messages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until the visit's first `kind` message on `channel` satisfies
/// `done`; answers that message.
pub(crate) async fn wait_for_message(
    app: &TestApp,
    visit: &str,
    token: &str,
    (kind, channel): (&str, &str),
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let messages = wait_for_messages(app, visit, token, what, |m| {
        of(m, kind, channel).first().is_some_and(|m| done(m))
    })
    .await;
    of(&messages, kind, channel)[0].clone()
}

/// Tried once, and queued to be tried again.
pub(crate) fn retrying(message: &Value) -> bool {
    message["attempts"] == 1 && message["state"] == "queued"
}

pub(crate) fn failed(message: &Value) -> bool {
    message["state"] == "failed"
}

/// The scheduler tells the clinic's queue the clinician runs `minutes` late.
pub(crate) async fn announce_late(app: &TestApp, clinic: &Clinic, minutes: i64) {
    let response = app
        .post(
            &format!("/api/v1/queues/{}/running-late", clinic.queue_id),
            Some(&clinic.scheduler),
            &json!({"minutes": minutes}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

pub(crate) fn of<'a>(messages: &'a [Value], kind: &str, channel: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["kind"] == kind && m["channel"] == channel)
        .collect()
}

pub(crate) fn sent(messages: &[Value], kind: &str, channel: &str, count: usize) -> bool {
    let matching = of(messages, kind, channel);
    matching.len() == count && matching.iter().all(|m| m["state"] == "sent")
}

/// Lets the worker run a few more rounds, so a duplicate would show.
async fn a_few_rounds(app: &TestApp) {
    app.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

/// A patient with e-mail only, so mail is all there is to count.
pub(crate) fn emailed_patient(given_name: &str, email: &str) -> Value {
    let mut patient = ada();
    patient["given_name"] = json!(given_name);
    patient["email"] = json!(email);
    patient.as_object_mut().unwrap().remove("phone");
    patient
}

/// A visit booked now for a new patient reached by e-mail only.
pub(crate) async fn book_emailed(
    app: &TestApp,
    clinic: &Clinic,
    given_name: &str,
    email: &str,
) -> Visit {
    book_for(app, clinic, &emailed_patient(given_name, email), None).await
}

pub(crate) async fn book_for(
    app: &TestApp,
    clinic: &Clinic,
    patient: &Value,
    start: Option<String>,
) -> Visit {
    let patient = app.create_patient(&clinic.scheduler, patient).await;
    let mut body =
        json!({"patient_id": patient["id"], "queue_id": clinic.queue_id, "reason": "Chest pain"});
    if let Some(start) = start {
        body["scheduled_start"] = json!(start);
    }
    let response = app.post_visit(&clinic.scheduler, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "book the visit");
    response.json().await.expect("visit JSON")
}

fn rfc3339_in(app: &TestApp, from_now: Duration) -> String {
    let at = app.clock.now() + from_now;
    at.rfc3339()
}

/// The join link in a message body.
fn link_in(body: &str) -> String {
    let start = body.find("http://").expect("a link in the message");
    body[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn the_join_link_is_emailed_once_even_when_the_mail_server_was_down_at_booking() {
    let mut sink = SmtpSink::start().await;
    sink.kill().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let visit = book_emailed(&app, &clinic, "Ada", "ada@example.org").await;

    // Committed with the booking; the first attempt finds no server.
    let link = wait_for_message(
        &app,
        &visit.id,
        &clinic.scheduler,
        ("link", "email"),
        "a failed attempt",
        retrying,
    )
    .await;
    assert_eq!(link["failure"], "the mail server could not be reached");
    assert_eq!(link["to"], "a***@example.org");
    assert!(link["next_attempt_at"].is_string());

    sink.restart().await;
    app.clock.advance(Duration::from_secs(60));
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the link sent", |m| {
        sent(m, "link", "email", 1)
    })
    .await;
    a_few_rounds(&app).await;

    let mail = sink.to("ada@example.org");
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        mail[0]["subject"]
            .as_str()
            .unwrap()
            .contains("Springfield Clinic")
            || mail[0]["subject"].as_str().unwrap().contains("video visit")
    );
    assert!(body.starts_with("Hello Ada,"), "{body}");
    assert!(
        !body.contains("Chest pain"),
        "no reason for the visit: {body}"
    );
    // The link works: it opens the patient's own visit.
    let link = link_in(body);
    assert!(link.contains(&format!("/join/{}?t=", visit.id)), "{link}");
    let token = link.split("?t=").nth(1).unwrap();
    let response = app
        .get(&format!("/api/v1/visits/{}", visit.id), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_link_committed_before_bedside_stopped_is_sent_once_by_the_next_process() {
    let mut sink = SmtpSink::start().await;
    sink.kill().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let visit = book_emailed(&app, &clinic, "Mary", "mary@example.org").await;
    wait_for_message(
        &app,
        &visit.id,
        &clinic.scheduler,
        ("link", "email"),
        "a failed attempt",
        retrying,
    )
    .await;

    // Bedside stops with the message committed and unsent; the mail server
    // comes back while it is down; the next process finds the message.
    let app = app.restart(with_smtp(&sink)).await;
    sink.restart().await;
    app.clock.advance(Duration::from_secs(120));
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the link sent", |m| {
        sent(m, "link", "email", 1)
    })
    .await;
    a_few_rounds(&app).await;
    let mail = sink.to("mary@example.org");
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(link_in(mail[0]["body"].as_str().unwrap()).contains(&visit.id));
}

#[tokio::test]
async fn reminders_go_once_per_offset_as_the_clock_reaches_them() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let start = rfc3339_in(&app, Duration::from_secs(2 * 24 * 3600));
    let visit = book_for(
        &app,
        &clinic,
        &emailed_patient("Grace", "grace@example.org"),
        Some(start),
    )
    .await;
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the link", |m| {
        sent(m, "link", "email", 1)
    })
    .await;

    // A day and a minute on: the day-before reminder, once.
    app.clock.advance(Duration::from_secs(24 * 3600 + 60));
    wait_for_messages(
        &app,
        &visit.id,
        &clinic.scheduler,
        "the first reminder",
        |m| sent(m, "reminder", "email", 1),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.to("grace@example.org").len(), 2);

    // Within the hour before: the second reminder, once.
    app.clock.advance(Duration::from_secs(23 * 3600));
    wait_for_messages(
        &app,
        &visit.id,
        &clinic.scheduler,
        "the second reminder",
        |m| sent(m, "reminder", "email", 2),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mail = sink.to("grace@example.org");
    assert_eq!(mail.len(), 3, "{mail:#?}");
    for reminder in &mail[1..] {
        let body = reminder["body"].as_str().unwrap();
        assert!(body.contains("A reminder of your video visit"), "{body}");
        assert!(body.contains(&format!("/join/{}?t=", visit.id)), "{body}");
    }
    // The time of the visit, and nothing of why.
    assert!(!mail[1]["body"].as_str().unwrap().contains("Chest pain"));
}

#[tokio::test]
async fn running_late_reaches_each_patient_in_the_queue_once() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let first = book_emailed(&app, &clinic, "Ada", "ada@example.org").await;
    let second = book_emailed(&app, &clinic, "Alan", "alan@example.org").await;
    let path = format!("/api/v1/queues/{}/running-late", clinic.queue_id);

    let response = app
        .post(&path, Some(&clinic.scheduler), &json!({"minutes": 0}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("minutes"),
        "{problem}"
    );
    let billing = app.staff_token("biller", "billing").await;
    let response = app
        .post(&path, Some(&billing), &json!({"minutes": 20}))
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;

    let response = app
        .post(&path, Some(&clinic.clinician), &json!({"minutes": 20}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let told: Value = response.json().await.unwrap();
    assert_eq!(told["visit_ids"].as_array().unwrap().len(), 2);

    for (visit, address) in [(&first, "ada@example.org"), (&second, "alan@example.org")] {
        wait_for_messages(
            &app,
            &visit.id,
            &clinic.scheduler,
            "running late sent",
            |m| sent(m, "running_late", "email", 1),
        )
        .await;
        let _ = address;
    }
    a_few_rounds(&app).await;
    for address in ["ada@example.org", "alan@example.org"] {
        let late: Vec<Value> = sink
            .to(address)
            .into_iter()
            .filter(|m| {
                m["body"]
                    .as_str()
                    .unwrap()
                    .contains("running about 20 minutes late")
            })
            .collect();
        assert_eq!(late.len(), 1, "{address}: {late:#?}");
        assert!(
            !late[0]["body"].as_str().unwrap().contains("?t="),
            "no link in a delay notice"
        );
    }
    let trail = app.audit_trail(&clinic.admin, &first.patient_id).await;
    assert!(
        trail
            .iter()
            .any(|e| e["action"] == "visit.message_running_late")
    );
}

#[tokio::test]
async fn a_delay_notice_that_could_not_go_before_the_delay_was_over_is_dropped() {
    let mut sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let visit = book_emailed(&app, &clinic, "Ada", "ada@example.org").await;
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the link sent", |m| {
        sent(m, "link", "email", 1)
    })
    .await;

    // The mail server is down when the delay is announced.
    sink.kill().await;
    announce_late(&app, &clinic, 15).await;
    let late = ("running_late", "email");
    wait_for_message(
        &app,
        &visit.id,
        &clinic.scheduler,
        late,
        "a failed attempt",
        retrying,
    )
    .await;

    // It is back only after the 15 minutes are over: the notice is dropped.
    sink.restart().await;
    app.clock.advance(Duration::from_secs(16 * 60));
    let dropped =
        wait_for_message(&app, &visit.id, &clinic.scheduler, late, "the drop", failed).await;
    assert_eq!(
        dropped["failure"],
        "the delay it announced was over before it could be sent"
    );
    a_few_rounds(&app).await;
    let mail = sink.to("ada@example.org");
    assert_eq!(mail.len(), 1, "only the link: {mail:#?}");
}

#[tokio::test]
async fn sending_the_link_again_retires_the_old_one_and_a_cancellation_is_told() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let visit = book_emailed(&app, &clinic, "Ada", "ada@example.org").await;
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the link", |m| {
        sent(m, "link", "email", 1)
    })
    .await;

    let path = format!("/api/v1/visits/{}/patient-messages/link", visit.id);
    let response = app.post(&path, Some(&clinic.scheduler), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: Value = response.json().await.unwrap();
    wait_for_messages(&app, &visit.id, &clinic.scheduler, "the second link", |m| {
        sent(m, "link", "email", 2)
    })
    .await;
    let mail = sink.to("ada@example.org");
    assert_eq!(mail.len(), 2);
    let old = link_in(mail[0]["body"].as_str().unwrap());
    let new = link_in(mail[1]["body"].as_str().unwrap());
    let token = |link: &str| link.split("?t=").nth(1).unwrap().to_owned();
    let visit_path = format!("/api/v1/visits/{}", visit.id);
    assert_eq!(
        app.get(&visit_path, Some(&token(&old))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&visit_path, Some(&token(&new))).await.status(),
        StatusCode::OK
    );
    assert!(fresh["join_url"].as_str().unwrap().contains("?t="));

    let response = app.cancel(&visit, &clinic.scheduler).await;
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_messages(
        &app,
        &visit.id,
        &clinic.scheduler,
        "the cancellation",
        |m| sent(m, "cancellation", "email", 1),
    )
    .await;
    let mail = sink.to("ada@example.org");
    assert_eq!(mail.len(), 3);
    assert!(mail[2]["body"].as_str().unwrap().contains("is cancelled"));
    // A cancelled visit has no link to send.
    let response = app.post(&path, Some(&clinic.scheduler), &json!({})).await;
    assert_problem(response, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn only_visit_staff_see_a_visits_messages_and_reads_are_audited() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(with_smtp(&sink)).await;
    let clinic = Clinic::open(&app).await;
    let visit = book_emailed(&app, &clinic, "Ada", "ada@example.org").await;
    let path = format!("/api/v1/visits/{}/patient-messages", visit.id);
    let billing = app.staff_token("biller", "billing").await;
    assert_problem(app.get(&path, Some(&billing)).await, StatusCode::FORBIDDEN).await;
    assert_problem(
        app.get(&path, Some(&visit.patient_token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.get(&path, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let messages = patient_messages(&app, &visit.id, &clinic.clinician).await;
    assert_eq!(messages.len(), 1, "one e-mail; no phone, no text");
    assert!(messages[0].get("body").is_none());
    let trail = app.audit_trail(&clinic.admin, &visit.patient_id).await;
    assert!(trail.iter().any(|e| e["action"] == "visit.messages_read"));
    assert!(trail.iter().any(|e| e["outcome"] == "denied"));
}

/// A local stand-in for Twilio's Messages API. It answers as Twilio does
/// and keeps every request it accepted.
#[derive(Clone, Default)]
pub(crate) struct Twilio {
    pub(crate) accepted: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

pub(crate) const SID: &str = "AC00000000000000000000000000000001";
pub(crate) const AUTH_TOKEN: &str = "twilio-auth-token-for-tests";
pub(crate) const FROM: &str = "+15005550006";
/// Twilio's magic test number for "not a mobile number".
const NOT_MOBILE: &str = "+15005550009";
/// A number that replied STOP.
const STOPPED: &str = "+12175550199";

async fn twilio_messages(
    State(twilio): State<Twilio>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH_TOKEN}"))
    );
    let error = |status: AxumStatus, code: i64, message: &str| {
        (status, axum::Json(json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()}))).into_response()
    };
    if sid != SID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
        return error(AxumStatus::UNAUTHORIZED, 20003, "Authenticate");
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return error(AxumStatus::BAD_REQUEST, 21601, "Expected a form");
    }
    let to = form.get("To").cloned().unwrap_or_default();
    if !to.starts_with('+')
        || form.get("From").map(String::as_str) != Some(FROM)
        || form.get("Body").is_none_or(String::is_empty)
    {
        return error(
            AxumStatus::BAD_REQUEST,
            21604,
            "A 'To', 'From' and 'Body' are required",
        );
    }
    if to == NOT_MOBILE {
        return error(
            AxumStatus::BAD_REQUEST,
            21614,
            "'To' number is not a valid mobile number",
        );
    }
    if to == STOPPED {
        return error(
            AxumStatus::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        );
    }
    let mut accepted = twilio.accepted.lock().unwrap();
    accepted.push(form.clone());
    let sid = format!("SM{:032x}", accepted.len());
    (AxumStatus::CREATED, axum::Json(json!({"sid": sid, "status": "queued", "to": to, "from": FROM, "body": form["Body"], "account_sid": SID}))).into_response()
}

pub(crate) async fn start_twilio() -> (Twilio, String) {
    let twilio = Twilio::default();
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            axum::routing::post(twilio_messages),
        )
        .with_state(twilio.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (twilio, url)
}

pub(crate) fn with_twilio(
    base: String,
    sink: &SmtpSink,
) -> impl FnOnce(bedside::config::Source) -> bedside::config::Source {
    let smtp = with_smtp(sink);
    move |source| {
        smtp(source)
            .set("BEDSIDE_SMS_PROVIDER", "twilio")
            .set("BEDSIDE_SMS_ACCOUNT_SID", SID)
            .set("BEDSIDE_SMS_AUTH_TOKEN", AUTH_TOKEN)
            .set("BEDSIDE_SMS_FROM", FROM)
            .set("BEDSIDE_SMS_BASE_URL", base)
    }
}

pub(crate) fn texted_patient(given_name: &str, phone: &str) -> Value {
    let mut patient = ada();
    patient["given_name"] = json!(given_name);
    patient["phone"] = json!(phone);
    patient.as_object_mut().unwrap().remove("email");
    patient
}

#[tokio::test]
async fn texts_go_through_twilios_messages_api_and_its_refusals_are_recorded() {
    let sink = SmtpSink::start().await;
    let (twilio, base) = start_twilio().await;
    let app = spawn_app_with(with_twilio(base, &sink)).await;
    let clinic = Clinic::open(&app).await;

    let visit = book_for(
        &app,
        &clinic,
        &texted_patient("Ada", "(217) 555-0100"),
        None,
    )
    .await;
    let messages = wait_for_messages(&app, &visit.id, &clinic.scheduler, "the text", |m| {
        sent(m, "link", "sms", 1)
    })
    .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["to"], "***0100");
    let accepted = twilio.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["To"], "+12175550100");
    assert_eq!(accepted[0]["From"], FROM);
    let body = &accepted[0]["Body"];
    assert!(body.contains(&format!("/join/{}?t=", visit.id)), "{body}");
    assert!(body.ends_with("Reply STOP to opt out."), "{body}");
    assert!(!body.contains("Chest pain"));

    // Twilio refuses a number that is not a mobile: failed, with its words.
    let visit = book_for(&app, &clinic, &texted_patient("Alan", NOT_MOBILE), None).await;
    let refused = wait_for_message(
        &app,
        &visit.id,
        &clinic.scheduler,
        ("link", "sms"),
        "the refusal",
        failed,
    )
    .await;
    let failure = refused["failure"].as_str().unwrap();
    assert!(
        failure.contains("not a valid mobile number") && failure.contains("21614"),
        "{failure}"
    );

    // A number that replied STOP: failed, and the patient is now opted out.
    let visit = book_for(
        &app,
        &clinic,
        &texted_patient("Grace", "+1 217 555 0199"),
        None,
    )
    .await;
    wait_for_message(
        &app,
        &visit.id,
        &clinic.scheduler,
        ("link", "sms"),
        "the opt-out",
        failed,
    )
    .await;
    let preference = app
        .get_json(
            &format!("/api/v1/patients/{}/text-messages", visit.patient_id),
            &clinic.scheduler,
        )
        .await;
    assert_eq!(preference["opted_out"], true);
    assert_eq!(twilio.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_patient_who_opted_out_of_texts_still_gets_email() {
    let sink = SmtpSink::start().await;
    let (twilio, base) = start_twilio().await;
    let app = spawn_app_with(with_twilio(base, &sink)).await;
    let clinic = Clinic::open(&app).await;
    let patient = app.create_patient(&clinic.scheduler, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    let path = format!("/api/v1/patients/{id}/text-messages");
    let response = app
        .client
        .put(app.url(&path))
        .bearer_auth(&clinic.scheduler)
        .json(&json!({"opted_out": "yes"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response = app
        .client
        .put(app.url(&path))
        .bearer_auth(&clinic.scheduler)
        .json(&json!({"opted_out": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let visit = app
        .book_visit(&clinic.scheduler, &patient, &clinic.queue_id, "Rash")
        .await;
    let messages = wait_for_messages(&app, &visit.id, &clinic.scheduler, "the e-mail", |m| {
        sent(m, "link", "email", 1)
    })
    .await;
    assert!(of(&messages, "link", "sms").is_empty(), "{messages:#?}");
    a_few_rounds(&app).await;
    assert!(twilio.accepted.lock().unwrap().is_empty());
    assert_eq!(sink.to("ada@example.org").len(), 1);
    let trail = app.audit_trail(&clinic.admin, id).await;
    assert!(trail.iter().any(|e| e["action"] == "patient.text_opt_out"));
}
