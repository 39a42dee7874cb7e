//! The billing webhook's receiving end: Bedside POSTs every new claim to
//! `BEDSIDE_BILLING_WEBHOOK_URL` once its transaction commits, so the
//! moment a claim arrives here is the moment it was ready, with no polling
//! added to the server's load.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

/// One claim as announced.
#[derive(Debug, Clone)]
pub struct Announced {
    pub claim_id: String,
    pub visit_id: String,
    pub status: String,
    pub at: Instant,
}

#[derive(Default)]
struct Seen {
    claims: Vec<Announced>,
    ids: HashSet<String>,
}

/// What arrived, and how many distinct claims so far.
#[derive(Clone)]
pub struct Receiver {
    seen: Arc<Mutex<Seen>>,
    count: Arc<watch::Sender<usize>>,
    /// Bodies that were not a `claim.created` announcement.
    strange: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    /// Listens on `addr` (loopback) until the runtime stops.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("Failed to listen for the billing webhook on {addr}"))?;
        let receiver = Self {
            seen: Arc::default(),
            count: Arc::new(watch::channel(0).0),
            strange: Arc::default(),
        };
        let app = Router::new()
            .fallback(announce)
            .with_state(receiver.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("bedside-loadgen: the webhook receiver stopped: {error}");
            }
        });
        Ok(receiver)
    }

    /// Distinct claims announced so far; changes as they arrive.
    pub fn count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Every distinct claim announced, first arrival of each.
    pub fn announced(&self) -> Vec<Announced> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claims
            .clone()
    }

    pub fn strange(&self) -> usize {
        self.strange.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Takes any POST; a redelivered claim (same id) is acknowledged and not
/// counted again.
async fn announce(State(receiver): State<Receiver>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let claim = parsed
        .as_ref()
        .filter(|v| v["event"] == "claim.created")
        .map(|v| &v["claim"]);
    let fields = claim.and_then(|c| {
        Some((
            c["id"].as_str()?.to_owned(),
            c["visit_id"].as_str()?.to_owned(),
            c["status"].as_str().unwrap_or("unknown").to_owned(),
        ))
    });
    let Some((claim_id, visit_id, status)) = fields else {
        receiver
            .strange
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return StatusCode::OK;
    };
    let mut seen = receiver.seen.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.ids.insert(claim_id.clone()) {
        seen.claims.push(Announced {
            claim_id,
            visit_id,
            status,
            at,
        });
        receiver.count.send_replace(seen.claims.len());
    }
    StatusCode::OK
}
