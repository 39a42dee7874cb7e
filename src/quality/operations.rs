//! The operations view: across admitted visits, how often the call
//! connected, how long admit→connected took (p50/p95), and the shares of
//! calls relayed through TURN and degraded to audio-only, per UTC day.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::timestamp::Timestamp;
use crate::store::{self, AdmittedCall, Store, StoreError};

const DAY_MS: i64 = 86_400_000;

/// One day's figures, or the whole window's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallFigures {
    /// Visits admitted.
    pub admitted: i64,
    /// Of those, calls that connected (a quality summary arrived).
    pub connected: i64,
    /// `connected / admitted`, 0–1; `null` with nothing admitted.
    pub connect_rate: Option<f64>,
    /// Admission to the first summary, in seconds.
    pub admit_to_connected_p50_seconds: Option<f64>,
    pub admit_to_connected_p95_seconds: Option<f64>,
    /// Shares of connected calls, 0–1.
    pub relayed_share: Option<f64>,
    pub audio_only_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    #[serde(flatten)]
    pub figures: CallFigures,
}

/// `GET /admin/operations`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OperationsReport {
    pub days: Vec<DayFigures>,
    pub total: CallFigures,
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The figures of a set of admitted visits.
pub fn figures(calls: &[&AdmittedCall]) -> CallFigures {
    let connected: Vec<_> = calls
        .iter()
        .filter_map(|call| call.measure.as_ref().map(|m| (call.admitted_at, m)))
        .collect();
    let mut waits: Vec<f64> = connected
        .iter()
        .map(|(admitted, m)| (m.started_at.millis() - admitted.millis()).max(0) as f64 / 1000.0)
        .collect();
    waits.sort_by(f64::total_cmp);
    let count = connected.len() as i64;
    CallFigures {
        admitted: calls.len() as i64,
        connected: count,
        connect_rate: share(count, calls.len() as i64),
        admit_to_connected_p50_seconds: percentile(&waits, 50.0),
        admit_to_connected_p95_seconds: percentile(&waits, 95.0),
        relayed_share: share(
            connected.iter().filter(|(_, m)| m.relayed).count() as i64,
            count,
        ),
        audio_only_share: share(
            connected
                .iter()
                .filter(|(_, m)| m.audio_only_ms > 0)
                .count() as i64,
            count,
        ),
    }
}

/// The last `days` UTC days up to `now`, one entry per day (empty days too).
#[tracing::instrument(skip_all)]
pub async fn report(
    store: &Store,
    now: Timestamp,
    days: i64,
) -> Result<OperationsReport, StoreError> {
    let today = now.millis().div_euclid(DAY_MS);
    let first = today - (days - 1);
    let mut tx = store.begin_read().await?;
    let calls = store::admitted_calls(&mut tx, Timestamp(first * DAY_MS)).await?;
    store::commit(tx).await?;
    let days = (first..=today)
        .map(|day| {
            let of_day: Vec<&AdmittedCall> = calls
                .iter()
                .filter(|call| call.admitted_at.millis().div_euclid(DAY_MS) == day)
                .collect();
            DayFigures {
                date: Timestamp(day * DAY_MS).rfc3339()[..10].to_owned(),
                figures: figures(&of_day),
            }
        })
        .collect();
    Ok(OperationsReport {
        days,
        total: figures(&calls.iter().collect::<Vec<_>>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(10.0));
        assert_eq!(percentile(&values, 95.0), Some(19.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[4.0], 95.0), Some(4.0));
    }
}
