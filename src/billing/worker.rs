//! The billing worker: turns billing-outbox rows into claims. Each row is
//! handled in one transaction that takes the row (locked against other
//! nodes on PostgreSQL), inserts the claim (unique per encounter, so a
//! second attempt can only find it there), marks the row processed and
//! queues the webhook. A crash anywhere before commit leaves the row for
//! the next attempt; nothing is half done.
//!
//! [`Worker::start`] handles waiting rows every
//! `BEDSIDE_BILLING_POLL_SECONDS` from `serve` until shutdown, beside the
//! webhook's own [`webhook::Deliverer`]; tests call [`drain`] or
//! [`process_next`] themselves.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::BillingSettings;
use super::{
    BillingError, Claim, ClaimStatus, build_claim, claim_number, post_charge, record_step, webhook,
};
use crate::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::store::{self, Backend, Store, Tx};

/// What handling one outbox row did.
#[derive(Debug, Clone)]
pub enum Processed {
    /// A new claim.
    Created(Box<Claim>),
    /// The encounter already had its claim; the row is now done.
    AlreadyBilled,
    /// The visit is not closed any more (or gone): nothing to bill.
    Skipped,
}

/// Takes the next outbox row in `tx` and turns it into a claim. `None`
/// when no row is waiting (or all are being handled by other workers).
/// Commit `tx` to make it stick; dropping it undoes everything.
#[tracing::instrument(skip_all)]
pub async fn process_next(
    tx: &mut Tx,
    backend: Backend,
    config: &BillingSettings,
    now: i64,
) -> Result<Option<(String, Processed)>, BillingError> {
    let Some(row) = store::next_outbox(tx, backend).await? else {
        return Ok(None);
    };
    let processed = process_row(tx, config, &row, now).await?;
    store::mark_outbox_processed(tx, &row.id, now).await?;
    Ok(Some((row.id, processed)))
}

async fn process_row(
    tx: &mut Tx,
    config: &BillingSettings,
    row: &store::OutboxRow,
    now: i64,
) -> Result<Processed, BillingError> {
    if store::claim_id_for_encounter(tx, &row.encounter_id)
        .await?
        .is_some()
    {
        return Ok(Processed::AlreadyBilled);
    }
    let Some(facts) = store::claim_facts(tx, &row.visit_id).await? else {
        return Ok(Processed::Skipped);
    };
    let number = claim_number(store::next_counter(tx, "claim_number").await?);
    let claim = build_claim(
        config,
        &facts,
        &row.visit_id,
        &row.encounter_id,
        number,
        now,
    );
    // The unique key on the encounter is the last word on "exactly once".
    if !store::insert_claim(tx, &claim).await? {
        return Ok(Processed::AlreadyBilled);
    }
    if claim.status == ClaimStatus::Ready {
        post_charge(tx, &claim, now).await?;
    }
    let worker = Actor::system(crate::model::timestamp::Timestamp(now));
    record_step(
        tx,
        &worker,
        &claim,
        None,
        claim.review_reason.as_deref(),
        now,
    )
    .await?;
    if config.webhook.is_some() {
        let payload = webhook::payload(&claim);
        store::insert_webhook_delivery(tx, &claim.id, &payload, now).await?;
    }
    let entry = AuditEntry::new(
        &Actor::system(crate::model::timestamp::Timestamp(now)),
        "claim.create",
        "Claim",
    )
    .resource(&claim.id)
    .patient(&claim.patient_id);
    store::append_audit(tx, &entry).await?;
    Ok(Processed::Created(Box::new(claim)))
}

/// Handles one outbox row in its own transaction. On failure the row's
/// attempts are counted and it waits for the next round.
#[tracing::instrument(skip_all)]
pub async fn run_once(
    store: &Store,
    clock: &Clock,
    config: &BillingSettings,
) -> Result<Option<Processed>, BillingError> {
    let mut tx = store.begin().await?;
    let now = clock.now().millis();
    let outcome = match store::next_outbox(&mut tx, store.backend()).await? {
        None => None,
        Some(row) => match process_row(&mut tx, config, &row, now).await {
            Ok(processed) => {
                store::mark_outbox_processed(&mut tx, &row.id, now).await?;
                Some(processed)
            }
            Err(error) => {
                drop(tx);
                let mut tx = store.begin().await?;
                store::bump_outbox_attempts(&mut tx, &row.id).await?;
                store::commit(tx).await?;
                return Err(error);
            }
        },
    };
    store::commit(tx).await?;
    Ok(outcome)
}

/// Handles outbox rows until none is waiting; returns how many.
#[tracing::instrument(skip_all)]
pub async fn drain(
    store: &Store,
    clock: &Clock,
    config: &BillingSettings,
) -> Result<usize, BillingError> {
    let mut handled = 0;
    while run_once(store, clock, config).await?.is_some() {
        handled += 1;
    }
    Ok(handled)
}

/// How long [`Worker::stop`] waits for the row in hand before abandoning
/// it (its transaction then rolls back and the row waits for a next run).
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The background loops started by `serve`: claims, and webhook deliveries.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    claims: JoinHandle<()>,
    deliveries: Option<webhook::Deliverer>,
}

impl Worker {
    /// Starts the loops unless `BEDSIDE_BILLING_POLL_SECONDS` is 0.
    pub fn start(clock: Clock, store: Store, config: Arc<BillingSettings>) -> Option<Self> {
        let period = config.poll_every?;
        let (stop, stopped) = watch::channel(false);
        let deliveries = webhook::Deliverer::start(
            clock.clone(),
            store.clone(),
            config.clone(),
            period,
            stopped.clone(),
        );
        let claims = tokio::spawn(claim_loop(clock, store, config, period, stopped));
        Some(Self {
            stop,
            claims,
            deliveries,
        })
    }

    /// Stops both loops: the claim loop after the row in hand (at most
    /// [`STOP_WITHIN`]), deliveries at once.
    #[tracing::instrument(skip_all)]
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.claims.abort_handle();
        let claims = tokio::time::timeout(STOP_WITHIN, self.claims);
        let deliveries = async {
            if let Some(deliveries) = self.deliveries {
                deliveries.stopped().await;
            }
        };
        let (claims, ()) = tokio::join!(claims, deliveries);
        if claims.is_err() {
            tracing::warn!("the billing worker did not finish its row in time; it will be retried");
            abort.abort();
        }
    }
}

/// Every `period`, turns waiting rows into claims one by one, checking for
/// the stop before each.
async fn claim_loop(
    clock: Clock,
    store: Store,
    config: Arc<BillingSettings>,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Stop first: a due tick must not start a round after the signal.
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            _ = ticker.tick() => {}
        }
        while !*stopped.borrow() {
            match run_once(&store, &clock, &config).await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "billing worker round failed");
                    break;
                }
            }
        }
    }
}
