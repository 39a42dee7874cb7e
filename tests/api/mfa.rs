//! Staff MFA: TOTP codes made by an independent implementation (Python's
//! `pyotp`), replays, recovery codes, roles that must enrol, and the
//! throttle.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    STAFF_PASSWORD, TestApp, assert_json, assert_problem, spawn_app, spawn_app_with,
};

/// The code `pyotp` computes for `secret` at the app's current time.
fn pyotp_code(app: &TestApp, secret: &str) -> String {
    let at = app.clock.now().millis() / 1000;
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    assert!(
        output.status.success(),
        "pyotp is required: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let code = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 6, "{code}");
    code
}

/// The next 30 s step, so a new code is not a replay of the last.
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::from_secs(30));
}

async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let started: Value = assert_json(
        app.post("/api/v1/auth/mfa/enrolment", Some(token), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(
        started["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    assert!(
        started["otpauth_url"]
            .as_str()
            .unwrap()
            .contains(&format!("secret={secret}"))
    );
    let code = pyotp_code(app, &secret);
    let done: Value = assert_json(
        app.post(
            "/api/v1/auth/mfa/enrolment/confirm",
            Some(token),
            &json!({"code": code}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let codes: Vec<String> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// Signs in with the password and returns the challenge of the code step.
async fn challenge(app: &TestApp, username: &str) -> String {
    let problem = assert_problem(
        app.login(username, STAFF_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(problem["code"], "mfa_required", "{problem}");
    problem["challenge"].as_str().unwrap().to_owned()
}

async fn send_code(app: &TestApp, challenge: &str, code: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login/mfa",
        None,
        &json!({"challenge": challenge, "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_pyotp_code_completes_sign_in_once_and_is_refused_as_a_replay() {
    let app = spawn_app().await;
    let token = app.staff_token("dr.mfa", "scheduler").await;
    let (secret, codes) = enrol(&app, &token).await;
    assert_eq!(codes.len(), 10);
    // Enrolment is done once; the secret is never shown again.
    assert_problem(
        app.post("/api/v1/auth/mfa/enrolment", Some(&token), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let me = app.get_json("/api/v1/auth/me", &token).await;
    assert!(!me.to_string().contains(&secret));

    next_step(&app);
    let first = challenge(&app, "dr.mfa").await;
    let code = pyotp_code(&app, &secret);
    let signed_in: Value = assert_json(send_code(&app, &first, &code).await, StatusCode::OK).await;
    let new_token = signed_in["token"].as_str().unwrap();
    assert_eq!(
        app.get_json("/api/v1/auth/me", new_token).await["username"],
        "dr.mfa"
    );
    // The challenge is spent, and the same code in its window is a replay.
    assert_problem(
        send_code(&app, &first, &code).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let second = challenge(&app, "dr.mfa").await;
    let replay = assert_problem(
        send_code(&app, &second, &code).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(replay["detail"], "the code is wrong or was already used");
    next_step(&app);
    let fresh = pyotp_code(&app, &secret);
    assert_json::<Value>(send_code(&app, &second, &fresh).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = spawn_app().await;
    let token = app.staff_token("dr.lost", "clinician").await;
    let (_, codes) = enrol(&app, &token).await;
    let first = challenge(&app, "dr.lost").await;
    let typed = codes[3].to_uppercase();
    assert_json::<Value>(send_code(&app, &first, &typed).await, StatusCode::OK).await;
    let second = challenge(&app, "dr.lost").await;
    assert_problem(
        send_code(&app, &second, &codes[3]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_json::<Value>(send_code(&app, &second, &codes[4]).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_required_role_enrols_before_it_gets_a_session() {
    let app =
        spawn_app_with(|source| source.set("BEDSIDE_MFA_REQUIRED_ROLES", "billing, scheduler"))
            .await;
    let admin = app.admin_token().await;
    let body = json!({"username": "biller", "password": STAFF_PASSWORD, "role": "billing", "display_name": "Biller"});
    assert_eq!(
        app.post("/api/v1/users", Some(&admin), &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    let problem = assert_problem(
        app.login("biller", STAFF_PASSWORD).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(problem["code"], "mfa_enrolment_required");
    let challenge = problem["challenge"].as_str().unwrap();
    // The challenge is no session.
    assert_problem(
        app.get("/api/v1/auth/me", Some(challenge)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let started: Value = assert_json(
        app.post(
            "/api/v1/auth/mfa/enrolment",
            None,
            &json!({"challenge": challenge}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap();
    let wrong = assert_problem(
        app.post(
            "/api/v1/auth/mfa/enrolment/confirm",
            None,
            &json!({"challenge": challenge, "code": "12"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(wrong["field"], "code");
    let done: Value = assert_json(
        app.post(
            "/api/v1/auth/mfa/enrolment/confirm",
            None,
            &json!({"challenge": challenge, "code": pyotp_code(&app, secret)}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    let token = done["session"]["token"].as_str().unwrap();
    assert_eq!(
        app.get_json("/api/v1/auth/me", token).await["role"],
        "billing"
    );
    // From now on the code step applies.
    next_step(&app);
    let problem = assert_problem(
        app.login("biller", STAFF_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(problem["code"], "mfa_required");
    // A role the setting does not name signs in as before.
    app.admin_token().await;
}

#[tokio::test]
async fn wrong_codes_count_toward_the_sign_in_throttle() {
    let app = spawn_app().await;
    let token = app.staff_token("dr.guess", "scheduler").await;
    let (secret, _) = enrol(&app, &token).await;
    next_step(&app);
    let challenge = challenge(&app, "dr.guess").await;
    let right = pyotp_code(&app, &secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        assert_problem(
            send_code(&app, &challenge, wrong).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let throttled = send_code(&app, &challenge, wrong).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    // The password step is held back too.
    assert_eq!(
        app.login("dr.guess", STAFF_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let problem = assert_problem(
        send_code(&app, &challenge, "not a code").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "code");
}
