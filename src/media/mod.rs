//! Media for a visit's call: how its participants' browsers reach each
//! other. Today that is peer-to-peer WebRTC with the configured STUN
//! servers, plus short-lived TURN credentials when a relay is configured
//! ([`turn`]), or a LiveKit room when LiveKit is configured ([`livekit`]),
//! where the clinician may let the patient share its screen
//! ([`screen_share`]).

pub mod livekit;
pub mod precall;
pub mod screen_share;
pub mod turn;

use serde::Serialize;
use utoipa::ToSchema;

use self::livekit::{CallParticipant, LiveKit, LiveKitError};
use self::turn::TurnConfig;
use crate::audit::{Actor, AuditEntry};
use crate::auth::{Principal, Role};
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::store::{self, Store, StoreError};
use crate::visits;
use crate::visits::guests::GuestStatus;

/// How the call's media flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Browser to browser, signalled over `/ws`.
    P2p,
    /// Through the visit's LiveKit room.
    Livekit,
}

/// One entry of the browser's `RTCConfiguration.iceServers`.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A TURN credential is a secret while it lasts: never shown in Debug.
impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `GET /visits/{id}/media`: what a participant's browser needs to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MediaPlan {
    pub mode: MediaMode,
    pub ice_servers: Vec<IceServer>,
    /// Present in `livekit` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub livekit: Option<LiveKitJoin>,
}

/// Where and with what a browser joins the visit's LiveKit room.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveKitJoin {
    pub url: String,
    /// A join token for this participant and this visit's room only.
    pub token: String,
}

impl std::fmt::Debug for LiveKitJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKitJoin")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such visit")]
    NotFound,
    #[error("not a participant of this visit")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    LiveKit(#[from] LiveKitError),
}

/// The ICE servers a call is offered: STUN for everyone, TURN credentials
/// made per participant when a relay is configured.
#[derive(Debug, Clone, Default)]
pub struct IceSettings {
    pub stun_urls: Vec<String>,
    pub turn: Option<TurnConfig>,
}

/// The plan for one visit, for one of its participants: its patient, the
/// clinician it is assigned to or admitted by, or a guest let in. No other
/// role, admins included, receives a visit's media credentials. With
/// LiveKit, the visit's room is created (or found) and a join token minted.
/// Each grant is audited (`media.grant`).
#[tracing::instrument(skip_all)]
pub async fn plan_for(
    store: &Store,
    clock: &Clock,
    config: &IceSettings,
    livekit: Option<&LiveKit>,
    caller: &Principal,
    actor: &Actor,
    id: &VisitId,
) -> Result<MediaPlan, MediaError> {
    let mut tx = store.begin_read().await?;
    let visit = store::get_visit(&mut tx, id).await?;
    // A guest sets up its call once the clinician has let it in.
    let guest = match caller {
        Principal::Guest { guest_id, .. } => store::get_guest(&mut tx, guest_id).await?,
        _ => None,
    };
    store::commit(tx).await?;
    let visit = visit.ok_or(MediaError::NotFound)?;
    let allowed = match caller {
        Principal::Patient { visit_id, .. } => *visit_id == visit.id,
        Principal::Guest { .. } => {
            guest.is_some_and(|g| g.visit_id == visit.id && g.status == GuestStatus::Admitted)
        }
        Principal::Staff(user) => match user.role {
            Role::Clinician => visits::is_visit_clinician(&visit, &user.id),
            Role::Admin | Role::Scheduler | Role::Billing => false,
        },
        Principal::App(_) => false,
    };
    if !allowed {
        return Err(MediaError::Forbidden);
    }
    if visit.status.has_ended() {
        // An ended visit has no call to set up.
        return Err(MediaError::Forbidden);
    }
    let participant = CallParticipant::for_caller(caller, &visit.id);
    let mut plan = p2p_plan(config);
    if let Some(relay) = &config.turn {
        let now = clock.now().millis() / 1000;
        plan.ice_servers
            .push(turn::ice_server(relay, &participant.identity, now));
    }
    if let Some(livekit) = livekit {
        livekit.open_room(&visit.id).await?;
        plan.mode = MediaMode::Livekit;
        plan.livekit = Some(LiveKitJoin {
            url: livekit.client_url().to_owned(),
            token: livekit.join_token(&visit.id, &participant)?,
        });
    }
    let mut tx = store.begin().await?;
    let entry = AuditEntry::new(actor, "media.grant", "Encounter")
        .resource(&visit.encounter_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(plan)
}

/// Peer-to-peer with the configured STUN servers (none is a valid answer:
/// host candidates still connect on one network).
pub fn p2p_plan(config: &IceSettings) -> MediaPlan {
    let ice_servers = if config.stun_urls.is_empty() {
        Vec::new()
    } else {
        vec![IceServer {
            urls: config.stun_urls.clone(),
            username: None,
            credential: None,
        }]
    };
    MediaPlan {
        mode: MediaMode::P2p,
        ice_servers,
        livekit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_without_stun_lists_no_ice_servers() {
        let plan = p2p_plan(&IceSettings::default());
        assert_eq!(plan.mode, MediaMode::P2p);
        assert!(plan.ice_servers.is_empty());
    }

    #[test]
    fn configured_stun_urls_become_one_ice_server() {
        let config = IceSettings {
            stun_urls: vec!["stun:stun.example.org:3478".to_owned()],
            turn: None,
        };
        let json = serde_json::to_value(p2p_plan(&config)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mode": "p2p", "ice_servers": [{"urls": ["stun:stun.example.org:3478"]}]})
        );
    }
}
