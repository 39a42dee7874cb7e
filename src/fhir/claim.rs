//! Billing's claims as FHIR R4 `Claim` resources (STANDARDS.md §1.5): the
//! professional claim with its diagnoses, service lines (CPT with
//! modifiers, place of service, charges) and total. A claim still in
//! `needs_review` is a `draft`; every other one is `active`.

use serde_json::{Map, Value, json};
use strum::IntoEnumIterator;

use super::{FhirError, system};
use crate::billing::{Claim, ClaimStatus, Modifier};

const CLAIM_TYPE: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
const PROCESS_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/processpriority";
const CLAIM_STATUS: &str = "http://hl7.org/fhir/fm-status";
const CPT: &str = "http://www.ama-assn.org/go/cpt";
const HCPCS: &str = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
const PLACE_OF_SERVICE: &str =
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set";

/// `Claim.status` codes (R4 `fm-status`).
pub const CLAIM_STATUSES: [&str; 4] = ["active", "cancelled", "draft", "entered-in-error"];

pub fn fhir_status(status: ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::NeedsReview => "draft",
        _ => "active",
    }
}

/// The stored statuses whose claims read as any of these `fm-status` codes.
pub fn stored_statuses(fhir: &[String]) -> Vec<ClaimStatus> {
    ClaimStatus::iter()
        .filter(|status| fhir.iter().any(|code| code == fhir_status(*status)))
        .collect()
}

/// The `status` search parameter of Claim: codes of `fm-status`.
pub fn statuses(value: &str) -> Result<Vec<String>, FhirError> {
    let mut statuses = Vec::new();
    for item in value.split(',').map(str::trim) {
        let (sys, code) = match item.split_once('|') {
            Some((sys, code)) => (Some(sys), code),
            None => (None, item),
        };
        if !CLAIM_STATUSES.contains(&code) {
            return Err(FhirError::InvalidSearch(
                "search parameter status: must be a claim status: active, cancelled, draft or entered-in-error"
                    .to_owned(),
            ));
        }
        if sys.is_none_or(|s| s.is_empty() || s == CLAIM_STATUS) {
            statuses.push(code.to_owned());
        }
    }
    Ok(statuses)
}

fn money(cents: i64) -> Value {
    json!({"value": cents as f64 / 100.0, "currency": "USD"})
}

fn modifier(m: &Modifier) -> Value {
    let system = if m.is_cpt() { CPT } else { HCPCS };
    json!({"coding": [{"system": system, "code": m.as_str()}]})
}

/// The claim as FHIR. `provider` is the practitioner who held the consult.
pub fn claim(c: &Claim, provider: Option<&str>) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    put("resourceType", json!("Claim"));
    put("id", json!(c.id.as_str()));
    put(
        "identifier",
        json!([{"system": "urn:bedside:claim-number", "value": c.number}]),
    );
    put("status", json!(fhir_status(c.status)));
    put(
        "type",
        json!({"coding": [{"system": CLAIM_TYPE, "code": "professional"}]}),
    );
    put("use", json!("claim"));
    put(
        "patient",
        json!({"reference": format!("Patient/{}", c.patient_id)}),
    );
    put("created", json!(c.created_at.rfc3339()));
    put(
        "provider",
        match provider {
            Some(id) => json!({"reference": format!("Practitioner/{id}")}),
            None => json!({"display": "billing provider"}),
        },
    );
    put(
        "priority",
        json!({"coding": [{"system": PROCESS_PRIORITY, "code": "normal"}]}),
    );
    let coverage = match &c.payer {
        Some(p) => json!({
            "identifier": {"system": format!("urn:bedside:payer:{}", p.payer_id), "value": p.member_id},
            "display": p.payer_name,
        }),
        None => json!({"display": "no insurance on file"}),
    };
    put(
        "insurance",
        json!([{"sequence": 1, "focal": true, "coverage": coverage}]),
    );
    let diagnoses: Vec<Value> = c
        .diagnoses
        .iter()
        .enumerate()
        .map(|(i, dx)| {
            json!({
                "sequence": i + 1,
                "diagnosisCodeableConcept": {"coding": [{"system": system::ICD10_CM, "code": dx.as_str()}]},
            })
        })
        .collect();
    if !diagnoses.is_empty() {
        put("diagnosis", Value::Array(diagnoses));
    }
    let items: Vec<Value> = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut item = json!({
                "sequence": i + 1,
                "diagnosisSequence": line.diagnosis_pointers,
                "productOrService": {"coding": [{"system": CPT, "code": line.cpt.as_str()}]},
                "servicedDate": c.service_date.format("%Y-%m-%d").to_string(),
                "locationCodeableConcept": {"coding": [{
                    "system": PLACE_OF_SERVICE,
                    "code": c.place_of_service.code(),
                    "display": c.place_of_service.display(),
                }]},
                "quantity": {"value": line.units},
                "unitPrice": money(line.charge_cents),
                "net": money(line.charge_cents * line.units),
                "encounter": [{"reference": format!("Encounter/{}", c.encounter_id)}],
            });
            if line.cpt.is_hcpcs() {
                item["productOrService"]["coding"][0]["system"] = json!(HCPCS);
            }
            if !line.modifiers.is_empty() {
                item["modifier"] = Value::Array(line.modifiers.iter().map(modifier).collect());
            }
            item
        })
        .collect();
    if !items.is_empty() {
        put("item", Value::Array(items));
    }
    put("total", money(Claim::sum_of_lines(&c.lines)));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_statuses_are_fm_status_codes() {
        assert_eq!(statuses("active,draft").unwrap(), vec!["active", "draft"]);
        assert_eq!(
            statuses("http://hl7.org/fhir/fm-status|draft").unwrap(),
            vec!["draft"]
        );
        assert!(statuses("other|draft").unwrap().is_empty());
        assert!(statuses("paid").is_err());
        assert_eq!(fhir_status(ClaimStatus::NeedsReview), "draft");
        assert_eq!(fhir_status(ClaimStatus::Paid), "active");
    }

    #[test]
    fn fm_status_codes_select_stored_statuses() {
        let codes = |list: &[&str]| list.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            stored_statuses(&codes(&["draft"])),
            vec![ClaimStatus::NeedsReview]
        );
        let active = stored_statuses(&codes(&["active"]));
        assert_eq!(active.len(), ClaimStatus::iter().count() - 1);
        assert!(!active.contains(&ClaimStatus::NeedsReview));
        assert_eq!(
            stored_statuses(&codes(&["draft", "active"])).len(),
            ClaimStatus::iter().count()
        );
        assert!(stored_statuses(&codes(&["cancelled", "entered-in-error"])).is_empty());
        assert!(stored_statuses(&[]).is_empty());
    }
}
