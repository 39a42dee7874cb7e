//! The hub's stats recorder: each participant's call-quality summary kept
//! in the visit's timeline and folded into the call's measure.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use signaling::{NotRecorded, StatsRecord, StatsRecorder};

use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::quality;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct StoreStatsRecorder {
    store: Store,
    clock: Clock,
    /// Summaries kept per participant.
    cap: i64,
}

impl StoreStatsRecorder {
    pub fn new(store: Store, clock: Clock, cap: i64) -> Self {
        Self { store, clock, cap }
    }

    async fn keep(&self, record: StatsRecord<'_>) -> Result<(), NotRecorded> {
        let visit_id = VisitId::parse(record.visit_id.as_str()).ok_or(NotRecorded)?;
        let sample = quality::sample(
            visit_id,
            record.participant_id.to_string(),
            record.sender.role.as_str(),
            *record.stats,
            &self.clock,
        );
        quality::record(&self.store, &sample, self.cap)
            .await
            .map_err(|error| {
                tracing::warn!(%error, visit.id = %sample.visit_id, "call quality not recorded");
                NotRecorded
            })
    }
}

impl StatsRecorder for StoreStatsRecorder {
    fn record<'a>(&'a self, stats: StatsRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>> {
        self.keep(stats).boxed()
    }
}
