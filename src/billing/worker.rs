//! The billing worker: turns billing-outbox rows into claims. Rows are
//! handled in batches, each in one transaction that takes its rows (locked
//! against other workers and nodes on PostgreSQL), inserts each claim
//! (unique per encounter, so a second attempt can only find it there),
//! marks the rows processed, queues the webhooks and audits the batch with
//! one append to the chain. A crash anywhere before commit leaves the rows
//! for the next attempt; nothing is half done. A batch that fails is
//! handled again row by row, so only the failing row is counted against.
//!
//! [`Worker::start`] runs `BEDSIDE_BILLING_WORKERS` loops from `serve`
//! until shutdown, beside the webhook's own [`webhook::Deliverer`]. Each
//! wakes when this node closes a consult ([`Nudge`]) and otherwise every
//! `BEDSIDE_BILLING_POLL_SECONDS` (for other nodes' closes and retries);
//! tests call [`drain`], [`run_once`] or [`process_next`] themselves.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::BillingSettings;
use super::{
    BillingError, Claim, ClaimStatus, build_claim, claim_number, post_charges, record_creations,
    webhook,
};
use crate::audit::{Actor, AuditEntry};
use crate::model::claim::ClaimId;
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Backend, Store, Tx};

/// Outbox rows one transaction takes at most.
pub const BATCH: i64 = 64;

/// Wakes the billing workers: a consult closed on this node, so its claim
/// need not wait for the next poll. Cheap to clone; a nudge while every
/// worker is busy is not lost (each sees that something changed).
#[derive(Debug, Clone)]
pub struct Nudge(Arc<watch::Sender<u64>>);

impl Default for Nudge {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Nudge {
    pub fn nudge(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

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
    let mut audits = Vec::new();
    let processed = process_row(tx, config, &row, now, &mut audits).await?;
    store::mark_outbox_processed(tx, &row.id, now).await?;
    store::append_audits(tx, &audits).await?;
    Ok(Some((row.id, processed)))
}

/// Turns one row into its claim; the claim's audit entry is added to
/// `audits` for the caller to append last.
async fn process_row(
    tx: &mut Tx,
    config: &BillingSettings,
    row: &store::OutboxRow,
    now: i64,
    audits: &mut Vec<AuditEntry>,
) -> Result<Processed, BillingError> {
    let mut processed = process_rows(tx, config, std::slice::from_ref(row), now, audits).await?;
    Ok(processed.pop().unwrap_or(Processed::Skipped))
}

/// Turns rows into their claims, in order, writing each kind of record
/// for the whole batch with one statement; the claims' audit entries are
/// added to `audits` for the caller to append last.
async fn process_rows(
    tx: &mut Tx,
    config: &BillingSettings,
    rows: &[store::OutboxRow],
    now: i64,
    audits: &mut Vec<AuditEntry>,
) -> Result<Vec<Processed>, BillingError> {
    // Each row's outcome, `None` for a claim made from it (in `claims`).
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut claims = Vec::with_capacity(rows.len());
    let visits: Vec<VisitId> = rows.iter().map(|row| row.visit_id.clone()).collect();
    let found = store::claims_facts(tx, &visits).await?;
    let to_bill = found
        .iter()
        .filter(|found| matches!(found, store::ToBill::Facts(_)))
        .count();
    let mut numbers = store::take_numbers(tx, store::Counter::ClaimNumber, to_bill)
        .await?
        .into_iter();
    for (row, found) in rows.iter().zip(found) {
        match found {
            store::ToBill::Facts(facts) => {
                let number = claim_number(numbers.next().ok_or(store::StoreError::Corrupt(
                    "fewer claim numbers than claims",
                ))?);
                let claim = build_claim(
                    config,
                    &facts,
                    &row.visit_id,
                    &row.encounter_id,
                    number,
                    now,
                );
                claims.push(claim);
                outcomes.push(None);
            }
            store::ToBill::AlreadyBilled => outcomes.push(Some(Processed::AlreadyBilled)),
            store::ToBill::NotClosed => outcomes.push(Some(Processed::Skipped)),
        }
    }
    // The unique key on the encounter is the last word on "exactly once".
    let inserted: HashSet<ClaimId> = store::insert_claims(tx, &claims)
        .await?
        .into_iter()
        .collect();
    let created: Vec<&Claim> = claims
        .iter()
        .filter(|claim| inserted.contains(&claim.id))
        .collect();
    let ready: Vec<&Claim> = created
        .iter()
        .copied()
        .filter(|claim| claim.status == ClaimStatus::Ready)
        .collect();
    post_charges(tx, &ready, now).await?;
    let worker = Actor::system(Timestamp(now));
    record_creations(tx, &worker, &created, now).await?;
    if config.webhook.is_some() {
        let deliveries: Vec<(&ClaimId, String)> = created
            .iter()
            .map(|claim| (&claim.id, webhook::payload(claim)))
            .collect();
        store::insert_webhook_deliveries(tx, &deliveries, now).await?;
    }
    audits.extend(created.iter().map(|claim| {
        AuditEntry::new(&worker, "claim.create", "Claim")
            .resource(&claim.id)
            .patient(&claim.patient_id)
    }));
    let mut claims = claims.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| match claims.next() {
                Some(claim) if inserted.contains(&claim.id) => Processed::Created(Box::new(claim)),
                _ => Processed::AlreadyBilled,
            })
        })
        .collect())
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
        Some(row) => {
            let mut audits = Vec::new();
            match process_row(&mut tx, config, &row, now, &mut audits).await {
                Ok(processed) => {
                    store::mark_outbox_processed(&mut tx, &row.id, now).await?;
                    store::append_audits(&mut tx, &audits).await?;
                    Some(processed)
                }
                Err(error) => {
                    drop(tx);
                    let mut tx = store.begin().await?;
                    store::bump_outbox_attempts(&mut tx, &row.id).await?;
                    store::commit(tx).await?;
                    return Err(error);
                }
            }
        }
    };
    store::commit(tx).await?;
    Ok(outcome)
}

/// Handles up to `limit` outbox rows in one transaction; returns how many.
/// When any row fails, the batch is undone and its rows are handled one by
/// one with [`run_once`], which counts the failure against its row alone.
#[tracing::instrument(skip_all)]
pub async fn run_batch(
    store: &Store,
    clock: &Clock,
    config: &BillingSettings,
    limit: i64,
) -> Result<usize, BillingError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let rows = store::next_outboxes(&mut tx, store.backend(), limit).await?;
    if rows.is_empty() {
        store::commit(tx).await?;
        return Ok(0);
    }
    let mut audits = Vec::with_capacity(rows.len());
    let mut handled = process_rows(&mut tx, config, &rows, now, &mut audits)
        .await
        .map(drop);
    if handled.is_ok() {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        handled = store::mark_outboxes_processed(&mut tx, &ids, now)
            .await
            .map_err(BillingError::from);
    }
    if let Err(error) = handled {
        drop(tx);
        tracing::warn!(%error, rows = rows.len(), "a billing batch failed; handling its rows one by one");
        let mut done = 0;
        for _ in &rows {
            if run_once(store, clock, config).await?.is_none() {
                break;
            }
            done += 1;
        }
        return Ok(done);
    }
    store::append_audits(&mut tx, &audits).await?;
    store::commit(tx).await?;
    Ok(rows.len())
}

/// Handles outbox rows until none is waiting; returns how many.
#[tracing::instrument(skip_all)]
pub async fn drain(
    store: &Store,
    clock: &Clock,
    config: &BillingSettings,
) -> Result<usize, BillingError> {
    let mut handled = 0;
    loop {
        match run_batch(store, clock, config, BATCH).await? {
            0 => return Ok(handled),
            n => handled += n,
        }
    }
}

/// How long [`Worker::stop`] waits for the row in hand before abandoning
/// it (its transaction then rolls back and the row waits for a next run).
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The background loops started by `serve`: claims, and webhook deliveries.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    claims: Vec<JoinHandle<()>>,
    deliveries: Option<webhook::Deliverer>,
}

impl Worker {
    /// Starts the loops unless `BEDSIDE_BILLING_POLL_SECONDS` is 0; each
    /// claim loop also wakes on `nudge`.
    pub fn start(
        clock: Clock,
        store: Store,
        config: Arc<BillingSettings>,
        nudge: &Nudge,
    ) -> Option<Self> {
        let period = config.poll_every?;
        let (stop, stopped) = watch::channel(false);
        // New claims wake the deliveries, as closes wake the claim loops.
        let delivery_nudge = Nudge::default();
        let deliveries = webhook::Deliverer::start(
            clock.clone(),
            store.clone(),
            config.clone(),
            period,
            stopped.clone(),
            delivery_nudge.subscribe(),
        );
        let claims = (0..config.workers.max(1))
            .map(|_| {
                tokio::spawn(claim_loop(
                    Loop {
                        clock: clock.clone(),
                        store: store.clone(),
                        config: config.clone(),
                        period,
                        delivery_nudge: delivery_nudge.clone(),
                    },
                    stopped.clone(),
                    nudge.subscribe(),
                ))
            })
            .collect();
        Some(Self {
            stop,
            claims,
            deliveries,
        })
    }

    /// Stops every loop: the claim loops after the batch in hand (at most
    /// [`STOP_WITHIN`]), deliveries at once.
    #[tracing::instrument(skip_all)]
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self.claims.iter().map(JoinHandle::abort_handle).collect();
        let claims = tokio::time::timeout(STOP_WITHIN, futures_util::future::join_all(self.claims));
        let deliveries = async {
            if let Some(deliveries) = self.deliveries {
                deliveries.stopped().await;
            }
        };
        let (claims, ()) = tokio::join!(claims, deliveries);
        if claims.is_err() {
            tracing::warn!(
                "the billing worker did not finish its rows in time; they will be retried"
            );
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

/// What one claim loop works with.
struct Loop {
    clock: Clock,
    store: Store,
    config: Arc<BillingSettings>,
    period: Duration,
    delivery_nudge: Nudge,
}

/// On every nudge and every `period`, turns waiting rows into claims batch
/// by batch, checking for the stop before each.
async fn claim_loop(
    work: Loop,
    mut stopped: watch::Receiver<bool>,
    mut nudged: watch::Receiver<u64>,
) {
    let mut ticker = tokio::time::interval(work.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Stop first: a due tick must not start a round after the signal.
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            Ok(()) = nudged.changed() => {}
            _ = ticker.tick() => {}
        }
        while !*stopped.borrow() {
            match run_batch(&work.store, &work.clock, &work.config, BATCH).await {
                Ok(0) => break,
                Ok(_) => work.delivery_nudge.nudge(),
                Err(error) => {
                    tracing::warn!(error = %error, "billing worker round failed");
                    break;
                }
            }
        }
    }
}
