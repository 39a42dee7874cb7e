//! The `stats` frame: a compact summary of one participant's
//! `RTCPeerConnection.getStats()`, sent every few seconds while in a call.
//! The server keeps it in the visit's quality timeline and relays it to the
//! others in the call as `peer_stats`, so each side can tell whose
//! connection is the weak one.
//!
//! `mode` and `limited` are required; a figure may be `null` or left out
//! ("not measured"); unknown fields are refused, and each number must lie in a range a real call can reach;
//! anything else is answered with `error invalid_stats` and never kept.

use serde::{Deserialize, Serialize};

/// Video the sender sends, or receives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoStats {
    /// Frames per second.
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// How the sender's selected ICE candidate pair reaches the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    /// Through a TURN relay.
    Relay,
}

impl CandidateType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Srflx => "srflx",
            Self::Prflx => "prflx",
            Self::Relay => "relay",
        }
    }
}

/// What the sender is sending: video and audio, or audio alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    Video,
    AudioOnly,
}

impl MediaMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::AudioOnly => "audio_only",
        }
    }
}

/// One `stats` frame's body.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSummary {
    /// Round trip of the selected candidate pair, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Jitter of the received audio, in milliseconds.
    pub jitter_ms: Option<f64>,
    /// Packets lost of those sent to us, in percent over the last interval.
    pub loss_in_pct: Option<f64>,
    /// Packets the other side reports lost of ours, in percent.
    pub loss_out_pct: Option<f64>,
    /// Received and sent bitrate over the last interval, kbit/s.
    pub kbps_in: Option<f64>,
    pub kbps_out: Option<f64>,
    /// What video goes out and comes in; `null` when none does.
    pub sent: Option<VideoStats>,
    pub received: Option<VideoStats>,
    /// The local candidate type of the selected pair.
    pub candidate: Option<CandidateType>,
    pub mode: MediaMode,
    /// How long the sender has been in `mode`, in milliseconds by its own
    /// clock: a summary held up on a starved uplink still tells when the
    /// sender went audio-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_ms: Option<u32>,
    /// The sender's video is held back (smaller, slower, or off) for lack
    /// of upload bandwidth.
    pub limited: bool,
}

/// Bounds a real call stays within; a value beyond them is a broken or
/// hostile client, not a measurement.
const MAX_MS: f64 = 60_000.0;
const MAX_KBPS: f64 = 1_000_000.0;
const MAX_FPS: f64 = 240.0;
const MAX_PIXELS: u32 = 8_192;
/// A day: no call stays in one mode longer.
const MAX_MODE_MS: u32 = 86_400_000;

fn within(value: Option<f64>, max: f64) -> bool {
    value.is_none_or(|v| v.is_finite() && (0.0..=max).contains(&v))
}

impl VideoStats {
    fn is_plausible(&self) -> bool {
        within(Some(self.fps), MAX_FPS) && self.width <= MAX_PIXELS && self.height <= MAX_PIXELS
    }
}

impl StatsSummary {
    /// Whether every number lies in its range.
    pub fn is_plausible(&self) -> bool {
        within(self.rtt_ms, MAX_MS)
            && within(self.jitter_ms, MAX_MS)
            && within(self.loss_in_pct, 100.0)
            && within(self.loss_out_pct, 100.0)
            && within(self.kbps_in, MAX_KBPS)
            && within(self.kbps_out, MAX_KBPS)
            && self.sent.as_ref().is_none_or(VideoStats::is_plausible)
            && self.received.as_ref().is_none_or(VideoStats::is_plausible)
            && self.mode_ms.is_none_or(|ms| ms <= MAX_MODE_MS)
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{ClientMessage, ErrorCode};

    const GOOD: &str = r#"{"type":"stats","rtt_ms":40,"jitter_ms":3.5,"loss_in_pct":0,"loss_out_pct":1.2,"kbps_in":900,"kbps_out":850,"sent":{"fps":30,"width":640,"height":480},"received":null,"candidate":"relay","mode":"video","limited":false}"#;

    #[test]
    fn a_complete_summary_parses() {
        let Ok(ClientMessage::Stats(summary)) = ClientMessage::parse(GOOD) else {
            panic!("a good summary parses");
        };
        assert_eq!(summary.sent.map(|v| v.width), Some(640));
        assert_eq!(summary.candidate.map(|c| c.as_str()), Some("relay"));
        assert_eq!(summary.mode_ms, None);
        let held = GOOD.replace(
            r#""mode":"video""#,
            r#""mode":"audio_only","mode_ms":12000"#,
        );
        let Ok(ClientMessage::Stats(summary)) = ClientMessage::parse(&held) else {
            panic!("a summary with how long its mode held parses");
        };
        assert_eq!(summary.mode_ms, Some(12_000));
    }

    #[test]
    fn a_bad_summary_is_invalid_stats_not_malformed() {
        for bad in [
            GOOD.replace(r#""rtt_ms":40"#, r#""rtt_ms":-1"#),
            GOOD.replace(r#""loss_in_pct":0"#, r#""loss_in_pct":101"#),
            GOOD.replace(r#""mode":"video""#, r#""mode":"hologram""#),
            GOOD.replace(r#","limited":false"#, ""),
            GOOD.replace(r#""rtt_ms":40"#, r#""rtt_ms":40,"ssn":"123""#),
            GOOD.replace(r#""fps":30"#, r#""fps":30,"extra":1"#),
            GOOD.replace(r#""width":640"#, r#""width":100000"#),
            GOOD.replace(r#""mode":"video""#, r#""mode":"video","mode_ms":-5"#),
            GOOD.replace(r#""mode":"video""#, r#""mode":"video","mode_ms":90000000"#),
        ] {
            assert_eq!(
                ClientMessage::parse(&bad),
                Err(ErrorCode::InvalidStats),
                "{bad}"
            );
        }
    }
}
