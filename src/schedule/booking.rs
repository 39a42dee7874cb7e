//! Booking from the public page: a patient picks a free slot, gives their
//! details and a reason, and gets their join link. No account, so three
//! checks stand between a bot and the calendar: a throttle per client
//! address, a signed and time-stamped form that is good once and only
//! after a person could have filled it in, and a field people never see
//! (a bot that fills it is refused). The patient is matched to a record
//! only on exact name, birth date and contact; anyone else is registered
//! new and flagged for the front desk to review.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::NaiveDate;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{NewAppointment, SLOT_TAKEN};
use crate::audit::{Actor, AuditEntry};
use crate::auth::{JoinLinks, TokenKeys};
use crate::model::clock::Clock;
use crate::model::ids::{PatientId, QueueId, UserId, VisitId};
use crate::model::patient::{NewPatient, Sex};
use crate::model::timestamp::Timestamp;
use crate::model::validation::{Email, FieldError, Phone, Text};
use crate::store::{self, Store, StoreError};
use crate::visits::VisitError;

/// How the public page is held back (`BEDSIDE_BOOKING_PER_HOUR`,
/// `BEDSIDE_BOOKING_MIN_FILL_SECONDS`).
#[derive(Debug, Clone, Copy)]
pub struct BookingSettings {
    /// Bookings one client address may make in an hour.
    pub per_hour: u32,
    /// How long a form must have been open before it is sent.
    pub min_fill: Duration,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            per_hour: 10,
            min_fill: Duration::from_secs(3),
        }
    }
}

/// How long a booking form stays good.
pub const FORM_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// The page's throttle and its settings; one per node.
#[derive(Debug)]
pub struct SelfBooking {
    pub settings: BookingSettings,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl SelfBooking {
    pub fn new(settings: BookingSettings) -> Self {
        let per_hour = NonZeroU32::new(settings.per_hour.max(1)).expect("at least one");
        Self {
            settings,
            limiter: RateLimiter::keyed(Quota::per_hour(per_hour)),
        }
    }

    /// Takes one booking from `ip`'s allowance, or says how long to wait.
    fn admit(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("too many bookings from this address; try again later")]
    Throttled(Duration),
    /// The form failed the checks that stop bots; the words say what to do.
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Visit(#[from] VisitError),
}

impl From<StoreError> for BookingError {
    fn from(error: StoreError) -> Self {
        Self::Visit(error.into())
    }
}

impl From<FieldError> for BookingError {
    fn from(error: FieldError) -> Self {
        Self::Visit(error.into())
    }
}

/// A clinician patients may book, as the public page lists them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookableClinician {
    pub id: UserId,
    pub display_name: String,
    pub visit_minutes: i64,
    /// The IANA zone the clinician's hours are in: the page's days and
    /// times are the clinic's.
    pub time_zone: String,
}

/// A fresh booking form: its token and how long to wait before sending.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookingForm {
    pub form_token: String,
    pub min_fill_seconds: u64,
}

/// The body of `POST /booking`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicBooking {
    /// From `GET /booking/form`.
    pub form_token: String,
    /// Left empty by people: the page hides it.
    #[serde(default)]
    pub website: String,
    pub clinician_id: UserId,
    pub start: Timestamp,
    pub given_name: Text,
    pub family_name: Text,
    #[schema(value_type = String, format = "date", example = "1984-03-02")]
    pub birth_date: NaiveDate,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
    pub reason: Text,
}

/// What the patient sees once booked: when, with whom, and their link.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicBooked {
    pub visit_id: VisitId,
    pub start: Timestamp,
    pub clinician_name: String,
    /// The clinic's IANA zone, to show `start` in.
    pub time_zone: String,
    pub join_url: String,
    /// The queue the visit joined, for the live feeds; not shown.
    #[serde(skip)]
    pub queue_id: QueueId,
}

/// The clinicians open to self-booking.
#[tracing::instrument(skip_all)]
pub async fn clinicians(store: &Store) -> Result<Vec<BookableClinician>, VisitError> {
    let mut tx = store.begin_read().await?;
    let all = store::list_schedules(&mut tx).await?;
    store::commit(tx).await?;
    Ok(all
        .into_iter()
        .filter(|s| s.schedule.self_booking && !s.schedule.hours.is_empty())
        .map(|s| BookableClinician {
            id: s.clinician_id,
            display_name: s.clinician_name,
            visit_minutes: s.schedule.visit_minutes,
            time_zone: s.schedule.time_zone.name().to_owned(),
        })
        .collect())
}

/// The free slots of a clinician open to self-booking.
#[tracing::instrument(skip_all)]
pub async fn free_slots(
    store: &Store,
    clock: &Clock,
    clinician: &UserId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<super::Slot>, VisitError> {
    let open = clinicians(store).await?;
    if !open.iter().any(|c| c.id == *clinician) {
        return Err(VisitError::NotFound("clinician"));
    }
    let slots = super::slots(store, clock, Some(clinician), from, to).await?;
    Ok(slots
        .into_iter()
        .filter(|s| s.status == super::SlotStatus::Free)
        .collect())
}

/// A fresh form for the page.
pub fn form(keys: &TokenKeys, clock: &Clock, settings: &BookingSettings) -> BookingForm {
    BookingForm {
        form_token: keys.issue_form(clock.now().millis()),
        min_fill_seconds: settings.min_fill.as_secs(),
    }
}

/// Checks the form against bots: signed by us, open long enough, not
/// stale, and the hidden field empty. Answers the form's nonce.
fn check_form(
    keys: &TokenKeys,
    now: Timestamp,
    settings: &BookingSettings,
    input: &PublicBooking,
) -> Result<String, BookingError> {
    if !input.website.trim().is_empty() {
        return Err(BookingError::Refused(
            "the booking could not be accepted; leave the hidden website field empty",
        ));
    }
    let (issued, nonce) = keys
        .verify_form(&input.form_token)
        .ok_or(BookingError::Refused(
            "the booking form is not valid; reload the page and try again",
        ))?;
    let age = now.millis() - issued;
    if age < settings.min_fill.as_millis() as i64 {
        return Err(BookingError::Refused(
            "the form was sent too quickly; check your details and send it again",
        ));
    }
    if age > FORM_LIFETIME.as_millis() as i64 {
        return Err(BookingError::Refused(
            "the booking form has expired; reload the page and try again",
        ));
    }
    Ok(nonce)
}

/// Books from the public page.
#[tracing::instrument(skip_all)]
pub async fn book_online(
    store: &Store,
    clock: &Clock,
    keys: &TokenKeys,
    links: &JoinLinks,
    guard: &SelfBooking,
    ip: IpAddr,
    input: &PublicBooking,
) -> Result<PublicBooked, BookingError> {
    guard.admit(ip).map_err(BookingError::Throttled)?;
    let now = clock.now();
    let nonce = check_form(keys, now, &guard.settings, input)?;
    if input.email.is_none() && input.phone.is_none() {
        return Err(FieldError::new("email", "give an e-mail address or a phone number").into());
    }
    let actor = Actor {
        kind: "patient",
        id: None,
        role: Some("self_booking".to_owned()),
        ip: Some(ip.to_string()),
        at: now,
    };
    let new = NewPatient {
        given_name: input.given_name.clone(),
        family_name: input.family_name.clone(),
        birth_date: input.birth_date,
        sex: Sex::Unknown,
        email: input.email.clone(),
        phone: input.phone.clone(),
        address: None,
        insurance: None,
    };
    new.validate(now.to_datetime().date_naive())?;
    let mut tx = store.begin().await?;
    store::use_booking_form(&mut tx, &nonce, now)
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(_) => BookingError::Refused(
                "this booking form was already sent; reload the page to book again",
            ),
            other => other.into(),
        })?;
    let schedule = store::get_schedule(&mut tx, &input.clinician_id)
        .await?
        .filter(|s| s.schedule.self_booking)
        .ok_or_else(|| FieldError::new("clinician_id", "is not open to online booking"))?;
    let patient = matched_or_new(&mut tx, &actor, &new).await?;
    store::commit(tx).await?;
    let appointment = NewAppointment {
        patient_id: patient,
        clinician_id: input.clinician_id.clone(),
        start: input.start,
        reason: input.reason.clone(),
    };
    let created = super::book(store, clock, &actor, links, &appointment)
        .await
        .map_err(|e| match e {
            VisitError::WrongState(_) => VisitError::WrongState(SLOT_TAKEN.to_owned()),
            other => other,
        })?;
    Ok(PublicBooked {
        visit_id: created.visit.id,
        start: input.start,
        clinician_name: schedule.clinician_name,
        time_zone: schedule.schedule.time_zone.name().to_owned(),
        join_url: created.join_url,
        queue_id: created.visit.queue_id,
    })
}

/// The one record with exactly this name, birth date and contact; else a
/// new record, flagged for review.
async fn matched_or_new(
    tx: &mut store::Tx,
    actor: &Actor,
    new: &NewPatient,
) -> Result<PatientId, BookingError> {
    let email = new.email.clone().map(String::from);
    let phone = new.phone.clone().map(String::from);
    let found = store::match_patient(
        tx,
        new.given_name.as_str(),
        new.family_name.as_str(),
        new.birth_date,
        email.as_deref(),
        phone.as_deref(),
    )
    .await?;
    if let [patient] = found.as_slice() {
        return Ok(patient.id.clone());
    }
    let patient = store::insert_patient(tx, new, actor.at).await?;
    let reason = if found.is_empty() {
        "registered from the booking page; no record matched"
    } else {
        "registered from the booking page; several records matched"
    };
    store::flag_for_review(tx, &patient.id, reason, actor.at).await?;
    let entry = AuditEntry::new(actor, "patient.create", "Patient")
        .resource(&patient.id)
        .patient(&patient.id);
    store::append_audit(tx, &entry).await?;
    Ok(patient.id)
}

/// A patient waiting for the front desk's review.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Review {
    pub patient: crate::model::patient::Patient,
    pub reason: String,
    pub flagged_at: Timestamp,
}

/// The review list; each patient listed is an audited read.
#[tracing::instrument(skip_all)]
pub async fn reviews(store: &Store, actor: &Actor) -> Result<Vec<Review>, VisitError> {
    let mut tx = store.begin().await?;
    let open = store::open_reviews(&mut tx).await?;
    let mut list = Vec::with_capacity(open.len());
    for (id, reason, at) in open {
        if let Some(patient) = store::get_patient(&mut tx, &id).await? {
            let entry = AuditEntry::new(actor, "patient.read", "Patient")
                .resource(&id)
                .patient(&id);
            store::append_audit(&mut tx, &entry).await?;
            list.push(Review {
                patient,
                reason,
                flagged_at: at,
            });
        }
    }
    store::commit(tx).await?;
    Ok(list)
}

/// The front desk has checked a self-booked patient's record.
#[tracing::instrument(skip_all)]
pub async fn resolve(
    store: &Store,
    actor: &Actor,
    by: &UserId,
    patient: &PatientId,
) -> Result<(), VisitError> {
    let mut tx = store.begin().await?;
    if !store::resolve_review(&mut tx, patient, by, actor.at).await? {
        return Err(VisitError::NotFound("review"));
    }
    let entry = AuditEntry::new(actor, "patient.review", "Patient")
        .resource(patient)
        .patient(patient);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(())
}
