//! A call as measured from its participants' quality summaries: each
//! summary graded, and the call's connected and audio-only time.

use serde::Serialize;
use signaling::protocol::quality::{MediaMode, StatsSummary};
use utoipa::ToSchema;

use super::ids::VisitId;
use super::timestamp::Timestamp;

/// How a moment of the call went, as both indicators and the record say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Good,
    Fair,
    Poor,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Poor => "poor",
        }
    }

    /// The same thresholds as the pages' indicator (`web/lib/quality.js`):
    /// loss, round trip and jitter that make speech break up are poor, and
    /// so is video dropped for lack of bandwidth; video held back, or a
    /// call without video, is at best fair.
    pub fn of(stats: &StatsSummary) -> Self {
        let loss = stats
            .loss_in_pct
            .unwrap_or(0.0)
            .max(stats.loss_out_pct.unwrap_or(0.0));
        let rtt = stats.rtt_ms.unwrap_or(0.0);
        let jitter = stats.jitter_ms.unwrap_or(0.0);
        let audio_only = stats.mode == MediaMode::AudioOnly;
        if loss >= 10.0 || rtt >= 600.0 || jitter >= 100.0 || (stats.limited && audio_only) {
            Self::Poor
        } else if loss >= 3.0 || rtt >= 300.0 || jitter >= 40.0 || stats.limited || audio_only {
            Self::Fair
        } else {
            Self::Good
        }
    }
}

/// One participant's summary as kept in the visit's timeline.
#[derive(Debug, Clone)]
pub struct QualitySample {
    pub visit_id: VisitId,
    pub participant_id: String,
    /// The sender's role on the socket (`patient`, `clinician`, `guest`…).
    pub role: String,
    pub at: Timestamp,
    pub stats: StatsSummary,
    pub grade: Grade,
}

/// The call as its summaries measured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMeasure {
    pub visit_id: VisitId,
    /// The first summary: the call connected.
    pub started_at: Timestamp,
    /// The latest summary.
    pub ended_at: Timestamp,
    pub connected_ms: i64,
    pub audio_only_ms: i64,
    /// Some participant's path went through a TURN relay.
    pub relayed: bool,
    pub good_samples: i64,
    pub fair_samples: i64,
    pub poor_samples: i64,
}

/// Whole minutes, rounded up, at least one once connected at all.
fn minutes(ms: i64) -> i64 {
    if ms <= 0 { 0 } else { (ms + 59_999) / 60_000 }
}

impl CallMeasure {
    pub fn connected_minutes(&self) -> i64 {
        minutes(self.connected_ms)
    }

    pub fn audio_only_minutes(&self) -> i64 {
        minutes(self.audio_only_ms)
    }

    /// More than half of the connected time went without video.
    pub fn mostly_audio_only(&self) -> bool {
        self.connected_ms > 0 && self.audio_only_ms * 2 > self.connected_ms
    }

    /// The share of summaries of each grade, in a line for the record.
    pub fn summary(&self) -> String {
        let total = (self.good_samples + self.fair_samples + self.poor_samples).max(1);
        let pct = |n: i64| (n * 100 + total / 2) / total;
        format!(
            "good {}%, fair {}%, poor {}%{}",
            pct(self.good_samples),
            pct(self.fair_samples),
            pct(self.poor_samples),
            if self.relayed {
                "; relayed through TURN"
            } else {
                ""
            }
        )
    }

    /// Why the claim is video or audio-only, in a sentence on the claim.
    pub fn modality_reason(&self) -> String {
        let (connected, audio) = (self.connected_minutes(), self.audio_only_minutes());
        if self.mostly_audio_only() {
            format!(
                "Audio-only: the call measured {audio} of {connected} connected minutes without video."
            )
        } else {
            format!(
                "Audio and video: the call measured {audio} of {connected} connected minutes without video."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(connected_ms: i64, audio_only_ms: i64) -> CallMeasure {
        CallMeasure {
            visit_id: VisitId::from_trusted("v".into()),
            started_at: Timestamp(0),
            ended_at: Timestamp(connected_ms),
            connected_ms,
            audio_only_ms,
            relayed: false,
            good_samples: 3,
            fair_samples: 1,
            poor_samples: 0,
        }
    }

    #[test]
    fn minutes_round_up_and_audio_only_needs_a_majority() {
        let call = measure(9 * 60_000 + 1, 5 * 60_000);
        assert_eq!(call.connected_minutes(), 10);
        assert_eq!(call.audio_only_minutes(), 5);
        assert!(call.mostly_audio_only());
        assert!(!measure(10 * 60_000, 5 * 60_000).mostly_audio_only());
        assert!(!measure(0, 0).mostly_audio_only());
        assert_eq!(measure(0, 0).connected_minutes(), 0);
        assert_eq!(call.summary(), "good 75%, fair 25%, poor 0%");
    }
}
