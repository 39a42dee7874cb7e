//! Pre-call checks: each finished check's figures and verdict against its
//! visit; the latest is what the clinician sees.

use super::{StoreError, Tx};
use crate::model::ids::{PreCallId, VisitId};
use crate::model::precall::{PreCallResult, Verdict};
use crate::model::timestamp::Timestamp;

#[tracing::instrument(skip_all)]
pub async fn insert_precall(tx: &mut Tx, result: &PreCallResult) -> Result<(), StoreError> {
    super::query_with_optional_floats(
        "INSERT INTO precall_checks (id, visit_id, started_at, finished_at, verdict, gathered, path,
                                     rtt_ms, loss_percent, upload_kbps, advice)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(result.id.as_str())
    .bind(result.visit_id.as_str())
    .bind(result.started_at.millis())
    .bind(result.finished_at.millis())
    .bind(result.verdict.as_str())
    .bind(result.gathered.join(","))
    .bind(result.path.as_deref())
    .bind(result.rtt_ms)
    .bind(result.loss_percent)
    .bind(result.upload_kbps)
    .bind(&result.advice)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    visit_id: String,
    started_at: i64,
    finished_at: i64,
    verdict: String,
    gathered: String,
    path: Option<String>,
    rtt_ms: Option<f64>,
    loss_percent: Option<f64>,
    upload_kbps: Option<i64>,
    advice: String,
}

/// The visit's most recent finished check.
#[tracing::instrument(skip_all)]
pub async fn latest_precall(
    tx: &mut Tx,
    visit: &VisitId,
) -> Result<Option<PreCallResult>, StoreError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, visit_id, started_at, finished_at, verdict, gathered, path, rtt_ms,
                loss_percent, upload_kbps, advice
         FROM precall_checks WHERE visit_id = $1 ORDER BY finished_at DESC, id DESC LIMIT 1",
    )
    .bind(visit.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(PreCallResult {
            id: PreCallId::from_trusted(r.id),
            visit_id: VisitId::from_trusted(r.visit_id),
            started_at: Timestamp(r.started_at),
            finished_at: Timestamp(r.finished_at),
            verdict: Verdict::parse(&r.verdict)
                .ok_or(StoreError::Corrupt("precall_checks.verdict"))?,
            gathered: r
                .gathered
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            path: r.path,
            rtt_ms: r.rtt_ms,
            loss_percent: r.loss_percent,
            upload_kbps: r.upload_kbps,
            advice: r.advice,
        })
    })
    .transpose()
}
