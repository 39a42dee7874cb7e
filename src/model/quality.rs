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
    /// Some participant sent audio alone at the latest summary: the next
    /// interval counts as audio-only.
    pub audio_only_now: bool,
    /// Audio-only time is counted up to here: a late summary that reaches
    /// further back adds only what is not yet counted.
    pub audio_only_through: Timestamp,
    /// Some participant's path went through a TURN relay.
    pub relayed: bool,
    pub good_samples: i64,
    pub fair_samples: i64,
    pub poor_samples: i64,
}

/// What one summary tells the call's measure.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at: Timestamp,
    pub grade: Grade,
    /// Some participant sends audio alone as of this summary.
    pub audio_only_now: bool,
    /// The sender has sent audio alone since then, by its own clock's
    /// account of how long (`mode_ms`).
    pub audio_only_since: Option<Timestamp>,
    pub relayed: bool,
}

/// Whole minutes, rounded up, at least one once connected at all.
fn minutes(ms: i64) -> i64 {
    if ms <= 0 { 0 } else { (ms + 59_999) / 60_000 }
}

impl CallMeasure {
    /// A call whose first summary came at `at`.
    pub fn begin(visit_id: VisitId, at: Timestamp) -> Self {
        Self {
            visit_id,
            started_at: at,
            ended_at: at,
            connected_ms: 0,
            audio_only_ms: 0,
            audio_only_now: false,
            audio_only_through: at,
            relayed: false,
            good_samples: 0,
            fair_samples: 0,
            poor_samples: 0,
        }
    }

    /// Folds in one summary. The time since the previous summary counts as
    /// connected when under `gap_ms`, and as audio-only when the call was
    /// audio-only then. A summary whose sender says how long it has sent
    /// audio alone also counts that stretch: a starved uplink holds up the
    /// sender's own summaries, while the other side's keep the call going.
    pub fn advance(&mut self, reading: &Reading, gap_ms: i64) {
        let (at, last) = (reading.at.millis(), self.ended_at.millis());
        let continuous = at > last && at - last <= gap_ms;
        if continuous {
            self.connected_ms += at - last;
        }
        let from = [
            (continuous && self.audio_only_now).then_some(last),
            reading.audio_only_since.map(Timestamp::millis),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|from| {
            from.max(self.audio_only_through.millis())
                .max(self.started_at.millis())
        });
        if let Some(from) = from.filter(|&from| at > from) {
            self.audio_only_ms += at - from;
            self.audio_only_through = reading.at;
        }
        self.audio_only_ms = self.audio_only_ms.min(self.connected_ms);
        if at > last {
            self.ended_at = reading.at;
        }
        self.audio_only_now = reading.audio_only_now;
        self.relayed |= reading.relayed;
        match reading.grade {
            Grade::Good => self.good_samples += 1,
            Grade::Fair => self.fair_samples += 1,
            Grade::Poor => self.poor_samples += 1,
        }
    }

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
            audio_only_now: false,
            audio_only_through: Timestamp(0),
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

    fn reading(at: i64, audio_only_now: bool, since: Option<i64>) -> Reading {
        Reading {
            at: Timestamp(at),
            grade: Grade::Fair,
            audio_only_now,
            audio_only_since: since.map(Timestamp),
            relayed: false,
        }
    }

    /// Both sides summarise every 2.5 s; the patient's go audio-only at 10 s.
    fn steady_call(until: i64, patient_audio_only_from: i64) -> CallMeasure {
        let mut call = CallMeasure::begin(VisitId::from_trusted("v".into()), Timestamp(0));
        for at in (2_500..=until).step_by(2_500) {
            let audio = at >= patient_audio_only_from;
            let since = audio.then_some(patient_audio_only_from);
            call.advance(&reading(at, audio, since), 20_000);
        }
        call
    }

    #[test]
    fn the_interval_after_an_audio_only_summary_counts_as_audio_only() {
        let call = steady_call(60_000, 10_000);
        assert_eq!(call.connected_ms, 60_000);
        assert_eq!(call.audio_only_ms, 50_000);
        assert_eq!(
            call.good_samples + call.fair_samples + call.poor_samples,
            24
        );
    }

    #[test]
    fn a_late_summary_counts_the_audio_only_time_it_was_held_up_for() {
        // The patient went audio-only at 10 s; its summaries were held up
        // on its starved uplink, and only the clinician's (video) came
        // until the patient's arrived at 40 s saying "audio only for 30 s".
        let mut call = CallMeasure::begin(VisitId::from_trusted("v".into()), Timestamp(0));
        for at in (2_500..=37_500).step_by(2_500) {
            call.advance(&reading(at, false, None), 20_000);
        }
        assert_eq!(call.audio_only_ms, 0);
        call.advance(&reading(40_000, true, Some(10_000)), 20_000);
        assert_eq!(call.audio_only_ms, 30_000);
        // From then on, each interval once: a repeat of the same claim adds
        // only the new stretch.
        call.advance(&reading(42_500, true, Some(10_000)), 20_000);
        call.advance(&reading(45_000, true, None), 20_000);
        assert_eq!(call.audio_only_ms, 35_000);
        assert_eq!(call.connected_ms, 45_000);
    }

    #[test]
    fn audio_only_never_reaches_before_the_call_or_beyond_its_connected_time() {
        let mut call = CallMeasure::begin(VisitId::from_trusted("v".into()), Timestamp(100_000));
        call.advance(&reading(100_000, true, Some(0)), 20_000);
        assert_eq!((call.connected_ms, call.audio_only_ms), (0, 0));
        call.advance(&reading(102_500, true, Some(0)), 20_000);
        assert_eq!((call.connected_ms, call.audio_only_ms), (2_500, 2_500));
        // A gap longer than allowed is not connected time, audio-only or not.
        call.advance(&reading(160_000, true, Some(0)), 20_000);
        assert_eq!((call.connected_ms, call.audio_only_ms), (2_500, 2_500));
    }
}
