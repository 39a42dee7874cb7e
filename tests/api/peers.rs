//! Real WebRTC peers for call tests: a webrtc-rs connection on 127.0.0.1
//! whose negotiation goes through Bedside's `/ws`, one socket per peer.
//!
//! A [`Socket`] is the signaling client (hello, join, protocol frames). [`Peer`]
//! hands a joined socket to a session task that runs perfect negotiation
//! (the polite peer yields on an offer collision), trickles ICE both ways
//! and buffers remote candidates until the remote description is set. The
//! test then waits on the peer: connected, a data channel, a remote track.
//! Every wait is bounded by [`WAIT`] so a broken path fails instead of hanging.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::Value;
use signaling::protocol::{ClientMessage, ParticipantId, ParticipantInfo, ServerMessage};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSdpType, RTCSessionDescription, Registry, SettingEngineBuilder,
    register_default_interceptors,
};
use webrtc::peer_connection::{RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy};
use webrtc::rtp_transceiver::RtpSender;
use webrtc::runtime::TokioRuntime;

use crate::helpers::{WAIT, within};
use crate::socket::Socket;

/// Where a peer stands in perfect negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manner {
    /// Yields on an offer collision (the patient).
    Polite,
    /// Offers to the first peer it meets and wins collisions (the clinician).
    Impolite,
}

/// What the peer's handler reports, forwarded without work (callbacks run
/// on the connection's driver task).
#[derive(Debug)]
enum Local {
    Candidate(RTCIceCandidateInit),
}

struct Handler {
    local: mpsc::UnboundedSender<Local>,
    state: watch::Sender<RTCPeerConnectionState>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.local.send(Local::Candidate(init));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// The VP8 track an offering peer sends, with its sender.
struct Video {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
}

/// A webrtc-rs peer negotiating through one Bedside socket.
pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    state: watch::Receiver<RTCPeerConnectionState>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    local_channel: Option<Arc<dyn DataChannel>>,
    video: Option<Video>,
    session: Option<JoinHandle<Result<(), String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// What a peer brings to the call besides negotiation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Media {
    /// Open a data channel named `chat` (only the offering peer does).
    pub data_channel: bool,
    /// Send a VP8 video track (only the offering peer does).
    pub video: bool,
}

impl Peer {
    /// Builds the connection and starts negotiating over `socket`, which has
    /// already joined the call room. The impolite peer offers to the first
    /// participant it hears of: the first of `others` (those `joined` listed
    /// as already in the room) or, when there are none, a later `peer_joined`.
    pub async fn start(
        socket: Socket,
        manner: Manner,
        media: Media,
        others: &[ParticipantInfo],
    ) -> Self {
        Self::start_with(socket, manner, media, others, None).await
    }

    /// Like [`Peer::start`], but ICE may use only relay candidates, through
    /// the TURN servers in `ice_servers` (transport policy `relay`).
    pub async fn start_relayed(
        socket: Socket,
        manner: Manner,
        media: Media,
        others: &[ParticipantInfo],
        ice_servers: Vec<RTCIceServer>,
    ) -> Self {
        Self::start_with(socket, manner, media, others, Some(ice_servers)).await
    }

    async fn start_with(
        socket: Socket,
        manner: Manner,
        media: Media,
        others: &[ParticipantInfo],
        relay: Option<Vec<RTCIceServer>>,
    ) -> Self {
        let (local_tx, local_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
        let (channels_tx, channels_rx) = mpsc::unbounded_channel();
        let (tracks_tx, tracks_rx) = mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            local: local_tx,
            state: state_tx,
            channels: channels_tx,
            tracks: tracks_tx,
        });
        let pc = build_connection(handler, relay).await;

        // Tracks and channels go in before the offer so it describes them.
        let video = if media.video {
            Some(add_video(&pc).await)
        } else {
            None
        };
        let local_channel = if media.data_channel {
            Some(
                pc.create_data_channel("chat", None)
                    .await
                    .expect("a data channel"),
            )
        } else {
            None
        };

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let session = Session {
            pc: Arc::clone(&pc),
            socket,
            manner,
            remote: None,
            making_offer: false,
            remote_set: false,
            pending: Vec::new(),
            unsent: Vec::new(),
        };
        let first = others.first().map(|p| p.participant_id.clone());
        let task = tokio::spawn(session.run(first, local_rx, stop_rx));
        Self {
            pc,
            state: state_rx,
            channels: channels_rx,
            tracks: tracks_rx,
            local_channel,
            video,
            session: Some(task),
            stop: Some(stop_tx),
        }
    }

    /// Awaits `future`, failing early if negotiation broke and after [`WAIT`].
    async fn watch<T>(&mut self, what: &str, future: impl Future<Output = T>) -> T {
        let session = self.session.as_mut().expect("the session is running");
        tokio::select! {
            value = tokio::time::timeout(WAIT, future) => {
                value.unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
            }
            ended = session => {
                match ended {
                    Ok(Err(error)) => panic!("negotiation failed while waiting for {what}: {error}"),
                    Ok(Ok(())) => panic!("the socket closed while waiting for {what}"),
                    Err(error) => panic!("the session task died while waiting for {what}: {error}"),
                }
            }
        }
    }

    /// Waits until ICE and DTLS are up.
    pub async fn connected(&mut self) {
        let mut state = self.state.clone();
        self.watch("the peer connection to connect", async move {
            let reached = state
                .wait_for(|s| {
                    matches!(
                        s,
                        RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed
                    )
                })
                .await
                .map(|s| *s)
                .expect("the handler lives as long as the connection");
            assert_eq!(
                reached,
                RTCPeerConnectionState::Connected,
                "the connection failed"
            );
        })
        .await;
    }

    /// This peer's data channel, opened: its own or the remote one.
    pub async fn open_channel(&mut self) -> Channel {
        let dc = match self.local_channel.clone() {
            Some(dc) => dc,
            None => match tokio::time::timeout(WAIT, self.channels.recv()).await {
                Ok(Some(dc)) => dc,
                Ok(None) => panic!("the connection ended before a data channel came"),
                Err(_) => panic!("timed out after {WAIT:?} waiting for a remote data channel"),
            },
        };
        let mut channel = Channel::pump(Arc::clone(&dc), Arc::clone(&self.pc));
        self.watch("the data channel to open", channel.opened())
            .await;
        channel
    }

    /// The first remote track.
    pub async fn remote_track(&mut self) -> Arc<dyn TrackRemote> {
        let tracks = &mut self.tracks;
        match tokio::time::timeout(WAIT, tracks.recv()).await {
            Ok(Some(track)) => track,
            Ok(None) => panic!("the connection ended before a remote track came"),
            Err(_) => panic!("timed out after {WAIT:?} waiting for a remote track"),
        }
    }

    /// Starts sending fake VP8 frames at 30 a second (at most `frames`); the
    /// receiver does not decode, so any bytes do. Returns the SSRC and the
    /// negotiated payload type.
    pub async fn send_video(&self, frames: usize) -> (u32, u8, JoinHandle<()>) {
        let video = self.video.as_ref().expect("this peer sends video");
        let payload_type = video
            .sender
            .get_parameters()
            .await
            .expect("sender parameters")
            .rtp_parameters
            .codecs
            .first()
            .expect("a negotiated codec")
            .payload_type;
        let track = Arc::clone(&video.track);
        let ssrc = video.ssrc;
        let task = tokio::spawn(async move {
            // Pacing the sender, not waiting for anything.
            let mut tick = tokio::time::interval(Duration::from_millis(33));
            for n in 0..frames {
                tick.tick().await;
                let data = Bytes::from(vec![(n % 251) as u8; 2_500]);
                let sample = Sample {
                    data,
                    duration: Duration::from_millis(33),
                    ..Sample::new(Instant::now())
                };
                if track
                    .sample_writer(ssrc, payload_type)
                    .write_sample(&sample)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        (ssrc, payload_type, task)
    }

    /// Stops negotiating and closes the connection (dropping it would leak
    /// its driver and sockets).
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(session) = self.session.take() {
            let _ = within("the session to stop", session).await;
        }
        within("the connection to close", self.pc.close())
            .await
            .expect("the connection closes");
    }
}

/// The peer connection tests use: loopback only, fast ICE checks, no mDNS
/// socket, and DTLS server when answering (see notes/webrtc-rs.md). With
/// `relay`, ICE may use only relay candidates through those TURN servers.
pub async fn build_connection(
    handler: Arc<dyn PeerConnectionEventHandler>,
    relay: Option<Vec<RTCIceServer>>,
) -> Arc<dyn PeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("default codecs");
    let registry =
        register_default_interceptors(Registry::new(), &mut media).expect("default interceptors");
    let settings = SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(Duration::from_millis(10)), Some(140))
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let configuration = match relay {
        Some(ice_servers) => RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
            .build(),
        None => RTCConfigurationBuilder::new().build(),
    };
    // The builder's future is large: keep it off the caller's stack.
    let pc = Box::pin(
        PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_runtime(Arc::new(TokioRuntime))
            .with_handler(handler)
            // A wildcard would skip loopback; tests stay on 127.0.0.1.
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build(),
    )
    .await
    .expect("the peer connection builds");
    Arc::new(pc)
}

async fn add_video(pc: &Arc<dyn PeerConnection>) -> Video {
    let ssrc = rand::random::<u32>();
    let track = Arc::new(
        TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "bedside-test".to_owned(),
                "camera".to_owned(),
                "camera".to_owned(),
                RtpCodecKind::Video,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: RTCRtpCodec {
                        mime_type: MIME_TYPE_VP8.to_owned(),
                        clock_rate: 90_000,
                        ..Default::default()
                    },
                    ..Default::default()
                }],
            ),
        )
        .expect("a VP8 track"),
    );
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .expect("the track is added");
    Video {
        track,
        sender,
        ssrc,
    }
}

/// The negotiation loop of one peer: owns its socket.
struct Session {
    pc: Arc<dyn PeerConnection>,
    socket: Socket,
    manner: Manner,
    /// The participant this peer negotiates with.
    remote: Option<ParticipantId>,
    making_offer: bool,
    /// Whether a remote description has been applied yet.
    remote_set: bool,
    /// Remote candidates held until the remote description is set.
    pending: Vec<RTCIceCandidateInit>,
    /// Local candidates gathered before the remote participant was known.
    unsent: Vec<RTCIceCandidateInit>,
}

impl Session {
    async fn run(
        mut self,
        first: Option<ParticipantId>,
        mut local: mpsc::UnboundedReceiver<Local>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<(), String> {
        if let Some(first) = first {
            self.meet(first).await?;
        }
        // The contract asks for a ping at least every 15 s.
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = ping.tick() => self.socket.send(&ClientMessage::Ping).await,
                Some(Local::Candidate(init)) = local.recv() => self.send_candidate(init).await,
                frame = self.socket.next() => {
                    let Some(frame) = frame else { return Ok(()) };
                    self.on_frame(frame).await?;
                }
            }
        }
    }

    async fn on_frame(&mut self, frame: ServerMessage) -> Result<(), String> {
        match frame {
            ServerMessage::PeerJoined(info) => self.meet(info.participant_id).await,
            ServerMessage::Offer { from, sdp } => {
                self.on_description(from, sdp, RTCSdpType::Offer).await
            }
            ServerMessage::Answer { from, sdp } => {
                self.on_description(from, sdp, RTCSdpType::Answer).await
            }
            ServerMessage::Candidate { from, candidate } => {
                let init: RTCIceCandidateInit =
                    serde_json::from_value(Value::Object(candidate.clone()))
                        .map_err(|e| format!("candidate from {from} {candidate:?}: {e}"))?;
                if self.remote_set {
                    self.pc
                        .add_ice_candidate(init)
                        .await
                        .map_err(|e| format!("add_ice_candidate: {e}"))?;
                } else {
                    self.pending.push(init);
                }
                Ok(())
            }
            ServerMessage::Error { .. } => Err(format!("signaling error frame: {frame:?}")),
            // pong, visit, presence, chat, peer_left: nothing to negotiate.
            _ => Ok(()),
        }
    }

    /// A participant is in the room: the impolite peer offers to it.
    async fn meet(&mut self, participant: ParticipantId) -> Result<(), String> {
        if self.manner != Manner::Impolite || self.remote.is_some() {
            return Ok(());
        }
        self.remote = Some(participant.clone());
        self.making_offer = true;
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| format!("create_offer: {e}"))?;
        self.pc
            .set_local_description(offer.clone())
            .await
            .map_err(|e| format!("set_local_description(offer): {e}"))?;
        self.making_offer = false;
        self.socket
            .send(&ClientMessage::Offer {
                to: participant,
                sdp: offer.sdp,
            })
            .await;
        self.flush_unsent().await;
        Ok(())
    }

    async fn on_description(
        &mut self,
        from: ParticipantId,
        sdp: String,
        kind: RTCSdpType,
    ) -> Result<(), String> {
        if kind == RTCSdpType::Offer {
            let collision =
                self.making_offer || self.pc.pending_local_description().await.is_some();
            if collision && self.manner == Manner::Impolite {
                return Ok(());
            }
            if collision {
                let rollback =
                    RTCSessionDescription::rollback(None).map_err(|e| format!("rollback: {e}"))?;
                self.pc
                    .set_local_description(rollback)
                    .await
                    .map_err(|e| format!("set_local_description(rollback): {e}"))?;
            }
        }
        self.remote = Some(from.clone());
        let description = match kind {
            RTCSdpType::Offer => RTCSessionDescription::offer(sdp),
            _ => RTCSessionDescription::answer(sdp),
        }
        .map_err(|e| format!("parse the {kind}: {e}"))?;
        self.pc
            .set_remote_description(description)
            .await
            .map_err(|e| format!("set_remote_description({kind}): {e}"))?;
        self.remote_set = true;
        for init in std::mem::take(&mut self.pending) {
            self.pc
                .add_ice_candidate(init)
                .await
                .map_err(|e| format!("add_ice_candidate: {e}"))?;
        }
        if kind == RTCSdpType::Offer {
            let answer = self
                .pc
                .create_answer(None)
                .await
                .map_err(|e| format!("create_answer: {e}"))?;
            self.pc
                .set_local_description(answer.clone())
                .await
                .map_err(|e| format!("set_local_description(answer): {e}"))?;
            self.socket
                .send(&ClientMessage::Answer {
                    to: from,
                    sdp: answer.sdp,
                })
                .await;
            self.flush_unsent().await;
        }
        Ok(())
    }

    async fn send_candidate(&mut self, init: RTCIceCandidateInit) {
        match self.remote.clone() {
            Some(to) => {
                let Value::Object(candidate) =
                    serde_json::to_value(&init).expect("a candidate serializes")
                else {
                    panic!("a candidate serializes to an object: {init:?}");
                };
                self.socket
                    .send(&ClientMessage::Candidate { to, candidate })
                    .await;
            }
            None => self.unsent.push(init),
        }
    }

    async fn flush_unsent(&mut self) {
        for init in std::mem::take(&mut self.unsent) {
            self.send_candidate(init).await;
        }
    }
}

/// What a data channel said, pumped off its `poll()` on a task of its own.
#[derive(Debug)]
enum ChannelEvent {
    Open,
    Text(String),
    Closed,
}

/// A data channel with its events on a queue.
pub struct Channel {
    dc: Arc<dyn DataChannel>,
    events: mpsc::UnboundedReceiver<ChannelEvent>,
    pump: JoinHandle<()>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").finish_non_exhaustive()
    }
}

impl Channel {
    fn pump(dc: Arc<dyn DataChannel>, pc: Arc<dyn PeerConnection>) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let pump_dc = Arc::clone(&dc);
        let pump = tokio::spawn(async move {
            let _keep = pc;
            let mut open = matches!(
                pump_dc.ready_state().await,
                Ok(rtc::data_channel::RTCDataChannelState::Open)
            );
            if open {
                let _ = tx.send(ChannelEvent::Open);
            }
            // Until open, nudge the driver: some internal writes otherwise
            // wait for its next timer tick (notes/webrtc-rs.md, pitfall 1).
            let mut kick = tokio::time::interval(Duration::from_millis(5));
            loop {
                tokio::select! {
                    event = pump_dc.poll() => match event {
                        Some(DataChannelEvent::OnOpen) => {
                            if !open {
                                open = true;
                                let _ = tx.send(ChannelEvent::Open);
                            }
                        }
                        Some(DataChannelEvent::OnMessage(message)) => {
                            let text = String::from_utf8_lossy(&message.data).into_owned();
                            let _ = tx.send(ChannelEvent::Text(text));
                        }
                        Some(DataChannelEvent::OnClose) | None => {
                            let _ = tx.send(ChannelEvent::Closed);
                            return;
                        }
                        Some(_) => {}
                    },
                    _ = kick.tick(), if !open => {
                        let _ = pump_dc.set_buffered_amount_low_threshold(0).await;
                    }
                }
            }
        });
        Self { dc, events, pump }
    }

    async fn opened(&mut self) {
        loop {
            match self.events.recv().await {
                Some(ChannelEvent::Open) => return,
                Some(ChannelEvent::Closed) | None => {
                    panic!("the data channel closed before opening")
                }
                Some(ChannelEvent::Text(_)) => {}
            }
        }
    }

    pub async fn send(&self, text: &str) {
        within(
            "the data channel to take a message",
            self.dc.send_text(text),
        )
        .await
        .expect("the data channel sends");
    }

    /// The next text message.
    pub async fn receive(&mut self) -> String {
        within("a data channel message", async {
            loop {
                match self.events.recv().await {
                    Some(ChannelEvent::Text(text)) => return text,
                    Some(ChannelEvent::Closed) | None => {
                        panic!("the data channel closed before a message came")
                    }
                    Some(ChannelEvent::Open) => {}
                }
            }
        })
        .await
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// Counts RTP packets on a remote track until `wanted` arrived; returns the
/// payload types and SSRCs seen.
pub async fn receive_rtp(track: Arc<dyn TrackRemote>, wanted: usize) -> Vec<(u8, u32)> {
    within(&format!("{wanted} RTP packets"), async move {
        let mut seen = Vec::with_capacity(wanted);
        while seen.len() < wanted {
            match track.poll().await {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                    seen.push((packet.header.payload_type, packet.header.ssrc));
                }
                Some(TrackRemoteEvent::OnEnded) | None => {
                    panic!("the track ended after {} packets", seen.len())
                }
                Some(_) => {}
            }
        }
        seen
    })
    .await
}

/// The TURN entries of a Bedside media plan's `ice_servers`, for webrtc-rs
/// (entries without credentials, such as STUN, are left out).
pub fn turn_servers(ice_servers: &Value) -> Vec<RTCIceServer> {
    ice_servers
        .as_array()
        .expect("ice_servers is a list")
        .iter()
        .filter_map(|server| {
            Some(RTCIceServer {
                urls: serde_json::from_value(server["urls"].clone()).ok()?,
                username: server["username"].as_str()?.to_owned(),
                credential: server["credential"].as_str()?.to_owned(),
            })
        })
        .collect()
}

/// Reports local candidates and the end of gathering.
struct Gatherer {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    complete: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gatherer {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.complete.send(true);
        }
    }
}

/// The candidates a relay-only peer gathers through `ice_servers` for an
/// offer, once gathering is complete: a relay candidate for each TURN
/// allocation the server granted, none when it refused them all.
pub async fn gather_relay_candidates(ice_servers: Vec<RTCIceServer>) -> Vec<RTCIceCandidateInit> {
    let (candidates_tx, mut candidates) = mpsc::unbounded_channel();
    let (complete_tx, mut complete) = watch::channel(false);
    let handler = Arc::new(Gatherer {
        candidates: candidates_tx,
        complete: complete_tx,
    });
    let pc = build_connection(handler, Some(ice_servers)).await;
    pc.create_data_channel("probe", None)
        .await
        .expect("a data channel");
    let offer = pc.create_offer(None).await.expect("an offer");
    pc.set_local_description(offer)
        .await
        .expect("the offer is set");
    within("ICE gathering to complete", complete.wait_for(|done| *done))
        .await
        .expect("the handler lives as long as the connection");
    within("the connection to close", pc.close())
        .await
        .expect("the connection closes");
    let mut gathered = Vec::new();
    while let Ok(init) = candidates.try_recv() {
        gathered.push(init);
    }
    gathered
}
