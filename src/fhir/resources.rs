//! Domain records as FHIR R4 resources (STANDARDS.md §1). Optional
//! elements are left out rather than written empty: FHIR forbids empty
//! strings, objects and arrays. Every instant is a dateTime with seconds
//! and `Z`.

use serde_json::{Map, Value, json};

use super::system;
use crate::auth::User;
use crate::ehr::{Allergy, AllergyStatus, Condition, Encounter, Medication, Observation, Patient};
use crate::model::chat::{ChatMessage, SenderRole};
use crate::model::summary::AfterVisitSummary;
use crate::model::timestamp::Timestamp;

/// Builds a JSON object, skipping the fields whose value is `None`.
#[derive(Debug, Default)]
struct Object(Map<String, Value>);

impl Object {
    fn resource(kind: &str, id: &str) -> Self {
        Self::default()
            .with("resourceType", json!(kind))
            .with("id", json!(id))
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    fn maybe(self, key: &str, value: Option<Value>) -> Self {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    /// An array field, left out when empty.
    fn list(self, key: &str, items: Vec<Value>) -> Self {
        self.maybe(key, (!items.is_empty()).then_some(Value::Array(items)))
    }

    fn build(self) -> Value {
        Value::Object(self.0)
    }
}

fn reference(kind: &str, id: &str) -> Value {
    json!({"reference": format!("{kind}/{id}")})
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    Object::default()
        .with("system", json!(system))
        .with("code", json!(code))
        .maybe("display", display.map(|d| json!(d)))
        .build()
}

fn concept(coding: Value) -> Value {
    json!({"coding": [coding]})
}

fn instant(at: Timestamp) -> Value {
    json!(at.rfc3339())
}

fn period(start: Option<Timestamp>, end: Option<Timestamp>) -> Option<Value> {
    let period = Object::default()
        .maybe("start", start.map(instant))
        .maybe("end", end.map(instant))
        .build();
    (period.as_object().is_some_and(|p| !p.is_empty())).then_some(period)
}

/// A non-empty text, or nothing.
fn text(value: Option<&str>) -> Option<Value> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| json!(v))
}

/// Patient (§1.2): MRN, name, gender, birth date, contact and address.
pub fn patient(p: &Patient, base: &str) -> Value {
    let mrn = json!({
        "use": "usual",
        "type": concept(coding(system::IDENTIFIER_TYPE, "MR", Some("Medical record number"))),
        "system": format!("{base}/sid/mrn"),
        "value": p.mrn,
    });
    let name = Object::default()
        .with("use", json!("official"))
        .maybe("family", text(Some(&p.family_name)))
        .list("given", text(Some(&p.given_name)).into_iter().collect())
        .build();
    let telecom: Vec<Value> = [("email", p.email.as_deref()), ("phone", p.phone.as_deref())]
        .into_iter()
        .filter_map(|(kind, value)| text(value).map(|v| json!({"system": kind, "value": v})))
        .collect();
    let address = p.address.as_ref().map(|a| {
        json!({
            "use": "home",
            "line": [a.line.as_str()],
            "city": a.city.as_str(),
            "state": a.state.as_str().to_ascii_uppercase(),
            "postalCode": String::from(a.postal_code.clone()),
            "country": "US",
        })
    });
    Object::resource("Patient", p.id.as_str())
        .with("identifier", json!([mrn]))
        .with("active", json!(true))
        .with("name", json!([name]))
        .list("telecom", telecom)
        .with("gender", json!(p.sex.as_str()))
        .with(
            "birthDate",
            json!(p.birth_date.format("%Y-%m-%d").to_string()),
        )
        .list("address", address.into_iter().collect())
        .build()
}

/// Practitioner: a clinician's account, with the NPI.
pub fn practitioner(user: &User, active: bool) -> Value {
    let npi = user
        .npi
        .as_deref()
        .and_then(|npi| text(Some(npi)))
        .map(|npi| json!({"system": system::NPI, "value": npi}));
    let name = text(Some(&user.display_name)).map(|n| json!({"text": n}));
    Object::resource("Practitioner", user.id.as_str())
        .list("identifier", npi.into_iter().collect())
        .with("active", json!(active))
        .list("name", name.into_iter().collect())
        .build()
}

/// Encounter (§1.1): a virtual visit (class VR) with its period, the
/// clinician as primary performer, the diagnoses in rank order and the
/// status history. `diagnoses` are the encounter's conditions.
pub fn encounter(e: &Encounter, diagnoses: &[Condition]) -> Value {
    let whole = period(e.period_start, e.period_end);
    let participants: Vec<Value> = e
        .practitioner_id
        .iter()
        .map(|id| {
            Object::default()
                .with(
                    "type",
                    json!([concept(coding(
                        system::PARTICIPATION_TYPE,
                        "PPRF",
                        Some("primary performer")
                    ))]),
                )
                .maybe("period", whole.clone())
                .with("individual", reference("Practitioner", id.as_str()))
                .build()
        })
        .collect();
    let mut ranked: Vec<&Condition> = diagnoses.iter().collect();
    ranked.sort_by_key(|c| (c.rank.unwrap_or(i64::MAX), c.id.clone()));
    let diagnosis: Vec<Value> = ranked
        .into_iter()
        .map(|c| {
            Object::default()
                .with("condition", reference("Condition", &c.id))
                .with(
                    "use",
                    concept(coding(system::DIAGNOSIS_ROLE, "billing", Some("Billing"))),
                )
                // positiveInt: a rank below 1 is not a rank.
                .maybe("rank", c.rank.filter(|r| *r >= 1).map(|r| json!(r)))
                .build()
        })
        .collect();
    let history: Vec<Value> = e
        .status_history
        .iter()
        .map(|h| {
            json!({
                "status": h.status,
                "period": period(Some(h.start), h.end),
            })
        })
        .collect();
    let length = e.length_minutes.filter(|m| *m >= 0).map(
        |minutes| json!({"value": minutes, "unit": "min", "system": system::UCUM, "code": "min"}),
    );
    let reason = text(Some(&e.reason)).map(|r| json!({"text": r}));
    Object::resource("Encounter", e.id.as_str())
        .with("status", json!(e.status))
        .list("statusHistory", history)
        .with("class", coding(system::ACT_CODE, "VR", Some("virtual")))
        .with("subject", reference("Patient", e.patient_id.as_str()))
        .list("participant", participants)
        .maybe("period", whole)
        .maybe("length", length)
        .list("reasonCode", reason.into_iter().collect())
        .list("diagnosis", diagnosis)
        .build()
}

/// Displays of the SNOMED CT ACVPU answers (STANDARDS.md §1.4).
fn snomed_display(code: &str) -> Option<&'static str> {
    match code {
        "248234008" => Some("Mentally alert"),
        "130987000" => Some("Acute confusion"),
        "300202002" => Some("Responds to voice"),
        "450847001" => Some("Responds to pain"),
        "422768004" => Some("Unresponsive"),
        _ => None,
    }
}

/// Observation (§1.4): a vital sign, LOINC-coded, with a UCUM quantity or
/// a SNOMED CT coded answer.
pub fn observation(o: &Observation) -> Value {
    let category = concept(coding(
        system::OBSERVATION_CATEGORY,
        &o.category,
        (o.category == "vital-signs").then_some("Vital Signs"),
    ));
    let resource = Object::resource("Observation", &o.id)
        .with("status", json!("final"))
        .with("category", json!([category]))
        .with(
            "code",
            json!({
                "coding": [coding(system::LOINC, &o.code, text(Some(&o.display)).as_ref().and_then(Value::as_str))],
                "text": o.display,
            }),
        )
        .with("subject", reference("Patient", o.patient_id.as_str()))
        .maybe(
            "encounter",
            o.encounter_id
                .as_ref()
                .map(|id| reference("Encounter", id.as_str())),
        )
        .with("effectiveDateTime", instant(o.effective_at));
    let quantity = o.value.filter(|v| v.is_finite()).map(|value| {
        Object::default()
            .with("value", json!(value))
            .maybe("unit", text(o.unit.as_deref()))
            .maybe("system", o.ucum.as_ref().map(|_| json!(system::UCUM)))
            .maybe("code", text(o.ucum.as_deref()))
            .build()
    });
    let answer = o
        .value_code
        .as_deref()
        .map(|code| concept(coding(system::SNOMED, code, snomed_display(code))));
    match (quantity, answer) {
        (Some(q), _) => resource.with("valueQuantity", q),
        (None, Some(a)) => resource.with("valueCodeableConcept", a),
        (None, None) => resource.with(
            "dataAbsentReason",
            concept(coding(
                system::DATA_ABSENT_REASON,
                "unknown",
                Some("Unknown"),
            )),
        ),
    }
    .build()
}

/// Condition: an ICD-10-CM diagnosis of an encounter, or a problem-list entry.
pub fn condition(c: &Condition) -> Value {
    let category = if c.encounter_id.is_some() {
        coding(
            system::CONDITION_CATEGORY,
            "encounter-diagnosis",
            Some("Encounter Diagnosis"),
        )
    } else {
        coding(
            system::CONDITION_CATEGORY,
            "problem-list-item",
            Some("Problem List Item"),
        )
    };
    let display = text(c.display.as_deref());
    let code = Object::default()
        .with(
            "coding",
            json!([coding(
                system::ICD10_CM,
                c.code.as_str(),
                display.as_ref().and_then(Value::as_str)
            )]),
        )
        .maybe("text", display)
        .build();
    Object::resource("Condition", &c.id)
        .with(
            "clinicalStatus",
            concept(coding(system::CONDITION_CLINICAL, &c.clinical_status, None)),
        )
        .with("category", json!([concept(category)]))
        .with("code", code)
        .with("subject", reference("Patient", c.patient_id.as_str()))
        .maybe(
            "encounter",
            c.encounter_id
                .as_ref()
                .map(|id| reference("Encounter", id.as_str())),
        )
        .with("recordedDate", instant(c.recorded_at))
        .build()
}

/// AllergyIntolerance: the substance (with its code and the code's system
/// where known) and the reaction with its severity.
pub fn allergy(a: &Allergy) -> Value {
    let code = Object::default()
        .list(
            "coding",
            text(a.code.as_deref())
                .map(|code| {
                    Object::default()
                        .maybe("system", text(a.code_system.as_deref()))
                        .with("code", code)
                        .build()
                })
                .into_iter()
                .collect(),
        )
        .with("text", json!(a.substance))
        .build();
    // A reaction needs a manifestation: the severity alone has nowhere to go.
    let reaction = text(a.reaction.as_deref()).map(|manifestation| {
        Object::default()
            .with("manifestation", json!([{"text": manifestation}]))
            .maybe("severity", a.severity.map(|s| json!(s.as_str())))
            .build()
    });
    // ait-2: an allergy entered in error has a verification status and no
    // clinical status.
    let (clinical, verification) = match a.status {
        AllergyStatus::EnteredInError => (
            None,
            Some(concept(coding(
                system::ALLERGY_VERIFICATION,
                "entered-in-error",
                Some("Entered in Error"),
            ))),
        ),
        AllergyStatus::Active => (Some(("active", "Active")), None),
        AllergyStatus::Inactive => (Some(("inactive", "Inactive")), None),
        AllergyStatus::Resolved => (Some(("resolved", "Resolved")), None),
    };
    Object::resource("AllergyIntolerance", &a.id)
        .maybe(
            "clinicalStatus",
            clinical.map(|(code, display)| {
                concept(coding(system::ALLERGY_CLINICAL, code, Some(display)))
            }),
        )
        .maybe("verificationStatus", verification)
        .with("code", code)
        .with("patient", reference("Patient", a.patient_id.as_str()))
        .with("recordedDate", instant(a.recorded_at))
        .list("reaction", reaction.into_iter().collect())
        .build()
}

/// MedicationStatement: a medication on the patient's list, by name and
/// RxNorm code where known, with its status.
pub fn medication_statement(m: &Medication) -> Value {
    let coding =
        text(m.code.as_deref()).map(|code| json!({"system": system::RXNORM, "code": code}));
    let medication = Object::default()
        .list("coding", coding.into_iter().collect())
        .with("text", json!(m.name))
        .build();
    Object::resource("MedicationStatement", &m.id)
        .with("status", json!(m.status))
        .with("medicationCodeableConcept", medication)
        .with("subject", reference("Patient", m.patient_id.as_str()))
        .with("dateAsserted", instant(m.recorded_at))
        .build()
}

/// Text made safe for XHTML narrative.
fn xhtml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A generated narrative holding these lines as a list.
fn narrative(lines: &[String]) -> Value {
    let items: String = lines
        .iter()
        .map(|l| format!("<li>{}</li>", xhtml_escape(l)))
        .collect();
    json!({
        "status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>{items}</ul></div>"),
    })
}

/// A section with a title and a list narrative; none when it has no lines.
fn section(title: &str, lines: Vec<String>) -> Option<Value> {
    (!lines.is_empty()).then(|| json!({"title": title, "text": narrative(&lines)}))
}

/// Composition (STANDARDS-2 §2.1): the after-visit summary as a final
/// document, LOINC 34133-9 "Summary of episode note", one section per part.
pub fn composition(s: &AfterVisitSummary) -> Value {
    let author = match &s.clinician_id {
        Some(id) => Object::default()
            .with("reference", json!(format!("Practitioner/{}", id.as_str())))
            .maybe("display", s.clinician_name.as_deref().map(|n| json!(n)))
            .build(),
        None => json!({"display": s.clinic.as_ref().map_or("The clinic", |c| c.name.as_str())}),
    };
    let diagnoses = s
        .diagnoses
        .iter()
        .map(|d| match &d.description {
            Some(description) => format!("{description} ({})", d.code.as_str()),
            None => d.code.as_str().to_owned(),
        })
        .collect();
    let plan = if s.instructions.is_empty() {
        text(Some(&s.plan))
            .map(|_| vec![s.plan.trim().to_owned()])
            .unwrap_or_default()
    } else {
        s.instructions.clone()
    };
    let clinic = s
        .clinic
        .iter()
        .map(|c| match &c.phone {
            Some(phone) => format!("{}: {phone}", c.name),
            None => c.name.clone(),
        })
        .collect();
    let sections: Vec<Value> = [
        section("Diagnoses", diagnoses),
        section("Plan and instructions", plan),
        section("Follow-up", s.follow_up.clone()),
        section("Contact the clinic", clinic),
    ]
    .into_iter()
    .flatten()
    .collect();
    Object::resource("Composition", s.visit_id.as_str())
        .with("status", json!("final"))
        .with(
            "type",
            concept(coding(
                system::LOINC,
                "34133-9",
                Some("Summary of episode note"),
            )),
        )
        .with("subject", reference("Patient", s.patient_id.as_str()))
        .with("encounter", reference("Encounter", s.encounter_id.as_str()))
        .with("date", instant(s.visit_date))
        .with("author", json!([author]))
        .with("title", json!("After-visit summary"))
        .list("section", sections)
        .build()
}

/// Communication (STANDARDS-2 §2.1): one chat message of a visit's call,
/// on its encounter, with its text as the payload. The patient is a
/// Patient and a clinician a Practitioner; other staff and guests have no
/// resource here and are named by display only.
pub fn communication(m: &ChatMessage) -> Value {
    let sender = match m.sender.role {
        SenderRole::Patient => Some("Patient"),
        SenderRole::Clinician => Some("Practitioner"),
        _ => None,
    };
    let display = match m.sender.role {
        SenderRole::Guest => format!("{} (guest)", m.sender.display_name),
        _ => m.sender.display_name.clone(),
    };
    let sender = Object::default()
        .maybe(
            "reference",
            sender.map(|kind| json!(format!("{kind}/{}", m.sender.id))),
        )
        .maybe("display", text(Some(&display)))
        .build();
    Object::resource("Communication", m.id.as_str())
        .with("status", json!("completed"))
        .with(
            "medium",
            json!([concept(coding(
                system::PARTICIPATION_MODE,
                "WRITTEN",
                Some("written")
            ))]),
        )
        .with("subject", reference("Patient", m.patient_id.as_str()))
        .with("encounter", reference("Encounter", m.encounter_id.as_str()))
        .with("sent", instant(m.at))
        .maybe(
            "sender",
            (sender.as_object().is_some_and(|o| !o.is_empty())).then_some(sender),
        )
        .list(
            "payload",
            text(Some(&m.text))
                .map(|t| json!({"contentString": t}))
                .into_iter()
                .collect(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::ehr::{Severity, Sex, StatusPeriod};
    use crate::model::codes::Icd10;
    use crate::model::ids::{EncounterId, PatientId, UserId};

    /// 2025-03-01T10:00:00Z plus `minutes`.
    fn at(minutes: i64) -> Timestamp {
        Timestamp(1_740_823_200_000 + minutes * 60_000)
    }

    /// No empty strings, arrays or objects anywhere.
    fn assert_nothing_empty(value: &Value, path: &str) {
        match value {
            Value::String(s) => assert!(!s.is_empty(), "{path} is empty"),
            Value::Array(a) => {
                assert!(!a.is_empty(), "{path} is empty");
                for (i, v) in a.iter().enumerate() {
                    assert_nothing_empty(v, &format!("{path}[{i}]"));
                }
            }
            Value::Object(o) => {
                assert!(!o.is_empty(), "{path} is empty");
                for (k, v) in o {
                    assert!(!v.is_null(), "{path}.{k} is null");
                    assert_nothing_empty(v, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }

    fn condition_of(encounter: &EncounterId, code: &str, rank: i64) -> Condition {
        Condition {
            id: format!("cond-{rank}"),
            patient_id: PatientId::from_trusted("pat-1".into()),
            encounter_id: Some(encounter.clone()),
            code: Icd10::parse(code).unwrap(),
            display: None,
            rank: Some(rank),
            clinical_status: "active".into(),
            recorded_at: at(18),
            ended: None,
        }
    }

    #[test]
    fn a_finished_visit_is_a_virtual_encounter_with_ranked_billing_diagnoses() {
        let id = EncounterId::from_trusted("enc-1".into());
        let e = Encounter {
            id: id.clone(),
            patient_id: PatientId::from_trusted("pat-1".into()),
            status: "finished".into(),
            reason: "Sore throat".into(),
            practitioner_id: Some(UserId::from_trusted("pr-1".into())),
            period_start: Some(at(0)),
            period_end: Some(at(18)),
            length_minutes: Some(18),
            patient_location: Some("home".into()),
            created_at: at(-30),
            status_history: vec![
                StatusPeriod {
                    status: "planned".into(),
                    start: at(-30),
                    end: Some(at(-10)),
                },
                StatusPeriod {
                    status: "arrived".into(),
                    start: at(-10),
                    end: Some(at(0)),
                },
                StatusPeriod {
                    status: "in-progress".into(),
                    start: at(0),
                    end: Some(at(18)),
                },
                StatusPeriod {
                    status: "finished".into(),
                    start: at(18),
                    end: None,
                },
            ],
        };
        let diagnoses = [condition_of(&id, "R50.9", 2), condition_of(&id, "J06.9", 1)];
        let json = encounter(&e, &diagnoses);
        assert_nothing_empty(&json, "Encounter");
        assert_eq!(json["class"]["code"], "VR");
        assert_eq!(json["class"]["system"], system::ACT_CODE);
        assert_eq!(json["period"]["start"], "2025-03-01T10:00:00Z");
        assert_eq!(json["period"]["end"], "2025-03-01T10:18:00Z");
        assert_eq!(
            json["length"],
            json!({"value": 18, "unit": "min", "system": system::UCUM, "code": "min"})
        );
        assert_eq!(
            json["participant"][0]["individual"]["reference"],
            "Practitioner/pr-1"
        );
        assert_eq!(
            json["participant"][0]["type"][0]["coding"][0]["code"],
            "PPRF"
        );
        assert_eq!(
            json["diagnosis"][0]["condition"]["reference"],
            "Condition/cond-1"
        );
        assert_eq!(json["diagnosis"][0]["rank"], 1);
        assert_eq!(json["diagnosis"][1]["rank"], 2);
        assert_eq!(json["diagnosis"][0]["use"]["coding"][0]["code"], "billing");
        assert_eq!(json["statusHistory"].as_array().unwrap().len(), 4);
        assert_eq!(
            json["statusHistory"][3],
            json!({"status": "finished", "period": {"start": "2025-03-01T10:18:00Z"}})
        );
    }

    #[test]
    fn a_planned_encounter_leaves_out_what_has_not_happened() {
        let e = Encounter {
            id: EncounterId::from_trusted("enc-2".into()),
            patient_id: PatientId::from_trusted("pat-1".into()),
            status: "planned".into(),
            reason: "  ".into(),
            practitioner_id: None,
            period_start: None,
            period_end: None,
            length_minutes: None,
            patient_location: None,
            created_at: at(0),
            status_history: vec![],
        };
        let json = encounter(&e, &[]);
        assert_nothing_empty(&json, "Encounter");
        for absent in [
            "participant",
            "period",
            "length",
            "reasonCode",
            "diagnosis",
            "statusHistory",
        ] {
            assert!(json.get(absent).is_none(), "{absent}");
        }
    }

    fn vital(value: Option<f64>, value_code: Option<&str>) -> Observation {
        Observation {
            id: "obs-1".into(),
            patient_id: PatientId::from_trusted("pat-1".into()),
            encounter_id: None,
            category: "vital-signs".into(),
            code: "8867-4".into(),
            display: "Heart rate".into(),
            value,
            value_code: value_code.map(str::to_owned),
            unit: value.map(|_| "beats/minute".to_owned()),
            ucum: value.map(|_| "/min".to_owned()),
            effective_at: at(5),
        }
    }

    #[test]
    fn vital_signs_carry_loinc_and_ucum() {
        let json = observation(&vital(Some(88.0), None));
        assert_nothing_empty(&json, "Observation");
        assert_eq!(
            json["code"]["coding"][0],
            json!({"system": system::LOINC, "code": "8867-4", "display": "Heart rate"})
        );
        assert_eq!(json["category"][0]["coding"][0]["code"], "vital-signs");
        assert_eq!(
            json["valueQuantity"],
            json!({"value": 88.0, "unit": "beats/minute", "system": system::UCUM, "code": "/min"})
        );
        assert_eq!(json["effectiveDateTime"], "2025-03-01T10:05:00Z");
        assert!(json.get("encounter").is_none());
        let coded = observation(&vital(None, Some("248234008")));
        assert_eq!(
            coded["valueCodeableConcept"]["coding"][0]["system"],
            system::SNOMED
        );
        assert!(coded.get("valueQuantity").is_none());
        let absent = observation(&vital(None, None));
        assert_eq!(absent["dataAbsentReason"]["coding"][0]["code"], "unknown");
    }

    #[test]
    fn patients_and_practitioners_have_identifiers() {
        let p = Patient {
            id: PatientId::from_trusted("pat-1".into()),
            mrn: "MRN0000001".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
            sex: Sex::Female,
            email: None,
            phone: Some("+1 217 555 0100".into()),
            address: None,
            insurance: None,
            created_at: at(0),
        };
        let json = patient(&p, "https://ehr.example.org/fhir");
        assert_nothing_empty(&json, "Patient");
        assert_eq!(json["identifier"][0]["value"], "MRN0000001");
        assert_eq!(
            json["name"][0],
            json!({"use": "official", "family": "Lovelace", "given": ["Ada"]})
        );
        assert_eq!(
            json["telecom"],
            json!([{"system": "phone", "value": "+1 217 555 0100"}])
        );
        assert_eq!(
            (json["gender"].as_str(), json["birthDate"].as_str()),
            (Some("female"), Some("1985-12-10"))
        );
        assert!(json.get("address").is_none());
        let user = User {
            id: UserId::from_trusted("pr-1".into()),
            username: "dr.grey".into(),
            role: Role::Clinician,
            display_name: "Dr Grey".into(),
            npi: Some("1234567893".into()),
        };
        let json = practitioner(&user, true);
        assert_eq!(
            json["identifier"][0],
            json!({"system": system::NPI, "value": "1234567893"})
        );
        assert_eq!(json["name"][0]["text"], "Dr Grey");
    }

    #[test]
    fn conditions_and_allergies_name_their_codes() {
        let c = condition_of(&EncounterId::from_trusted("enc-1".into()), "J06.9", 1);
        let json = condition(&c);
        assert_nothing_empty(&json, "Condition");
        assert_eq!(
            json["code"]["coding"][0],
            json!({"system": system::ICD10_CM, "code": "J06.9"})
        );
        assert_eq!(
            json["category"][0]["coding"][0]["code"],
            "encounter-diagnosis"
        );
        assert_eq!(json["encounter"]["reference"], "Encounter/enc-1");
        let a = Allergy {
            id: "al-1".into(),
            patient_id: PatientId::from_trusted("pat-1".into()),
            substance: "Penicillin".into(),
            code: None,
            code_system: None,
            reaction: None,
            severity: Some(Severity::Severe),
            status: AllergyStatus::Active,
            recorded_at: at(0),
            ended: None,
        };
        let json = allergy(&a);
        assert_nothing_empty(&json, "AllergyIntolerance");
        assert_eq!(json["code"], json!({"text": "Penicillin"}));
        assert!(json.get("reaction").is_none());
        let json = allergy(&Allergy {
            reaction: Some("Hives".into()),
            code: Some("7980".into()),
            ..a.clone()
        });
        assert_eq!(
            json["reaction"][0],
            json!({"manifestation": [{"text": "Hives"}], "severity": "severe"})
        );
        assert_eq!(json["code"]["coding"][0]["code"], "7980");
        assert_eq!(json["clinicalStatus"]["coding"][0]["code"], "active");
        let json = allergy(&Allergy {
            status: AllergyStatus::EnteredInError,
            ..a
        });
        assert!(json.get("clinicalStatus").is_none());
        assert_eq!(
            json["verificationStatus"]["coding"][0]["code"],
            "entered-in-error"
        );
    }
}
