//! Clinical decision support: patient-specific warnings and advice from a
//! knowledge base, at three moments — check-in (triage), opening the chart
//! or starting the encounter, and signing a medication order. Served to
//! other systems as CDS Hooks 2.0 and to Bedside's console as the same cards.
//! Every card shown and every override is audited.

mod cards;
mod hooks;
mod knowledge;
mod news2;
mod rules;
mod triage;

pub use cards::{Card, Indicator};
pub use hooks::{HookRequest, discovery, hook_of};
pub use knowledge::{Knowledge, KnowledgeError};
pub use news2::{News2, Parameter, Part, Risk, score as news2_score};
pub use rules::{AllergyFact, MedicationFact, PatientData, Taken, assess, check_orders};
pub use triage::{FlagHit, Triage, triage};

use serde_json::Value;

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::ehr::{AllergyStatus, Observation, Vitals};
use crate::model::clock::Clock;
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::store::{self, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum CdsError {
    #[error("no such CDS service")]
    UnknownService,
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The latest value of each vital sign among stored observations, and
/// when they were taken: at this visit only when every value used was.
pub fn latest_vitals(
    observations: &[Observation],
    this_visit: Option<&EncounterId>,
) -> Option<(Vitals, Taken)> {
    let mut newest_first: Vec<&Observation> = observations.iter().collect();
    newest_first.sort_by_key(|o| std::cmp::Reverse(o.effective_at));
    let mut vitals = Vitals::default();
    let mut oldest_used = None;
    let mut all_this_visit = true;
    for obs in newest_first {
        if vitals.record(&obs.code, obs.value, obs.value_code.as_deref()) {
            oldest_used = Some(obs.effective_at);
            all_this_visit &= this_visit.is_some() && obs.encounter_id.as_ref() == this_visit;
        }
    }
    let oldest = oldest_used?;
    let taken = if all_this_visit {
        Taken::ThisVisit
    } else {
        Taken::Earlier(oldest)
    };
    Some((vitals, taken))
}

async fn stored_data(
    tx: &mut Tx,
    patient: &PatientId,
    encounter: Option<&EncounterId>,
) -> Result<PatientData, StoreError> {
    let observations = store::observations_for_patient(tx, patient, None).await?;
    let symptoms = match encounter {
        Some(encounter) => store::symptoms_for_encounter(tx, encounter).await?,
        None => Vec::new(),
    };
    let (vitals, vitals_taken) = latest_vitals(&observations, encounter).unzip();
    Ok(PatientData {
        vitals,
        vitals_taken,
        symptoms,
        // Only what is current: an ended allergy or medication raises nothing.
        allergies: store::allergies_for_patient(tx, patient)
            .await?
            .into_iter()
            .filter(|a| a.status == AllergyStatus::Active)
            .map(|a| AllergyFact {
                substance: a.substance,
                code: a.code,
            })
            .collect(),
        medications: store::medications_for_patient(tx, patient)
            .await?
            .into_iter()
            .filter(|m| m.status == "active")
            .map(|m| MedicationFact {
                name: m.name,
                code: m.code,
                order_id: None,
            })
            .collect(),
    })
}

async fn audit_cards(
    tx: &mut Tx,
    actor: &Actor,
    patient: Option<&str>,
    cards: &[Card],
) -> Result<(), StoreError> {
    for card in cards {
        let mut entry = AuditEntry::new(actor, "cds.card_shown", "CdsCard").resource(&card.uuid);
        if let Some(patient) = patient {
            entry = entry.patient(patient);
        }
        store::append_audit(tx, &entry).await?;
    }
    Ok(())
}

/// `GET /api/v1/visits/{id}/cds`: the encounter-start cards for a visit.
#[tracing::instrument(skip_all)]
pub async fn visit_cards(
    store: &Store,
    kb: &Knowledge,
    actor: &Actor,
    visit: &VisitId,
) -> Result<Vec<Card>, CdsError> {
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, visit)
        .await?
        .ok_or(CdsError::NotFound("visit"))?;
    let data = stored_data(&mut tx, &visit.patient_id, Some(&visit.encounter_id)).await?;
    let cards = assess(kb, &data);
    audit_cards(&mut tx, actor, Some(visit.patient_id.as_str()), &cards).await?;
    store::commit(tx).await?;
    Ok(cards)
}

/// `POST /cds-services/{id}`: prefetch is used where sent, the store read
/// where not; 412 when the data can be had neither way.
#[tracing::instrument(skip_all)]
pub async fn call_hook(
    store: &Store,
    kb: &Knowledge,
    actor: &Actor,
    service: &str,
    request: &HookRequest,
) -> Result<Vec<Card>, CdsError> {
    let hook = hook_of(service).ok_or(CdsError::UnknownService)?;
    let context = request
        .context_for(hook)
        .map_err(|e| CdsError::Malformed(e.0))?;
    let keys = ["allergies", "medications", "vitals"];
    let all_prefetched = keys.iter().all(|k| request.prefetched(k).is_some());
    let local_patient = PatientId::parse(&context.patient_id);
    let mut tx = store.begin().await?;
    let known = match &local_patient {
        Some(id) => store::get_patient(&mut tx, id).await?.is_some(),
        None => false,
    };
    if !known && !all_prefetched {
        return Err(CdsError::PreconditionFailed(
            "the patient is not in this Bedside and the prefetch lacks allergies, medications or vitals".to_owned(),
        ));
    }
    let encounter = context.encounter_id.as_deref().and_then(EncounterId::parse);
    let mut data = match (&local_patient, known) {
        (Some(id), true) => stored_data(&mut tx, id, encounter.as_ref()).await?,
        _ => PatientData::default(),
    };
    // What the client sent takes precedence over what the store holds.
    if let Some(value) = request.prefetched("allergies") {
        data.allergies = hooks::resources(value)
            .filter(|r| r["resourceType"] == "AllergyIntolerance" && hooks::is_current_allergy(r))
            .map(hooks::allergy)
            .collect();
    }
    if let Some(value) = request.prefetched("medications") {
        data.medications = hooks::resources(value)
            .filter(|r| {
                (r["resourceType"] == "MedicationRequest"
                    || r["resourceType"] == "MedicationStatement")
                    && hooks::is_current_medication(r)
            })
            .map(|r| hooks::medication(r, false))
            .collect();
    }
    if let Some(value) = request.prefetched("vitals") {
        (data.vitals, data.vitals_taken) = hooks::vitals(
            hooks::resources(value).filter(|r| r["resourceType"] == "Observation"),
            context.encounter_id.as_deref(),
        )
        .unzip();
    }
    let cards = if hook == "order-sign" {
        check_orders(kb, &data, &context.draft_orders)
    } else {
        assess(kb, &data)
    };
    let patient = known.then_some(context.patient_id.as_str());
    let call = AuditEntry::new(actor, "cds.hook", "CdsService").resource(service);
    let call = match patient {
        Some(p) => call.patient(p),
        None => call,
    };
    store::append_audit(&mut tx, &call).await?;
    audit_cards(&mut tx, actor, patient, &cards).await?;
    store::commit(tx).await?;
    Ok(cards)
}

/// `POST /cds-services/{id}/feedback`: each accepted or overridden card is
/// recorded, and an override is audited with its reason.
#[tracing::instrument(skip_all)]
pub async fn record_feedback(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    service: &str,
    body: &Value,
) -> Result<usize, CdsError> {
    hook_of(service).ok_or(CdsError::UnknownService)?;
    let items = body
        .get("feedback")
        .and_then(Value::as_array)
        .ok_or_else(|| CdsError::Malformed("feedback must be an array".to_owned()))?;
    let mut tx = store.begin().await?;
    for item in items {
        let card = item
            .get("card")
            .and_then(Value::as_str)
            .ok_or_else(|| CdsError::Malformed("feedback[].card is required".to_owned()))?;
        let outcome = item
            .get("outcome")
            .and_then(Value::as_str)
            .filter(|o| matches!(*o, "accepted" | "overridden"));
        let outcome = outcome.ok_or_else(|| {
            CdsError::Malformed("feedback[].outcome must be accepted or overridden".to_owned())
        })?;
        let reason = item
            .pointer("/overrideReason/reason/display")
            .or_else(|| item.pointer("/overrideReason/reason/code"))
            .and_then(Value::as_str);
        let feedback = store::Feedback {
            service_id: service,
            card_uuid: card,
            outcome,
            override_reason: reason,
            user_id: actor.id.as_deref(),
            at: clock.now().millis(),
        };
        store::insert_cds_feedback(&mut tx, &feedback).await?;
        let action = if outcome == "overridden" {
            "cds.override"
        } else {
            "cds.accept"
        };
        let entry = AuditEntry::new(actor, action, "CdsCard")
            .resource(card)
            .outcome(Outcome::Success);
        store::append_audit(&mut tx, &entry).await?;
    }
    store::commit(tx).await?;
    Ok(items.len())
}
