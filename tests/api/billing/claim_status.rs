//! Claim status after submission: the 276 passes the stand-in's checks and
//! linuxforhealth-x12, and each recorded 277 moves the claim as its status
//! category says, in the claim's history; a claim the 277 finalized as
//! paid still takes its 835's money.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::clearinghouse::{StandIn, assert_lfh_parses};
use super::{Billing, closing, demo_insurance, post_835, remittance};
use crate::helpers::{assert_json, assert_problem};

impl Billing {
    /// A closed consult's claim, sent in a batch: `submitted`.
    async fn submitted_claim(&self, patient: &Value) -> Value {
        let visit = self
            .consult(patient, &closing(18, json!({"new_patient": true})))
            .await;
        self.drain().await;
        let response = self
            .app
            .post("/api/v1/claims/batch", Some(&self.biller), &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let claim = self.claim_of(&visit).await;
        assert_eq!(claim["status"], "submitted");
        claim
    }

    async fn inquire(&self, claim: &Value) -> reqwest::Response {
        let path = format!(
            "/api/v1/claims/{}/status-inquiry",
            claim["id"].as_str().unwrap()
        );
        self.post_empty(&path, &self.biller).await
    }

    async fn history(&self, claim: &Value) -> Vec<Value> {
        let path = format!("/api/v1/claims/{}/detail", claim["id"].as_str().unwrap());
        self.app.get_json(&path, &self.biller).await["history"]
            .as_array()
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn a_status_inquiry_sends_a_valid_276_and_each_277_moves_the_claim_as_its_category_says() {
    let stand_in = StandIn::start("basic").await;
    let b = Billing::with_clearinghouse(&stand_in, "basic").await;
    let patient = b.patient(demo_insurance()).await;
    let claim = b.submitted_claim(&patient).await;

    // A1: received, not accepted: noted, nothing moves.
    stand_in.answer_with("277-received.x12");
    let answer: Value = assert_json(b.inquire(&claim).await, StatusCode::OK).await;
    assert_eq!(answer["category"], "A1");
    assert_eq!(answer["moved"], false);
    assert_eq!(answer["claim"]["status"], "submitted");
    assert_eq!(
        answer["description"],
        "277 A1:19: received by the payer, not yet accepted (the entity acknowledges receipt)"
    );
    let sent = &stand_in.taken()[0];
    assert_eq!(sent.transaction, "276");
    assert_eq!(assert_lfh_parses(&sent.body), ["276"]);
    let number = claim["number"].as_str().unwrap();
    assert!(
        sent.body.contains(&format!("REF*EJ*{number}~")),
        "{}",
        sent.body
    );
    assert!(sent.body.contains("AMT*T3*75~"), "{}", sent.body);
    assert!(
        sent.body.contains("NM1*IL*1*LOVELACE*ADA****MI*M123~"),
        "{}",
        sent.body
    );

    // A2 accepts; P1 pends; F1 pays, with the payer's claim number kept.
    stand_in.answer_with("277-accepted.x12");
    let answer: Value = assert_json(b.inquire(&claim).await, StatusCode::OK).await;
    assert_eq!(
        (answer["moved"].clone(), answer["claim"]["status"].clone()),
        (json!(true), json!("accepted"))
    );
    stand_in.answer_with("277-pending.x12");
    let answer: Value = assert_json(b.inquire(&claim).await, StatusCode::OK).await;
    assert_eq!(
        (answer["moved"].clone(), answer["claim"]["status"].clone()),
        (json!(false), json!("accepted"))
    );
    stand_in.answer_with("277-paid.x12");
    let answer: Value = assert_json(b.inquire(&claim).await, StatusCode::OK).await;
    assert_eq!(answer["claim"]["status"], "paid");
    assert_eq!(
        answer["claim"]["paid_cents"], 0,
        "the money comes from the 835"
    );
    assert_eq!(answer["claim"]["payer_claim_number"], "PAYERICN0001");

    let history = b.history(&claim).await;
    let steps: Vec<(&str, &str)> = history
        .iter()
        .map(|e| {
            (
                e["to_status"].as_str().unwrap(),
                e["note"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let tail = &steps[steps.len() - 4..];
    assert_eq!(tail[0].0, "submitted");
    assert!(tail[0].1.starts_with("277 A1:19"), "{steps:?}");
    assert_eq!(
        tail[1],
        (
            "accepted",
            "277 A2:20: accepted into the payer's adjudication system (accepted for processing)"
        )
    );
    assert_eq!(tail[2].0, "accepted");
    assert!(
        tail[2].1.starts_with("277 P1:42: pending, in process"),
        "{steps:?}"
    );
    assert_eq!(
        tail[3],
        (
            "paid",
            "277 F1:65: finalized with payment (claim or line has been paid)"
        )
    );

    // The 835 still posts the payment to the claim and the account.
    let response = post_835(&b, remittance("EFT277PAID", number, "1", "75", &[])).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let now = b
        .app
        .get_json(
            &format!("/api/v1/claims/{}", claim["id"].as_str().unwrap()),
            &b.biller,
        )
        .await;
    assert_eq!(
        (now["status"].clone(), now["paid_cents"].clone()),
        (json!("paid"), json!(7_500))
    );

    let actions = b.audit_actions(&patient).await;
    for action in ["claim.status_inquiry", "claim.status_answer"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn a_rejected_or_denied_claim_keeps_the_payers_reason_and_unsent_claims_are_not_asked_about()
{
    let stand_in = StandIn::start("bearer").await;
    let b = Billing::with_clearinghouse(&stand_in, "bearer").await;
    let patient = b.patient(demo_insurance()).await;

    let rejected = b.submitted_claim(&patient).await;
    stand_in.answer_with("277-rejected.x12");
    let answer: Value = assert_json(b.inquire(&rejected).await, StatusCode::OK).await;
    assert_eq!(answer["claim"]["status"], "rejected");
    assert_eq!(
        answer["claim"]["status_reason"],
        "277 A7:21: rejected for invalid information (missing or invalid information)"
    );

    let denied = b.submitted_claim(&patient).await;
    stand_in.answer_with("277-denied.x12");
    let answer: Value = assert_json(b.inquire(&denied).await, StatusCode::OK).await;
    assert_eq!(answer["claim"]["status"], "denied");
    assert_eq!(
        answer["claim"]["status_reason"],
        "277 F2:88: finalized and denied (status code 88)"
    );

    // A claim never sent has no status to ask about.
    let visit = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let ready = b.claim_of(&visit).await;
    assert_eq!(ready["status"], "ready");
    let problem = assert_problem(b.inquire(&ready).await, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .ends_with("has not been submitted yet"),
        "{problem}"
    );

    // A clearinghouse answer that is not X12 is a bad gateway; nothing moves.
    stand_in.fail_with(200);
    let problem = assert_problem(b.inquire(&rejected).await, StatusCode::BAD_GATEWAY).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("the clearinghouse's answer could not be read"),
        "{problem}"
    );
    let path = format!(
        "/api/v1/claims/{}/status-inquiry",
        rejected["id"].as_str().unwrap()
    );
    assert_problem(
        b.post_empty(&path, &b.clinic.scheduler).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(stand_in.taken().len(), 3);
}
