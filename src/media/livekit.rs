//! LiveKit as the call's media server, when `LIVEKIT_*` is configured: one
//! room per visit, created through LiveKit's RoomService when a participant
//! asks how to connect, and torn down when the visit ends; join tokens that
//! open only that room with only the sources the participant's role needs;
//! and LiveKit's signed webhooks, which record when each participant joined
//! and left against the visit's encounter (deduplicated by event id). A
//! participant's permission can change in the room after it joined: the
//! patient may be let share its screen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livekit_api::access_token::{AccessToken, AccessTokenError, TokenVerifier, VideoGrants};
use livekit_api::services::room::{
    CreateRoomOptions, RemoveParticipantOptions, RoomClient, UpdateParticipantOptions,
};
use livekit_api::services::{ServerError, ServerErrorCode, ServiceError};
use livekit_api::webhooks::{WebhookError, WebhookReceiver};
use livekit_protocol::{ParticipantPermission, TrackSource};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Principal, Role};
use crate::model::ids::VisitId;
use crate::store::{self, CallPresence, CallSide, Store, StoreError};

/// How long a join token admits its holder; LiveKit checks it only when
/// joining, and a rejoin fetches a fresh one.
pub const TOKEN_TTL: Duration = Duration::from_secs(10 * 60);

/// LiveKit closes a visit's room by itself after it stood empty this long.
pub const EMPTY_TIMEOUT_SECONDS: u32 = 5 * 60;

/// The patient, the clinician, and invited guests: more than a
/// peer-to-peer mesh carries (four), which is what LiveKit is for.
pub const MAX_PARTICIPANTS: u32 = 8;

/// How long one RoomService call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The room of a visit.
pub fn room_name(visit: &VisitId) -> String {
    format!("visit-{visit}")
}

/// The visit a room belongs to, when it is one of Bedside's.
pub fn visit_of_room(room: &str) -> Option<VisitId> {
    room.strip_prefix("visit-").and_then(VisitId::parse)
}

/// The LiveKit server and its API key (`LIVEKIT_URL`, `LIVEKIT_API_KEY`,
/// `LIVEKIT_API_SECRET`).
#[derive(Debug, Clone)]
pub struct LiveKitConfig {
    pub url: String,
    pub api_key: String,
    pub api_secret: SecretString,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    /// LiveKit did not answer (refused, unreachable, or too slow): group
    /// video is unavailable for now.
    #[error("LiveKit cannot be reached")]
    Unreachable,
    /// The room, or the participant in it, is not there (LiveKit's
    /// `not_found`).
    #[error("not in the call's room")]
    NotInRoom,
    #[error("LiveKit's room service failed: {0}")]
    Service(ServiceError),
    #[error("could not sign a LiveKit token: {0:?}")]
    Token(#[from] AccessTokenError),
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    /// The signature, its expiry or the body hash did not check out.
    #[error("the webhook's signature does not verify")]
    Unauthorized,
    /// Signed, but not an event Bedside can read.
    #[error("the webhook's body is not an event")]
    Malformed,
}

/// Who joins a visit's room, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParticipant {
    /// LiveKit identity: `patient-<visit id>`, `clinician-<user id>`,
    /// `admin-<user id>` or `guest-<guest id>`. It carries no name and no
    /// health data, and has no `:`, so it also serves as the TURN REST user id.
    pub identity: String,
    /// Shown to the others in the room.
    pub name: String,
    /// Clinicians and admins may share their screen.
    pub may_share_screen: bool,
}

impl CallParticipant {
    /// The visit's patient: one identity per visit, whichever link it came by.
    pub fn patient(visit: &VisitId) -> Self {
        Self {
            identity: format!("patient-{visit}"),
            name: "Patient".to_owned(),
            may_share_screen: false,
        }
    }

    /// The participant a caller of `GET /visits/{id}/media` is in `visit`.
    pub fn for_caller(caller: &Principal, visit: &VisitId) -> Self {
        match caller {
            Principal::Patient { .. } => Self::patient(visit),
            Principal::Guest {
                guest_id,
                display_name,
                ..
            } => Self {
                identity: format!("guest-{guest_id}"),
                name: display_name.clone(),
                may_share_screen: false,
            },
            Principal::Staff(user) => {
                let role = match user.role {
                    Role::Admin => "admin",
                    Role::Clinician => "clinician",
                    Role::Scheduler => "scheduler",
                    Role::Billing => "billing",
                };
                Self {
                    identity: format!("{role}-{}", user.id),
                    name: user.display_name.clone(),
                    may_share_screen: true,
                }
            }
            Principal::App(app) => Self {
                identity: format!("app-{}", app.client_id),
                name: "App".to_owned(),
                may_share_screen: false,
            },
        }
    }

    /// The call side an identity minted by [`CallParticipant::for_caller`] is on.
    pub fn side_of(identity: &str) -> Option<CallSide> {
        if identity.starts_with("patient-") {
            Some(CallSide::Patient)
        } else if identity.starts_with("clinician-") || identity.starts_with("admin-") {
            Some(CallSide::Staff)
        } else {
            None
        }
    }
}

/// The handle on a configured LiveKit: its RoomService client, the webhook
/// verifier and the key that signs join tokens. Shared behind an `Arc`.
pub struct LiveKit {
    rooms: RoomClient,
    webhooks: WebhookReceiver,
    client_url: String,
    api_key: String,
    api_secret: SecretString,
}

impl std::fmt::Debug for LiveKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKit")
            .field("client_url", &self.client_url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl LiveKit {
    pub fn new(config: &LiveKitConfig) -> Self {
        let secret = config.api_secret.expose_secret();
        Self {
            rooms: RoomClient::with_api_key(&config.url, &config.api_key, secret)
                .with_request_timeout(REQUEST_TIMEOUT),
            webhooks: WebhookReceiver::new(TokenVerifier::with_api_key(&config.api_key, secret)),
            client_url: browser_url(&config.url),
            api_key: config.api_key.clone(),
            api_secret: config.api_secret.clone(),
        }
    }

    /// The URL browsers connect to (`ws://` or `wss://`).
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// Creates the visit's room, or finds it already there (LiveKit's
    /// CreateRoom answers an existing room unchanged).
    #[tracing::instrument(skip_all)]
    pub async fn open_room(&self, visit: &VisitId) -> Result<(), LiveKitError> {
        let options = CreateRoomOptions {
            empty_timeout: EMPTY_TIMEOUT_SECONDS,
            max_participants: MAX_PARTICIPANTS,
            ..Default::default()
        };
        self.rooms.create_room(&room_name(visit), options).await?;
        Ok(())
    }

    /// A join token for `participant` that opens only the visit's room,
    /// publishing camera and microphone (and the screen, for staff),
    /// subscribing to the others, and nothing else.
    pub fn join_token(
        &self,
        visit: &VisitId,
        participant: &CallParticipant,
    ) -> Result<String, LiveKitError> {
        let mut sources = vec!["camera".to_owned(), "microphone".to_owned()];
        if participant.may_share_screen {
            sources.push("screen_share".to_owned());
        }
        let grants = VideoGrants {
            room_join: true,
            room: room_name(visit),
            can_publish: Some(true),
            can_subscribe: Some(true),
            // Chat goes over Bedside's socket, not LiveKit's data channel.
            can_publish_data: Some(false),
            can_publish_sources: sources,
            can_update_own_metadata: Some(false),
            ..Default::default()
        };
        Ok(
            AccessToken::with_api_key(&self.api_key, self.api_secret.expose_secret())
                .with_identity(&participant.identity)
                .with_name(&participant.name)
                .with_ttl(TOKEN_TTL)
                .with_grants(grants)
                .to_jwt()?,
        )
    }

    /// Lets `identity` publish its screen in the visit's room, or stops it.
    /// LiveKit replaces the whole permission, so the rest is restated as
    /// [`LiveKit::join_token`] grants it; taking `screen_share` away also
    /// unpublishes a screen being shared.
    #[tracing::instrument(skip_all)]
    pub async fn set_screen_share(
        &self,
        visit: &VisitId,
        identity: &str,
        allowed: bool,
    ) -> Result<(), LiveKitError> {
        let options = UpdateParticipantOptions {
            permission: Some(publish_permission(allowed)),
            ..Default::default()
        };
        match self
            .rooms
            .update_participant(&room_name(visit), identity, options)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if is_not_found(&error) => Err(LiveKitError::NotInRoom),
            Err(error) => Err(error.into()),
        }
    }

    /// Ends the visit's call: removes everyone still in the room, revoking
    /// the join tokens they hold, then deletes the room. A room already gone
    /// is not an error. Every step is tried; the first failure is returned.
    #[tracing::instrument(skip_all)]
    pub async fn close_room(&self, visit: &VisitId) -> Result<(), LiveKitError> {
        let room = room_name(visit);
        let participants = match self.rooms.list_participants(&room).await {
            Ok(participants) => participants,
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let revoke_token_ts = unix_millis();
        let mut first_error = None;
        for participant in participants {
            let options = RemoveParticipantOptions { revoke_token_ts };
            if let Err(error) = self
                .rooms
                .remove_participant_with_options(&room, &participant.identity, options)
                .await
                && !is_not_found(&error)
            {
                first_error.get_or_insert(error);
            }
        }
        if let Err(error) = self.rooms.delete_room(&room).await
            && !is_not_found(&error)
        {
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), |error| Err(error.into()))
    }

    /// Verifies a webhook over its exact body and its raw `Authorization`
    /// value (a `Bearer ` prefix is tolerated), and reads the event.
    pub fn verify_webhook(
        &self,
        body: &[u8],
        authorization: &str,
    ) -> Result<CallEvent, WebhookRejection> {
        let body = std::str::from_utf8(body).map_err(|_| WebhookRejection::Unauthorized)?;
        let token = authorization
            .strip_prefix("Bearer ")
            .unwrap_or(authorization);
        match self.webhooks.receive(body, token) {
            Ok(event) => Ok(CallEvent::from_proto(event)),
            // Verified, but a newer LiveKit may send enum values this
            // livekit-protocol does not know: read the fields Bedside uses.
            Err(WebhookError::InvalidData(_)) => {
                CallEvent::from_json(body).ok_or(WebhookRejection::Malformed)
            }
            Err(error) => {
                tracing::info!(reason = ?error, "refused a LiveKit webhook");
                Err(WebhookRejection::Unauthorized)
            }
        }
    }
}

impl From<ServiceError> for LiveKitError {
    fn from(error: ServiceError) -> Self {
        match error {
            // The request never got an answer: refused, reset, timed out.
            ServiceError::Twirp(ServerError::Request(_)) => Self::Unreachable,
            other => Self::Service(other),
        }
    }
}

/// What a participant may do in the room: publish camera and microphone
/// (and the screen when `screen` is true), subscribe, and nothing else.
fn publish_permission(screen: bool) -> ParticipantPermission {
    let mut sources = vec![TrackSource::Camera as i32, TrackSource::Microphone as i32];
    if screen {
        sources.push(TrackSource::ScreenShare as i32);
    }
    ParticipantPermission {
        can_subscribe: true,
        can_publish: true,
        can_publish_data: false,
        can_publish_sources: sources,
        can_update_metadata: false,
        ..Default::default()
    }
}

fn is_not_found(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Twirp(ServerError::Twirp(code)) if code.code == ServerErrorCode::NOT_FOUND)
}

/// The URL a browser's LiveKit client takes: the configured one, with an
/// `http(s)://` scheme turned into `ws(s)://`.
fn browser_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_owned()
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What Bedside reads from a verified webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// LiveKit's event id, unique per event (retries repeat it).
    pub id: String,
    /// `participant_joined`, `room_finished`, …
    pub event: String,
    pub room: String,
    pub participant_identity: Option<String>,
    pub participant_sid: Option<String>,
    /// Unix seconds; 0 when absent.
    pub created_at: i64,
}

impl CallEvent {
    fn from_proto(event: livekit_protocol::WebhookEvent) -> Self {
        let participant = event.participant.map(|p| (p.identity, p.sid));
        Self {
            id: event.id,
            event: event.event,
            room: event.room.map(|r| r.name).unwrap_or_default(),
            participant_identity: participant.as_ref().map(|p| p.0.clone()),
            participant_sid: participant.map(|p| p.1),
            created_at: event.created_at,
        }
    }

    /// A lenient read of the protobuf-JSON body, for events the typed
    /// decoder refuses.
    fn from_json(body: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let created_at = match &value["createdAt"] {
            serde_json::Value::String(s) => s.parse().ok()?,
            serde_json::Value::Number(n) => n.as_i64()?,
            _ => 0,
        };
        Some(Self {
            id: text(&value["id"]).unwrap_or_default(),
            event: text(&value["event"])?,
            room: text(&value["room"]["name"]).unwrap_or_default(),
            participant_identity: text(&value["participant"]["identity"]),
            participant_sid: text(&value["participant"]["sid"]),
            created_at,
        })
    }
}

/// What a webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Recorded against the visit's encounter.
    Recorded,
    /// Seen before under the same id; nothing changed.
    Duplicate,
    /// Not about a Bedside visit, or nothing Bedside records.
    Ignored,
}

/// Applies a verified webhook: notes its id, then records a participant's
/// join or leave (or, for `room_finished`, closes every open connection)
/// against the encounter of the room's visit; a join the visit's close
/// went before is ended at the close. `now` is Unix milliseconds;
/// `body_digest` stands in for an event without an id.
#[tracing::instrument(skip_all)]
pub async fn apply_webhook(
    store: &Store,
    event: &CallEvent,
    body_digest: &str,
    now: i64,
) -> Result<Applied, StoreError> {
    let Some(visit_id) = visit_of_room(&event.room) else {
        return Ok(Applied::Ignored);
    };
    let at = if event.created_at > 0 {
        event.created_at.saturating_mul(1000)
    } else {
        now
    };
    let id = if event.id.is_empty() {
        body_digest
    } else {
        &event.id
    };
    let mut tx = store.begin().await?;
    if !store::record_livekit_event(&mut tx, id, &event.event, &event.room, now).await? {
        return Ok(Applied::Duplicate);
    }
    // Held until commit, so a close either waits for this event or has
    // ended before it is read: see the join below.
    let Some(visit) = store::lock_visit(&mut tx, store.backend(), &visit_id).await? else {
        store::commit(tx).await?;
        return Ok(Applied::Ignored);
    };
    let presence = match (&event.participant_identity, &event.participant_sid) {
        (Some(identity), Some(sid)) if !sid.is_empty() => {
            CallParticipant::side_of(identity).map(|side| CallPresence {
                participant_sid: sid.clone(),
                identity: identity.clone(),
                side,
                joined_at: None,
                left_at: None,
            })
        }
        _ => None,
    };
    let applied = match (event.event.as_str(), presence) {
        ("participant_joined", Some(presence)) => {
            store::record_call_joined(&mut tx, &visit.encounter_id, &presence, at).await?;
            // The close ended every open connection already: one joining
            // after it (a late delivery) ends there too, not never.
            if let Some(closed_at) = visit.closed_at {
                let left_at = closed_at.millis().max(at);
                store::end_call_presence(&mut tx, &visit.encounter_id, left_at).await?;
            }
            Applied::Recorded
        }
        ("participant_left" | "participant_connection_aborted", Some(presence)) => {
            store::record_call_left(&mut tx, &visit.encounter_id, &presence, at).await?;
            Applied::Recorded
        }
        ("room_finished", _) => {
            store::end_call_presence(&mut tx, &visit.encounter_id, at).await?;
            Applied::Recorded
        }
        _ => Applied::Ignored,
    };
    store::commit(tx).await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_name_leads_back_to_its_visit_only() {
        let visit = VisitId::new();
        assert_eq!(visit_of_room(&room_name(&visit)), Some(visit));
        assert_eq!(visit_of_room("visit-not-a-uuid"), None);
        assert_eq!(visit_of_room("standup"), None);
    }

    #[test]
    fn browsers_get_a_websocket_url() {
        assert_eq!(
            browser_url("https://lk.example.org"),
            "wss://lk.example.org"
        );
        assert_eq!(browser_url("http://127.0.0.1:7880"), "ws://127.0.0.1:7880");
        assert_eq!(browser_url("wss://lk.example.org"), "wss://lk.example.org");
    }

    #[test]
    fn an_event_with_an_unknown_enum_is_still_read() {
        let body = r#"{"event":"participant_joined","id":"EV_1","createdAt":"1700000000",
            "room":{"name":"visit-x"},"participant":{"identity":"patient-x","sid":"PA_1","kind":"SOME_FUTURE_KIND"}}"#;
        let event = CallEvent::from_json(body).expect("readable");
        assert_eq!(event.id, "EV_1");
        assert_eq!(event.created_at, 1_700_000_000);
        assert_eq!(event.participant_sid.as_deref(), Some("PA_1"));
    }

    #[test]
    fn identities_map_to_their_side() {
        assert_eq!(
            CallParticipant::side_of("patient-1"),
            Some(CallSide::Patient)
        );
        assert_eq!(
            CallParticipant::side_of("clinician-1"),
            Some(CallSide::Staff)
        );
        assert_eq!(CallParticipant::side_of("egress-1"), None);
    }
}
