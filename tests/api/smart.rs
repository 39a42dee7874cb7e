//! SMART on FHIR: the configuration, app registration, the authorization
//! code flow with PKCE S256 (EHR and standalone launches), scopes and the
//! patient in context enforced on FHIR, refresh rotation, revocation,
//! backend services with an ES384 client assertion, and the audit trail.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::Visit;
use crate::helpers::{TestApp, ada, assert_json, spawn_app};

const REDIRECT: &str = "http://app.example.org/callback";
const LAUNCH_URL: &str = "http://app.example.org/launch";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "af0ifjsldkj-9f1c4e2b7d3a5c8e0f6a1b2c";

/// A clinic with two patients, each with a checked-in visit (so each has
/// vital-sign Observations), a clinician and an admin.
struct Clinic {
    admin: String,
    clinician: String,
    clinician_id: String,
    ada: Visit,
    bob: Visit,
}

async fn clinic(app: &TestApp) -> Clinic {
    let admin = app.admin_token().await;
    let scheduler = app.staff_token("smart.sched", "scheduler").await;
    let clinician = app.staff_token("smart.doc", "clinician").await;
    let clinician_id = app.user_id(&clinician, "smart.doc").await;
    let queue = app.create_queue(&scheduler, "Smart queue").await;
    let vitals = json!({"consent_to_telehealth": true, "vitals": {"heart_rate": 88, "respiratory_rate": 16,
        "spo2": 97, "systolic_bp": 124, "temperature_c": 37.1, "consciousness": "alert"}});
    let mut visits = Vec::new();
    for (given, family) in [("Ada", "Lovelace"), ("Bob", "Marley")] {
        let mut body = ada();
        body["given_name"] = json!(given);
        body["family_name"] = json!(family);
        let patient = app.create_patient(&scheduler, &body).await;
        let visit = app.book_visit(&scheduler, &patient, &queue, "Cough").await;
        assert_eq!(app.check_in(&visit, &vitals).await.status(), StatusCode::OK);
        visits.push(visit);
    }
    let bob = visits.pop().unwrap();
    let ada = visits.pop().unwrap();
    Clinic {
        admin,
        clinician,
        clinician_id,
        ada,
        bob,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn register(app: &TestApp, admin: &str, body: &Value) -> Value {
    let response = app.post("/api/v1/smart/apps", Some(admin), body).await;
    assert_json(response, StatusCode::CREATED).await
}

async fn public_app(app: &TestApp, admin: &str, scopes: &str) -> String {
    let registered = register(
        app,
        admin,
        &json!({"name": "Growth charts", "launch_url": LAUNCH_URL, "redirect_uris": [REDIRECT],
            "client_type": "public", "scopes": scopes}),
    )
    .await;
    registered["client_id"].as_str().unwrap().to_owned()
}

/// The console's EHR launch: the launch id from the app's launch URL.
async fn launch(app: &TestApp, clinician: &str, client_id: &str, visit: &Visit) -> String {
    let response = app
        .post(
            "/api/v1/smart/launches",
            Some(clinician),
            &json!({"client_id": client_id, "patient_id": visit.patient_id, "encounter_id": visit.encounter_id}),
        )
        .await;
    let body: Value = assert_json(response, StatusCode::CREATED).await;
    let url = reqwest::Url::parse(body["launch_url"].as_str().unwrap()).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(url.as_str().starts_with(LAUNCH_URL));
    assert_eq!(query["iss"], app.url("/fhir"));
    query["launch"].clone()
}

/// The authorization request's parameters for `client_id`, PKCE S256.
fn authorize_params(app: &TestApp, client_id: &str, scope: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", STATE),
        ("aud", &app.url("/fhir")),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn set(params: &mut Vec<(String, String)>, key: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != key);
    if let Some(value) = value {
        params.push((key.to_owned(), value.to_owned()));
    }
}

/// `GET /oauth/authorize`, not following the redirect.
async fn authorize(app: &TestApp, params: &[(String, String)]) -> Response {
    no_redirects()
        .get(app.url("/oauth/authorize"))
        .query(params)
        .send()
        .await
        .unwrap()
}

/// The query of a redirect back to the app.
fn redirected(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "a redirect");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn exchange(app: &TestApp, client_id: &str, code: &str) -> Value {
    let response = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert_json(response, StatusCode::OK).await
}

async fn oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    let body: Value = assert_json(response, status).await;
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

/// An EHR launch of `client_id` on Ada's chart, up to the token response.
async fn ehr_token(app: &TestApp, clinic: &Clinic, client_id: &str, scope: &str) -> Value {
    let launch_id = launch(app, &clinic.clinician, client_id, &clinic.ada).await;
    let mut params = authorize_params(app, client_id, scope);
    set(&mut params, "launch", Some(&launch_id));
    let back = redirected(&authorize(app, &params).await);
    assert_eq!(back["state"], STATE);
    exchange(app, client_id, &back["code"]).await
}

fn bearer(token: &Value) -> &str {
    token["access_token"].as_str().unwrap()
}

async fn fhir_status(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app.get(path, Some(token)).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_smart_configuration_names_the_endpoints_and_s256_only() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/fhir/.well-known/smart-configuration"))
        .header("accept", "application/fhir+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let config: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(
        config["authorization_endpoint"],
        app.url("/oauth/authorize")
    );
    assert_eq!(config["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(config["jwks_uri"], app.url("/oauth/jwks"));
    assert_eq!(config["code_challenge_methods_supported"], json!(["S256"]));
    let capabilities = config["capabilities"].as_array().unwrap();
    for wanted in [
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "sso-openid-connect",
        "context-ehr-patient",
        "permission-v2",
        "client-confidential-asymmetric",
        "context-banner",
    ] {
        assert!(capabilities.contains(&json!(wanted)), "{wanted}");
    }
    let algs = &config["token_endpoint_auth_signing_alg_values_supported"];
    assert!(algs.as_array().unwrap().contains(&json!("ES384")));

    let admin = app.admin_token().await;
    let statement = app.get_json("/fhir/metadata", &admin).await;
    let security = &statement["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    let uris = &security["extension"][0];
    assert_eq!(
        uris["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    let named: HashMap<&str, &str> = uris["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["url"].as_str().unwrap(), e["valueUri"].as_str().unwrap()))
        .collect();
    assert_eq!(named["authorize"], app.url("/oauth/authorize"));
    assert_eq!(named["token"], app.url("/oauth/token"));
    crate::helpers::assert_valid_fhir(&statement);
}

#[tokio::test]
async fn only_admins_register_apps_and_bad_registrations_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let clinician = app.staff_token("smart.doc", "clinician").await;
    let body = json!({"name": "Charts", "redirect_uris": [REDIRECT], "client_type": "public",
        "scopes": "launch patient/*.rs"});
    let refused = app
        .post("/api/v1/smart/apps", Some(&clinician), &body)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    for (bad, field) in [
        (
            json!({"name": "X", "redirect_uris": ["not a url"], "client_type": "public", "scopes": "launch"}),
            "redirect_uris[0]",
        ),
        (
            json!({"name": "X", "redirect_uris": [REDIRECT], "client_type": "public", "scopes": "patient/Observation.xyz"}),
            "scopes",
        ),
        (
            json!({"name": "X", "client_type": "confidential-asymmetric", "scopes": "system/*.rs"}),
            "jwks",
        ),
    ] {
        let response = app.post("/api/v1/smart/apps", Some(&admin), &bad).await;
        let problem: Value = assert_json(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let secret_app = register(
        &app,
        &admin,
        &json!({"name": "Back office", "redirect_uris": [REDIRECT], "client_type": "confidential-symmetric",
            "scopes": "launch/patient patient/Patient.read"}),
    )
    .await;
    // v1 `.read` is kept as its v2 form; the secret is shown this once.
    assert_eq!(secret_app["scopes"], "launch/patient patient/Patient.rs");
    assert!(secret_app["client_secret"].as_str().unwrap().len() > 30);
    let listed = app.get_list("/api/v1/smart/apps", &clinician).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("client_secret").is_none());
    let audit = app
        .get_list("/api/v1/audit?action=smart.app.register", &admin)
        .await;
    assert!(
        audit.iter().any(|e| e["action"] == "smart.app.register"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_ehr_launch_gives_a_token_that_reads_only_the_patient_in_context() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(
        &app,
        &clinic.admin,
        "launch openid fhirUser offline_access patient/*.rs",
    )
    .await;
    let token = ehr_token(
        &app,
        &clinic,
        &client_id,
        "launch openid fhirUser patient/Patient.rs patient/Observation.rs user/Claim.rs",
    )
    .await;
    assert_eq!(token["token_type"], "Bearer");
    // Narrowed to the registration: no user/ scope, no offline_access asked.
    assert_eq!(
        token["scope"],
        "launch openid fhirUser patient/Patient.rs patient/Observation.rs"
    );
    assert!(token["expires_in"].as_u64().unwrap() <= 3600);
    assert_eq!(token["patient"], clinic.ada.patient_id.as_str());
    assert_eq!(token["encounter"], clinic.ada.encounter_id.as_str());
    let practitioner = app.url(&format!("/fhir/Practitioner/{}", clinic.clinician_id));
    assert_eq!(token["fhirUser"], practitioner.as_str());
    assert!(token.get("refresh_token").is_none());

    // The id_token verifies with the published key and names the user.
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = token["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&client_id]);
    validation.set_issuer(&[app.url("/fhir")]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["fhirUser"], practitioner.as_str());
    assert_eq!(claims["sub"], clinic.clinician_id.as_str());

    let access = bearer(&token);
    let ada_path = format!("/fhir/Patient/{}", clinic.ada.patient_id);
    let (status, patient) = fhir_status(&app, access, &ada_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patient["id"], clinic.ada.patient_id.as_str());
    // Another patient's record is refused with an OperationOutcome.
    let bob_path = format!("/fhir/Patient/{}", clinic.bob.patient_id);
    let (status, outcome) = fhir_status(&app, access, &bob_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    // Searches are narrowed to the patient in context.
    let bundle = app.get_json("/fhir/Observation", access).await;
    let entries = bundle["entry"].as_array().expect("Ada's observations");
    assert!(!entries.is_empty());
    for entry in entries {
        let subject = entry["resource"]["subject"]["reference"].as_str().unwrap();
        assert!(subject.ends_with(&clinic.ada.patient_id), "{subject}");
    }
    let other = format!("/fhir/Observation?patient={}", clinic.bob.patient_id);
    assert_eq!(app.get_json(&other, access).await["total"], 0);
    // No scope for claims, however the clinician may read them: refused.
    let (status, _) = fhir_status(&app, access, "/fhir/Condition").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An app's token reaches FHIR only, not the REST API.
    let rest = app
        .get(
            &format!("/api/v1/patients/{}", clinic.ada.patient_id),
            Some(access),
        )
        .await;
    assert_eq!(rest.status(), StatusCode::FORBIDDEN);

    // Every step is in the patients' audit trails.
    let ada_trail = app.audit_trail(&clinic.admin, &clinic.ada.patient_id).await;
    for action in ["smart.launch", "smart.grant", "smart.token"] {
        assert!(ada_trail.iter().any(|e| e["action"] == action), "{action}");
    }
    assert!(ada_trail.iter().any(|e| e["action"] == "fhir.read"
        && e["actor_type"] == "app"
        && e["actor_id"] == client_id.as_str()
        && e["outcome"] == "success"));
    let bob_trail = app.audit_trail(&clinic.admin, &clinic.bob.patient_id).await;
    assert!(bob_trail.iter().any(|e| e["action"] == "fhir.read"
        && e["actor_type"] == "app"
        && e["outcome"] == "denied"));
}

#[tokio::test]
async fn pkce_s256_is_required_and_the_verifier_must_match() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(&app, &clinic.admin, "launch patient/*.rs").await;
    for method in [None, Some("plain")] {
        let launch_id = launch(&app, &clinic.clinician, &client_id, &clinic.ada).await;
        let mut params = authorize_params(&app, &client_id, "launch patient/Patient.rs");
        set(&mut params, "launch", Some(&launch_id));
        set(&mut params, "code_challenge_method", method);
        if method == Some("plain") {
            set(&mut params, "code_challenge", Some(VERIFIER));
        }
        let back = redirected(&authorize(&app, &params).await);
        assert_eq!(back["error"], "invalid_request", "{method:?}");
        assert_eq!(back["state"], STATE);
        assert!(!back.contains_key("code"));
    }
    let launch_id = launch(&app, &clinic.clinician, &client_id, &clinic.ada).await;
    let mut params = authorize_params(&app, &client_id, "launch patient/Patient.rs");
    set(&mut params, "launch", Some(&launch_id));
    let back = redirected(&authorize(&app, &params).await);
    let wrong = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"x".repeat(43)),
            ("client_id", &client_id),
        ],
    )
    .await;
    oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The right verifier now finds the code spent: a code is used once.
    let again = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
    )
    .await;
    oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // A launch id is used once too.
    let reused = redirected(&authorize(&app, &params).await);
    assert_eq!(reused["error"], "invalid_request");
    let audit = app
        .get_list("/api/v1/audit?action=smart.token", &clinic.admin)
        .await;
    assert!(audit.iter().any(|e| e["outcome"] == "denied"), "{audit:?}");
}

#[tokio::test]
async fn aud_and_redirect_uri_are_checked_before_anything_is_granted() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(&app, &clinic.admin, "launch patient/*.rs").await;
    let launch_id = launch(&app, &clinic.clinician, &client_id, &clinic.ada).await;
    let mut params = authorize_params(&app, &client_id, "launch patient/Patient.rs");
    set(&mut params, "launch", Some(&launch_id));

    let mut wrong_aud = params.clone();
    set(
        &mut wrong_aud,
        "aud",
        Some("https://other.example.org/fhir"),
    );
    let back = redirected(&authorize(&app, &wrong_aud).await);
    assert_eq!(back["error"], "invalid_request");
    assert!(back["error_description"].contains("aud"));

    // An unregistered redirect URI is never redirected to.
    for uri in [
        "http://app.example.org/callback/",
        "http://evil.example.org/callback",
    ] {
        let mut wrong_uri = params.clone();
        set(&mut wrong_uri, "redirect_uri", Some(uri));
        let response = authorize(&app, &wrong_uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(response.headers().get("location").is_none());
    }
    // The launch was not spent by the refused requests.
    let back = redirected(&authorize(&app, &params).await);
    let code = back["code"].clone();
    // The exchange must name the same redirect URI.
    let mismatch = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://app.example.org/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
    )
    .await;
    oauth_error(mismatch, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(&app, &clinic.admin, "launch offline_access patient/*.rs").await;
    let first = ehr_token(
        &app,
        &clinic,
        &client_id,
        "launch offline_access patient/Patient.r",
    )
    .await;
    let refresh = first["refresh_token"]
        .as_str()
        .expect("offline_access gives one");
    let rotated = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    let second: Value = assert_json(rotated, StatusCode::OK).await;
    let next = second["refresh_token"].as_str().unwrap();
    assert_ne!(next, refresh);
    assert_eq!(second["patient"], clinic.ada.patient_id.as_str());
    let ada_path = format!("/fhir/Patient/{}", clinic.ada.patient_id);
    assert_eq!(
        fhir_status(&app, bearer(&second), &ada_path).await.0,
        StatusCode::OK
    );

    // The old refresh token comes back: someone else may hold it.
    let replay = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The whole grant is gone: its access tokens and the newer refresh token.
    assert_eq!(
        fhir_status(&app, bearer(&second), &ada_path).await.0,
        StatusCode::UNAUTHORIZED
    );
    let after = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next),
            ("client_id", &client_id),
        ],
    )
    .await;
    oauth_error(after, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn revoked_tokens_and_apps_stop_reading_at_once() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(&app, &clinic.admin, "launch patient/*.rs").await;
    let ada_path = format!("/fhir/Patient/{}", clinic.ada.patient_id);
    let token = ehr_token(&app, &clinic, &client_id, "launch patient/Patient.r").await;
    assert_eq!(
        fhir_status(&app, bearer(&token), &ada_path).await.0,
        StatusCode::OK
    );
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", bearer(&token)), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        fhir_status(&app, bearer(&token), &ada_path).await.0,
        StatusCode::UNAUTHORIZED
    );

    let token = ehr_token(&app, &clinic, &client_id, "launch patient/Patient.r").await;
    let response = app
        .post(
            &format!("/api/v1/smart/apps/{client_id}/revoke"),
            Some(&clinic.admin),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        fhir_status(&app, bearer(&token), &ada_path).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A revoked app is no longer launched nor authorized.
    let relaunch = app
        .post(
            "/api/v1/smart/launches",
            Some(&clinic.clinician),
            &json!({"client_id": client_id, "patient_id": clinic.ada.patient_id}),
        )
        .await;
    assert_eq!(relaunch.status(), StatusCode::NOT_FOUND);
    let audit = app
        .get_list("/api/v1/audit?action=smart.app.revoke", &clinic.admin)
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
}

#[tokio::test]
async fn a_patient_authorizes_a_standalone_app_with_their_visit_link() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(
        &app,
        &clinic.admin,
        "launch/patient openid fhirUser patient/*.rs",
    )
    .await;
    let params = authorize_params(
        &app,
        &client_id,
        "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs",
    );
    // A standalone request goes to the sign-in and consent page.
    let response = authorize(&app, &params).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.starts_with("/authorize?"), "{page}");
    let query: String = page.trim_start_matches("/authorize?").to_owned();
    let details: Value = assert_json(
        app.get(&format!("/oauth/authorize/details?{query}"), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(details["app_name"], "Growth charts");
    assert_eq!(details["needs_patient"], true);

    let request: HashMap<String, String> = params.iter().cloned().collect();
    let decided = app
        .post(
            "/oauth/authorize/decision",
            Some(&clinic.bob.patient_token),
            &json!({"request": request, "approve": true}),
        )
        .await;
    let decided: Value = assert_json(decided, StatusCode::OK).await;
    let url = reqwest::Url::parse(decided["redirect_to"].as_str().unwrap()).unwrap();
    let back: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(back["state"], STATE);
    let token = exchange(&app, &client_id, &back["code"]).await;
    assert_eq!(token["patient"], clinic.bob.patient_id.as_str());
    let bob = app.url(&format!("/fhir/Patient/{}", clinic.bob.patient_id));
    assert_eq!(token["fhirUser"], bob.as_str());
    let access = bearer(&token);
    let own = format!("/fhir/Patient/{}", clinic.bob.patient_id);
    assert_eq!(fhir_status(&app, access, &own).await.0, StatusCode::OK);
    let other = format!("/fhir/Patient/{}", clinic.ada.patient_id);
    assert_eq!(
        fhir_status(&app, access, &other).await.0,
        StatusCode::FORBIDDEN
    );

    // Declining sends the app access_denied.
    let declined = app
        .post(
            "/oauth/authorize/decision",
            Some(&clinic.bob.patient_token),
            &json!({"request": request, "approve": false}),
        )
        .await;
    let declined: Value = assert_json(declined, StatusCode::OK).await;
    assert!(
        declined["redirect_to"]
            .as_str()
            .unwrap()
            .contains("error=access_denied")
    );
}

#[tokio::test]
async fn a_confidential_app_must_present_its_secret() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let registered = register(
        &app,
        &clinic.admin,
        &json!({"name": "Back office", "launch_url": LAUNCH_URL, "redirect_uris": [REDIRECT],
            "client_type": "confidential-symmetric", "scopes": "launch patient/*.rs"}),
    )
    .await;
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let launch_id = launch(&app, &clinic.clinician, client_id, &clinic.ada).await;
    let mut params = authorize_params(&app, client_id, "launch patient/Patient.r");
    set(&mut params, "launch", Some(&launch_id));
    let back = redirected(&authorize(&app, &params).await);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", back["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let unauthenticated = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[form.as_slice(), &[("client_id", client_id)]].concat())
        .send()
        .await
        .unwrap();
    oauth_error(unauthenticated, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let right = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let token: Value = assert_json(right, StatusCode::OK).await;
    assert_eq!(token["patient"], clinic.ada.patient_id.as_str());
}

/// A backend service's key: ES384 on P-384, made here.
struct ServiceKey {
    encoding: EncodingKey,
    jwk: Value,
}

fn service_key(kid: &str) -> ServiceKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let point = pair.public_key_raw();
    assert_eq!(point.len(), 97, "an uncompressed P-384 point");
    ServiceKey {
        encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({"kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]), "y": URL_SAFE_NO_PAD.encode(&point[49..])}),
    }
}

fn assertion(key: &ServiceKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn client_credentials(app: &TestApp, scope: &str, assertion: &str) -> Response {
    token_request(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn backend_services_get_system_tokens_with_an_es384_assertion_used_once() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let key = service_key("svc-1");
    let registered = register(
        &app,
        &clinic.admin,
        &json!({"name": "Population health", "client_type": "confidential-asymmetric",
            "scopes": "system/Patient.rs system/Observation.rs", "jwks": {"keys": [key.jwk]}}),
    )
    .await;
    let client_id = registered["client_id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |jti: &str, exp: i64, aud: &str| json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "jti": jti});
    let token_url = app.url("/oauth/token");
    let signed = assertion(&key, "svc-1", &claims("jti-1", now + 240, &token_url));
    let response = client_credentials(&app, "system/Patient.rs system/Claim.rs", &signed).await;
    let token: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(token["scope"], "system/Patient.rs");
    assert!(token["expires_in"].as_u64().unwrap() <= 300);
    assert!(token.get("refresh_token").is_none());
    let access = bearer(&token);
    for visit in [&clinic.ada, &clinic.bob] {
        let path = format!("/fhir/Patient/{}", visit.patient_id);
        assert_eq!(fhir_status(&app, access, &path).await.0, StatusCode::OK);
    }
    let (status, _) = fhir_status(&app, access, "/fhir/Observation").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not granted: not asked for");

    // The same assertion again: its jti was seen.
    let replay = client_credentials(&app, "system/Patient.rs", &signed).await;
    let body = oauth_error(replay, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(body["error_description"].as_str().unwrap().contains("jti"));
    // Living longer than five minutes, or addressed elsewhere: refused.
    let long = assertion(&key, "svc-1", &claims("jti-2", now + 3600, &token_url));
    oauth_error(
        client_credentials(&app, "system/Patient.rs", &long).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let elsewhere = assertion(
        &key,
        "svc-1",
        &claims("jti-3", now + 120, "https://other.example.org/token"),
    );
    oauth_error(
        client_credentials(&app, "system/Patient.rs", &elsewhere).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // Signed by a key the app never registered.
    let stranger = service_key("svc-1");
    let forged = assertion(&stranger, "svc-1", &claims("jti-4", now + 120, &token_url));
    oauth_error(
        client_credentials(&app, "system/Patient.rs", &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;

    let audit = app
        .get_list("/api/v1/audit?action=smart.token", &clinic.admin)
        .await;
    assert!(
        audit
            .iter()
            .any(|e| e["outcome"] == "success" && e["actor_id"] == client_id)
    );
    assert!(
        audit.iter().filter(|e| e["outcome"] == "denied").count() >= 4,
        "{audit:?}"
    );
}

#[test]
fn the_rfc_7636_challenge_is_the_one_the_tests_send() {
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes())),
        CHALLENGE
    );
}

#[tokio::test]
async fn a_cds_call_without_prefetch_reads_as_far_as_its_lent_smart_token_reaches() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client_id = public_app(&app, &clinic.admin, "launch patient/*.rs").await;
    let token = ehr_token(&app, &clinic, &client_id, "launch patient/*.rs").await;
    let call = |patient: &str, server: String, access: &str| {
        json!({
            "hook": "patient-view",
            "hookInstance": uuid::Uuid::new_v4().to_string(),
            "fhirServer": server,
            "fhirAuthorization": {"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                "scope": "launch patient/*.rs", "subject": client_id},
            "context": {"userId": format!("Practitioner/{}", clinic.clinician_id), "patientId": patient},
        })
    };
    let fhir = app.url("/fhir");
    let path = "/cds-services/bedside-patient-view";
    let ok = app
        .post(
            path,
            Some(&clinic.clinician),
            &call(&clinic.ada.patient_id, fhir.clone(), bearer(&token)),
        )
        .await;
    let cards: Value = assert_json(ok, StatusCode::OK).await;
    assert!(cards["cards"].is_array());
    // Another patient than the one in the token's context.
    let other = app
        .post(
            path,
            Some(&clinic.clinician),
            &call(&clinic.bob.patient_id, fhir.clone(), bearer(&token)),
        )
        .await;
    let problem: Value = assert_json(other, StatusCode::PRECONDITION_FAILED).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("scopes"),
        "{problem}"
    );
    // A token Bedside never issued, or another FHIR server.
    let forged = app
        .post(
            path,
            Some(&clinic.clinician),
            &call(&clinic.ada.patient_id, fhir.clone(), "bsa_forged"),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::PRECONDITION_FAILED);
    let elsewhere = app
        .post(
            path,
            Some(&clinic.clinician),
            &call(
                &clinic.ada.patient_id,
                "https://other.example.org/fhir".into(),
                bearer(&token),
            ),
        )
        .await;
    assert_eq!(elsewhere.status(), StatusCode::PRECONDITION_FAILED);
    let trail = app.audit_trail(&clinic.admin, &clinic.ada.patient_id).await;
    assert!(
        trail
            .iter()
            .any(|e| e["action"] == "cds.fhir_authorization" && e["actor_type"] == "app")
    );
    let bob_trail = app.audit_trail(&clinic.admin, &clinic.bob.patient_id).await;
    assert!(
        bob_trail
            .iter()
            .any(|e| e["action"] == "cds.fhir_authorization" && e["outcome"] == "denied")
    );
}
