//! The chat of a visit's call as part of its record: each message the
//! room relays is kept on the visit's encounter with an audit event, and
//! read back, oldest first, by the visit's patient, its clinician and
//! admins (also audited).

use serde::Serialize;
use utoipa::ToSchema;

use super::{VisitError, audit, load};
use crate::audit::Actor;
use crate::auth::{Principal, Role};
use crate::model::chat::{ChatMessage, NewChatMessage, SenderRole};
use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};

/// A kept message as one of the visit's participants reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VisitMessage {
    #[serde(flatten)]
    pub message: ChatMessage,
    /// Whether the reader sent it.
    pub mine: bool,
}

/// The audit trail's actor for a message's sender.
fn sender_actor(new: &NewChatMessage, at: Timestamp) -> Actor {
    let kind = match new.sender.role {
        SenderRole::Patient => "patient",
        SenderRole::Guest => "guest",
        _ => "user",
    };
    Actor {
        kind,
        id: Some(new.sender.id.clone()),
        role: Some(new.sender.role.as_str().to_owned()),
        ip: None,
        at,
    }
}

/// Keeps one message of the visit's call with its audit event. Two nodes
/// taking the same place at once: the second tries again once.
#[tracing::instrument(skip_all, fields(visit.id = %new.visit_id))]
pub async fn record(
    store: &Store,
    new: &NewChatMessage,
    now: Timestamp,
) -> Result<ChatMessage, VisitError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match record_once(store, new, now).await {
            Err(VisitError::Store(StoreError::Duplicate(_))) if tries < 3 => {}
            outcome => return outcome,
        }
    }
}

async fn record_once(
    store: &Store,
    new: &NewChatMessage,
    now: Timestamp,
) -> Result<ChatMessage, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, &new.visit_id).await?;
    let message =
        store::insert_chat_message(&mut tx, new, &visit.encounter_id, &visit.patient_id).await?;
    let entry = audit(&sender_actor(new, now), "chat.send", &visit);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(message)
}

/// Whether `principal` reads this visit's chat: its patient's token, its
/// clinician, an admin. Guests and other staff do not.
fn may_read(principal: &Principal, visit: &super::Visit) -> bool {
    match principal {
        Principal::Patient { visit_id, .. } => *visit_id == visit.id,
        Principal::Staff(user) => match user.role {
            Role::Admin => true,
            Role::Clinician => super::is_visit_clinician(visit, &user.id),
            Role::Scheduler | Role::Billing => false,
        },
        Principal::Guest { .. } | Principal::App(_) => false,
    }
}

/// The visit's messages, oldest first, each marked when the reader sent it.
#[tracing::instrument(skip_all, fields(visit.id = %id))]
pub async fn read(
    store: &Store,
    actor: &Actor,
    principal: &Principal,
    id: &VisitId,
) -> Result<Vec<VisitMessage>, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    if !may_read(principal, &visit) {
        return Err(VisitError::Forbidden);
    }
    let messages = store::visit_messages(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "chat.read", &visit)).await?;
    store::commit(tx).await?;
    let reader = principal.actor_id();
    let reader_is_staff = matches!(principal, Principal::Staff(_));
    Ok(messages
        .into_iter()
        .map(|message| VisitMessage {
            mine: message.sender.id == reader && message.sender.role.is_staff() == reader_is_staff,
            message,
        })
        .collect())
}
