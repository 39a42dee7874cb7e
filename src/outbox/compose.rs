//! What each message says. Only the appointment's time, the clinic's name
//! and phone and, where it helps, the join link: never the reason for the
//! visit, the clinician's speciality or anything else of the patient's
//! health (HHS FAQ 198: a reminder says what confirms the appointment).

use chrono_tz::Tz;

use crate::model::message::{Channel, MessageKind};
use crate::model::timestamp::Timestamp;

/// The words of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The e-mail subject (texts have none).
    pub subject: String,
    pub body: String,
}

/// What a message may say.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub kind: MessageKind,
    pub channel: Channel,
    pub given_name: &'a str,
    pub clinic: &'a str,
    pub clinic_phone: Option<&'a str>,
    pub starts: Option<Timestamp>,
    /// The clinic's zone: the time is written as the clinic's clock shows it.
    pub time_zone: Tz,
    /// The join link, for links and reminders.
    pub link: Option<&'a str>,
    pub late_minutes: Option<i64>,
}

/// `Tue 3 Mar 2026 at 09:00 CST (America/Chicago)`: the clinic's local
/// time with its zone, so a patient elsewhere can tell what is meant.
pub fn appointment_time(at: Timestamp, zone: Tz) -> String {
    let local = at
        .to_datetime()
        .with_timezone(&zone)
        .format("%a %-d %b %Y at %H:%M %Z")
        .to_string();
    if zone == Tz::UTC {
        local
    } else {
        format!("{local} ({})", zone.name())
    }
}

pub fn compose(facts: &Facts<'_>) -> Composed {
    let when = facts
        .starts
        .map(|t| format!(" on {}", appointment_time(t, facts.time_zone)))
        .unwrap_or_default();
    let clinic = facts.clinic;
    let link = facts.link.unwrap_or_default();
    let (subject, lines): (String, Vec<String>) = match facts.kind {
        MessageKind::Link => (
            format!("Your video visit with {clinic}"),
            vec![
                format!("Your video visit with {clinic} is booked{when}."),
                format!("Join from your browser with this link: {link}"),
            ],
        ),
        MessageKind::Reminder => (
            format!("Reminder: your video visit with {clinic}"),
            vec![
                format!("A reminder of your video visit with {clinic}{when}."),
                format!("Join from your browser with this link: {link}"),
            ],
        ),
        MessageKind::RunningLate => (
            format!("Your clinician at {clinic} is running late"),
            vec![format!(
                "The clinician is running about {} minutes late for your video visit with {clinic}. Please keep your link handy; we will see you as soon as we can.",
                facts.late_minutes.unwrap_or_default()
            )],
        ),
        MessageKind::Cancellation => (
            format!("Your video visit with {clinic} is cancelled"),
            vec![format!(
                "Your video visit with {clinic}{when} is cancelled. Its link no longer works."
            )],
        ),
    };
    let mut body = match facts.channel {
        Channel::Email => format!("Hello {},\n\n{}\n", facts.given_name, lines.join("\n\n")),
        Channel::Sms => format!("{} {}", clinic_prefix(clinic), lines.join(" ")),
    };
    match (facts.channel, facts.clinic_phone) {
        (Channel::Email, Some(phone)) => {
            body.push_str(&format!("\nQuestions? Call {clinic} at {phone}.\n"));
        }
        (Channel::Email, None) => {}
        (Channel::Sms, phone) => {
            if let Some(phone) = phone {
                body.push_str(&format!(" Call {phone}."));
            }
            body.push_str(" Reply STOP to opt out.");
        }
    }
    Composed { subject, body }
}

fn clinic_prefix(clinic: &str) -> String {
    format!("{clinic}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: MessageKind, channel: Channel) -> Facts<'static> {
        Facts {
            kind,
            channel,
            given_name: "Ada",
            clinic: "Springfield Clinic",
            clinic_phone: Some("(217) 555-0100"),
            starts: Some(Timestamp(1_772_550_000_000)),
            time_zone: Tz::UTC,
            link: Some("https://bedside.example/join/v?t=abc"),
            late_minutes: Some(20),
        }
    }

    #[test]
    fn a_link_says_when_and_how_to_join() {
        let message = compose(&facts(MessageKind::Link, Channel::Email));
        assert!(message.body.contains("Tue 3 Mar 2026 at 15:00 UTC"));
        assert!(
            message
                .body
                .contains("https://bedside.example/join/v?t=abc")
        );
        assert!(message.body.contains("(217) 555-0100"));
    }

    #[test]
    fn the_time_is_the_clinics_local_time_with_its_zone() {
        let mut chicago = facts(MessageKind::Reminder, Channel::Sms);
        chicago.time_zone = chrono_tz::America::Chicago;
        let message = compose(&chicago);
        assert!(
            message
                .body
                .contains("Tue 3 Mar 2026 at 09:00 CST (America/Chicago)"),
            "{}",
            message.body
        );
        assert!(!message.body.contains("15:00"));
    }

    #[test]
    fn texts_name_the_clinic_and_say_how_to_stop() {
        let message = compose(&facts(MessageKind::RunningLate, Channel::Sms));
        assert!(message.body.starts_with("Springfield Clinic:"));
        assert!(message.body.contains("about 20 minutes late"));
        assert!(message.body.ends_with("Reply STOP to opt out."));
    }

    #[test]
    fn a_cancellation_carries_no_link() {
        let message = compose(&facts(MessageKind::Cancellation, Channel::Email));
        assert!(!message.body.contains("t=abc"));
    }
}
