//! The front desk's calendar: clinicians' working hours, the slots derived
//! from them, booking a slot (always through [`visits::create_visit`], so
//! a booked appointment is a visit like any other), moving a booking to
//! another slot, and the day and week views of what is booked.
//!
//! No double booking is decided here: the store's unique key on
//! (clinician, slot start) refuses the second of two racing bookings.

pub mod booking;

use std::collections::BTreeSet;

pub use crate::model::schedule::{
    Booking, CalendarEntry, DEFAULT_VISIT_MINUTES, Schedule, ScheduleInput, Slot, SlotStatus,
    WorkingHours,
};
pub use crate::store::CalendarQuery;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::{Actor, AuditEntry};
use crate::auth::JoinLinks;
use crate::model::clock::Clock;
use crate::model::ids::{PatientId, UserId, VisitId};
use crate::model::schedule::{StoredSchedule, derive_slots};
use crate::model::timestamp::Timestamp;
use crate::model::validation::{FieldError, Text};
use crate::store::{self, Store, StoreError, Tx};
use crate::visits::{self, CreatedVisit, NewVisit, Visit, VisitError, VisitStatus};

/// The longest span one request for slots or a calendar may cover.
pub const MAX_SPAN_DAYS: i64 = 35;

const DAY_MILLIS: i64 = 24 * 3600 * 1000;

/// What a booking of a taken slot is told.
pub const SLOT_TAKEN: &str = "that time was just booked by someone else; pick another free slot";

/// The body of `POST /appointments`: a free slot for a patient.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    pub patient_id: PatientId,
    pub clinician_id: UserId,
    /// The slot's start, as `GET /slots` gave it.
    pub start: Timestamp,
    pub reason: Text,
}

/// The body of `POST /visits/{id}/rebook`: the slot to move the visit to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rebooking {
    /// Another clinician's slot; the visit's own clinician when left out.
    #[serde(default)]
    pub clinician_id: Option<UserId>,
    pub start: Timestamp,
}

/// Checks a requested span: `to` after `from`, at most [`MAX_SPAN_DAYS`].
pub fn check_span(from: Timestamp, to: Timestamp) -> Result<(), FieldError> {
    if to <= from {
        return Err(FieldError::new("to", "must be after from"));
    }
    if to.millis() - from.millis() > MAX_SPAN_DAYS * DAY_MILLIS {
        return Err(FieldError::new(
            "to",
            format!("must be at most {MAX_SPAN_DAYS} days after from"),
        ));
    }
    Ok(())
}

async fn active_schedule(tx: &mut Tx, clinician: &UserId) -> Result<StoredSchedule, VisitError> {
    store::get_schedule(tx, clinician)
        .await?
        .ok_or(VisitError::NotFound("clinician schedule"))
}

/// Sets a clinician's working hours, visit length and queue.
#[tracing::instrument(skip_all)]
pub async fn set_schedule(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    clinician: &UserId,
    input: &ScheduleInput,
) -> Result<Schedule, VisitError> {
    let checked = input.check()?;
    let mut tx = store.begin().await?;
    if !store::user_has_role(&mut tx, clinician, "clinician").await? {
        return Err(VisitError::NotFound("clinician"));
    }
    if store::get_queue(&mut tx, &checked.queue_id)
        .await?
        .is_none()
    {
        return Err(FieldError::new("queue_id", "is not a known queue").into());
    }
    store::put_schedule(&mut tx, clinician, &checked, clock.now()).await?;
    let entry = AuditEntry::new(actor, "schedule.update", "Schedule").resource(clinician);
    store::append_audit(&mut tx, &entry).await?;
    let saved = active_schedule(&mut tx, clinician).await?;
    store::commit(tx).await?;
    Ok(saved.to_api())
}

/// One clinician's schedule.
#[tracing::instrument(skip_all)]
pub async fn schedule(store: &Store, clinician: &UserId) -> Result<Schedule, VisitError> {
    let mut tx = store.begin_read().await?;
    let schedule = active_schedule(&mut tx, clinician).await?;
    store::commit(tx).await?;
    Ok(schedule.to_api())
}

/// Every active clinician's schedule.
#[tracing::instrument(skip_all)]
pub async fn schedules(store: &Store) -> Result<Vec<Schedule>, VisitError> {
    let mut tx = store.begin_read().await?;
    let all = store::list_schedules(&mut tx).await?;
    store::commit(tx).await?;
    Ok(all.iter().map(StoredSchedule::to_api).collect())
}

/// The slots of one clinician, or of every clinician with a schedule,
/// starting in `[from, to)` and not yet begun; booked ones are `busy`.
#[tracing::instrument(skip_all)]
pub async fn slots(
    store: &Store,
    clock: &Clock,
    clinician: Option<&UserId>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Slot>, VisitError> {
    check_span(from, to)?;
    let mut tx = store.begin_read().await?;
    let schedules = match clinician {
        Some(id) => vec![active_schedule(&mut tx, id).await?],
        None => store::list_schedules(&mut tx).await?,
    };
    let mut slots = Vec::new();
    for schedule in &schedules {
        slots.extend(slots_of(&mut tx, clock.now(), schedule, from, to).await?);
    }
    store::commit(tx).await?;
    slots.sort_by(|a, b| (a.start, &a.clinician_id).cmp(&(b.start, &b.clinician_id)));
    Ok(slots)
}

async fn slots_of(
    tx: &mut Tx,
    now: Timestamp,
    schedule: &StoredSchedule,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Slot>, StoreError> {
    // A booking may start before `from` and still overlap its first slot.
    let reach = Timestamp(from.millis() - DAY_MILLIS);
    let booked = store::bookings_between(tx, &schedule.clinician_id, reach, to).await?;
    Ok(derive_slots(
        &schedule.clinician_id,
        &schedule.schedule,
        from,
        to,
        now,
        &booked,
    ))
}

/// The free slot of `clinician` starting at `start`, or a plain-words
/// refusal: not a slot of their hours, already begun, or taken.
async fn free_slot(
    tx: &mut Tx,
    now: Timestamp,
    schedule: &StoredSchedule,
    start: Timestamp,
    ignoring: Option<&VisitId>,
) -> Result<Slot, VisitError> {
    let end = Timestamp(start.millis() + 1);
    let reach = Timestamp(start.millis() - DAY_MILLIS);
    let booked: Vec<Booking> = store::bookings_between(
        tx,
        &schedule.clinician_id,
        reach,
        Timestamp(start.millis() + DAY_MILLIS),
    )
    .await?
    .into_iter()
    .filter(|b| Some(&b.visit_id) != ignoring)
    .collect();
    let slot = derive_slots(
        &schedule.clinician_id,
        &schedule.schedule,
        start,
        end,
        now,
        &booked,
    )
    .into_iter()
    .find(|s| s.start == start)
    .ok_or_else(|| {
        FieldError::new(
            "start",
            "is not a bookable time of this clinician: pick one of the free slots",
        )
    })?;
    if slot.status == SlotStatus::Busy {
        return Err(VisitError::WrongState(SLOT_TAKEN.to_owned()));
    }
    Ok(slot)
}

/// Books a free slot for a patient: a visit with the clinician at the
/// slot's start, in the clinician's queue, made by
/// [`visits::create_visit`], which claims the slot in the same transaction.
#[tracing::instrument(skip_all)]
pub async fn book(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
    input: &NewAppointment,
) -> Result<CreatedVisit, VisitError> {
    let mut tx = store.begin_read().await?;
    let schedule = store::get_schedule(&mut tx, &input.clinician_id)
        .await?
        .ok_or_else(|| FieldError::new("clinician_id", "has no working hours to book"))?;
    free_slot(&mut tx, clock.now(), &schedule, input.start, None).await?;
    store::commit(tx).await?;
    let new = NewVisit {
        patient_id: input.patient_id.clone(),
        queue_id: schedule.schedule.queue_id.clone(),
        clinician_id: Some(input.clinician_id.clone()),
        scheduled_start: Some(input.start),
        reason: input.reason.clone(),
        priority: None,
    };
    visits::create_visit(store, clock, actor, &new, links).await
}

fn slot_conflict(error: StoreError) -> VisitError {
    match error {
        StoreError::Duplicate("slot") => VisitError::WrongState(SLOT_TAKEN.to_owned()),
        other => other.into(),
    }
}

/// Moves a booked visit that has not begun to another free slot.
#[tracing::instrument(skip_all)]
pub async fn rebook(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &VisitId,
    input: &Rebooking,
) -> Result<Visit, VisitError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    if visit.status != VisitStatus::Scheduled {
        return Err(VisitError::WrongState(format!(
            "only a booked visit that has not begun can move; this one is {}",
            visit.status.as_str().replace('_', " ")
        )));
    }
    let clinician = input
        .clinician_id
        .clone()
        .or_else(|| visit.clinician_id.clone())
        .ok_or_else(|| FieldError::new("clinician_id", "is required: the visit has none"))?;
    let schedule = store::get_schedule(&mut tx, &clinician)
        .await?
        .ok_or_else(|| FieldError::new("clinician_id", "has no working hours to book"))?;
    let slot = free_slot(&mut tx, now, &schedule, input.start, Some(id)).await?;
    let booking = Booking {
        clinician_id: clinician,
        start: slot.start,
        end: slot.end,
        visit_id: id.clone(),
    };
    store::move_booking(&mut tx, &booking, now)
        .await
        .map_err(slot_conflict)?;
    let visit = store::get_visit(&mut tx, id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    let entry = AuditEntry::new(actor, "visit.rebook", "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(visit)
}

/// The visits booked to start in `[from, to)`, every status included, for
/// the day and week views. Each patient shown is an audited read.
#[tracing::instrument(skip_all)]
pub async fn calendar(
    store: &Store,
    actor: &Actor,
    from: Timestamp,
    to: Timestamp,
    query: &CalendarQuery,
) -> Result<Vec<CalendarEntry>, VisitError> {
    check_span(from, to)?;
    calendar_unchecked(store, actor, from, to, query).await
}

async fn calendar_unchecked(
    store: &Store,
    actor: &Actor,
    from: Timestamp,
    to: Timestamp,
    query: &CalendarQuery,
) -> Result<Vec<CalendarEntry>, VisitError> {
    let mut tx = store.begin().await?;
    let entries = store::calendar(&mut tx, from, to, query, DEFAULT_VISIT_MINUTES).await?;
    let patients: BTreeSet<&PatientId> = entries.iter().map(|e| &e.patient_id).collect();
    for patient in patients {
        let entry = AuditEntry::new(actor, "schedule.read", "Appointment").patient(patient);
        store::append_audit(&mut tx, &entry).await?;
    }
    store::commit(tx).await?;
    Ok(entries)
}

/// Every visit of one patient, oldest first; an audited read.
#[tracing::instrument(skip_all)]
pub async fn patient_visits(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Vec<CalendarEntry>, VisitError> {
    let query = CalendarQuery {
        patient: Some(patient.clone()),
        ..CalendarQuery::default()
    };
    calendar_unchecked(store, actor, Timestamp(0), Timestamp(i64::MAX), &query).await
}
