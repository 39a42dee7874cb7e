//! The state every handler shares: cheap handles only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::{JoinLinks, LoginThrottle, PasswordPool, SessionSettings, TokenKeys};
use crate::billing::BillingSettings;
use crate::billing::worker::Nudge;
use crate::cdss::Knowledge;
use crate::config::Config;
use crate::live::Live;
use crate::media::IceSettings;
use crate::media::livekit::LiveKit;
use crate::media::precall::PreCall;
use crate::metrics::Metrics;
use crate::model::clock::Clock;
use crate::outbox::OutboxSettings;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct AppState {
    /// The one clock the app reads; tests move it.
    pub clock: Clock,
    /// STUN and TURN for calls.
    pub ice: Arc<IceSettings>,
    /// What billing needs of the configuration.
    pub billing: Arc<BillingSettings>,
    /// Wakes this node's billing workers when a consult closes.
    pub billing_nudge: Nudge,
    /// Messages to patients: transports, reminders, the worker's pace.
    pub outbox: Arc<OutboxSettings>,
    /// How long staff sign-ins last.
    pub sessions: SessionSettings,
    pub config: Arc<Config>,
    pub store: Store,
    pub tokens: TokenKeys,
    /// Makes patients' join links.
    pub join_links: JoinLinks,
    pub throttle: Arc<LoginThrottle>,
    /// The bounded threads that check sign-in passwords.
    pub hashing: Arc<PasswordPool>,
    pub metrics: Arc<Metrics>,
    /// Signaling and live updates.
    pub live: Live,
    /// The decision-support knowledge base.
    pub knowledge: Arc<Knowledge>,
    /// LiveKit's room service and webhook verifier, when `LIVEKIT_*` is set.
    pub livekit: Option<Arc<LiveKit>>,
    /// The pre-call check's own WebRTC peer, with its concurrency limit.
    pub precall: Arc<PreCall>,
    /// The public booking page's throttle.
    pub booking: Arc<crate::schedule::booking::SelfBooking>,
    /// Set on SIGTERM: the node refuses new requests and sockets.
    pub draining: Draining,
    /// The key that signs SMART `id_token`s, loaded once.
    pub smart_keys: crate::smart::keys::Keys,
}

/// Whether this node is draining for a restart. Shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
