//! A pre-call network check as stored on its visit, and its verdict.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{PreCallId, VisitId};
use super::timestamp::Timestamp;

/// What the patient is told, best first.
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
pub enum Verdict {
    Good,
    Fair,
    Poor,
    /// No connection could be made at all.
    Failed,
}

/// A finished check, as stored on the visit and shown to its clinician.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PreCallResult {
    pub id: PreCallId,
    pub visit_id: VisitId,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub verdict: Verdict,
    /// Candidate types the browser gathered: `host`, `srflx` (its public
    /// address through STUN), `relay` (a TURN relay).
    pub gathered: Vec<String>,
    /// The candidate type the connection used on the browser's side; absent
    /// when it never connected.
    pub path: Option<String>,
    pub rtt_ms: Option<f64>,
    pub loss_percent: Option<f64>,
    pub upload_kbps: Option<i64>,
    /// What the patient is told.
    pub advice: String,
}
