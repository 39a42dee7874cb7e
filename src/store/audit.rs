//! The append-only audit log and its hash chain. An event is written in
//! the transaction of the change it records, into `audit_pending`; the
//! sealer then numbers and links waiting events into `audit_events` in
//! batches, holding the chain head once a batch rather than once a request.

use super::sql::{ROWS_PER_STATEMENT, Row, Sql, insert_rows, write_rows};
use super::writes::Writes;
use super::{Backend, StoreError, Tx};
use crate::model::audit::{AuditEntry, AuditEvent, ChainReport, GENESIS_HASH, verify_chain};
use crate::model::timestamp::Timestamp;

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    actor_role: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    patient_id: Option<String>,
    ip: Option<String>,
    outcome: String,
    prev_hash: String,
    hash: String,
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            seq: r.seq,
            at: Timestamp(r.at),
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            patient_id: r.patient_id,
            ip: r.ip,
            outcome: r.outcome,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

const COLUMNS: &str =
    "seq, at, actor_type, actor_id, actor_role, action, resource_type, resource_id,
    patient_id, ip, outcome, prev_hash, hash";

/// Records one event in the caller's transaction; the sealer links it into
/// the chain shortly after commit ([`seal_audit`]).
pub async fn append_audit(tx: &mut Tx, entry: &AuditEntry) -> Result<(), StoreError> {
    append_audits(tx, std::slice::from_ref(entry)).await
}

/// Records several events in the caller's transaction, in order. They wait
/// in `audit_pending`, committed or rolled back with the change they
/// record, so a writer never waits on another for the chain head.
#[tracing::instrument(skip_all)]
pub async fn append_audits(tx: &mut Tx, entries: &[AuditEntry]) -> Result<(), StoreError> {
    insert_rows(tx, PENDING_HEAD, "", entries, pending_values).await
}

/// Adds the events to `writes`, in order, as [`append_audits`] records them.
pub fn write_audits(writes: &mut Writes, entries: &[AuditEntry]) {
    write_rows(writes, PENDING_HEAD, "", entries, pending_values);
}

const PENDING_HEAD: &str =
    "INSERT INTO audit_pending (at, actor_type, actor_id, actor_role, action,
     resource_type, resource_id, patient_id, ip, outcome) VALUES ";

fn pending_values(row: &mut Row<'_>, entry: &AuditEntry) {
    row.bind(entry.actor.at.millis())
        .bind(entry.actor.kind)
        .bind(entry.actor.id.clone())
        .bind(entry.actor.role.clone())
        .bind(entry.action)
        .bind(entry.resource_type)
        .bind(entry.resource_id.clone())
        .bind(entry.patient_id.clone())
        .bind(entry.actor.ip.clone())
        .bind(entry.outcome.as_str());
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: i64,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    actor_role: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    patient_id: Option<String>,
    ip: Option<String>,
    outcome: String,
}

/// Whether any event waits to be sealed. Through the key's index: a scan
/// of the table would walk every row sealed and deleted since the last
/// vacuum first.
#[tracing::instrument(skip_all)]
pub async fn audit_pending(pool: &sqlx::AnyPool) -> Result<bool, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM audit_pending ORDER BY id LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Links up to `limit` waiting events into the hash chain, oldest first,
/// and says how many. Holds the chain head until the transaction ends, so
/// sealers on several nodes take turns; the chain's order is the order of
/// sealing.
#[tracing::instrument(skip_all)]
pub async fn seal_audit(tx: &mut Tx, backend: Backend, limit: i64) -> Result<usize, StoreError> {
    let lock = backend.row_lock();
    let (head_seq, mut prev_hash): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT seq, last_hash FROM audit_chain WHERE id = 1{lock}"
    )))
    .fetch_one(&mut **tx)
    .await?;
    let pending: Vec<PendingRow> = sqlx::query_as(
        "SELECT id, at, actor_type, actor_id, actor_role, action, resource_type, resource_id,
             patient_id, ip, outcome
         FROM audit_pending ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = pending.iter().map(|row| row.id).collect();
    let mut events = Vec::with_capacity(pending.len());
    for (seq, row) in (head_seq + 1..).zip(pending) {
        let mut event = AuditEvent {
            seq,
            at: Timestamp(row.at),
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            patient_id: row.patient_id,
            ip: row.ip,
            outcome: row.outcome,
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.expected_hash();
        prev_hash = event.hash.clone();
        events.push(event);
    }
    insert_events(tx, &events).await?;
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("DELETE FROM audit_pending WHERE ");
        sql.push_in("id", chunk.iter().copied());
        sql.execute(tx).await?;
    }
    let last_seq = events.last().map_or(head_seq, |event| event.seq);
    sqlx::query("UPDATE audit_chain SET seq = $1, last_hash = $2 WHERE id = 1")
        .bind(last_seq)
        .bind(&prev_hash)
        .execute(&mut **tx)
        .await?;
    Ok(events.len())
}

/// Chained events, several to a statement.
async fn insert_events(tx: &mut Tx, events: &[AuditEvent]) -> Result<(), StoreError> {
    insert_rows(
        tx,
        "INSERT INTO audit_events (seq, at, actor_type, actor_id, actor_role, action, resource_type,
            resource_id, patient_id, ip, outcome, prev_hash, hash)
         VALUES ",
        "",
        events,
        |row, event| {
            row.bind(event.seq)
                .bind(event.at.millis())
                .bind(event.actor_type.clone())
                .bind(event.actor_id.clone())
                .bind(event.actor_role.clone())
                .bind(event.action.clone())
                .bind(event.resource_type.clone())
                .bind(event.resource_id.clone())
                .bind(event.patient_id.clone())
                .bind(event.ip.clone())
                .bind(event.outcome.clone())
                .bind(event.prev_hash.clone())
                .bind(event.hash.clone());
        },
    )
    .await
}

/// A patient's events, newest first, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn audit_events_for_patient(
    tx: &mut Tx,
    patient_id: &str,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_events WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2"
    ));
    let rows: Vec<EventRow> = sqlx::query_as(sql)
        .bind(patient_id)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

/// Walks the whole chain in pages up to the head read at the start, and
/// checks every link and that the head points at the last event.
#[tracing::instrument(skip_all)]
pub async fn verify_audit_chain(tx: &mut Tx) -> Result<ChainReport, StoreError> {
    const PAGE: i64 = 1_000;
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, last_hash FROM audit_chain WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
    );
    let (mut after, mut prev, mut checked) = (0_i64, GENESIS_HASH.to_owned(), 0_i64);
    let broken = |checked, seq| ChainReport {
        valid: false,
        events_checked: checked,
        first_broken_seq: Some(seq),
    };
    while after < head_seq {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(after)
            .bind(head_seq)
            .bind(PAGE)
            .fetch_all(&mut **tx)
            .await?;
        let events: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
        match events.first() {
            Some(first) if first.seq == after + 1 => {}
            _ => return Ok(broken(checked, after + 1)),
        }
        let report = verify_chain(&prev, &events);
        checked += report.events_checked;
        if !report.valid {
            return Ok(ChainReport {
                events_checked: checked,
                ..report
            });
        }
        let last = events.last().expect("checked non-empty above");
        after = last.seq;
        prev.clone_from(&last.hash);
    }
    if prev != head_hash {
        return Ok(broken(checked, head_seq));
    }
    Ok(ChainReport {
        valid: true,
        events_checked: checked,
        first_broken_seq: None,
    })
}

/// What an admin narrows the trail to; `None` is any.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub patient_id: Option<String>,
    /// The acting user (or patient, or guest) id.
    pub actor_id: Option<String>,
    pub action: Option<String>,
    /// From this time on (inclusive), in ms.
    pub from: Option<Timestamp>,
    /// Before this time (exclusive), in ms.
    pub to: Option<Timestamp>,
}

const AUDIT_WHERE: &str = "WHERE ($1 IS NULL OR patient_id = $1) AND ($2 IS NULL OR actor_id = $2)
       AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5)";

/// One page of matching events, newest first, and how many match in all.
#[tracing::instrument(skip_all)]
pub async fn search_audit(
    tx: &mut Tx,
    query: &AuditQuery,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditEvent>, i64), StoreError> {
    let count_sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_events {AUDIT_WHERE}"));
    let (total,): (i64,) = sqlx::query_as(count_sql)
        .bind(&query.patient_id)
        .bind(&query.actor_id)
        .bind(&query.action)
        .bind(query.from.map(Timestamp::millis))
        .bind(query.to.map(Timestamp::millis))
        .fetch_one(&mut **tx)
        .await?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_events {AUDIT_WHERE} ORDER BY seq DESC LIMIT $6 OFFSET $7"
    ));
    let rows: Vec<EventRow> = sqlx::query_as(sql)
        .bind(&query.patient_id)
        .bind(&query.actor_id)
        .bind(&query.action)
        .bind(query.from.map(Timestamp::millis))
        .bind(query.to.map(Timestamp::millis))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut **tx)
        .await?;
    Ok((rows.into_iter().map(AuditEvent::from).collect(), total))
}
