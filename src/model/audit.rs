//! The audit trail of health data: who read or wrote which record, when,
//! from where, and with what outcome. Events form a hash chain — each
//! carries the SHA-256 of its own fields and of the event before — so a
//! changed or missing event shows when the chain is verified.

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::Principal;
use super::timestamp::Timestamp;

/// The hash that stands before the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    NotFound,
}

/// Who acted, and from which address.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Actor {
    /// `user`, `patient` or `system`.
    pub kind: &'static str,
    pub id: Option<String>,
    pub role: Option<String>,
    pub ip: Option<String>,
    /// When the actor's request was taken in: the time its events carry.
    #[serde(skip)]
    pub at: Timestamp,
}

impl Actor {
    pub fn from_principal(principal: &Principal, ip: Option<String>, at: Timestamp) -> Self {
        let kind = match principal {
            Principal::Staff(_) => "user",
            Principal::Patient { .. } => "patient",
            Principal::Guest { .. } => "guest",
            Principal::App(_) => "app",
        };
        Self {
            kind,
            id: Some(principal.actor_id().to_owned()),
            role: Some(principal.actor_role().to_owned()),
            ip,
            at,
        }
    }

    /// Bedside itself (seeding, workers), acting at `at`.
    pub fn system(at: Timestamp) -> Self {
        Self {
            kind: "system",
            id: None,
            role: None,
            ip: None,
            at,
        }
    }
}

/// One event before it is appended.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Actor,
    /// What was done, as `resource.verb` (`patient.read`, `patient.create`).
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: Outcome,
}

impl AuditEntry {
    pub fn new(actor: &Actor, action: &'static str, resource_type: &'static str) -> Self {
        Self {
            actor: actor.clone(),
            action,
            resource_type,
            resource_id: None,
            patient_id: None,
            outcome: Outcome::Success,
        }
    }

    pub fn resource(mut self, id: impl ToString) -> Self {
        self.resource_id = Some(id.to_string());
        self
    }

    pub fn patient(mut self, id: impl ToString) -> Self {
        self.patient_id = Some(id.to_string());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub ip: Option<String>,
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// The hash this event should carry, from its fields and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        let fields: [&str; 11] = [
            &self.seq.to_string(),
            &self.at.millis().to_string(),
            &self.actor_type,
            self.actor_id.as_deref().unwrap_or(""),
            self.actor_role.as_deref().unwrap_or(""),
            &self.action,
            &self.resource_type,
            self.resource_id.as_deref().unwrap_or(""),
            self.patient_id.as_deref().unwrap_or(""),
            self.ip.as_deref().unwrap_or(""),
            &self.outcome,
        ];
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        for field in fields {
            // Length prefixes keep field boundaries unambiguous.
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChainReport {
    pub valid: bool,
    pub events_checked: i64,
    /// The first event whose hash or link does not match.
    pub first_broken_seq: Option<i64>,
}

/// Checks that each event follows the one before and hashes to itself.
/// `events` must be consecutive, in order, starting after `prev_hash`.
pub fn verify_chain<'a>(
    prev_hash: &str,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> ChainReport {
    let mut prev = prev_hash.to_owned();
    let mut expected_seq = None;
    let mut checked = 0;
    for event in events {
        let gap = expected_seq.is_some_and(|seq| seq != event.seq);
        if gap || event.prev_hash != prev || event.expected_hash() != event.hash {
            return ChainReport {
                valid: false,
                events_checked: checked,
                first_broken_seq: Some(event.seq),
            };
        }
        checked += 1;
        expected_seq = Some(event.seq + 1);
        prev.clone_from(&event.hash);
    }
    ChainReport {
        valid: true,
        events_checked: checked,
        first_broken_seq: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, prev_hash: &str) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            at: Timestamp(1_700_000_000_000 + seq),
            actor_type: "user".into(),
            actor_id: Some("u1".into()),
            actor_role: Some("clinician".into()),
            action: "patient.read".into(),
            resource_type: "Patient".into(),
            resource_id: Some("p1".into()),
            patient_id: Some("p1".into()),
            ip: Some("127.0.0.1".into()),
            outcome: "success".into(),
            prev_hash: prev_hash.into(),
            hash: String::new(),
        };
        event.hash = event.expected_hash();
        event
    }

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for seq in 1..=n {
            let prev = events
                .last()
                .map_or(GENESIS_HASH.to_owned(), |e| e.hash.clone());
            events.push(event(seq, &prev));
        }
        events
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let report = verify_chain(GENESIS_HASH, &chain(5));
        assert!(report.valid);
        assert_eq!(report.events_checked, 5);
    }

    #[test]
    fn a_changed_field_breaks_the_chain_at_that_event() {
        let mut events = chain(5);
        events[2].actor_id = Some("someone else".into());
        let report = verify_chain(GENESIS_HASH, &events);
        assert_eq!((report.valid, report.first_broken_seq), (false, Some(3)));
    }

    #[test]
    fn a_removed_event_breaks_the_chain() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(
            verify_chain(GENESIS_HASH, &events).first_broken_seq,
            Some(3)
        );
    }
}
