//! The socket's wire format (CONTRACT.md, "WebSocket GET /ws"): typed ids,
//! the client and server frames, and the stable error codes.
//!
//! Every frame is one JSON text message tagged by `"type"`; a client frame is
//! parsed once, here, into [`ClientMessage`].

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod quality;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id the server or a client gave.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A visit, and so the call room of that visit.
    VisitId
);
string_id!(
    /// A waiting-room queue.
    QueueId
);
string_id!(
    /// A signed-in user or a patient: the subject of a token.
    UserId
);
string_id!(
    /// One socket's presence in one visit room; kept across a resume.
    ParticipantId
);

/// A bearer credential: never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The credential itself, for checking it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Who a socket speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Scheduler,
    Clinician,
    Billing,
    Patient,
    Guest,
}

impl Role {
    /// Staff sign in; patients and guests come from a link.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Self::Admin | Self::Scheduler | Self::Clinician | Self::Billing
        )
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Scheduler => "scheduler",
            Self::Clinician => "clinician",
            Self::Billing => "billing",
            Self::Patient => "patient",
            Self::Guest => "guest",
        }
    }
}

/// A user's availability (`GET /presence`, `presence` frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Available,
    Busy,
    InConsult,
    Away,
    Offline,
}

impl PresenceStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::InConsult => "in_consult",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "available" => Self::Available,
            "busy" => Self::Busy,
            "in_consult" => Self::InConsult,
            "away" => Self::Away,
            "offline" => Self::Offline,
            _ => return None,
        })
    }
}

/// A visit's state, as a waiting patient hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Scheduled,
    Waiting,
    InConsult,
    Closed,
    Cancelled,
    NoShow,
}

/// Why a participant is gone from a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// A `leave` frame or a clean close.
    Left,
    /// The socket dropped and did not resume in time.
    Timeout,
    /// The server closed the socket (flooding, shutdown).
    Removed,
    /// The visit closed.
    RoomClosed,
    /// The node holding the participant's socket stopped answering.
    NodeLost,
}

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello {
        token: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Secret>,
    },
    Join {
        visit_id: VisitId,
    },
    Offer {
        to: ParticipantId,
        sdp: String,
    },
    Answer {
        to: ParticipantId,
        sdp: String,
    },
    Candidate {
        to: ParticipantId,
        /// The browser's `RTCIceCandidateInit`, relayed as sent.
        candidate: serde_json::Map<String, serde_json::Value>,
    },
    Chat {
        text: String,
    },
    Leave,
    Ping,
    Presence {
        status: PresenceStatus,
    },
    Subscribe {
        queue_id: QueueId,
    },
    /// A compact summary of the sender's call quality (see [`quality`]).
    Stats(quality::StatsSummary),
    /// The clinician lets the others in the call share their screen, or not.
    ScreenShare {
        allowed: bool,
    },
}

impl ClientMessage {
    /// The `type` of every client frame, to tell unknown from malformed.
    pub const TYPES: [&'static str; 12] = [
        "hello",
        "join",
        "offer",
        "answer",
        "candidate",
        "chat",
        "leave",
        "ping",
        "presence",
        "subscribe",
        "stats",
        "screen_share",
    ];

    /// Parses one text frame; the error says which code to answer with.
    pub fn parse(text: &str) -> Result<Self, ErrorCode> {
        let message: Self = serde_json::from_str(text).map_err(|_| classify(text))?;
        match &message {
            Self::Stats(summary) if !summary.is_plausible() => Err(ErrorCode::InvalidStats),
            _ => Ok(message),
        }
    }
}

/// Only on the error path: was the `type` known at all?
fn classify(text: &str) -> ErrorCode {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    match serde_json::from_str::<Tag<'_>>(text) {
        Ok(tag) if tag.kind == "stats" => ErrorCode::InvalidStats,
        Ok(tag) if !ClientMessage::TYPES.contains(&tag.kind.as_ref()) => ErrorCode::UnknownType,
        _ => ErrorCode::Malformed,
    }
}

/// A room member as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub display_name: String,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        participant_id: ParticipantId,
        role: Role,
        resume_token: Secret,
    },
    Joined {
        visit_id: VisitId,
        /// The others already in the call.
        participants: Vec<ParticipantInfo>,
    },
    PeerJoined(ParticipantInfo),
    PeerLeft {
        participant_id: ParticipantId,
        reason: LeaveReason,
    },
    Offer {
        from: ParticipantId,
        sdp: String,
    },
    Answer {
        from: ParticipantId,
        sdp: String,
    },
    Candidate {
        from: ParticipantId,
        candidate: serde_json::Map<String, serde_json::Value>,
    },
    Chat {
        from: ParticipantId,
        text: String,
        at: DateTime<Utc>,
    },
    Visit {
        visit_id: VisitId,
        #[serde(flatten)]
        update: VisitUpdate,
    },
    Queue {
        queue_id: QueueId,
        entries: serde_json::Value,
    },
    Presence {
        user_id: UserId,
        status: PresenceStatus,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
    /// Another participant's call-quality summary, as it sent it.
    PeerStats {
        from: ParticipantId,
        #[serde(flatten)]
        stats: quality::StatsSummary,
    },
    /// Whether the clinician lets others in the call share their screen.
    ScreenShare {
        from: ParticipantId,
        allowed: bool,
    },
    /// This node is draining: reconnect (resuming) after `after_ms`,
    /// elsewhere; the node closes this socket soon after.
    Reconnect {
        after_ms: u64,
    },
}

impl ServerMessage {
    /// An `error` frame with the code's fixed message.
    pub fn error(code: ErrorCode) -> Self {
        Self::Error {
            code,
            message: code.message().to_owned(),
        }
    }

    /// The frame as sent on the wire.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, map or enum: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"error"}"#))
    }
}

/// What a patient hears of its visit: status, place and estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitUpdate {
    pub status: VisitStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_wait_seconds: Option<u64>,
}

impl VisitUpdate {
    /// A status with no place or estimate.
    pub fn status(status: VisitStatus) -> Self {
        Self {
            status,
            position: None,
            estimated_wait_seconds: None,
        }
    }
}

/// The stable codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not text, or fields missing or of the wrong kind.
    Malformed,
    /// A `type` the server does not know.
    UnknownType,
    /// The socket's session is gone (resumed on another socket).
    NotAuthenticated,
    /// A second `hello` on the same socket.
    AlreadyAuthenticated,
    /// The role or relation does not allow this.
    Forbidden,
    /// The visit or queue does not exist.
    NotFound,
    /// Relay to someone who is not in the sender's room.
    NotInRoom,
    /// The sender is in no room, or only waiting.
    NotJoined,
    /// Already in a room: leave it first.
    AlreadyJoined,
    /// Too many frames.
    RateLimited,
    /// The resume token is unknown or its window has passed.
    ResumeFailed,
    /// A dependency (store, Redis) did not answer.
    Unavailable,
    /// A chat message was relayed but could not be kept in the visit's record.
    NotRecorded,
    /// A chat message may not have reached those in the call on other
    /// nodes (the bus between nodes is down); send it again later.
    NotDelivered,
    /// A `stats` frame whose fields are missing, unknown or out of range.
    InvalidStats,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::NotAuthenticated => "not_authenticated",
            Self::AlreadyAuthenticated => "already_authenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::NotInRoom => "not_in_room",
            Self::NotJoined => "not_joined",
            Self::AlreadyJoined => "already_joined",
            Self::RateLimited => "rate_limited",
            Self::ResumeFailed => "resume_failed",
            Self::Unavailable => "unavailable",
            Self::NotRecorded => "not_recorded",
            Self::NotDelivered => "not_delivered",
            Self::InvalidStats => "invalid_stats",
        }
    }

    /// A short fixed text: never internal detail.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "frame is not a valid message",
            Self::UnknownType => "unknown message type",
            Self::NotAuthenticated => "not authenticated",
            Self::AlreadyAuthenticated => "already said hello",
            Self::Forbidden => "not allowed",
            Self::NotFound => "no such visit or queue",
            Self::NotInRoom => "recipient is not in your room",
            Self::NotJoined => "join a call room first",
            Self::AlreadyJoined => "already in a room",
            Self::RateLimited => "too many frames",
            Self::ResumeFailed => "session could not be resumed",
            Self::Unavailable => "try again later",
            Self::NotRecorded => "message delivered, but not saved to the visit's record",
            Self::NotDelivered => "message may not have reached everyone in the call",
            Self::InvalidStats => "call statistics are missing a field or out of range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_type_is_told_from_a_malformed_frame() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"dance"}"#),
            Err(ErrorCode::UnknownType)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"join"}"#),
            Err(ErrorCode::Malformed)
        );
        assert_eq!(ClientMessage::parse("not json"), Err(ErrorCode::Malformed));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn a_candidate_must_be_an_object() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"candidate","to":"p","candidate":"x"}"#),
            Err(ErrorCode::Malformed)
        );
        let parsed =
            ClientMessage::parse(r#"{"type":"candidate","to":"p","candidate":{"sdpMid":"0"}}"#);
        assert!(matches!(parsed, Ok(ClientMessage::Candidate { .. })));
    }

    #[test]
    fn server_frames_carry_contract_field_names() {
        let frame = ServerMessage::Visit {
            visit_id: VisitId::new("v1"),
            update: VisitUpdate {
                status: VisitStatus::Waiting,
                position: Some(2),
                estimated_wait_seconds: None,
            },
        };
        assert_eq!(
            frame.to_json(),
            r#"{"type":"visit","visit_id":"v1","status":"waiting","position":2}"#
        );
        let peer = ServerMessage::PeerJoined(ParticipantInfo {
            participant_id: ParticipantId::new("p"),
            role: Role::Patient,
            display_name: "Ann".into(),
        });
        assert_eq!(
            peer.to_json(),
            r#"{"type":"peer_joined","participant_id":"p","role":"patient","display_name":"Ann"}"#
        );
    }
}
