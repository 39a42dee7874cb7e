//! Clinicians' schedules and the slots booked from them. The unique key
//! `slot_bookings_slot_key` (clinician, start) is what refuses a second
//! booking of one slot, whichever node or task races for it.

use super::{StoreError, Tx};
use crate::model::ids::{PatientId, QueueId, UserId, VisitId};
use crate::model::schedule::{Booking, CalendarEntry, CheckedSchedule, HoursBlock, StoredSchedule};
use crate::model::timestamp::Timestamp;
use crate::model::visit::{Priority, VisitStatus};

/// Replaces a clinician's schedule and weekly hours.
#[tracing::instrument(skip_all)]
pub async fn put_schedule(
    tx: &mut Tx,
    clinician: &UserId,
    schedule: &CheckedSchedule,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO clinician_schedules (clinician_id, time_zone, visit_minutes, queue_id, self_booking, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (clinician_id) DO UPDATE SET time_zone = $2, visit_minutes = $3,
            queue_id = $4, self_booking = $5, updated_at = $6",
    )
    .bind(clinician.as_str())
    .bind(schedule.time_zone.name())
    .bind(schedule.visit_minutes)
    .bind(schedule.queue_id.as_str())
    .bind(i64::from(schedule.self_booking))
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM working_hours WHERE clinician_id = $1")
        .bind(clinician.as_str())
        .execute(&mut **tx)
        .await?;
    for block in &schedule.hours {
        sqlx::query(
            "INSERT INTO working_hours (clinician_id, weekday, start_minute, end_minute)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(clinician.as_str())
        .bind(i64::from(block.weekday))
        .bind(block.start_minute)
        .bind(block.end_minute)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

type ScheduleRow = (String, String, String, i64, String, i64, i64);

const SCHEDULE_COLUMNS: &str = "s.clinician_id, u.display_name, s.time_zone, s.visit_minutes,
    s.queue_id, s.self_booking, s.updated_at";

async fn hydrate(tx: &mut Tx, rows: Vec<ScheduleRow>) -> Result<Vec<StoredSchedule>, StoreError> {
    let mut schedules = Vec::with_capacity(rows.len());
    for (clinician, name, zone, minutes, queue, self_booking, updated) in rows {
        let hours: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT weekday, start_minute, end_minute FROM working_hours
             WHERE clinician_id = $1 ORDER BY weekday, start_minute",
        )
        .bind(&clinician)
        .fetch_all(&mut **tx)
        .await?;
        schedules.push(StoredSchedule {
            clinician_id: UserId::from_trusted(clinician),
            clinician_name: name,
            schedule: CheckedSchedule {
                time_zone: zone
                    .parse()
                    .map_err(|_| StoreError::Corrupt("clinician_schedules.time_zone"))?,
                visit_minutes: minutes,
                queue_id: QueueId::from_trusted(queue),
                self_booking: self_booking != 0,
                hours: hours
                    .into_iter()
                    .map(|(weekday, start, end)| HoursBlock {
                        weekday: weekday as u8,
                        start_minute: start,
                        end_minute: end,
                    })
                    .collect(),
            },
            updated_at: Timestamp(updated),
        });
    }
    Ok(schedules)
}

/// A clinician's schedule, if they have one and are active.
#[tracing::instrument(skip_all)]
pub async fn get_schedule(
    tx: &mut Tx,
    clinician: &UserId,
) -> Result<Option<StoredSchedule>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM clinician_schedules s JOIN users u ON u.id = s.clinician_id
         WHERE s.clinician_id = $1 AND u.active = 1"
    ));
    let rows: Vec<ScheduleRow> = sqlx::query_as(sql)
        .bind(clinician.as_str())
        .fetch_all(&mut **tx)
        .await?;
    Ok(hydrate(tx, rows).await?.pop())
}

/// Every active clinician's schedule, by name.
#[tracing::instrument(skip_all)]
pub async fn list_schedules(tx: &mut Tx) -> Result<Vec<StoredSchedule>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM clinician_schedules s JOIN users u ON u.id = s.clinician_id
         WHERE u.active = 1 ORDER BY u.display_name, s.clinician_id"
    ));
    let rows: Vec<ScheduleRow> = sqlx::query_as(sql).fetch_all(&mut **tx).await?;
    hydrate(tx, rows).await
}

/// Claims a clinician's slot for a visit. A slot already claimed answers
/// `Duplicate("slot")`, from the unique key, never from a read beforehand.
#[tracing::instrument(skip_all)]
pub async fn claim_slot(tx: &mut Tx, booking: &Booking, now: Timestamp) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO slot_bookings (clinician_id, slot_start, slot_end, visit_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(booking.clinician_id.as_str())
    .bind(booking.start.millis())
    .bind(booking.end.millis())
    .bind(booking.visit_id.as_str())
    .bind(now.millis())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "slot"))?;
    Ok(())
}

/// Frees the slot a visit held, if any (the visit was cancelled or missed).
#[tracing::instrument(skip_all)]
pub async fn release_slot(tx: &mut Tx, visit: &VisitId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM slot_bookings WHERE visit_id = $1")
        .bind(visit.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves a visit to another slot of a clinician: its booking and its
/// scheduled start together. A taken slot answers `Duplicate("slot")`.
#[tracing::instrument(skip_all)]
pub async fn move_booking(
    tx: &mut Tx,
    booking: &Booking,
    now: Timestamp,
) -> Result<(), StoreError> {
    release_slot(tx, &booking.visit_id).await?;
    claim_slot(tx, booking, now).await?;
    sqlx::query(
        "UPDATE visits SET scheduled_start = $2, clinician_id = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(booking.visit_id.as_str())
    .bind(booking.start.millis())
    .bind(booking.clinician_id.as_str())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type BookingRow = (String, i64, i64, String);

fn booking(row: BookingRow) -> Booking {
    let (clinician, start, end, visit) = row;
    Booking {
        clinician_id: UserId::from_trusted(clinician),
        start: Timestamp(start),
        end: Timestamp(end),
        visit_id: VisitId::from_trusted(visit),
    }
}

/// The bookings of a clinician that overlap `[from, to)`.
#[tracing::instrument(skip_all)]
pub async fn bookings_between(
    tx: &mut Tx,
    clinician: &UserId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Booking>, StoreError> {
    let rows: Vec<BookingRow> = sqlx::query_as(
        "SELECT clinician_id, slot_start, slot_end, visit_id FROM slot_bookings
         WHERE clinician_id = $1 AND slot_start < $3 AND slot_end > $2 ORDER BY slot_start",
    )
    .bind(clinician.as_str())
    .bind(from.millis())
    .bind(to.millis())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(booking).collect())
}

/// The slot a visit holds, if any.
#[tracing::instrument(skip_all)]
pub async fn visit_booking(tx: &mut Tx, visit: &VisitId) -> Result<Option<Booking>, StoreError> {
    let row: Option<BookingRow> = sqlx::query_as(
        "SELECT clinician_id, slot_start, slot_end, visit_id FROM slot_bookings WHERE visit_id = $1",
    )
    .bind(visit.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(booking))
}

/// Which visits a calendar shows.
#[derive(Debug, Clone, Default)]
pub struct CalendarQuery {
    pub clinician: Option<UserId>,
    pub queue: Option<QueueId>,
    pub patient: Option<PatientId>,
    pub visit: Option<VisitId>,
}

type CalendarRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
);

/// The time zone a visit `v` is shown in: its clinician's working hours',
/// else those of a clinician booked into its queue, else the clinic's (any
/// clinician's hours', as the front desk's calendar reads it), else UTC.
pub(super) const VISIT_TIME_ZONE: &str = "COALESCE(
    (SELECT z.time_zone FROM clinician_schedules z WHERE z.clinician_id = v.clinician_id),
    (SELECT MIN(z.time_zone) FROM clinician_schedules z WHERE z.queue_id = v.queue_id),
    (SELECT MIN(z.time_zone) FROM clinician_schedules z),
    'UTC')";

/// Visits booked to start in `[from, to)` (a visit with no start counts
/// from when it was made), whatever their status (closed, cancelled and
/// missed ones too), in time order; `default_minutes` is the length of a
/// visit that holds no slot.
#[tracing::instrument(skip_all)]
pub async fn calendar(
    tx: &mut Tx,
    from: Timestamp,
    to: Timestamp,
    query: &CalendarQuery,
    default_minutes: i64,
) -> Result<Vec<CalendarEntry>, StoreError> {
    let mut sql = super::sql::Sql::new(
        "SELECT v.id, v.patient_id, p.given_name, p.family_name, v.clinician_id, u.display_name,
            v.queue_id, q.name, COALESCE(v.scheduled_start, v.created_at), b.slot_end, v.reason, v.status, v.priority, ",
    );
    sql.push(VISIT_TIME_ZONE).push(
        "
         FROM visits v
         JOIN patients p ON p.id = v.patient_id
         JOIN queues q ON q.id = v.queue_id
         LEFT JOIN users u ON u.id = v.clinician_id
         LEFT JOIN slot_bookings b ON b.visit_id = v.id
         WHERE COALESCE(v.scheduled_start, v.created_at) >= ",
    );
    sql.push_bind(from.millis())
        .push(" AND COALESCE(v.scheduled_start, v.created_at) < ")
        .push_bind(to.millis());
    if let Some(clinician) = &query.clinician {
        sql.push(" AND v.clinician_id = ")
            .push_bind(clinician.as_str().to_owned());
    }
    if let Some(queue) = &query.queue {
        sql.push(" AND v.queue_id = ")
            .push_bind(queue.as_str().to_owned());
    }
    if let Some(visit) = &query.visit {
        sql.push(" AND v.id = ")
            .push_bind(visit.as_str().to_owned());
    }
    if let Some(patient) = &query.patient {
        sql.push(" AND v.patient_id = ")
            .push_bind(patient.as_str().to_owned());
    }
    sql.push(" ORDER BY COALESCE(v.scheduled_start, v.created_at), v.id LIMIT 2000");
    let rows: Vec<CalendarRow> = sql.fetch_all(tx).await?;
    rows.into_iter()
        .map(|row| {
            let (id, patient, given, family, clinician, clinician_name, queue, queue_name) =
                (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
            let start = Timestamp(row.8);
            let end = Timestamp(row.9.unwrap_or(row.8 + default_minutes * 60_000));
            Ok(CalendarEntry {
                visit_id: VisitId::from_trusted(id),
                patient_id: PatientId::from_trusted(patient),
                patient_name: format!("{given} {family}"),
                clinician_id: clinician.map(UserId::from_trusted),
                clinician_name,
                queue_id: QueueId::from_trusted(queue),
                queue_name,
                start,
                end,
                reason: row.10,
                status: VisitStatus::parse(&row.11).ok_or(StoreError::Corrupt("visits.status"))?,
                priority: Priority::parse(&row.12).ok_or(StoreError::Corrupt("visits.priority"))?,
                time_zone: row.13,
            })
        })
        .collect()
}
