//! Incoming FHIR JSON read into the record's own rows. Bedside keeps a
//! resource only in the shape it serves it: an element it does not store
//! is refused by name rather than dropped, so a write never loses data
//! silently. Each refusal names the element by its FHIRPath.

use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

use super::Invalid;
use crate::fhir::{ResourceType, system};
use crate::model::clinical::AllergyStatus;
use crate::model::codes::{Icd10, PostalCode};
use crate::model::ids::{EncounterId, PatientId};
use crate::model::patient::{Address, NewPatient, Sex};
use crate::model::timestamp::Timestamp;
use crate::model::validation::{Email, Phone, Text};
use crate::store::{AllergyRecord, ConditionRecordIn, MedicationRecord, ObservationRecord};

/// A resource read from JSON, ready to be stored.
#[derive(Debug, Clone)]
pub enum Parsed {
    Patient {
        new: NewPatient,
        /// The medical record number the client sent back, if any.
        mrn: Option<String>,
    },
    Observation(ObservationRecord),
    AllergyIntolerance(AllergyRecord),
    MedicationStatement(MedicationRecord),
    Condition(ConditionRecordIn),
}

impl Parsed {
    /// The patient whose record this resource is part of (none for a
    /// Patient, which is that record).
    pub fn patient(&self) -> Option<&PatientId> {
        match self {
            Self::Patient { .. } => None,
            Self::Observation(o) => Some(&o.patient),
            Self::AllergyIntolerance(a) => Some(&a.patient),
            Self::MedicationStatement(m) => Some(&m.patient),
            Self::Condition(c) => Some(&c.patient),
        }
    }

    /// The encounter this resource names, if any.
    pub fn encounter(&self) -> Option<&EncounterId> {
        match self {
            Self::Observation(o) => o.encounter.as_ref(),
            _ => None,
        }
    }
}

/// The resource types Bedside writes.
pub const WRITABLE: [ResourceType; 5] = [
    ResourceType::Patient,
    ResourceType::Observation,
    ResourceType::AllergyIntolerance,
    ResourceType::MedicationStatement,
    ResourceType::Condition,
];

/// Reads `body` as a resource of `kind`. `now` stands in for a recorded
/// time the resource leaves out; `mrn_system` is Bedside's MRN system.
pub fn parse(
    kind: ResourceType,
    body: &Value,
    now: Timestamp,
    mrn_system: &str,
) -> Result<Parsed, Invalid> {
    let root = Node::root(kind, body)?;
    match kind {
        ResourceType::Patient => patient(&root, mrn_system),
        ResourceType::Observation => observation(&root).map(Parsed::Observation),
        ResourceType::AllergyIntolerance => allergy(&root, now).map(Parsed::AllergyIntolerance),
        ResourceType::MedicationStatement => {
            medication(&root, now).map(Parsed::MedicationStatement)
        }
        ResourceType::Condition => condition(&root, now).map(Parsed::Condition),
        other => Err(Invalid::new(
            other.as_str(),
            "not-supported",
            format!("Bedside does not accept writes of {}", other.as_str()),
        )),
    }
}

/// A JSON object and its FHIRPath.
#[derive(Debug, Clone)]
struct Node<'a> {
    path: String,
    object: &'a Map<String, Value>,
}

impl<'a> Node<'a> {
    fn root(kind: ResourceType, body: &'a Value) -> Result<Self, Invalid> {
        let object = body.as_object().ok_or_else(|| {
            Invalid::new(kind.as_str(), "structure", "the body must be a JSON object")
        })?;
        match object.get("resourceType").and_then(Value::as_str) {
            Some(found) if found == kind.as_str() => {}
            Some(found) => {
                return Err(Invalid::new(
                    "resourceType",
                    "invalid",
                    format!("resourceType is {found}, but this is {}", kind.as_str()),
                ));
            }
            None => {
                return Err(Invalid::new(
                    "resourceType",
                    "required",
                    "resourceType is required",
                ));
            }
        }
        Ok(Self {
            path: kind.as_str().to_owned(),
            object,
        })
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> Invalid {
        Invalid::new(self.at(key), "value", message)
    }

    /// Refuses every element not in `allowed`: Bedside would not keep it.
    fn only(&self, allowed: &[&str]) -> Result<(), Invalid> {
        match self.object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(Invalid::new(
                self.at(key),
                "not-supported",
                format!(
                    "Bedside does not store {}; leave it out (stored here: {})",
                    self.at(key),
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    fn required(&self, key: &str) -> Result<&'a Value, Invalid> {
        self.object.get(key).ok_or_else(|| {
            Invalid::new(
                self.at(key),
                "required",
                format!("{} is required", self.at(key)),
            )
        })
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, Invalid> {
        match self.object.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(_) => {
                Err(self.invalid(key, format!("{} must be a non-empty string", self.at(key))))
            }
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, Invalid> {
        self.required(key)?;
        Ok(self.string(key)?.expect("present"))
    }

    fn child(&self, key: &str) -> Result<Option<Node<'a>>, Invalid> {
        match self.object.get(key) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Node {
                path: self.at(key),
                object,
            })),
            Some(_) => Err(self.invalid(key, format!("{} must be an object", self.at(key)))),
        }
    }

    fn required_child(&self, key: &str) -> Result<Node<'a>, Invalid> {
        self.required(key)?;
        Ok(self.child(key)?.expect("present"))
    }

    /// The items of an array element; at most `max` of them.
    fn list(&self, key: &str, max: usize) -> Result<Vec<&'a Value>, Invalid> {
        match self.object.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) if items.is_empty() => {
                Err(self.invalid(key, format!("{} must not be an empty array", self.at(key))))
            }
            Some(Value::Array(items)) if items.len() > max => Err(Invalid::new(
                self.at(key),
                "not-supported",
                format!("Bedside stores at most {max} of {}", self.at(key)),
            )),
            Some(Value::Array(items)) => Ok(items.iter().collect()),
            Some(_) => Err(self.invalid(key, format!("{} must be an array", self.at(key)))),
        }
    }

    /// The objects of an array element, each with its path.
    fn nodes(&self, key: &str, max: usize) -> Result<Vec<Node<'a>>, Invalid> {
        self.list(key, max)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.at(key));
                match item {
                    Value::Object(object) => Ok(Node { path, object }),
                    _ => Err(Invalid::new(
                        path.clone(),
                        "value",
                        format!("{path} must be an object"),
                    )),
                }
            })
            .collect()
    }

    /// A text element as the record's bounded text.
    fn text(&self, key: &str) -> Result<Option<Text>, Invalid> {
        self.string(key)?
            .map(|v| {
                Text::parse(v).map_err(|why| self.invalid(key, format!("{} {why}", self.at(key))))
            })
            .transpose()
    }

    fn dated(&self, key: &str) -> Result<Option<Timestamp>, Invalid> {
        self.string(key)?
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|at| Timestamp(at.timestamp_millis()))
                    .map_err(|_| {
                        self.invalid(
                            key,
                            format!(
                                "{} must be a date and time with seconds and a time zone, like 2026-03-01T10:05:00Z",
                                self.at(key)
                            ),
                        )
                    })
            })
            .transpose()
    }

    /// `resourceType`, `id` and `meta`: `meta` is the server's to set, so
    /// only its version and time may come back (and are ignored).
    fn envelope(&self) -> Result<(), Invalid> {
        if let Some(meta) = self.child("meta")? {
            meta.only(&["versionId", "lastUpdated"])?;
        }
        Ok(())
    }
}

/// The one coding of a concept, of `wanted` system(s).
fn coding<'a>(
    concept: &Node<'a>,
    wanted: &[&str],
    what: &str,
) -> Result<Option<Node<'a>>, Invalid> {
    let codings = concept.nodes("coding", 1)?;
    let Some(coding) = codings.into_iter().next() else {
        return Ok(None);
    };
    coding.only(&["system", "code", "display"])?;
    let system = coding.required_string("system")?;
    if !wanted.contains(&system) {
        return Err(coding.invalid(
            "system",
            format!("{what} must be coded in {}", wanted.join(" or ")),
        ));
    }
    coding.required_string("code")?;
    Ok(Some(coding))
}

/// A reference to a resource of `kind`: `{kind}/{id}`.
fn reference<'a>(node: &Node<'a>, key: &str, kind: &str) -> Result<Option<&'a str>, Invalid> {
    let Some(reference) = node.child(key)? else {
        return Ok(None);
    };
    reference.only(&["reference", "display"])?;
    let target = reference.required_string("reference")?;
    match target.strip_prefix(kind).and_then(|r| r.strip_prefix('/')) {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(Some(id)),
        _ => Err(reference.invalid(
            "reference",
            format!(
                "{} must reference a {kind} as {kind}/[id]",
                reference.at("reference")
            ),
        )),
    }
}

fn patient_reference(node: &Node<'_>, key: &str) -> Result<PatientId, Invalid> {
    node.required(key)?;
    let id = reference(node, key, "Patient")?.expect("present");
    PatientId::parse(id).ok_or_else(|| {
        Invalid::new(
            format!("{}.reference", node.at(key)),
            "value",
            format!("Patient {id} is not known"),
        )
    })
}

fn patient(root: &Node<'_>, mrn_system: &str) -> Result<Parsed, Invalid> {
    root.only(&[
        "resourceType",
        "id",
        "meta",
        "identifier",
        "active",
        "name",
        "telecom",
        "gender",
        "birthDate",
        "address",
    ])?;
    root.envelope()?;
    let mut mrn = None;
    for identifier in root.nodes("identifier", 1)? {
        identifier.only(&["use", "type", "system", "value"])?;
        if identifier.required_string("system")? != mrn_system {
            return Err(identifier.invalid(
                "system",
                format!("Bedside keeps one identifier, its medical record number ({mrn_system})"),
            ));
        }
        mrn = Some(identifier.required_string("value")?.to_owned());
    }
    if let Some(active) = root.object.get("active")
        && active != &Value::Bool(true)
    {
        return Err(root.invalid("active", "Bedside keeps active patients only"));
    }
    root.required("name")?;
    let names = root.nodes("name", 1)?;
    let name = &names[0];
    name.only(&["use", "family", "given"])?;
    if let Some(usage) = name.string("use")?
        && usage != "official"
        && usage != "usual"
    {
        return Err(name.invalid("use", "the name kept is the official one"));
    }
    let family_name = name.text("family")?.ok_or_else(|| {
        Invalid::new(
            name.at("family"),
            "required",
            format!("{} is required", name.at("family")),
        )
    })?;
    name.required("given")?;
    let given: Vec<&str> = name
        .list("given", 5)?
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            g.as_str()
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .ok_or_else(|| {
                    name.invalid(
                        &format!("given[{i}]"),
                        "each given name must be a non-empty string",
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let given_name = Text::parse(&given.join(" "))
        .map_err(|why| name.invalid("given", format!("{} {why}", name.at("given"))))?;
    let mut email = None;
    let mut phone = None;
    for telecom in root.nodes("telecom", 2)? {
        telecom.only(&["system", "value"])?;
        let value = telecom.required_string("value")?.to_owned();
        match telecom.required_string("system")? {
            "email" if email.is_none() => {
                email = Some(Email::try_from(value).map_err(|why| {
                    telecom.invalid("value", format!("{} {why}", telecom.at("value")))
                })?);
            }
            "phone" if phone.is_none() => {
                phone = Some(Phone::try_from(value).map_err(|why| {
                    telecom.invalid("value", format!("{} {why}", telecom.at("value")))
                })?);
            }
            _ => {
                return Err(
                    telecom.invalid("system", "Bedside keeps one email and one phone number")
                );
            }
        }
    }
    let sex = match root.required_string("gender")? {
        "female" => Sex::Female,
        "male" => Sex::Male,
        "other" => Sex::Other,
        "unknown" => Sex::Unknown,
        _ => return Err(root.invalid("gender", "gender must be female, male, other or unknown")),
    };
    let birth_date = NaiveDate::parse_from_str(root.required_string("birthDate")?, "%Y-%m-%d")
        .map_err(|_| root.invalid("birthDate", "birthDate must be a full date, YYYY-MM-DD"))?;
    let address = match root.nodes("address", 1)?.into_iter().next() {
        None => None,
        Some(address) => Some(postal_address(&address)?),
    };
    Ok(Parsed::Patient {
        new: NewPatient {
            given_name,
            family_name,
            birth_date,
            sex,
            email,
            phone,
            address,
            insurance: None,
        },
        mrn,
    })
}

fn postal_address(address: &Node<'_>) -> Result<Address, Invalid> {
    address.only(&["use", "line", "city", "state", "postalCode", "country"])?;
    if let Some(usage) = address.string("use")?
        && usage != "home"
    {
        return Err(address.invalid("use", "the address kept is the home address"));
    }
    if let Some(country) = address.string("country")?
        && country != "US"
    {
        return Err(address.invalid("country", "Bedside keeps US addresses (country US)"));
    }
    let required = |key: &str| -> Result<Text, Invalid> {
        address.text(key)?.ok_or_else(|| {
            Invalid::new(
                address.at(key),
                "required",
                format!("{} is required", address.at(key)),
            )
        })
    };
    address.required("line")?;
    let lines = address.list("line", 1)?;
    let line = lines[0]
        .as_str()
        .and_then(|l| Text::parse(l).ok())
        .ok_or_else(|| address.invalid("line", "the street line must be a non-empty string"))?;
    let city = required("city")?;
    let state = required("state")?;
    if state.as_str().len() != 2 || !state.as_str().bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(address.invalid("state", "state must be a two-letter code, like IL"));
    }
    let postal_code = PostalCode::parse(address.required_string("postalCode")?)
        .map_err(|e| address.invalid("postalCode", format!("{}: {e}", address.at("postalCode"))))?;
    Ok(Address {
        line,
        city,
        state,
        postal_code,
    })
}

const OBSERVATION_CATEGORIES: [&str; 9] = [
    "social-history",
    "vital-signs",
    "imaging",
    "laboratory",
    "procedure",
    "survey",
    "exam",
    "therapy",
    "activity",
];

fn observation(root: &Node<'_>) -> Result<ObservationRecord, Invalid> {
    root.only(&[
        "resourceType",
        "id",
        "meta",
        "status",
        "category",
        "code",
        "subject",
        "encounter",
        "effectiveDateTime",
        "valueQuantity",
        "valueCodeableConcept",
        "dataAbsentReason",
    ])?;
    root.envelope()?;
    if root.required_string("status")? != "final" {
        return Err(root.invalid("status", "Bedside records final observations only"));
    }
    root.required("category")?;
    let categories = root.nodes("category", 1)?;
    categories[0].only(&["coding"])?;
    let category = coding(
        &categories[0],
        &[system::OBSERVATION_CATEGORY],
        "the category",
    )?
    .ok_or_else(|| {
        Invalid::new(
            categories[0].at("coding"),
            "required",
            "the category needs a coding",
        )
    })?;
    let category_code = category.required_string("code")?;
    if !OBSERVATION_CATEGORIES.contains(&category_code) {
        return Err(category.invalid("code", "not a code of the observation-category system"));
    }
    let code = root.required_child("code")?;
    code.only(&["coding", "text"])?;
    let loinc = coding(&code, &[system::LOINC], "the observation")?.ok_or_else(|| {
        Invalid::new(
            code.at("coding"),
            "required",
            "the observation needs a LOINC coding",
        )
    })?;
    let display = match (loinc.text("display")?, code.text("text")?) {
        (_, Some(text)) | (Some(text), None) => text,
        (None, None) => {
            return Err(Invalid::new(
                code.at("text"),
                "required",
                "the observation needs a name: code.text or the coding's display",
            ));
        }
    };
    let patient = patient_reference(root, "subject")?;
    let encounter = reference(root, "encounter", "Encounter")?
        .map(|id| {
            EncounterId::parse(id).ok_or_else(|| {
                Invalid::new(
                    root.at("encounter.reference"),
                    "value",
                    format!("Encounter {id} is not known"),
                )
            })
        })
        .transpose()?;
    root.required("effectiveDateTime")?;
    let effective_at = root.dated("effectiveDateTime")?.expect("present");
    let mut record = ObservationRecord {
        patient,
        encounter,
        category: category_code.to_owned(),
        code: loinc.required_string("code")?.to_owned(),
        display: display.as_str().to_owned(),
        value: None,
        value_code: None,
        unit: None,
        ucum: None,
        effective_at,
    };
    let values = ["valueQuantity", "valueCodeableConcept", "dataAbsentReason"]
        .into_iter()
        .filter(|k| root.object.contains_key(*k))
        .count();
    if values != 1 {
        return Err(Invalid::new(
            root.at("value[x]"),
            "invariant",
            "an observation has exactly one of valueQuantity, valueCodeableConcept or dataAbsentReason",
        ));
    }
    if let Some(quantity) = root.child("valueQuantity")? {
        quantity.only(&["value", "unit", "system", "code"])?;
        let value = quantity
            .required("value")?
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| quantity.invalid("value", "the value must be a number"))?;
        if let Some(system) = quantity.string("system")?
            && system != system::UCUM
        {
            return Err(
                quantity.invalid("system", format!("units must be UCUM ({})", system::UCUM))
            );
        }
        let ucum = quantity.string("code")?;
        if ucum.is_some() && quantity.string("system")?.is_none() {
            return Err(Invalid::new(
                quantity.at("system"),
                "required",
                "a unit code needs its system",
            ));
        }
        record.value = Some(value);
        record.unit = quantity.text("unit")?.map(String::from);
        record.ucum = ucum.map(str::to_owned);
    }
    if let Some(answer) = root.child("valueCodeableConcept")? {
        answer.only(&["coding", "text"])?;
        let snomed = coding(&answer, &[system::SNOMED], "a coded answer")?.ok_or_else(|| {
            Invalid::new(
                answer.at("coding"),
                "required",
                "a coded answer needs a SNOMED CT coding",
            )
        })?;
        record.value_code = Some(snomed.required_string("code")?.to_owned());
    }
    if let Some(absent) = root.child("dataAbsentReason")? {
        absent.only(&["coding"])?;
        let reason =
            coding(&absent, &[system::DATA_ABSENT_REASON], "the reason")?.ok_or_else(|| {
                Invalid::new(absent.at("coding"), "required", "the reason needs a coding")
            })?;
        if reason.required_string("code")? != "unknown" {
            return Err(reason.invalid("code", "Bedside records a missing value as unknown only"));
        }
    }
    Ok(record)
}

/// The concept's name: its text, else its coding's display.
fn concept_name(concept: &Node<'_>, coding: Option<&Node<'_>>) -> Result<Text, Invalid> {
    if let Some(text) = concept.text("text")? {
        return Ok(text);
    }
    if let Some(display) = coding.map(|c| c.text("display")).transpose()?.flatten() {
        return Ok(display);
    }
    Err(Invalid::new(
        concept.at("text"),
        "required",
        format!(
            "{} needs a name: its text or its coding's display",
            concept.path
        ),
    ))
}

fn allergy(root: &Node<'_>, now: Timestamp) -> Result<AllergyRecord, Invalid> {
    root.only(&[
        "resourceType",
        "id",
        "meta",
        "clinicalStatus",
        "verificationStatus",
        "code",
        "patient",
        "recordedDate",
        "reaction",
    ])?;
    root.envelope()?;
    let status = allergy_status(root)?;
    let code = root.required_child("code")?;
    code.only(&["coding", "text"])?;
    let coded = coding(&code, &[system::RXNORM, system::SNOMED], "the substance")?;
    let substance = concept_name(&code, coded.as_ref())?;
    let (reaction, severity) = match root.nodes("reaction", 1)?.into_iter().next() {
        None => (None, None),
        Some(reaction) => {
            reaction.only(&["manifestation", "severity"])?;
            reaction.required("manifestation")?;
            let manifestations = reaction.nodes("manifestation", 1)?;
            manifestations[0].only(&["text"])?;
            let manifestation = manifestations[0].text("text")?.ok_or_else(|| {
                Invalid::new(
                    manifestations[0].at("text"),
                    "required",
                    "the manifestation needs its text",
                )
            })?;
            let severity = match reaction.string("severity")? {
                None => None,
                Some("mild") => Some("mild"),
                Some("moderate") => Some("moderate"),
                Some("severe") => Some("severe"),
                Some(_) => {
                    return Err(
                        reaction.invalid("severity", "severity must be mild, moderate or severe")
                    );
                }
            };
            (Some(String::from(manifestation)), severity)
        }
    };
    Ok(AllergyRecord {
        patient: patient_reference(root, "patient")?,
        substance: substance.into(),
        code: coded
            .as_ref()
            .map(|c| c.required_string("code").map(str::to_owned))
            .transpose()?,
        code_system: coded
            .as_ref()
            .map(|c| c.required_string("system").map(str::to_owned))
            .transpose()?,
        reaction,
        severity,
        status,
        recorded_at: root.dated("recordedDate")?.unwrap_or(now),
    })
}

/// The allergy's status: its clinical status, or `entered-in-error` as
/// its verification status (ait-1 and ait-2: then without a clinical status).
fn allergy_status(root: &Node<'_>) -> Result<AllergyStatus, Invalid> {
    if let Some(verification) = root.child("verificationStatus")? {
        verification.only(&["coding"])?;
        let code = coding(
            &verification,
            &[system::ALLERGY_VERIFICATION],
            "the verification status",
        )?
        .ok_or_else(|| {
            Invalid::new(
                verification.at("coding"),
                "required",
                "the verification status needs a coding",
            )
        })?;
        if code.required_string("code")? != "entered-in-error" {
            return Err(code.invalid(
                "code",
                "Bedside keeps a verification status only to mark an allergy entered-in-error",
            ));
        }
        if root.child("clinicalStatus")?.is_some() {
            return Err(root.invalid(
                "clinicalStatus",
                "an allergy entered in error has no clinical status (ait-2)",
            ));
        }
        return Ok(AllergyStatus::EnteredInError);
    }
    // ait-1: without a verificationStatus, clinicalStatus is required.
    root.required("clinicalStatus")?;
    let status = root.required_child("clinicalStatus")?;
    status.only(&["coding"])?;
    let code = coding(&status, &[system::ALLERGY_CLINICAL], "the clinical status")?;
    match code.map(|c| c.required_string("code")).transpose()? {
        Some("active") => Ok(AllergyStatus::Active),
        Some("inactive") => Ok(AllergyStatus::Inactive),
        Some("resolved") => Ok(AllergyStatus::Resolved),
        _ => Err(Invalid::new(
            status.at("coding"),
            "value",
            "the clinical status must be active, inactive or resolved",
        )),
    }
}

fn medication(root: &Node<'_>, now: Timestamp) -> Result<MedicationRecord, Invalid> {
    root.only(&[
        "resourceType",
        "id",
        "meta",
        "status",
        "medicationCodeableConcept",
        "subject",
        "dateAsserted",
    ])?;
    root.envelope()?;
    let status = match root.required_string("status")? {
        s @ ("active" | "completed" | "stopped") => s,
        _ => {
            return Err(root.invalid(
                "status",
                "Bedside keeps medications that are active, completed or stopped",
            ));
        }
    };
    let concept = root.required_child("medicationCodeableConcept")?;
    concept.only(&["coding", "text"])?;
    let coded = coding(&concept, &[system::RXNORM], "the medication")?;
    let name = concept_name(&concept, coded.as_ref())?;
    Ok(MedicationRecord {
        patient: patient_reference(root, "subject")?,
        name: name.into(),
        code: coded
            .as_ref()
            .map(|c| c.required_string("code").map(str::to_owned))
            .transpose()?,
        status: status.to_owned(),
        recorded_at: root.dated("dateAsserted")?.unwrap_or(now),
    })
}

const CONDITION_CLINICAL: [&str; 6] = [
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
];

fn condition(root: &Node<'_>, now: Timestamp) -> Result<ConditionRecordIn, Invalid> {
    root.only(&[
        "resourceType",
        "id",
        "meta",
        "clinicalStatus",
        "category",
        "code",
        "subject",
        "recordedDate",
    ])?;
    root.envelope()?;
    let clinical_status = match root.child("clinicalStatus")? {
        None => "active".to_owned(),
        Some(status) => {
            status.only(&["coding"])?;
            let code = coding(
                &status,
                &[system::CONDITION_CLINICAL],
                "the clinical status",
            )?
            .ok_or_else(|| {
                Invalid::new(
                    status.at("coding"),
                    "required",
                    "the clinical status needs a coding",
                )
            })?;
            let value = code.required_string("code")?;
            if !CONDITION_CLINICAL.contains(&value) {
                return Err(code.invalid("code", "not a code of the condition-clinical system"));
            }
            value.to_owned()
        }
    };
    // An encounter's diagnoses are made by closing its visit: a written
    // condition is a problem-list entry.
    for category in root.nodes("category", 1)? {
        category.only(&["coding"])?;
        let code = coding(&category, &[system::CONDITION_CATEGORY], "the category")?;
        if code.map(|c| c.required_string("code")).transpose()? != Some("problem-list-item") {
            return Err(Invalid::new(
                category.at("coding"),
                "business-rule",
                "a condition written over FHIR is a problem-list-item; encounter diagnoses are recorded when a visit closes",
            ));
        }
    }
    let code = root.required_child("code")?;
    code.only(&["coding", "text"])?;
    let icd = coding(&code, &[system::ICD10_CM], "the condition")?.ok_or_else(|| {
        Invalid::new(
            code.at("coding"),
            "required",
            "the condition needs an ICD-10-CM coding",
        )
    })?;
    let value = icd.required_string("code")?;
    let parsed = Icd10::parse(value)
        .map_err(|_| icd.invalid("code", format!("{value} is not an ICD-10-CM code")))?;
    let display = match (code.text("text")?, icd.text("display")?) {
        (Some(t), _) | (None, Some(t)) => Some(String::from(t)),
        (None, None) => None,
    };
    Ok(ConditionRecordIn {
        patient: patient_reference(root, "subject")?,
        encounter: None,
        code: parsed.as_str().to_owned(),
        display,
        clinical_status,
        recorded_at: root.dated("recordedDate")?.unwrap_or(now),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MRN: &str = "https://bedside.example/fhir/sid/mrn";

    fn expression(kind: ResourceType, body: Value) -> String {
        parse(kind, &body, Timestamp(0), MRN)
            .unwrap_err()
            .expression
    }

    fn pid() -> String {
        PatientId::new().as_str().to_owned()
    }

    #[test]
    fn a_patient_reads_into_the_record_s_demographics() {
        let body = json!({
            "resourceType": "Patient",
            "name": [{"family": "Lovelace", "given": ["Ada", "King"]}],
            "gender": "female", "birthDate": "1815-12-10",
            "telecom": [{"system": "email", "value": "ada@example.org"}],
            "address": [{"line": ["1 Main St"], "city": "Springfield", "state": "IL", "postalCode": "62701"}],
        });
        let Parsed::Patient { new, mrn } =
            parse(ResourceType::Patient, &body, Timestamp(0), MRN).unwrap()
        else {
            panic!("a patient");
        };
        assert_eq!(new.given_name.as_str(), "Ada King");
        assert_eq!(new.family_name.as_str(), "Lovelace");
        assert_eq!(mrn, None);
        assert_eq!(new.address.unwrap().state.as_str(), "IL");
    }

    #[test]
    fn refusals_name_the_element() {
        let patient =
            json!({"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"});
        assert_eq!(
            expression(ResourceType::Patient, patient.clone()),
            "Patient.name"
        );
        let mut with_name = patient;
        with_name["name"] = json!([{"family": "L", "given": ["A"], "prefix": ["Ms."]}]);
        assert_eq!(
            expression(ResourceType::Patient, with_name.clone()),
            "Patient.name[0].prefix"
        );
        with_name["name"] = json!([{"family": "L", "given": ["A"]}]);
        with_name["maritalStatus"] = json!({"text": "M"});
        assert_eq!(
            expression(ResourceType::Patient, with_name),
            "Patient.maritalStatus"
        );
        let observation = json!({
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": system::OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://example.org", "code": "x"}], "text": "X"},
            "subject": {"reference": format!("Patient/{}", pid())},
            "effectiveDateTime": "2026-01-01T10:00:00Z",
            "valueQuantity": {"value": 1},
        });
        assert_eq!(
            expression(ResourceType::Observation, observation),
            "Observation.code.coding[0].system"
        );
        let condition = json!({
            "resourceType": "Condition",
            "code": {"coding": [{"system": system::ICD10_CM, "code": "NOPE"}]},
            "subject": {"reference": format!("Patient/{}", pid())},
        });
        assert_eq!(
            expression(ResourceType::Condition, condition),
            "Condition.code.coding[0].code"
        );
    }

    #[test]
    fn an_observation_needs_exactly_one_value() {
        let body = json!({
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": system::OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": system::LOINC, "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": format!("Patient/{}", pid())},
            "effectiveDateTime": "2026-01-01T10:00:00.250+02:00",
            "valueQuantity": {"value": 88, "unit": "beats/minute", "system": system::UCUM, "code": "/min"},
        });
        let Parsed::Observation(o) =
            parse(ResourceType::Observation, &body, Timestamp(0), MRN).unwrap()
        else {
            panic!("an observation");
        };
        assert_eq!(
            (o.value, o.ucum.as_deref(), o.display.as_str()),
            (Some(88.0), Some("/min"), "Heart rate")
        );
        assert_eq!(o.effective_at.rfc3339(), "2026-01-01T08:00:00Z");
        let mut two = body;
        two["dataAbsentReason"] =
            json!({"coding": [{"system": system::DATA_ABSENT_REASON, "code": "unknown"}]});
        assert_eq!(
            expression(ResourceType::Observation, two),
            "Observation.value[x]"
        );
    }
}
