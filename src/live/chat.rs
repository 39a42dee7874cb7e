//! The hub's chat recorder: each message of a call kept in the visit's
//! record before the room hears it.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use signaling::protocol as wire;
use signaling::{ChatRecord, ChatRecorder, NotRecorded};

use crate::model::chat::{ChatSender, NewChatMessage, SenderRole};
use crate::model::clock::Clock;
use crate::model::ids::VisitId;
use crate::model::timestamp::Timestamp;
use crate::store::Store;
use crate::visits;

#[derive(Debug, Clone)]
pub struct StoreChatRecorder {
    store: Store,
    clock: Clock,
}

impl StoreChatRecorder {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    async fn keep(&self, message: ChatRecord<'_>) -> Result<(), NotRecorded> {
        let visit_id = VisitId::parse(message.visit_id.as_str()).ok_or(NotRecorded)?;
        let new = NewChatMessage {
            visit_id,
            sender: ChatSender {
                role: sender_role(message.sender.role),
                id: message.sender.subject.to_string(),
                display_name: message.sender.display_name.clone(),
            },
            participant_id: message.participant_id.to_string(),
            text: message.text.to_owned(),
            at: Timestamp(message.at.timestamp_millis()),
        };
        match visits::chat::record(&self.store, &new, self.clock.now()).await {
            Ok(_) => Ok(()),
            Err(error) => {
                // The error names no text: health data stays out of logs.
                tracing::warn!(%error, visit.id = %new.visit_id, "chat message not recorded");
                Err(NotRecorded)
            }
        }
    }
}

fn sender_role(role: wire::Role) -> SenderRole {
    match role {
        wire::Role::Patient => SenderRole::Patient,
        wire::Role::Clinician => SenderRole::Clinician,
        wire::Role::Admin => SenderRole::Admin,
        wire::Role::Scheduler => SenderRole::Scheduler,
        wire::Role::Billing => SenderRole::Billing,
        wire::Role::Guest => SenderRole::Guest,
    }
}

impl ChatRecorder for StoreChatRecorder {
    fn record<'a>(&'a self, message: ChatRecord<'a>) -> BoxFuture<'a, Result<(), NotRecorded>> {
        self.keep(message).boxed()
    }
}
