//! Call quality: `stats` frames are validated, rate-limited and authorised
//! (refused ones are never stored), relayed to the other side, and kept in a
//! bounded timeline; the measured call sets the default minutes, the
//! audio-only modifier (93, or FQ where the payer wants it) and the
//! encounter's period and length; a clinician's override needs a reason and
//! is audited; admins see the operations figures.

use std::time::Duration;

use bedside::billing::worker;
use bedside::config::{Config, Source};
use bedside::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signaling::protocol::quality::{CandidateType, MediaMode, StatsSummary, VideoStats};
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio::time::Instant;

use crate::app::Visit;
use crate::clinic::{Clinic, book_waiting_visit, close_body, consent};
use crate::helpers::{TestApp, ada, assert_json, assert_problem, spawn_app_with};
use crate::socket::Socket;

/// The server's spacing of one socket's `stats` frames, plus slack.
const STATS_SPACING: Duration = Duration::from_millis(1_900);

fn summary(mode: MediaMode) -> StatsSummary {
    let video = (mode == MediaMode::Video).then_some(VideoStats {
        fps: 24.0,
        width: 640,
        height: 480,
    });
    StatsSummary {
        rtt_ms: Some(48.0),
        jitter_ms: Some(4.5),
        loss_in_pct: Some(0.5),
        loss_out_pct: Some(1.0),
        kbps_in: Some(700.0),
        kbps_out: Some(650.0),
        sent: video,
        received: video,
        candidate: Some(CandidateType::Relay),
        mode,
        mode_ms: None,
        limited: mode == MediaMode::AudioOnly,
    }
}

async fn count(store: &Store, sql: &str, visit: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(visit)
        .fetch_one(store.pool())
        .await
        .unwrap();
    n
}

async fn samples(store: &Store, visit: &str) -> i64 {
    count(
        store,
        "SELECT COUNT(*) FROM call_quality_samples WHERE visit_id = $1",
        visit,
    )
    .await
}

/// Sockets of a visit's call, each sending `stats` no faster than the
/// server allows; each frame is confirmed by another socket hearing it as
/// `peer_stats` (so it was kept) before the app's clock moves on.
struct Call {
    sockets: Vec<(Socket, Option<Instant>)>,
    next: usize,
}

impl Call {
    /// `per_side` sockets for the clinician and for the patient, in the call.
    async fn open(app: &TestApp, visit: &Visit, clinician: &str, per_side: usize) -> Self {
        let mut sockets = Vec::new();
        for token in [clinician, visit.patient_token.as_str()] {
            for _ in 0..per_side {
                let mut socket = Socket::hello(app, token).await;
                socket.join(&visit.id).await;
                socket.joined().await;
                sockets.push((socket, None));
            }
        }
        Self { sockets, next: 0 }
    }

    /// One summary from the next socket, then the app's clock moves `after`.
    async fn report(&mut self, app: &TestApp, mode: MediaMode, after: Duration) {
        let index = self.next;
        self.next = (self.next + 1) % self.sockets.len();
        self.report_from(app, index, summary(mode), after).await;
    }

    /// One summary from socket `index`, then the app's clock moves `after`.
    async fn report_from(
        &mut self,
        app: &TestApp,
        index: usize,
        stats: StatsSummary,
        after: Duration,
    ) {
        let (socket, last) = &mut self.sockets[index];
        if let Some(last) = *last {
            tokio::time::sleep_until(last + STATS_SPACING).await;
        }
        *last = Some(Instant::now());
        socket.send(&ClientMessage::Stats(stats)).await;
        let from = socket.participant_id.clone();
        let listener = (index + 1) % self.sockets.len();
        self.sockets[listener]
            .0
            .until("the summary relayed", |frame| match frame {
                ServerMessage::PeerStats { from: sender, .. } if *sender == from => Some(()),
                _ => None,
            })
            .await;
        app.clock.advance(after);
    }
}

/// A call measured as `video` intervals of 15 s with video, then `audio`
/// intervals of 15 s without (each also as long as the real time between
/// frames, under a second). Returns the real seconds it took.
async fn measured_call(
    app: &TestApp,
    visit: &Visit,
    clinician: &str,
    video: u32,
    audio: u32,
) -> i64 {
    let mut call = Call::open(app, visit, clinician, 2).await;
    let began = Instant::now();
    let step = Duration::from_secs(15);
    for _ in 0..video {
        call.report(app, MediaMode::Video, step).await;
    }
    for _ in 0..audio {
        call.report(app, MediaMode::AudioOnly, step).await;
    }
    // The last summary closes the last interval.
    call.report(app, MediaMode::AudioOnly, Duration::ZERO).await;
    i64::try_from(began.elapsed().as_secs()).unwrap() + 1
}

/// A measured number of seconds: the app's clock moved `expected`, and
/// real time at most `slack` more.
fn assert_seconds(measured: &Value, expected: i64, slack: i64) {
    let seconds = measured.as_i64().unwrap();
    assert!(
        (expected..=expected + slack).contains(&seconds),
        "{seconds} s measured, {expected} s expected (+{slack} s real)"
    );
}

#[tokio::test]
async fn malformed_early_or_unauthorised_stats_get_an_error_and_nothing_is_stored() {
    let app = spawn_app_with(|source| source).await;
    let booked = book_waiting_visit(&app, "dr.grey").await;
    let visit = &booked.visit;

    // Before the call: a socket in no room is refused, nothing kept.
    let mut outsider = Socket::hello(&app, &booked.clinician).await;
    outsider
        .send(&ClientMessage::Stats(summary(MediaMode::Video)))
        .await;
    assert_eq!(outsider.error().await, ErrorCode::NotJoined);

    booked.admit(&app).await;
    let mut clinician = Socket::hello(&app, &booked.clinician).await;
    clinician.join(&visit.id).await;
    clinician.joined().await;
    let mut patient = Socket::hello(&app, &visit.patient_token).await;
    patient.join(&visit.id).await;
    patient.joined().await;

    let good = serde_json::to_value(ClientMessage::Stats(summary(MediaMode::Video))).unwrap();
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut frame = good.clone();
        change(&mut frame);
        frame.to_string()
    };
    for bad in [
        broken(&|f| f["loss_in_pct"] = json!(140)),
        broken(&|f| f["rtt_ms"] = json!(-3)),
        broken(&|f| f["mode"] = json!("smoke_signals")),
        broken(&|f| f["candidate"] = json!("carrier_pigeon")),
        broken(&|f| f["patient_name"] = json!("Ada Lovelace")),
        broken(&|f| f["sent"] = json!({"fps": 30})),
        broken(&|f| {
            f.as_object_mut().unwrap().remove("mode");
        }),
        r#"{"type":"stats"}"#.to_owned(),
        r#"{"type":"stats","rtt_ms":"fast"}"#.to_owned(),
    ] {
        patient.send_text(&bad).await;
        assert_eq!(patient.error().await, ErrorCode::InvalidStats, "{bad}");
    }
    assert_eq!(samples(&app.store, &visit.id).await, 0);

    // A good one is kept and relayed as sent; one right after is too soon.
    patient
        .send(&ClientMessage::Stats(summary(MediaMode::Video)))
        .await;
    let relayed = clinician
        .until("the patient's summary", |frame| match frame {
            ServerMessage::PeerStats { from, stats } => Some((from.clone(), *stats)),
            _ => None,
        })
        .await;
    assert_eq!(
        relayed,
        (patient.participant_id.clone(), summary(MediaMode::Video))
    );
    for _ in 0..5 {
        patient
            .send(&ClientMessage::Stats(summary(MediaMode::AudioOnly)))
            .await;
        assert_eq!(patient.error().await, ErrorCode::RateLimited);
    }
    assert_eq!(samples(&app.store, &visit.id).await, 1);

    // Only the clinician lets others share their screen.
    patient
        .send(&ClientMessage::ScreenShare { allowed: true })
        .await;
    assert_eq!(patient.error().await, ErrorCode::Forbidden);
    clinician
        .send(&ClientMessage::ScreenShare { allowed: true })
        .await;
    let allowed = patient
        .until("the clinician's permission", |frame| match frame {
            ServerMessage::ScreenShare { allowed, .. } => Some(*allowed),
            _ => None,
        })
        .await;
    assert!(allowed);
}

#[tokio::test]
async fn the_quality_timeline_keeps_only_the_newest_summaries_of_each_participant() {
    let app = spawn_app_with(|source| source.set("BEDSIDE_QUALITY_TIMELINE_CAP", "3")).await;
    let booked = book_waiting_visit(&app, "dr.grey").await;
    booked.admit(&app).await;
    let visit = &booked.visit;
    let mut call = Call::open(&app, visit, &booked.clinician, 1).await;
    let began = Instant::now();
    for _ in 0..10 {
        call.report(&app, MediaMode::Video, Duration::from_secs(3))
            .await;
    }
    let per_participant = |who: usize| {
        let id = call.sockets[who].0.participant_id.to_string();
        let store = app.store.clone();
        let visit = visit.id.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM call_quality_samples WHERE visit_id = $1 AND participant_id = $2",
            )
            .bind(visit)
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap();
            n
        }
    };
    assert_eq!(per_participant(0).await, 3);
    assert_eq!(per_participant(1).await, 3);
    // The measure still counts every summary: 9 intervals of 3 s.
    let measured = app
        .get_json(
            &format!("/api/v1/visits/{}/call", visit.id),
            &booked.clinician,
        )
        .await;
    let slack = i64::try_from(began.elapsed().as_secs()).unwrap() + 1;
    assert_seconds(&measured["connected_seconds"], 27, slack);
    assert_eq!(measured["relayed"], true);
    // Each participant's latest figures, as sent.
    let latest = measured["latest"].as_array().expect("latest summaries");
    assert_eq!(latest.len(), 2, "{measured}");
    for sample in latest {
        assert_eq!(sample["rtt_ms"], 48.0, "{sample}");
        assert_eq!(sample["loss_in_pct"], 0.5, "{sample}");
        assert_eq!(sample["loss_out_pct"], 1.0, "{sample}");
        assert_eq!(sample["candidate"], "relay", "{sample}");
    }
}

/// Demo billing and payer rules, no background worker.
fn billing(source: Source) -> Source {
    Config::with_demo_defaults(&source)
        .set("BEDSIDE_BILLING_POLL_SECONDS", "0")
        .set("BEDSIDE_PAYER_RULES", "OLDPLAN=office/GT/FQ")
}

async fn drain(app: &TestApp) {
    let url = &app.db.as_ref().expect("the app owns its database").url;
    let config = Config::from_source(&billing(Source::default().set("DATABASE_URL", url)))
        .expect("test config is valid");
    worker::drain(&app.store, &app.clock, &config.billing)
        .await
        .expect("the worker drains");
}

async fn consult(app: &TestApp, clinic: &Clinic, payer: Option<&str>) -> Visit {
    let mut patient = ada();
    if let Some(payer) = payer {
        patient["insurance"] =
            json!({"payer_id": payer, "payer_name": "Old Plan", "member_id": "M555"});
    }
    let patient = app.create_patient(&clinic.scheduler, &patient).await;
    let visit = app
        .book_visit(&clinic.scheduler, &patient, &clinic.queue_id, "Cough")
        .await;
    assert_eq!(
        app.check_in(&visit, &consent()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.admit(&visit, &clinic.clinician).await.status(),
        StatusCode::OK
    );
    visit
}

async fn claim(app: &TestApp, clinic: &Clinic, visit: &Visit) -> Value {
    drain(app).await;
    let claims = app
        .get_json(
            &format!("/api/v1/claims?encounter_id={}", visit.encounter_id),
            &clinic.admin,
        )
        .await;
    assert_eq!(claims.as_array().unwrap().len(), 1, "{claims}");
    claims[0].clone()
}

#[tokio::test]
async fn a_mostly_audio_only_call_defaults_its_minutes_and_bills_the_audio_only_modifier() {
    let app = spawn_app_with(billing).await;
    let clinic = Clinic::open(&app).await;
    let visit = consult(&app, &clinic, None).await;
    // 4 intervals with video, 11 without: 3¾ minutes and 2¾ audio-only,
    // and the real seconds between frames: 4 and 3 minutes, rounded up.
    let slack = measured_call(&app, &visit, &clinic.clinician, 4, 11).await;
    assert!(slack < 15, "the frames took {slack} s");

    let measured = app
        .get_json(
            &format!("/api/v1/visits/{}/call", visit.id),
            &clinic.clinician,
        )
        .await;
    assert_seconds(&measured["connected_seconds"], 225, slack);
    assert_seconds(&measured["audio_only_seconds"], 165, slack);
    assert_eq!(measured["connected_minutes"], 4);
    assert_eq!(measured["audio_only_minutes"], 3);
    assert_eq!(measured["mostly_audio_only"], true);
    assert_eq!(measured["relayed"], true);

    let preview: Value = assert_json(
        app.post(
            &format!("/api/v1/visits/{}/close/preview", visit.id),
            Some(&clinic.clinician),
            &json!({"diagnoses": ["J06.9"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preview["total_minutes"], 4, "{preview}");

    // The clinician's minutes include documentation; the modality is the call's.
    let mut body = close_body();
    body["total_minutes"] = json!(20);
    assert_eq!(
        app.close(&visit, &clinic.clinician, &body).await.status(),
        StatusCode::OK
    );
    let claim = claim(&app, &clinic, &visit).await;
    assert_eq!(claim["audio_only"], true);
    assert_eq!(claim["lines"][0]["modifiers"], json!(["93"]), "{claim}");
    let reason = claim["modality_reason"].as_str().unwrap();
    assert!(reason.contains("3 of 4 connected minutes"), "{reason}");

    // The encounter's period and length are the call's.
    let encounter = app
        .get_json(
            &format!("/fhir/Encounter/{}", visit.encounter_id),
            &clinic.clinician,
        )
        .await;
    assert_eq!(encounter["length"]["value"], 4, "{encounter}");
    assert_eq!(encounter["period"]["start"], measured["started_at"]);
    assert_eq!(encounter["period"]["end"], measured["ended_at"]);

    // Without minutes, the default is the connected time.
    let other = consult(&app, &clinic, None).await;
    measured_call(&app, &other, &clinic.clinician, 2, 0).await;
    let mut body = close_body();
    body.as_object_mut().unwrap().remove("total_minutes");
    assert_eq!(
        app.close(&other, &clinic.clinician, &body).await.status(),
        StatusCode::OK
    );
    let closed = app.visit(&other, &clinic.admin).await;
    assert_eq!(
        closed["total_minutes"], 1,
        "30 connected seconds, rounded up"
    );
    assert_eq!(closed["audio_only"], false);
}

#[tokio::test]
async fn a_summary_held_up_on_a_starved_uplink_still_counts_the_audio_only_time_it_reports() {
    let app = spawn_app_with(billing).await;
    let clinic = Clinic::open(&app).await;
    let visit = consult(&app, &clinic, None).await;
    let mut call = Call::open(&app, &visit, &clinic.clinician, 1).await;
    let (clinician, patient) = (0, 1);
    let step = Duration::from_secs(10);
    let began = Instant::now();
    // The patient goes audio-only at 10 s, but its summaries are held up
    // until 40 s: meanwhile only the clinician's (with video) arrive.
    for _ in 0..4 {
        call.report_from(&app, clinician, summary(MediaMode::Video), step)
            .await;
    }
    let held = |ms| StatsSummary {
        mode_ms: Some(ms),
        ..summary(MediaMode::AudioOnly)
    };
    call.report_from(&app, patient, held(30_000), step).await;
    call.report_from(&app, clinician, summary(MediaMode::Video), step)
        .await;
    call.report_from(&app, patient, held(50_000), Duration::ZERO)
        .await;
    let slack = i64::try_from(began.elapsed().as_secs()).unwrap() + 1;

    let measured = app
        .get_json(
            &format!("/api/v1/visits/{}/call", visit.id),
            &clinic.clinician,
        )
        .await;
    assert_seconds(&measured["connected_seconds"], 60, slack);
    assert_seconds(&measured["audio_only_seconds"], 50, slack);
    assert_eq!(measured["mostly_audio_only"], true);
}

#[tokio::test]
async fn a_payer_that_wants_fq_gets_fq_and_an_override_needs_a_reason_and_is_audited() {
    let app = spawn_app_with(billing).await;
    let clinic = Clinic::open(&app).await;
    let fq = consult(&app, &clinic, Some("OLDPLAN")).await;
    measured_call(&app, &fq, &clinic.clinician, 1, 3).await;
    let mut body = close_body();
    body["total_minutes"] = json!(20);
    assert_eq!(
        app.close(&fq, &clinic.clinician, &body).await.status(),
        StatusCode::OK
    );
    let claim_fq = claim(&app, &clinic, &fq).await;
    assert_eq!(
        claim_fq["lines"][0]["modifiers"],
        json!(["FQ"]),
        "{claim_fq}"
    );

    let overridden = consult(&app, &clinic, None).await;
    measured_call(&app, &overridden, &clinic.clinician, 1, 3).await;
    body["audio_only"] = json!(false);
    let problem = assert_problem(
        app.close(&overridden, &clinic.clinician, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem.to_string().contains("call_override_reason"),
        "{problem}"
    );
    body["call_override_reason"] =
        json!("Video worked on the patient's phone; the tablet's camera was off");
    assert_eq!(
        app.close(&overridden, &clinic.clinician, &body)
            .await
            .status(),
        StatusCode::OK
    );
    let claim = claim(&app, &clinic, &overridden).await;
    assert_eq!(claim["audio_only"], false);
    assert_eq!(claim["lines"][0]["modifiers"], json!(["95"]), "{claim}");
    let reason = claim["modality_reason"].as_str().unwrap();
    assert!(reason.contains("the tablet's camera was off"), "{reason}");
    let trail = app.audit_trail(&clinic.admin, &overridden.patient_id).await;
    assert!(
        trail
            .iter()
            .any(|event| event["action"] == "visit.modality_override"
                && event["actor_role"] == "clinician"),
        "{trail:?}"
    );
}

#[tokio::test]
async fn admins_see_connect_rate_wait_relay_and_audio_only_shares_per_day() {
    let app = spawn_app_with(|source| source).await;
    let clinic = Clinic::open(&app).await;
    let connected = consult(&app, &clinic, None).await;
    // Admitted but never connected.
    let _silent = consult(&app, &clinic, None).await;
    measured_call(&app, &connected, &clinic.clinician, 1, 1).await;

    assert_problem(
        app.get("/api/v1/admin/operations", Some(&clinic.clinician))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get("/api/v1/admin/operations?days=0", Some(&clinic.admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let report = app
        .get_json("/api/v1/admin/operations?days=7", &clinic.admin)
        .await;
    assert_eq!(report["days"].as_array().unwrap().len(), 7);
    let total = &report["total"];
    assert_eq!(total["admitted"], 2, "{report}");
    assert_eq!(total["connected"], 1);
    assert_eq!(total["connect_rate"], 0.5);
    assert_eq!(total["relayed_share"], 1.0);
    assert_eq!(total["audio_only_share"], 1.0);
    assert!(total["admit_to_connected_p95_seconds"].as_f64().unwrap() >= 0.0);
    let today = report["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["admitted"], 2);
}
