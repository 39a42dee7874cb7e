//! Invited guests of a visit: who they are and where their invitation stands.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{GuestId, UserId, VisitId};
use super::timestamp::Timestamp;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GuestKind {
    Interpreter,
    Family,
    Other,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GuestStatus {
    /// Holds a link; waits to be let in.
    Invited,
    /// Let into the call by the clinician.
    Admitted,
    /// The link no longer works.
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Guest {
    pub id: GuestId,
    pub visit_id: VisitId,
    pub display_name: String,
    pub kind: GuestKind,
    pub status: GuestStatus,
    pub invited_by: UserId,
    pub invited_at: Timestamp,
    pub expires_at: Timestamp,
    pub admitted_by: Option<UserId>,
    pub admitted_at: Option<Timestamp>,
}

impl Guest {
    /// The invitation still stands at `now` (Unix milliseconds).
    pub fn is_active(&self, now: i64) -> bool {
        self.status != GuestStatus::Revoked && self.expires_at.millis() > now
    }
}
