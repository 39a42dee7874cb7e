//! The chat of a visit's call as it is kept: each message with its sender
//! as the room knew them (a patient, a staff user or a guest), its text,
//! when the room relayed it and its place in the visit's order.

use serde::Serialize;
use utoipa::ToSchema;

use super::ids::{ChatMessageId, EncounterId, PatientId, VisitId};
use super::timestamp::Timestamp;

/// Who sent a message, by the role their token carried.
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
pub enum SenderRole {
    Patient,
    Clinician,
    Admin,
    Scheduler,
    Billing,
    Guest,
}

impl SenderRole {
    pub fn is_staff(self) -> bool {
        !matches!(self, Self::Patient | Self::Guest)
    }
}

/// The sender of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatSender {
    pub role: SenderRole,
    /// The patient's, user's or guest's id, as `role` says.
    pub id: String,
    pub display_name: String,
}

/// A message to keep, as the room is about to relay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChatMessage {
    pub visit_id: VisitId,
    pub sender: ChatSender,
    /// The sender's socket in the room (the live frame's `from`).
    pub participant_id: String,
    pub text: String,
    pub at: Timestamp,
}

/// A kept message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatMessage {
    pub id: ChatMessageId,
    pub visit_id: VisitId,
    pub encounter_id: EncounterId,
    pub patient_id: PatientId,
    /// Its place in the visit's chat, from 1.
    pub seq: i64,
    pub sender: ChatSender,
    pub participant_id: String,
    pub text: String,
    /// When the room relayed it.
    pub at: Timestamp,
}
