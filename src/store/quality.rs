//! Call quality: each participant's summaries (a timeline capped per
//! participant), the call's running measure, and what the operations view
//! reads across visits.

use super::{Backend, StoreError, Tx};
use crate::model::ids::VisitId;
use crate::model::quality::{CallMeasure, QualitySample};
use crate::model::timestamp::Timestamp;

/// Keeps one summary and drops the participant's oldest beyond `cap`.
#[tracing::instrument(skip_all)]
pub async fn insert_quality_sample(
    tx: &mut Tx,
    sample: &QualitySample,
    cap: i64,
) -> Result<(), StoreError> {
    let stats = &sample.stats;
    super::query_with_optional_floats(
        "INSERT INTO call_quality_samples (visit_id, participant_id, role, at, rtt_ms, jitter_ms,
             loss_in_pct, loss_out_pct, kbps_in, kbps_out, sent_fps, sent_width, sent_height,
             received_fps, received_width, received_height, candidate, mode, grade)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(sample.visit_id.as_str())
    .bind(&sample.participant_id)
    .bind(&sample.role)
    .bind(sample.at.millis())
    .bind(stats.rtt_ms)
    .bind(stats.jitter_ms)
    .bind(stats.loss_in_pct)
    .bind(stats.loss_out_pct)
    .bind(stats.kbps_in)
    .bind(stats.kbps_out)
    .bind(stats.sent.map(|v| v.fps))
    .bind(stats.sent.map(|v| i64::from(v.width)))
    .bind(stats.sent.map(|v| i64::from(v.height)))
    .bind(stats.received.map(|v| v.fps))
    .bind(stats.received.map(|v| i64::from(v.width)))
    .bind(stats.received.map(|v| i64::from(v.height)))
    .bind(stats.candidate.map(|c| c.as_str()))
    .bind(stats.mode.as_str())
    .bind(sample.grade.as_str())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM call_quality_samples
         WHERE visit_id = $1 AND participant_id = $2 AND id NOT IN (
             SELECT id FROM call_quality_samples WHERE visit_id = $1 AND participant_id = $2
             ORDER BY at DESC, id DESC LIMIT $3)",
    )
    .bind(sample.visit_id.as_str())
    .bind(&sample.participant_id)
    .bind(cap)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether any other participant's latest summary since `since` says it
/// sends audio alone.
#[tracing::instrument(skip_all)]
pub async fn others_audio_only(
    tx: &mut Tx,
    visit: &VisitId,
    participant: &str,
    since: Timestamp,
) -> Result<bool, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT participant_id, mode FROM call_quality_samples
         WHERE visit_id = $1 AND participant_id <> $2 AND at >= $3
         ORDER BY at DESC, id DESC LIMIT 50",
    )
    .bind(visit.as_str())
    .bind(participant)
    .bind(since.millis())
    .fetch_all(&mut **tx)
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(who, _)| seen.insert(who.clone()))
        .any(|(_, mode)| mode == "audio_only"))
}

/// The call's measure, made at `at` if this is its first summary, and held
/// until the transaction ends: summaries of both sides arriving at once
/// are folded in one after the other.
#[tracing::instrument(skip_all)]
pub async fn lock_call_measure(
    tx: &mut Tx,
    backend: Backend,
    visit: &VisitId,
    at: Timestamp,
) -> Result<CallMeasure, StoreError> {
    sqlx::query(
        "INSERT INTO call_measures (visit_id, started_at, last_at, audio_only_through)
         VALUES ($1, $2, $2, $2)
         ON CONFLICT (visit_id) DO NOTHING",
    )
    .bind(visit.as_str())
    .bind(at.millis())
    .execute(&mut **tx)
    .await?;
    let lock = backend.row_lock();
    let row: MeasureRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MEASURE_COLUMNS} FROM call_measures WHERE visit_id = $1{lock}"
    )))
    .bind(visit.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(measure(row))
}

/// Writes back a measure taken with [`lock_call_measure`].
#[tracing::instrument(skip_all)]
pub async fn save_call_measure(tx: &mut Tx, m: &CallMeasure) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE call_measures SET last_at = $2, connected_ms = $3, audio_only_ms = $4,
             audio_only_now = $5, audio_only_through = $6, relayed = $7,
             good_samples = $8, fair_samples = $9, poor_samples = $10
         WHERE visit_id = $1",
    )
    .bind(m.visit_id.as_str())
    .bind(m.ended_at.millis())
    .bind(m.connected_ms)
    .bind(m.audio_only_ms)
    .bind(i64::from(m.audio_only_now))
    .bind(m.audio_only_through.millis())
    .bind(i64::from(m.relayed))
    .bind(m.good_samples)
    .bind(m.fair_samples)
    .bind(m.poor_samples)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type MeasureRow = (String, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

const MEASURE_COLUMNS: &str = "visit_id, started_at, last_at, connected_ms, audio_only_ms, relayed, good_samples, fair_samples, poor_samples, audio_only_now, audio_only_through";

fn measure(row: MeasureRow) -> CallMeasure {
    let (visit, started, last, connected, audio, relayed, good, fair, poor, now, through) = row;
    CallMeasure {
        visit_id: VisitId::from_trusted(visit),
        started_at: Timestamp(started),
        ended_at: Timestamp(last),
        connected_ms: connected,
        audio_only_ms: audio,
        audio_only_now: now != 0,
        audio_only_through: Timestamp(through),
        relayed: relayed != 0,
        good_samples: good,
        fair_samples: fair,
        poor_samples: poor,
    }
}

/// The measure's columns as a `LEFT JOIN call_measures m` gives them: all
/// null when no summary came.
pub(super) const JOINED_MEASURE_COLUMNS: &str =
    "m.visit_id AS m_visit_id, m.started_at AS m_started_at,
    m.last_at AS m_last_at, m.connected_ms AS m_connected_ms, m.audio_only_ms AS m_audio_only_ms,
    m.relayed AS m_relayed, m.good_samples AS m_good_samples, m.fair_samples AS m_fair_samples,
    m.poor_samples AS m_poor_samples, m.audio_only_now AS m_audio_only_now,
    m.audio_only_through AS m_audio_only_through";

/// A measure read through [`JOINED_MEASURE_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(super) struct JoinedMeasureRow {
    m_visit_id: Option<String>,
    m_started_at: Option<i64>,
    m_last_at: Option<i64>,
    m_connected_ms: Option<i64>,
    m_audio_only_ms: Option<i64>,
    m_relayed: Option<i64>,
    m_good_samples: Option<i64>,
    m_fair_samples: Option<i64>,
    m_poor_samples: Option<i64>,
    m_audio_only_now: Option<i64>,
    m_audio_only_through: Option<i64>,
}

impl JoinedMeasureRow {
    pub(super) fn measure(self) -> Option<CallMeasure> {
        let or_zero = |v: Option<i64>| v.unwrap_or(0);
        self.m_visit_id.map(|visit| {
            measure((
                visit,
                or_zero(self.m_started_at),
                or_zero(self.m_last_at),
                or_zero(self.m_connected_ms),
                or_zero(self.m_audio_only_ms),
                or_zero(self.m_relayed),
                or_zero(self.m_good_samples),
                or_zero(self.m_fair_samples),
                or_zero(self.m_poor_samples),
                or_zero(self.m_audio_only_now),
                or_zero(self.m_audio_only_through),
            ))
        })
    }
}

/// The call's measure so far, if any summary came.
#[tracing::instrument(skip_all)]
pub async fn call_measure(tx: &mut Tx, visit: &VisitId) -> Result<Option<CallMeasure>, StoreError> {
    let row: Option<MeasureRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MEASURE_COLUMNS} FROM call_measures WHERE visit_id = $1"
    )))
    .bind(visit.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(measure))
}

/// A participant's timeline, oldest first.
#[tracing::instrument(skip_all)]
pub async fn quality_timeline_length(
    tx: &mut Tx,
    visit: &VisitId,
    participant: &str,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM call_quality_samples WHERE visit_id = $1 AND participant_id = $2",
    )
    .bind(visit.as_str())
    .bind(participant)
    .fetch_one(&mut **tx)
    .await?;
    Ok(count)
}

/// One stored quality summary, as the close form shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredSample {
    pub participant_id: String,
    pub role: String,
    pub at: i64,
    pub mode: String,
    pub grade: String,
    pub candidate: Option<String>,
    pub rtt_ms: Option<f64>,
    pub loss_in_pct: Option<f64>,
    pub loss_out_pct: Option<f64>,
}

/// The latest summaries of a visit's call, newest first (at most `limit`).
#[tracing::instrument(skip_all)]
pub async fn recent_quality_samples(
    tx: &mut Tx,
    visit: &VisitId,
    limit: i64,
) -> Result<Vec<StoredSample>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT participant_id, role, at, mode, grade, candidate, rtt_ms, loss_in_pct, loss_out_pct
         FROM call_quality_samples
         WHERE visit_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(visit.as_str())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

/// One admitted visit as the operations view counts it.
#[derive(Debug, Clone)]
pub struct AdmittedCall {
    pub admitted_at: Timestamp,
    pub measure: Option<CallMeasure>,
}

/// Visits admitted at or after `since`, with their call's measure.
#[tracing::instrument(skip_all)]
pub async fn admitted_calls(
    tx: &mut Tx,
    since: Timestamp,
) -> Result<Vec<AdmittedCall>, StoreError> {
    type Row = (
        i64,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.admitted_at, m.visit_id, m.started_at, m.last_at, m.connected_ms,
                m.audio_only_ms, m.relayed, m.good_samples, m.fair_samples, m.poor_samples
         FROM visits v LEFT JOIN call_measures m ON m.visit_id = v.id
         WHERE v.admitted_at IS NOT NULL AND v.admitted_at >= $1
         ORDER BY v.admitted_at",
    )
    .bind(since.millis())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(admitted, visit, started, last, conn, audio, rel, good, fair, poor)| {
                let measure = match (visit, started, last) {
                    (Some(visit), Some(started), Some(last)) => Some(measure((
                        visit,
                        started,
                        last,
                        conn.unwrap_or(0),
                        audio.unwrap_or(0),
                        rel.unwrap_or(0),
                        good.unwrap_or(0),
                        fair.unwrap_or(0),
                        poor.unwrap_or(0),
                        // Where the call stands now: not what this view counts.
                        0,
                        last,
                    ))),
                    _ => None,
                };
                AdmittedCall {
                    admitted_at: Timestamp(admitted),
                    measure,
                }
            },
        )
        .collect())
}
