//! The record of a call's chat. Before the hub relays a `chat` frame it
//! hands the message to the server's [`ChatRecorder`], one message at a
//! time per room, so the record keeps the order in which the room hears
//! them. The hub only asks; where and how a message is kept is the server's.

use chrono::{DateTime, Utc};
use futures_util::future::{self, BoxFuture};

use crate::authoriser::Identity;
use crate::protocol::{ParticipantId, VisitId};

/// One chat message as the room is about to hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatRecord<'a> {
    pub visit_id: &'a VisitId,
    /// The sender's socket in the room: the frame's `from`.
    pub participant_id: &'a ParticipantId,
    /// Who the server took the sender's token for.
    pub sender: &'a Identity,
    pub text: &'a str,
    /// The frame's `at`, in whole milliseconds.
    pub at: DateTime<Utc>,
}

/// The message could not be kept (the store did not answer). The hub still
/// relays it and tells the sender with `error` code `not_recorded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chat message not recorded")]
pub struct NotRecorded;

/// Keeps each chat message of a call. Object-safe: the hub holds an
/// `Arc<dyn ChatRecorder>`.
pub trait ChatRecorder: Send + Sync + 'static {
    /// Keeps one message; called before the message is relayed.
    fn record<'a>(&'a self, message: ChatRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>>;
}

/// For a server that keeps no chat.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecord;

impl ChatRecorder for NoRecord {
    fn record<'a>(&'a self, _message: ChatRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>> {
        Box::pin(future::ready(Ok(())))
    }
}
