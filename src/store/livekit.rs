//! LiveKit calls: webhook events seen (for deduplication) and each
//! participant connection's join and leave times against an encounter,
//! from which the call's measured length is computed.

use super::{StoreError, Tx};
use crate::model::ids::EncounterId;

/// Which side of the call a participant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSide {
    Patient,
    Staff,
}

impl CallSide {
    fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Staff => "staff",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "patient" => Ok(Self::Patient),
            "staff" => Ok(Self::Staff),
            _ => Err(StoreError::Corrupt("call_presence.side")),
        }
    }
}

/// One participant connection (a LiveKit participant sid) in a call.
/// Either time may be missing when its webhook never arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPresence {
    pub participant_sid: String,
    pub identity: String,
    pub side: CallSide,
    /// Unix milliseconds.
    pub joined_at: Option<i64>,
    /// Unix milliseconds.
    pub left_at: Option<i64>,
}

/// Notes a webhook event id; false when it was already seen, in which case
/// the event must not be applied again.
#[tracing::instrument(skip_all)]
pub async fn record_livekit_event(
    tx: &mut Tx,
    id: &str,
    event: &str,
    room: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO livekit_events (id, event, room, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(event)
    .bind(room)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A participant connection joined at `at` (a leave seen first keeps its time).
#[tracing::instrument(skip_all)]
pub async fn record_call_joined(
    tx: &mut Tx,
    encounter: &EncounterId,
    presence: &CallPresence,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_presence (encounter_id, participant_sid, identity, side, joined_at, left_at)
         VALUES ($1, $2, $3, $4, $5, NULL)
         ON CONFLICT (encounter_id, participant_sid)
         DO UPDATE SET joined_at = excluded.joined_at WHERE call_presence.joined_at IS NULL",
    )
    .bind(encounter.as_str())
    .bind(&presence.participant_sid)
    .bind(&presence.identity)
    .bind(presence.side.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A participant connection left at `at`; the first leave counts.
#[tracing::instrument(skip_all)]
pub async fn record_call_left(
    tx: &mut Tx,
    encounter: &EncounterId,
    presence: &CallPresence,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_presence (encounter_id, participant_sid, identity, side, joined_at, left_at)
         VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (encounter_id, participant_sid)
         DO UPDATE SET left_at = excluded.left_at WHERE call_presence.left_at IS NULL",
    )
    .bind(encounter.as_str())
    .bind(&presence.participant_sid)
    .bind(&presence.identity)
    .bind(presence.side.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The room finished at `at`: every connection still in it left then.
/// Returns every connection of the call, as [`call_presence`] would after.
#[tracing::instrument(skip_all)]
pub async fn end_call_presence(
    tx: &mut Tx,
    encounter: &EncounterId,
    at: i64,
) -> Result<Vec<CallPresence>, StoreError> {
    // One statement: rows that had ended keep their time.
    let rows: Vec<PresenceRow> = sqlx::query_as(
        "UPDATE call_presence SET left_at = CASE
                WHEN left_at IS NULL AND joined_at IS NOT NULL AND joined_at <= $2 THEN $2
                ELSE left_at END
         WHERE encounter_id = $1
         RETURNING participant_sid, identity, side, joined_at, left_at",
    )
    .bind(encounter.as_str())
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    presence(rows)
}

/// sid, identity, side, joined_at, left_at.
type PresenceRow = (String, String, String, Option<i64>, Option<i64>);

/// Every participant connection of an encounter's call, earliest first.
#[tracing::instrument(skip_all)]
pub async fn call_presence(
    tx: &mut Tx,
    encounter: &EncounterId,
) -> Result<Vec<CallPresence>, StoreError> {
    let rows: Vec<PresenceRow> = sqlx::query_as(
        "SELECT participant_sid, identity, side, joined_at, left_at FROM call_presence
         WHERE encounter_id = $1 ORDER BY joined_at, participant_sid",
    )
    .bind(encounter.as_str())
    .fetch_all(&mut **tx)
    .await?;
    presence(rows)
}

fn presence(rows: Vec<PresenceRow>) -> Result<Vec<CallPresence>, StoreError> {
    rows.into_iter()
        .map(|(participant_sid, identity, side, joined_at, left_at)| {
            Ok(CallPresence {
                participant_sid,
                identity,
                side: CallSide::parse(&side)?,
                joined_at,
                left_at,
            })
        })
        .collect()
}

/// The measured length of an encounter's call: whole seconds during which
/// the patient and a staff member were both connected. `None` when no
/// connection has both its join and leave recorded.
#[tracing::instrument(skip_all)]
pub async fn measured_call_seconds(
    tx: &mut Tx,
    encounter: &EncounterId,
) -> Result<Option<i64>, StoreError> {
    Ok(overlap_seconds(&call_presence(tx, encounter).await?))
}

/// Seconds covered by both a patient interval and a staff interval;
/// connections missing a time are left out. `None` when no connection has
/// both its join and leave.
pub fn overlap_seconds(presence: &[CallPresence]) -> Option<i64> {
    let side = |wanted: CallSide| {
        merged(
            presence
                .iter()
                .filter(|p| p.side == wanted)
                .filter_map(|p| Some((p.joined_at?, p.left_at?)))
                .filter(|(start, end)| start < end)
                .collect(),
        )
    };
    if !presence
        .iter()
        .any(|p| p.joined_at.is_some() && p.left_at.is_some())
    {
        return None;
    }
    let patient = side(CallSide::Patient);
    let staff = side(CallSide::Staff);
    let mut total = 0;
    for &(a_start, a_end) in &patient {
        for &(b_start, b_end) in &staff {
            total += (a_end.min(b_end) - a_start.max(b_start)).max(0);
        }
    }
    Some(total / 1000)
}

/// Sorts intervals and joins the ones that touch or overlap.
fn merged(mut intervals: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    intervals.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(side: CallSide, sid: &str, joined: Option<i64>, left: Option<i64>) -> CallPresence {
        CallPresence {
            participant_sid: sid.to_owned(),
            identity: sid.to_owned(),
            side,
            joined_at: joined,
            left_at: left,
        }
    }

    #[test]
    fn the_call_lasts_while_both_sides_are_connected() {
        let presence = [
            at(CallSide::Patient, "PA_1", Some(0), Some(600_000)),
            at(CallSide::Staff, "PA_2", Some(60_000), Some(660_000)),
        ];
        assert_eq!(overlap_seconds(&presence), Some(540));
    }

    #[test]
    fn a_reconnect_is_not_counted_twice() {
        let presence = [
            at(CallSide::Patient, "PA_1", Some(0), Some(300_000)),
            at(CallSide::Patient, "PA_3", Some(290_000), Some(600_000)),
            at(CallSide::Staff, "PA_2", Some(0), Some(600_000)),
            at(CallSide::Staff, "PA_4", Some(100_000), Some(200_000)),
        ];
        assert_eq!(overlap_seconds(&presence), Some(600));
    }

    #[test]
    fn open_connections_are_left_out_and_nothing_known_is_none() {
        assert_eq!(overlap_seconds(&[]), None);
        let open = [
            at(CallSide::Patient, "PA_1", Some(0), None),
            at(CallSide::Staff, "PA_2", Some(0), None),
        ];
        assert_eq!(overlap_seconds(&open), None);
        let one_sided = [at(CallSide::Patient, "PA_1", Some(0), Some(5_000))];
        assert_eq!(overlap_seconds(&one_sided), Some(0));
    }
}
