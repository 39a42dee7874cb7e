//! Visits: a patient's video visit from booking through the waiting room
//! and the consult to a finished encounter. Each transition is one
//! transaction that moves the visit, its encounter and the audit trail
//! together; a transition from the wrong state changes nothing.

pub mod chat;
pub mod drafts;
pub mod guests;
pub mod links;
mod model;
mod queue;
pub mod summary;

pub use crate::model::visit::{
    Emergency, EncounterStatus, PatientLocation, Priority, Queue, QueuedVisit, Visit, VisitStatus,
};
pub use model::{
    CheckIn, CheckedIn, ClosePreview, CloseVisit, CreatedVisit, NewVisit, QueueView, VisitChange,
};
pub use queue::{DEFAULT_CONSULT_SECONDS, QueueEntry, WaitBasis, key_for_position, order};
pub use summary::SummarySettings;

use crate::audit::{Actor, AuditEntry};
use crate::auth::{JoinLinks, User};
use crate::billing::{self, BillingPreview, BillingSettings};
use crate::cdss::{self, Knowledge};
use crate::codeset;
use crate::ehr::Measurement;
use crate::model::claim::{ClaimFacts, ClaimPayer};
use crate::model::clock::Clock;
use crate::model::codes::Icd10;
use crate::model::ids::{QueueId, UserId, VisitId};
use crate::model::quality::CallMeasure;
use crate::model::timestamp::Timestamp;
use crate::model::validation::{FieldError, Text};
use crate::outbox;
use crate::store::{self, Store, StoreError, Tx};

/// The consent text version a patient agrees to at check-in.
pub const CONSENT_VERSION: &str = "telehealth-consent-2026-01";
/// How long a patient's join link works for joining the visit.
pub const PATIENT_TOKEN_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// The lifetime a patient's token is minted with: the joining window plus
/// the summary's days, because the same link shows the after-visit summary
/// and a visit may close as late as the end of the joining window.
pub fn patient_token_ttl_seconds(summary: &SummarySettings) -> i64 {
    PATIENT_TOKEN_TTL_SECONDS + summary.available_for.as_secs() as i64
}
/// Most diagnoses one visit carries (the 837P's limit).
pub const MAX_DIAGNOSES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    WrongState(String),
    /// What was asked for existed and is no longer offered.
    #[error("{0}")]
    Gone(String),
    #[error("not allowed")]
    Forbidden,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn wrong_state(visit: &Visit, action: &str) -> VisitError {
    VisitError::WrongState(format!(
        "cannot {action} a visit that is {}",
        visit.status.as_str()
    ))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn load(tx: &mut Tx, id: &VisitId) -> Result<Visit, VisitError> {
    store::get_visit(tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))
}

/// An audit entry for an action on the visit's encounter, for its patient.
pub(crate) fn audit(actor: &Actor, action: &'static str, visit: &Visit) -> AuditEntry {
    AuditEntry::new(actor, action, "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id)
}

#[tracing::instrument(skip_all)]
pub async fn create_queue(store: &Store, clock: &Clock, name: &Text) -> Result<Queue, VisitError> {
    let mut tx = store.begin().await?;
    let queue = store::insert_queue(&mut tx, name.as_str(), clock.now().millis()).await?;
    store::commit(tx).await?;
    Ok(queue)
}

#[tracing::instrument(skip_all)]
pub async fn list_queues(store: &Store) -> Result<Vec<Queue>, VisitError> {
    let mut tx = store.begin_read().await?;
    let queues = store::list_queues(&mut tx).await?;
    store::commit(tx).await?;
    Ok(queues)
}

/// A queue with its entries in order and their wait estimates.
#[tracing::instrument(skip_all)]
pub async fn queue_view(
    store: &Store,
    id: &QueueId,
    clinicians_available: usize,
) -> Result<QueueView, VisitError> {
    let mut tx = store.begin_read().await?;
    let queue = store::get_queue(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("queue"))?;
    let visits = store::queued_visits(&mut tx, id).await?;
    let mean = store::mean_consult_seconds(&mut tx, id)
        .await?
        .unwrap_or(DEFAULT_CONSULT_SECONDS);
    store::commit(tx).await?;
    let basis = WaitBasis {
        mean_consult_seconds: mean,
        clinicians_available,
    };
    Ok(QueueView {
        id: queue.id,
        name: queue.name,
        entries: order(visits, basis),
    })
}

/// Books a visit with a planned encounter and issues the patient's token.
#[tracing::instrument(skip_all)]
pub async fn create_visit(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    new: &NewVisit,
    join_links: &JoinLinks,
) -> Result<CreatedVisit, VisitError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    if store::get_patient(&mut tx, &new.patient_id)
        .await?
        .is_none()
    {
        return Err(FieldError::new("patient_id", "is not a known patient").into());
    }
    if store::get_queue(&mut tx, &new.queue_id).await?.is_none() {
        return Err(FieldError::new("queue_id", "is not a known queue").into());
    }
    if let Some(clinician) = &new.clinician_id
        && !store::user_has_role(&mut tx, clinician, "clinician").await?
    {
        return Err(FieldError::new("clinician_id", "is not an active clinician").into());
    }
    let id = VisitId::new();
    let encounter =
        store::insert_encounter(&mut tx, &new.patient_id, new.reason.as_str(), now).await?;
    store::insert_visit(
        &mut tx,
        store::NewVisitRow {
            id: &id,
            patient: &new.patient_id,
            queue: &new.queue_id,
            encounter: &encounter,
            clinician: new.clinician_id.as_ref(),
            priority: new.priority.unwrap_or(Priority::Routine),
            reason: new.reason.as_str(),
            scheduled_start: new.scheduled_start.map(|t| t.millis()),
            created_by: actor.id.as_deref(),
            now,
        },
    )
    .await?;
    // A visit with a clinician and a start holds that slot, or fails here.
    claim_slot(&mut tx, new, &id, Timestamp(now)).await?;
    let visit = load(&mut tx, &id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.create", &visit)).await?;
    // The patient's join link goes out from the outbox, committed with the booking.
    outbox::queue_booking_link(&mut tx, &visit, Timestamp(now)).await?;
    store::commit(tx).await?;
    Ok(links::created(join_links, visit, 0, Timestamp(now)))
}

/// What a booking of a taken slot is told.
pub const SLOT_TAKEN: &str = "that time was just booked by someone else; pick another free slot";

/// Claims the slot a new visit is booked into, inside the transaction
/// that creates it: a visit given a clinician and a start holds that
/// clinician's time, for the clinician's visit length. The store's unique
/// key refuses a slot already held.
async fn claim_slot(
    tx: &mut Tx,
    new: &NewVisit,
    visit: &VisitId,
    now: Timestamp,
) -> Result<(), VisitError> {
    use crate::model::schedule::{Booking, DEFAULT_VISIT_MINUTES};
    let (Some(clinician), Some(start)) = (&new.clinician_id, new.scheduled_start) else {
        return Ok(());
    };
    let minutes = store::get_schedule(tx, clinician)
        .await?
        .map_or(DEFAULT_VISIT_MINUTES, |s| s.schedule.visit_minutes);
    let booking = Booking {
        clinician_id: clinician.clone(),
        start,
        end: Timestamp(start.millis() + minutes * 60_000),
        visit_id: visit.clone(),
    };
    store::claim_slot(tx, &booking, now)
        .await
        .map_err(|error| match error {
            StoreError::Duplicate("slot") => VisitError::WrongState(SLOT_TAKEN.to_owned()),
            other => other.into(),
        })
}

#[tracing::instrument(skip_all)]
pub async fn read_visit(store: &Store, actor: &Actor, id: &VisitId) -> Result<Visit, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.read", &visit)).await?;
    store::commit(tx).await?;
    Ok(visit)
}

/// The patient checks in: consent, symptoms and vitals; triage (NEWS2 and
/// red flags) may raise the priority; into the queue.
#[tracing::instrument(skip_all)]
pub async fn check_in(
    store: &Store,
    clock: &Clock,
    knowledge: &Knowledge,
    actor: &Actor,
    id: &VisitId,
    input: &CheckIn,
) -> Result<CheckedIn, VisitError> {
    if !input.consent_to_telehealth {
        return Err(FieldError::new(
            "consent_to_telehealth",
            "must be true to join a video visit",
        )
        .into());
    }
    if input.symptoms.len() > 20 {
        return Err(FieldError::new("symptoms", "lists at most 20 symptoms").into());
    }
    if let Some(vitals) = &input.vitals {
        vitals.validate()?;
    }
    let now = clock.now().millis();
    let symptoms: Vec<String> = input
        .symptoms
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let triage = cdss::triage(knowledge, input.vitals.as_ref(), &symptoms);
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    let step = visit
        .status
        .transition(VisitStatus::Waiting)
        .ok_or_else(|| wrong_state(&visit, "check in to"))?;
    if !store::mark_checked_in(&mut tx, id, step, CONSENT_VERSION, &symptoms, now).await? {
        return Err(wrong_state(&visit, "check in to"));
    }
    store::move_encounter(
        &mut tx,
        &visit.encounter_id,
        EncounterStatus::Arrived,
        None,
        now,
    )
    .await?;
    for measurement in input.vitals.iter().flat_map(|v| v.measurements()) {
        store::insert_observation(
            &mut tx,
            &visit.patient_id,
            Some(&visit.encounter_id),
            &measurement,
            now,
        )
        .await?;
    }
    if let Some(news2) = &triage.news2 {
        let score = Measurement {
            category: "survey",
            loinc: NEWS2_LOINC,
            display: "NEWS2 total score",
            value: Some(f64::from(news2.score)),
            value_code: None,
            unit: Some("score"),
            ucum: Some("{score}"),
        };
        store::insert_observation(
            &mut tx,
            &visit.patient_id,
            Some(&visit.encounter_id),
            &score,
            now,
        )
        .await?;
    }
    // Triage only ever raises the priority a scheduler set.
    let raised = triage.priority.filter(|p| p.rank() < visit.priority.rank());
    let news2 = triage
        .news2
        .as_ref()
        .map(|n| (i64::from(n.score), <&str>::from(n.risk)));
    let flags: Vec<String> = triage.red_flags.iter().map(|f| f.id.clone()).collect();
    store::record_triage(
        &mut tx,
        id,
        news2,
        &flags,
        triage.emergency.as_ref(),
        raised.map(Priority::as_str),
    )
    .await?;
    let visit = load(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.check_in", &visit)).await?;
    store::commit(tx).await?;
    Ok(CheckedIn { visit, triage })
}

/// The patient confirms reading the emergency advice check-in gave; staff
/// see that it reached them. Repeating it changes nothing.
#[tracing::instrument(skip_all)]
pub async fn acknowledge_emergency(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &VisitId,
) -> Result<Visit, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    if visit.emergency.is_none() {
        return Err(VisitError::WrongState(
            "this visit has no emergency advice to acknowledge".to_owned(),
        ));
    }
    // Only the first confirmation changes the visit and is audited.
    let visit = if store::acknowledge_emergency(&mut tx, id, clock.now().millis()).await? {
        let visit = load(&mut tx, id).await?;
        let entry = audit(actor, "visit.emergency_acknowledged", &visit);
        store::append_audit(&mut tx, &entry).await?;
        visit
    } else {
        visit
    };
    store::commit(tx).await?;
    Ok(visit)
}

/// LOINC for the NEWS2 total score observation.
pub const NEWS2_LOINC: &str = "88330-6";

/// A clinician admits a waiting visit; of two racing, exactly one wins.
#[tracing::instrument(skip_all)]
pub async fn admit(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    clinician: &User,
    id: &VisitId,
) -> Result<Visit, VisitError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    let step = visit
        .status
        .transition(VisitStatus::InConsult)
        .ok_or_else(|| wrong_state(&visit, "admit"))?;
    if !store::mark_admitted(&mut tx, id, step, &clinician.id, now).await? {
        return Err(wrong_state(&visit, "admit"));
    }
    store::move_encounter(
        &mut tx,
        &visit.encounter_id,
        EncounterStatus::InProgress,
        Some(&clinician.id),
        now,
    )
    .await?;
    let visit = load(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.admit", &visit)).await?;
    store::commit(tx).await?;
    Ok(visit)
}

/// Admits the first waiting visit of a queue this clinician may take:
/// unassigned, or assigned to them. `None` when there is none.
#[tracing::instrument(skip_all)]
pub async fn admit_next(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    clinician: &User,
    queue: &QueueId,
) -> Result<Option<Visit>, VisitError> {
    // A rival may take the head between reading and admitting: try the next.
    for _ in 0..5 {
        let view = queue_view(store, queue, 1).await?;
        let Some(entry) = view.entries.iter().find(|e| {
            e.status == VisitStatus::Waiting
                && e.clinician_id.as_ref().is_none_or(|c| *c == clinician.id)
        }) else {
            return Ok(None);
        };
        match admit(store, clock, actor, clinician, &entry.visit_id).await {
            Ok(visit) => return Ok(Some(visit)),
            Err(VisitError::WrongState(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// What closing now would hand billing, for the admitting clinician to see
/// (and correct the minutes) before closing; changes nothing.
#[tracing::instrument(skip_all)]
pub async fn close_preview(
    store: &Store,
    clock: &Clock,
    billing: &BillingSettings,
    clinician: &User,
    id: &VisitId,
    input: &ClosePreview,
) -> Result<BillingPreview, VisitError> {
    check_diagnoses(&input.diagnoses)?;
    let now = clock.now();
    let mut tx = store.begin_read().await?;
    let visit = load(&mut tx, id).await?;
    if visit.admitted_by.as_ref() != Some(&clinician.id) {
        return Err(VisitError::Forbidden);
    }
    if visit.status != VisitStatus::InConsult {
        return Err(wrong_state(&visit, "preview the closing of"));
    }
    let measure = store::call_measure(&mut tx, &visit.id).await?;
    let livekit = store::measured_call_seconds(&mut tx, &visit.encounter_id).await?;
    let call_minutes = call_minutes(&visit, livekit, measure.as_ref(), now.millis());
    let payer = store::get_patient(&mut tx, &visit.patient_id)
        .await?
        .and_then(|p| p.insurance)
        .map(|i| ClaimPayer::from(&i));
    let start = visit.admitted_at.unwrap_or(now);
    let previous =
        store::previous_encounter_end(&mut tx, &visit.patient_id, &visit.encounter_id, start)
            .await?;
    store::commit(tx).await?;
    let facts = ClaimFacts {
        patient_id: visit.patient_id.clone(),
        total_minutes: input.total_minutes.unwrap_or(call_minutes),
        new_patient: input.new_patient,
        audio_only: input
            .audio_only
            .unwrap_or_else(|| measure.as_ref().is_some_and(CallMeasure::mostly_audio_only)),
        patient_location: input.patient_location,
        period_start: Some(start),
        period_end: now,
        payer,
        diagnoses: input
            .diagnoses
            .iter()
            .take(MAX_DIAGNOSES)
            .cloned()
            .collect(),
        previous_encounter_end: previous,
        modality_reason: measure.as_ref().map(CallMeasure::modality_reason),
    };
    Ok(billing::preview(billing, &facts))
}

/// Every diagnosis must exist in the ICD-10-CM release and be billable; a
/// heading is refused with the codes under it that could be meant.
fn check_diagnoses(codes: &[Icd10]) -> Result<(), FieldError> {
    let table = codeset::icd10cm();
    for (index, code) in codes.iter().enumerate() {
        table.check_billable(code).map_err(|problem| {
            FieldError::new(format!("diagnoses[{index}]"), problem.to_string())
        })?;
    }
    Ok(())
}

/// The call's length in whole minutes, rounded up: what LiveKit measured
/// (patient and staff both connected) when it carried the call, else the
/// connected time the browsers' quality summaries measured (`measure`),
/// else the time since admission.
fn call_minutes(
    visit: &Visit,
    livekit_seconds: Option<i64>,
    measure: Option<&CallMeasure>,
    now: i64,
) -> i64 {
    let call_millis = match livekit_seconds {
        Some(seconds) if seconds > 0 => seconds * 1000,
        _ => match measure {
            Some(measure) if measure.connected_ms > 0 => measure.connected_ms,
            _ => visit.admitted_at.map_or(0, |at| now - at.millis()),
        },
    };
    ((call_millis + 59_999) / 60_000).max(1)
}

/// The admitting clinician closes the consult: note, diagnoses, minutes and
/// location are stored, the encounter finished, and billing handed the
/// visit through the outbox — all in one transaction.
#[tracing::instrument(skip_all)]
pub async fn close(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    clinician: &User,
    id: &VisitId,
    input: &CloseVisit,
) -> Result<Visit, VisitError> {
    if input.diagnoses.is_empty() {
        return Err(FieldError::new("diagnoses", "needs at least one ICD-10-CM code").into());
    }
    if input.diagnoses.len() > MAX_DIAGNOSES {
        return Err(
            FieldError::new("diagnoses", format!("has at most {MAX_DIAGNOSES} codes")).into(),
        );
    }
    if let Some(minutes) = input.total_minutes
        && !(1..=24 * 60).contains(&minutes)
    {
        return Err(FieldError::new("total_minutes", "must be from 1 to 1440").into());
    }
    check_diagnoses(&input.diagnoses)?;
    let note = &input.note;
    for (field, text) in [
        ("note.subjective", &note.subjective),
        ("note.objective", &note.objective),
        ("note.assessment", &note.assessment),
        ("note.plan", &note.plan),
    ] {
        if text.chars().count() > 20_000 {
            return Err(FieldError::new(field, "is longer than 20000 characters").into());
        }
    }
    if note.assessment.trim().is_empty() {
        return Err(FieldError::new("note.assessment", "must not be empty").into());
    }
    let override_reason = match input.call_override_reason.as_deref().map(str::trim) {
        Some(reason) if reason.chars().count() > 500 => {
            return Err(
                FieldError::new("call_override_reason", "is longer than 500 characters").into(),
            );
        }
        Some("") | None => None,
        Some(reason) => Some(reason.to_owned()),
    };
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let store::ToClose {
        visit,
        measure,
        in_room,
    } = store::get_visit_to_close(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    if visit.status == VisitStatus::InConsult && visit.admitted_by.as_ref() != Some(&clinician.id) {
        return Err(VisitError::Forbidden);
    }
    // The call ends with the consult; its length is the default minutes.
    // Only LiveKit rooms report presence: a peer-to-peer call has none to end.
    let presence = if in_room {
        store::end_call_presence(&mut tx, &visit.encounter_id, now).await?
    } else {
        Vec::new()
    };
    let livekit = store::overlap_seconds(&presence);
    let call_minutes = call_minutes(&visit, livekit, measure.as_ref(), now);
    let modality = modality(measure.as_ref(), input.audio_only, override_reason)?;
    let location = input.patient_location.unwrap_or(PatientLocation::Home);
    let closing = store::Closing {
        total_minutes: input.total_minutes.unwrap_or(call_minutes),
        new_patient: input.new_patient,
        audio_only: modality.audio_only,
        location,
        clinician: &clinician.id,
        modality_reason: modality.reason.as_deref(),
    };
    let step = visit
        .status
        .transition(VisitStatus::Closed)
        .ok_or_else(|| wrong_state(&visit, "close"))?;
    if !store::mark_closed(&mut tx, id, step, &closing, now).await? {
        return Err(wrong_state(&visit, "close"));
    }
    // The rest goes to the database in one round trip. The note is final
    // now: its draft has served. Deleted without asking first: a save that
    // held the visit's row (drafts::save) when this close began committed
    // before `mark_closed` got the row, so before these writes; none can
    // come after.
    let mut writes = store::Writes::new(&tx);
    store::delete_draft(&mut writes, id);
    store::finish_encounter(
        &mut writes,
        &visit.encounter_id,
        now,
        location,
        closing.total_minutes,
        measure.as_ref().filter(|m| m.connected_ms > 0),
    );
    store::insert_note(
        &mut writes,
        &visit.encounter_id,
        &visit.patient_id,
        &clinician.id,
        note,
        now,
    );
    let diagnoses: Vec<_> = (input.diagnoses.iter().enumerate())
        .map(|(rank, code)| store::NewConditionRow {
            patient: &visit.patient_id,
            encounter: Some(&visit.encounter_id),
            code,
            display: codeset::icd10cm().get(code).map(|entry| entry.description),
            rank: Some(rank as i64 + 1),
            recorder: &clinician.id,
            at: now,
        })
        .collect();
    store::insert_conditions(&mut writes, &diagnoses);
    store::insert_billing_outbox(&mut writes, &visit.id, &visit.encounter_id, now);
    let visit = Visit {
        status: step.to(),
        closed_at: Some(Timestamp(now)),
        total_minutes: Some(closing.total_minutes),
        new_patient: closing.new_patient,
        audio_only: closing.audio_only,
        patient_location: Some(location),
        ..visit
    };
    let mut audits = Vec::with_capacity(2);
    if modality.overridden {
        audits.push(audit(actor, "visit.modality_override", &visit));
    }
    audits.push(audit(actor, "visit.close", &visit));
    store::write_audits(&mut writes, &audits);
    writes.run(&mut tx).await?;
    store::commit(tx).await?;
    Ok(visit)
}

/// Whether the visit bills as audio-only, and why.
struct Modality {
    audio_only: bool,
    reason: Option<String>,
    /// The clinician's word went against the measured call.
    overridden: bool,
}

/// The measured call decides video or audio-only; the clinician may say
/// otherwise only with a stated reason, which the claim then carries.
fn modality(
    measure: Option<&CallMeasure>,
    asked: Option<bool>,
    reason: Option<String>,
) -> Result<Modality, FieldError> {
    let Some(measure) = measure else {
        return Ok(Modality {
            audio_only: asked.unwrap_or(false),
            reason: reason.map(|r| format!("Clinician: {r}")),
            overridden: false,
        });
    };
    let measured = measure.mostly_audio_only();
    match asked {
        Some(asked) if asked != measured => {
            let Some(reason) = reason else {
                return Err(FieldError::new(
                    "call_override_reason",
                    format!(
                        "is needed to bill this visit as {} when the call measured {} of {} connected minutes without video",
                        if asked { "audio-only" } else { "video" },
                        measure.audio_only_minutes(),
                        measure.connected_minutes()
                    ),
                ));
            };
            Ok(Modality {
                audio_only: asked,
                reason: Some(format!(
                    "{} by the clinician: {reason} ({})",
                    if asked {
                        "Audio-only"
                    } else {
                        "Audio and video"
                    },
                    measure.modality_reason()
                )),
                overridden: true,
            })
        }
        _ => Ok(Modality {
            audio_only: measured,
            reason: Some(measure.modality_reason()),
            overridden: false,
        }),
    }
}

/// Ends a visit that never started: `cancelled` or `no_show`.
#[tracing::instrument(skip_all)]
pub async fn end(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &VisitId,
    to: VisitStatus,
) -> Result<Visit, VisitError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    let verb = if to == VisitStatus::NoShow {
        "mark as no-show"
    } else {
        "cancel"
    };
    let step = visit
        .status
        .transition(to)
        .ok_or_else(|| wrong_state(&visit, verb))?;
    if !store::mark_ended(&mut tx, id, step, now).await? {
        return Err(wrong_state(&visit, verb));
    }
    // The visit's slot is free to book again.
    store::release_slot(&mut tx, id).await?;
    store::move_encounter(
        &mut tx,
        &visit.encounter_id,
        EncounterStatus::Cancelled,
        None,
        now,
    )
    .await?;
    let visit = load(&mut tx, id).await?;
    let action = if to == VisitStatus::NoShow {
        "visit.no_show"
    } else {
        "visit.cancel"
    };
    store::append_audit(&mut tx, &audit(actor, action, &visit)).await?;
    if to == VisitStatus::Cancelled {
        outbox::queue_cancellation(&mut tx, &visit, Timestamp(now)).await?;
    }
    store::commit(tx).await?;
    Ok(visit)
}

/// A scheduler reprioritises, moves, assigns or reorders a visit still in a
/// queue. Returns the visit and the queue it left, if it moved.
#[tracing::instrument(skip_all)]
pub async fn change(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &VisitId,
    change: &VisitChange,
) -> Result<(Visit, Option<QueueId>), VisitError> {
    if change.position == Some(0) {
        return Err(FieldError::new("position", "counts from 1").into());
    }
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let mut visit = load(&mut tx, id).await?;
    if !matches!(visit.status, VisitStatus::Scheduled | VisitStatus::Waiting) {
        return Err(wrong_state(&visit, "change"));
    }
    let left = change
        .queue_id
        .as_ref()
        .filter(|q| **q != visit.queue_id)
        .map(|_| visit.queue_id.clone());
    if let Some(queue) = &change.queue_id {
        if store::get_queue(&mut tx, queue).await?.is_none() {
            return Err(FieldError::new("queue_id", "is not a known queue").into());
        }
        visit.queue_id = queue.clone();
    }
    if let Some(clinician) = &change.clinician_id {
        if !store::user_has_role(&mut tx, clinician, "clinician").await? {
            return Err(FieldError::new("clinician_id", "is not an active clinician").into());
        }
        visit.clinician_id = Some(clinician.clone());
    }
    if let Some(priority) = change.priority {
        visit.priority = priority;
    }
    if let Some(position) = change.position {
        // Place among the visits of the same status and priority, in order.
        let peers: Vec<QueuedVisit> = store::queued_visits(&mut tx, &visit.queue_id)
            .await?
            .into_iter()
            .filter(|v| {
                v.visit_id != visit.id && v.status == visit.status && v.priority == visit.priority
            })
            .collect();
        let mut ordered = peers;
        ordered.sort_by_key(|v| (v.sort_key, v.visit_id.clone()));
        let keys: Vec<i64> = ordered.iter().map(|v| v.sort_key).collect();
        visit.sort_key = match key_for_position(&keys, position) {
            Some(key) => key,
            None => {
                let ids: Vec<VisitId> = ordered.iter().map(|v| v.visit_id.clone()).collect();
                store::renumber(&mut tx, &ids).await?;
                let keys: Vec<i64> = (1..=ids.len() as i64).map(|i| i * 1_000).collect();
                key_for_position(&keys, position).expect("renumbered keys leave gaps")
            }
        };
    }
    if !store::update_routing(&mut tx, &visit, now).await? {
        return Err(wrong_state(&visit, "change"));
    }
    let visit = load(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "visit.update", &visit)).await?;
    store::commit(tx).await?;
    Ok((visit, left))
}

/// Whether `user` may act as the clinician of a visit (for the call room).
pub fn is_visit_clinician(visit: &Visit, user: &UserId) -> bool {
    visit.admitted_by.as_ref() == Some(user) || visit.clinician_id.as_ref() == Some(user)
}
