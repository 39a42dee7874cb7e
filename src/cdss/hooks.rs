//! CDS Hooks 2.0: the services Bedside offers, the shape of a hook call,
//! and reading a patient's data out of the prefetch a client sends.

use serde::Deserialize;
use serde_json::{Value, json};

use super::rules::Taken;
use super::rules::{AllergyFact, MedicationFact};
use crate::ehr::Vitals;
use crate::model::timestamp::Timestamp;

/// The hooks Bedside answers, by service id.
pub const SERVICES: [(&str, &str, &str, &str); 3] = [
    (
        "bedside-patient-view",
        "patient-view",
        "Bedside chart review",
        "Vital-sign risk (NEWS2), triage red flags, and allergy and interaction warnings for the patient's current medications.",
    ),
    (
        "bedside-encounter-start",
        "encounter-start",
        "Bedside encounter start",
        "At the start of a (virtual) encounter: NEWS2 from the latest vitals, red-flag symptoms, allergy and interaction warnings.",
    ),
    (
        "bedside-order-sign",
        "order-sign",
        "Bedside medication safety",
        "Checks draft medication orders against the patient's allergies (with cross-reactivity) and current medications.",
    ),
];

/// The hook a service id serves.
pub fn hook_of(service: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(id, ..)| *id == service)
        .map(|(_, hook, ..)| *hook)
}

/// `GET /cds-services`.
pub fn discovery() -> Value {
    let prefetch = json!({
        "patient": "Patient/{{context.patientId}}",
        "allergies": "AllergyIntolerance?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        "vitals": "Observation?patient={{context.patientId}}&category=vital-signs"
    });
    let services: Vec<Value> = SERVICES
        .iter()
        .map(|(id, hook, title, description)| {
            json!({"hook": hook, "id": id, "title": title, "description": description, "prefetch": prefetch})
        })
        .collect();
    json!({ "services": services })
}

/// A hook call's body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest {
    pub hook: String,
    pub hook_instance: String,
    #[serde(default)]
    pub fhir_server: Option<String>,
    pub context: Value,
    #[serde(default)]
    pub prefetch: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The context fields Bedside reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HookContext {
    pub patient_id: String,
    pub encounter_id: Option<String>,
    pub draft_orders: Vec<MedicationFact>,
}

impl HookRequest {
    /// Checks the call against the service's hook and reads its context.
    pub fn context_for(&self, service_hook: &str) -> Result<HookContext, Malformed> {
        if self.hook != service_hook {
            return Err(Malformed(format!(
                "this service answers the {service_hook} hook, not {}",
                self.hook
            )));
        }
        if uuid::Uuid::parse_str(&self.hook_instance).is_err() {
            return Err(Malformed("hookInstance must be a UUID".to_owned()));
        }
        let text = |key: &str| {
            self.context
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let patient_id = text("patientId")
            .ok_or_else(|| Malformed("context.patientId is required".to_owned()))?;
        let encounter_id = text("encounterId");
        if self.hook == "encounter-start" && encounter_id.is_none() {
            return Err(Malformed(
                "context.encounterId is required for encounter-start".to_owned(),
            ));
        }
        if text("userId").is_none() {
            return Err(Malformed("context.userId is required".to_owned()));
        }
        let draft_orders = if self.hook == "order-sign" {
            let bundle = self
                .context
                .get("draftOrders")
                .filter(|b| b.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
                .ok_or_else(|| Malformed("context.draftOrders must be a FHIR Bundle".to_owned()))?;
            resources(bundle)
                .filter(|r| r["resourceType"] == "MedicationRequest")
                .map(|r| medication(r, true))
                .collect()
        } else {
            Vec::new()
        };
        Ok(HookContext {
            patient_id,
            encounter_id,
            draft_orders,
        })
    }

    /// A prefetch key the client satisfied: `Some(Value::Null)` when its
    /// query found nothing, `None` when the key was not sent.
    pub fn prefetched(&self, key: &str) -> Option<&Value> {
        self.prefetch.as_ref()?.get(key)
    }
}

/// The resources of a Bundle (or the resource itself).
pub fn resources(value: &Value) -> impl Iterator<Item = &Value> {
    let entries = value.get("entry").and_then(Value::as_array);
    let single = (value.get("resourceType").and_then(Value::as_str) != Some("Bundle")
        && !value.is_null())
    .then_some(value);
    entries
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
        .chain(single)
}

/// The first coding's code and the best text of a CodeableConcept.
fn concept(value: &Value) -> (Option<String>, String) {
    let coding = value
        .get("coding")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let code = coding
        .and_then(|c| c.get("code"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .or_else(|| {
            coding
                .and_then(|c| c.get("display"))
                .and_then(Value::as_str)
        })
        .or(code.as_deref())
        .unwrap_or_default()
        .to_owned();
    (code, text)
}

pub fn medication(resource: &Value, draft: bool) -> MedicationFact {
    let (code, name) = concept(
        resource
            .get("medicationCodeableConcept")
            .unwrap_or(&Value::Null),
    );
    let order_id = draft
        .then(|| {
            resource
                .get("id")
                .and_then(Value::as_str)
                .map(|id| format!("MedicationRequest/{id}"))
        })
        .flatten();
    MedicationFact {
        name,
        code,
        order_id,
    }
}

/// Whether a prefetched allergy still holds: not ended (inactive,
/// resolved) and not refuted or entered in error.
pub fn is_current_allergy(resource: &Value) -> bool {
    let code = |key: &str| {
        resource
            .pointer(&format!("/{key}/coding/0/code"))
            .and_then(Value::as_str)
    };
    !matches!(code("clinicalStatus"), Some("inactive" | "resolved"))
        && !matches!(
            code("verificationStatus"),
            Some("refuted" | "entered-in-error")
        )
}

/// Whether a prefetched medication is still taken.
pub fn is_current_medication(resource: &Value) -> bool {
    !matches!(
        resource.get("status").and_then(Value::as_str),
        Some("stopped" | "completed" | "cancelled" | "entered-in-error" | "not-taken")
    )
}

pub fn allergy(resource: &Value) -> AllergyFact {
    let (code, substance) = concept(resource.get("code").unwrap_or(&Value::Null));
    AllergyFact { substance, code }
}

/// The latest vital signs from vital-sign Observations (newest first wins),
/// and when they were taken: this visit when each used one references the
/// hook's encounter, else the oldest `effectiveDateTime` among them.
pub fn vitals<'a>(
    observations: impl Iterator<Item = &'a Value>,
    encounter: Option<&str>,
) -> Option<(Vitals, Taken)> {
    let mut vitals = Vitals::default();
    let mut any = false;
    let mut all_this_visit = true;
    let mut oldest: Option<Timestamp> = None;
    for obs in observations {
        let (code, _) = concept(obs.get("code").unwrap_or(&Value::Null));
        let value = obs.pointer("/valueQuantity/value").and_then(Value::as_f64);
        let (answer, _) = concept(obs.get("valueCodeableConcept").unwrap_or(&Value::Null));
        if vitals.record(
            code.as_deref().unwrap_or_default(),
            value,
            answer.as_deref(),
        ) {
            any = true;
            let reference = obs.pointer("/encounter/reference").and_then(Value::as_str);
            all_this_visit &= encounter.is_some_and(|id| {
                reference.is_some_and(|r| r.strip_prefix("Encounter/") == Some(id))
            });
            let at = obs
                .get("effectiveDateTime")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| Timestamp(t.timestamp_millis()));
            oldest = match (oldest, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    if !any {
        return None;
    }
    let taken = match (all_this_visit, oldest) {
        (true, _) => Taken::ThisVisit,
        (false, Some(at)) => Taken::Earlier(at),
        (false, None) => Taken::Unknown,
    };
    Some((vitals, taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(hook: &str, context: Value) -> HookRequest {
        serde_json::from_value(json!({
            "hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context
        }))
        .unwrap()
    }

    #[test]
    fn a_call_must_match_its_service_and_carry_its_context() {
        let ok = request(
            "patient-view",
            json!({"userId": "Practitioner/1", "patientId": "p1"}),
        );
        assert_eq!(ok.context_for("patient-view").unwrap().patient_id, "p1");
        assert!(ok.context_for("order-sign").is_err());
        let no_patient = request("patient-view", json!({"userId": "Practitioner/1"}));
        assert!(no_patient.context_for("patient-view").is_err());
        let no_encounter = request(
            "encounter-start",
            json!({"userId": "Practitioner/1", "patientId": "p1"}),
        );
        assert!(no_encounter.context_for("encounter-start").is_err());
        let no_bundle = request(
            "order-sign",
            json!({"userId": "Practitioner/1", "patientId": "p1"}),
        );
        assert!(no_bundle.context_for("order-sign").is_err());
    }

    #[test]
    fn draft_orders_and_prefetched_resources_are_read() {
        let call = request(
            "order-sign",
            json!({
                "userId": "Practitioner/1", "patientId": "p1",
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
                    "resourceType": "MedicationRequest", "id": "mr1", "status": "draft", "intent": "order",
                    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "723", "display": "Amoxicillin"}]},
                    "subject": {"reference": "Patient/p1"}
                }}]}
            }),
        );
        let context = call.context_for("order-sign").unwrap();
        assert_eq!(context.draft_orders[0].code.as_deref(), Some("723"));
        assert_eq!(
            context.draft_orders[0].order_id.as_deref(),
            Some("MedicationRequest/mr1")
        );

        let observations = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Observation", "code": {"coding": [{"code": "8867-4"}]}, "valueQuantity": {"value": 120}}},
            {"resource": {"resourceType": "Observation", "code": {"coding": [{"code": "8867-4"}]}, "valueQuantity": {"value": 70}}}
        ]});
        assert_eq!(
            vitals(resources(&observations), None).unwrap().0.heart_rate,
            Some(120.0),
            "newest first wins"
        );
        assert!(vitals(resources(&Value::Null), None).is_none());
    }
}
