//! From a pre-call check's figures to a plain verdict and advice for the
//! patient. Thresholds follow what a two-way video consult needs: about
//! 1 Mbit/s up for clear video, 300 kbit/s for a small picture, and a round
//! trip and loss low enough that speech does not break up.

use super::probe::Measured;
use crate::model::precall::Verdict;

/// What the check measured. A figure is `None` when the check did not get
/// far enough to measure it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Candidate types the browser gathered (`host`, `srflx`, `relay`).
    pub gathered: Vec<String>,
    /// The candidate type of the browser's end of the pair in use; `None`
    /// when no connection was made.
    pub path: Option<String>,
    /// What the data channels gave.
    pub measured: Measured,
}

const GOOD_RTT_MS: f64 = 200.0;
const POOR_RTT_MS: f64 = 400.0;
const GOOD_LOSS_PERCENT: f64 = 3.0;
const POOR_LOSS_PERCENT: f64 = 10.0;
const GOOD_UPLOAD_KBPS: i64 = 1_000;
const POOR_UPLOAD_KBPS: i64 = 300;

/// The verdict for a check's figures, and what to tell the patient.
pub fn judge(figures: &Figures) -> (Verdict, &'static str) {
    if figures.path.is_none() {
        return (
            Verdict::Failed,
            "Your network did not let the video connection through. Try another network, \
             such as home Wi-Fi instead of a work or public one, or turn off a VPN, then check again.",
        );
    }
    let measured = &figures.measured;
    let rtt = measured.rtt_ms.unwrap_or(f64::INFINITY);
    let loss = measured.loss_percent.unwrap_or(100.0);
    let upload = measured.upload_kbps.unwrap_or(0);
    if rtt > POOR_RTT_MS || loss > POOR_LOSS_PERCENT || upload < POOR_UPLOAD_KBPS {
        return (
            Verdict::Poor,
            "Your connection is weak: video may freeze. Move closer to your Wi-Fi router and close \
             other apps that use the internet; the clinician can continue by audio if needed.",
        );
    }
    if rtt > GOOD_RTT_MS || loss > GOOD_LOSS_PERCENT || upload < GOOD_UPLOAD_KBPS {
        return (
            Verdict::Fair,
            "Your connection should carry the visit, though the picture may be less sharp. \
             Closing other apps that use the internet can help.",
        );
    }
    (Verdict::Good, "Your connection is ready for a video visit.")
}

/// The candidate types offered in an SDP (`a=candidate:… typ host …`),
/// each once, in the order first seen.
pub fn candidate_types(sdp: &str) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for line in sdp.lines() {
        let Some(candidate) = line.trim().strip_prefix("a=candidate:") else {
            continue;
        };
        let mut words = candidate.split_whitespace();
        let kind = words
            .by_ref()
            .skip_while(|w| *w != "typ")
            .nth(1)
            .filter(|k| ["host", "srflx", "prflx", "relay"].contains(k));
        if let Some(kind) = kind
            && !types.iter().any(|t| t == kind)
        {
            types.push(kind.to_owned());
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(rtt_ms: f64, loss_percent: f64, upload_kbps: i64) -> Figures {
        Figures {
            gathered: vec!["host".to_owned()],
            path: Some("host".to_owned()),
            measured: Measured {
                rtt_ms: Some(rtt_ms),
                loss_percent: Some(loss_percent),
                upload_kbps: Some(upload_kbps),
            },
        }
    }

    #[test]
    fn no_connection_fails_with_advice_to_change_network() {
        let (verdict, advice) = judge(&Figures::default());
        assert_eq!(verdict, Verdict::Failed);
        assert!(advice.contains("another network"));
    }

    #[test]
    fn each_figure_moves_the_verdict_at_its_edge() {
        assert_eq!(judge(&connected(200.0, 3.0, 1_000)).0, Verdict::Good);
        assert_eq!(judge(&connected(200.1, 0.0, 5_000)).0, Verdict::Fair);
        assert_eq!(judge(&connected(20.0, 3.1, 5_000)).0, Verdict::Fair);
        assert_eq!(judge(&connected(20.0, 0.0, 999)).0, Verdict::Fair);
        assert_eq!(judge(&connected(400.0, 10.0, 300)).0, Verdict::Fair);
        assert_eq!(judge(&connected(400.1, 0.0, 5_000)).0, Verdict::Poor);
        assert_eq!(judge(&connected(20.0, 10.1, 5_000)).0, Verdict::Poor);
        assert_eq!(judge(&connected(20.0, 0.0, 299)).0, Verdict::Poor);
    }

    #[test]
    fn a_connection_whose_figures_are_missing_is_poor() {
        let figures = Figures {
            path: Some("relay".to_owned()),
            ..Figures::default()
        };
        assert_eq!(judge(&figures).0, Verdict::Poor);
    }

    #[test]
    fn candidate_types_are_read_from_the_offer() {
        let sdp = "v=0\r\n\
            a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0\r\n\
            a=candidate:2 1 udp 2122260223 192.0.2.2 50001 typ host generation 0\r\n\
            a=candidate:3 1 udp 1686052607 198.51.100.7 50002 typ srflx raddr 192.0.2.2 rport 50000\r\n\
            a=candidate:4 1 udp 41885439 203.0.113.9 60000 typ relay raddr 198.51.100.7 rport 50002\r\n\
            a=candidate:5 1 udp 1 203.0.113.9 60000 typ nonsense\r\n";
        assert_eq!(candidate_types(sdp), ["host", "srflx", "relay"]);
        assert!(candidate_types("v=0\r\n").is_empty());
    }
}
