//! The floor every other module stands on: values that cannot be built
//! invalid (ids, codes, times, checked text), the records the store keeps
//! and the domain works with, and the state machines of their statuses.
//! It imports nothing else of the crate; the store takes and returns these
//! types, and the domain modules decide with them.

pub mod audit;
pub mod auth;
pub mod billing_codes;
pub mod chat;
pub mod claim;
pub mod clinical;
pub mod clock;
pub mod codes;
pub mod guest;
pub mod ids;
pub mod message;
pub mod patient;
pub mod precall;
pub mod quality;
pub mod region;
pub mod schedule;
pub mod smart;
pub mod summary;
pub mod timestamp;
pub mod validation;
pub mod visit;
pub mod vitals;

/// Gives each status enum `as_str` and `parse` from its strum derives, so
/// its string form is written once, beside serde's (a test checks the two
/// agree). SQL binds `as_str()`; rows are read back with `parse`.
macro_rules! string_forms {
    ($($name:ty),* $(,)?) => {$(
        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
        }
    )*};
}

string_forms!(
    audit::Outcome,
    auth::Role,
    chat::SenderRole,
    claim::ClaimStatus,
    claim::EntryKind,
    clinical::AllergyStatus,
    clinical::CodeSystem,
    clinical::ConditionEnd,
    clinical::MedicationEnd,
    clinical::Severity,
    guest::GuestKind,
    guest::GuestStatus,
    message::Channel,
    message::MessageKind,
    message::MessageState,
    patient::Sex,
    precall::Verdict,
    visit::EncounterStatus,
    visit::PatientLocation,
    visit::Priority,
    visit::VisitStatus,
);

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    fn agree<T>()
    where
        T: IntoEnumIterator + Copy + serde::Serialize + Into<&'static str> + std::str::FromStr,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for value in T::iter() {
            let text: &'static str = value.into();
            assert_eq!(serde_json::to_value(value).unwrap(), text);
            let back: T = text.parse().unwrap();
            assert_eq!(serde_json::to_value(back).unwrap(), text);
        }
    }

    #[test]
    fn each_status_has_one_string_form_that_serde_and_sql_share() {
        agree::<audit::Outcome>();
        agree::<auth::Role>();
        agree::<chat::SenderRole>();
        agree::<claim::ClaimStatus>();
        agree::<claim::EntryKind>();
        agree::<clinical::AllergyStatus>();
        agree::<clinical::CodeSystem>();
        agree::<clinical::ConditionEnd>();
        agree::<clinical::MedicationEnd>();
        agree::<clinical::Severity>();
        assert_eq!(
            clinical::AllergyStatus::EnteredInError.as_str(),
            "entered-in-error"
        );
        agree::<guest::GuestKind>();
        agree::<guest::GuestStatus>();
        agree::<message::Channel>();
        agree::<message::MessageKind>();
        agree::<message::MessageState>();
        agree::<patient::Sex>();
        agree::<precall::Verdict>();
        agree::<visit::EncounterStatus>();
        agree::<visit::PatientLocation>();
        agree::<visit::Priority>();
        agree::<visit::VisitStatus>();
        assert_eq!(visit::VisitStatus::InConsult.as_str(), "in_consult");
        assert_eq!(visit::EncounterStatus::InProgress.as_str(), "in-progress");
        assert_eq!(
            visit::VisitStatus::parse("no_show"),
            Some(visit::VisitStatus::NoShow)
        );
        assert_eq!(visit::VisitStatus::parse("No_Show"), None);
    }
}
pub mod draft;
