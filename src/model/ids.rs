//! Typed identifiers. Each is a UUID in text form, so ids of different
//! records cannot be swapped by mistake.

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = "uuid")]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// An id read back from the store or a trusted source.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            /// Parses an id from a path or body; anything but a UUID is refused.
            pub fn parse(value: &str) -> Option<Self> {
                uuid::Uuid::parse_str(value).ok().map(|u| Self(u.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// A staff member's account.
    UserId
);
typed_id!(
    /// A patient's record.
    PatientId
);
typed_id!(
    /// A video visit; the patient's token is scoped to one.
    VisitId
);
typed_id!(
    /// A waiting-room queue.
    QueueId
);
typed_id!(
    /// An EHR encounter; each visit has one.
    EncounterId
);
typed_id!(
    /// One pre-call check of a patient's network.
    PreCallId
);
typed_id!(
    /// A guest invited to one visit (an interpreter, a family member).
    GuestId
);
typed_id!(
    /// One chat message of a visit's call.
    ChatMessageId
);
