//! FHIR writes: create and update with versions and `If-Match`, vread and
//! `_history`, 422 OperationOutcomes naming the element, the write policy,
//! and transaction and batch Bundles. Every resource sent and served is
//! checked by the validators (`assert_valid_fhir`).

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_valid_fhir, spawn_app};

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const VITALS: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// Staff who write: a scheduler and a clinician, and an admin to read the trail.
pub struct Writers {
    pub scheduler: String,
    pub clinician: String,
    pub admin: String,
}

impl Writers {
    pub async fn sign_in(app: &TestApp) -> Self {
        Self {
            scheduler: app.staff_token("fw.sched", "scheduler").await,
            clinician: app.staff_token("fw.doc", "clinician").await,
            admin: app.admin_token().await,
        }
    }
}

/// A FHIR JSON answer with `status`, returning its body.
pub async fn fhir_answer(
    response: Response,
    status: StatusCode,
) -> (reqwest::header::HeaderMap, Value) {
    let url = response.url().clone();
    let got = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "{url}: {text}");
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/fhir+json"),
        "{content_type}"
    );
    (headers, serde_json::from_str(&text).expect("FHIR JSON"))
}

pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.expect("request")
}

/// Creates `body` and returns the resource served back, checking 201,
/// `Location`, `ETag` and `meta`.
pub async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    assert_valid_fhir(body);
    let kind = body["resourceType"].as_str().unwrap();
    let response = send(
        app,
        reqwest::Method::POST,
        &format!("/fhir/{kind}"),
        token,
        body,
        None,
    )
    .await;
    let (headers, resource) = fhir_answer(response, StatusCode::CREATED).await;
    assert_valid_fhir(&resource);
    let id = resource["id"].as_str().expect("an id");
    assert_eq!(resource["meta"]["versionId"], "1");
    assert!(resource["meta"]["lastUpdated"].is_string());
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(
        headers["location"].to_str().unwrap(),
        app.url(&format!("/fhir/{kind}/{id}/_history/1"))
    );
    assert!(headers.contains_key("last-modified"));
    resource
}

pub fn fhir_patient(family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": ["Grace", "Brewster"]}],
        "gender": "female",
        "birthDate": "1986-12-09",
        "telecom": [{"system": "phone", "value": "+1 217 555 0142"}],
        "address": [{"line": ["3 Oak Avenue"], "city": "Springfield", "state": "IL", "postalCode": "62704", "country": "US"}],
    })
}

pub fn heart_rate(patient: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": VITALS, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": patient},
        "effectiveDateTime": "2026-02-01T09:30:00Z",
        "valueQuantity": {"value": value, "unit": "beats/minute", "system": UCUM, "code": "/min"},
    })
}

pub fn penicillin(patient: &str) -> Value {
    json!({
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "code": {"coding": [{"system": RXNORM, "code": "7980", "display": "Penicillin G"}], "text": "Penicillin"},
        "patient": {"reference": patient},
        "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}],
    })
}

pub fn lisinopril(patient: &str) -> Value {
    json!({
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "29046"}], "text": "Lisinopril 10 mg"},
        "subject": {"reference": patient},
    })
}

pub fn hypertension(patient: &str) -> Value {
    json!({
        "resourceType": "Condition",
        "code": {"coding": [{"system": ICD10, "code": "I10", "display": "Essential (primary) hypertension"}]},
        "subject": {"reference": patient},
    })
}

fn reference(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    )
}

/// An OperationOutcome with `status`, whose first issue names `expression`.
async fn refused(response: Response, status: StatusCode, expression: Option<&str>) -> Value {
    let (_, outcome) = fhir_answer(response, status).await;
    assert_valid_fhir(&outcome);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "error");
    if let Some(expression) = expression {
        assert_eq!(
            outcome["issue"][0]["expression"][0], expression,
            "{outcome:#}"
        );
    }
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    outcome
}

async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    app.get_list(&format!("/api/v1/audit?action={action}"), admin)
        .await
}

#[tokio::test]
async fn each_writable_resource_is_created_read_back_versioned_and_audited() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    assert_eq!(patient["name"][0]["family"], "Hopper");
    assert_eq!(patient["name"][0]["given"][0], "Grace Brewster");
    assert_eq!(patient["identifier"][0]["type"]["coding"][0]["code"], "MR");
    let subject = reference(&patient);
    let observation = create(&app, &staff.clinician, &heart_rate(&subject, 72.0)).await;
    assert_eq!(observation["valueQuantity"]["value"], 72.0);
    assert_eq!(observation["subject"]["reference"], subject);
    let allergy = create(&app, &staff.clinician, &penicillin(&subject)).await;
    assert_eq!(
        allergy["code"]["coding"][0],
        json!({"system": RXNORM, "code": "7980"})
    );
    assert_eq!(allergy["reaction"][0]["severity"], "moderate");
    let medication = create(&app, &staff.clinician, &lisinopril(&subject)).await;
    assert_eq!(
        medication["medicationCodeableConcept"]["text"],
        "Lisinopril 10 mg"
    );
    let condition = create(&app, &staff.clinician, &hypertension(&subject)).await;
    assert_eq!(condition["code"]["coding"][0]["code"], "I10");
    assert_eq!(
        condition["category"][0]["coding"][0]["code"],
        "problem-list-item"
    );

    for written in [&patient, &observation, &allergy, &medication, &condition] {
        let path = format!("/fhir/{}", reference(written));
        let (headers, read) =
            fhir_answer(app.get(&path, Some(&staff.clinician)).await, StatusCode::OK).await;
        assert_valid_fhir(&read);
        assert_eq!(&read, written, "{path} reads back as written");
        assert_eq!(headers["etag"], "W/\"1\"");
    }
    // The chart shows what FHIR wrote.
    let chart = app
        .get_json(
            &format!(
                "/api/v1/patients/{}/history",
                patient["id"].as_str().unwrap()
            ),
            &staff.clinician,
        )
        .await;
    assert_eq!(chart["allergies"][0]["substance"], "Penicillin");
    assert_eq!(chart["medications"][0]["name"], "Lisinopril 10 mg");
    assert_eq!(chart["conditions"][0]["code"], "I10");
    assert_eq!(chart["vitals"][0]["value"], 72.0);
    // The medication list is searchable by patient.
    let (_, bundle) = fhir_answer(
        app.get(
            &format!(
                "/fhir/MedicationStatement?patient={}",
                patient["id"].as_str().unwrap()
            ),
            Some(&staff.clinician),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&bundle);
    assert_eq!(bundle["total"], 1);

    let creates = audit(&app, &staff.admin, "fhir.create").await;
    assert_eq!(creates.len(), 5);
    assert!(
        creates
            .iter()
            .all(|e| e["outcome"] == "success" && e["patient_id"] == patient["id"])
    );
}

#[tokio::test]
async fn updates_follow_if_match_and_history_keeps_every_version() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    let path = format!("/fhir/{}", reference(&patient));
    let mut changed = patient.clone();
    changed["name"][0]["family"] = json!("Murray");
    changed.as_object_mut().unwrap().remove("meta");
    let response = send(
        &app,
        reqwest::Method::PUT,
        &path,
        &staff.scheduler,
        &changed,
        Some("W/\"1\""),
    )
    .await;
    let (headers, updated) = fhir_answer(response, StatusCode::OK).await;
    assert_valid_fhir(&updated);
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(updated["meta"]["versionId"], "2");
    assert_eq!(updated["name"][0]["family"], "Murray");
    // The MRN comes back unchanged, and insurance (not part of Patient) is kept.
    assert_eq!(updated["identifier"], patient["identifier"]);

    // A client still holding version 1 is refused, and nothing changes.
    changed["name"][0]["family"] = json!("Stale");
    let response = send(
        &app,
        reqwest::Method::PUT,
        &path,
        &staff.scheduler,
        &changed,
        Some("W/\"1\""),
    )
    .await;
    refused(response, StatusCode::PRECONDITION_FAILED, None).await;
    let (_, now) = fhir_answer(app.get(&path, Some(&staff.scheduler)).await, StatusCode::OK).await;
    assert_eq!(now["name"][0]["family"], "Murray");

    let (_, history) = fhir_answer(
        app.get(&format!("{path}/_history"), Some(&staff.scheduler))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&history);
    assert_eq!(history["type"], "history");
    assert_eq!(history["total"], 2);
    let versions: Vec<&Value> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"]["meta"]["versionId"])
        .collect();
    assert_eq!(versions, [&json!("2"), &json!("1")], "newest first");
    assert_eq!(
        history["entry"][1]["resource"]["name"][0]["family"],
        "Hopper"
    );
    assert_eq!(history["entry"][0]["response"]["etag"], "W/\"2\"");

    let (_, first) = fhir_answer(
        app.get(&format!("{path}/_history/1"), Some(&staff.scheduler))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&first);
    assert_eq!(first, patient);
    refused(
        app.get(&format!("{path}/_history/9"), Some(&staff.scheduler))
            .await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;

    // The body's id must be the URL's.
    changed["id"] = json!("someone-else");
    let response = send(
        &app,
        reqwest::Method::PUT,
        &path,
        &staff.scheduler,
        &changed,
        None,
    )
    .await;
    refused(response, StatusCode::BAD_REQUEST, None).await;

    let updates = audit(&app, &staff.admin, "fhir.update").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["resource_id"], patient["id"]);
}

#[tokio::test]
async fn a_resource_recorded_by_a_visit_starts_its_history_when_first_updated() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let rest = app
        .create_patient(&staff.scheduler, &crate::helpers::ada())
        .await;
    let path = format!("/fhir/Patient/{}", rest["id"].as_str().unwrap());
    let (headers, before) =
        fhir_answer(app.get(&path, Some(&staff.scheduler)).await, StatusCode::OK).await;
    assert_eq!(headers["etag"], "W/\"1\"");
    let mut body = before.clone();
    body["gender"] = json!("other");
    let (_, after) = fhir_answer(
        send(
            &app,
            reqwest::Method::PUT,
            &path,
            &staff.scheduler,
            &body,
            Some("W/\"1\""),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["gender"], "other");
    assert_eq!(after["meta"]["versionId"], "2");
    let (_, history) = fhir_answer(
        app.get(&format!("{path}/_history"), Some(&staff.scheduler))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["entry"][1]["resource"]["gender"], "female");
    // The insurance the REST API recorded is still there.
    let record = app
        .get_json(
            &format!("/api/v1/patients/{}", rest["id"].as_str().unwrap()),
            &staff.scheduler,
        )
        .await;
    assert_eq!(record["insurance"]["member_id"], "M123");
    assert_eq!(record["sex"], "other");
}

#[tokio::test]
async fn writes_failing_validation_are_refused_naming_the_element_and_store_nothing() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    let subject = reference(&patient);
    let mut no_birth = fhir_patient("Nobody");
    no_birth.as_object_mut().unwrap().remove("birthDate");
    let mut future = fhir_patient("Nobody");
    future["birthDate"] = json!("2999-01-01");
    let mut marital = fhir_patient("Nobody");
    marital["maritalStatus"] = json!({"text": "Married"});
    let mut bad_state = fhir_patient("Nobody");
    bad_state["address"][0]["state"] = json!("Illinois");
    let mut no_system = heart_rate(&subject, 70.0);
    no_system["valueQuantity"]["system"] = json!("http://example.org/units");
    let unknown_patient = heart_rate("Patient/0190e4a2-1234-7abc-8def-0123456789ab", 70.0);
    let mut snomed_condition = hypertension(&subject);
    snomed_condition["code"]["coding"][0] =
        json!({"system": "http://snomed.info/sct", "code": "38341003"});
    let mut bad_icd = hypertension(&subject);
    bad_icd["code"]["coding"][0]["code"] = json!("ZZZ");
    let mut no_name = penicillin(&subject);
    no_name["code"] = json!({"coding": [{"system": RXNORM, "code": "7980"}]});
    let mut bad_status = lisinopril(&subject);
    bad_status["status"] = json!("intended");
    let cases = [
        (no_birth, "Patient.birthDate"),
        (future, "Patient.birthDate"),
        (marital, "Patient.maritalStatus"),
        (bad_state, "Patient.address[0].state"),
        (no_system, "Observation.valueQuantity.system"),
        (unknown_patient, "Observation.subject"),
        (snomed_condition, "Condition.code.coding[0].system"),
        (bad_icd, "Condition.code.coding[0].code"),
        (no_name, "AllergyIntolerance.code.text"),
        (bad_status, "MedicationStatement.status"),
    ];
    for (body, expression) in cases {
        let kind = body["resourceType"].as_str().unwrap();
        let response = send(
            &app,
            reqwest::Method::POST,
            &format!("/fhir/{kind}"),
            &staff.clinician,
            &body,
            None,
        )
        .await;
        refused(response, StatusCode::UNPROCESSABLE_ENTITY, Some(expression)).await;
    }
    // Not JSON at all is a 400.
    let response = app
        .client
        .post(app.url("/fhir/Patient"))
        .bearer_auth(&staff.scheduler)
        .body("{not json")
        .send()
        .await
        .unwrap();
    refused(response, StatusCode::BAD_REQUEST, None).await;
    // Nothing was stored: one patient, and its record holds nothing.
    let (_, patients) = fhir_answer(
        app.get("/fhir/Patient", Some(&staff.scheduler)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patients["total"], 1);
    let chart = app
        .get_json(
            &format!(
                "/api/v1/patients/{}/history",
                patient["id"].as_str().unwrap()
            ),
            &staff.clinician,
        )
        .await;
    for part in ["vitals", "conditions", "allergies", "medications"] {
        assert_eq!(chart[part], json!([]), "{part}");
    }
}

#[tokio::test]
async fn roles_without_write_access_are_refused_and_the_refusal_audited() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let biller = app.staff_token("fw.bill", "billing").await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    let subject = reference(&patient);
    let response = send(
        &app,
        reqwest::Method::POST,
        "/fhir/Patient",
        &biller,
        &fhir_patient("Nope"),
        None,
    )
    .await;
    refused(response, StatusCode::FORBIDDEN, None).await;
    let response = send(
        &app,
        reqwest::Method::POST,
        "/fhir/Observation",
        &staff.scheduler,
        &heart_rate(&subject, 80.0),
        None,
    )
    .await;
    refused(response, StatusCode::FORBIDDEN, None).await;
    let response = app
        .client
        .post(app.url("/fhir/Patient"))
        .body(fhir_patient("Nope").to_string())
        .send()
        .await
        .unwrap();
    refused(response, StatusCode::UNAUTHORIZED, None).await;
    // Encounters are not written over FHIR.
    let encounter =
        json!({"resourceType": "Encounter", "status": "planned", "class": {"code": "VR"}});
    let response = send(
        &app,
        reqwest::Method::POST,
        "/fhir/Encounter",
        &staff.clinician,
        &encounter,
        None,
    )
    .await;
    refused(response, StatusCode::METHOD_NOT_ALLOWED, None).await;
    let denied: Vec<Value> = audit(&app, &staff.admin, "fhir.create")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 2, "{denied:#?}");
    let (_, observations) = fhir_answer(
        app.get("/fhir/Observation", Some(&staff.clinician)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(observations["total"], 0);
}

/// A patient's record as a transaction Bundle, linked by `urn:uuid:` fullUrls.
pub fn record_bundle(family: &str) -> Value {
    let patient = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let entry = |resource: Value, full_url: Option<&str>| {
        let kind = resource["resourceType"].as_str().unwrap().to_owned();
        let mut entry = json!({"resource": resource, "request": {"method": "POST", "url": kind}});
        entry["fullUrl"] = json!(full_url.map_or_else(
            || format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            str::to_owned
        ));
        entry
    };
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            // Out of order on purpose: the result must not depend on it.
            entry(heart_rate(&patient, 64.0), None),
            entry(penicillin(&patient), None),
            entry(fhir_patient(family), Some(&patient)),
            entry(lisinopril(&patient), None),
            entry(hypertension(&patient), None),
        ],
    })
}

#[tokio::test]
async fn a_transaction_imports_a_whole_record_or_nothing() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let bundle = record_bundle("Lamarr");
    assert_valid_fhir(&bundle);
    let (_, answer) = fhir_answer(
        app.post("/fhir", Some(&staff.clinician), &bundle).await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&answer);
    assert_eq!(answer["type"], "transaction-response");
    let entries = answer["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    for (sent, got) in bundle["entry"].as_array().unwrap().iter().zip(entries) {
        assert_eq!(got["response"]["status"], "201 Created");
        assert_eq!(got["response"]["etag"], "W/\"1\"");
        let location = got["response"]["location"].as_str().unwrap();
        assert!(
            location.starts_with(sent["resource"]["resourceType"].as_str().unwrap()),
            "{location}"
        );
    }
    let patient_location = entries[2]["response"]["location"].as_str().unwrap();
    let patient_id = patient_location.split('/').nth(1).unwrap();
    let observation_path = entries[0]["response"]["location"]
        .as_str()
        .unwrap()
        .split("/_history")
        .next()
        .unwrap()
        .to_owned();
    let (_, observation) = fhir_answer(
        app.get(&format!("/fhir/{observation_path}"), Some(&staff.clinician))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        observation["subject"]["reference"],
        format!("Patient/{patient_id}")
    );
    let chart = app
        .get_json(
            &format!("/api/v1/patients/{patient_id}/history"),
            &staff.clinician,
        )
        .await;
    assert_eq!(chart["patient"]["family_name"], "Lamarr");
    assert_eq!(chart["allergies"].as_array().unwrap().len(), 1);
    assert_eq!(chart["medications"].as_array().unwrap().len(), 1);
    assert_eq!(chart["conditions"].as_array().unwrap().len(), 1);

    // One bad entry, and nothing of the Bundle is kept.
    let mut broken = record_bundle("Noether");
    broken["entry"][4]["resource"]["code"]["coding"][0]["code"] = json!("not-icd");
    let response = app.post("/fhir", Some(&staff.clinician), &broken).await;
    refused(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Bundle.entry[4].resource.code.coding[0].code"),
    )
    .await;
    let mut dangling = record_bundle("Noether");
    dangling["entry"][0]["resource"]["subject"]["reference"] =
        json!("urn:uuid:00000000-0000-4000-8000-000000000000");
    refused(
        app.post("/fhir", Some(&staff.clinician), &dangling).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Bundle.entry[0].resource"),
    )
    .await;
    let mut foreign = record_bundle("Noether");
    foreign["entry"][1]["resource"] =
        json!({"resourceType": "Immunization", "status": "completed"});
    foreign["entry"][1]["request"]["url"] = json!("Immunization");
    refused(
        app.post("/fhir", Some(&staff.clinician), &foreign).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Bundle.entry[1].resource"),
    )
    .await;
    let (_, found) = fhir_answer(
        app.get("/fhir/Patient?name=Noether", Some(&staff.clinician))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["total"], 0);
    let (_, observations) = fhir_answer(
        app.get("/fhir/Observation", Some(&staff.clinician)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(observations["total"], 1);

    // A scheduler may write patients but not the chart: the whole Bundle is refused.
    refused(
        app.post("/fhir", Some(&staff.scheduler), &record_bundle("Curie"))
            .await,
        StatusCode::FORBIDDEN,
        None,
    )
    .await;
}

#[tokio::test]
async fn a_batch_answers_each_entry_on_its_own() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    let subject = reference(&patient);
    let mut bad = heart_rate(&subject, 70.0);
    bad["status"] = json!("preliminary");
    let mut update = patient.clone();
    update["name"][0]["family"] = json!("Murray");
    let batch = json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": heart_rate(&subject, 70.0), "request": {"method": "POST", "url": "Observation"}},
            {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
            {"resource": update, "request": {"method": "PUT", "url": subject, "ifMatch": "W/\"1\""}},
        ],
    });
    assert_valid_fhir(&batch);
    let (_, answer) = fhir_answer(
        app.post("/fhir", Some(&staff.clinician), &batch).await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&answer);
    assert_eq!(answer["type"], "batch-response");
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    assert!(
        answer["entry"][1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("422")
    );
    assert_eq!(
        answer["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0],
        "Observation.status"
    );
    assert_eq!(answer["entry"][2]["response"]["status"], "200 OK");
    assert_eq!(answer["entry"][2]["response"]["etag"], "W/\"2\"");
}

/// A transaction Bundle of `n` heart rates of `patient`, a minute apart.
fn heart_rates(patient: &str, n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            let mut observation = heart_rate(patient, 60.0 + i as f64);
            observation["effectiveDateTime"] =
                json!(format!("2026-02-01T{:02}:{:02}:00Z", 8 + i / 60, i % 60));
            json!({"resource": observation, "request": {"method": "POST", "url": "Observation"}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[tokio::test]
async fn searches_page_past_one_hundred_through_next_links() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let patient = create(&app, &staff.scheduler, &fhir_patient("Hopper")).await;
    let pid = patient["id"].as_str().unwrap();
    let (_, answer) = fhir_answer(
        app.post(
            "/fhir",
            Some(&staff.clinician),
            &heart_rates(&reference(&patient), 130),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["entry"].as_array().unwrap().len(), 130);

    // Without _count a page holds 100, and links on.
    let (_, first) = fhir_answer(
        app.get(
            &format!("/fhir/Observation?patient={pid}"),
            Some(&staff.clinician),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&first);
    assert_eq!(first["entry"].as_array().unwrap().len(), 100);
    assert_eq!(first["link"][1]["relation"], "next");

    // Following next links with _count=50 reads each match once, newest first.
    let mut url = app.url(&format!("/fhir/Observation?patient={pid}&_count=50"));
    let mut values: Vec<f64> = Vec::new();
    let mut pages = 0;
    loop {
        let response = app
            .client
            .get(&url)
            .bearer_auth(&staff.clinician)
            .send()
            .await
            .unwrap();
        let (_, page) = fhir_answer(response, StatusCode::OK).await;
        pages += 1;
        values.extend(
            page["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["resource"]["valueQuantity"]["value"].as_f64().unwrap()),
        );
        match page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
        {
            Some(next) => url = next["url"].as_str().unwrap().to_owned(),
            None => {
                assert_eq!(page["total"], 130, "the last page knows the total");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<f64> = (0..130).rev().map(|i| 60.0 + f64::from(i)).collect();
    assert_eq!(values, expected);

    // _count=0 answers the total alone.
    let (_, count) = fhir_answer(
        app.get(
            &format!("/fhir/Observation?patient={pid}&_count=0"),
            Some(&staff.clinician),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_valid_fhir(&count);
    assert_eq!(count["total"], 130);
    assert!(count.get("entry").is_none());
    let response = app
        .get("/fhir/Observation?_count=many", Some(&staff.clinician))
        .await;
    refused(response, StatusCode::BAD_REQUEST, None).await;
}

#[tokio::test]
async fn everything_answers_a_patient_s_whole_record_as_far_as_the_role_reads() {
    let app = spawn_app().await;
    let staff = Writers::sign_in(&app).await;
    let (_, answer) = fhir_answer(
        app.post("/fhir", Some(&staff.clinician), &record_bundle("Lamarr"))
            .await,
        StatusCode::OK,
    )
    .await;
    let pid = answer["entry"][2]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    let path = format!("/fhir/Patient/{pid}/$everything");
    let (_, bundle) =
        fhir_answer(app.get(&path, Some(&staff.clinician)).await, StatusCode::OK).await;
    assert_valid_fhir(&bundle);
    assert_eq!(bundle["type"], "searchset");
    let kinds: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Patient",
            "Observation",
            "Condition",
            "AllergyIntolerance",
            "MedicationStatement"
        ]
    );
    assert_eq!(bundle["total"], 5);
    for entry in bundle["entry"].as_array().unwrap() {
        assert_eq!(entry["resource"]["meta"]["versionId"], "1");
    }
    // _type narrows it; a scheduler reads demographics only.
    let (_, vitals) = fhir_answer(
        app.get(&format!("{path}?_type=Observation"), Some(&staff.clinician))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(vitals["total"], 1);
    let (_, scheduler) =
        fhir_answer(app.get(&path, Some(&staff.scheduler)).await, StatusCode::OK).await;
    assert_eq!(scheduler["total"], 1);
    assert_eq!(scheduler["entry"][0]["resource"]["resourceType"], "Patient");
    refused(
        app.get(
            "/fhir/Patient/0190e4a2-1234-7abc-8def-0123456789ab/$everything",
            Some(&staff.clinician),
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    let reads = audit(&app, &staff.admin, "fhir.everything").await;
    assert_eq!(reads.len(), 4);
    assert!(
        reads
            .iter()
            .filter(|e| e["outcome"] == "success")
            .all(|e| e["patient_id"] == pid.as_str())
    );
}
