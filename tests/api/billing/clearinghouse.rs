//! The clearinghouse stand-in and the X12 checks the clearinghouse tests
//! share. The stand-in is a local axum server that checks the request the
//! adapter documents (auth, content type, transaction header, and a 270 or
//! 276 whose ISA/GS/ST envelope, GS01 and version are right) and answers
//! with a recorded 271 or 277 from `x12/`, echoing the trace, claim number,
//! charge and date of service a real payer echoes.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use bedside::config::Source;
use serde_json::Value;

use super::{Billing, billing_source, worker_config};
use crate::clinic::Clinic;
use crate::helpers::spawn_app_with;

pub const USERNAME: &str = "bedside";
pub const PASSWORD: &str = "stand-in-password";
pub const TOKEN: &str = "stand-in-bearer-token";

/// A recorded answer, by file name under `tests/api/billing/x12/`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/billing/x12")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request the stand-in took.
#[derive(Debug, Clone)]
pub struct Taken {
    pub transaction: String,
    pub body: String,
}

#[derive(Debug)]
struct Script {
    /// `basic` or `bearer`: what the stand-in requires.
    auth: &'static str,
    /// The fixture it answers with, or an HTTP status to fail with.
    answer: Result<&'static str, u16>,
    taken: Vec<Taken>,
}

#[derive(Debug, Clone)]
pub struct StandIn {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl StandIn {
    pub async fn start(auth: &'static str) -> Self {
        let script = Arc::new(Mutex::new(Script {
            auth,
            answer: Err(500),
            taken: Vec::new(),
        }));
        let router = axum::Router::new()
            .route("/x12", axum::routing::post(exchange))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/x12"),
            script,
        }
    }

    /// The next answers are this recorded file.
    pub fn answer_with(&self, fixture: &'static str) {
        self.script.lock().unwrap().answer = Ok(fixture);
    }

    /// The next answers are this HTTP status, with no X12.
    pub fn fail_with(&self, status: u16) {
        self.script.lock().unwrap().answer = Err(status);
    }

    pub fn taken(&self) -> Vec<Taken> {
        self.script.lock().unwrap().taken.clone()
    }
}

/// The first element `n` of the first segment `id` whose element 1 is `qualifier`.
fn element(x12: &str, id: &str, qualifier: Option<&str>, n: usize) -> Option<String> {
    x12.split('~')
        .map(|s| s.trim().split('*').collect::<Vec<_>>())
        .find(|e| e[0] == id && qualifier.is_none_or(|q| e.get(1) == Some(&q)))
        .and_then(|e| e.get(n).map(|v| (*v).to_owned()))
}

/// The structure a clearinghouse checks before it forwards an inquiry.
fn check_structure(body: &str, transaction: &str) -> Result<(), String> {
    let (group, version) = match transaction {
        "270" => ("HS", "005010X279A1"),
        "276" => ("HR", "005010X212"),
        other => return Err(format!("X12-Transaction {other} is not 270 or 276")),
    };
    let isa = body.lines().next().unwrap_or_default();
    if !isa.starts_with("ISA*") || isa.trim_end_matches('~').len() != 105 {
        return Err("the interchange does not open with a 106-character ISA".into());
    }
    let segments: Vec<&str> = body
        .split('~')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let id = |s: &&str| s.split('*').next().unwrap_or_default().to_owned();
    let ids: Vec<String> = segments.iter().map(id).collect();
    if ids.first().map(String::as_str) != Some("ISA")
        || ids.get(1).map(String::as_str) != Some("GS")
        || ids.get(2).map(String::as_str) != Some("ST")
        || ids.last().map(String::as_str) != Some("IEA")
        || ids[ids.len() - 2] != "GE"
        || ids[ids.len() - 3] != "SE"
    {
        return Err(format!("the envelope is out of order: {ids:?}"));
    }
    let gs: Vec<&str> = segments[1].split('*').collect();
    if gs.get(1) != Some(&group) || gs.get(8) != Some(&version) {
        return Err(format!("GS names {gs:?}, not {group} {version}"));
    }
    let st: Vec<&str> = segments[2].split('*').collect();
    if st.get(1) != Some(&transaction) || st.get(3) != Some(&version) {
        return Err(format!("ST names {st:?}"));
    }
    let se: Vec<&str> = segments[segments.len() - 3].split('*').collect();
    if se.get(1) != Some(&(segments.len() - 4).to_string().as_str()) || se.get(2) != st.get(2) {
        return Err(format!("SE {se:?} does not count or match its ST"));
    }
    let isa13 = segments[0].split('*').nth(13).unwrap_or_default();
    let iea: Vec<&str> = segments[segments.len() - 1].split('*').collect();
    if iea.get(2) != Some(&isa13) || gs.get(6).map(|n| format!("{n:0>9}")) != Some(isa13.into()) {
        return Err("the control numbers do not pair".into());
    }
    Ok(())
}

async fn exchange(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (auth, answer) = {
        let script = script.lock().unwrap();
        (script.auth, script.answer)
    };
    let expected = match auth {
        "basic" => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
        ),
        _ => format!("Bearer {TOKEN}"),
    };
    if header("authorization") != expected {
        return (StatusCode::UNAUTHORIZED, "who are you?".into());
    }
    if header("content-type") != "application/edi-x12" {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/edi-x12".into(),
        );
    }
    let transaction = header("x12-transaction");
    if let Err(problem) = check_structure(&body, &transaction) {
        return (StatusCode::BAD_REQUEST, problem);
    }
    script.lock().unwrap().taken.push(Taken {
        transaction,
        body: body.clone(),
    });
    let name = match answer {
        Ok(name) => name,
        Err(status) => return (StatusCode::from_u16(status).unwrap(), String::new()),
    };
    let trace = element(&body, "TRN", Some("1"), 2).unwrap_or_default();
    let claim = element(&body, "REF", Some("EJ"), 2).unwrap_or_default();
    let charge = element(&body, "AMT", Some("T3"), 2).unwrap_or_default();
    let date = element(&body, "DTP", Some("472"), 3).unwrap_or_default();
    (
        StatusCode::OK,
        fixture(name)
            .replace("{TRACE}", &trace)
            .replace("{CLAIM}", &claim)
            .replace("{CHARGE}", &charge)
            .replace("{SERVICE_DATE}", &date),
    )
}

/// Demo billing and a clearinghouse at `url` with `auth`.
pub fn clearinghouse_source(source: Source, url: &str, auth: &str) -> Source {
    let source = billing_source(source).set("BEDSIDE_CLEARINGHOUSE_URL", url);
    match auth {
        "basic" => source
            .set("BEDSIDE_CLEARINGHOUSE_USERNAME", USERNAME)
            .set("BEDSIDE_CLEARINGHOUSE_PASSWORD", PASSWORD),
        "wrong" => source
            .set("BEDSIDE_CLEARINGHOUSE_USERNAME", USERNAME)
            .set("BEDSIDE_CLEARINGHOUSE_PASSWORD", "not-the-password"),
        _ => source.set("BEDSIDE_CLEARINGHOUSE_TOKEN", TOKEN),
    }
}

impl Billing {
    /// Billing beside a clearinghouse stand-in (`auth` as it requires,
    /// `sent` as Bedside is configured to send).
    pub async fn with_clearinghouse(stand_in: &StandIn, sent: &'static str) -> Self {
        let url = stand_in.url.clone();
        let app = spawn_app_with(|s| clearinghouse_source(s, &url, sent)).await;
        let config = worker_config(&app, billing_source);
        let clinic = Clinic::open(&app).await;
        let biller = app.staff_token("biller", "billing").await;
        Self {
            app,
            config,
            clinic,
            biller,
        }
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn audit_actions(&self, patient: &Value) -> Vec<String> {
        self.app
            .audit_trail(&self.clinic.admin, patient["id"].as_str().unwrap())
            .await
            .iter()
            .filter_map(|e| e["action"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Runs linuxforhealth-x12 (its own venv) on an interchange; fails, never
/// skips, when it is missing. Returns the transaction sets it parsed.
pub fn assert_lfh_parses(text: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv-x12/bin/python");
    assert!(
        python.exists(),
        "linuxforhealth-x12 is required: python3 -m venv tests/.venv-x12 && \
         tests/.venv-x12/bin/pip install -r tests/requirements-x12.txt (as .ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interchange.x12");
    std::fs::write(&path, text).unwrap();
    let output = std::process::Command::new(&python)
        .arg(root.join("tests/x12_lfh_validate.py"))
        .arg(&path)
        .output()
        .expect("the x12 venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "linuxforhealth-x12 is required: {stderr}"
    );
    let verdict = stdout.trim();
    assert!(
        verdict.starts_with("OK "),
        "linuxforhealth-x12 refused:\n{stderr}\n{text}"
    );
    verdict[3..].split(' ').map(str::to_owned).collect()
}

/// A recorded answer as the stand-in would fill it.
pub fn filled(name: &str) -> String {
    fixture(name)
        .replace("{TRACE}", "EL000000012")
        .replace("{CLAIM}", "BS00000017")
        .replace("{CHARGE}", "75")
        .replace("{SERVICE_DATE}", "20260301")
        .replace("{GROUP}", "17")
}

#[test]
fn the_recorded_answers_pass_the_independent_parsers() {
    for (name, set) in [
        ("271-active.x12", "271"),
        ("271-inactive.x12", "271"),
        ("271-provider-not-on-file.x12", "271"),
        ("277-received.x12", "277"),
        ("277-accepted.x12", "277"),
        ("277-pending.x12", "277"),
        ("277-paid.x12", "277"),
        ("277-rejected.x12", "277"),
        ("277-denied.x12", "277"),
    ] {
        assert_eq!(assert_lfh_parses(&filled(name)), [set], "{name}");
    }
    // linuxforhealth-x12 has no 999 model; pyx12 has the X231A1 map.
    for name in ["999-accepted.x12", "999-partial.x12"] {
        super::assert_valid_837(&filled(name));
    }
}
