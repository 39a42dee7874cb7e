//! Messages to patients: the join link on booking, reminders before the
//! visit, "running late" from the queue and cancellation notices, by e-mail
//! and text message. Each is written into the store's outbox in the same
//! transaction as the change that causes it ([`queue`]); the [`worker`]
//! sends them, retries with backoff and records each one's state. What a
//! message says is written at send time ([`compose`]) and carries nothing
//! of the patient's health beyond the appointment's time and the link.

pub mod compose;
pub mod email;
pub mod replies;
pub mod sms;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::model::ids::{PatientId, QueueId, VisitId};
use crate::model::message::{Channel, MessageKind, NewMessage, PatientMessage};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::model::visit::{Visit, VisitStatus};
use crate::store::{self, Store, StoreError, Tx};

/// Why a request about messages cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An audit entry for a message about the visit's encounter.
fn visit_audit(actor: &Actor, action: &'static str, visit: &Visit) -> AuditEntry {
    AuditEntry::new(actor, action, "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id)
}

/// Default reminder offsets: a day and an hour before the visit.
pub const DEFAULT_REMINDER_MINUTES: &[u32] = &[1440, 60];

/// Default most texts one patient gets in 24 hours: a link, two
/// reminders, a delay and a change of plan.
pub const DEFAULT_SMS_DAILY_CAP: u32 = 5;

/// What the outbox needs of the configuration.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// `BEDSIDE_SMTP_*`: e-mail goes out through this server when set.
    pub email: Option<email::EmailSettings>,
    /// `BEDSIDE_SMS_*`: text messages go out through this provider when set.
    pub sms: Option<sms::SmsSettings>,
    /// `BEDSIDE_MESSAGES_LOG`: a channel without a transport logs "would
    /// send to <masked address>" (no body) and counts the message sent. The
    /// demo turns it on; otherwise such messages fail with the reason.
    pub log_only: bool,
    /// `BEDSIDE_REMINDER_MINUTES`: how long before the visit reminders go.
    pub reminder_minutes: Vec<u32>,
    /// `BEDSIDE_SMS_DAILY_CAP`: most texts one patient is sent in any 24
    /// hours; beyond it a text waits until it may go, or is dropped when it
    /// would then be too late, with the reason on the visit's messages.
    pub sms_daily_cap: u32,
    /// `BEDSIDE_MESSAGE_POLL_SECONDS` (0 turns the worker off).
    pub poll_every: Option<Duration>,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            email: None,
            sms: None,
            log_only: false,
            reminder_minutes: DEFAULT_REMINDER_MINUTES.to_vec(),
            sms_daily_cap: DEFAULT_SMS_DAILY_CAP,
            poll_every: None,
        }
    }
}

impl OutboxSettings {
    /// Where messages go, in words for `--demo` and the start-up log.
    pub fn describe(&self) -> String {
        let email = match (&self.email, self.log_only) {
            (Some(e), _) => format!("e-mail through {}", e.describe()),
            (None, true) => "e-mail to the log (\"would send to …\", no body)".to_owned(),
            (None, false) => "no e-mail (BEDSIDE_SMTP_URL unset)".to_owned(),
        };
        let sms = match (&self.sms, self.log_only) {
            (Some(s), _) => format!("texts through {}", s.describe()),
            (None, true) => "texts to the log".to_owned(),
            (None, false) => "no texts (BEDSIDE_SMS_PROVIDER unset)".to_owned(),
        };
        format!("{email}; {sms}")
    }
}

/// Queues `kind` for the visit's patient on each channel the patient can
/// be reached by (e-mail if they gave one; texts if they gave a phone and
/// did not opt out), inside the caller's transaction. A message already
/// queued under the same `dedupe` key is not queued again. Answers how
/// many were new.
#[tracing::instrument(skip_all, fields(visit.id = %visit.id))]
pub async fn queue(
    tx: &mut Tx,
    visit: &Visit,
    kind: MessageKind,
    dedupe: &str,
    extra: Extra,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let Some(contact) = store::patient_contact(tx, &visit.patient_id).await? else {
        return Ok(0);
    };
    let mut routes = Vec::new();
    if let Some(email) = contact.email {
        routes.push((Channel::Email, email));
    }
    if let Some(phone) = contact.phone.filter(|_| !contact.sms_opt_out) {
        routes.push((Channel::Sms, phone));
    }
    let mut queued = 0;
    for (channel, address) in routes {
        let message = NewMessage {
            visit_id: visit.id.clone(),
            kind,
            channel,
            address,
            dedupe: dedupe.to_owned(),
            link_version: extra.link_version,
            late_minutes: extra.late_minutes,
        };
        if store::insert_message(tx, &message, &visit.patient_id, now).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// What some kinds of message carry besides the visit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extra {
    /// For a link: the link version its token is minted under.
    pub link_version: Option<i64>,
    /// For running late: the delay announced.
    pub late_minutes: Option<i64>,
}

/// The join link for a newly booked visit (link version 0).
pub async fn queue_booking_link(
    tx: &mut Tx,
    visit: &Visit,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let extra = Extra {
        link_version: Some(0),
        late_minutes: None,
    };
    queue(tx, visit, MessageKind::Link, "v0", extra, now).await
}

/// The cancellation notice for a visit just cancelled.
pub async fn queue_cancellation(
    tx: &mut Tx,
    visit: &Visit,
    now: Timestamp,
) -> Result<usize, StoreError> {
    queue(
        tx,
        visit,
        MessageKind::Cancellation,
        "cancel",
        Extra::default(),
        now,
    )
    .await
}

/// The join link under a fresh link version, when the front desk sends it
/// again.
pub async fn queue_link(
    tx: &mut Tx,
    visit: &Visit,
    version: i64,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let extra = Extra {
        link_version: Some(version),
        late_minutes: None,
    };
    queue(
        tx,
        visit,
        MessageKind::Link,
        &format!("v{version}"),
        extra,
        now,
    )
    .await
}

/// A visit's messages and where each stands, for staff; audited as a read
/// of the visit.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn visit_messages(
    store: &Store,
    actor: &Actor,
    id: &VisitId,
) -> Result<Vec<PatientMessage>, OutboxError> {
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, id)
        .await?
        .ok_or(OutboxError::NotFound("visit"))?;
    let messages = store::visit_patient_messages(&mut tx, id).await?;
    store::append_audit(&mut tx, &visit_audit(actor, "visit.messages_read", &visit)).await?;
    store::commit(tx).await?;
    Ok(messages)
}

/// The longest delay one may announce.
pub const MAX_LATE_MINUTES: i64 = 240;

/// Tells every patient still to be seen in the queue (booked or waiting;
/// only the given clinician's, when one is named) that the clinician is
/// running about `minutes` late. Answers the visits told.
#[tracing::instrument(skip_all, fields(queue.id = %queue))]
pub async fn running_late(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    queue: &QueueId,
    minutes: i64,
    clinician: Option<&crate::model::ids::UserId>,
) -> Result<Vec<VisitId>, OutboxError> {
    if !(1..=MAX_LATE_MINUTES).contains(&minutes) {
        return Err(FieldError::new(
            "minutes",
            format!("must be a whole number of minutes from 1 to {MAX_LATE_MINUTES}"),
        )
        .into());
    }
    let now = clock.now();
    let mut tx = store.begin().await?;
    if store::get_queue(&mut tx, queue).await?.is_none() {
        return Err(OutboxError::NotFound("queue"));
    }
    let mut told = Vec::new();
    for entry in store::queued_visits(&mut tx, queue).await? {
        if !matches!(entry.status, VisitStatus::Scheduled | VisitStatus::Waiting) {
            continue;
        }
        let Some(visit) = store::get_visit(&mut tx, &entry.visit_id).await? else {
            continue;
        };
        let theirs = visit.clinician_id.as_ref().or(visit.admitted_by.as_ref());
        if clinician.is_some_and(|c| theirs.is_some_and(|t| t != c)) {
            continue;
        }
        let extra = Extra {
            link_version: None,
            late_minutes: Some(minutes),
        };
        let dedupe = format!("{}", now.millis());
        queue_messages_audited(
            &mut tx,
            actor,
            &visit,
            MessageKind::RunningLate,
            &dedupe,
            extra,
            now,
        )
        .await?;
        told.push(visit.id.clone());
    }
    store::commit(tx).await?;
    Ok(told)
}

/// Queues and audits: the audit names the visit's patient.
async fn queue_messages_audited(
    tx: &mut Tx,
    actor: &Actor,
    visit: &Visit,
    kind: MessageKind,
    dedupe: &str,
    extra: Extra,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let queued = queue(tx, visit, kind, dedupe, extra, now).await?;
    if queued > 0 {
        let action = match kind {
            MessageKind::Link => "visit.message_link",
            MessageKind::Reminder => "visit.message_reminder",
            MessageKind::RunningLate => "visit.message_running_late",
            MessageKind::Cancellation => "visit.message_cancellation",
        };
        store::append_audit(tx, &visit_audit(actor, action, visit)).await?;
    }
    Ok(queued)
}

/// Whether the patient accepts text messages, as staff see and set it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextPreference {
    /// True when the patient asked for no text messages; e-mail still goes.
    pub opted_out: bool,
}

/// Reads whether the patient opted out of texts; audited.
pub async fn text_preference(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<TextPreference, OutboxError> {
    let mut tx = store.begin().await?;
    let contact = store::patient_contact(&mut tx, patient)
        .await?
        .ok_or(OutboxError::NotFound("patient"))?;
    let entry = AuditEntry::new(actor, "patient.text_preference_read", "Patient")
        .resource(patient.as_str())
        .patient(patient);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(TextPreference {
        opted_out: contact.sms_opt_out,
    })
}

/// Records the patient's choice about texts; audited. Messages already
/// queued by text are not sent once the patient opted out.
pub async fn set_text_preference(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    patient: &PatientId,
    choice: &TextPreference,
) -> Result<TextPreference, OutboxError> {
    let mut tx = store.begin().await?;
    if !store::set_sms_opt_out(&mut tx, patient, choice.opted_out, clock.now()).await? {
        return Err(OutboxError::NotFound("patient"));
    }
    let action = if choice.opted_out {
        "patient.text_opt_out"
    } else {
        "patient.text_opt_in"
    };
    let entry = AuditEntry::new(actor, action, "Patient")
        .resource(patient.as_str())
        .patient(patient);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(choice.clone())
}

/// The reminders now due: for each booked visit starting within the
/// longest offset, the nearest offset whose moment has come, unless the
/// visit was booked after that moment (its link just went). Each is queued
/// once: the offset is the message's unique key. Answers how many were new.
#[tracing::instrument(skip_all)]
pub async fn queue_due_reminders(
    store: &Store,
    clock: &Clock,
    offsets: &[u32],
) -> Result<usize, OutboxError> {
    let Some(longest) = offsets.iter().max() else {
        return Ok(0);
    };
    let now = clock.now();
    let mut tx = store.begin().await?;
    let until = now + Duration::from_secs(u64::from(*longest) * 60);
    let candidates = store::reminder_candidates(&mut tx, now, until).await?;
    let worker = Actor::system(now);
    let mut queued = 0;
    for candidate in candidates {
        let start = candidate.scheduled_start.millis();
        let due = offsets
            .iter()
            .copied()
            .filter(|offset| {
                let moment = start - i64::from(*offset) * 60_000;
                moment <= now.millis() && candidate.booked_at.millis() < moment
            })
            .min();
        let Some(offset) = due else { continue };
        let Some(visit) = store::get_visit(&mut tx, &candidate.visit_id).await? else {
            continue;
        };
        queued += queue_messages_audited(
            &mut tx,
            &worker,
            &visit,
            MessageKind::Reminder,
            &offset.to_string(),
            Extra::default(),
            now,
        )
        .await?;
    }
    store::commit(tx).await?;
    Ok(queued)
}

/// Shared handles the worker sends with.
pub type SharedSettings = Arc<OutboxSettings>;
