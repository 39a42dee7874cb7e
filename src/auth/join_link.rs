//! A patient's join link: the address of the join page with a signed
//! token of the visit's current link version.

use super::{PatientToken, TokenKeys};
use crate::model::ids::{PatientId, VisitId};
use crate::model::timestamp::Timestamp;

/// What makes a patient's join link: the key that signs its token, the
/// address patients reach the server at, and how long a link works.
#[derive(Debug, Clone)]
pub struct JoinLinks {
    keys: TokenKeys,
    public_url: String,
    ttl_seconds: i64,
}

/// A patient's token and the join address that carries it.
#[derive(Debug)]
pub struct JoinLink {
    pub token: PatientToken,
    pub url: String,
}

impl JoinLinks {
    /// Links signed with `keys`, at `public_url`, working `ttl_seconds`
    /// from when each is issued.
    pub fn new(keys: TokenKeys, public_url: &str, ttl_seconds: i64) -> Self {
        Self {
            keys,
            public_url: public_url.to_owned(),
            ttl_seconds,
        }
    }

    /// A link of the visit's link `version`, issued `now`.
    pub fn issue(
        &self,
        visit_id: &VisitId,
        patient_id: &PatientId,
        version: i64,
        now: Timestamp,
    ) -> JoinLink {
        let token = self.keys.issue_patient(
            visit_id,
            patient_id,
            version,
            now.millis() / 1000,
            self.ttl_seconds,
        );
        let url = format!("{}/join/{visit_id}?t={}", self.public_url, token.expose());
        JoinLink { token, url }
    }
}
