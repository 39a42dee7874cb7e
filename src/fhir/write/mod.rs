//! FHIR writes (STANDARDS-2 §2): create and update of Patient, Observation,
//! AllergyIntolerance, MedicationStatement and Condition onto the record's
//! own tables, each write a new version kept as served (`meta.versionId`,
//! `meta.lastUpdated`), read back by vread and `_history`. An update may
//! carry the version it was made from (`If-Match`); a stale one is
//! refused. Who writes what is the write policy's
//! ([`crate::access::may_write`]); every write, and every refused one, is
//! audited in the transaction that writes.

pub mod parse;

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{FhirError, Requester, ResourceType};
use crate::access;
use crate::audit::{AuditEntry, Outcome};
use crate::auth::Principal;
use crate::model::ids::{PatientId, UserId};
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError, StoredVersion, Tx};
use parse::Parsed;

/// A write Bedside refuses, naming the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// FHIRPath of the element, e.g. `Observation.subject`.
    pub expression: String,
    /// The OperationOutcome issue type.
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(
        expression: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            expression: expression.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The resource fails Bedside's validation: 422.
    #[error(transparent)]
    Invalid(Invalid),
    /// The request itself is malformed (not JSON, ids disagree): 400.
    #[error("{0}")]
    Malformed(String),
    /// Bedside does not write this resource type.
    #[error("Bedside does not accept writes of {}", .0.as_str())]
    NotWritable(ResourceType),
    #[error("this role may not write {}", .0.as_str())]
    Forbidden(ResourceType),
    #[error("{0}")]
    NotFound(String),
    /// `If-Match` names a version that is no longer current: 412.
    #[error("version {expected} is not the current version ({current}); read the resource again")]
    Stale { expected: i64, current: i64 },
    #[error(transparent)]
    Fhir(#[from] FhirError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A resource as written: its current version.
#[derive(Debug, Clone)]
pub struct Written {
    pub kind: ResourceType,
    pub id: String,
    pub version: i64,
    pub last_updated: Timestamp,
    /// The resource as served now, `meta` included.
    pub resource: Value,
}

impl Written {
    /// `{type}/{id}/_history/{vid}`, relative to the FHIR base.
    pub fn location(&self) -> String {
        format!(
            "{}/{}/_history/{}",
            self.kind.as_str(),
            self.id,
            self.version
        )
    }
}

/// Bedside's medical record number system, as the Patient resource shows it.
fn mrn_system(base: &str) -> String {
    format!("{base}/sid/mrn")
}

/// The staff member who records a write.
fn recorder(who: &Requester<'_>, kind: ResourceType) -> Result<UserId, WriteError> {
    match who.principal {
        Principal::Staff(user) => Ok(user.id.clone()),
        Principal::Patient { .. } | Principal::Guest { .. } | Principal::App(_) => {
            Err(WriteError::Forbidden(kind))
        }
    }
}

/// Refuses, and audits, a requester the write policy does not let write `kind`.
async fn authorise(
    store: &Store,
    who: &Requester<'_>,
    kind: ResourceType,
    action: &'static str,
    id: Option<&str>,
) -> Result<(), WriteError> {
    if !parse::WRITABLE.contains(&kind) {
        return Err(WriteError::NotWritable(kind));
    }
    if access::may_write(who.principal, kind.data()) {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    let mut entry = AuditEntry::new(who.actor, action, kind.as_str()).outcome(Outcome::Denied);
    if let Some(id) = id.filter(|id| super::valid_id(id)) {
        entry = entry.resource(id);
    }
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Err(WriteError::Forbidden(kind))
}

/// Creates a resource (`POST [base]/[type]`); a client's `id` is ignored.
#[tracing::instrument(skip_all)]
pub async fn create(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    body: &Value,
) -> Result<Written, WriteError> {
    authorise(store, &who, kind, "fhir.create", None).await?;
    let mut tx = store.begin().await?;
    let written = create_in(&mut tx, &who, kind, body).await?;
    store::commit(tx).await?;
    Ok(written)
}

/// Updates a resource (`PUT [base]/[type]/[id]`), from version `if_match`
/// when the client names one.
#[tracing::instrument(skip_all)]
pub async fn update(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    id: &str,
    body: &Value,
    if_match: Option<i64>,
) -> Result<Written, WriteError> {
    authorise(store, &who, kind, "fhir.update", Some(id)).await?;
    let mut tx = store.begin().await?;
    let written = update_in(&mut tx, &who, kind, id, body, if_match).await?;
    store::commit(tx).await?;
    Ok(written)
}

/// Whether the policy lets `who` write `kind` at all (for a transaction's
/// entries, checked before any is written).
pub(crate) async fn authorise_entry(
    store: &Store,
    who: &Requester<'_>,
    kind: ResourceType,
    action: &'static str,
) -> Result<(), WriteError> {
    authorise(store, who, kind, action, None).await
}

/// A create inside the caller's transaction.
pub(crate) async fn create_in(
    tx: &mut Tx,
    who: &Requester<'_>,
    kind: ResourceType,
    body: &Value,
) -> Result<Written, WriteError> {
    let recorder = recorder(who, kind)?;
    let parsed =
        parse::parse(kind, body, who.now, &mrn_system(who.base)).map_err(WriteError::Invalid)?;
    check_links(tx, kind, &parsed).await?;
    let id = match &parsed {
        Parsed::Patient { new, mrn } => {
            if mrn.is_some() {
                return Err(WriteError::Invalid(Invalid::new(
                    "Patient.identifier",
                    "business-rule",
                    "the medical record number is assigned by Bedside; leave identifier out of a new patient",
                )));
            }
            validate_patient(new, who.now)?;
            store::insert_patient(tx, new, who.now)
                .await?
                .id
                .as_str()
                .to_owned()
        }
        Parsed::Observation(o) => store::save_observation(tx, None, o).await?,
        Parsed::AllergyIntolerance(a) => store::save_allergy(tx, None, a, &recorder).await?,
        Parsed::MedicationStatement(m) => store::save_medication(tx, None, m, &recorder).await?,
        Parsed::Condition(c) => store::save_condition(tx, None, c, &recorder).await?,
    };
    let written = keep_version(tx, who.base, who.now, kind, &id, 1).await?;
    audit_write(tx, who, "fhir.create", &written, &parsed).await?;
    Ok(written)
}

/// An update inside the caller's transaction.
pub(crate) async fn update_in(
    tx: &mut Tx,
    who: &Requester<'_>,
    kind: ResourceType,
    id: &str,
    body: &Value,
    if_match: Option<i64>,
) -> Result<Written, WriteError> {
    let recorder = recorder(who, kind)?;
    match body.get("id").and_then(Value::as_str) {
        Some(body_id) if body_id == id => {}
        Some(body_id) => {
            return Err(WriteError::Malformed(format!(
                "the body's id {body_id} is not the id in the URL ({id})"
            )));
        }
        None => {
            return Err(WriteError::Malformed(
                "an update's body carries the resource's id".to_owned(),
            ));
        }
    }
    let not_found = || {
        WriteError::NotFound(format!(
            "{} {id} is not known; create it with POST",
            kind.as_str()
        ))
    };
    if !super::valid_id(id) {
        return Err(not_found());
    }
    let current = super::load(tx, kind, id, who.base, who.now)
        .await?
        .ok_or_else(not_found)?;
    if kind == ResourceType::Condition && current.encounter.is_some() {
        return Err(WriteError::Invalid(Invalid::new(
            "Condition",
            "business-rule",
            "this condition is an encounter's diagnosis; it changes with the visit's coding, not over FHIR",
        )));
    }
    let head = head_version(tx, kind, id, &current.resource, who.now).await?;
    if let Some(expected) = if_match
        && expected != head
    {
        return Err(WriteError::Stale {
            expected,
            current: head,
        });
    }
    let parsed =
        parse::parse(kind, body, who.now, &mrn_system(who.base)).map_err(WriteError::Invalid)?;
    check_links(tx, kind, &parsed).await?;
    match &parsed {
        Parsed::Patient { new, mrn } => {
            let patient = PatientId::from_trusted(id.to_owned());
            let stored = store::get_patient(tx, &patient)
                .await?
                .ok_or_else(not_found)?;
            if mrn.as_ref().is_some_and(|m| m != &stored.mrn) {
                return Err(WriteError::Invalid(Invalid::new(
                    "Patient.identifier[0].value",
                    "business-rule",
                    "the medical record number cannot change",
                )));
            }
            validate_patient(new, who.now)?;
            store::update_patient_demographics(tx, &patient, new, who.now).await?;
        }
        Parsed::Observation(o) => {
            store::save_observation(tx, Some(id), o).await?;
        }
        Parsed::AllergyIntolerance(a) => {
            store::save_allergy(tx, Some(id), a, &recorder).await?;
        }
        Parsed::MedicationStatement(m) => {
            store::save_medication(tx, Some(id), m, &recorder).await?;
        }
        Parsed::Condition(c) => {
            store::save_condition(tx, Some(id), c, &recorder).await?;
        }
    }
    let written = keep_version(tx, who.base, who.now, kind, id, head + 1).await?;
    audit_write(tx, who, "fhir.update", &written, &parsed).await?;
    Ok(written)
}

fn validate_patient(
    new: &crate::model::patient::NewPatient,
    now: Timestamp,
) -> Result<(), WriteError> {
    new.validate(now.to_datetime().date_naive()).map_err(|e| {
        let expression = match e.field.as_str() {
            "birth_date" => "Patient.birthDate",
            "address.state" => "Patient.address[0].state",
            _ => "Patient",
        };
        WriteError::Invalid(Invalid::new(
            expression,
            "value",
            format!("{expression} {}", e.message),
        ))
    })
}

/// The patient and encounter a resource names must exist, and the
/// encounter must be that patient's.
async fn check_links(tx: &mut Tx, kind: ResourceType, parsed: &Parsed) -> Result<(), WriteError> {
    let subject = match kind {
        ResourceType::AllergyIntolerance => "patient",
        _ => "subject",
    };
    if let Some(patient) = parsed.patient()
        && store::get_patient(tx, patient).await?.is_none()
    {
        return Err(WriteError::Invalid(Invalid::new(
            format!("{}.{subject}", kind.as_str()),
            "value",
            format!("Patient {} is not known", patient.as_str()),
        )));
    }
    if let Some(encounter) = parsed.encounter() {
        let found = store::get_encounter(tx, encounter).await?;
        if found.is_none_or(|e| Some(&e.patient_id) != parsed.patient()) {
            return Err(WriteError::Invalid(Invalid::new(
                format!("{}.encounter", kind.as_str()),
                "value",
                format!(
                    "Encounter {} is not known in this patient's record",
                    encounter.as_str()
                ),
            )));
        }
    }
    Ok(())
}

fn set_meta(resource: &mut Value, version: i64, at: Timestamp) {
    resource["meta"] = json!({"versionId": version.to_string(), "lastUpdated": at.rfc3339()});
}

/// The resource's current version; one recorded before any FHIR write
/// has its state until now kept as version 1 first.
async fn head_version(
    tx: &mut Tx,
    kind: ResourceType,
    id: &str,
    current: &Value,
    now: Timestamp,
) -> Result<i64, StoreError> {
    if let Some((version, _)) = store::fhir_version_head(tx, kind.as_str(), id).await? {
        return Ok(version);
    }
    let mut first = current.clone();
    set_meta(&mut first, 1, now);
    let version = StoredVersion {
        version: 1,
        last_updated: now,
        resource: first.to_string(),
    };
    store::insert_fhir_version(tx, kind.as_str(), id, &version).await?;
    Ok(1)
}

/// A change to a resource made outside FHIR (the chart's REST routes),
/// kept as the resource's next version so vread, `_history` and the ETag
/// stay true: [`begin_change`] before the row changes, [`finish_change`]
/// after, in one transaction.
#[derive(Debug)]
pub struct Change {
    kind: ResourceType,
    id: String,
    head: i64,
}

/// Notes the version a change starts from; `None` when no such resource.
pub async fn begin_change(
    tx: &mut Tx,
    kind: ResourceType,
    id: &str,
    base: &str,
    now: Timestamp,
) -> Result<Option<Change>, WriteError> {
    let Some(current) = super::load(tx, kind, id, base, now).await? else {
        return Ok(None);
    };
    let head = head_version(tx, kind, id, &current.resource, now).await?;
    Ok(Some(Change {
        kind,
        id: id.to_owned(),
        head,
    }))
}

/// Keeps the changed resource as the version after the one it started from.
pub async fn finish_change(
    tx: &mut Tx,
    change: Change,
    base: &str,
    now: Timestamp,
) -> Result<Written, WriteError> {
    keep_version(tx, base, now, change.kind, &change.id, change.head + 1).await
}

/// Reads the resource back as served, stamps it `version` and keeps it.
async fn keep_version(
    tx: &mut Tx,
    base: &str,
    now: Timestamp,
    kind: ResourceType,
    id: &str,
    version: i64,
) -> Result<Written, WriteError> {
    let found = super::load(tx, kind, id, base, now)
        .await?
        .ok_or(StoreError::Corrupt("a written resource vanished"))?;
    let mut resource = found.resource;
    set_meta(&mut resource, version, now);
    let stored = StoredVersion {
        version,
        last_updated: now,
        resource: resource.to_string(),
    };
    store::insert_fhir_version(tx, kind.as_str(), id, &stored)
        .await
        .map_err(|e| match e {
            // Another writer made this version first.
            StoreError::Duplicate(_) => WriteError::Stale {
                expected: version - 1,
                current: version,
            },
            other => other.into(),
        })?;
    Ok(Written {
        kind,
        id: id.to_owned(),
        version,
        last_updated: now,
        resource,
    })
}

async fn audit_write(
    tx: &mut Tx,
    who: &Requester<'_>,
    action: &'static str,
    written: &Written,
    parsed: &Parsed,
) -> Result<(), StoreError> {
    let patient = match parsed {
        Parsed::Patient { .. } => PatientId::from_trusted(written.id.clone()),
        other => other
            .patient()
            .cloned()
            .expect("clinical resources name a patient"),
    };
    let entry = AuditEntry::new(who.actor, action, written.kind.as_str())
        .resource(&written.id)
        .patient(&patient);
    store::append_audit(tx, &entry).await?;
    Ok(())
}

/// Sets `meta` on resources read from the record: the current stored
/// version where there is one; otherwise version 1, as it was recorded.
pub(crate) async fn stamp(
    tx: &mut Tx,
    kind: ResourceType,
    resources: &mut [Value],
) -> Result<(), StoreError> {
    let ids: Vec<String> = resources
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    let heads: HashMap<String, (i64, Timestamp)> =
        store::fhir_version_heads(tx, kind.as_str(), &ids).await?;
    for resource in resources.iter_mut() {
        let head = resource["id"]
            .as_str()
            .and_then(|id| heads.get(id))
            .copied();
        match head {
            Some((version, at)) => set_meta(resource, version, at),
            None => {
                let recorded = [
                    "recordedDate",
                    "effectiveDateTime",
                    "dateAsserted",
                    "created",
                    "sent",
                ]
                .iter()
                .find_map(|k| resource.get(*k).cloned());
                let mut meta = json!({"versionId": "1"});
                if let Some(at) = recorded {
                    meta["lastUpdated"] = at;
                }
                resource["meta"] = meta;
            }
        }
    }
    Ok(())
}

/// The versions of one resource, newest first, as a `history` Bundle; a
/// resource never written over FHIR has one version, as it is now.
#[tracing::instrument(skip_all)]
pub async fn history(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    id: &str,
) -> Result<Value, WriteError> {
    let current = super::read(store, who, kind, id).await?;
    let mut tx = store.begin().await?;
    let mut versions: Vec<(i64, Value)> = Vec::new();
    for stored in store::fhir_versions(&mut tx, kind.as_str(), id).await? {
        let resource: Value = serde_json::from_str(&stored.resource)
            .map_err(|_| StoreError::Corrupt("fhir_versions.resource"))?;
        versions.push((stored.version, resource));
    }
    if versions.is_empty() {
        versions.push((1, current.clone()));
    }
    audit_history(&mut tx, &who, kind, id, &current).await?;
    store::commit(tx).await?;
    let entries: Vec<Value> = versions
        .into_iter()
        .map(|(version, resource)| {
            let (method, url, status) = if version == 1 {
                ("POST", kind.as_str().to_owned(), "201 Created")
            } else {
                ("PUT", format!("{}/{id}", kind.as_str()), "200 OK")
            };
            let mut response = json!({"status": status, "etag": format!("W/\"{version}\"")});
            if let Some(at) = resource["meta"].get("lastUpdated") {
                response["lastModified"] = at.clone();
            }
            json!({
                "fullUrl": format!("{}/{}/{id}", who.base, kind.as_str()),
                "resource": resource,
                "request": {"method": method, "url": url},
                "response": response,
            })
        })
        .collect();
    Ok(json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "history",
        "timestamp": who.now.rfc3339(),
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{}/{}/{id}/_history", who.base, kind.as_str())}],
        "entry": entries,
    }))
}

/// One version of a resource (`vread`).
#[tracing::instrument(skip_all)]
pub async fn vread(
    store: &Store,
    who: Requester<'_>,
    kind: ResourceType,
    id: &str,
    version: &str,
) -> Result<Value, WriteError> {
    let current = super::read(store, who, kind, id).await?;
    let unknown =
        || WriteError::NotFound(format!("{} {id} has no version {version}", kind.as_str()));
    let number: i64 = version.parse().map_err(|_| unknown())?;
    let mut tx = store.begin().await?;
    let found = match store::fhir_version(&mut tx, kind.as_str(), id, number).await? {
        Some(stored) => Some(
            serde_json::from_str(&stored.resource)
                .map_err(|_| StoreError::Corrupt("fhir_versions.resource"))?,
        ),
        // Never written over FHIR: version 1 is the resource as it is.
        None if number == 1 && current["meta"]["versionId"] == "1" => Some(current.clone()),
        None => None,
    };
    audit_history(&mut tx, &who, kind, id, &current).await?;
    store::commit(tx).await?;
    found.ok_or_else(unknown)
}

async fn audit_history(
    tx: &mut Tx,
    who: &Requester<'_>,
    kind: ResourceType,
    id: &str,
    current: &Value,
) -> Result<(), StoreError> {
    let mut entry = AuditEntry::new(who.actor, "fhir.history", kind.as_str()).resource(id);
    let patient = match kind {
        ResourceType::Patient => Some(id),
        _ => current["subject"]["reference"]
            .as_str()
            .or(current["patient"]["reference"].as_str())
            .and_then(|r| r.strip_prefix("Patient/")),
    };
    if let Some(patient) = patient.and_then(PatientId::parse) {
        entry = entry.patient(&patient);
    }
    store::append_audit(tx, &entry).await?;
    Ok(())
}

/// Parses an `If-Match` value: `W/"3"` (or `"3"`).
pub fn parse_if_match(value: &str) -> Option<i64> {
    let value = value.trim();
    let quoted = value.strip_prefix("W/").unwrap_or(value);
    quoted
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_takes_the_weak_etag_form() {
        assert_eq!(parse_if_match("W/\"3\""), Some(3));
        assert_eq!(parse_if_match("\"12\""), Some(12));
        assert_eq!(parse_if_match("3"), None);
        assert_eq!(parse_if_match("W/\"x\""), None);
    }
}
