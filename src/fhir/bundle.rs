//! The envelopes around resources: the searchset Bundle (§1.7), the
//! OperationOutcome that every error answers (§1.8) and the server's
//! CapabilityStatement (§1.6).

use serde_json::{Value, json};

use super::ResourceType;
use crate::model::timestamp::Timestamp;

/// A searchset Bundle of `resources` (each with `resourceType` and `id`).
/// `entry` is left out when nothing matched; a truncated result says so in
/// an OperationOutcome entry with search mode `outcome`.
pub fn searchset(
    now: Timestamp,
    base: &str,
    self_url: &str,
    resources: Vec<Value>,
    truncated: bool,
) -> Value {
    let total = resources.len();
    let mut entries: Vec<Value> = resources
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
    if truncated {
        let warning = outcome(
            "warning",
            "too-costly",
            "more resources matched than one answer holds; narrow the search",
        );
        entries.push(json!({"resource": warning, "search": {"mode": "outcome"}}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
        "timestamp": now.rfc3339(),
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
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
            false,
        );
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 0);
        assert!(bundle.get("entry").is_none());
        assert_eq!(bundle["link"][0]["relation"], "self");
    }

    #[test]
    fn each_match_has_a_full_url_and_search_mode() {
        let resources = vec![json!({"resourceType": "Patient", "id": "p1"})];
        let bundle = searchset(
            Timestamp(0),
            "https://x.org/fhir",
            "https://x.org/fhir/Patient",
            resources,
            true,
        );
        assert_eq!(bundle["total"], 1);
        assert_eq!(
            bundle["entry"][0]["fullUrl"],
            "https://x.org/fhir/Patient/p1"
        );
        assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
        assert_eq!(bundle["entry"][1]["search"]["mode"], "outcome");
        assert_eq!(
            bundle["entry"][1]["resource"]["issue"][0]["severity"],
            "warning"
        );
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
                "Communication",
                "Claim",
                "Composition"
            ]
        );
        assert_eq!(cs["fhirVersion"], "4.0.1");
    }
}
