//! What a pre-call check measures, over the two data channels the browser
//! opens: `precall-control` (reliable, ordered) carries commands and the
//! result; `precall-probe` (unordered, no retransmits) carries the probes,
//! so a lost packet stays lost and shows as loss.
//!
//! 1. Round trip and loss: the server sends numbered pings on the probe
//!    channel; the browser echoes each one as it came.
//! 2. Upload: the server asks for `upload`; the browser sends binary chunks
//!    on the probe channel for the time asked, then `upload_done` on the
//!    control channel. The server counts what arrived.
//! 3. The server sends `result` on the control channel; the browser answers
//!    `bye` (or closes).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

pub const CONTROL: &str = "precall-control";
pub const PROBE: &str = "precall-probe";

const PINGS: usize = 50;
const PING_EVERY: Duration = Duration::from_millis(40);
/// How long an echo may come after the last ping and still count.
const STRAGGLERS: Duration = Duration::from_secs(1);
const UPLOAD_MS: u64 = 2_000;
/// The upload ends by this much after it was asked for, whatever the browser does.
const UPLOAD_LIMIT: Duration = Duration::from_secs(5);
/// Probe chunks still in flight when `upload_done` overtakes them.
const UPLOAD_TAIL: Duration = Duration::from_millis(300);
const BYE_WAIT: Duration = Duration::from_secs(2);

/// The figures the data channels gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// The median round trip of the echoed pings.
    pub rtt_ms: Option<f64>,
    /// Pings with no echo, of all sent, in percent.
    pub loss_percent: Option<f64>,
    pub upload_kbps: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
enum Channel {
    Control,
    Probe,
}

/// Both channels' events, in one stream.
pub struct Channels {
    control: Arc<dyn DataChannel>,
    probe: Arc<dyn DataChannel>,
    events: mpsc::Receiver<(Channel, DataChannelEvent)>,
    pumps: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Deserialize)]
struct Message {
    t: String,
    #[serde(default)]
    seq: Option<usize>,
}

impl Channels {
    pub fn new(control: Arc<dyn DataChannel>, probe: Arc<dyn DataChannel>) -> Self {
        let (tx, events) = mpsc::channel(1024);
        let pumps = [(Channel::Control, &control), (Channel::Probe, &probe)]
            .into_iter()
            .map(|(which, channel)| {
                let (channel, tx) = (Arc::clone(channel), tx.clone());
                // Data-channel events are pulled; one pump per channel.
                tokio::spawn(async move {
                    while let Some(event) = channel.poll().await {
                        if tx.send((which, event)).await.is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        Self {
            control,
            probe,
            events,
            pumps,
        }
    }

    /// Runs the pings and the upload. Stops early, with what it has, when
    /// the browser closes a channel.
    #[tracing::instrument(skip_all)]
    pub async fn measure(&mut self) -> Measured {
        let mut measured = Measured::default();
        let Some((rtt_ms, loss_percent)) = self.pings().await else {
            return measured;
        };
        measured.rtt_ms = rtt_ms;
        measured.loss_percent = Some(loss_percent);
        measured.upload_kbps = self.upload().await;
        measured
    }

    /// Median RTT (if any echo came) and loss; `None` when a channel closed.
    async fn pings(&mut self) -> Option<(Option<f64>, f64)> {
        let mut sent_at: Vec<Instant> = Vec::with_capacity(PINGS);
        let mut echoed = [false; PINGS];
        let mut rtts: Vec<f64> = Vec::with_capacity(PINGS);
        let mut ticker = tokio::time::interval(PING_EVERY);
        let mut until: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick(), if sent_at.len() < PINGS => {
                    let ping = json!({"t": "ping", "seq": sent_at.len()}).to_string();
                    sent_at.push(Instant::now());
                    // A full buffer is loss like any other.
                    let _ = self.probe.send_text(&ping).await;
                    if sent_at.len() == PINGS {
                        until = Some(Instant::now() + STRAGGLERS);
                    }
                }
                () = sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => break,
                event = self.events.recv() => match event {
                    Some((Channel::Probe, DataChannelEvent::OnMessage(message))) if message.is_string => {
                        let seq = serde_json::from_slice::<Message>(&message.data)
                            .ok()
                            .filter(|m| m.t == "ping")
                            .and_then(|m| m.seq);
                        if let Some(seq) = seq
                            && seq < sent_at.len()
                            && !echoed[seq]
                        {
                            echoed[seq] = true;
                            rtts.push(sent_at[seq].elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    Some((_, DataChannelEvent::OnClose)) | None => return None,
                    Some(_) => {}
                },
            }
        }
        let lost = PINGS - rtts.len();
        rtts.sort_by(f64::total_cmp);
        let median = (!rtts.is_empty()).then(|| rtts[rtts.len() / 2]);
        let loss = lost as f64 * 100.0 / PINGS as f64;
        Some((median.map(round_tenth), round_tenth(loss)))
    }

    /// Kilobits per second of probe chunks that arrived, first to last.
    async fn upload(&mut self) -> Option<i64> {
        let command = json!({"t": "upload", "ms": UPLOAD_MS}).to_string();
        self.control.send_text(&command).await.ok()?;
        let mut limit = Instant::now() + UPLOAD_LIMIT;
        let mut bytes = 0usize;
        let mut first: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        loop {
            tokio::select! {
                () = sleep_until(limit) => break,
                event = self.events.recv() => match event {
                    Some((Channel::Probe, DataChannelEvent::OnMessage(message))) if !message.is_string => {
                        let now = Instant::now();
                        bytes += message.data.len();
                        first.get_or_insert(now);
                        last = Some(now);
                    }
                    Some((Channel::Control, DataChannelEvent::OnMessage(message))) => {
                        let done = serde_json::from_slice::<Message>(&message.data)
                            .is_ok_and(|m| m.t == "upload_done");
                        if done {
                            limit = limit.min(Instant::now() + UPLOAD_TAIL);
                        }
                    }
                    Some((_, DataChannelEvent::OnClose)) | None => break,
                    Some(_) => {}
                },
            }
        }
        let millis = last?.duration_since(first?).as_millis();
        // Too short a span says nothing about a rate.
        (millis >= 100).then(|| (bytes as u128 * 8 / millis) as i64)
    }

    /// Sends the result and waits briefly for the browser's `bye`.
    #[tracing::instrument(skip_all)]
    pub async fn finish(mut self, result: &serde_json::Value) {
        let message = json!({"t": "result", "result": result}).to_string();
        if self.control.send_text(&message).await.is_ok() {
            let _ = tokio::time::timeout(BYE_WAIT, async {
                while let Some((which, event)) = self.events.recv().await {
                    match (which, event) {
                        (Channel::Control, DataChannelEvent::OnMessage(m))
                            if serde_json::from_slice::<Message>(&m.data)
                                .is_ok_and(|m| m.t == "bye") =>
                        {
                            break;
                        }
                        (_, DataChannelEvent::OnClose) => break,
                        _ => {}
                    }
                }
            })
            .await;
        }
    }
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels").finish_non_exhaustive()
    }
}

impl Drop for Channels {
    fn drop(&mut self) {
        for pump in &self.pumps {
            pump.abort();
        }
    }
}

fn round_tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
