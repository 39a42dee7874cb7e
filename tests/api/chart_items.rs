//! The chart's allergies, medications and problems: added coded (from the
//! code searches) or as free text, ended by a clinician of the patient's
//! own chart, each end audited and kept as a new FHIR version that the
//! validators accept; decision support checks only what is still current.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clinic::Clinic;
use crate::helpers::{TestApp, ada, assert_json, assert_problem, assert_valid_fhir, spawn_app};

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const SNOMED: &str = "http://snomed.info/sct";

struct Chart {
    app: TestApp,
    clinic: Clinic,
    patient: String,
}

impl Chart {
    async fn open() -> Self {
        let app = spawn_app().await;
        let clinic = Clinic::open(&app).await;
        let patient = app.create_patient(&clinic.scheduler, &ada()).await;
        let patient = patient["id"].as_str().unwrap().to_owned();
        Self {
            app,
            clinic,
            patient,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/patients/{}/{rest}", self.patient)
    }

    /// Adds an entry as the clinician; returns it.
    async fn add(&self, list: &str, body: &Value) -> Value {
        let response = self
            .app
            .post(&self.path(list), Some(&self.clinic.clinician), body)
            .await;
        assert_json(response, StatusCode::CREATED).await
    }

    async fn end(&self, list: &str, id: &str, token: &str, body: &Value) -> reqwest::Response {
        self.app
            .post(&self.path(&format!("{list}/{id}/end")), Some(token), body)
            .await
    }

    async fn fhir(&self, path: &str) -> (reqwest::header::HeaderMap, Value) {
        let response = self
            .app
            .get(&format!("/fhir/{path}"), Some(&self.clinic.clinician))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        (headers, response.json().await.unwrap())
    }

    /// The cards of the patient-view hook, read from the store.
    async fn cards(&self) -> Vec<String> {
        let body = json!({
            "hook": "patient-view",
            "hookInstance": uuid::Uuid::new_v4().to_string(),
            "context": {"userId": "Practitioner/1", "patientId": self.patient},
        });
        let response = self
            .app
            .post(
                "/cds-services/bedside-patient-view",
                Some(&self.clinic.clinician),
                &body,
            )
            .await;
        let answer: Value = assert_json(response, StatusCode::OK).await;
        answer["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["summary"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn actions(&self, outcome: &str) -> Vec<String> {
        self.app
            .audit_trail(&self.clinic.admin, &self.patient)
            .await
            .iter()
            .filter(|e| e["outcome"] == outcome)
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn id(entry: &Value) -> &str {
    entry["id"].as_str().unwrap()
}

#[tokio::test]
async fn the_code_searches_find_drugs_substances_and_problems() {
    let chart = Chart::open().await;
    let token = &chart.clinic.clinician;
    let drugs = chart
        .app
        .get_list("/api/v1/codes/rxnorm?q=amoxi", token)
        .await;
    assert_eq!(drugs[0]["name"], "Amoxicillin");
    assert_eq!(drugs[0]["code"], "723");
    assert_eq!(drugs[0]["system"], "rxnorm");
    assert_eq!(drugs[0]["system_uri"], RXNORM);
    // Latex is a substance, not a drug: found for an allergy only.
    assert!(
        chart
            .app
            .get_list("/api/v1/codes/rxnorm?q=latex", token)
            .await
            .is_empty()
    );
    let latex = chart
        .app
        .get_list("/api/v1/codes/substances?q=latex", token)
        .await;
    assert_eq!(latex[0]["code"], "111088007");
    assert_eq!(latex[0]["system"], "snomed");
    let problems = chart
        .app
        .get_list("/api/v1/codes/icd10cm?q=atrial fibrillation", token)
        .await;
    assert!(problems.iter().any(|p| p["code"] == "I48.91"));
    let problem = assert_problem(
        chart
            .app
            .get("/api/v1/codes/substances?q=", Some(token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "q");
}

#[tokio::test]
async fn entries_are_stored_with_their_code_and_system_or_uncoded() {
    let chart = Chart::open().await;
    let coded = chart
        .add(
            "allergies",
            &json!({"substance": "Latex", "code": "111088007", "system": "snomed"}),
        )
        .await;
    assert_eq!(coded["code_system"], SNOMED);
    assert_eq!(coded["status"], "active");
    // A code without its system takes the system that holds it.
    let inferred = chart
        .add(
            "allergies",
            &json!({"substance": "Penicillin", "code": "70618"}),
        )
        .await;
    assert_eq!(inferred["code_system"], RXNORM);
    let free = chart
        .add("allergies", &json!({"substance": "Cat hair"}))
        .await;
    assert!(free["code"].is_null() && free["code_system"].is_null());
    let medication = chart
        .add("medications", &json!({"name": "Warfarin", "code": "11289"}))
        .await;
    assert_eq!(medication["status"], "active");
    let (_, fhir) = chart
        .fhir(&format!("AllergyIntolerance/{}", id(&coded)))
        .await;
    assert_eq!(
        fhir["code"]["coding"][0],
        json!({"system": SNOMED, "code": "111088007"})
    );
    assert_valid_fhir(&fhir);
    let (_, uncoded) = chart
        .fhir(&format!("AllergyIntolerance/{}", id(&free)))
        .await;
    assert_eq!(uncoded["code"], json!({"text": "Cat hair"}));
    assert_valid_fhir(&uncoded);
}

#[tokio::test]
async fn an_unknown_code_is_refused_naming_its_system() {
    let chart = Chart::open().await;
    let token = &chart.clinic.clinician;
    let refused = [
        (
            "allergies",
            json!({"substance": "Penicillin", "code": "99999999", "system": "rxnorm"}),
            "RxNorm code 99999999",
        ),
        (
            "allergies",
            json!({"substance": "Penicillin", "code": "7980", "system": "snomed"}),
            "SNOMED CT code 7980",
        ),
        (
            "allergies",
            json!({"substance": "Dust", "code": "12"}),
            "12 is not an RxNorm or SNOMED CT code",
        ),
        (
            "medications",
            json!({"name": "Madeupamab", "code": "424242"}),
            "RxNorm code 424242",
        ),
        (
            "conditions",
            json!({"code": "A00.0000"}),
            "A00.0000 is not an ICD-10-CM code",
        ),
    ];
    for (list, body, words) in refused {
        let problem = assert_problem(
            chart.app.post(&chart.path(list), Some(token), &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], "code", "{body}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{detail}");
    }
    let history = chart.app.get_json(&chart.path("history"), token).await;
    for list in ["allergies", "medications", "conditions"] {
        assert!(history[list].as_array().unwrap().is_empty(), "{list}");
    }
}

#[tokio::test]
async fn ending_an_allergy_is_a_new_audited_fhir_version_that_validates() {
    let chart = Chart::open().await;
    let allergy = chart
        .add(
            "allergies",
            &json!({"substance": "Penicillin", "code": "70618", "reaction": "Hives", "severity": "moderate"}),
        )
        .await;
    let path = format!("AllergyIntolerance/{}", id(&allergy));
    let (headers, before) = chart.fhir(&path).await;
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(before["clinicalStatus"]["coding"][0]["code"], "active");

    let response = chart
        .end(
            "allergies",
            id(&allergy),
            &chart.clinic.clinician,
            &json!({"status": "resolved", "reason": "Tolerated amoxicillin challenge"}),
        )
        .await;
    let ended: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(ended["status"], "resolved");
    assert_eq!(ended["ended"]["reason"], "Tolerated amoxicillin challenge");

    let (headers, after) = chart.fhir(&path).await;
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(after["meta"]["versionId"], "2");
    assert_eq!(after["clinicalStatus"]["coding"][0]["code"], "resolved");
    assert_valid_fhir(&after);
    let (_, history) = chart.fhir(&format!("{path}/_history")).await;
    let versions: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["clinicalStatus"]["coding"][0]["code"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, ["resolved", "active"]);
    assert_valid_fhir(&history);
    assert!(
        chart
            .actions("success")
            .await
            .contains(&"allergy.end".to_owned())
    );
}

#[tokio::test]
async fn an_allergy_entered_in_error_has_a_verification_status_and_no_clinical_status() {
    let chart = Chart::open().await;
    let allergy = chart
        .add("allergies", &json!({"substance": "Peanut"}))
        .await;
    let response = chart
        .end(
            "allergies",
            id(&allergy),
            &chart.clinic.clinician,
            &json!({"status": "entered-in-error"}),
        )
        .await;
    let ended: Value = assert_json(response, StatusCode::OK).await;
    assert_eq!(ended["status"], "entered-in-error");
    let (_, fhir) = chart
        .fhir(&format!("AllergyIntolerance/{}", id(&allergy)))
        .await;
    assert!(fhir.get("clinicalStatus").is_none(), "{fhir}");
    assert_eq!(
        fhir["verificationStatus"]["coding"][0]["code"],
        "entered-in-error"
    );
    assert_valid_fhir(&fhir);
    // Active is not an end.
    let other = chart.add("allergies", &json!({"substance": "Latex"})).await;
    let problem = assert_problem(
        chart
            .end(
                "allergies",
                id(&other),
                &chart.clinic.clinician,
                &json!({"status": "active"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "status");
}

#[tokio::test]
async fn medications_stop_and_problems_resolve_as_new_fhir_versions() {
    let chart = Chart::open().await;
    let medication = chart
        .add("medications", &json!({"name": "Warfarin", "code": "11289"}))
        .await;
    let condition = chart
        .add(
            "conditions",
            &json!({"code": "J06.9", "display": "Upper respiratory infection"}),
        )
        .await;
    let token = &chart.clinic.clinician;
    let stopped: Value = assert_json(
        chart
            .end("medications", id(&medication), token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped["status"], "stopped");
    let resolved: Value = assert_json(
        chart
            .end(
                "conditions",
                id(&condition),
                token,
                &json!({"reason": "Symptoms gone"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resolved["clinical_status"], "resolved");
    assert_eq!(resolved["ended"]["reason"], "Symptoms gone");

    let (headers, statement) = chart
        .fhir(&format!("MedicationStatement/{}", id(&medication)))
        .await;
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(statement["status"], "stopped");
    assert_valid_fhir(&statement);
    let (headers, problem) = chart.fhir(&format!("Condition/{}", id(&condition))).await;
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(problem["clinicalStatus"]["coding"][0]["code"], "resolved");
    assert_valid_fhir(&problem);
    let done = chart.actions("success").await;
    for action in ["medication.end", "condition.end"] {
        assert!(done.contains(&action.to_owned()), "{action}: {done:?}");
    }
}

#[tokio::test]
async fn ending_is_refused_to_other_roles_other_patients_and_a_second_time() {
    let chart = Chart::open().await;
    let allergy = chart
        .add("allergies", &json!({"substance": "Penicillin"}))
        .await;
    let allergy_id = id(&allergy);
    assert_problem(
        chart
            .end("allergies", allergy_id, &chart.clinic.scheduler, &json!({}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Through another patient's chart, the allergy is not there.
    let other = chart
        .app
        .create_patient(
            &chart.clinic.scheduler,
            &json!({"given_name": "Bob", "family_name": "Stone", "birth_date": "1970-02-03", "sex": "male"}),
        )
        .await;
    let response = chart
        .app
        .post(
            &format!(
                "/api/v1/patients/{}/allergies/{allergy_id}/end",
                other["id"].as_str().unwrap()
            ),
            Some(&chart.clinic.clinician),
            &json!({}),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_problem(
        chart
            .end(
                "allergies",
                &uuid::Uuid::new_v4().to_string(),
                &chart.clinic.clinician,
                &json!({}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    assert_json::<Value>(
        chart
            .end("allergies", allergy_id, &chart.clinic.clinician, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let again = assert_problem(
        chart
            .end("allergies", allergy_id, &chart.clinic.clinician, &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains("already ended (resolved)"),
        "{again}"
    );
    // The refusals are in the owner's trail; one end only succeeded.
    let denied = chart.actions("denied").await;
    assert_eq!(
        denied.iter().filter(|a| *a == "allergy.end").count(),
        2,
        "{denied:?}"
    );
    let done = chart.actions("success").await;
    assert_eq!(done.iter().filter(|a| *a == "allergy.end").count(), 1);
    let (headers, _) = chart
        .fhir(&format!("AllergyIntolerance/{allergy_id}"))
        .await;
    assert_eq!(headers["etag"], "W/\"2\"");
}

#[tokio::test]
async fn decision_support_no_longer_warns_of_an_ended_allergy_or_a_stopped_drug() {
    let chart = Chart::open().await;
    let allergy = chart
        .add(
            "allergies",
            &json!({"substance": "Penicillin", "code": "70618", "system": "rxnorm"}),
        )
        .await;
    let amoxicillin = chart
        .add(
            "medications",
            &json!({"name": "Amoxicillin", "code": "723"}),
        )
        .await;
    let warns = |cards: &[String]| cards.iter().any(|c| c.contains("Penicillin"));
    let before = chart.cards().await;
    assert!(warns(&before), "{before:?}");

    chart
        .end(
            "allergies",
            id(&allergy),
            &chart.clinic.clinician,
            &json!({"status": "inactive"}),
        )
        .await;
    let after = chart.cards().await;
    assert!(!warns(&after), "{after:?}");

    // A new allergy warns again, until the drug is stopped.
    chart
        .add(
            "allergies",
            &json!({"substance": "Penicillin", "code": "70618"}),
        )
        .await;
    assert!(warns(&chart.cards().await));
    chart
        .end(
            "medications",
            id(&amoxicillin),
            &chart.clinic.clinician,
            &json!({}),
        )
        .await;
    let stopped = chart.cards().await;
    assert!(!warns(&stopped), "{stopped:?}");
}

#[tokio::test]
async fn a_fhir_update_may_end_an_allergy_and_mark_one_entered_in_error() {
    use crate::fhir_write::{create, penicillin, send};
    let chart = Chart::open().await;
    let token = &chart.clinic.clinician;
    let created = create(
        &chart.app,
        token,
        &penicillin(&format!("Patient/{}", chart.patient)),
    )
    .await;
    let path = format!("/fhir/AllergyIntolerance/{}", id(&created));
    let mut resolved = created.clone();
    resolved["clinicalStatus"]["coding"][0]["code"] = json!("resolved");
    assert_valid_fhir(&resolved);
    let response = send(
        &chart.app,
        reqwest::Method::PUT,
        &path,
        token,
        &resolved,
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = chart.app.get_list(&chart.path("allergies"), token).await;
    assert_eq!(listed[0]["status"], "resolved");

    // Entered in error carries no clinical status (ait-2).
    let mut both = created.clone();
    both["verificationStatus"] = json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        "code": "entered-in-error"}]});
    let response = send(&chart.app, reqwest::Method::PUT, &path, token, &both, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut mistaken = both.clone();
    mistaken.as_object_mut().unwrap().remove("clinicalStatus");
    assert_valid_fhir(&mistaken);
    let response = send(
        &chart.app,
        reqwest::Method::PUT,
        &path,
        token,
        &mistaken,
        Some("W/\"2\""),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = chart.app.get_list(&chart.path("allergies"), token).await;
    assert_eq!(listed[0]["status"], "entered-in-error");
    let (headers, served) = chart
        .fhir(&format!("AllergyIntolerance/{}", id(&created)))
        .await;
    assert_eq!(headers["etag"], "W/\"3\"");
    assert!(served.get("clinicalStatus").is_none());
    assert_valid_fhir(&served);
}

/// Each SNOMED CT substance code the chart offers is one Synthea's allergy
/// modules record, under the same name: checked against their files, not
/// against our own reading.
#[test]
fn the_substance_codes_are_the_ones_synthea_records() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/synthea_substances.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(2),
        "Synthea is required: {stderr}"
    );
    assert!(output.status.success(), "{stderr}");
    let synthea: std::collections::HashMap<String, String> =
        serde_json::from_slice(&output.stdout).expect("a JSON map of codes");
    let ours: toml::Value = toml::from_str(include_str!("../../knowledge/substances.toml"))
        .expect("knowledge/substances.toml parses");
    let entries = ours["substance"].as_array().expect("[[substance]] entries");
    assert!(entries.len() >= 10);
    let first_word = |s: &str| {
        s.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase()
    };
    for entry in entries {
        let (name, code) = (
            entry["name"].as_str().unwrap(),
            entry["snomed"].as_str().unwrap(),
        );
        let display = synthea
            .get(code)
            .unwrap_or_else(|| panic!("{name} ({code}) is not a substance code Synthea records"));
        assert!(
            name.to_lowercase().contains(&first_word(display))
                || display.to_lowercase().contains(&first_word(name)),
            "{name} ({code}) is {display} in Synthea"
        );
    }
}
