//! Messages to patients: what they are about, how they travel and where
//! each one stands. What a message says is written at send time from the
//! visit, never stored.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::model::visit::VisitStatus;

/// Why a patient is written to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MessageKind {
    /// The join link, on booking or when the front desk sends it again.
    Link,
    /// A reminder some minutes before the appointment.
    Reminder,
    /// The clinician is running late.
    RunningLate,
    /// The visit was cancelled.
    Cancellation,
}

/// How a message travels.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

/// Where a message stands. `sending` is a claim by one worker for a
/// while; when it lapses the message counts as queued again.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MessageState {
    Queued,
    Sending,
    Sent,
    Failed,
}

/// A message to write into the outbox.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub visit_id: VisitId,
    pub kind: MessageKind,
    pub channel: Channel,
    pub address: String,
    pub dedupe: String,
    pub link_version: Option<i64>,
    pub late_minutes: Option<i64>,
}

/// One message as staff see it on the visit: its state and, when it
/// failed, why, in plain words. The address is masked; no body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientMessage {
    pub id: String,
    #[schema(value_type = String, format = "uuid")]
    pub visit_id: VisitId,
    pub kind: MessageKind,
    pub channel: Channel,
    /// The address, masked (`a***@example.org`, `***0100`).
    pub to: String,
    pub state: MessageState,
    pub attempts: i64,
    /// Why the last attempt failed, or why the message was given up.
    pub failure: Option<String>,
    /// For `running_late`, the delay announced.
    pub late_minutes: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    /// When a queued message is tried next.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
}

/// A message a worker has claimed to send, with what the store knows of
/// the visit and patient at that moment.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: String,
    pub visit_id: VisitId,
    pub kind: MessageKind,
    pub channel: Channel,
    pub address: String,
    pub link_version: Option<i64>,
    pub late_minutes: Option<i64>,
    pub attempts: i64,
    pub lease_token: String,
    pub patient_given_name: String,
    pub patient_id: crate::model::ids::PatientId,
    pub sms_opt_out: bool,
    pub scheduled_start: Option<Timestamp>,
    pub current_link_version: i64,
    pub visit_status: VisitStatus,
    /// The clinic's zone the appointment's time is written in.
    pub time_zone: chrono_tz::Tz,
    /// When the message was queued.
    pub queued_at: Timestamp,
}

impl ClaimedMessage {
    /// Why this message should not go any more at `now`, if it should not.
    /// A message is only worth sending while what it says is still true.
    pub fn stale(&self, now: Timestamp) -> Option<&'static str> {
        let ended = matches!(
            self.visit_status,
            VisitStatus::Cancelled | VisitStatus::NoShow
        );
        let begun = matches!(
            self.visit_status,
            VisitStatus::InConsult | VisitStatus::Closed
        );
        match self.kind {
            MessageKind::Link
                if self
                    .link_version
                    .is_some_and(|v| v != self.current_link_version) =>
            {
                Some("a newer link replaced this one before it was sent")
            }
            MessageKind::Link | MessageKind::RunningLate if ended => {
                Some("the visit ended before this was sent")
            }
            MessageKind::RunningLate if begun => Some("the visit began before this was sent"),
            // A delay notice that arrives after the delay is over misleads.
            MessageKind::RunningLate
                if self
                    .late_minutes
                    .is_some_and(|late| now.millis() > self.queued_at.millis() + late * 60_000) =>
            {
                Some("the delay it announced was over before it could be sent")
            }
            MessageKind::Reminder if self.visit_status != VisitStatus::Scheduled => {
                Some("the visit was no longer booked when the reminder was due")
            }
            _ if self.channel == Channel::Sms && self.sms_opt_out => {
                Some("the patient opted out of text messages")
            }
            _ => None,
        }
    }
}

/// Masks an e-mail address or phone number for staff screens and logs.
pub fn mask_address(channel: Channel, address: &str) -> String {
    match channel {
        Channel::Email => match address.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        Channel::Sms => {
            let digits: Vec<char> = address.chars().filter(char::is_ascii_digit).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("***{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_to_a_hint() {
        assert_eq!(
            mask_address(Channel::Email, "ada@example.org"),
            "a***@example.org"
        );
        assert_eq!(mask_address(Channel::Sms, "+1 217 555 0100"), "***0100");
        assert_eq!(mask_address(Channel::Email, "nonsense"), "***");
    }

    const MINUTE: i64 = 60_000;

    fn running_late(minutes: i64, status: VisitStatus) -> ClaimedMessage {
        ClaimedMessage {
            id: "m1".to_owned(),
            visit_id: VisitId::from_trusted("v1".to_owned()),
            kind: MessageKind::RunningLate,
            channel: Channel::Sms,
            address: "+12175550100".to_owned(),
            link_version: None,
            late_minutes: Some(minutes),
            attempts: 1,
            lease_token: "lease".to_owned(),
            patient_given_name: "Ada".to_owned(),
            patient_id: crate::model::ids::PatientId::from_trusted("p1".to_owned()),
            sms_opt_out: false,
            scheduled_start: None,
            current_link_version: 1,
            visit_status: status,
            time_zone: chrono_tz::UTC,
            queued_at: Timestamp(1_000 * MINUTE),
        }
    }

    #[test]
    fn a_delay_notice_goes_only_while_the_delay_lasts() {
        let notice = running_late(15, VisitStatus::Waiting);
        assert_eq!(notice.stale(Timestamp(1_000 * MINUTE)), None);
        assert_eq!(notice.stale(Timestamp(1_015 * MINUTE)), None);
        assert_eq!(
            notice.stale(Timestamp(1_015 * MINUTE + 1)),
            Some("the delay it announced was over before it could be sent")
        );
    }

    #[test]
    fn a_delay_notice_is_not_sent_once_the_visit_began_or_ended() {
        let now = Timestamp(1_001 * MINUTE);
        assert_eq!(running_late(15, VisitStatus::Scheduled).stale(now), None);
        for status in [VisitStatus::InConsult, VisitStatus::Closed] {
            assert_eq!(
                running_late(15, status).stale(now),
                Some("the visit began before this was sent")
            );
        }
        for status in [VisitStatus::Cancelled, VisitStatus::NoShow] {
            assert_eq!(
                running_late(15, status).stale(now),
                Some("the visit ended before this was sent")
            );
        }
    }
}
