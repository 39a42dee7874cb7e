//! What a bearer token grants and until when, and the name of the
//! credential behind it, so that ending the credential (a sign-out, a
//! revoked link, a cancelled visit) also closes the sockets it opened.

use std::time::Duration;

use super::{Principal, SessionToken};
use crate::model::ids::{GuestId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::visit::{VisitLink, VisitStatus};

/// A checked token: who it is, which credential, and when it ends.
#[derive(Debug, Clone)]
pub struct Grant {
    pub principal: Principal,
    pub credential: Credential,
    pub expires_at: Timestamp,
}

/// The name of one credential: a staff session, a visit's patient link or
/// a guest's invitation. Never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credential(String);

impl Credential {
    pub fn session(token: &SessionToken) -> Self {
        Self::session_hash(&token.hash())
    }

    /// A session named by the hash the store keeps.
    pub fn session_hash(hash: &str) -> Self {
        Self(format!("session:{hash}"))
    }

    /// The patient tokens of one visit issued under one link version.
    pub fn visit_link(visit: &VisitId, version: i64) -> Self {
        Self(format!("link:{visit}:{version}"))
    }

    pub fn guest(guest: &GuestId) -> Self {
        Self(format!("guest:{guest}"))
    }

    /// A credential by the name [`Credential::as_str`] gave it.
    pub fn from_name(name: &str) -> Self {
        Self(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The session hash, for a staff session's credential.
    pub fn session_token_hash(&self) -> Option<&str> {
        self.0.strip_prefix("session:")
    }

    /// The link version, for a patient link's credential.
    pub fn link_version(&self) -> Option<i64> {
        let (_, version) = self.0.strip_prefix("link:")?.rsplit_once(':')?;
        version.parse().ok()
    }
}

/// How long a patient's link works after its visit closed
/// (`BEDSIDE_SUMMARY_DAYS`: the after-visit summary is read with it).
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    pub after_close: Duration,
}

/// Until when a patient token works for its visit, or `None` if it is dead:
/// issued under an older link version (revoked or replaced), or its visit
/// was cancelled or marked a no-show. A closed visit's link lasts
/// `after_close` past the close, and never past the token's own expiry.
pub fn link_live_until(
    link: &VisitLink,
    token_version: i64,
    token_expires: Timestamp,
    settings: &LinkSettings,
) -> Option<Timestamp> {
    if token_version != link.version {
        return None;
    }
    match link.status {
        VisitStatus::Cancelled | VisitStatus::NoShow => None,
        VisitStatus::Closed => {
            let closed_at = link.closed_at?;
            let after = i64::try_from(settings.after_close.as_millis()).unwrap_or(i64::MAX);
            Some(Timestamp(
                closed_at
                    .millis()
                    .saturating_add(after)
                    .min(token_expires.millis()),
            ))
        }
        VisitStatus::Scheduled | VisitStatus::Waiting | VisitStatus::InConsult => {
            Some(token_expires)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{EncounterId, PatientId};

    const DAY: i64 = 24 * 3600 * 1000;

    fn link(status: VisitStatus, closed_at: Option<i64>) -> VisitLink {
        VisitLink {
            visit_id: VisitId::new(),
            patient_id: PatientId::new(),
            encounter_id: EncounterId::new(),
            status,
            closed_at: closed_at.map(Timestamp),
            version: 2,
        }
    }

    fn settings() -> LinkSettings {
        LinkSettings {
            after_close: Duration::from_secs(30 * 24 * 3600),
        }
    }

    #[test]
    fn a_link_credential_names_its_version() {
        let credential = Credential::visit_link(&VisitId::new(), 3);
        assert_eq!(credential.link_version(), Some(3));
        assert_eq!(Credential::session_hash("ab").link_version(), None);
    }

    #[test]
    fn a_token_of_an_older_link_version_is_dead() {
        let open = link(VisitStatus::Waiting, None);
        assert_eq!(link_live_until(&open, 1, Timestamp(DAY), &settings()), None);
        assert_eq!(
            link_live_until(&open, 2, Timestamp(DAY), &settings()),
            Some(Timestamp(DAY))
        );
    }

    #[test]
    fn a_cancelled_or_missed_visit_ends_its_link() {
        for status in [VisitStatus::Cancelled, VisitStatus::NoShow] {
            let ended = link(status, Some(0));
            assert_eq!(
                link_live_until(&ended, 2, Timestamp(DAY), &settings()),
                None
            );
        }
    }

    #[test]
    fn a_closed_visit_keeps_its_link_for_the_summary_days_only() {
        let closed = link(VisitStatus::Closed, Some(DAY));
        assert_eq!(
            link_live_until(&closed, 2, Timestamp(100 * DAY), &settings()),
            Some(Timestamp(31 * DAY))
        );
        assert_eq!(
            link_live_until(&closed, 2, Timestamp(10 * DAY), &settings()),
            Some(Timestamp(10 * DAY)),
            "never past the token's own expiry"
        );
    }
}
