//! The version of each visit's patient link: read on every use of a
//! patient token, moved to revoke the tokens issued before.

use super::{Conn, StoreError, Tx};
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::visit::{VisitLink, VisitStatus};

/// The link state of a visit, if the visit exists.
#[tracing::instrument(skip_all)]
pub async fn visit_link(conn: &mut Conn, id: &VisitId) -> Result<Option<VisitLink>, StoreError> {
    type Row = (String, String, String, String, Option<i64>, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, patient_id, encounter_id, status, closed_at, link_version
         FROM visits WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(id, patient, encounter, status, closed_at, version)| {
        Ok(VisitLink {
            visit_id: VisitId::from_trusted(id),
            patient_id: PatientId::from_trusted(patient),
            encounter_id: EncounterId::from_trusted(encounter),
            status: VisitStatus::parse(&status).ok_or(StoreError::Corrupt("visits.status"))?,
            closed_at: closed_at.map(Timestamp),
            version,
        })
    })
    .transpose()
}

/// Moves the visit's link version on; answers the new version.
#[tracing::instrument(skip_all)]
pub async fn bump_link_version(
    tx: &mut Tx,
    id: &VisitId,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let version: Option<(i64,)> = sqlx::query_as(
        "UPDATE visits SET link_version = link_version + 1, updated_at = $2
         WHERE id = $1 RETURNING link_version",
    )
    .bind(id.as_str())
    .bind(now.millis())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(version.map(|(v,)| v))
}
