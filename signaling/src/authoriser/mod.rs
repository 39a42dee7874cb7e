//! What the server decides for the socket: who a token is, who may enter
//! which room, who may watch which queue. The server implements
//! [`Authoriser`] over its store; this crate only asks.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::protocol::{ErrorCode, QueueId, Role, UserId, VisitId, VisitUpdate};

/// The holder of a token, as the server vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user, or for a patient link the subject the token names.
    pub subject: UserId,
    pub role: Role,
    pub display_name: String,
    /// A patient's (or guest's) token is scoped to one visit.
    pub visit_id: Option<VisitId>,
    /// The credential behind the token (a session, a visit link), opaque
    /// here: [`Hub::end_credential`](crate::Hub::end_credential) closes
    /// every socket it opened.
    pub credential: Option<String>,
    /// When the credential ends, on the authoriser's clock: the socket
    /// closes then.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A request the hub refused without asking the authoriser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused<'a> {
    /// `subscribe` from a socket that is not staff.
    Subscribe(&'a QueueId),
}

/// How a permitted `join` enters the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinAccess {
    /// The visit is admitted: the call room is open.
    Open,
    /// Not admitted yet: the socket hears `visit` frames, and no peers.
    /// The update is sent at once so the patient sees its place.
    Waiting(VisitUpdate),
}

/// A refusal; mapped to an `error` frame (or close 1008 for `hello`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("token not accepted")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("no such visit or queue")]
    NotFound,
    #[error("authoriser unavailable")]
    Unavailable,
}

impl Denied {
    /// The `error` frame code for this refusal.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::NotAuthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::Unavailable => ErrorCode::Unavailable,
        }
    }
}

/// The server's rules for the socket. Object-safe: the hub holds an
/// `Arc<dyn Authoriser>`.
pub trait Authoriser: Send + Sync + 'static {
    /// Checks a staff or patient token from `hello`.
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, Denied>>;

    /// May this identity enter this visit's room, and is the call open?
    fn authorise_join<'a>(
        &'a self,
        who: &'a Identity,
        visit_id: &'a VisitId,
    ) -> BoxFuture<'a, Result<JoinAccess, Denied>>;

    /// May this staff identity watch this queue? `Some(entries)` is sent
    /// at once as a `queue` frame so the watcher starts from the present.
    fn authorise_subscribe<'a>(
        &'a self,
        who: &'a Identity,
        queue_id: &'a QueueId,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, Denied>>;

    /// Told of a request the hub refused by itself, before asking (a
    /// patient or guest asking to watch a queue), so the server can audit
    /// it like the refusals it decides.
    fn refused<'a>(&'a self, _who: &'a Identity, _what: Refused<'a>) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    /// The time credentials' `expires_at` is read against (the server may
    /// keep a clock of its own).
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
