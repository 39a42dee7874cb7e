//! Note drafts: one per visit, replaced on each save, removed at close.

use super::writes::Writes;
use super::{StoreError, Tx};
use crate::model::draft::{DraftFields, NoteDraft};
use crate::model::ids::{UserId, VisitId};
use crate::model::timestamp::Timestamp;

/// Saves (or replaces) the draft of a visit.
pub async fn save_draft(
    tx: &mut Tx,
    visit: &VisitId,
    author: &UserId,
    fields: &DraftFields,
    at: Timestamp,
) -> Result<(), StoreError> {
    let body =
        serde_json::to_string(fields).map_err(|_| StoreError::Corrupt("note_drafts.body"))?;
    sqlx::query(
        "INSERT INTO note_drafts (visit_id, author_id, body, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (visit_id) DO UPDATE SET author_id = $2, body = $3, updated_at = $4",
    )
    .bind(visit.as_str())
    .bind(author.as_str())
    .bind(body)
    .bind(at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get_draft(tx: &mut Tx, visit: &VisitId) -> Result<Option<NoteDraft>, StoreError> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT author_id, body, updated_at FROM note_drafts WHERE visit_id = $1")
            .bind(visit.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(author, body, updated_at)| {
        Ok(NoteDraft {
            fields: serde_json::from_str(&body)
                .map_err(|_| StoreError::Corrupt("note_drafts.body"))?,
            author_id: UserId::from_trusted(author),
            updated_at: Timestamp(updated_at),
        })
    })
    .transpose()
}

pub fn delete_draft(writes: &mut Writes, visit: &VisitId) {
    writes.push(|sql| {
        sql.push("DELETE FROM note_drafts WHERE visit_id = ")
            .push_bind(visit.as_str().to_owned());
    });
}
