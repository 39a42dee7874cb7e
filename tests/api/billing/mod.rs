//! Billing: each closed consult becomes exactly one claim (double and
//! concurrent closes, racing workers, a worker that dies mid-way, a
//! restart), coded from its minutes, payer and modality; claims in
//! `needs_review` are fixed and released; every 837 passes pyx12; an 835
//! posts to the patient's account; new claims reach a signed webhook.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bedside::billing::{self, worker};
use bedside::config::{Config, Source};
use bedside::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app::Visit;
use crate::clinic::{Clinic, close_body, consent};
use crate::helpers::{TestApp, ada, assert_problem, assert_valid_fhir, spawn_app, spawn_app_with};

const WEBHOOK_SECRET: &str = "webhook-secret-for-tests";

/// Demo billing, no background worker: each test drains the outbox itself.
fn billing_source(source: Source) -> Source {
    Config::with_demo_defaults(&source)
        .set("BEDSIDE_BILLING_POLL_SECONDS", "0")
        .set(
            "BEDSIDE_PAYER_RULES",
            "TELE=telemedicine/-/-,MEDICARE=office/-/93,OLDPLAN=office/GT/FQ",
        )
}

/// An app, the config its worker uses, a clinic and a biller's token.
struct Billing {
    app: TestApp,
    config: Config,
    clinic: Clinic,
    biller: String,
}

impl Billing {
    async fn start() -> Self {
        Self::start_with(billing_source).await
    }

    async fn start_with(configure: fn(Source) -> Source) -> Self {
        let app = spawn_app_with(configure).await;
        let config = worker_config(&app, configure);
        let clinic = Clinic::open(&app).await;
        let biller = app.staff_token("biller", "billing").await;
        Self {
            app,
            config,
            clinic,
            biller,
        }
    }

    /// Restarts the app on its database with `configure`, which the
    /// worker's config follows; the clinic and the biller stay.
    async fn restart(self, configure: fn(Source) -> Source) -> Self {
        let app = self.app.restart(configure).await;
        let config = worker_config(&app, configure);
        Self {
            app,
            config,
            clinic: self.clinic,
            biller: self.biller,
        }
    }

    async fn drain(&self) -> usize {
        worker::drain(&self.app.store, &self.app.clock, &self.config.billing)
            .await
            .expect("the worker drains")
    }

    async fn patient(&self, insurance: Value) -> Value {
        let mut body = ada();
        body["insurance"] = insurance;
        if body["insurance"].is_null() {
            body.as_object_mut().unwrap().remove("insurance");
        }
        self.app.create_patient(&self.clinic.scheduler, &body).await
    }

    /// Books, checks in and admits a visit for `patient`.
    async fn in_consult(&self, patient: &Value) -> Visit {
        let (app, clinic) = (&self.app, &self.clinic);
        let visit = app
            .book_visit(&clinic.scheduler, patient, &clinic.queue_id, "Cough")
            .await;
        let response = app.check_in(&visit, &consent()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.admit(&visit, &clinic.clinician).await;
        assert_eq!(response.status(), StatusCode::OK);
        visit
    }

    /// A whole consult closed with `body`; returns the visit.
    async fn consult(&self, patient: &Value, body: &Value) -> Visit {
        let visit = self.in_consult(patient).await;
        let response = self.app.close(&visit, &self.clinic.clinician, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        visit
    }

    async fn claims_of(&self, visit: &Visit) -> Vec<Value> {
        let path = format!("/api/v1/claims?encounter_id={}", visit.encounter_id);
        self.app
            .get_json(&path, &self.biller)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn claim_of(&self, visit: &Visit) -> Value {
        let claims = self.claims_of(visit).await;
        assert_eq!(claims.len(), 1, "one claim per encounter");
        claims[0].clone()
    }

    async fn x12(&self, claim: &Value) -> reqwest::Response {
        let path = format!("/api/v1/claims/{}/x12", claim["id"].as_str().unwrap());
        self.app.get(&path, Some(&self.biller)).await
    }

    async fn claims_in_store(&self) -> i64 {
        count(&self.app.store, "SELECT COUNT(*) FROM claims").await
    }
}

/// The config a billing worker beside `app` runs with.
fn worker_config(app: &TestApp, configure: fn(Source) -> Source) -> Config {
    let url = &app.db.as_ref().expect("the app owns its database").url;
    Config::from_source(&configure(Source::default().set("DATABASE_URL", url)))
        .expect("test config is valid")
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
    n
}

fn demo_insurance() -> Value {
    ada()["insurance"].clone()
}

fn insurance(payer_id: &str) -> Value {
    json!({"payer_id": payer_id, "payer_name": format!("{payer_id} Plan"), "member_id": "M555", "group_number": "G9"})
}

fn closing(minutes: i64, extra: Value) -> Value {
    let mut body = close_body();
    body["total_minutes"] = json!(minutes);
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Runs pyx12 and linuxforhealth-x12 on an interchange; fails (never
/// skips) when either is missing.
fn assert_valid_837(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claim.txt");
    std::fs::write(&path, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/x12_validate.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&path)
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(2), "pyx12 is required: {stderr}");
    assert_eq!(
        stdout.trim(),
        "OK",
        "pyx12 refused the 837:\n{stderr}\n{text}"
    );
    // The independent second reader, for every interchange but a 999 (it has no model of one).
    if !text.contains("GS*FA*") {
        clearinghouse::assert_lfh_parses(text);
    }
}

fn segment<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    text.split('~')
        .map(str::trim)
        .filter(|s| s.split('*').next() == Some(tag))
        .collect()
}

#[tokio::test]
async fn a_closed_consult_becomes_one_ready_claim_coded_without_help() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    assert_eq!(b.drain().await, 1);

    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["status"], "ready");
    assert_eq!(claim["patient_id"], patient["id"]);
    assert_eq!(claim["new_patient"], true);
    assert_eq!(claim["place_of_service"], "10");
    assert_eq!(claim["diagnoses"], json!(["J06.9", "R50.9"]));
    let line = &claim["lines"][0];
    assert_eq!(line["cpt"], "99202", "18 minutes, new patient");
    assert_eq!(line["modifiers"], json!(["95"]));
    assert_eq!(line["units"], 1);
    assert_eq!(line["diagnosis_pointers"], json!([1, 2]));
    assert_eq!(line["charge_cents"], 7_500);
    assert_eq!(claim["total_cents"], 7_500);

    let visit_now = b.app.visit(&visit, &b.clinic.admin).await;
    assert_eq!(visit_now["claim_id"], claim["id"]);
    let read = b
        .app
        .get_json(
            &format!("/api/v1/claims/{}", claim["id"].as_str().unwrap()),
            &b.clinic.admin,
        )
        .await;
    assert_eq!(read["id"], claim["id"]);

    let account = b
        .app
        .get_json(
            &format!(
                "/api/v1/patients/{}/account",
                patient["id"].as_str().unwrap()
            ),
            &b.biller,
        )
        .await;
    assert_eq!(account["charges_cents"], 7_500);
    assert_eq!(account["balance_cents"], 7_500);

    // Who may see claims, and that reading them is audited.
    let path = format!("/api/v1/claims/{}", claim["id"].as_str().unwrap());
    assert_problem(
        b.app.get(&path, Some(&b.clinic.clinician)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(b.app.get(&path, None).await, StatusCode::UNAUTHORIZED).await;
    let audit = b
        .app
        .audit_trail(&b.clinic.admin, patient["id"].as_str().unwrap())
        .await;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(
        actions.contains(&"claim.create") && actions.contains(&"claim.read"),
        "{actions:?}"
    );
}

/// payer, minutes, new patient, audio-only, location → CPT, modifiers, place of service.
type CodingCase = (
    &'static str,
    i64,
    bool,
    bool,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

#[tokio::test]
async fn coding_follows_minutes_payer_modality_and_place() {
    let b = Billing::start().await;
    let cases: &[CodingCase] = &[
        ("DEMOPAYER", 15, true, false, "home", "99202", &["95"], "10"),
        (
            "DEMOPAYER",
            30,
            true,
            false,
            "other",
            "99203",
            &["95"],
            "02",
        ),
        ("DEMOPAYER", 45, true, true, "home", "99204", &["93"], "10"),
        ("DEMOPAYER", 75, true, false, "home", "99205", &["95"], "10"),
        (
            "DEMOPAYER",
            10,
            false,
            false,
            "home",
            "99212",
            &["95"],
            "10",
        ),
        (
            "DEMOPAYER",
            20,
            false,
            false,
            "other",
            "99213",
            &["95"],
            "02",
        ),
        ("DEMOPAYER", 30, false, true, "home", "99214", &["93"], "10"),
        (
            "DEMOPAYER",
            40,
            false,
            false,
            "home",
            "99215",
            &["95"],
            "10",
        ),
        ("TELE", 15, true, false, "home", "98000", &[], "10"),
        ("TELE", 60, true, true, "home", "98011", &[], "10"),
        ("TELE", 20, false, false, "other", "98005", &[], "02"),
        ("TELE", 40, false, true, "home", "98015", &[], "10"),
        ("MEDICARE", 20, false, false, "home", "99213", &[], "10"),
        ("MEDICARE", 20, false, true, "home", "99213", &["93"], "10"),
        ("OLDPLAN", 20, false, false, "home", "99213", &["GT"], "10"),
        ("OLDPLAN", 20, false, true, "home", "99213", &["FQ"], "10"),
    ];
    let mut visits = Vec::new();
    for &(payer, minutes, new, audio, location, ..) in cases {
        let patient = b.patient(insurance(payer)).await;
        let body = closing(
            minutes,
            json!({"new_patient": new, "audio_only": audio, "patient_location": location}),
        );
        visits.push(b.consult(&patient, &body).await);
    }
    assert_eq!(b.drain().await, cases.len());
    for (visit, &(payer, minutes, new, audio, _, cpt, modifiers, pos)) in visits.iter().zip(cases) {
        let claim = b.claim_of(visit).await;
        let case = format!("{payer} {minutes} min new={new} audio={audio}");
        assert_eq!(claim["status"], "ready", "{case}");
        assert_eq!(claim["lines"][0]["cpt"], cpt, "{case}");
        assert_eq!(claim["lines"][0]["modifiers"], json!(modifiers), "{case}");
        assert_eq!(claim["place_of_service"], pos, "{case}");
        assert_eq!(
            claim["total_cents"], claim["lines"][0]["charge_cents"],
            "{case}"
        );
    }
}

#[tokio::test]
async fn new_or_established_comes_from_the_patients_earlier_encounters() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let first = b.consult(&patient, &closing(20, json!({}))).await;
    let second = b.consult(&patient, &closing(20, json!({}))).await;
    let third = b
        .consult(&patient, &closing(30, json!({"new_patient": true})))
        .await;
    assert_eq!(b.drain().await, 3);
    let first = b.claim_of(&first).await;
    assert_eq!(
        (
            first["new_patient"].clone(),
            first["lines"][0]["cpt"].clone()
        ),
        (json!(true), json!("99202"))
    );
    let second = b.claim_of(&second).await;
    assert_eq!(
        (
            second["new_patient"].clone(),
            second["lines"][0]["cpt"].clone()
        ),
        (json!(false), json!("99213"))
    );
    let third = b.claim_of(&third).await;
    assert_eq!(
        third["lines"][0]["cpt"], "99203",
        "the override at close wins"
    );
}

#[tokio::test]
async fn diagnoses_keep_their_order_and_a_line_points_at_four_at_most() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let codes = ["J06.9", "R50.9", "R05.9", "J02.9", "R51.9", "M79.10"];
    let visit = b
        .consult(&patient, &closing(25, json!({"diagnoses": codes})))
        .await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["diagnoses"], json!(codes));
    assert_eq!(claim["lines"][0]["diagnosis_pointers"], json!([1, 2, 3, 4]));
    let text = b.x12(&claim).await.text().await.unwrap();
    assert_eq!(
        segment(&text, "HI"),
        vec!["HI*ABK:J069*ABF:R509*ABF:R059*ABF:J029*ABF:R519*ABF:M7910"]
    );
    assert_valid_837(&text);
}

#[tokio::test]
async fn a_short_consult_waits_in_review_until_a_biller_fixes_and_releases_it() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b
        .consult(&patient, &closing(5, json!({"new_patient": false})))
        .await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["status"], "needs_review");
    assert!(
        claim["review_reason"].as_str().unwrap().contains("minimum"),
        "{claim}"
    );
    assert_eq!(claim["lines"], json!([]));
    assert_eq!(claim["total_cents"], 0);
    assert_problem(b.x12(&claim).await, StatusCode::CONFLICT).await;
    let claim_path = format!("/api/v1/claims/{}", claim["id"].as_str().unwrap());
    let listed = b
        .app
        .get_json("/api/v1/claims?status=needs_review", &b.biller)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A fee-less code or a pointer past the diagnoses is refused, naming the field.
    let release = format!("{claim_path}/release");
    let bad = b
        .app
        .post(
            &release,
            Some(&b.biller),
            &json!({"lines": [{"cpt": "99499"}]}),
        )
        .await;
    assert_eq!(
        assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "lines[0].cpt"
    );
    let bad = b
        .app
        .post(
            &release,
            Some(&b.biller),
            &json!({"lines": [{"cpt": "99212", "diagnosis_pointers": [3]}]}),
        )
        .await;
    assert_eq!(
        assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "lines[0].diagnosis_pointers"
    );
    // Coding again under the same rules cannot release it.
    let again = b.app.post(&release, Some(&b.biller), &json!({})).await;
    assert_problem(again, StatusCode::CONFLICT).await;

    let response = b
        .app
        .post(
            &release,
            Some(&b.biller),
            &json!({"lines": [{"cpt": "99212", "modifiers": ["95"]}]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let released: Value = response.json().await.unwrap();
    assert_eq!(released["status"], "ready");
    assert_eq!(released["lines"][0]["charge_cents"], 6_000);
    assert_eq!(released["total_cents"], 6_000);
    assert!(released["review_reason"].is_null());
    let again = b.app.post(&release, Some(&b.biller), &json!({})).await;
    assert_problem(again, StatusCode::CONFLICT).await;
    let account = b
        .app
        .get_json(
            &format!(
                "/api/v1/patients/{}/account",
                patient["id"].as_str().unwrap()
            ),
            &b.biller,
        )
        .await;
    assert_eq!(account["charges_cents"], 6_000);
    assert_valid_837(&b.x12(&released).await.text().await.unwrap());
}

fn no_billing_config(source: Source) -> Source {
    source.set("BEDSIDE_BILLING_POLL_SECONDS", "0")
}

#[tokio::test]
async fn without_billing_config_a_claim_waits_in_review_and_is_released_once_configured() {
    let b = Billing::start_with(no_billing_config).await;
    let patient = b.patient(demo_insurance()).await;
    let uninsured = b.patient(Value::Null).await;
    let visit = b.consult(&patient, &close_body()).await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["status"], "needs_review");
    assert!(
        claim["review_reason"]
            .as_str()
            .unwrap()
            .contains("BEDSIDE_FEE_SCHEDULE")
            || claim["review_reason"]
                .as_str()
                .unwrap()
                .contains("fee schedule"),
        "{claim}"
    );
    assert_problem(b.x12(&claim).await, StatusCode::CONFLICT).await;

    // Restart with billing configured: the same claim is coded on release.
    let b = b.restart(billing_source).await;
    let release = format!("/api/v1/claims/{}/release", claim["id"].as_str().unwrap());
    let response = b.app.post(&release, Some(&b.biller), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let released: Value = response.json().await.unwrap();
    assert_eq!(released["status"], "ready");
    assert_eq!(released["lines"][0]["cpt"], "99202");

    // A patient with no insurance cannot be billed without a human.
    let visit = b.consult(&uninsured, &close_body()).await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["status"], "needs_review");
    assert!(
        claim["review_reason"]
            .as_str()
            .unwrap()
            .contains("insurance")
    );
    assert!(claim["payer"].is_null());
}

#[tokio::test]
async fn closing_a_consult_twice_creates_one_claim() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    let again = b
        .app
        .close(&visit, &b.clinic.clinician, &close_body())
        .await;
    assert_problem(again, StatusCode::CONFLICT).await;
    assert_eq!(b.drain().await, 1);
    assert_eq!(b.drain().await, 0);
    assert_eq!(b.claims_of(&visit).await.len(), 1);
    assert_eq!(b.claims_in_store().await, 1);
}

#[tokio::test]
async fn concurrent_closes_of_one_consult_create_one_claim() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.in_consult(&patient).await;
    let body = close_body();
    let (one, two) = tokio::join!(
        b.app.close(&visit, &b.clinic.clinician, &body),
        b.app.close(&visit, &b.clinic.clinician, &body)
    );
    let mut statuses = [one.status(), two.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (a, c) = tokio::join!(
        worker::drain(&b.app.store, &b.app.clock, &b.config.billing),
        worker::drain(&b.app.store, &b.app.clock, &b.config.billing)
    );
    assert_eq!(a.unwrap() + c.unwrap(), 1);
    assert_eq!(b.claims_of(&visit).await.len(), 1);
}

#[tokio::test]
async fn two_workers_on_two_connections_make_each_claim_once() {
    let b = Billing::start().await;
    let mut visits = Vec::new();
    for _ in 0..6 {
        let patient = b.patient(demo_insurance()).await;
        visits.push(b.consult(&patient, &close_body()).await);
    }
    // A second node: its own pool on the same database.
    let url = b.app.db.as_ref().unwrap().url.clone();
    let other = Store::connect(&b.config.database_url, 4).await.unwrap();
    assert_eq!(b.config.database_url.as_str(), url);
    let (first, second) = tokio::join!(
        worker::drain(&b.app.store, &b.app.clock, &b.config.billing),
        worker::drain(&other, &b.app.clock, &b.config.billing)
    );
    assert_eq!(first.unwrap() + second.unwrap(), visits.len());
    for visit in &visits {
        assert_eq!(b.claims_of(visit).await.len(), 1);
    }
    assert_eq!(b.claims_in_store().await, visits.len() as i64);
    let numbers = count(&b.app.store, "SELECT COUNT(DISTINCT number) FROM claims").await;
    assert_eq!(numbers, visits.len() as i64);
    other.close().await;
}

#[tokio::test]
async fn a_batch_audits_each_claim_on_one_unbroken_chain() {
    let b = Billing::start().await;
    let mut visits = Vec::new();
    for _ in 0..5 {
        let patient = b.patient(demo_insurance()).await;
        visits.push(b.consult(&patient, &close_body()).await);
    }
    // One batch takes every row: one transaction, one append to the chain.
    let handled = worker::run_batch(&b.app.store, &b.app.clock, &b.config.billing, 64)
        .await
        .unwrap();
    assert_eq!(handled, visits.len());
    for visit in &visits {
        assert_eq!(b.claims_of(visit).await.len(), 1);
    }
    bedside::audit::sealer::seal(&b.app.store).await.unwrap();
    let created = count(
        &b.app.store,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'claim.create'",
    )
    .await;
    assert_eq!(created, visits.len() as i64);
    let report = b
        .app
        .get_json("/api/v1/audit/verify", &b.clinic.admin)
        .await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(
        worker::run_batch(&b.app.store, &b.app.clock, &b.config.billing, 64)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_worker_killed_mid_way_leaves_its_row_to_the_next() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    let store = &b.app.store;

    let mut tx = store.begin().await.unwrap();
    let taken = worker::process_next(
        &mut tx,
        store.backend(),
        &b.config.billing,
        b.app.clock.now().millis(),
    )
    .await
    .unwrap();
    assert!(matches!(taken, Some((_, worker::Processed::Created(_)))));
    if store.backend() == bedside::store::Backend::Postgres {
        // While the first worker holds the row, another node passes it by.
        let other = Store::connect(&b.config.database_url, 2).await.unwrap();
        assert!(
            worker::run_once(&other, &b.app.clock, &b.config.billing)
                .await
                .unwrap()
                .is_none()
        );
        other.close().await;
    }
    drop(tx); // the worker dies before committing

    assert_eq!(b.claims_in_store().await, 0);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM billing_outbox WHERE processed_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(b.drain().await, 1);
    assert_eq!(b.claims_of(&visit).await.len(), 1);
    assert_eq!(b.drain().await, 0);
}

#[tokio::test]
async fn a_restart_between_close_and_claim_loses_nothing() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    let b = b.restart(billing_source).await;
    assert_eq!(b.drain().await, 1);
    assert_eq!(b.claim_of(&visit).await["status"], "ready");
}

#[tokio::test]
async fn every_837_passes_pyx12_and_a_batch_submits_every_ready_claim() {
    let b = Billing::start().await;
    let with_group = b.patient(demo_insurance()).await;
    let mut no_group = demo_insurance();
    no_group.as_object_mut().unwrap().remove("group_number");
    let no_group = b.patient(no_group).await;
    let tele = b.patient(insurance("TELE")).await;
    let visits = [
        b.consult(&with_group, &close_body()).await,
        b.consult(
            &no_group,
            &closing(
                42,
                json!({"audio_only": true, "patient_location": "other", "diagnoses": ["U07.1"]}),
            ),
        )
        .await,
        b.consult(
            &tele,
            &closing(33, json!({"diagnoses": ["T07.XXXA", "C4A.9", "J06.9"]})),
        )
        .await,
    ];
    b.drain().await;
    let mut controls = Vec::new();
    for visit in &visits {
        let claim = b.claim_of(visit).await;
        let response = b.x12(&claim).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = response.text().await.unwrap();
        assert_valid_837(&text);
        let clm = segment(&text, "CLM");
        assert!(
            clm[0].starts_with(&format!("CLM*{}*", claim["number"].as_str().unwrap())),
            "{clm:?}"
        );
        let npi = segment(&text, "NM1")
            .into_iter()
            .find(|s| s.starts_with("NM1*85"))
            .unwrap();
        assert!(npi.ends_with("*XX*1234567893"));
        assert_eq!(
            segment(&text, "N4")[0],
            "N4*SPRINGFIELD*IL*627011234",
            "nine-digit ZIP"
        );
        controls.push(segment(&text, "IEA")[0].to_owned());
    }
    controls.sort();
    controls.dedup();
    assert_eq!(controls.len(), 3, "control numbers never repeat");

    let batch = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let text = batch.text().await.unwrap();
    assert_valid_837(&text);
    assert_eq!(segment(&text, "ST").len(), 3);
    assert_eq!(segment(&text, "GE")[0].split('*').nth(1), Some("3"));
    assert!(!controls.contains(&segment(&text, "IEA")[0].to_owned()));
    for visit in &visits {
        assert_eq!(b.claim_of(visit).await["status"], "submitted");
    }
    let empty = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    assert_eq!(empty.status(), StatusCode::NO_CONTENT);
    let admin = b
        .app
        .post("/api/v1/claims/batch", Some(&b.clinic.admin), &json!({}))
        .await;
    assert_problem(admin, StatusCode::FORBIDDEN).await;
}

/// An 835 paying one claim of $75 with status `status`, BPR02 equal to the payment.
fn remittance(trace: &str, number: &str, status: &str, paid: &str, cas: &[&str]) -> String {
    claim_835(trace, paid, number, status, "75", paid, cas)
}

/// CLP05 as the 835 requires it: the sum of the `PR` adjustments.
fn patient_share(cas: &[&str]) -> String {
    let cents: i64 = cas
        .iter()
        .filter_map(|c| c.strip_prefix("CAS*PR*"))
        .filter_map(|rest| rest.split('*').nth(1))
        .map(|amount| (amount.parse::<f64>().unwrap() * 100.0).round() as i64)
        .sum();
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A processed (CLP02 `1`) 835 of one claim: BPR02, then CLP03 charge and CLP04 paid.
fn one_claim_835(
    trace: &str,
    bpr: &str,
    number: &str,
    charge: &str,
    paid: &str,
    cas: &[&str],
) -> String {
    claim_835(trace, bpr, number, "1", charge, paid, cas)
}

/// An 835 of one claim, written out, with CLP05 the sum of its `PR` adjustments.
fn claim_835(
    trace: &str,
    bpr: &str,
    number: &str,
    status: &str,
    charge: &str,
    paid: &str,
    cas: &[&str],
) -> String {
    let mut segments = vec![
        "ISA*00*          *00*          *ZZ*DEMOPAYER      *ZZ*BEDSIDEDEMO    *250310*1200*^*00501*000000007*0*T*:".to_owned(),
        "GS*HP*DEMOPAYER*BEDSIDEDEMO*20250310*1200*7*X*005010X221A1".to_owned(),
        "ST*835*0001".to_owned(),
        format!("BPR*I*{bpr}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20250310"),
        format!("TRN*1*{trace}*1512345678"),
        "N1*PR*DEMO HEALTH PLAN".to_owned(),
        "LX*1".to_owned(),
        format!("CLP*{number}*{status}*{charge}*{paid}*{}*12*PAYERREF1", patient_share(cas)),
    ];
    segments.extend(cas.iter().map(|c| (*c).to_owned()));
    segments.push(format!("SE*{}*0001", segments.len() - 1));
    segments.push("GE*1*7".to_owned());
    segments.push("IEA*1*000000007".to_owned());
    segments.iter().map(|s| format!("{s}~\n")).collect()
}

async fn post_835(b: &Billing, text: String) -> reqwest::Response {
    b.app
        .client
        .post(b.app.url("/api/v1/remittances"))
        .bearer_auth(&b.biller)
        .header("content-type", "text/plain")
        .body(text)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_835_posts_payments_and_adjustments_and_the_account_balances() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let paid_visit = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    let denied = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let batch = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let paid = b.claim_of(&paid_visit).await;
    let denied = b.claim_of(&denied).await;
    assert_eq!(paid["total_cents"], 7_500);

    let text = remittance(
        "EFT1001",
        paid["number"].as_str().unwrap(),
        "1",
        "60",
        &["CAS*CO*45*10", "CAS*PR*2*5"],
    );
    let response = post_835(&b, text.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["posted"][0]["claim_id"], paid["id"]);
    assert_eq!(result["posted"][0]["paid_cents"], 6_000);
    assert_eq!(result["posted"][0]["adjustment_cents"], 1_000);
    assert_eq!(result["posted"][0]["patient_responsibility_cents"], 500);
    assert_problem(post_835(&b, text).await, StatusCode::CONFLICT).await;
    let text = remittance(
        "EFT1002",
        denied["number"].as_str().unwrap(),
        "4",
        "0",
        &["CAS*CO*50*75"],
    );
    assert_eq!(post_835(&b, text).await.status(), StatusCode::CREATED);
    let bad = post_835(&b, "ST*837*0001~".to_owned()).await;
    assert_eq!(
        assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "body"
    );

    let paid = b.claim_of(&paid_visit).await;
    assert_eq!(
        (paid["status"].clone(), paid["paid_cents"].clone()),
        (json!("paid"), json!(6_000))
    );
    let denied_now = b
        .app
        .get_json(
            &format!("/api/v1/claims/{}", denied["id"].as_str().unwrap()),
            &b.biller,
        )
        .await;
    assert_eq!(denied_now["status"], "denied");

    let account_path = format!("/api/v1/patients/{patient_id}/account");
    let account = b.app.get_json(&account_path, &b.biller).await;
    assert_eq!(account["charges_cents"], 15_000);
    assert_eq!(account["insurer_payments_cents"], 6_000);
    assert_eq!(account["adjustments_cents"], 8_500);
    assert_eq!(account["balance_cents"], 500, "the patient's share is left");

    let pay = b
        .app
        .post(
            &format!("{account_path}/payments"),
            Some(&b.biller),
            &json!({"amount_cents": 500, "note": "card", "claim_id": paid["id"]}),
        )
        .await;
    assert_eq!(pay.status(), StatusCode::CREATED);
    let bad = b
        .app
        .post(
            &format!("{account_path}/payments"),
            Some(&b.biller),
            &json!({"amount_cents": 0}),
        )
        .await;
    assert_eq!(
        assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "amount_cents"
    );
    let account = b.app.get_json(&account_path, &b.clinic.admin).await;
    assert_eq!(account["patient_payments_cents"], 500);
    assert_eq!(account["balance_cents"], 0);
    assert_eq!(account["entries"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn an_835_that_overpays_misstates_the_charge_or_does_not_balance_posts_nothing() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let visit = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let batch = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["total_cents"], 7_500);
    let number = claim["number"].as_str().unwrap();
    let account_path = format!("/api/v1/patients/{patient_id}/account");
    let before = b.app.get_json(&account_path, &b.biller).await;

    // The probe's file: a $75 claim paid $999,999,999,999.99, BPR agreeing.
    let huge = "999999999999.99";
    let response = post_835(&b, one_claim_835("EFT2001", huge, number, "75", huge, &[])).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["posted"], json!([]));
    assert_eq!(result["held"][0]["claim_id"], claim["id"]);
    assert_eq!(
        result["held"][0]["reason"],
        "it pays $999,999,999,999.99 on a charge of $75.00"
    );

    // Balanced by its own numbers, but billed as $80 against our $75.
    let misstated = one_claim_835(
        "EFT2002",
        "60",
        number,
        "80",
        "60",
        &["CAS*CO*45*15", "CAS*PR*2*5"],
    );
    let result: Value = post_835(&b, misstated).await.json().await.unwrap();
    assert_eq!(
        result["held"][0]["reason"],
        "the payer's charge of $80.00 does not match the claim's $75.00"
    );

    // Adjustments that do not account for the difference.
    let loose = one_claim_835("EFT2003", "60", number, "75", "60", &["CAS*CO*45*5"]);
    let result: Value = post_835(&b, loose).await.json().await.unwrap();
    let reason = result["held"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("less its adjustments of $5.00 is $70.00, not the $60.00 paid"),
        "{reason}"
    );

    // A file whose BPR02 is not what its claims pay is refused whole.
    let unbalanced = one_claim_835("EFT2004", "70", number, "75", "60", &["CAS*CO*45*15"]);
    let problem = assert_problem(
        post_835(&b, unbalanced).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("BPR02 should be $60.00, not $70.00"),
        "{detail}"
    );

    let after = b.app.get_json(&account_path, &b.biller).await;
    assert_eq!(
        after["entries"], before["entries"],
        "nothing reached the account"
    );
    let now = b.claim_of(&visit).await;
    assert_eq!(
        (now["status"].clone(), now["paid_cents"].clone()),
        (json!("submitted"), json!(0))
    );

    let holds = b.app.get_list("/api/v1/remittances/holds", &b.biller).await;
    assert_eq!(holds.len(), 3, "{holds:?}");
    assert!(holds.iter().all(|h| h["claim_number"] == number));
    let clinician = b
        .app
        .get("/api/v1/remittances/holds", Some(&b.clinic.clinician))
        .await;
    assert_problem(clinician, StatusCode::FORBIDDEN).await;

    // The corrected file, under the trace the refused one used, posts.
    let fixed = one_claim_835(
        "EFT2004",
        "60",
        number,
        "75",
        "60",
        &["CAS*CO*45*10", "CAS*PR*2*5"],
    );
    let result: Value = post_835(&b, fixed).await.json().await.unwrap();
    assert_eq!(result["posted"][0]["paid_cents"], 6_000, "{result}");
    assert_eq!(b.claim_of(&visit).await["status"], "paid");
}

#[tokio::test]
async fn claim_status_moves_as_the_contract_allows() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    let path = format!("/api/v1/claims/{}/status", claim["id"].as_str().unwrap());
    let post = |body: Value| {
        let path = path.clone();
        let b = &b;
        async move { b.app.post(&path, Some(&b.biller), &body).await }
    };
    assert_problem(post(json!({"status": "paid"})).await, StatusCode::CONFLICT).await;
    assert_eq!(
        assert_problem(
            post(json!({"status": "ready"})).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await["field"],
        "status"
    );
    assert_eq!(
        assert_problem(
            post(json!({"status": "lost"})).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await["field"],
        "status"
    );
    assert_eq!(
        post(json!({"status": "submitted"})).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post(json!({"status": "rejected", "reason": "member id unknown"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post(json!({"status": "submitted"})).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post(json!({"status": "accepted"})).await.status(),
        StatusCode::OK
    );
    let over = assert_problem(
        post(json!({"status": "paid", "paid_cents": 100_000_000})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(over["field"], "paid_cents");
    assert!(
        over["detail"]
            .as_str()
            .unwrap()
            .contains("over its charge of"),
        "{over}"
    );
    let response = post(json!({"status": "paid", "paid_cents": 7_000})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(
        (paid["status"].clone(), paid["paid_cents"].clone()),
        (json!("paid"), json!(7_000))
    );
    assert_problem(
        post(json!({"status": "denied"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    let admin = b
        .app
        .post(&path, Some(&b.clinic.admin), &json!({"status": "denied"}))
        .await;
    assert_problem(admin, StatusCode::FORBIDDEN).await;
    let account = b
        .app
        .get_json(
            &format!(
                "/api/v1/patients/{}/account",
                patient["id"].as_str().unwrap()
            ),
            &b.biller,
        )
        .await;
    assert_eq!(account["insurer_payments_cents"], 7_000);
    assert_eq!(account["balance_cents"], 500);
}

/// What the webhook receiver saw: (delivery id, signature ok, body).
type Seen = Arc<Mutex<Vec<(String, bool, Value)>>>;

async fn receiver(fail_first: usize) -> (String, Seen) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = state.clone();
            async move {
                let expected = billing::webhook::signature(WEBHOOK_SECRET.as_bytes(), &body);
                let signed = headers
                    .get("x-bedside-signature")
                    .and_then(|v| v.to_str().ok())
                    == Some(expected.as_str());
                let delivery = headers
                    .get("x-bedside-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push((
                    delivery,
                    signed,
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                ));
                if seen.len() <= fail_first {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn each_new_claim_reaches_the_webhook_signed_retried_and_across_a_restart() {
    let (url, seen) = receiver(2).await;
    static HOOK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOOK.set(url).unwrap();
    fn with_hook(source: Source) -> Source {
        billing_source(source)
            .set("BEDSIDE_BILLING_WEBHOOK_URL", HOOK.get().unwrap().as_str())
            .set("BEDSIDE_BILLING_WEBHOOK_SECRET", WEBHOOK_SECRET)
    }
    let b = Billing::start_with(with_hook).await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.consult(&patient, &close_body()).await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    let client = reqwest::Client::new();
    let now = b.app.clock.now().millis();
    let deliver = |b: &Billing, at: i64| {
        let client = client.clone();
        let store = b.app.store.clone();
        let clock = b.app.clock.clone();
        let config = b.config.clone();
        async move {
            billing::webhook::deliver_due(&store, &clock, &config.billing, &client, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        deliver(&b, now).await,
        0,
        "the receiver fails the first try"
    );
    assert_eq!(
        deliver(&b, now).await,
        0,
        "not due again before its backoff"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A restart keeps the delivery; the next due attempt fails, the one after lands.
    let b = b.restart(with_hook).await;
    let hour = 3_600_000;
    assert_eq!(deliver(&b, now + hour).await, 0);
    assert_eq!(deliver(&b, now + 3 * hour).await, 1);
    assert_eq!(
        deliver(&b, now + 9 * hour).await,
        0,
        "acknowledged: never sent again"
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|(_, signed, _)| *signed),
        "every attempt is signed"
    );
    assert!(
        seen.iter().all(|(id, _, _)| id == &seen[0].0),
        "one delivery id across retries"
    );
    assert_eq!(seen[2].2["event"], "claim.created");
    assert_eq!(seen[2].2["claim"]["id"], claim["id"]);
    assert_eq!(seen[2].2["claim"]["total_cents"], claim["total_cents"]);
}

#[tokio::test]
async fn claims_read_and_search_as_valid_fhir_r4() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let ready = b
        .consult(&patient, &closing(25, json!({"audio_only": true})))
        .await;
    let review = b.consult(&patient, &closing(3, json!({}))).await;
    b.drain().await;
    let ready_claim = b.claim_of(&ready).await;
    let review_claim = b.claim_of(&review).await;

    let claim = b
        .app
        .get_json(
            &format!("/fhir/Claim/{}", ready_claim["id"].as_str().unwrap()),
            &b.biller,
        )
        .await;
    assert_valid_fhir(&claim);
    assert_eq!(claim["resourceType"], "Claim");
    assert_eq!(claim["status"], "active");
    assert_eq!(
        claim["patient"]["reference"],
        format!("Patient/{patient_id}")
    );
    assert!(
        claim["provider"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/")
    );
    assert_eq!(
        claim["item"][0]["productOrService"]["coding"][0]["code"],
        ready_claim["lines"][0]["cpt"]
    );
    assert_eq!(claim["item"][0]["modifier"][0]["coding"][0]["code"], "93");
    assert_eq!(
        claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"],
        "10"
    );
    assert_eq!(claim["item"][0]["diagnosisSequence"], json!([1, 2]));
    assert_eq!(
        claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"][0]["code"],
        "R50.9"
    );
    let total = ready_claim["total_cents"].as_f64().unwrap() / 100.0;
    assert_eq!(claim["total"]["value"].as_f64(), Some(total));

    let draft = b
        .app
        .get_json(
            &format!("/fhir/Claim/{}", review_claim["id"].as_str().unwrap()),
            &b.clinic.admin,
        )
        .await;
    assert_valid_fhir(&draft);
    assert_eq!(draft["status"], "draft");
    assert!(draft.get("item").is_none());

    let by_patient = b
        .app
        .get_json(
            &format!("/fhir/Claim?patient=Patient/{patient_id}"),
            &b.biller,
        )
        .await;
    assert_valid_fhir(&by_patient);
    assert_eq!(by_patient["total"], 2);
    let by_encounter = b
        .app
        .get_json(
            &format!("/fhir/Claim?encounter={}", ready.encounter_id),
            &b.biller,
        )
        .await;
    assert_eq!(by_encounter["total"], 1);
    assert_eq!(
        by_encounter["entry"][0]["resource"]["id"],
        ready_claim["id"]
    );
    let drafts = b
        .app
        .get_json(
            &format!("/fhir/Claim?patient={patient_id}&status=draft"),
            &b.biller,
        )
        .await;
    assert_valid_fhir(&drafts);
    assert_eq!(drafts["total"], 1);
    assert_eq!(drafts["entry"][0]["resource"]["id"], review_claim["id"]);
    let bad = b.app.get("/fhir/Claim?status=paid", Some(&b.biller)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Claims are billing's: a clinician's token is refused with an OperationOutcome.
    let refused = b
        .app
        .get(
            &format!("/fhir/Claim/{}", ready_claim["id"].as_str().unwrap()),
            Some(&b.clinic.clinician),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let outcome: Value = refused.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let metadata = b.app.get_json("/fhir/metadata", &b.biller).await;
    let kinds: Vec<&str> = metadata["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert!(kinds.contains(&"Claim"), "{kinds:?}");
}

#[tokio::test]
async fn a_claim_search_by_status_returns_only_the_matching_claims_among_many() {
    let b = Billing::start().await;
    let ada = b.patient(demo_insurance()).await;
    let grace = b.patient(insurance("MEDICARE")).await;
    // Interleaved: a claim ready to bill (FHIR `active`), then one waiting
    // for review (FHIR `draft`), across two patients.
    let mut active = Vec::new();
    let mut draft = Vec::new();
    for round in 0..4 {
        let patient = if round % 2 == 0 { &ada } else { &grace };
        active.push(b.consult(patient, &closing(25, json!({}))).await);
        draft.push(b.consult(patient, &closing(3, json!({}))).await);
    }
    b.drain().await;
    let mut active_ids = Vec::new();
    for visit in &active {
        active_ids.push(b.claim_of(visit).await["id"].clone());
    }
    let mut draft_ids = Vec::new();
    for visit in &draft {
        draft_ids.push(b.claim_of(visit).await["id"].clone());
    }
    let ids = |bundle: &Value| -> Vec<Value> {
        bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| e["resource"]["id"].clone())
                    .collect()
            })
            .unwrap_or_default()
    };

    let drafts = b.app.get_json("/fhir/Claim?status=draft", &b.biller).await;
    assert_valid_fhir(&drafts);
    assert_eq!(drafts["total"], 4);
    assert_eq!(ids(&drafts), draft_ids, "the drafts, oldest first");
    for entry in drafts["entry"].as_array().unwrap() {
        assert_eq!(entry["resource"]["status"], "draft");
        assert!(
            entry["resource"]["provider"]["reference"]
                .as_str()
                .unwrap()
                .starts_with("Practitioner/"),
            "each claim names its consult's practitioner"
        );
    }
    let actives = b.app.get_json("/fhir/Claim?status=active", &b.biller).await;
    assert_eq!(ids(&actives), active_ids);
    let both = b
        .app
        .get_json("/fhir/Claim?status=draft,active", &b.biller)
        .await;
    assert_eq!(both["total"], 8);
    let grace_drafts = b
        .app
        .get_json(
            &format!(
                "/fhir/Claim?patient={}&status=http://hl7.org/fhir/fm-status|draft",
                grace["id"].as_str().unwrap()
            ),
            &b.biller,
        )
        .await;
    assert_eq!(
        ids(&grace_drafts),
        [draft_ids[1].clone(), draft_ids[3].clone()]
    );
    for nothing in [
        "/fhir/Claim?status=cancelled",
        "/fhir/Claim?status=entered-in-error",
        "/fhir/Claim?status=urn:other|draft",
    ] {
        let none = b.app.get_json(nothing, &b.biller).await;
        assert_valid_fhir(&none);
        assert_eq!(none["total"], 0, "{nothing}");
    }
}

#[tokio::test]
async fn before_closing_the_clinician_sees_what_billing_will_do_with_the_minutes() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let visit = b.in_consult(&patient).await;
    let path = format!("/api/v1/visits/{}/close/preview", visit.id);
    let preview = |body: Value| {
        let (app, token, path) = (&b.app, b.clinic.clinician.clone(), path.clone());
        async move { app.post(&path, Some(&token), &body).await }
    };

    // A 3-minute consult is below the shortest billable time: said in a sentence.
    let short: Value = preview(json!({"diagnoses": ["J06.9"], "total_minutes": 3}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(short["status"], "needs_review");
    assert_eq!(short["codes"], json!([]));
    let reason = short["review_reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "15 minutes is the shortest billable time for this visit; it was 3 minutes."
        ),
        "{reason}"
    );

    // Corrected to 22 minutes it codes, as the claim will.
    let corrected: Value = preview(json!({"diagnoses": ["J06.9"], "total_minutes": 22}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(corrected["status"], "ready", "{corrected}");
    assert_eq!(corrected["codes"], json!(["99202-95"]));
    assert!(corrected["review_reason"].is_null());

    // Only the admitting clinician asks, and nothing changed: the close still works.
    let other = b
        .app
        .post(
            &path,
            Some(&b.clinic.other_clinician),
            &json!({"diagnoses": ["J06.9"]}),
        )
        .await;
    assert_problem(other, StatusCode::FORBIDDEN).await;
    let mut body = close_body();
    body["total_minutes"] = json!(22);
    body["diagnoses"] = json!(["J06.9"]);
    let closed = b.app.close(&visit, &b.clinic.clinician, &body).await;
    assert_eq!(closed.status(), StatusCode::OK);
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    assert_eq!(claim["status"], "ready");
    assert_eq!(claim["lines"][0]["cpt"], "99202");
    assert_problem(
        preview(json!({"diagnoses": ["J06.9"]})).await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn staff_find_icd10cm_codes_by_code_or_words_billable_first() {
    let app = spawn_app().await;
    let clinician = app.staff_token("dr.grey", "clinician").await;
    let found = app
        .get_list(
            "/api/v1/codes/icd10cm?q=upper%20respiratory%20acute",
            &clinician,
        )
        .await;
    assert!(
        found
            .iter()
            .any(|c| c["code"] == "J06.9" && c["billable"] == true),
        "{found:?}"
    );
    let by_code = app
        .get_list("/api/v1/codes/icd10cm?q=J06&limit=3", &clinician)
        .await;
    assert_eq!(by_code.len(), 3);
    assert_eq!(by_code[0]["code"], "J06.0");
    let empty = app
        .get("/api/v1/codes/icd10cm?q=%20", Some(&clinician))
        .await;
    assert_eq!(
        assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "q"
    );
    let anonymous = app.get("/api/v1/codes/icd10cm?q=J06", None).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}

mod acknowledgements;
mod claim_status;
mod clearinghouse;
mod console;
mod eligibility;
