//! The pre-call check: before a visit, the patient's browser connects to
//! Bedside's own WebRTC peer over the ICE servers its call will use, and
//! the server measures what the connection can do ([`probe`]), judges it
//! ([`verdict`]), stores the result on the visit and sends it back.
//!
//! Signalling is one request: the browser posts an offer that already holds
//! all its candidates and gets an answer that holds all of the server's, so
//! no socket is needed. A semaphore bounds how many checks run at once, and
//! each visit runs one at a time, so one patient cannot take every slot.

pub mod probe;
pub mod verdict;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::transport::RTCDtlsRole;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use utoipa::ToSchema;
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::runtime::TokioRuntime;

pub use self::verdict::Figures;
use crate::audit::Actor;
use crate::auth::Principal;
use crate::live::Live;
use crate::model::clock::Clock;
use crate::model::ids::{PreCallId, VisitId};
pub use crate::model::precall::{PreCallResult, Verdict};
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};
use crate::visits::{self, Visit, VisitStatus};

/// How long the server gathers its own candidates for the answer.
const GATHER_WAIT: Duration = Duration::from_secs(5);
/// How long the browser has to connect and open both channels.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// The most any check may take, from offer to result.
const CHECK_LIMIT: Duration = Duration::from_secs(30);
/// The largest offer taken: a data-channel offer is a few kilobytes.
const MAX_SDP_BYTES: usize = 64 * 1024;

/// How the server's own peer listens.
#[derive(Debug, Clone)]
pub struct PreCallConfig {
    /// `BEDSIDE_PRECALL_MAX`: checks that may run at once.
    pub max_checks: usize,
    /// `BEDSIDE_PRECALL_UDP_ADDRS`: where the server's peer binds (`0.0.0.0:0`
    /// takes every non-loopback interface).
    pub udp_addrs: Vec<String>,
}

/// `POST /visits/{id}/precall`: the browser's offer, with its candidates.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Offer {
    /// Must be `offer`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// The server's answer, with its candidates, and the check's id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Started {
    pub id: PreCallId,
    pub answer: Answer,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Answer {
    /// Always `answer`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sdp: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PreCallError {
    #[error("no such visit")]
    NotFound,
    #[error("only the visit's patient runs its pre-call check")]
    Forbidden,
    #[error("the visit is {0}; a pre-call check comes before the consult")]
    WrongState(&'static str),
    /// The offer's `field` cannot be used.
    #[error("{0} {1}")]
    BadOffer(&'static str, &'static str),
    #[error("too many pre-call checks are running")]
    Busy,
    /// This visit already has a check in flight.
    #[error("a pre-call check is already running for this visit; try again when it finishes")]
    AlreadyRunning,
    #[error("the server's peer failed: {0}")]
    Peer(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs pre-call checks, at most `max_checks` at once.
#[derive(Debug)]
pub struct PreCall {
    permits: Arc<Semaphore>,
    /// Visits with a check in flight.
    running: Arc<Mutex<HashSet<VisitId>>>,
    udp_addrs: Vec<String>,
    stun_urls: Vec<String>,
    store: Store,
    clock: Clock,
    /// Tells the queue's watchers when a patient's network verdict changes.
    live: Live,
}

impl PreCall {
    pub fn new(
        config: &PreCallConfig,
        stun_urls: Vec<String>,
        store: Store,
        clock: Clock,
        live: Live,
    ) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.max_checks)),
            running: Arc::default(),
            udp_addrs: config.udp_addrs.clone(),
            stun_urls,
            store,
            clock,
            live,
        }
    }

    /// Answers the browser's offer and runs the check in the background;
    /// its result is stored on the visit and sent to the browser.
    #[tracing::instrument(skip_all)]
    pub async fn start(
        &self,
        caller: &Principal,
        actor: Actor,
        visit_id: &VisitId,
        offer: Offer,
    ) -> Result<Started, PreCallError> {
        if offer.kind != "offer" {
            return Err(PreCallError::BadOffer("type", "must be offer"));
        }
        if offer.sdp.len() > MAX_SDP_BYTES {
            return Err(PreCallError::BadOffer("sdp", "is larger than 64 KiB"));
        }
        if !offer.sdp.contains("m=application") {
            return Err(PreCallError::BadOffer(
                "sdp",
                "must offer the precall data channels",
            ));
        }
        let visit = self.visit_for(caller, visit_id).await?;
        let permit = self.slot(visit_id)?;
        let started_at = self.clock.now().millis();
        let gathered = verdict::candidate_types(&offer.sdp);
        let (handler, events) = Handler::new();
        let pc = self.connection(handler).await?;
        let answer = match answer(&pc, offer.sdp, events.gathered.clone()).await {
            Ok(answer) => answer,
            Err(error) => {
                let _ = pc.close().await;
                return Err(error);
            }
        };
        let check = Check {
            id: PreCallId::new(),
            visit,
            actor,
            started_at,
            gathered,
            store: self.store.clone(),
            clock: self.clock.clone(),
            live: self.live.clone(),
        };
        let id = check.id.clone();
        tokio::spawn(check.run(pc, events, permit));
        Ok(Started {
            id,
            answer: Answer {
                kind: "answer",
                sdp: answer,
            },
        })
    }

    /// The visit, when `caller` is its patient and it has not begun.
    async fn visit_for(&self, caller: &Principal, id: &VisitId) -> Result<Visit, PreCallError> {
        let mut tx = self.store.begin_read().await?;
        let visit = store::get_visit(&mut tx, id).await?;
        store::commit(tx).await?;
        let visit = visit.ok_or(PreCallError::NotFound)?;
        match caller {
            Principal::Patient { visit_id, .. } if *visit_id == visit.id => {}
            _ => return Err(PreCallError::Forbidden),
        }
        match visit.status {
            VisitStatus::Scheduled | VisitStatus::Waiting => Ok(visit),
            other => Err(PreCallError::WrongState(other.as_str())),
        }
    }

    /// The server's peer: answers as the DTLS server (the browser's
    /// ClientHello then goes out at once), no mDNS socket (a browser that
    /// hides its address shows up as peer-reflexive instead).
    async fn connection(
        &self,
        handler: Arc<Handler>,
    ) -> Result<Arc<dyn PeerConnection>, PreCallError> {
        let peer = |e: webrtc::error::Error| PreCallError::Peer(e.to_string());
        let mut media = MediaEngine::default();
        media.register_default_codecs().map_err(peer)?;
        let registry = register_default_interceptors(Registry::new(), &mut media).map_err(peer)?;
        let settings = SettingEngineBuilder::new()
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(100))
            .build();
        let ice_servers = if self.stun_urls.is_empty() {
            Vec::new()
        } else {
            vec![RTCIceServer {
                urls: self.stun_urls.clone(),
                ..Default::default()
            }]
        };
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .build();
        // The builder's future is large: keep it off the caller's stack.
        let pc = Box::pin(
            PeerConnectionBuilder::new()
                .with_configuration(configuration)
                .with_media_engine(media)
                .with_interceptor_registry(registry)
                .with_setting_engine(settings)
                .with_runtime(Arc::new(TokioRuntime))
                .with_handler(handler)
                .with_udp_addrs(self.udp_addrs.clone())
                .build(),
        )
        .await
        .map_err(peer)?;
        Ok(Arc::new(pc))
    }
}

/// Sets the offer, and returns the answer once the server's candidates are
/// gathered (or the gathering time is up).
async fn answer(
    pc: &Arc<dyn PeerConnection>,
    offer: String,
    mut gathered: watch::Receiver<bool>,
) -> Result<String, PreCallError> {
    let bad = |_| PreCallError::BadOffer("sdp", "is not a usable offer");
    pc.set_remote_description(RTCSessionDescription::offer(offer).map_err(bad)?)
        .await
        .map_err(bad)?;
    let peer = |e: webrtc::error::Error| PreCallError::Peer(e.to_string());
    let answer = pc.create_answer(None).await.map_err(peer)?;
    pc.set_local_description(answer).await.map_err(peer)?;
    let _ = tokio::time::timeout(GATHER_WAIT, gathered.wait_for(|done| *done)).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| PreCallError::Peer("no local description".to_owned()))
}

/// What the connection's callbacks report; they only forward, never wait.
struct Handler {
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
}

struct Events {
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    state: watch::Receiver<RTCPeerConnectionState>,
    gathered: watch::Receiver<bool>,
}

impl Handler {
    fn new() -> (Arc<Self>, Events) {
        let (channels, channels_rx) = mpsc::unbounded_channel();
        let (state, state_rx) = watch::channel(RTCPeerConnectionState::New);
        let (gathered, gathered_rx) = watch::channel(false);
        let handler = Arc::new(Self {
            channels,
            state,
            gathered,
        });
        let events = Events {
            channels: channels_rx,
            state: state_rx,
            gathered: gathered_rx,
        };
        (handler, events)
    }
}

#[async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }
}

impl PreCall {
    /// The visit's one slot, then one of the server's.
    fn slot(&self, visit_id: &VisitId) -> Result<Slot, PreCallError> {
        if !self
            .running
            .lock()
            .expect("pre-call lock")
            .insert(visit_id.clone())
        {
            return Err(PreCallError::AlreadyRunning);
        }
        let visit = VisitSlot {
            visit_id: visit_id.clone(),
            running: Arc::clone(&self.running),
        };
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| PreCallError::Busy)?;
        Ok(Slot {
            _visit: visit,
            _permit: permit,
        })
    }
}

/// The longest a caller waits for a running check to end: its time limit.
pub const RETRY_AFTER: Duration = CHECK_LIMIT;

/// Held while a check runs: the visit's slot and a server-wide permit.
#[derive(Debug)]
struct Slot {
    _visit: VisitSlot,
    _permit: OwnedSemaphorePermit,
}

/// Frees the visit for its next check when dropped.
#[derive(Debug)]
struct VisitSlot {
    visit_id: VisitId,
    running: Arc<Mutex<HashSet<VisitId>>>,
}

impl Drop for VisitSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(&self.visit_id);
        }
    }
}

/// One running check.
struct Check {
    id: PreCallId,
    visit: Visit,
    actor: Actor,
    started_at: i64,
    gathered: Vec<String>,
    store: Store,
    clock: Clock,
    live: Live,
}

impl Check {
    async fn run(self, pc: Arc<dyn PeerConnection>, events: Events, permit: Slot) {
        let outcome = tokio::time::timeout(CHECK_LIMIT, self.measure(&pc, events)).await;
        let (figures, channels) = outcome.unwrap_or_else(|_| {
            let figures = Figures {
                gathered: self.gathered.clone(),
                ..Figures::default()
            };
            (figures, None)
        });
        let result = self.result(figures);
        match self.save(&result).await {
            Ok(()) => self.live.queue_changed(&self.visit.queue_id).await,
            Err(error) => {
                tracing::error!(%error, check = %self.id, "could not store a pre-call check");
            }
        }
        if let Some(channels) = channels {
            let json = serde_json::to_value(&result).unwrap_or_default();
            channels.finish(&json).await;
        }
        let _ = pc.close().await;
        drop(permit);
    }

    /// Waits for the connection and both channels, then measures. Returns
    /// the channels too, when they opened, to send the result on.
    async fn measure(
        &self,
        pc: &Arc<dyn PeerConnection>,
        mut events: Events,
    ) -> (Figures, Option<probe::Channels>) {
        let mut figures = Figures {
            gathered: self.gathered.clone(),
            ..Figures::default()
        };
        let opened = tokio::time::timeout(CONNECT_WAIT, async {
            let connected = events
                .state
                .wait_for(|s| {
                    matches!(
                        s,
                        RTCPeerConnectionState::Connected
                            | RTCPeerConnectionState::Failed
                            | RTCPeerConnectionState::Closed
                    )
                })
                .await
                .is_ok_and(|s| *s == RTCPeerConnectionState::Connected);
            if !connected {
                return None;
            }
            let (mut control, mut probe) = (None, None);
            while control.is_none() || probe.is_none() {
                let channel = events.channels.recv().await?;
                match channel.label().await.ok()?.as_str() {
                    probe::CONTROL => control = Some(channel),
                    probe::PROBE => probe = Some(channel),
                    _ => {}
                }
            }
            Some((control?, probe?))
        })
        .await;
        let Ok(Some((control, probe))) = opened else {
            return (figures, None);
        };
        let mut channels = probe::Channels::new(control, probe);
        figures.measured = channels.measure().await;
        // Asked after the probes, when the pair in use has carried them.
        figures.path = browser_candidate_type(pc).await;
        (figures, Some(channels))
    }

    fn result(&self, figures: Figures) -> PreCallResult {
        let (verdict, advice) = verdict::judge(&figures);
        PreCallResult {
            id: self.id.clone(),
            visit_id: self.visit.id.clone(),
            started_at: Timestamp(self.started_at),
            finished_at: self.clock.now(),
            verdict,
            gathered: figures.gathered,
            path: figures.path,
            rtt_ms: figures.measured.rtt_ms,
            loss_percent: figures.measured.loss_percent,
            upload_kbps: figures.measured.upload_kbps,
            advice: advice.to_owned(),
        }
    }

    async fn save(&self, result: &PreCallResult) -> Result<(), StoreError> {
        let entry = visits::audit(&self.actor, "visit.precall", &self.visit);
        let mut tx = self.store.begin().await?;
        store::insert_precall(&mut tx, result).await?;
        store::append_audit(&mut tx, &entry).await?;
        store::commit(tx).await
    }
}

/// The type of the browser's candidate in the pair the connection chose,
/// as the server's ICE agent knows it (`prflx` for one it learned from the
/// browser's checks rather than its offer).
async fn browser_candidate_type(pc: &Arc<dyn PeerConnection>) -> Option<String> {
    let ice = pc.sctp().await?.transport().ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    Some(pair.remote().typ.to_string())
}

/// The visit's latest finished check, read in one audited transaction;
/// `Ok(None)` when none has finished yet.
#[tracing::instrument(skip_all)]
pub async fn latest(
    store: &Store,
    actor: &Actor,
    visit_id: &VisitId,
) -> Result<Option<PreCallResult>, PreCallError> {
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, visit_id)
        .await?
        .ok_or(PreCallError::NotFound)?;
    let result = store::latest_precall(&mut tx, &visit.id).await?;
    store::append_audit(&mut tx, &visits::audit(actor, "visit.precall.read", &visit)).await?;
    store::commit(tx).await?;
    Ok(result)
}
