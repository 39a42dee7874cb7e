//! The patient-message outbox: rows written beside the change that causes
//! them, claimed by a worker under a lease (locked against other nodes on
//! PostgreSQL), then marked sent or failed by the holder of that lease.

use super::{Backend, StoreError, Tx};
use crate::model::ids::{PatientId, VisitId};
use crate::model::message::{
    Channel, ClaimedMessage, MessageKind, MessageState, NewMessage, PatientMessage, mask_address,
};
use crate::model::timestamp::Timestamp;
use crate::model::visit::VisitStatus;

/// Where a patient can be written to, and whether texts are refused.
#[derive(Debug, Clone)]
pub struct PatientContact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub sms_opt_out: bool,
}

#[tracing::instrument(skip_all)]
pub async fn patient_contact(
    tx: &mut Tx,
    patient: &PatientId,
) -> Result<Option<PatientContact>, StoreError> {
    let row: Option<(Option<String>, Option<String>, i64)> =
        sqlx::query_as("SELECT email, phone, sms_opt_out FROM patients WHERE id = $1")
            .bind(patient.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(email, phone, opt_out)| PatientContact {
        email,
        phone,
        sms_opt_out: opt_out != 0,
    }))
}

/// Records whether the patient refuses text messages; false when there is
/// no such patient.
#[tracing::instrument(skip_all)]
pub async fn set_sms_opt_out(
    tx: &mut Tx,
    patient: &PatientId,
    opted_out: bool,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE patients SET sms_opt_out = $2, updated_at = $3 WHERE id = $1")
        .bind(patient.as_str())
        .bind(i64::from(opted_out))
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Queues a message unless its twin (same visit, kind, channel and
/// dedupe key) is already there; answers whether it was new.
#[tracing::instrument(skip_all)]
pub async fn insert_message(
    tx: &mut Tx,
    message: &NewMessage,
    patient: &PatientId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO patient_messages (id, visit_id, patient_id, kind, channel, address, dedupe,
             link_version, late_minutes, state, attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11, $11)
         ON CONFLICT (visit_id, kind, channel, dedupe) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(message.visit_id.as_str())
    .bind(patient.as_str())
    .bind(message.kind.as_str())
    .bind(message.channel.as_str())
    .bind(&message.address)
    .bind(&message.dedupe)
    .bind(message.link_version)
    .bind(message.late_minutes)
    .bind(MessageState::Queued.as_str())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

type MessageRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    i64,
);

/// A visit's messages, oldest first, with masked addresses.
#[tracing::instrument(skip_all)]
pub async fn visit_patient_messages(
    tx: &mut Tx,
    visit: &VisitId,
) -> Result<Vec<PatientMessage>, StoreError> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, visit_id, kind, channel, address, state, attempts, failure, late_minutes,
                created_at, sent_at, next_attempt_at
         FROM patient_messages WHERE visit_id = $1 ORDER BY created_at, id",
    )
    .bind(visit.as_str())
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(
            |(
                id,
                visit,
                kind,
                channel,
                address,
                state,
                attempts,
                failure,
                late,
                created,
                sent,
                next,
            )| {
                let channel = Channel::parse(&channel)
                    .ok_or(StoreError::Corrupt("patient_messages.channel"))?;
                let state = MessageState::parse(&state)
                    .ok_or(StoreError::Corrupt("patient_messages.state"))?;
                Ok(PatientMessage {
                    id,
                    visit_id: VisitId::from_trusted(visit),
                    kind: MessageKind::parse(&kind)
                        .ok_or(StoreError::Corrupt("patient_messages.kind"))?,
                    channel,
                    to: mask_address(channel, &address),
                    state,
                    attempts,
                    failure,
                    late_minutes: late,
                    created_at: Timestamp(created),
                    sent_at: sent.map(Timestamp),
                    next_attempt_at: (state == MessageState::Queued).then_some(Timestamp(next)),
                })
            },
        )
        .collect()
}

/// Claims the message due first: queued and due, or claimed by a worker
/// whose lease lapsed (it may have crashed). The claim holds until
/// `lease_until`; only the holder of `lease_token` may settle it.
#[tracing::instrument(skip_all)]
pub async fn claim_next_message(
    tx: &mut Tx,
    backend: Backend,
    now: Timestamp,
    lease_token: &str,
    lease_until: Timestamp,
) -> Result<Option<ClaimedMessage>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT id FROM patient_messages
         WHERE (state = 'queued' AND next_attempt_at <= $1)
            OR (state = 'sending' AND lease_until <= $1)
         ORDER BY next_attempt_at, id LIMIT 1{lock}"
    );
    let id: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now.millis())
        .fetch_optional(&mut **tx)
        .await?;
    let Some((id,)) = id else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE patient_messages SET state = 'sending', lease_token = $2, lease_until = $3,
             attempts = attempts + 1, updated_at = $4
         WHERE id = $1",
    )
    .bind(&id)
    .bind(lease_token)
    .bind(lease_until.millis())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    type Row = (
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        i64,
        String,
        String,
        i64,
        Option<i64>,
        i64,
        String,
        String,
        i64,
    );
    let sql = format!(
        "SELECT m.kind, m.channel, m.address, m.visit_id, m.link_version, m.late_minutes,
                m.attempts, p.id, p.given_name, p.sms_opt_out, v.scheduled_start,
                v.link_version, v.status, {}, m.created_at
         FROM patient_messages m
         JOIN visits v ON v.id = m.visit_id
         JOIN patients p ON p.id = m.patient_id
         WHERE m.id = $1",
        super::schedule::VISIT_TIME_ZONE
    );
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&id)
        .fetch_one(&mut **tx)
        .await?;
    let (kind, channel, address, visit, link_version, late, attempts, patient, given, opt_out) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9,
    );
    Ok(Some(ClaimedMessage {
        id,
        visit_id: VisitId::from_trusted(visit),
        kind: MessageKind::parse(&kind).ok_or(StoreError::Corrupt("patient_messages.kind"))?,
        channel: Channel::parse(&channel).ok_or(StoreError::Corrupt("patient_messages.channel"))?,
        address,
        link_version,
        late_minutes: late,
        attempts,
        lease_token: lease_token.to_owned(),
        patient_given_name: given,
        patient_id: PatientId::from_trusted(patient),
        sms_opt_out: opt_out != 0,
        scheduled_start: row.10.map(Timestamp),
        current_link_version: row.11,
        visit_status: VisitStatus::parse(&row.12).ok_or(StoreError::Corrupt("visits.status"))?,
        time_zone: row
            .13
            .parse()
            .map_err(|_| StoreError::Corrupt("clinician_schedules.time_zone"))?,
        queued_at: Timestamp(row.14),
    }))
}

/// How a claimed message ended up.
#[derive(Debug, Clone)]
pub enum Settled<'a> {
    /// Handed over: the mail server answered 250, or the SMS provider
    /// accepted it (with its id for the message).
    Sent { provider_id: Option<&'a str> },
    /// Try again at `at`; `failure` says why this attempt failed.
    Retry { failure: &'a str, at: Timestamp },
    /// Given up, for the reason given.
    Failed { failure: &'a str },
    /// Not tried: kept back until `at` for the reason given (the daily
    /// cap of texts); the attempt the claim counted is given back.
    Held { reason: &'a str, at: Timestamp },
}

/// Settles a claimed message; false when the lease was lost (another
/// worker took the message over), in which case nothing changes.
#[tracing::instrument(skip_all)]
pub async fn settle_message(
    tx: &mut Tx,
    id: &str,
    lease_token: &str,
    outcome: Settled<'_>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let given_back = i64::from(matches!(outcome, Settled::Held { .. }));
    let (state, failure, provider, sent_at, next) = match outcome {
        Settled::Sent { provider_id } => (
            MessageState::Sent,
            None,
            provider_id,
            Some(now.millis()),
            now,
        ),
        Settled::Retry { failure, at } => (MessageState::Queued, Some(failure), None, None, at),
        Settled::Failed { failure } => (MessageState::Failed, Some(failure), None, None, now),
        Settled::Held { reason, at } => (MessageState::Queued, Some(reason), None, None, at),
    };
    let done = sqlx::query(
        "UPDATE patient_messages SET state = $3, failure = $4, provider_id = $5, sent_at = $6,
             next_attempt_at = $7, lease_token = NULL, lease_until = NULL, updated_at = $8,
             attempts = attempts - $9
         WHERE id = $1 AND lease_token = $2 AND state = 'sending'",
    )
    .bind(id)
    .bind(lease_token)
    .bind(state.as_str())
    .bind(failure)
    .bind(provider)
    .bind(sent_at)
    .bind(next.millis())
    .bind(now.millis())
    .bind(given_back)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// When each text to the patient since `since` went, oldest first:
/// those sent, and those another worker is sending now (`except` is the
/// message asking).
#[tracing::instrument(skip_all)]
pub async fn texts_to_patient_since(
    tx: &mut Tx,
    patient: &PatientId,
    since: Timestamp,
    except: &str,
) -> Result<Vec<Timestamp>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT COALESCE(sent_at, updated_at) FROM patient_messages
         WHERE patient_id = $1 AND channel = 'sms' AND id <> $3
           AND ((state = 'sent' AND sent_at > $2) OR state = 'sending')
         ORDER BY 1",
    )
    .bind(patient.as_str())
    .bind(since.millis())
    .bind(except)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(at,)| Timestamp(at)).collect())
}

/// Patients whose phone may be `e164`: those whose stored number ends in
/// its last four digits. The caller compares the whole number.
#[tracing::instrument(skip_all)]
pub async fn patients_with_phone_ending(
    tx: &mut Tx,
    last_digits: &str,
) -> Result<Vec<(PatientId, String)>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, phone FROM patients WHERE phone LIKE $1 ORDER BY id LIMIT 500")
            .bind(format!("%{last_digits}"))
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, phone)| (PatientId::from_trusted(id), phone))
        .collect())
}

/// A booked visit a reminder may be due for.
#[derive(Debug, Clone)]
pub struct ReminderCandidate {
    pub visit_id: VisitId,
    pub patient_id: PatientId,
    pub scheduled_start: Timestamp,
    pub booked_at: Timestamp,
}

/// Visits still booked (`scheduled`) that start after `now` and no later
/// than `until`.
#[tracing::instrument(skip_all)]
pub async fn reminder_candidates(
    tx: &mut Tx,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<ReminderCandidate>, StoreError> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, patient_id, scheduled_start, created_at FROM visits
         WHERE status = $1 AND scheduled_start > $2 AND scheduled_start <= $3
         ORDER BY scheduled_start, id",
    )
    .bind(VisitStatus::Scheduled.as_str())
    .bind(now.millis())
    .bind(until.millis())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(visit, patient, start, created)| ReminderCandidate {
            visit_id: VisitId::from_trusted(visit),
            patient_id: PatientId::from_trusted(patient),
            scheduled_start: Timestamp(start),
            booked_at: Timestamp(created),
        })
        .collect())
}
