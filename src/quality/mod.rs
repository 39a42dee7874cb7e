//! Call quality: each participant's `stats` summaries kept in the visit's
//! timeline and folded into the call's measure (connected and audio-only
//! time, relay path, grades), the measured call as the clinician and the
//! record see it, and the operations figures across visits.
//!
//! - [`operations`]: connect rate, admit→connected, relayed and degraded
//!   shares per day, for admins.

pub mod operations;

use serde::Serialize;
use signaling::protocol::quality::{CandidateType, MediaMode};
use utoipa::ToSchema;

use crate::model::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::model::quality::{CallMeasure, Grade, QualitySample, Reading};
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};
use crate::visits::VisitError;

/// Summaries further apart than this leave the call counted as not
/// connected in between: browsers send one every few seconds, so this
/// allows a few lost ones.
pub const CONTINUITY_MS: i64 = 20_000;

/// Keeps one summary and advances the call's measure, in one transaction.
#[tracing::instrument(skip_all, fields(visit.id = %sample.visit_id))]
pub async fn record(store: &Store, sample: &QualitySample, cap: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::insert_quality_sample(&mut tx, sample, cap).await?;
    let since = Timestamp(sample.at.millis() - CONTINUITY_MS);
    let others =
        store::others_audio_only(&mut tx, &sample.visit_id, &sample.participant_id, since).await?;
    let own = sample.stats.mode == MediaMode::AudioOnly;
    let reading = Reading {
        at: sample.at,
        grade: sample.grade,
        audio_only_now: others || own,
        audio_only_since: own
            .then(|| Timestamp(sample.at.millis() - i64::from(sample.stats.mode_ms.unwrap_or(0)))),
        relayed: sample.stats.candidate == Some(CandidateType::Relay),
    };
    let mut measure =
        store::lock_call_measure(&mut tx, store.backend(), &sample.visit_id, sample.at).await?;
    measure.advance(&reading, CONTINUITY_MS);
    store::save_call_measure(&mut tx, &measure).await?;
    store::commit(tx).await
}

/// A summary as received now, graded.
pub fn sample(
    visit_id: VisitId,
    participant_id: String,
    role: &str,
    stats: signaling::protocol::quality::StatsSummary,
    clock: &Clock,
) -> QualitySample {
    QualitySample {
        visit_id,
        participant_id,
        role: role.to_owned(),
        at: clock.now(),
        grade: Grade::of(&stats),
        stats,
    }
}

/// The measured call, as the clinician sees it beside the close form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasuredCall {
    /// Whether any summary has come: without one, nothing was measured.
    pub measured: bool,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub connected_minutes: i64,
    pub audio_only_minutes: i64,
    pub connected_seconds: i64,
    pub audio_only_seconds: i64,
    /// More than half of the connected time went without video: the claim
    /// takes the payer's audio-only modifier unless the clinician says why not.
    pub mostly_audio_only: bool,
    pub relayed: bool,
    /// `good 80%, fair 15%, poor 5%`.
    pub quality_summary: Option<String>,
    /// The latest summary's grade, per participant role.
    pub latest: Vec<LatestGrade>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LatestGrade {
    pub role: String,
    pub grade: String,
    pub mode: String,
    pub candidate: Option<String>,
    /// The selected path's round trip (ms), to tell a slow path from a good one.
    pub rtt_ms: Option<f64>,
    /// The share (%) of packets sent to this participant that were lost.
    pub loss_in_pct: Option<f64>,
    /// The share (%) of this participant's packets the other side lost.
    pub loss_out_pct: Option<f64>,
    pub at: Timestamp,
}

impl MeasuredCall {
    pub fn of(measure: Option<&CallMeasure>) -> Self {
        Self {
            measured: measure.is_some(),
            started_at: measure.map(|m| m.started_at),
            ended_at: measure.map(|m| m.ended_at),
            connected_minutes: measure.map_or(0, CallMeasure::connected_minutes),
            audio_only_minutes: measure.map_or(0, CallMeasure::audio_only_minutes),
            connected_seconds: measure.map_or(0, |m| m.connected_ms / 1000),
            audio_only_seconds: measure.map_or(0, |m| m.audio_only_ms / 1000),
            mostly_audio_only: measure.is_some_and(CallMeasure::mostly_audio_only),
            relayed: measure.is_some_and(|m| m.relayed),
            quality_summary: measure.map(CallMeasure::summary),
            latest: Vec::new(),
        }
    }
}

/// `GET /visits/{id}/call`: the measured call, audited as a read of the
/// visit's encounter.
#[tracing::instrument(skip_all)]
pub async fn measured_call(
    store: &Store,
    actor: &Actor,
    visit_id: &VisitId,
) -> Result<MeasuredCall, VisitError> {
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, visit_id)
        .await?
        .ok_or(VisitError::NotFound("visit"))?;
    let measure = store::call_measure(&mut tx, visit_id).await?;
    let mut call = MeasuredCall::of(measure.as_ref());
    let mut seen = std::collections::HashSet::new();
    for sample in store::recent_quality_samples(&mut tx, visit_id, 20).await? {
        if seen.insert(sample.participant_id) {
            call.latest.push(LatestGrade {
                role: sample.role,
                grade: sample.grade,
                mode: sample.mode,
                candidate: sample.candidate,
                rtt_ms: sample.rtt_ms,
                loss_in_pct: sample.loss_in_pct,
                loss_out_pct: sample.loss_out_pct,
                at: Timestamp(sample.at),
            });
        }
    }
    let entry = AuditEntry::new(actor, "visit.call.read", "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(call)
}
