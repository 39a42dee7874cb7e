//! The record of a call's quality. Before the hub relays a `stats` frame to
//! the others in the call it hands the summary to the server's
//! [`StatsRecorder`]; where the timeline is kept, and how long, is the
//! server's.

use chrono::{DateTime, Utc};
use futures_util::future::{self, BoxFuture};

use crate::authoriser::Identity;
use crate::chat::NotRecorded;
use crate::protocol::quality::StatsSummary;
use crate::protocol::{ParticipantId, VisitId};

/// One participant's summary as the hub received it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsRecord<'a> {
    pub visit_id: &'a VisitId,
    pub participant_id: &'a ParticipantId,
    pub sender: &'a Identity,
    pub stats: &'a StatsSummary,
    pub at: DateTime<Utc>,
}

/// Keeps each call-quality summary. Object-safe: the hub holds an
/// `Arc<dyn StatsRecorder>`.
pub trait StatsRecorder: Send + Sync + 'static {
    /// Keeps one summary; called before it is relayed.
    fn record<'a>(&'a self, stats: StatsRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>>;
}

/// For a server that keeps no call quality.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStats;

impl StatsRecorder for NoStats {
    fn record<'a>(&'a self, _stats: StatsRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>> {
        Box::pin(future::ready(Ok(())))
    }
}
