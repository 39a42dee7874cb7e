//! 999 acknowledgements: tied to the 837P batch whose GS06 their AK102
//! names, each transaction set's verdict moving its claim (accepted, or
//! rejected with the errors in words); the batch passes pyx12 and
//! linuxforhealth-x12 before it goes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::clearinghouse::{assert_lfh_parses, fixture};
use super::{Billing, assert_valid_837, closing, demo_insurance, segment};
use crate::helpers::{assert_json, assert_problem};

impl Billing {
    async fn post_999(&self, text: &str, token: &str) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/api/v1/acknowledgements"))
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body(text.to_owned())
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_999_moves_each_claim_of_the_batch_its_group_control_number_names() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    let first = b
        .consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    let second = b.consult(&patient, &closing(25, json!({}))).await;
    assert_eq!(b.drain().await, 2);
    let response = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let batch_id = response.headers()["x-batch-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let batch = response.text().await.unwrap();
    // Both checkers read the batch before it goes.
    assert_valid_837(&batch);
    assert_eq!(assert_lfh_parses(&batch), ["837", "837"]);
    let group = segment(&batch, "GS")[0]
        .split('*')
        .nth(6)
        .unwrap()
        .to_owned();
    let clm: Vec<String> = segment(&batch, "CLM")
        .iter()
        .map(|s| s.split('*').nth(1).unwrap().to_owned())
        .collect();

    let ack = fixture("999-partial.x12").replace("{GROUP}", &group);
    let result: Value = assert_json(b.post_999(&ack, &b.biller).await, StatusCode::CREATED).await;
    assert_eq!(result["batch_id"], batch_id);
    assert_eq!(result["group_control_number"].to_string(), group);
    assert_eq!(result["verdict"], "partially_accepted");
    let claims = result["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[0]["number"], clm[0].as_str());
    assert_eq!(
        (claims[0]["status"].clone(), claims[0]["moved"].clone()),
        (json!("accepted"), json!(true))
    );
    assert_eq!(claims[1]["number"], clm[1].as_str());
    assert_eq!(claims[1]["status"], "rejected");
    assert_eq!(
        claims[1]["errors"],
        json!(["segment NM1 (position 14): element 3: invalid character in data element"])
    );

    let first_claim = b.claim_of(&first).await;
    let second_claim = b.claim_of(&second).await;
    let (accepted, rejected) = if first_claim["number"] == clm[0].as_str() {
        (first_claim, second_claim)
    } else {
        (second_claim, first_claim)
    };
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(
        rejected["status_reason"],
        format!(
            "999 rejected batch {group}: segment NM1 (position 14): element 3: invalid character in data element"
        )
    );

    // The batch carries the verdict.
    let (verdict,): (Option<String>,) =
        sqlx::query_as("SELECT ack_verdict FROM claim_batches WHERE id = $1")
            .bind(&batch_id)
            .fetch_one(b.app.store.pool())
            .await
            .unwrap();
    assert_eq!(verdict.as_deref(), Some("partially_accepted"));

    // The same 999 again moves nothing.
    let again: Value = assert_json(b.post_999(&ack, &b.biller).await, StatusCode::CREATED).await;
    assert!(
        again["claims"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["moved"] == false)
    );

    let actions = b.audit_actions(&patient).await;
    assert!(
        actions.iter().any(|a| a == "claim.acknowledgement"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_999_that_names_no_batch_or_is_not_a_999_is_refused_and_changes_nothing() {
    let b = Billing::start().await;
    let patient = b.patient(demo_insurance()).await;
    b.consult(&patient, &closing(18, json!({"new_patient": true})))
        .await;
    b.drain().await;
    let response = b
        .app
        .post("/api/v1/claims/batch", Some(&b.biller), &json!({}))
        .await;
    let batch = response.text().await.unwrap();
    let group = segment(&batch, "GS")[0]
        .split('*')
        .nth(6)
        .unwrap()
        .to_owned();

    let unknown = fixture("999-accepted.x12").replace("{GROUP}", "987654");
    let problem = assert_problem(
        b.post_999(&unknown, &b.biller).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        problem["detail"],
        "body: no 837 batch was sent with group control number 987654 (AK102)"
    );
    let problem = assert_problem(
        b.post_999("hello", &b.biller).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not an X12 interchange"),
        "{problem}"
    );
    let eligibility_ack = fixture("999-accepted.x12")
        .replace("AK1*HC*{GROUP}*005010X222A1", "AK1*HS*12*005010X279A1");
    let problem = assert_problem(
        b.post_999(&eligibility_ack, &b.biller).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not an 837 claim batch"),
        "{problem}"
    );

    let accepted = fixture("999-accepted.x12").replace("{GROUP}", &group);
    assert_problem(
        b.post_999(&accepted, &b.clinic.scheduler).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let claims = b
        .app
        .get_json("/api/v1/claims?status=submitted", &b.biller)
        .await;
    assert_eq!(claims.as_array().unwrap().len(), 1, "nothing moved yet");

    let result: Value =
        assert_json(b.post_999(&accepted, &b.biller).await, StatusCode::CREATED).await;
    assert_eq!(result["verdict"], "accepted");
    assert_eq!(result["claims"][0]["status"], "accepted");
}
