//! The sealer: numbers and links the events that changes wrote into
//! `audit_pending` into the hash chain, a batch at a time, a moment after
//! they commit. Readers of the trail seal first, so they see every event of
//! a change that has committed.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{self, Store, StoreError};

/// Events linked in one transaction.
const BATCH: i64 = 500;
/// How soon the sealer looks again after sealing events.
const BUSY_EVERY: Duration = Duration::from_millis(100);
/// How far apart its looks grow while it finds nothing: an idle node
/// leaves the store (and the core it shares with sockets) alone, and the
/// trail's readers seal first anyway.
const IDLE_EVERY: Duration = Duration::from_secs(1);

/// Seals every event waiting now; returns how many. It looks first without
/// a transaction, so a reader of the trail, or the loop with nothing to do,
/// does not take SQLite's write lock from the requests.
#[tracing::instrument(skip_all)]
pub async fn seal(store: &Store) -> Result<usize, StoreError> {
    if !store::audit_pending(store.pool()).await? {
        return Ok(0);
    }
    let mut sealed = 0;
    loop {
        let mut tx = store.begin().await?;
        let batch = store::seal_audit(&mut tx, store.backend(), BATCH).await?;
        store::commit(tx).await?;
        sealed += batch;
        if batch < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(sealed);
        }
    }
}

/// The sealing loop beside the server.
#[derive(Debug)]
pub struct Sealer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sealer {
    pub fn start(store: Store) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut pause = BUSY_EVERY;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => break,
                }
                pause = match seal(&store).await {
                    Ok(0) => (pause * 2).min(IDLE_EVERY),
                    Ok(_) => BUSY_EVERY,
                    Err(error) => {
                        tracing::warn!(%error, "audit events not sealed yet; retrying");
                        BUSY_EVERY
                    }
                };
            }
            // What committed before the stop is sealed now, not by the next start.
            if let Err(error) = seal(&store).await {
                tracing::warn!(%error, "audit events left to seal at the next start");
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
