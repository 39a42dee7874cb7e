//! Eligibility before a visit: the 270 Bedside sends passes the
//! clearinghouse stand-in's checks and linuxforhealth-x12, and the recorded
//! 271 comes back as a clear answer kept on the visit; refusals and
//! failures read in plain words.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Billing;
use super::clearinghouse::{StandIn, assert_lfh_parses};
use crate::helpers::{assert_json, assert_problem};

fn path(visit: &crate::app::Visit) -> String {
    format!("/api/v1/visits/{}/eligibility", visit.id)
}

fn named(given: &str, family: &str) -> Value {
    let mut body = crate::helpers::ada();
    body["given_name"] = json!(given);
    body["family_name"] = json!(family);
    body
}

#[tokio::test]
async fn an_eligibility_check_sends_a_valid_270_and_keeps_the_271s_answer_on_the_visit() {
    let stand_in = StandIn::start("basic").await;
    stand_in.answer_with("271-active.x12");
    let b = Billing::with_clearinghouse(&stand_in, "basic").await;
    let patient = b
        .app
        .create_patient(&b.clinic.scheduler, &named("José", "Núñez-O'Brien"))
        .await;
    let visit = b
        .app
        .book_visit(&b.clinic.scheduler, &patient, &b.clinic.queue_id, "Cough")
        .await;

    let answer: Value = assert_json(
        b.post_empty(&path(&visit), &b.clinic.scheduler).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["coverage"], "active");
    assert_eq!(answer["plan_name"], "GOLD PPO 500");
    assert_eq!(answer["payer_name"], "DEMO PAYER");
    // In network, individual, per visit: never the first line's figure.
    assert_eq!(answer["copay_cents"], 2_500);
    assert_eq!(answer["deductible_cents"], 50_000);
    assert_eq!(answer["deductible_remaining_cents"], 32_050);
    assert_eq!(answer["coinsurance_percent"], 20.0);
    assert_eq!(answer["benefits"].as_array().unwrap().len(), 11);
    assert_eq!(answer["problems"], json!([]));
    assert_eq!(answer["visit_id"], visit.id);

    // What reached the clearinghouse: a 270 in the basic character set
    // that the independent parser reads.
    let taken = stand_in.taken();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].transaction, "270");
    let sent = &taken[0].body;
    assert_eq!(assert_lfh_parses(sent), ["270"]);
    assert!(
        sent.contains("NM1*IL*1*NUNEZ-O'BRIEN*JOSE****MI*M123~"),
        "{sent}"
    );
    assert!(
        sent.contains("NM1*PR*2*DEMO HEALTH PLAN*****PI*DEMOPAYER~"),
        "{sent}"
    );
    assert!(
        sent.contains("NM1*1P*2*BEDSIDE DEMO CLINIC*****XX*1234567893~"),
        "{sent}"
    );
    assert!(
        sent.contains("DMG*D8*19851210~") && sent.contains("EQ*30~"),
        "{sent}"
    );

    // The last answer is kept on the visit for the scheduler and the biller.
    for token in [&b.clinic.scheduler, &b.biller, &b.clinic.admin] {
        let kept: Value = b.app.get_json(&path(&visit), token).await;
        assert_eq!(kept["id"], answer["id"]);
        assert_eq!(kept["copay_cents"], 2_500);
    }
    assert_problem(
        b.app.get(&path(&visit), Some(&b.clinic.clinician)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        b.post_empty(&path(&visit), &b.clinic.clinician).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        b.app.get(&path(&visit), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(stand_in.taken().len(), 1, "a refused caller sends nothing");

    let actions = b.audit_actions(&patient).await;
    for action in [
        "eligibility.request",
        "eligibility.check",
        "eligibility.read",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    assert!(
        actions.iter().any(|a| a == "access.denied"),
        "the clinician's refused read is audited: {actions:?}"
    );
}

#[tokio::test]
async fn refusals_and_inactive_coverage_read_in_plain_words_and_failures_lose_nothing() {
    let stand_in = StandIn::start("bearer").await;
    let b = Billing::with_clearinghouse(&stand_in, "bearer").await;
    let patient = b
        .app
        .create_patient(&b.clinic.scheduler, &crate::helpers::ada())
        .await;
    let visit = b
        .app
        .book_visit(&b.clinic.scheduler, &patient, &b.clinic.queue_id, "Cough")
        .await;

    stand_in.answer_with("271-provider-not-on-file.x12");
    let refused: Value =
        assert_json(b.post_empty(&path(&visit), &b.biller).await, StatusCode::OK).await;
    assert_eq!(refused["coverage"], "rejected");
    assert_eq!(
        refused["problems"],
        json!([
            "the provider: the provider is not on file with the payer (correct and send again)"
        ])
    );

    stand_in.answer_with("271-inactive.x12");
    let inactive: Value =
        assert_json(b.post_empty(&path(&visit), &b.biller).await, StatusCode::OK).await;
    assert_eq!(inactive["coverage"], "inactive");
    assert_eq!(inactive["copay_cents"], Value::Null);

    // A clearinghouse that fails answers 502 and keeps the last answer.
    stand_in.fail_with(503);
    let problem = assert_problem(
        b.post_empty(&path(&visit), &b.biller).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(problem["detail"], "the clearinghouse answered HTTP 503");
    let kept: Value = b.app.get_json(&path(&visit), &b.biller).await;
    assert_eq!(kept["id"], inactive["id"]);

    // A patient with no insurance is not asked about.
    let mut uninsured = crate::helpers::ada();
    uninsured.as_object_mut().unwrap().remove("insurance");
    let uninsured = b.app.create_patient(&b.clinic.scheduler, &uninsured).await;
    let other = b
        .app
        .book_visit(&b.clinic.scheduler, &uninsured, &b.clinic.queue_id, "Cough")
        .await;
    let problem = assert_problem(
        b.post_empty(&path(&other), &b.biller).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["detail"], "the patient has no insurance on file");
    assert_problem(
        b.app.get(&path(&other), Some(&b.biller)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(stand_in.taken().len(), 3);
}

#[tokio::test]
async fn wrong_credentials_or_no_clearinghouse_say_so() {
    let stand_in = StandIn::start("basic").await;
    stand_in.answer_with("271-active.x12");
    let b = Billing::with_clearinghouse(&stand_in, "wrong").await;
    let patient = b
        .app
        .create_patient(&b.clinic.scheduler, &crate::helpers::ada())
        .await;
    let visit = b
        .app
        .book_visit(&b.clinic.scheduler, &patient, &b.clinic.queue_id, "Cough")
        .await;
    let problem = assert_problem(
        b.post_empty(&path(&visit), &b.clinic.scheduler).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(problem["detail"], "the clearinghouse answered HTTP 401");
    assert!(stand_in.taken().is_empty());

    let plain = Billing::start().await;
    let patient = plain
        .app
        .create_patient(&plain.clinic.scheduler, &crate::helpers::ada())
        .await;
    let visit = plain
        .app
        .book_visit(
            &plain.clinic.scheduler,
            &patient,
            &plain.clinic.queue_id,
            "Cough",
        )
        .await;
    let problem = assert_problem(
        plain
            .post_empty(&path(&visit), &plain.clinic.scheduler)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        problem["detail"],
        "no clearinghouse is configured (BEDSIDE_CLEARINGHOUSE_URL)"
    );
}
