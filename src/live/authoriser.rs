//! Who may do what on the socket, decided from the store.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use signaling::protocol::{self as wire, VisitUpdate};
use signaling::{Authoriser, Denied, Identity, JoinAccess, Refused};

use super::{update_for, wire_role, wire_status};
use crate::access;
use crate::audit::{Actor, AuditEntry};
use crate::auth::{self, Principal, Role, SessionSettings, TokenKeys};
use crate::model::clock::Clock;
use crate::model::ids::{GuestId, QueueId, UserId, VisitId};
use crate::store::{self, Store};
use crate::visits::guests::GuestStatus;
use crate::visits::{self, VisitStatus};

#[derive(Debug, Clone)]
pub struct StoreAuthoriser {
    store: Store,
    clock: Clock,
    keys: TokenKeys,
    sessions: SessionSettings,
}

impl StoreAuthoriser {
    pub fn new(store: Store, clock: Clock, keys: TokenKeys, sessions: SessionSettings) -> Self {
        Self {
            store,
            clock,
            keys,
            sessions,
        }
    }

    async fn identify(&self, token: &str) -> Result<Identity, Denied> {
        let grant = auth::grant(&self.store, &self.clock, &self.keys, &self.sessions, token)
            .await
            .map_err(|_| Denied::Unavailable)?
            .ok_or(Denied::Unauthenticated)?;
        let credential = Some(grant.credential.as_str().to_owned());
        let expires_at = chrono::DateTime::from_timestamp_millis(grant.expires_at.millis());
        match grant.principal {
            Principal::Staff(user) => Ok(Identity {
                subject: wire::UserId::new(user.id.as_str()),
                role: wire_role(user.role),
                display_name: user.display_name,
                visit_id: None,
                credential,
                expires_at,
            }),
            Principal::Patient {
                visit_id,
                patient_id,
                ..
            } => {
                let mut tx = self
                    .store
                    .begin_read()
                    .await
                    .map_err(|_| Denied::Unavailable)?;
                let patient = store::get_patient(&mut tx, &patient_id)
                    .await
                    .map_err(|_| Denied::Unavailable)?;
                store::commit(tx).await.map_err(|_| Denied::Unavailable)?;
                let patient = patient.ok_or(Denied::Unauthenticated)?;
                Ok(Identity {
                    subject: wire::UserId::new(patient_id.as_str()),
                    role: wire::Role::Patient,
                    display_name: patient.given_name,
                    visit_id: Some(wire::VisitId::new(visit_id.as_str())),
                    credential,
                    expires_at,
                })
            }
            Principal::Guest {
                visit_id,
                guest_id,
                display_name,
            } => Ok(Identity {
                subject: wire::UserId::new(guest_id.as_str()),
                role: wire::Role::Guest,
                display_name,
                visit_id: Some(wire::VisitId::new(visit_id.as_str())),
                credential,
                expires_at,
            }),
            // SMART access tokens never open a socket.
            Principal::App(_) => Err(Denied::Unauthenticated),
        }
    }

    /// Whether a staff socket's session still stands in the store: a
    /// sign-out seen by another node, even if its bus message was lost,
    /// stops the socket's next `join` or `subscribe`.
    async fn session_stands(&self, who: &Identity) -> Result<(), Denied> {
        let credential = who.credential.as_deref().map(auth::Credential::from_name);
        let Some(hash) = credential.as_ref().and_then(|c| c.session_token_hash()) else {
            return Ok(());
        };
        let mut tx = self
            .store
            .begin_read()
            .await
            .map_err(|_| Denied::Unavailable)?;
        let session = store::find_session(&mut tx, hash, self.clock.now())
            .await
            .map_err(|_| Denied::Unavailable)?;
        store::commit(tx).await.map_err(|_| Denied::Unavailable)?;
        session.map(|_| ()).ok_or(Denied::Unauthenticated)
    }

    /// `join`, with every refusal audited: who asked for which visit.
    async fn join(&self, who: &Identity, visit_id: &wire::VisitId) -> Result<JoinAccess, Denied> {
        match self.session_stands(who).await {
            Ok(()) => {}
            Err(Denied::Unauthenticated) => {
                self.audit_refusal(who, visit_id).await;
                return Err(Denied::Unauthenticated);
            }
            Err(other) => return Err(other),
        }
        let result = self.decide_join(who, visit_id).await;
        if result == Err(Denied::Forbidden) {
            self.audit_refusal(who, visit_id).await;
        }
        result
    }

    async fn audit_refusal(&self, who: &Identity, visit_id: &wire::VisitId) {
        let Some(id) = VisitId::parse(visit_id.as_str()) else {
            return;
        };
        self.record_refusal(who, "visit.join", access::Target::Visit(id))
            .await;
    }

    async fn record_refusal(&self, who: &Identity, action: &'static str, target: access::Target) {
        let actor = Actor {
            kind: match who.role {
                wire::Role::Patient => "patient",
                wire::Role::Guest => "guest",
                _ => "user",
            },
            id: Some(who.subject.to_string()),
            role: Some(who.role.as_str().to_owned()),
            ip: None,
            at: self.clock.now(),
        };
        if let Err(error) = access::record_refusal(&self.store, &actor, action, &target).await {
            tracing::warn!(%error, action, "a refusal was not audited");
        }
    }

    async fn decide_join(
        &self,
        who: &Identity,
        visit_id: &wire::VisitId,
    ) -> Result<JoinAccess, Denied> {
        let id = VisitId::parse(visit_id.as_str()).ok_or(Denied::NotFound)?;
        let mut tx = self.store.begin().await.map_err(|_| Denied::Unavailable)?;
        let visit = store::get_visit(&mut tx, &id)
            .await
            .map_err(|_| Denied::Unavailable)?
            .ok_or(Denied::NotFound)?;
        let (actor, access) = match who.role {
            wire::Role::Patient => {
                if who.visit_id.as_ref() != Some(visit_id)
                    || who.subject.as_str() != visit.patient_id.as_str()
                {
                    return Err(Denied::Forbidden);
                }
                // A link revoked or replaced since `hello` stops here on
                // every node, even one that missed the bus's word of it.
                let link = store::visit_link(&mut tx, &id)
                    .await
                    .map_err(|_| Denied::Unavailable)?
                    .ok_or(Denied::NotFound)?;
                let credential = who.credential.as_deref().map(auth::Credential::from_name);
                if credential.and_then(|c| c.link_version()) != Some(link.version) {
                    return Err(Denied::Forbidden);
                }
                let actor = Actor {
                    kind: "patient",
                    id: Some(who.subject.to_string()),
                    role: Some("patient".into()),
                    ip: None,
                    at: self.clock.now(),
                };
                let access = match visit.status {
                    VisitStatus::InConsult => JoinAccess::Open,
                    VisitStatus::Scheduled => {
                        JoinAccess::Waiting(VisitUpdate::status(wire::VisitStatus::Scheduled))
                    }
                    VisitStatus::Waiting => {
                        JoinAccess::Waiting(VisitUpdate::status(wire::VisitStatus::Waiting))
                    }
                    ended => JoinAccess::Waiting(VisitUpdate::status(wire_status(ended))),
                };
                (actor, access)
            }
            wire::Role::Clinician => {
                let user = UserId::parse(who.subject.as_str()).ok_or(Denied::Forbidden)?;
                if visit.status != VisitStatus::InConsult
                    || !visits::is_visit_clinician(&visit, &user)
                {
                    return Err(Denied::Forbidden);
                }
                let actor = Actor {
                    kind: "user",
                    id: Some(user.to_string()),
                    role: Some(Role::Clinician.as_str().into()),
                    ip: None,
                    at: self.clock.now(),
                };
                (actor, JoinAccess::Open)
            }
            // A guest enters only a consult under way, once let in; until
            // then its socket hears the visit's frames and asks again.
            wire::Role::Guest => {
                let guest_id = GuestId::parse(who.subject.as_str()).ok_or(Denied::Forbidden)?;
                let guest = store::get_guest(&mut tx, &guest_id)
                    .await
                    .map_err(|_| Denied::Unavailable)?
                    .ok_or(Denied::Forbidden)?;
                let admitted = guest.status == GuestStatus::Admitted
                    && guest.is_active(self.clock.now().millis())
                    && guest.visit_id == visit.id
                    && who.visit_id.as_ref() == Some(visit_id);
                if !admitted || visit.status != VisitStatus::InConsult {
                    return Err(Denied::Forbidden);
                }
                let actor = Actor {
                    kind: "guest",
                    id: Some(guest_id.to_string()),
                    role: Some("guest".into()),
                    ip: None,
                    at: self.clock.now(),
                };
                (actor, JoinAccess::Open)
            }
            _ => return Err(Denied::Forbidden),
        };
        let entry = AuditEntry::new(&actor, "visit.join", "Encounter")
            .resource(&visit.encounter_id)
            .patient(&visit.patient_id);
        store::append_audit(&mut tx, &entry)
            .await
            .map_err(|_| Denied::Unavailable)?;
        store::commit(tx).await.map_err(|_| Denied::Unavailable)?;
        // A waiting patient hears its place at once.
        if let JoinAccess::Waiting(update) = &access
            && update.status == wire::VisitStatus::Waiting
            && let Ok(view) = visits::queue_view(&self.store, &visit.queue_id, 1).await
            && let Some(entry) = view.entries.iter().find(|e| e.visit_id == visit.id)
        {
            return Ok(JoinAccess::Waiting(update_for(entry)));
        }
        Ok(access)
    }

    async fn subscribe(
        &self,
        who: &Identity,
        queue_id: &wire::QueueId,
    ) -> Result<Option<serde_json::Value>, Denied> {
        let refused = || queue_target(queue_id);
        if let Err(denied) = self.session_stands(who).await {
            if denied == Denied::Unauthenticated {
                self.record_refusal(who, "queue.subscribe", refused()).await;
            }
            return Err(denied);
        }
        if !matches!(
            who.role,
            wire::Role::Admin | wire::Role::Scheduler | wire::Role::Clinician
        ) {
            self.record_refusal(who, "queue.subscribe", refused()).await;
            return Err(Denied::Forbidden);
        }
        let id = QueueId::parse(queue_id.as_str()).ok_or(Denied::NotFound)?;
        match visits::queue_view(&self.store, &id, 1).await {
            Ok(view) => Ok(Some(serde_json::to_value(view.entries).unwrap_or_default())),
            Err(visits::VisitError::NotFound(_)) => Err(Denied::NotFound),
            Err(_) => Err(Denied::Unavailable),
        }
    }
}

/// A queue lists its patients by name: a refused subscription is audited
/// like a refused join.
fn queue_target(queue_id: &wire::QueueId) -> access::Target {
    access::Target::Resource {
        kind: "Queue",
        id: Some(queue_id.as_str().to_owned()),
        patient: None,
    }
}

impl Authoriser for StoreAuthoriser {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, Denied>> {
        self.identify(token).boxed()
    }

    fn authorise_join<'a>(
        &'a self,
        who: &'a Identity,
        visit_id: &'a wire::VisitId,
    ) -> BoxFuture<'a, Result<JoinAccess, Denied>> {
        self.join(who, visit_id).boxed()
    }

    fn authorise_subscribe<'a>(
        &'a self,
        who: &'a Identity,
        queue_id: &'a wire::QueueId,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, Denied>> {
        self.subscribe(who, queue_id).boxed()
    }

    fn refused<'a>(&'a self, who: &'a Identity, what: Refused<'a>) -> BoxFuture<'a, ()> {
        match what {
            Refused::Subscribe(queue_id) => self
                .record_refusal(who, "queue.subscribe", queue_target(queue_id))
                .boxed(),
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.clock.now().millis()).unwrap_or_default()
    }
}
