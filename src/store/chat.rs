//! Chat messages of visits' calls, numbered per visit in the order kept.

use super::{StoreError, Tx};
use crate::model::chat::{ChatMessage, ChatSender, NewChatMessage, SenderRole};
use crate::model::ids::{ChatMessageId, EncounterId, PatientId, VisitId};
use crate::model::timestamp::Timestamp;

const COLUMNS: &str = "id, visit_id, encounter_id, patient_id, seq, sender_role, sender_id, \
     sender_name, participant_id, body, sent_at";

type Row = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
);

fn message(row: Row) -> Result<ChatMessage, StoreError> {
    let (id, visit, encounter, patient, seq, role, sender, name, participant, body, at) = row;
    Ok(ChatMessage {
        id: ChatMessageId::from_trusted(id),
        visit_id: VisitId::from_trusted(visit),
        encounter_id: EncounterId::from_trusted(encounter),
        patient_id: PatientId::from_trusted(patient),
        seq,
        sender: ChatSender {
            role: SenderRole::parse(&role)
                .ok_or(StoreError::Corrupt("chat_messages.sender_role"))?,
            id: sender,
            display_name: name,
        },
        participant_id: participant,
        text: body,
        at: Timestamp(at),
    })
}

/// Keeps a message as the next of its visit, on the visit's encounter and
/// patient. Two writers taking the same place fail the second with
/// `Duplicate` (`chat_messages_visit_seq_key`).
pub async fn insert_chat_message(
    tx: &mut Tx,
    new: &NewChatMessage,
    encounter: &EncounterId,
    patient: &PatientId,
) -> Result<ChatMessage, StoreError> {
    let (last,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(seq) FROM chat_messages WHERE visit_id = $1")
            .bind(new.visit_id.as_str())
            .fetch_one(&mut **tx)
            .await?;
    let message = ChatMessage {
        id: ChatMessageId::new(),
        visit_id: new.visit_id.clone(),
        encounter_id: encounter.clone(),
        patient_id: patient.clone(),
        seq: last.unwrap_or(0) + 1,
        sender: new.sender.clone(),
        participant_id: new.participant_id.clone(),
        text: new.text.clone(),
        at: new.at,
    };
    sqlx::query(
        "INSERT INTO chat_messages (id, visit_id, encounter_id, patient_id, seq, sender_role, \
         sender_id, sender_name, participant_id, body, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(message.id.as_str())
    .bind(message.visit_id.as_str())
    .bind(message.encounter_id.as_str())
    .bind(message.patient_id.as_str())
    .bind(message.seq)
    .bind(message.sender.role.as_str())
    .bind(message.sender.id.as_str())
    .bind(message.sender.display_name.as_str())
    .bind(message.participant_id.as_str())
    .bind(message.text.as_str())
    .bind(message.at.millis())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "chat message place"))?;
    Ok(message)
}

/// A visit's messages, oldest first.
pub async fn visit_messages(tx: &mut Tx, visit: &VisitId) -> Result<Vec<ChatMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM chat_messages WHERE visit_id = $1 ORDER BY seq");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(visit.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(message).collect()
}

/// A patient's messages across visits, oldest first.
pub async fn patient_messages(
    tx: &mut Tx,
    patient: &PatientId,
) -> Result<Vec<ChatMessage>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM chat_messages WHERE patient_id = $1 ORDER BY sent_at, visit_id, seq"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(patient.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(message).collect()
}

/// One message by id.
pub async fn get_chat_message(
    tx: &mut Tx,
    id: &ChatMessageId,
) -> Result<Option<ChatMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM chat_messages WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(message).transpose()
}

/// Messages of a patient or an encounter (FHIR `Communication` search),
/// oldest first, at most `limit`.
pub async fn fhir_communications(
    tx: &mut Tx,
    patient: Option<&PatientId>,
    encounter: Option<&EncounterId>,
    limit: i64,
) -> Result<Vec<ChatMessage>, StoreError> {
    let mut sql = super::sql::Sql::new("SELECT ");
    sql.push(COLUMNS).push(" FROM chat_messages WHERE 1 = 1");
    if let Some(patient) = patient {
        sql.push(" AND patient_id = ").push_bind(patient.as_str());
    }
    if let Some(encounter) = encounter {
        sql.push(" AND encounter_id = ")
            .push_bind(encounter.as_str());
    }
    sql.push(" ORDER BY sent_at, visit_id, seq LIMIT ")
        .push_bind(limit);
    let rows: Vec<Row> = sql.fetch_all(tx).await?;
    rows.into_iter().map(message).collect()
}
