//! The billing console's API: the work queue's filters, counts and pages;
//! a claim's history and its fix with new diagnoses; 837P batches kept and
//! sent again; corrected (7) and void (8) claims through pyx12; the aging
//! report as the clock moves.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Billing, assert_valid_837, closing, count, insurance, post_835, remittance, segment};
use crate::helpers::assert_problem;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn named(given: &str, family: &str, payer: Value) -> Value {
    let mut body = crate::helpers::ada();
    body["given_name"] = json!(given);
    body["family_name"] = json!(family);
    body["insurance"] = payer;
    body
}

impl Billing {
    /// Moves the clock on by `days`; staff sign in again, as their
    /// sessions do not last that long.
    async fn days_pass(&mut self, days: u32) {
        self.app.clock.advance(days * DAY);
        let password = crate::helpers::STAFF_PASSWORD;
        self.clinic.scheduler = self.app.token("sched", password).await;
        self.clinic.clinician = self.app.token("dr.grey", password).await;
        self.biller = self.app.token("biller", password).await;
    }

    async fn queue(&self, query: &str) -> (Vec<Value>, i64) {
        let response = self
            .app
            .get(&format!("/api/v1/claims?{query}"), Some(&self.biller))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let total = response.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (response.json::<Vec<Value>>().await.unwrap(), total)
    }

    async fn numbers(&self, query: &str) -> Vec<String> {
        let (claims, _) = self.queue(query).await;
        claims
            .iter()
            .map(|c| c["number"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn counts(&self, query: &str) -> Value {
        let counts = self
            .app
            .get_json(&format!("/api/v1/claims/counts?{query}"), &self.biller)
            .await;
        let mut by_status = serde_json::Map::new();
        for c in counts.as_array().unwrap() {
            by_status.insert(c["status"].as_str().unwrap().to_owned(), c["count"].clone());
        }
        Value::Object(by_status)
    }

    async fn detail(&self, claim: &Value) -> Value {
        let path = format!("/api/v1/claims/{}/detail", claim["id"].as_str().unwrap());
        self.app.get_json(&path, &self.biller).await
    }

    async fn batch(&self) -> (String, String, i64) {
        let response = self
            .app
            .post("/api/v1/claims/batch", Some(&self.biller), &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["x-batch-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let n = response.headers()["x-claim-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (id, response.text().await.unwrap(), n)
    }

    async fn aging(&self) -> Value {
        self.app
            .get_json("/api/v1/reports/aging", &self.biller)
            .await
    }
}

#[tokio::test]
async fn the_work_queue_filters_by_status_payer_dates_and_name_counts_and_pages() {
    let mut b = Billing::start().await;
    let ada = b
        .app
        .create_patient(
            &b.clinic.scheduler,
            &named("Ada", "Lovelace", super::demo_insurance()),
        )
        .await;
    let alan = b
        .app
        .create_patient(
            &b.clinic.scheduler,
            &named("Alan", "Turing", insurance("TELE")),
        )
        .await;
    let first = b
        .consult(&ada, &closing(18, json!({"new_patient": true})))
        .await;
    b.days_pass(10).await;
    let short = b
        .consult(&alan, &closing(5, json!({"new_patient": false})))
        .await;
    let third = b
        .consult(&alan, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let [first, short, third] = [
        b.claim_of(&first).await,
        b.claim_of(&short).await,
        b.claim_of(&third).await,
    ];
    let number = |c: &Value| c["number"].as_str().unwrap().to_owned();
    assert_eq!(short["status"], "needs_review");

    assert_eq!(b.numbers("status=needs_review").await, [number(&short)]);
    assert_eq!(
        b.numbers("payer_id=TELE").await,
        [number(&short), number(&third)]
    );
    assert_eq!(b.numbers("payer_id=DEMOPAYER").await, [number(&first)]);
    assert_eq!(
        b.numbers("patient=turing").await,
        [number(&short), number(&third)]
    );
    assert_eq!(b.numbers("patient=Ada%20Love").await, [number(&first)]);
    assert_eq!(b.numbers("patient=nobody").await, Vec::<String>::new());
    let first_day = first["service_date"].as_str().unwrap();
    let later_day = third["service_date"].as_str().unwrap();
    assert_ne!(first_day, later_day);
    assert_eq!(
        b.numbers(&format!("to={first_day}")).await,
        [number(&first)]
    );
    assert_eq!(
        b.numbers(&format!("from={later_day}&to={later_day}&status=ready"))
            .await,
        [number(&third)]
    );
    let (claims, _) = b.queue("patient=alan").await;
    assert_eq!(claims[0]["patient_name"], "Alan Turing");

    // Pages: one at a time, the total told in a header.
    let (page, total) = b.queue("limit=1&offset=1").await;
    assert_eq!(total, 3);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["number"], number(&short));

    // Counts: every status, under the same filters; status itself is ignored.
    let all = b.counts("").await;
    assert_eq!(all["ready"], 2);
    assert_eq!(all["needs_review"], 1);
    assert_eq!(all["paid"], 0);
    assert_eq!(all.as_object().unwrap().len(), 7);
    let tele = b.counts("payer_id=TELE&status=paid").await;
    assert_eq!(
        (tele["ready"].clone(), tele["needs_review"].clone()),
        (json!(1), json!(1))
    );

    // Bad filters are plain-words problems naming the field.
    for (query, field) in [
        ("status=lost", "status"),
        ("from=2026-13-01", "from"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
    ] {
        let response = b
            .app
            .get(&format!("/api/v1/claims?{query}"), Some(&b.biller))
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field, "{query}");
    }
    let response = b
        .app
        .get("/api/v1/claims/counts?to=31-03-2026", Some(&b.biller))
        .await;
    assert_eq!(
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "to"
    );
    let clinician = b
        .app
        .get("/api/v1/claims/counts", Some(&b.clinic.clinician))
        .await;
    assert_problem(clinician, StatusCode::FORBIDDEN).await;

    // Each claim listed is a read on the audit trail, as GET /claims/{id} is.
    bedside::audit::sealer::seal(&b.app.store).await.unwrap();
    let reads = count(
        &b.app.store,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'claim.read'",
    )
    .await;
    assert!(reads >= 14, "{reads} claim reads audited");
}

#[tokio::test]
async fn a_claims_page_tells_its_diagnoses_and_history_and_a_fix_may_change_diagnoses() {
    let b = Billing::start().await;
    let patient = b.patient(super::demo_insurance()).await;
    let visit = b
        .consult(&patient, &closing(5, json!({"new_patient": false})))
        .await;
    b.drain().await;
    let claim = b.claim_of(&visit).await;
    let detail = b.detail(&claim).await;
    assert_eq!(detail["patient_name"], "Ada Lovelace");
    assert_eq!(detail["diagnoses"][0]["code"], "J06.9");
    assert_eq!(
        detail["diagnoses"][0]["description"],
        "Acute upper respiratory infection, unspecified"
    );
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from_status"], Value::Null);
    assert_eq!(history[0]["to_status"], "needs_review");
    assert_eq!(history[0]["actor_id"], Value::Null);

    let release = format!("/api/v1/claims/{}/release", claim["id"].as_str().unwrap());
    let line = json!([{"cpt": "99212", "modifiers": ["95"], "diagnosis_pointers": [1, 2]}]);
    for (diagnoses, field) in [
        (json!(["J06"]), "diagnoses[0]"),
        (json!(["R05.9", "Z99.999"]), "diagnoses[1]"),
        (json!([]), "diagnoses"),
    ] {
        let response = b
            .app
            .post(
                &release,
                Some(&b.biller),
                &json!({"diagnoses": diagnoses, "lines": line}),
            )
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field, "{diagnoses}");
    }
    let response = b
        .app
        .post(
            &release,
            Some(&b.biller),
            &json!({"diagnoses": ["R05.9", "J06.9"], "lines": line}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let detail = b.detail(&claim).await;
    assert_eq!(detail["claim"]["status"], "ready");
    assert_eq!(detail["diagnoses"][0]["code"], "R05.9");
    assert_eq!(detail["diagnoses"][0]["description"], "Cough, unspecified");
    let step = &detail["history"][1];
    assert_eq!(
        (step["from_status"].clone(), step["to_status"].clone()),
        (json!("needs_review"), json!("ready"))
    );
    assert_eq!(step["actor_name"], "biller");
    assert!(step["actor_id"].is_string());
    assert_valid_837(&b.x12(&detail["claim"]).await.text().await.unwrap());

    // Recording a denial with a reason shows in the history.
    b.batch().await;
    let status = format!("/api/v1/claims/{}/status", claim["id"].as_str().unwrap());
    let response = b
        .app
        .post(
            &status,
            Some(&b.biller),
            &json!({"status": "denied", "reason": "CO-16 missing information"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = b.detail(&claim).await["history"].clone();
    let steps: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["to_status"].as_str().unwrap(),
                e["note"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(steps[2].0, "submitted");
    assert!(steps[2].1.starts_with("batch "), "{steps:?}");
    assert_eq!(steps[3], ("denied", "CO-16 missing information"));
    let missing = b
        .app
        .get(
            &format!("/api/v1/claims/{}/detail", uuid::Uuid::now_v7()),
            Some(&b.biller),
        )
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn batches_are_kept_listed_and_downloaded_again_as_sent() {
    let b = Billing::start().await;
    let patient = b.patient(super::demo_insurance()).await;
    b.consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let listed = b.app.get_json("/api/v1/claims/batches", &b.biller).await;
    assert_eq!(listed, json!([]));
    let (id, text, n) = b.batch().await;
    assert_eq!(n, 2);
    let listed = b.app.get_json("/api/v1/claims/batches", &b.biller).await;
    let batches = listed.as_array().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0]["id"], id);
    assert_eq!(batches[0]["claim_count"], 2);
    let control = segment(&text, "GS")[0]
        .split('*')
        .nth(6)
        .unwrap()
        .to_owned();
    assert_eq!(batches[0]["control_number"].to_string(), control);
    let again = b
        .app
        .get(&format!("/api/v1/claims/batches/{id}/x12"), Some(&b.biller))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.text().await.unwrap(), text);
    for path in [
        format!("/api/v1/claims/batches/{}/x12", uuid::Uuid::now_v7()),
        "/api/v1/claims/batches/nope/x12".to_owned(),
    ] {
        assert_problem(
            b.app.get(&path, Some(&b.biller)).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn a_paid_or_denied_claim_is_corrected_with_7_or_voided_with_8_naming_the_payers_claim() {
    let b = Billing::start().await;
    let patient = b.patient(super::demo_insurance()).await;
    let corrected = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    let voided = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let corrected = b.claim_of(&corrected).await;
    let voided = b.claim_of(&voided).await;
    let path = |claim: &Value, action: &str| {
        format!("/api/v1/claims/{}/{action}", claim["id"].as_str().unwrap())
    };

    // A field the API does not know is refused, not ignored.
    let unknown = b
        .app
        .post(
            &path(&corrected, "correct"),
            Some(&b.biller),
            &json!({"frequency": "7"}),
        )
        .await;
    assert!(unknown.status().is_client_error(), "{}", unknown.status());
    assert_ne!(unknown.status(), StatusCode::CONFLICT);
    // Not before the payer has answered.
    let early = b
        .app
        .post(&path(&corrected, "correct"), Some(&b.biller), &json!({}))
        .await;
    assert_problem(early, StatusCode::CONFLICT).await;
    b.batch().await;
    for (trace, claim, status, paid, cas) in [
        (
            "EFT7",
            &corrected,
            "1",
            "60",
            vec!["CAS*CO*45*10", "CAS*PR*2*5"],
        ),
        ("EFT8", &voided, "4", "0", vec!["CAS*CO*50*75"]),
    ] {
        let text = remittance(trace, claim["number"].as_str().unwrap(), status, paid, &cas);
        let response = post_835(&b, text).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let result: Value = response.json().await.unwrap();
        assert_eq!(result["posted"].as_array().unwrap().len(), 1, "{result}");
    }
    let paid = b
        .app
        .get_json(path(&corrected, "").trim_end_matches('/'), &b.biller)
        .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payer_claim_number"], "PAYERREF1");

    // A bad fix is refused and changes nothing.
    let bad = b
        .app
        .post(
            &path(&corrected, "correct"),
            Some(&b.biller),
            &json!({"lines": [{"cpt": "99499"}]}),
        )
        .await;
    assert_eq!(
        assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["field"],
        "lines[0].cpt"
    );

    // Nor one whose charge ($55) would fall below what the payer paid ($60).
    let below = b
        .app
        .post(
            &path(&corrected, "correct"),
            Some(&b.biller),
            &json!({"lines": [{"cpt": "98012"}]}),
        )
        .await;
    let problem = assert_problem(below, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("already paid"),
        "{problem}"
    );

    let response = b
        .app
        .post(
            &path(&corrected, "correct"),
            Some(&b.biller),
            &json!({"lines": [{"cpt": "99204", "modifiers": ["95"]}], "reason": "level of service"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replacement: Value = response.json().await.unwrap();
    assert_eq!(replacement["status"], "ready");
    assert_eq!(replacement["frequency"], "replacement");
    let response = b
        .app
        .post(
            &path(&voided, "void"),
            Some(&b.biller),
            &json!({"reason": "billed in error"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["frequency"], "void");
    let twice = b
        .app
        .post(&path(&voided, "void"), Some(&b.biller), &json!({}))
        .await;
    assert_problem(twice, StatusCode::CONFLICT).await;

    let (_, text, n) = b.batch().await;
    assert_eq!(n, 2);
    assert_valid_837(&text);
    let clm = segment(&text, "CLM");
    let refs = segment(&text, "REF");
    // CLM01 stays the original's; CLM05-3 says 7 or 8; REF*F8 names CLP07.
    assert!(
        clm[0].starts_with(&format!("CLM*{}*", corrected["number"].as_str().unwrap())),
        "{clm:?}"
    );
    assert!(clm[0].contains("*10:B:7*"), "{clm:?}");
    assert!(
        clm[1].starts_with(&format!("CLM*{}*", voided["number"].as_str().unwrap())),
        "{clm:?}"
    );
    assert!(clm[1].contains("*10:B:8*"), "{clm:?}");
    assert_eq!(
        refs.iter().filter(|r| **r == "REF*F8*PAYERREF1").count(),
        2,
        "{refs:?}"
    );

    let history = b.detail(&corrected).await["history"].clone();
    let notes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["note"].as_str())
        .collect();
    assert!(notes.contains(&"level of service"), "{notes:?}");
}

#[tokio::test]
async fn aging_buckets_what_is_owed_by_payer_and_days_since_service() {
    let mut b = Billing::start().await;
    let ada = b.patient(super::demo_insurance()).await;
    let alan = b
        .app
        .create_patient(
            &b.clinic.scheduler,
            &named("Alan", "Turing", insurance("TELE")),
        )
        .await;
    b.consult(&ada, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    b.days_pass(40).await;
    let later = b
        .consult(&alan, &closing(18, json!({"new_patient": true})))
        .await;
    // Needs review: no charge yet, so nothing owed.
    b.consult(&alan, &closing(5, json!({"new_patient": false})))
        .await;
    b.drain().await;

    let report = b.aging().await;
    let row = |report: &Value, payer: &str| {
        report["payers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["payer_id"] == payer)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let buckets = |r: &Value| {
        [
            "days_0_30",
            "days_31_60",
            "days_61_90",
            "days_over_90",
            "total",
        ]
        .map(|k| r[k].as_i64().unwrap())
    };
    assert_eq!(buckets(&row(&report, "DEMOPAYER")), [0, 7_500, 0, 0, 7_500]);
    assert_eq!(buckets(&row(&report, "TELE")), [7_500, 0, 0, 0, 7_500]);
    assert_eq!(buckets(&report["totals"]), [7_500, 7_500, 0, 0, 15_000]);

    b.days_pass(55).await;
    let report = b.aging().await;
    assert_eq!(buckets(&row(&report, "DEMOPAYER")), [0, 0, 0, 7_500, 7_500]);
    assert_eq!(buckets(&row(&report, "TELE")), [0, 7_500, 0, 0, 7_500]);

    // A payment on the claim lowers what is owed on it.
    let later = b.claim_of(&later).await;
    let response = b
        .app
        .post(
            &format!(
                "/api/v1/patients/{}/account/payments",
                alan["id"].as_str().unwrap()
            ),
            Some(&b.biller),
            &json!({"amount_cents": 2_500, "claim_id": later["id"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        buckets(&row(&b.aging().await, "TELE")),
        [0, 5_000, 0, 0, 5_000]
    );
    let clinician = b
        .app
        .get("/api/v1/reports/aging", Some(&b.clinic.clinician))
        .await;
    assert_problem(clinician, StatusCode::FORBIDDEN).await;
}
