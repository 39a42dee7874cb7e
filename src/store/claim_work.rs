//! What the billing console reads and keeps beside the claims: the work
//! queue's search and counts, each claim's history of status changes, the
//! 837P batches sent, and the open balances the aging report buckets.

use super::billing::{CLAIM_COLUMNS, ClaimRow};
use super::sql::insert_rows;
use super::{StoreError, Tx};
use crate::model::claim::{Claim, ClaimBatch, ClaimEvent, ClaimId, ClaimStatus};
use crate::model::timestamp::Timestamp;

/// The work queue's filters; each is optional.
#[derive(Debug, Clone, Default)]
pub struct WorkQuery {
    pub encounter_id: Option<String>,
    pub patient_id: Option<String>,
    pub status: Option<ClaimStatus>,
    pub payer_id: Option<String>,
    /// Dates of service from and to, inclusive, as `YYYY-MM-DD`.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The start of a given or family name, or of "given family".
    pub patient_name: Option<String>,
}

fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The WHERE clause every filter shares, over `claims c JOIN patients p`;
/// `$1`..`$7` are bound by [`bind_query`]. Status is `$3`.
const WHERE: &str = "($1 IS NULL OR c.encounter_id = $1) AND ($2 IS NULL OR c.patient_id = $2)
    AND ($3 IS NULL OR c.status = $3) AND ($4 IS NULL OR c.payer_id = $4)
    AND ($5 IS NULL OR c.service_date >= $5) AND ($6 IS NULL OR c.service_date <= $6)
    AND ($7 IS NULL OR lower(p.given_name) LIKE $7 ESCAPE '\\' OR lower(p.family_name) LIKE $7 ESCAPE '\\'
         OR lower(p.given_name || ' ' || p.family_name) LIKE $7 ESCAPE '\\')";

fn name_pattern(query: &WorkQuery) -> Option<String> {
    query
        .patient_name
        .as_deref()
        .map(|n| format!("{}%", escape_like(&n.trim().to_lowercase())))
}

/// Claims matching `query` with their patient's name, oldest first, and
/// how many match in all.
#[tracing::instrument(skip_all)]
pub async fn search_claims(
    tx: &mut Tx,
    query: &WorkQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(Claim, String)>, i64), StoreError> {
    let columns = CLAIM_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, p.given_name || ' ' || p.family_name AS patient_name
         FROM claims c JOIN patients p ON p.id = c.patient_id
         WHERE {WHERE} ORDER BY c.created_at, c.id LIMIT $8 OFFSET $9"
    );
    let pattern = name_pattern(query);
    let rows: Vec<NamedClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(query.encounter_id.as_deref())
        .bind(query.patient_id.as_deref())
        .bind(query.status.map(ClaimStatus::as_str))
        .bind(query.payer_id.as_deref())
        .bind(query.from.as_deref())
        .bind(query.to.as_deref())
        .bind(pattern.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut **tx)
        .await?;
    let count_sql = format!(
        "SELECT COUNT(*) FROM claims c JOIN patients p ON p.id = c.patient_id WHERE {WHERE}"
    );
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(count_sql))
        .bind(query.encounter_id.as_deref())
        .bind(query.patient_id.as_deref())
        .bind(query.status.map(ClaimStatus::as_str))
        .bind(query.payer_id.as_deref())
        .bind(query.from.as_deref())
        .bind(query.to.as_deref())
        .bind(pattern.as_deref())
        .fetch_one(&mut **tx)
        .await?;
    let claims = rows
        .into_iter()
        .map(|r| Ok((Claim::try_from(r.claim)?, r.patient_name)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((claims, total))
}

#[derive(sqlx::FromRow)]
struct NamedClaimRow {
    #[sqlx(flatten)]
    claim: ClaimRow,
    patient_name: String,
}

/// How many claims match `query` in each status (the status filter itself
/// is ignored, so every status is counted).
#[tracing::instrument(skip_all)]
pub async fn claim_counts(
    tx: &mut Tx,
    query: &WorkQuery,
) -> Result<Vec<(ClaimStatus, i64)>, StoreError> {
    let sql = format!(
        "SELECT c.status, COUNT(*) FROM claims c JOIN patients p ON p.id = c.patient_id
         WHERE {WHERE} GROUP BY c.status"
    );
    let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(query.encounter_id.as_deref())
        .bind(query.patient_id.as_deref())
        .bind(None::<&str>)
        .bind(query.payer_id.as_deref())
        .bind(query.from.as_deref())
        .bind(query.to.as_deref())
        .bind(name_pattern(query).as_deref())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter()
        .map(|(status, n)| {
            Ok((
                ClaimStatus::parse(&status).ok_or(StoreError::Corrupt("claims.status"))?,
                n,
            ))
        })
        .collect()
}

/// One step of a claim's history.
#[derive(Debug)]
pub struct NewClaimEvent<'a> {
    pub claim: &'a ClaimId,
    pub from: Option<ClaimStatus>,
    pub to: ClaimStatus,
    pub note: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_claim_event(tx: &mut Tx, event: NewClaimEvent<'_>) -> Result<(), StoreError> {
    insert_claim_events(tx, &[event]).await
}

/// Records several steps, several to a statement.
#[tracing::instrument(skip_all)]
pub async fn insert_claim_events(
    tx: &mut Tx,
    events: &[NewClaimEvent<'_>],
) -> Result<(), StoreError> {
    insert_rows(
        tx,
        "INSERT INTO claim_events (id, claim_id, from_status, to_status, note, actor_id, at) VALUES ",
        "",
        events,
        |row, event| {
            row.bind(uuid::Uuid::now_v7().to_string())
                .bind(event.claim.as_str().to_owned())
                .bind(event.from.map(ClaimStatus::as_str))
                .bind(event.to.as_str())
                .bind(event.note.map(str::to_owned))
                .bind(event.actor.map(str::to_owned))
                .bind(event.at);
        },
    )
    .await
}

/// A claim's history, oldest first, with the display name of who acted.
#[tracing::instrument(skip_all)]
pub async fn claim_events(tx: &mut Tx, claim: &ClaimId) -> Result<Vec<ClaimEvent>, StoreError> {
    type Row = (
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.from_status, e.to_status, e.note, e.actor_id, u.display_name, e.at
         FROM claim_events e LEFT JOIN users u ON u.id = e.actor_id
         WHERE e.claim_id = $1 ORDER BY e.at, e.id",
    )
    .bind(claim.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let status = |s: &str| ClaimStatus::parse(s).ok_or(StoreError::Corrupt("claim_events.status"));
    rows.into_iter()
        .map(|(from, to, note, actor_id, actor_name, at)| {
            Ok(ClaimEvent {
                from_status: from.as_deref().map(status).transpose()?,
                to_status: status(&to)?,
                note,
                actor_id,
                actor_name,
                at: Timestamp(at),
            })
        })
        .collect()
}

#[tracing::instrument(skip_all)]
pub async fn insert_batch(tx: &mut Tx, batch: &ClaimBatch, body: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO claim_batches (id, control_number, claim_count, body, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&batch.id)
    .bind(batch.control_number)
    .bind(batch.claim_count)
    .bind(body)
    .bind(batch.created_by.as_deref())
    .bind(batch.created_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The batches sent, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_batches(tx: &mut Tx, limit: i64) -> Result<Vec<ClaimBatch>, StoreError> {
    type Row = (String, i64, i64, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, control_number, claim_count, created_by, created_at FROM claim_batches
         ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, control_number, claim_count, created_by, at)| ClaimBatch {
                id,
                control_number,
                claim_count,
                created_by,
                created_at: Timestamp(at),
            },
        )
        .collect())
}

/// A batch's interchange as it was sent.
#[tracing::instrument(skip_all)]
pub async fn batch_body(tx: &mut Tx, id: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT body FROM claim_batches WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(body,)| body))
}

/// A coded claim's payer, date of service and what is still owed on it
/// (its charge less every payment and adjustment posted against it).
#[derive(Debug, Clone)]
pub struct OpenBalance {
    pub payer_id: Option<String>,
    pub payer_name: Option<String>,
    pub service_date: String,
    pub outstanding_cents: i64,
}

#[tracing::instrument(skip_all)]
pub async fn open_balances(tx: &mut Tx) -> Result<Vec<OpenBalance>, StoreError> {
    type Row = (Option<String>, Option<String>, String, i64);
    // SUM is NUMERIC on PostgreSQL: cast it back to a 64-bit integer.
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.payer_id, c.payer_name, c.service_date,
            c.total_cents - CAST(COALESCE((SELECT SUM(e.amount_cents) FROM account_entries e
                WHERE e.claim_id = c.id AND e.kind <> 'charge'), 0) AS BIGINT)
         FROM claims c WHERE c.status <> $1 ORDER BY c.service_date, c.id",
    )
    .bind(ClaimStatus::NeedsReview.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(payer_id, payer_name, service_date, outstanding_cents)| OpenBalance {
                payer_id,
                payer_name,
                service_date,
                outstanding_cents,
            },
        )
        .filter(|b| b.outstanding_cents > 0)
        .collect())
}
