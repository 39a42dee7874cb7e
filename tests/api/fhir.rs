//! The FHIR R4 facade: resources and Bundles checked with the standard's
//! own validator (`tests/fhir_validate.py`, fhir.resources' R4B models),
//! search parameters, a patient token's reach, OperationOutcome errors and
//! the audit trail.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::app::Visit;
use crate::helpers::{TestApp, ada, assert_valid_fhir, spawn_app};

/// Asserts a FHIR JSON answer with `status`, returning its body.
async fn fhir_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/fhir+json"),
        "{content_type}"
    );
    response.json().await.expect("FHIR JSON")
}

/// A valid resource of `kind` read with `token`.
async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let body = fhir_body(app.get(path, Some(token)).await, StatusCode::OK).await;
    assert_valid_fhir(&body);
    body
}

/// A valid searchset Bundle; returns its resources.
async fn search(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let bundle = fhir_body(app.get(path, Some(token)).await, StatusCode::OK).await;
    assert_valid_fhir(&bundle);
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["link"][0]["relation"], "self");
    assert_eq!(bundle["link"][0]["url"], app.url(path));
    let entries = bundle
        .get("entry")
        .map(|e| e.as_array().expect("entry is a list").clone())
        .unwrap_or_default();
    assert_eq!(bundle["total"], entries.len(), "{path}");
    for entry in &entries {
        assert_eq!(entry["search"]["mode"], "match");
        let resource = &entry["resource"];
        let url = app.url(&format!(
            "/fhir/{}/{}",
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        ));
        assert_eq!(entry["fullUrl"], url);
    }
    entries.into_iter().map(|e| e["resource"].clone()).collect()
}

async fn outcome(response: Response, status: StatusCode, code: &str) -> Value {
    let body = fhir_body(response, status).await;
    assert_valid_fhir(&body);
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["severity"], "error");
    assert_eq!(body["issue"][0]["code"], code);
    body
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("id")
}

/// A clinic with one clinician, so that Practitioner searches find exactly
/// one: a queue, a scheduler, and the clinician with its user id.
struct FhirClinic {
    queue_id: String,
    scheduler: String,
    clinician: String,
    clinician_id: String,
}

impl FhirClinic {
    async fn open(app: &TestApp) -> Self {
        let scheduler = app.staff_token("fhir.sched", "scheduler").await;
        let clinician = app.staff_token("fhir.doc", "clinician").await;
        let clinician_id = app.user_id(&scheduler, "fhir.doc").await;
        let queue_id = app.create_queue(&scheduler, "FHIR clinic").await;
        Self {
            queue_id,
            scheduler,
            clinician,
            clinician_id,
        }
    }

    async fn patient(&self, app: &TestApp, given: &str, family: &str, born: &str) -> Value {
        let mut body = ada();
        body["given_name"] = json!(given);
        body["family_name"] = json!(family);
        body["birth_date"] = json!(born);
        app.create_patient(&self.scheduler, &body).await
    }

    /// Books a visit for `patient`.
    async fn book(&self, app: &TestApp, patient: &Value) -> Visit {
        app.book_visit(&self.scheduler, patient, &self.queue_id, "Sore throat")
            .await
    }

    /// Books, checks in with vitals, admits and closes a visit with two diagnoses.
    async fn closed_visit(&self, app: &TestApp, patient: &Value) -> Visit {
        self.closed_visit_with(app, patient, &["J06.9", "R50.9"])
            .await
    }

    /// A closed visit, as `closed_visit`, with these diagnoses.
    async fn closed_visit_with(&self, app: &TestApp, patient: &Value, diagnoses: &[&str]) -> Visit {
        let visit = self.book(app, patient).await;
        let check_in = json!({
            "consent_to_telehealth": true,
            "symptoms": ["sore throat", "fever"],
            "vitals": {"heart_rate": 88, "respiratory_rate": 16, "spo2": 97, "systolic_bp": 122,
                       "temperature_c": 38.1, "consciousness": "alert"}
        });
        let response = app.check_in(&visit, &check_in).await;
        assert_eq!(response.status(), StatusCode::OK, "check-in");
        let response = app.admit(&visit, &self.clinician).await;
        assert_eq!(response.status(), StatusCode::OK, "admit");
        let close = json!({
            "diagnoses": diagnoses,
            "note": {"subjective": "Sore throat", "objective": "Red pharynx", "assessment": "Viral URI", "plan": "Rest"},
            "total_minutes": 18
        });
        let response = app.close(&visit, &self.clinician, &close).await;
        assert_eq!(response.status(), StatusCode::OK, "close");
        visit
    }

    async fn allergy(&self, app: &TestApp, patient: &Value) {
        let body = json!({"substance": "Penicillin", "reaction": "Hives", "severity": "moderate"});
        let path = format!("/api/v1/patients/{}/allergies", id(patient));
        let response = app.post(&path, Some(&self.clinician), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn the_capability_statement_is_valid_fhir() {
    let app = spawn_app().await;
    let body = fhir_body(app.get("/fhir/metadata", None).await, StatusCode::OK).await;
    assert_valid_fhir(&body);
    assert_eq!(body["resourceType"], "CapabilityStatement");
    assert_eq!(body["fhirVersion"], "4.0.1");
    let encounter = body["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Encounter")
        .expect("Encounter is served");
    let params: Vec<&str> = encounter["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["patient", "status", "date"]);
}

#[tokio::test]
async fn a_closed_visit_reads_as_valid_fhir_resources() {
    let app = spawn_app().await;
    let clinic = FhirClinic::open(&app).await;
    let patient = clinic.patient(&app, "Ada", "Lovelace", "1985-12-10").await;
    let visit = clinic.closed_visit(&app, &patient).await;
    clinic.allergy(&app, &patient).await;
    let token = &clinic.clinician;
    let pid = id(&patient);

    let fhir_patient = read(&app, token, &format!("/fhir/Patient/{pid}")).await;
    assert_eq!(fhir_patient["identifier"][0]["value"], patient["mrn"]);
    assert_eq!(fhir_patient["birthDate"], "1985-12-10");
    assert_eq!(fhir_patient["gender"], "female");

    let encounter_id = &visit.encounter_id;
    let encounter = read(&app, token, &format!("/fhir/Encounter/{encounter_id}")).await;
    assert_eq!(encounter["status"], "finished");
    assert_eq!(
        encounter["class"]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    );
    assert_eq!(encounter["class"]["code"], "VR");
    assert_eq!(encounter["subject"]["reference"], format!("Patient/{pid}"));
    assert_eq!(
        encounter["participant"][0]["individual"]["reference"],
        format!("Practitioner/{}", clinic.clinician_id)
    );
    assert_eq!(
        encounter["participant"][0]["type"][0]["coding"][0]["code"],
        "PPRF"
    );
    assert_eq!(encounter["length"]["value"], 18);
    assert_eq!(encounter["length"]["code"], "min");
    for stamp in [&encounter["period"]["start"], &encounter["period"]["end"]] {
        let stamp = stamp.as_str().expect("the period has both ends");
        assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    }
    let history: Vec<&str> = encounter["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["planned", "arrived", "in-progress", "finished"]);
    let diagnoses = encounter["diagnosis"].as_array().unwrap();
    assert_eq!(diagnoses.len(), 2);
    assert_eq!(diagnoses[0]["rank"], 1);
    assert_eq!(diagnoses[1]["rank"], 2);
    assert_eq!(diagnoses[0]["use"]["coding"][0]["code"], "billing");

    // The primary diagnosis is the first Condition referenced.
    let primary = diagnoses[0]["condition"]["reference"].as_str().unwrap();
    let condition = read(&app, token, &format!("/fhir/{primary}")).await;
    assert_eq!(condition["code"]["coding"][0]["code"], "J06.9");
    assert_eq!(
        condition["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-10-cm"
    );
    let conditions = search(
        &app,
        token,
        &format!("/fhir/Condition?encounter=Encounter/{encounter_id}"),
    )
    .await;
    assert_eq!(conditions.len(), 2);

    let observations = search(&app, token, &format!("/fhir/Observation?patient={pid}")).await;
    let mut codes: Vec<&str> = observations
        .iter()
        .map(|o| o["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "2708-6", "67775-7", "8310-5", "8480-6", "88330-6", "8867-4", "9279-1"
        ]
    );
    let heart = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "8867-4")
        .unwrap();
    assert_eq!(heart["valueQuantity"]["value"], 88.0);
    assert_eq!(heart["valueQuantity"]["code"], "/min");
    assert_eq!(heart["category"][0]["coding"][0]["code"], "vital-signs");
    read(&app, token, &format!("/fhir/Observation/{}", id(heart))).await;

    let allergies = search(
        &app,
        token,
        &format!("/fhir/AllergyIntolerance?patient=Patient/{pid}"),
    )
    .await;
    assert_eq!(allergies.len(), 1);
    assert_eq!(allergies[0]["code"]["text"], "Penicillin");
    assert_eq!(allergies[0]["reaction"][0]["severity"], "moderate");
    read(
        &app,
        token,
        &format!("/fhir/AllergyIntolerance/{}", id(&allergies[0])),
    )
    .await;

    let practitioner = read(
        &app,
        token,
        &format!("/fhir/Practitioner/{}", clinic.clinician_id),
    )
    .await;
    assert_eq!(practitioner["identifier"][0]["value"], "1234567893");
    let practitioners = search(&app, token, "/fhir/Practitioner").await;
    assert_eq!(practitioners.len(), 1, "only clinicians are practitioners");
}

#[tokio::test]
async fn search_parameters_filter_the_matches() {
    let app = spawn_app().await;
    let clinic = FhirClinic::open(&app).await;
    let ada = clinic.patient(&app, "Ada", "Lovelace", "1985-12-10").await;
    let grace = clinic.patient(&app, "Grace", "Hopper", "1906-12-09").await;
    clinic.closed_visit(&app, &ada).await;
    let booked = clinic.book(&app, &grace).await;
    let token = &clinic.clinician;
    let names = |found: Vec<Value>| -> Vec<String> {
        found
            .iter()
            .map(|p| p["name"][0]["family"].as_str().unwrap().to_owned())
            .collect()
    };

    assert_eq!(
        names(search(&app, token, "/fhir/Patient?name=lov").await),
        ["Lovelace"]
    );
    assert_eq!(
        names(search(&app, token, "/fhir/Patient?name=GRA").await),
        ["Hopper"]
    );
    assert_eq!(
        names(search(&app, token, "/fhir/Patient?birthdate=1906-12-09").await),
        ["Hopper"]
    );
    assert_eq!(
        names(search(&app, token, "/fhir/Patient?birthdate=1985").await),
        ["Lovelace"]
    );
    assert_eq!(
        names(search(&app, token, "/fhir/Patient?birthdate=gt1950-01-01&name=a").await),
        ["Lovelace"]
    );
    assert!(
        search(&app, token, "/fhir/Patient?name=zzz")
            .await
            .is_empty()
    );
    assert_eq!(search(&app, token, "/fhir/Patient").await.len(), 2);

    let finished = search(&app, token, "/fhir/Encounter?status=finished").await;
    assert_eq!(finished.len(), 1);
    assert_eq!(
        finished[0]["subject"]["reference"],
        format!("Patient/{}", id(&ada))
    );
    let planned = search(&app, token, "/fhir/Encounter?status=planned").await;
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["id"], booked.encounter_id);
    let either = search(&app, token, "/fhir/Encounter?status=planned,finished").await;
    assert_eq!(either.len(), 2);
    let grace_encounters = search(
        &app,
        token,
        &format!("/fhir/Encounter?patient={}", id(&grace)),
    )
    .await;
    assert_eq!(grace_encounters.len(), 1);

    // Only the consult that happened has a period to match dates against.
    let today = chrono::Utc::now().date_naive();
    let dated = search(&app, token, &format!("/fhir/Encounter?date={today}")).await;
    assert_eq!(dated.len(), 1);
    assert_eq!(dated[0]["status"], "finished");
    assert_eq!(
        search(
            &app,
            token,
            "/fhir/Encounter?date=ge2000-01-01&date=lt2000-06-01"
        )
        .await
        .len(),
        0
    );
    assert_eq!(
        search(&app, token, "/fhir/Encounter?date=gt2000-01-01")
            .await
            .len(),
        1
    );

    let heart = search(
        &app,
        token,
        &format!(
            "/fhir/Observation?patient={}&code=http://loinc.org|8867-4",
            id(&ada)
        ),
    )
    .await;
    assert_eq!(heart.len(), 1);
    assert_eq!(heart[0]["code"]["coding"][0]["code"], "8867-4");
    let two = search(&app, token, "/fhir/Observation?code=8867-4,9279-1").await;
    assert_eq!(two.len(), 2);
    let vitals = search(&app, token, "/fhir/Observation?category=vital-signs").await;
    assert_eq!(vitals.len(), 6);
    assert!(
        search(&app, token, "/fhir/Observation?category=laboratory")
            .await
            .is_empty()
    );
    assert!(
        search(
            &app,
            token,
            &format!("/fhir/Observation?patient={}", id(&grace))
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn an_encounter_search_gives_each_encounter_its_own_diagnoses_and_history() {
    let app = spawn_app().await;
    let clinic = FhirClinic::open(&app).await;
    let ada = clinic.patient(&app, "Ada", "Lovelace", "1985-12-10").await;
    let grace = clinic.patient(&app, "Grace", "Hopper", "1906-12-09").await;
    let first = clinic
        .closed_visit_with(&app, &ada, &["J06.9", "R50.9"])
        .await;
    let second = clinic.closed_visit_with(&app, &grace, &["J02.9"]).await;
    let third = clinic
        .closed_visit_with(&app, &ada, &["R05.9", "J06.9", "R50.9"])
        .await;
    let booked = clinic.book(&app, &grace).await;
    let token = &clinic.clinician;

    let found = search(&app, token, "/fhir/Encounter").await;
    assert_eq!(found.len(), 4);
    let finished = ["planned", "arrived", "in-progress", "finished"];
    let expected: [(&Visit, &[&str], &[&str]); 4] = [
        (&first, &["J06.9", "R50.9"], &finished),
        (&second, &["J02.9"], &finished),
        (&third, &["R05.9", "J06.9", "R50.9"], &finished),
        (&booked, &[], &["planned"]),
    ];
    for (visit, codes, statuses) in expected {
        let encounter = found
            .iter()
            .find(|e| e["id"] == visit.encounter_id.as_str())
            .expect("every encounter is found");
        let history: Vec<&str> = encounter["statusHistory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(history, statuses);
        let mut found_codes = Vec::new();
        for diagnosis in encounter["diagnosis"].as_array().into_iter().flatten() {
            let reference = diagnosis["condition"]["reference"].as_str().unwrap();
            let condition = read(&app, token, &format!("/fhir/{reference}")).await;
            assert_eq!(
                condition["encounter"]["reference"],
                format!("Encounter/{}", visit.encounter_id)
            );
            found_codes.push(condition["code"]["coding"][0]["code"].clone());
        }
        assert_eq!(found_codes, codes, "in rank order");
    }
}

#[tokio::test]
async fn a_patient_token_reaches_its_own_record_only() {
    let app = spawn_app().await;
    let clinic = FhirClinic::open(&app).await;
    let ada = clinic.patient(&app, "Ada", "Lovelace", "1985-12-10").await;
    let grace = clinic.patient(&app, "Grace", "Hopper", "1906-12-09").await;
    let ada_visit = clinic.closed_visit(&app, &ada).await;
    let grace_visit = clinic.closed_visit(&app, &grace).await;
    clinic.allergy(&app, &grace).await;
    let token = &ada_visit.patient_token;

    let own = read(&app, token, &format!("/fhir/Patient/{}", id(&ada))).await;
    assert_eq!(own["id"], ada["id"]);
    read(
        &app,
        token,
        &format!("/fhir/Encounter/{}", ada_visit.encounter_id),
    )
    .await;
    read(
        &app,
        token,
        &format!("/fhir/Practitioner/{}", clinic.clinician_id),
    )
    .await;

    outcome(
        app.get(&format!("/fhir/Patient/{}", id(&grace)), Some(token))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    outcome(
        app.get(
            &format!("/fhir/Encounter/{}", grace_visit.encounter_id),
            Some(token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Searches are narrowed to the patient's own record.
    let patients = search(&app, token, "/fhir/Patient").await;
    assert_eq!(patients.len(), 1);
    assert_eq!(patients[0]["id"], ada["id"]);
    let encounters = search(&app, token, "/fhir/Encounter").await;
    assert_eq!(encounters.len(), 1);
    assert_eq!(encounters[0]["id"], ada_visit.encounter_id);
    // Six vital signs and the NEWS2 score triage made of them.
    assert_eq!(search(&app, token, "/fhir/Observation").await.len(), 7);
    for kind in [
        "Encounter",
        "Observation",
        "Condition",
        "AllergyIntolerance",
    ] {
        let path = format!("/fhir/{kind}?patient=Patient/{}", id(&grace));
        assert!(search(&app, token, &path).await.is_empty(), "{kind}");
    }
    assert!(
        search(&app, token, "/fhir/AllergyIntolerance")
            .await
            .is_empty()
    );
    assert_eq!(search(&app, token, "/fhir/Practitioner").await.len(), 1);
}

#[tokio::test]
async fn errors_answer_operation_outcomes() {
    let app = spawn_app().await;
    let token = app.staff_token("fhir.doc", "clinician").await;
    let unknown = uuid::Uuid::now_v7();

    for path in [
        format!("/fhir/Patient/{unknown}"),
        format!("/fhir/Encounter/{unknown}"),
        format!("/fhir/Observation/{unknown}"),
        format!("/fhir/Practitioner/{unknown}"),
        "/fhir/Condition/not-a-known-id".to_owned(),
    ] {
        outcome(
            app.get(&path, Some(&token)).await,
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;
    }
    outcome(
        app.get("/fhir/Coverage/1", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not-supported",
    )
    .await;
    outcome(
        app.get("/fhir/Patient?birthdate=notadate", Some(&token))
            .await,
        StatusCode::BAD_REQUEST,
        "value",
    )
    .await;
    outcome(
        app.get("/fhir/Encounter?status=done", Some(&token)).await,
        StatusCode::BAD_REQUEST,
        "value",
    )
    .await;
    outcome(
        app.get("/fhir/Patient?family=Lovelace", Some(&token)).await,
        StatusCode::BAD_REQUEST,
        "not-supported",
    )
    .await;
    outcome(
        app.get("/fhir/Patient/x/_history", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    outcome(
        app.post(
            "/fhir/Encounter",
            Some(&token),
            &json!({"resourceType": "Encounter"}),
        )
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
    )
    .await;
    let login = app.get("/fhir/Patient", None).await;
    assert_eq!(login.headers()["www-authenticate"], "Bearer");
    outcome(login, StatusCode::UNAUTHORIZED, "login").await;
    outcome(
        app.get("/fhir/Patient/x", Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "login",
    )
    .await;
}

#[tokio::test]
async fn fhir_reads_and_searches_are_in_the_audit_trail() {
    let app = spawn_app().await;
    let clinic = FhirClinic::open(&app).await;
    let ada = clinic.patient(&app, "Ada", "Lovelace", "1985-12-10").await;
    let visit = clinic.closed_visit(&app, &ada).await;
    let pid = id(&ada);
    read(&app, &clinic.clinician, &format!("/fhir/Patient/{pid}")).await;
    search(&app, &clinic.clinician, "/fhir/Observation?code=8867-4").await;
    let patient_token = &visit.patient_token;
    search(&app, patient_token, "/fhir/Encounter").await;

    let admin = app.admin_token().await;
    let events = app.audit_trail(&admin, pid).await;
    let has = |action: &str, kind: &str, role: &str| {
        events.iter().any(|e| {
            e["action"] == action
                && e["resource_type"] == kind
                && e["actor_role"] == role
                && e["patient_id"] == pid
                && e["outcome"] == "success"
        })
    };
    assert!(has("fhir.read", "Patient", "clinician"));
    assert!(has("fhir.search", "Observation", "clinician"));
    assert!(has("fhir.search", "Encounter", "patient"));
    let read_event = events.iter().find(|e| e["action"] == "fhir.read").unwrap();
    assert_eq!(read_event["resource_id"], pid);
}
