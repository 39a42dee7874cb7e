//! Messages to patients: what they are about, how they travel and where
//! each one stands. What a message says is written at send time from the
//! visit, never stored.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;

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
    pub visit_status: crate::model::visit::VisitStatus,
    /// The clinic's zone the appointment's time is written in.
    pub time_zone: chrono_tz::Tz,
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
}
