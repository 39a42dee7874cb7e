//! Queues, visits and their encounters. Every state change is a
//! conditional update, so of two racing transitions exactly one applies.

use super::writes::Writes;
use super::{Backend, StoreError, Tx, quality};
use crate::model::ids::{EncounterId, PatientId, QueueId, UserId, VisitId};
use crate::model::precall::Verdict;
use crate::model::quality::CallMeasure;
use crate::model::timestamp::Timestamp;
use crate::model::visit::{
    Emergency, EncounterStatus, PatientLocation, Priority, Queue, QueuedVisit, Transition, Visit,
    VisitStatus,
};

#[tracing::instrument(skip_all)]
pub async fn insert_queue(tx: &mut Tx, name: &str, now: i64) -> Result<Queue, StoreError> {
    let id = QueueId::new();
    sqlx::query("INSERT INTO queues (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id.as_str())
        .bind(name)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "queue name"))?;
    Ok(Queue {
        id,
        name: name.to_owned(),
    })
}

#[tracing::instrument(skip_all)]
pub async fn list_queues(tx: &mut Tx) -> Result<Vec<Queue>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM queues ORDER BY name")
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| Queue {
            id: QueueId::from_trusted(id),
            name,
        })
        .collect())
}

#[tracing::instrument(skip_all)]
pub async fn get_queue(tx: &mut Tx, id: &QueueId) -> Result<Option<Queue>, StoreError> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT id, name FROM queues WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(id, name)| Queue {
        id: QueueId::from_trusted(id),
        name,
    }))
}

/// A planned encounter for a new visit, with the first status-history entry.
#[tracing::instrument(skip_all)]
pub async fn insert_encounter(
    tx: &mut Tx,
    patient: &PatientId,
    reason: &str,
    now: i64,
) -> Result<EncounterId, StoreError> {
    let id = EncounterId::new();
    sqlx::query(
        "INSERT INTO encounters (id, patient_id, status, reason, created_at) VALUES ($1, $2, $5, $3, $4)",
    )
    .bind(id.as_str())
    .bind(patient.as_str())
    .bind(reason)
    .bind(now)
    .bind(EncounterStatus::Planned.as_str())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO encounter_status_history (encounter_id, seq, status, period_start) VALUES ($1, 1, $3, $2)",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(EncounterStatus::Planned.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Moves an encounter to `to`: ends the current status-history entry,
/// starts the next, and sets the period as the status implies.
#[tracing::instrument(skip_all)]
pub async fn move_encounter(
    tx: &mut Tx,
    id: &EncounterId,
    to: EncounterStatus,
    practitioner: Option<&UserId>,
    now: i64,
) -> Result<(), StoreError> {
    let (start, end) = match to {
        EncounterStatus::InProgress => (Some(now), None),
        EncounterStatus::Finished | EncounterStatus::Cancelled => (None, Some(now)),
        _ => (None, None),
    };
    let mut writes = Writes::new(tx);
    writes.push(|sql| {
        sql.push("UPDATE encounters SET status = ")
            .push_bind(to.as_str())
            .push(", period_start = COALESCE(")
            .push_bind(start)
            .push(", period_start), period_end = COALESCE(")
            .push_bind(end)
            .push(", period_end), practitioner_id = COALESCE(")
            .push_bind(practitioner.map(|p| p.as_str().to_owned()))
            .push(", practitioner_id) WHERE id = ")
            .push_bind(id.as_str().to_owned());
    });
    step_status_history(&mut writes, id, to, now, end);
    writes.run(tx).await?;
    Ok(())
}

/// Starts the encounter's next status-history entry at `now`, ended at
/// `end` when given (a finished or cancelled encounter's last entry is
/// closed at once). The entry before it ends where this one starts; readers
/// take that from the order ([`super::encounters`]), so a step is one
/// statement. The visit's own update, made first, keeps two steps of one
/// encounter from racing for the same `seq`.
fn step_status_history(
    writes: &mut Writes,
    id: &EncounterId,
    to: EncounterStatus,
    now: i64,
    end: Option<i64>,
) {
    let id = id.as_str();
    writes.push(|sql| {
        sql.push("INSERT INTO encounter_status_history (encounter_id, seq, status, period_start, period_end) SELECT ")
            .push_bind(id.to_owned())
            .push(", COALESCE(MAX(seq), 0) + 1, ")
            .push_bind(to.as_str())
            .push(", ")
            .push_bind(now)
            .push(", ")
            .push_bind(end)
            .push(" FROM encounter_status_history WHERE encounter_id = ")
            .push_bind(id.to_owned());
    });
}

/// Fields of a new visit row.
#[derive(Debug)]
pub struct NewVisitRow<'a> {
    pub id: &'a VisitId,
    pub patient: &'a PatientId,
    pub queue: &'a QueueId,
    pub encounter: &'a EncounterId,
    pub clinician: Option<&'a UserId>,
    pub priority: Priority,
    pub reason: &'a str,
    pub scheduled_start: Option<i64>,
    pub created_by: Option<&'a str>,
    pub now: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_visit(tx: &mut Tx, row: NewVisitRow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO visits (id, patient_id, queue_id, encounter_id, clinician_id, status, priority, reason,
            scheduled_start, sort_key, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $12, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(row.id.as_str())
    .bind(row.patient.as_str())
    .bind(row.queue.as_str())
    .bind(row.encounter.as_str())
    .bind(row.clinician.map(UserId::as_str))
    .bind(row.priority.as_str())
    .bind(row.reason)
    .bind(row.scheduled_start)
    .bind(row.scheduled_start.unwrap_or(row.now))
    .bind(row.created_by)
    .bind(row.now)
    .bind(VisitStatus::Scheduled.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const VISIT_COLUMNS: &str = "v.id, v.patient_id, v.queue_id, v.encounter_id, v.clinician_id, v.status, v.priority,
    v.reason, v.scheduled_start, v.sort_key, v.symptoms, v.consent_at, v.consent_version, v.checked_in_at,
    v.admitted_at, v.admitted_by, v.closed_at, v.total_minutes, v.new_patient, v.audio_only,
    e.patient_location, v.created_at, v.news2_score, v.news2_risk, v.red_flags, v.emergency,
    v.emergency_acknowledged_at, (SELECT c.id FROM claims c WHERE c.encounter_id = v.encounter_id) AS claim_id";

#[derive(sqlx::FromRow)]
struct VisitRow {
    id: String,
    patient_id: String,
    queue_id: String,
    encounter_id: String,
    clinician_id: Option<String>,
    status: String,
    priority: String,
    reason: String,
    scheduled_start: Option<i64>,
    sort_key: i64,
    symptoms: Option<String>,
    consent_at: Option<i64>,
    consent_version: Option<String>,
    checked_in_at: Option<i64>,
    admitted_at: Option<i64>,
    admitted_by: Option<String>,
    closed_at: Option<i64>,
    total_minutes: Option<i64>,
    new_patient: Option<i64>,
    audio_only: i64,
    patient_location: Option<String>,
    created_at: i64,
    news2_score: Option<i64>,
    news2_risk: Option<String>,
    red_flags: Option<String>,
    emergency: Option<String>,
    emergency_acknowledged_at: Option<i64>,
    claim_id: Option<String>,
}

impl TryFrom<VisitRow> for Visit {
    type Error = StoreError;

    fn try_from(r: VisitRow) -> Result<Self, StoreError> {
        let symptoms = match r.symptoms {
            Some(json) => {
                serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("visits.symptoms"))?
            }
            None => Vec::new(),
        };
        Ok(Visit {
            id: VisitId::from_trusted(r.id),
            patient_id: PatientId::from_trusted(r.patient_id),
            queue_id: QueueId::from_trusted(r.queue_id),
            encounter_id: EncounterId::from_trusted(r.encounter_id),
            clinician_id: r.clinician_id.map(UserId::from_trusted),
            status: VisitStatus::parse(&r.status).ok_or(StoreError::Corrupt("visits.status"))?,
            priority: Priority::parse(&r.priority).ok_or(StoreError::Corrupt("visits.priority"))?,
            reason: r.reason,
            scheduled_start: r.scheduled_start.map(Timestamp),
            claim_id: r.claim_id,
            symptoms,
            consent_at: r.consent_at.map(Timestamp),
            consent_version: r.consent_version,
            checked_in_at: r.checked_in_at.map(Timestamp),
            admitted_at: r.admitted_at.map(Timestamp),
            admitted_by: r.admitted_by.map(UserId::from_trusted),
            closed_at: r.closed_at.map(Timestamp),
            total_minutes: r.total_minutes,
            new_patient: r.new_patient.map(|v| v != 0),
            audio_only: r.audio_only != 0,
            patient_location: r
                .patient_location
                .as_deref()
                .and_then(PatientLocation::parse),
            created_at: Timestamp(r.created_at),
            news2_score: r.news2_score,
            news2_risk: r.news2_risk,
            red_flags: match r.red_flags {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|_| StoreError::Corrupt("visits.red_flags"))?,
                None => Vec::new(),
            },
            emergency: emergency_from(r.emergency.as_deref(), r.emergency_acknowledged_at)?,
            sort_key: r.sort_key,
        })
    }
}

fn emergency_from(
    json: Option<&str>,
    acknowledged_at: Option<i64>,
) -> Result<Option<Emergency>, StoreError> {
    let Some(json) = json else {
        return Ok(None);
    };
    let mut emergency: Emergency =
        serde_json::from_str(json).map_err(|_| StoreError::Corrupt("visits.emergency"))?;
    emergency.acknowledged_at = acknowledged_at.map(Timestamp);
    Ok(Some(emergency))
}

/// The patient confirmed reading the emergency advice; false when there is
/// none, or it was confirmed already.
#[tracing::instrument(skip_all)]
pub async fn acknowledge_emergency(
    tx: &mut Tx,
    id: &VisitId,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET emergency_acknowledged_at = $2
         WHERE id = $1 AND emergency IS NOT NULL AND emergency_acknowledged_at IS NULL",
    )
    .bind(id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn get_visit(tx: &mut Tx, id: &VisitId) -> Result<Option<Visit>, StoreError> {
    select_visit(tx, id, "").await
}

/// The visit, its row held until the transaction ends, for a change that
/// depends on its status: a transition waits for it, and it for a
/// transition. (SQLite's writer already runs alone.)
#[tracing::instrument(skip_all)]
pub async fn lock_visit(
    tx: &mut Tx,
    backend: Backend,
    id: &VisitId,
) -> Result<Option<Visit>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF v",
        Backend::Sqlite => "",
    };
    select_visit(tx, id, lock).await
}

/// The visit by id, the statement ending with `lock`.
async fn select_visit(tx: &mut Tx, id: &VisitId, lock: &str) -> Result<Option<Visit>, StoreError> {
    let sql = format!(
        "SELECT {VISIT_COLUMNS} FROM visits v JOIN encounters e ON e.id = v.encounter_id WHERE v.id = $1{lock}"
    );
    let row: Option<VisitRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Visit::try_from).transpose()
}

/// What closing a visit reads first, in one statement.
#[derive(Debug)]
pub struct ToClose {
    pub visit: Visit,
    /// The call's measure so far; none if no quality summary came.
    pub measure: Option<CallMeasure>,
    /// LiveKit reported connections to the call (none for peer-to-peer).
    pub in_room: bool,
}

#[tracing::instrument(skip_all)]
pub async fn get_visit_to_close(tx: &mut Tx, id: &VisitId) -> Result<Option<ToClose>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        visit: VisitRow,
        #[sqlx(flatten)]
        measure: quality::JoinedMeasureRow,
        presence_rows: i64,
    }
    let sql = format!(
        "SELECT {VISIT_COLUMNS}, {},
            (SELECT COUNT(*) FROM call_presence p WHERE p.encounter_id = v.encounter_id) AS presence_rows
         FROM visits v JOIN encounters e ON e.id = v.encounter_id
         LEFT JOIN call_measures m ON m.visit_id = v.id WHERE v.id = $1",
        quality::JOINED_MEASURE_COLUMNS
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|row| {
        Ok(ToClose {
            visit: Visit::try_from(row.visit)?,
            measure: row.measure.measure(),
            in_room: row.presence_rows > 0,
        })
    })
    .transpose()
}

/// The active visits of a queue, with their patients' names.
#[tracing::instrument(skip_all)]
pub async fn queued_visits(tx: &mut Tx, queue: &QueueId) -> Result<Vec<QueuedVisit>, StoreError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.id, p.given_name, p.family_name, v.status, v.priority, v.sort_key, v.checked_in_at, v.clinician_id,
                (SELECT c.verdict FROM precall_checks c WHERE c.visit_id = v.id
                 ORDER BY c.finished_at DESC, c.id DESC LIMIT 1),
                v.emergency, v.emergency_acknowledged_at
         FROM visits v JOIN patients p ON p.id = v.patient_id
         WHERE v.queue_id = $1 AND v.status IN ($2, $3, $4)",
    )
    .bind(queue.as_str())
    .bind(VisitStatus::Scheduled.as_str())
    .bind(VisitStatus::Waiting.as_str())
    .bind(VisitStatus::InConsult.as_str())
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(
            |(
                id,
                given,
                family,
                status,
                priority,
                sort_key,
                checked_in_at,
                clinician,
                network,
                emergency,
                acknowledged_at,
            )| {
                Ok(QueuedVisit {
                    visit_id: VisitId::from_trusted(id),
                    patient_name: format!("{given} {family}"),
                    status: VisitStatus::parse(&status)
                        .ok_or(StoreError::Corrupt("visits.status"))?,
                    priority: Priority::parse(&priority)
                        .ok_or(StoreError::Corrupt("visits.priority"))?,
                    sort_key,
                    waiting_since: checked_in_at.map(Timestamp),
                    clinician_id: clinician.map(UserId::from_trusted),
                    network: network.as_deref().and_then(Verdict::parse),
                    emergency: emergency_from(emergency.as_deref(), acknowledged_at)?,
                })
            },
        )
        .collect()
}

/// Mean length in seconds of the queue's last 20 consults, if any.
#[tracing::instrument(skip_all)]
pub async fn mean_consult_seconds(tx: &mut Tx, queue: &QueueId) -> Result<Option<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT closed_at - admitted_at FROM visits
         WHERE queue_id = $1 AND status = $2 AND admitted_at IS NOT NULL
         ORDER BY closed_at DESC LIMIT 20",
    )
    .bind(queue.as_str())
    .bind(VisitStatus::Closed.as_str())
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter().map(|(ms,)| ms / 1000).sum::<i64>() / rows.len() as i64,
    ))
}

/// scheduled → waiting, with consent and symptoms. False if not scheduled.
#[tracing::instrument(skip_all)]
pub async fn mark_checked_in(
    tx: &mut Tx,
    id: &VisitId,
    step: Transition,
    consent_version: &str,
    symptoms: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let symptoms = serde_json::to_string(symptoms).map_err(|_| StoreError::Corrupt("symptoms"))?;
    let done = sqlx::query(
        "UPDATE visits SET status = $5, consent_at = $2, consent_version = $3, symptoms = $4,
            checked_in_at = $2, sort_key = $2, updated_at = $2
         WHERE id = $1 AND status = $6",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(consent_version)
    .bind(symptoms)
    .bind(step.to().as_str())
    .bind(step.from().as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// waiting → in_consult by `clinician`. False if the visit was not waiting
/// (someone else admitted it first, or it moved on).
#[tracing::instrument(skip_all)]
pub async fn mark_admitted(
    tx: &mut Tx,
    id: &VisitId,
    step: Transition,
    clinician: &UserId,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET status = $4, admitted_at = $2, admitted_by = $3, clinician_id = $3, updated_at = $2
         WHERE id = $1 AND status = $5",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(clinician.as_str())
    .bind(step.to().as_str())
    .bind(step.from().as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What closing records on the visit.
#[derive(Debug)]
pub struct Closing<'a> {
    pub total_minutes: i64,
    pub new_patient: Option<bool>,
    pub audio_only: bool,
    pub location: PatientLocation,
    pub clinician: &'a UserId,
    /// Why it bills as video or audio-only, when that is known.
    pub modality_reason: Option<&'a str>,
}

/// in_consult → closed by the admitting clinician. False otherwise.
#[tracing::instrument(skip_all)]
pub async fn mark_closed(
    tx: &mut Tx,
    id: &VisitId,
    step: Transition,
    closing: &Closing<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET status = $7, closed_at = $2, total_minutes = $3, new_patient = $4, audio_only = $5,
            modality_reason = COALESCE($9, modality_reason), updated_at = $2
         WHERE id = $1 AND status = $8 AND admitted_by = $6",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(closing.total_minutes)
    .bind(closing.new_patient.map(i64::from))
    .bind(i64::from(closing.audio_only))
    .bind(closing.clinician.as_str())
    .bind(step.to().as_str())
    .bind(step.from().as_str())
    .bind(closing.modality_reason)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finishes the encounter of a closed consult at `now`: its status and
/// history, where the patient was, and how long it lasted (the call as
/// measured when there is a measure, its period then the call's; else
/// `minutes`).
#[tracing::instrument(skip_all)]
pub fn finish_encounter(
    writes: &mut Writes,
    id: &EncounterId,
    now: i64,
    location: PatientLocation,
    minutes: i64,
    measured: Option<&CallMeasure>,
) {
    let finished = EncounterStatus::Finished;
    writes.push(|sql| {
        sql.push("UPDATE encounters SET status = ")
            .push_bind(finished.as_str())
            .push(", patient_location = ")
            .push_bind(location.as_str())
            .push(", length_minutes = ")
            .push_bind(measured.map_or(minutes, CallMeasure::connected_minutes))
            .push(", period_start = COALESCE(")
            .push_bind(measured.map(|m| m.started_at.millis()))
            .push(", period_start), period_end = ")
            .push_bind(measured.map_or(now, |m| m.ended_at.millis()))
            .push(" WHERE id = ")
            .push_bind(id.as_str().to_owned());
    });
    step_status_history(writes, id, finished, now, Some(now));
}

/// → cancelled|no_show, from the status the model saw. False otherwise.
#[tracing::instrument(skip_all)]
pub async fn mark_ended(
    tx: &mut Tx,
    id: &VisitId,
    step: Transition,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET status = $2, closed_at = $3, updated_at = $3
         WHERE id = $1 AND status = $4",
    )
    .bind(id.as_str())
    .bind(step.to().as_str())
    .bind(now)
    .bind(step.from().as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes routing fields of a visit still in the status it was read in
/// (the domain decided it may be routed). False otherwise.
#[tracing::instrument(skip_all)]
pub async fn update_routing(tx: &mut Tx, visit: &Visit, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE visits SET priority = $2, queue_id = $3, clinician_id = $4, sort_key = $5, updated_at = $6
         WHERE id = $1 AND status = $7",
    )
    .bind(visit.id.as_str())
    .bind(visit.priority.as_str())
    .bind(visit.queue_id.as_str())
    .bind(visit.clinician_id.as_ref().map(UserId::as_str))
    .bind(visit.sort_key)
    .bind(now)
    .bind(visit.status.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spreads the sort keys of visits (in the given order) 1,000 apart.
#[tracing::instrument(skip_all)]
pub async fn renumber(tx: &mut Tx, ordered: &[VisitId]) -> Result<(), StoreError> {
    for (i, id) in ordered.iter().enumerate() {
        sqlx::query("UPDATE visits SET sort_key = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind((i as i64 + 1) * 1_000)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Hands a closed consult to billing; at most one row per visit.
#[tracing::instrument(skip_all)]
pub fn insert_billing_outbox(
    writes: &mut Writes,
    visit: &VisitId,
    encounter: &EncounterId,
    now: i64,
) {
    writes.push(|sql| {
        sql.push("INSERT INTO billing_outbox (id, visit_id, encounter_id, created_at) VALUES (")
            .push_bind(uuid::Uuid::now_v7().to_string())
            .push(", ")
            .push_bind(visit.as_str().to_owned())
            .push(", ")
            .push_bind(encounter.as_str().to_owned())
            .push(", ")
            .push_bind(now)
            .push(") ON CONFLICT (visit_id) DO NOTHING");
    });
}

/// Whether a user exists, is active and has `role`.
#[tracing::instrument(skip_all)]
pub async fn user_has_role(tx: &mut Tx, user: &UserId, role: &str) -> Result<bool, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM users WHERE id = $1 AND role = $2 AND active = 1")
            .bind(user.as_str())
            .bind(role)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.is_some())
}
