//! The outbound billing webhook: each new claim is POSTed as JSON to
//! `BEDSIDE_BILLING_WEBHOOK_URL`, signed with HMAC-SHA256 under
//! `BEDSIDE_BILLING_WEBHOOK_SECRET` (`X-Bedside-Signature: sha256=<hex>`).
//! Deliveries are rows queued with the claim, so none is lost across a
//! restart; a failed attempt is retried with exponential backoff until the
//! receiver answers 2xx. Receivers deduplicate on `X-Bedside-Delivery`.
//!
//! [`Deliverer`] sends them from its own task, several at once, so a
//! receiver that hangs delays only its own deliveries, never claims.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{BillingError, BillingSettings, BillingWebhook, Claim};
use crate::model::clock::Clock;
use crate::store::{self, DeliveryAttempt, DueDelivery, Store};

/// How long an attempt holds its delivery before another may retry it.
const LEASE_MS: i64 = 60_000;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// The JSON body announcing a new claim.
pub fn payload(claim: &Claim) -> String {
    serde_json::json!({"event": "claim.created", "claim": claim}).to_string()
}

/// `sha256=<hex HMAC-SHA256 of the body>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait after the `attempts`-th failure: 2, 4, 8 … seconds, at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exponent = attempts.clamp(1, 20) as u32;
    (1_000_i64 << exponent).min(MAX_BACKOFF_MS)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Deliveries in flight at once, per node.
pub const MAX_IN_FLIGHT: usize = 48;

/// Makes one attempt at every delivery due at `now`, up to
/// [`MAX_IN_FLIGHT`] at a time; returns how many were acknowledged.
/// Without a webhook configured it does nothing.
#[tracing::instrument(skip_all)]
pub async fn deliver_due(
    store: &Store,
    clock: &Clock,
    config: &BillingSettings,
    client: &reqwest::Client,
    now: i64,
) -> Result<usize, BillingError> {
    let Some(hook) = &config.webhook else {
        return Ok(0);
    };
    let mut delivered = 0;
    let mut attempts = Vec::new();
    loop {
        let batch = record_and_lease(store, &attempts, now, MAX_IN_FLIGHT).await?;
        delivered += attempts.iter().filter(|a| a.acknowledged()).count();
        if batch.is_empty() {
            return Ok(delivered);
        }
        let sends = batch
            .into_iter()
            .map(|due| send(clock, hook, client, due, now));
        attempts = futures_util::future::join_all(sends).await;
    }
}

/// Records finished attempts and leases up to `room` due deliveries for
/// [`LEASE_MS`], in one transaction: a round of deliveries costs one commit
/// (and one wait for a connection), not one for its outcomes and another
/// for what comes next.
async fn record_and_lease(
    store: &Store,
    attempts: &[DeliveryAttempt],
    now: i64,
    room: usize,
) -> Result<Vec<DueDelivery>, BillingError> {
    let mut tx = store.begin().await?;
    store::record_delivery_attempts(&mut tx, attempts).await?;
    let due = if room == 0 {
        Vec::new()
    } else {
        store::lease_due_deliveries(&mut tx, store.backend(), now, now + LEASE_MS, room as i64)
            .await?
    };
    store::commit(tx).await?;
    Ok(due)
}

/// Sends one delivery: delivered, or due again after its backoff.
async fn send(
    clock: &Clock,
    hook: &BillingWebhook,
    client: &reqwest::Client,
    due: DueDelivery,
    now: i64,
) -> DeliveryAttempt {
    let response = client
        .post(hook.url.as_str())
        .header("content-type", "application/json")
        .header("x-bedside-delivery", &due.id)
        .header(
            "x-bedside-signature",
            signature(
                hook.secret.expose_secret().as_bytes(),
                due.payload.as_bytes(),
            ),
        )
        .body(due.payload)
        .send()
        .await;
    let status = response
        .as_ref()
        .ok()
        .map(|r| i64::from(r.status().as_u16()));
    if response.is_ok_and(|r| r.status().is_success()) {
        return DeliveryAttempt {
            id: due.id,
            status,
            delivered_at: Some(clock.now().millis()),
            next_attempt_at: now,
        };
    }
    tracing::info!(
        status,
        attempts = due.attempts + 1,
        "billing webhook not acknowledged"
    );
    DeliveryAttempt {
        id: due.id,
        status,
        delivered_at: None,
        next_attempt_at: now + backoff_ms(due.attempts + 1),
    }
}

/// The delivery loop started by the billing worker when a webhook is set:
/// on every poll, and whenever the worker has made new claims, it fills up
/// to [`MAX_IN_FLIGHT`] attempts, each finishing on its own, so one
/// receiver that never answers holds one slot, not the queue. Attempts that
/// finished by the time the loop looks are recorded together.
#[derive(Debug)]
pub struct Deliverer {
    task: JoinHandle<()>,
}

impl Deliverer {
    pub fn start(
        clock: Clock,
        store: Store,
        config: Arc<BillingSettings>,
        period: Duration,
        mut stopped: watch::Receiver<bool>,
        mut nudged: watch::Receiver<u64>,
    ) -> Option<Self> {
        let hook = config.webhook.clone()?;
        let task = tokio::spawn(async move {
            let client = client();
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut in_flight = JoinSet::new();
            loop {
                let mut attempts: Vec<DeliveryAttempt> = Vec::new();
                // Stop first: after the signal no new attempt starts.
                tokio::select! {
                    biased;
                    _ = stopped.changed() => break,
                    Some(finished) = in_flight.join_next() => {
                        attempts.extend(finished);
                        while let Some(finished) = in_flight.try_join_next() {
                            attempts.extend(finished);
                        }
                    }
                    Ok(()) = nudged.changed() => {}
                    _ = ticker.tick() => {}
                }
                // Free slots are leased together, once half are free: one
                // transaction for several deliveries, not one each.
                let room = if in_flight.len() <= MAX_IN_FLIGHT / 2 {
                    MAX_IN_FLIGHT - in_flight.len()
                } else {
                    0
                };
                if attempts.is_empty() && room == 0 {
                    continue;
                }
                let now = clock.now().millis();
                let leased = match record_and_lease(&store, &attempts, now, room).await {
                    Ok(leased) => leased,
                    Err(error) => {
                        // Their leases run out and they are sent again.
                        tracing::warn!(%error, "billing webhook round failed");
                        continue;
                    }
                };
                for due in leased {
                    let (clock, hook, client) = (clock.clone(), hook.clone(), client.clone());
                    in_flight.spawn(async move { send(&clock, &hook, &client, due, now).await });
                }
            }
            // Attempts cut short keep their lease and are retried once it ends.
            in_flight.abort_all();
        });
        Some(Self { task })
    }

    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(2), 4_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }
}
