//! Media for a visit's call: how its participants' browsers reach each
//! other. Today that is peer-to-peer WebRTC with the configured STUN
//! servers; TURN credentials and LiveKit rooms plug in here later.

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::config::Config;
use crate::ids::VisitId;
use crate::store::{self, Store, StoreError};
use crate::visits::{self, VisitStatus};

/// How the call's media flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Browser to browser, signalled over `/ws`.
    P2p,
}

/// One entry of the browser's `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `GET /visits/{id}/media`: what a participant's browser needs to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MediaPlan {
    pub mode: MediaMode,
    pub ice_servers: Vec<IceServer>,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such visit")]
    NotFound,
    #[error("not a participant of this visit")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The plan for one visit, for one of its participants: its patient, the
/// clinician it is assigned to or admitted by, or an admin.
pub async fn plan_for(
    store: &Store,
    config: &Config,
    caller: &Principal,
    id: &VisitId,
) -> Result<MediaPlan, MediaError> {
    let mut tx = store.begin_read().await?;
    let visit = store::get_visit(&mut tx, id).await?;
    store::commit(tx).await?;
    let visit = visit.ok_or(MediaError::NotFound)?;
    let allowed = match caller {
        Principal::Patient { visit_id, .. } => *visit_id == visit.id,
        Principal::Staff(user) => match user.role {
            Role::Admin => true,
            Role::Clinician => visits::is_visit_clinician(&visit, &user.id),
            Role::Scheduler | Role::Billing => false,
        },
    };
    if !allowed {
        return Err(MediaError::Forbidden);
    }
    if matches!(
        visit.status,
        VisitStatus::Closed | VisitStatus::Cancelled | VisitStatus::NoShow
    ) {
        // An ended visit has no call to set up.
        return Err(MediaError::Forbidden);
    }
    Ok(p2p_plan(config))
}

/// Peer-to-peer with the configured STUN servers (none is a valid answer:
/// host candidates still connect on one network).
pub fn p2p_plan(config: &Config) -> MediaPlan {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    #[test]
    fn a_plan_without_stun_lists_no_ice_servers() {
        let mut config = Config::from_source(&Source::default()).unwrap();
        config.stun_urls.clear();
        let plan = p2p_plan(&config);
        assert_eq!(plan.mode, MediaMode::P2p);
        assert!(plan.ice_servers.is_empty());
    }

    #[test]
    fn configured_stun_urls_become_one_ice_server() {
        let mut config = Config::from_source(&Source::default()).unwrap();
        config.stun_urls = vec!["stun:stun.example.org:3478".to_owned()];
        let json = serde_json::to_value(p2p_plan(&config)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mode": "p2p", "ice_servers": [{"urls": ["stun:stun.example.org:3478"]}]})
        );
    }
}
