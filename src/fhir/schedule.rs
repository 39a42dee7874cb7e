//! The front desk's calendar as FHIR R4 (STANDARDS-2 §2.1): a clinician's
//! `Schedule` (id: the clinician's id), its `Slot`s (id: the clinician's id
//! and the slot's start in Unix milliseconds), and each booked visit as an
//! `Appointment` (id: the visit's id).

use serde_json::{Value, json};

use super::Found;
use crate::model::ids::{UserId, VisitId};
use crate::model::schedule::{CalendarEntry, Slot, SlotStatus, StoredSchedule, derive_slots};
use crate::model::timestamp::Timestamp;
use crate::model::visit::VisitStatus;
use crate::store::{self, CalendarQuery, StoreError, Tx};

/// How far ahead a Schedule plans and a Slot search looks.
const HORIZON_MS: i64 = 14 * 24 * 3600 * 1000;

fn appointment_status(status: VisitStatus) -> &'static str {
    match status {
        VisitStatus::Scheduled => "booked",
        VisitStatus::Waiting => "checked-in",
        VisitStatus::InConsult => "arrived",
        VisitStatus::Closed => "fulfilled",
        VisitStatus::Cancelled => "cancelled",
        VisitStatus::NoShow => "noshow",
    }
}

fn slot_id(clinician: &UserId, start: Timestamp) -> String {
    format!("{clinician}-{}", start.millis())
}

/// A booked visit as an Appointment: its slot, patient and clinician.
pub fn appointment(e: &CalendarEntry) -> Found {
    let mut participants = vec![json!({
        "actor": {"reference": format!("Patient/{}", e.patient_id), "display": e.patient_name},
        "required": "required",
        "status": "accepted"
    })];
    let mut slots = Vec::new();
    if let Some(clinician) = &e.clinician_id {
        participants.push(json!({
            "actor": {"reference": format!("Practitioner/{clinician}")},
            "required": "required",
            "status": "accepted"
        }));
        slots.push(json!({"reference": format!("Slot/{}", slot_id(clinician, e.start))}));
    }
    let mut resource = json!({
        "resourceType": "Appointment",
        "id": e.visit_id.as_str(),
        "status": appointment_status(e.status),
        "serviceType": [{"text": "Video visit"}],
        "reasonCode": [{"text": e.reason}],
        "start": e.start.rfc3339(),
        "end": e.end.rfc3339(),
        "minutesDuration": (e.end.millis() - e.start.millis()) / 60_000,
        "participant": participants,
    });
    if !slots.is_empty() {
        resource["slot"] = Value::Array(slots);
    }
    Found {
        resource,
        patient: Some(e.patient_id.clone()),
        encounter: None,
    }
}

/// A clinician's working hours as a Schedule.
pub fn schedule(s: &StoredSchedule, now: Timestamp) -> Found {
    Found {
        resource: json!({
            "resourceType": "Schedule",
            "id": s.clinician_id.as_str(),
            "active": true,
            "serviceType": [{"text": "Video visit"}],
            "actor": [{"reference": format!("Practitioner/{}", s.clinician_id), "display": s.clinician_name}],
            "planningHorizon": {
                "start": now.rfc3339(),
                "end": Timestamp(now.millis() + HORIZON_MS).rfc3339()
            },
            "comment": format!("{}-minute visits; times in {}", s.schedule.visit_minutes, s.schedule.time_zone.name()),
        }),
        patient: None,
        encounter: None,
    }
}

fn slot(s: &Slot) -> Found {
    Found {
        resource: json!({
            "resourceType": "Slot",
            "id": slot_id(&s.clinician_id, s.start),
            "schedule": {"reference": format!("Schedule/{}", s.clinician_id)},
            "status": if s.status == SlotStatus::Free { "free" } else { "busy" },
            "start": s.start.rfc3339(),
            "end": s.end.rfc3339(),
        }),
        patient: None,
        encounter: None,
    }
}

async fn slots_between(
    tx: &mut Tx,
    s: &StoredSchedule,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<Vec<Found>, StoreError> {
    let reach = Timestamp(from.millis() - 24 * 3600 * 1000);
    let booked = store::bookings_between(tx, &s.clinician_id, reach, to).await?;
    Ok(
        derive_slots(&s.clinician_id, &s.schedule, from, to, now, &booked)
            .iter()
            .map(slot)
            .collect(),
    )
}

pub async fn load_appointment(tx: &mut Tx, id: &str) -> Result<Option<Found>, StoreError> {
    let Some(visit) = VisitId::parse(id) else {
        return Ok(None);
    };
    let query = CalendarQuery {
        visit: Some(visit),
        ..CalendarQuery::default()
    };
    let found = store::calendar(tx, Timestamp(0), Timestamp(i64::MAX), &query, 20).await?;
    Ok(found.first().map(appointment))
}

pub async fn find_appointments(
    tx: &mut Tx,
    query: &CalendarQuery,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    let found = store::calendar(tx, Timestamp(0), Timestamp(i64::MAX), query, 20).await?;
    Ok(found.iter().take(limit as usize).map(appointment).collect())
}

pub async fn load_schedule(
    tx: &mut Tx,
    id: &str,
    now: Timestamp,
) -> Result<Option<Found>, StoreError> {
    let Some(clinician) = UserId::parse(id) else {
        return Ok(None);
    };
    Ok(store::get_schedule(tx, &clinician)
        .await?
        .map(|s| schedule(&s, now)))
}

pub async fn find_schedules(
    tx: &mut Tx,
    actor: Option<&UserId>,
    now: Timestamp,
) -> Result<Vec<Found>, StoreError> {
    Ok(store::list_schedules(tx)
        .await?
        .iter()
        .filter(|s| actor.is_none_or(|a| *a == s.clinician_id))
        .map(|s| schedule(s, now))
        .collect())
}

/// A slot by its id: the clinician's id, `-`, the start in milliseconds.
pub async fn load_slot(tx: &mut Tx, id: &str) -> Result<Option<Found>, StoreError> {
    let Some((clinician, start)) = id.rsplit_once('-') else {
        return Ok(None);
    };
    let (Some(clinician), Ok(start)) = (UserId::parse(clinician), start.parse::<i64>()) else {
        return Ok(None);
    };
    let Some(s) = store::get_schedule(tx, &clinician).await? else {
        return Ok(None);
    };
    let start = Timestamp(start);
    let found = slots_between(tx, &s, start, Timestamp(start.millis() + 1), Timestamp(0)).await?;
    Ok(found.into_iter().next())
}

/// The slots of the coming two weeks, of one schedule or of all.
pub async fn find_slots(
    tx: &mut Tx,
    schedule: Option<&UserId>,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    let mut found = Vec::new();
    for s in store::list_schedules(tx).await? {
        if schedule.is_some_and(|id| *id != s.clinician_id) {
            continue;
        }
        found.extend(slots_between(tx, &s, now, Timestamp(now.millis() + HORIZON_MS), now).await?);
        if found.len() as i64 >= limit {
            break;
        }
    }
    found.truncate(limit as usize);
    Ok(found)
}
