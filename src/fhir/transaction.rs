//! `POST [base]` with a `transaction` or `batch` Bundle (STANDARDS-2 §2).
//! A transaction is all or nothing in one store transaction: creates run
//! first (patients before what names them), then updates, whatever the
//! entries' order; each `urn:uuid:` fullUrl becomes the new resource's
//! id and every reference to it is rewritten. A batch runs each entry on
//! its own and reports each one's outcome.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::write::{self, Invalid, WriteError, Written};
use super::{Requester, ResourceType};
use crate::store::{self, Store};

/// Most entries one Bundle may carry.
pub const MAX_ENTRIES: usize = 5_000;

/// What an entry asks for.
#[derive(Debug, Clone)]
enum Action {
    Create,
    Update { id: String, if_match: Option<i64> },
}

#[derive(Debug, Clone)]
struct Entry<'a> {
    index: usize,
    kind: ResourceType,
    action: Action,
    full_url: Option<&'a str>,
    resource: &'a Value,
}

fn invalid(index: usize, path: &str, code: &'static str, message: impl Into<String>) -> WriteError {
    let expression = if path.is_empty() {
        format!("Bundle.entry[{index}]")
    } else {
        format!("Bundle.entry[{index}].{path}")
    };
    WriteError::Invalid(Invalid::new(expression, code, message))
}

/// Moves an error about a resource to where it sits in the Bundle.
fn within_entry(index: usize, error: WriteError) -> WriteError {
    match error {
        WriteError::Invalid(inner) => {
            let rest = inner
                .expression
                .split_once('.')
                .map(|(_, rest)| format!(".{rest}"))
                .unwrap_or_default();
            WriteError::Invalid(Invalid::new(
                format!("Bundle.entry[{index}].resource{rest}"),
                inner.code,
                format!("entry {index}: {}", inner.message),
            ))
        }
        WriteError::Malformed(why) => WriteError::Malformed(format!("entry {index}: {why}")),
        WriteError::NotFound(why) => WriteError::NotFound(format!("entry {index}: {why}")),
        other => other,
    }
}

fn read_entry(index: usize, entry: &Value) -> Result<Entry<'_>, WriteError> {
    let request = entry
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(index, "request", "required", "each entry needs its request"))?;
    if request.contains_key("ifNoneExist") || request.contains_key("ifNoneMatch") {
        return Err(invalid(
            index,
            "request",
            "not-supported",
            "conditional requests are not supported in a Bundle",
        ));
    }
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let url = request.get("url").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            index,
            "request.url",
            "required",
            "each request needs its url",
        )
    })?;
    let resource = entry
        .get("resource")
        .filter(|r| r.is_object())
        .ok_or_else(|| {
            invalid(
                index,
                "resource",
                "required",
                "each entry carries its resource",
            )
        })?;
    let named = resource["resourceType"].as_str().unwrap_or_default();
    let kind = ResourceType::parse(named)
        .filter(|k| write::parse::WRITABLE.contains(k))
        .ok_or_else(|| {
            invalid(
                index,
                "resource",
                "not-supported",
                format!(
                    "Bedside does not store {named} resources; it imports Patient, Observation, AllergyIntolerance, MedicationStatement and Condition"
                ),
            )
        })?;
    let url = url.trim_start_matches('/');
    let action = match method {
        "POST" if url == kind.as_str() => Action::Create,
        "PUT" => {
            let id = url
                .strip_prefix(kind.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|id| !id.is_empty() && !id.contains(['/', '?']))
                .ok_or_else(|| {
                    invalid(
                        index,
                        "request.url",
                        "value",
                        format!("a PUT of {} names {}/[id]", kind.as_str(), kind.as_str()),
                    )
                })?;
            let if_match = match request.get("ifMatch").and_then(Value::as_str) {
                None => None,
                Some(tag) => Some(write::parse_if_match(tag).ok_or_else(|| {
                    invalid(
                        index,
                        "request.ifMatch",
                        "value",
                        "ifMatch is a version tag like W/\"3\"",
                    )
                })?),
            };
            Action::Update {
                id: id.to_owned(),
                if_match,
            }
        }
        "POST" => {
            return Err(invalid(
                index,
                "request.url",
                "value",
                format!("a POST of a {} goes to {}", kind.as_str(), kind.as_str()),
            ));
        }
        _ => {
            return Err(invalid(
                index,
                "request.method",
                "not-supported",
                "Bedside's Bundles take POST (create) and PUT (update) entries",
            ));
        }
    };
    Ok(Entry {
        index,
        kind,
        action,
        full_url: entry.get("fullUrl").and_then(Value::as_str),
        resource,
    })
}

/// Replaces every reference to a `urn:uuid:` of this Bundle by the id
/// it was given; a reference to one not (yet) made fails the entry.
fn resolve(value: &mut Value, made: &HashMap<String, String>) -> Result<(), String> {
    match value {
        Value::Object(object) => {
            for (key, item) in object.iter_mut() {
                if key == "reference"
                    && let Value::String(target) = item
                    && target.starts_with("urn:uuid:")
                {
                    match made.get(target.as_str()) {
                        Some(local) => *target = local.clone(),
                        None => {
                            return Err(format!(
                                "the reference {target} names no resource created in this Bundle"
                            ));
                        }
                    }
                } else {
                    resolve(item, made)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|item| resolve(item, made)),
        _ => Ok(()),
    }
}

/// The order entries run in: creates (patients first), then updates.
fn run_order(entries: &[Entry<'_>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| match (&entries[i].action, entries[i].kind) {
        (Action::Create, ResourceType::Patient) => 0,
        (Action::Create, _) => 1,
        (Action::Update { .. }, _) => 2,
    });
    order
}

fn response_entry(base: &str, written: &Written, created: bool) -> Value {
    json!({
        "fullUrl": format!("{base}/{}/{}", written.kind.as_str(), written.id),
        "response": {
            "status": if created { "201 Created" } else { "200 OK" },
            "location": written.location(),
            "etag": format!("W/\"{}\"", written.version),
            "lastModified": written.last_updated.rfc3339(),
        },
    })
}

fn entries_of(bundle: &Value) -> Result<(&str, &[Value]), WriteError> {
    if bundle["resourceType"] != "Bundle" {
        return Err(WriteError::Invalid(Invalid::new(
            "Bundle",
            "invalid",
            "POST to the FHIR base takes a Bundle",
        )));
    }
    let kind = bundle["type"].as_str().unwrap_or_default();
    if kind != "transaction" && kind != "batch" {
        return Err(WriteError::Invalid(Invalid::new(
            "Bundle.type",
            "value",
            "the Bundle's type must be transaction or batch",
        )));
    }
    let entries = match bundle.get("entry") {
        None => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => {
            return Err(WriteError::Invalid(Invalid::new(
                "Bundle.entry",
                "structure",
                "Bundle.entry must be an array",
            )));
        }
    };
    if entries.len() > MAX_ENTRIES {
        return Err(WriteError::Invalid(Invalid::new(
            "Bundle.entry",
            "too-costly",
            format!("a Bundle carries at most {MAX_ENTRIES} entries; split it"),
        )));
    }
    Ok((kind, entries))
}

/// Runs a transaction or batch Bundle, answering its response Bundle.
#[tracing::instrument(skip_all)]
pub async fn process(
    store: &Store,
    who: Requester<'_>,
    bundle: &Value,
) -> Result<Value, WriteError> {
    let (kind, entries) = entries_of(bundle)?;
    if kind == "batch" {
        return Ok(batch(store, who, entries).await);
    }
    let entries: Vec<Entry<'_>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| read_entry(i, e))
        .collect::<Result<_, _>>()?;
    let mut kinds: Vec<(ResourceType, &str)> = Vec::new();
    for entry in &entries {
        let action = match entry.action {
            Action::Create => "fhir.create",
            Action::Update { .. } => "fhir.update",
        };
        if !kinds.contains(&(entry.kind, action)) {
            kinds.push((entry.kind, action));
            write::authorise_entry(store, &who, entry.kind, action).await?;
        }
    }
    let mut made: HashMap<String, String> = HashMap::new();
    let mut answers: Vec<Option<Value>> = vec![None; entries.len()];
    let mut tx = store.begin().await?;
    for index in run_order(&entries) {
        let entry = &entries[index];
        let mut resource = entry.resource.clone();
        resolve(&mut resource, &made)
            .map_err(|why| invalid(index, "resource", "not-found", why))?;
        let (written, created) = match &entry.action {
            Action::Create => (
                write::create_in(&mut tx, &who, entry.kind, &resource).await,
                true,
            ),
            Action::Update { id, if_match } => (
                write::update_in(&mut tx, &who, entry.kind, id, &resource, *if_match).await,
                false,
            ),
        };
        let written = written.map_err(|e| within_entry(entry.index, e))?;
        if let Some(full_url) = entry.full_url.filter(|u| u.starts_with("urn:uuid:")) {
            if made.contains_key(full_url) {
                return Err(invalid(
                    index,
                    "fullUrl",
                    "duplicate",
                    "two entries share this fullUrl",
                ));
            }
            made.insert(
                full_url.to_owned(),
                format!("{}/{}", written.kind.as_str(), written.id),
            );
        }
        answers[index] = Some(response_entry(who.base, &written, created));
    }
    store::commit(tx).await?;
    Ok(json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "transaction-response",
        "timestamp": who.now.rfc3339(),
        "entry": answers.into_iter().flatten().collect::<Vec<_>>(),
    }))
}

/// Each entry on its own: a failed one answers its status and outcome.
async fn batch(store: &Store, who: Requester<'_>, entries: &[Value]) -> Value {
    let mut answers = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let result = match read_entry(index, entry) {
            Err(e) => Err(e),
            Ok(entry) => match &entry.action {
                Action::Create => write::create(store, who, entry.kind, entry.resource)
                    .await
                    .map(|w| (w, true)),
                Action::Update { id, if_match } => {
                    write::update(store, who, entry.kind, id, entry.resource, *if_match)
                        .await
                        .map(|w| (w, false))
                }
            },
        };
        answers.push(match result {
            Ok((written, created)) => response_entry(who.base, &written, created),
            Err(error) => {
                let (status, outcome) = failure(&error);
                json!({"response": {"status": status, "outcome": outcome}})
            }
        });
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "batch-response",
        "timestamp": who.now.rfc3339(),
        "entry": answers,
    })
}

/// A failed write's HTTP status line and OperationOutcome.
pub fn failure(error: &WriteError) -> (String, Value) {
    use super::FhirError;
    let (status, code, diagnostics, expression) = match error {
        WriteError::Invalid(i) => (
            "422 Unprocessable Entity",
            i.code,
            i.message.clone(),
            Some(i.expression.clone()),
        ),
        WriteError::Malformed(why) => ("400 Bad Request", "structure", why.clone(), None),
        WriteError::NotWritable(_) => (
            "405 Method Not Allowed",
            "not-supported",
            error.to_string(),
            None,
        ),
        WriteError::Forbidden(_) | WriteError::Fhir(FhirError::Forbidden) => {
            ("403 Forbidden", "forbidden", error.to_string(), None)
        }
        WriteError::NotFound(why) | WriteError::Fhir(FhirError::NotFound(why)) => {
            ("404 Not Found", "not-found", why.clone(), None)
        }
        WriteError::Stale { .. } => (
            "412 Precondition Failed",
            "conflict",
            error.to_string(),
            None,
        ),
        WriteError::Fhir(_) | WriteError::Store(_) => (
            "500 Internal Server Error",
            "exception",
            "The server could not complete the request.".to_owned(),
            None,
        ),
    };
    let mut issue = json!({"severity": "error", "code": code, "diagnostics": diagnostics});
    if let Some(expression) = expression {
        issue["expression"] = json!([expression]);
    }
    (
        status.to_owned(),
        json!({"resourceType": "OperationOutcome", "issue": [issue]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_to_new_resources_are_rewritten_and_unknown_ones_refused() {
        let made = HashMap::from([("urn:uuid:1".to_owned(), "Patient/abc".to_owned())]);
        let mut resource =
            json!({"subject": {"reference": "urn:uuid:1"}, "note": [{"reference": "Patient/x"}]});
        resolve(&mut resource, &made).unwrap();
        assert_eq!(resource["subject"]["reference"], "Patient/abc");
        assert_eq!(resource["note"][0]["reference"], "Patient/x");
        let mut unknown = json!({"subject": {"reference": "urn:uuid:2"}});
        assert!(resolve(&mut unknown, &made).is_err());
    }

    #[test]
    fn patients_are_created_before_what_names_them() {
        let resource = json!({});
        let entry = |index, kind, action| Entry {
            index,
            kind,
            action,
            full_url: None,
            resource: &resource,
        };
        let entries = vec![
            entry(0, ResourceType::Observation, Action::Create),
            entry(
                1,
                ResourceType::Patient,
                Action::Update {
                    id: "p".into(),
                    if_match: None,
                },
            ),
            entry(2, ResourceType::Patient, Action::Create),
        ];
        assert_eq!(run_order(&entries), vec![2, 0, 1]);
    }
}
