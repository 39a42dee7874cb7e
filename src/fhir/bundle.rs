//! The envelopes around resources: the searchset Bundle (§1.7), the
//! OperationOutcome that every error answers (§1.8) and the server's
//! CapabilityStatement (§1.6).

use serde_json::{Value, json};

use super::ResourceType;
use crate::model::timestamp::Timestamp;

/// A searchset Bundle of `resources` (each with `resourceType` and `id`).
/// `entry` is left out when nothing matched; `next` links the following
/// page, and `total` (all the matches) is given when known.
pub fn searchset(
    now: Timestamp,
    base: &str,
    self_url: &str,
    resources: Vec<Value>,
    page: Paging,
) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|resource| {
            let full_url = format!(
                "{base}/{}/{}",
                resource["resourceType"].as_str().unwrap_or_default(),
                resource["id"].as_str().unwrap_or_default()
            );
            json!({"fullUrl": full_url, "resource": resource, "search": {"mode": "match"}})
        })
        .collect();
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = page.next {
        links.push(json!({"relation": "next", "url": next}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
        "timestamp": now.rfc3339(),
        "link": links,
    });
    if let Some(total) = page.total {
        bundle["total"] = json!(total);
    }
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

/// Where a searchset page sits among all the matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    /// The URL of the next page, when there is one.
    pub next: Option<String>,
    /// How many resources matched in all, when known.
    pub total: Option<usize>,
}

/// An OperationOutcome with one issue.
pub fn outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    })
}

/// What this server does: read and search of each resource type, with
/// their search parameters.
pub fn capability_statement(now: Timestamp, base: &str) -> Value {
    let mut resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|kind| {
            let params: Vec<Value> = kind
                .search_params()
                .iter()
                .map(|(name, kind)| json!({"name": name, "type": kind}))
                .collect();
            let mut resource = json!({
                "type": kind.as_str(),
                "interaction": [{"code": "read"}, {"code": "search-type"}],
            });
            if super::write::parse::WRITABLE.contains(kind) {
                for code in ["create", "update", "vread", "history-instance"] {
                    resource["interaction"]
                        .as_array_mut()
                        .expect("a list")
                        .push(json!({"code": code}));
                }
                resource["versioning"] = json!("versioned-update");
                resource["updateCreate"] = json!(false);
            }
            if *kind == ResourceType::Patient {
                resource["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }]);
            }
            if !params.is_empty() {
                resource["searchParam"] = Value::Array(params);
            }
            resource
        })
        .collect();
    // The after-visit summary is read by its visit's id; it is not searched.
    resources.push(json!({"type": "Composition", "interaction": [{"code": "read"}]}));
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.rfc3339(),
        "publisher": "Bedside",
        "kind": "instance",
        "software": {"name": "Bedside", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Bedside telehealth FHIR R4 facade", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Bearer tokens, as the HTTP API: staff sign-in or a visit's patient token. A patient token sees its own record only."},
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_searchset_has_a_total_and_no_entry() {
        let bundle = searchset(
            Timestamp(0),
            "https://x.org/fhir",
            "https://x.org/fhir/Patient?name=zz",
            vec![],
            Paging {
                next: None,
                total: Some(0),
            },
        );
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 0);
        assert!(bundle.get("entry").is_none());
        assert_eq!(bundle["link"][0]["relation"], "self");
    }

    #[test]
    fn each_match_has_a_full_url_and_search_mode_and_a_next_page_its_link() {
        let resources = vec![json!({"resourceType": "Patient", "id": "p1"})];
        let bundle = searchset(
            Timestamp(0),
            "https://x.org/fhir",
            "https://x.org/fhir/Patient?_count=1",
            resources,
            Paging {
                next: Some("https://x.org/fhir/Patient?_count=1&_offset=1".to_owned()),
                total: None,
            },
        );
        assert!(bundle.get("total").is_none());
        assert_eq!(
            bundle["entry"][0]["fullUrl"],
            "https://x.org/fhir/Patient/p1"
        );
        assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
        assert_eq!(bundle["link"][1]["relation"], "next");
    }

    #[test]
    fn the_capability_statement_lists_every_resource() {
        let cs = capability_statement(Timestamp(0), "https://x.org/fhir");
        let types: Vec<&str> = cs["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "Patient",
                "Practitioner",
                "Encounter",
                "Observation",
                "Condition",
                "AllergyIntolerance",
                "MedicationStatement",
                "Communication",
                "Claim",
                "Schedule",
                "Slot",
                "Appointment",
                "Composition"
            ]
        );
        assert_eq!(cs["fhirVersion"], "4.0.1");
        let patient = &cs["rest"][0]["resource"][0];
        let interactions: Vec<&str> = patient["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            interactions,
            [
                "read",
                "search-type",
                "create",
                "update",
                "vread",
                "history-instance"
            ]
        );
        assert_eq!(patient["operation"][0]["name"], "everything");
        assert_eq!(cs["rest"][0]["interaction"][1]["code"], "batch");
    }
}
