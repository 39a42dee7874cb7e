//! The `bedside` binary itself: configuration errors, `user add`, the demo
//! clinic and graceful shutdown.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{TestDb, free_port, spawn_app_on};

fn bedside(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedside"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn a_bad_config_value_stops_start_up_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("BEDSIDE_ADDR", "not-an-address"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("BEDSIDE_BILLING_NPI", "1234567890"),
        ("BEDSIDE_TURN_TTL_SECONDS", "forever"),
        ("REDIS_URL", "localhost:6379"),
    ];
    for (key, value) in cases {
        // The demo fills in the other billing keys, so the NPI is what fails.
        let output = bedside(dir.path())
            .args(["serve", "--demo"])
            .env(key, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
}

#[test]
fn bedside_toml_is_read_and_its_bad_values_are_named_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bedside.toml"),
        "BEDSIDE_SESSION_TTL_MINUTES = -5\n",
    )
    .unwrap();
    let output = bedside(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BEDSIDE_SESSION_TTL_MINUTES"));

    std::fs::write(dir.path().join("bedside.toml"), "PORT = 80\n").unwrap();
    let output = bedside(dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT: is not a Bedside setting"));
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_the_user_signs_in() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = bedside(dir.path())
        .args([
            "user",
            "add",
            "--username",
            "bea",
            "--role",
            "billing",
            "--display-name",
            "Bea",
        ])
        .env("DATABASE_URL", &db.url)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-long-password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let app = spawn_app_on(&db.url, |s| s).await;
    let response = app.login("bea", "a-long-password").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["role"], "billing");
}

#[test]
fn user_add_refuses_an_unknown_role() {
    let dir = tempfile::tempdir().unwrap();
    let output = bedside(dir.path())
        .args(["user", "add", "--username", "x", "--role", "wizard"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("must be admin, scheduler, clinician or billing")
    );
}

#[tokio::test]
async fn serve_demo_prints_credentials_that_sign_in_and_sigterm_stops_it_cleanly() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = bedside(dir.path())
        .args(["serve", "--demo"])
        .env("DATABASE_URL", &db.url)
        .env("BEDSIDE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut credentials = Vec::new();
    let mut join_url = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some((left, password)) = line.split_once("password: ") {
            let username = left.split_whitespace().next().unwrap().to_owned();
            credentials.push((username, password.trim().to_owned()));
        } else if line.trim().starts_with("http") && line.contains("/join/") {
            join_url = Some(line.trim().to_owned());
        } else if line.is_empty() && join_url.is_some() {
            // The block ends with a blank line; stop reading only then, so
            // the server never writes into a closed pipe.
            break;
        }
    }
    let join_url = join_url.expect("the demo prints a patient join link");
    let roles: Vec<&str> = credentials.iter().map(|(u, _)| u.as_str()).collect();
    assert!(
        roles.contains(&"scheduler") && roles.contains(&"dr.grey") && roles.contains(&"billing"),
        "{roles:?}"
    );

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // The demo prints before it listens for requests; wait for readiness.
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the demo server became ready");
    for (username, password) in &credentials {
        let response = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{username}");
    }
    let token = {
        let (u, p) = &credentials[0];
        let body: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": u, "password": p}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    };
    let patients: Vec<serde_json::Value> = client
        .get(format!("{base}/api/v1/patients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(patients.len() >= 3, "the demo clinic has patients");

    // The join link's token lets the patient read its visit.
    let (path, token) = join_url.split_once("?t=").unwrap();
    let visit_id = path.rsplit('/').next().unwrap();
    let visit: serde_json::Value = client
        .get(format!("{base}/api/v1/visits/{visit_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visit["status"], "scheduled");
    let page = client.get(&join_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM ends the server cleanly: {exit:?}");
}
