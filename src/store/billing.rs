//! Claims, the billing outbox's consumer side, patient account postings,
//! remittances and the billing webhook's delivery queue. Claims are unique
//! per encounter; outbox and delivery rows are taken with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL so several nodes can work at once (SQLite's
//! `BEGIN IMMEDIATE` already lets one writer in at a time).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::sql::{ROWS_PER_STATEMENT, Sql, insert_rows};
use super::{Backend, StoreError, Tx};
use crate::model::billing_codes::PlaceOfService;
use crate::model::claim::{
    AccountEntry, Claim, ClaimFacts, ClaimFrequency, ClaimId, ClaimLine, ClaimPayer, ClaimStatus,
    EntryKind, RemittanceHold,
};
use crate::model::codes::Icd10;
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::visit::{EncounterStatus, PatientLocation, VisitStatus};

/// An outbox row not yet turned into a claim.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub visit_id: VisitId,
    pub encounter_id: EncounterId,
    pub attempts: i64,
}

/// Rows that failed this often are left for an operator.
pub const OUTBOX_MAX_ATTEMPTS: i64 = 10;

fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

/// Takes the oldest pending outbox row; on PostgreSQL it stays locked to
/// this transaction and other workers pass it by.
#[tracing::instrument(skip_all)]
pub async fn next_outbox(tx: &mut Tx, backend: Backend) -> Result<Option<OutboxRow>, StoreError> {
    Ok(next_outboxes(tx, backend, 1).await?.pop())
}

/// Takes up to `limit` of the oldest pending outbox rows, oldest first,
/// locked like [`next_outbox`]'s.
#[tracing::instrument(skip_all)]
pub async fn next_outboxes(
    tx: &mut Tx,
    backend: Backend,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = format!(
        "SELECT id, visit_id, encounter_id, attempts FROM billing_outbox
         WHERE processed_at IS NULL AND attempts < {OUTBOX_MAX_ATTEMPTS}
         ORDER BY attempts, created_at, id LIMIT $1{}",
        skip_locked(backend)
    );
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, visit, encounter, attempts)| OutboxRow {
            id,
            visit_id: VisitId::from_trusted(visit),
            encounter_id: EncounterId::from_trusted(encounter),
            attempts,
        })
        .collect())
}

#[tracing::instrument(skip_all)]
pub async fn mark_outbox_processed(tx: &mut Tx, id: &str, now: i64) -> Result<(), StoreError> {
    mark_outboxes_processed(tx, &[id], now).await
}

/// Marks a batch's rows processed with one statement.
#[tracing::instrument(skip_all)]
pub async fn mark_outboxes_processed(
    tx: &mut Tx,
    ids: &[&str],
    now: i64,
) -> Result<(), StoreError> {
    for ids in ids.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE billing_outbox SET processed_at = ");
        sql.push_bind(now)
            .push(", attempts = attempts + 1 WHERE ")
            .push_in("id", ids.iter().copied());
        sql.execute(tx).await?;
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn bump_outbox_attempts(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE billing_outbox SET attempts = attempts + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Pending outbox rows, for metrics and tests.
#[tracing::instrument(skip_all)]
pub async fn pending_outbox(tx: &mut Tx) -> Result<i64, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM billing_outbox WHERE processed_at IS NULL")
            .fetch_one(&mut **tx)
            .await?;
    Ok(n)
}

/// What billing finds for a visit handed to it.
#[derive(Debug)]
pub enum ToBill {
    /// Its encounter has its claim already.
    AlreadyBilled,
    /// The visit is not closed (or gone): nothing to bill.
    NotClosed,
    /// What its claim is made from.
    Facts(Box<ClaimFacts>),
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    visit_id: String,
    status: String,
    billed: Option<String>,
    previous_end: Option<i64>,
    patient_id: String,
    encounter_id: String,
    total_minutes: Option<i64>,
    new_patient: Option<i64>,
    audio_only: i64,
    patient_location: Option<String>,
    period_start: Option<i64>,
    period_end: Option<i64>,
    closed_at: Option<i64>,
    payer_id: Option<String>,
    payer_name: Option<String>,
    member_id: Option<String>,
    group_number: Option<String>,
    modality_reason: Option<String>,
}

/// The facts a visit's claim is made from, unless it is billed already or
/// not closed.
#[tracing::instrument(skip_all)]
pub async fn claim_facts(tx: &mut Tx, visit: &VisitId) -> Result<ToBill, StoreError> {
    Ok(claims_facts(tx, std::slice::from_ref(visit))
        .await?
        .pop()
        .unwrap_or(ToBill::NotClosed))
}

/// [`claim_facts`] for several visits, in their order, with two
/// statements: the visits (with the claim each may have already and the
/// patient's previous finished encounter, see `previous_encounter_end`),
/// then their diagnoses.
#[tracing::instrument(skip_all)]
pub async fn claims_facts(tx: &mut Tx, visits: &[VisitId]) -> Result<Vec<ToBill>, StoreError> {
    let mut found: HashMap<String, FactsRow> = HashMap::with_capacity(visits.len());
    for visits in visits.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "SELECT v.id AS visit_id, v.status,
                    (SELECT c.id FROM claims c WHERE c.encounter_id = v.encounter_id) AS billed,
                    (SELECT MAX(o.period_end) FROM encounters o
                     WHERE o.patient_id = v.patient_id AND o.id <> v.encounter_id AND o.status = ",
        );
        sql.push_bind(EncounterStatus::Finished.as_str())
            .push(
                " AND o.period_end IS NOT NULL
                       AND o.period_end <= COALESCE(e.period_start, e.period_end, v.closed_at)) AS previous_end,
                    v.patient_id, v.encounter_id, v.total_minutes, v.new_patient, v.audio_only,
                    e.patient_location, e.period_start, e.period_end, v.closed_at,
                    p.payer_id, p.payer_name, p.member_id, p.group_number, v.modality_reason
             FROM visits v JOIN encounters e ON e.id = v.encounter_id JOIN patients p ON p.id = v.patient_id
             WHERE ",
            )
            .push_in("v.id", visits.iter().map(|v| v.as_str().to_owned()));
        for row in sql.fetch_all::<FactsRow>(tx).await? {
            found.insert(row.visit_id.clone(), row);
        }
    }
    let billable: Vec<String> = found
        .values()
        .filter(|r| r.billed.is_none() && r.status == VisitStatus::Closed.as_str())
        .map(|r| r.encounter_id.clone())
        .collect();
    let mut diagnoses: HashMap<String, Vec<Icd10>> = HashMap::with_capacity(billable.len());
    for encounters in billable.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("SELECT encounter_id, code FROM conditions WHERE ");
        sql.push_in("encounter_id", encounters.iter().cloned())
            .push(" ORDER BY encounter_id, rank, recorded_at, id");
        for (encounter, code) in sql.fetch_all::<(String, String)>(tx).await? {
            let code = Icd10::parse(&code).map_err(|_| StoreError::Corrupt("conditions.code"))?;
            diagnoses.entry(encounter).or_default().push(code);
        }
    }
    visits
        .iter()
        .map(|visit| match found.remove(visit.as_str()) {
            None => Ok(ToBill::NotClosed),
            Some(row) => {
                let codes = diagnoses.remove(&row.encounter_id).unwrap_or_default();
                to_bill(row, codes)
            }
        })
        .collect()
}

fn to_bill(r: FactsRow, diagnoses: Vec<Icd10>) -> Result<ToBill, StoreError> {
    if r.billed.is_some() {
        return Ok(ToBill::AlreadyBilled);
    }
    if r.status != VisitStatus::Closed.as_str() {
        return Ok(ToBill::NotClosed);
    }
    let period_end = r
        .period_end
        .or(r.closed_at)
        .ok_or(StoreError::Corrupt("visits.closed_at"))?;
    let payer = match (r.payer_id, r.payer_name, r.member_id, r.group_number) {
        (Some(payer_id), Some(payer_name), Some(member_id), group_number) => Some(ClaimPayer {
            payer_id,
            payer_name,
            member_id,
            group_number,
        }),
        _ => None,
    };
    Ok(ToBill::Facts(Box::new(ClaimFacts {
        patient_id: PatientId::from_trusted(r.patient_id),
        total_minutes: r.total_minutes.unwrap_or(0),
        new_patient: r.new_patient.map(|v| v != 0),
        audio_only: r.audio_only != 0,
        patient_location: match r.patient_location {
            Some(text) => Some(
                PatientLocation::parse(&text)
                    .ok_or(StoreError::Corrupt("encounters.patient_location"))?,
            ),
            None => None,
        },
        period_start: r.period_start.map(Timestamp),
        period_end: Timestamp(period_end),
        payer,
        diagnoses,
        previous_encounter_end: r.previous_end.map(Timestamp),
        modality_reason: r.modality_reason,
    })))
}

/// When the patient's latest finished encounter other than `encounter`
/// ended, at or before `before`.
pub async fn previous_encounter_end(
    tx: &mut Tx,
    patient: &PatientId,
    encounter: &EncounterId,
    before: Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let (previous,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(period_end) FROM encounters
         WHERE patient_id = $1 AND id <> $2 AND status = $4
           AND period_end IS NOT NULL AND period_end <= $3",
    )
    .bind(patient.as_str())
    .bind(encounter.as_str())
    .bind(before.millis())
    .bind(EncounterStatus::Finished.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(previous.map(Timestamp))
}

pub(super) const CLAIM_COLUMNS: &str = "id, number, encounter_id, visit_id, patient_id, status, review_reason, status_reason,
    payer_id, payer_name, member_id, group_number, place_of_service, new_patient, audio_only, total_minutes,
    service_date, diagnoses, lines, paid_cents, created_at, updated_at, submitted_at, frequency, payer_claim_number,
    modality_reason";

#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    id: String,
    number: String,
    encounter_id: String,
    visit_id: String,
    patient_id: String,
    status: String,
    review_reason: Option<String>,
    status_reason: Option<String>,
    payer_id: Option<String>,
    payer_name: Option<String>,
    member_id: Option<String>,
    group_number: Option<String>,
    place_of_service: String,
    new_patient: i64,
    audio_only: i64,
    total_minutes: i64,
    service_date: String,
    diagnoses: String,
    lines: String,
    paid_cents: i64,
    created_at: i64,
    updated_at: i64,
    submitted_at: Option<i64>,
    frequency: String,
    payer_claim_number: Option<String>,
    modality_reason: Option<String>,
}

impl TryFrom<ClaimRow> for Claim {
    type Error = StoreError;

    fn try_from(r: ClaimRow) -> Result<Self, StoreError> {
        let diagnoses: Vec<String> = serde_json::from_str(&r.diagnoses)
            .map_err(|_| StoreError::Corrupt("claims.diagnoses"))?;
        let diagnoses = diagnoses
            .iter()
            .map(|d| Icd10::parse(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StoreError::Corrupt("claims.diagnoses"))?;
        let lines: Vec<ClaimLine> =
            serde_json::from_str(&r.lines).map_err(|_| StoreError::Corrupt("claims.lines"))?;
        let payer = match (r.payer_id, r.payer_name, r.member_id) {
            (Some(payer_id), Some(payer_name), Some(member_id)) => Some(ClaimPayer {
                payer_id,
                payer_name,
                member_id,
                group_number: r.group_number,
            }),
            _ => None,
        };
        Ok(Claim {
            id: ClaimId::from_trusted(r.id),
            number: r.number,
            encounter_id: EncounterId::from_trusted(r.encounter_id),
            visit_id: VisitId::from_trusted(r.visit_id),
            patient_id: PatientId::from_trusted(r.patient_id),
            status: ClaimStatus::parse(&r.status).ok_or(StoreError::Corrupt("claims.status"))?,
            review_reason: r.review_reason,
            status_reason: r.status_reason,
            payer,
            place_of_service: PlaceOfService::parse(&r.place_of_service)
                .map_err(|_| StoreError::Corrupt("claims.place_of_service"))?,
            new_patient: r.new_patient != 0,
            audio_only: r.audio_only != 0,
            total_minutes: r.total_minutes,
            service_date: NaiveDate::parse_from_str(&r.service_date, "%Y-%m-%d")
                .map_err(|_| StoreError::Corrupt("claims.service_date"))?,
            diagnoses,
            // The total is always the lines' sum, whatever was stored.
            total_cents: Claim::sum_of_lines(&lines),
            lines,
            paid_cents: r.paid_cents,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            submitted_at: r.submitted_at.map(Timestamp),
            frequency: ClaimFrequency::from_code(&r.frequency)
                .ok_or(StoreError::Corrupt("claims.frequency"))?,
            payer_claim_number: r.payer_claim_number,
            modality_reason: r.modality_reason,
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| StoreError::Corrupt("claim json"))
}

/// Inserts claims, several to a statement; one whose encounter has a claim
/// already is left out. Returns the ids of those inserted.
#[tracing::instrument(skip_all)]
pub async fn insert_claims(tx: &mut Tx, claims: &[Claim]) -> Result<Vec<ClaimId>, StoreError> {
    let mut inserted = Vec::with_capacity(claims.len());
    for claims in claims.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "INSERT INTO claims (id, number, encounter_id, visit_id, patient_id, status, review_reason, status_reason,
                payer_id, payer_name, member_id, group_number, place_of_service, new_patient, audio_only, total_minutes,
                service_date, diagnoses, lines, total_cents, paid_cents, created_at, updated_at, submitted_at, modality_reason)
             VALUES ",
        );
        for (i, claim) in claims.iter().enumerate() {
            let payer = claim.payer.as_ref();
            let diagnoses: Vec<&str> = claim.diagnoses.iter().map(Icd10::as_str).collect();
            let (diagnoses, lines) = (json(&diagnoses)?, json(&claim.lines)?);
            sql.push_row(i, |row| {
                row.bind(claim.id.as_str().to_owned())
                    .bind(claim.number.clone())
                    .bind(claim.encounter_id.as_str().to_owned())
                    .bind(claim.visit_id.as_str().to_owned())
                    .bind(claim.patient_id.as_str().to_owned())
                    .bind(claim.status.as_str())
                    .bind(claim.review_reason.clone())
                    .bind(claim.status_reason.clone())
                    .bind(payer.map(|p| p.payer_id.clone()))
                    .bind(payer.map(|p| p.payer_name.clone()))
                    .bind(payer.map(|p| p.member_id.clone()))
                    .bind(payer.and_then(|p| p.group_number.clone()))
                    .bind(claim.place_of_service.code())
                    .bind(i64::from(claim.new_patient))
                    .bind(i64::from(claim.audio_only))
                    .bind(claim.total_minutes)
                    .bind(claim.service_date.format("%Y-%m-%d").to_string())
                    .bind(diagnoses)
                    .bind(lines)
                    .bind(Claim::sum_of_lines(&claim.lines))
                    .bind(claim.paid_cents)
                    .bind(claim.created_at.millis())
                    .bind(claim.updated_at.millis())
                    .bind(claim.submitted_at.map(Timestamp::millis))
                    .bind(claim.modality_reason.clone());
            });
        }
        sql.push(" ON CONFLICT (encounter_id) DO NOTHING RETURNING id");
        let ids: Vec<(String,)> = sql.fetch_all(tx).await.map_err(|e| match e {
            StoreError::Database(e) => StoreError::on_unique(e, "claim number"),
            other => other,
        })?;
        inserted.extend(ids.into_iter().map(|(id,)| ClaimId::from_trusted(id)));
    }
    Ok(inserted)
}

/// Writes a claim's mutable fields if its status is still `expected`.
/// False when another writer moved it first.
#[tracing::instrument(skip_all)]
pub async fn update_claim(
    tx: &mut Tx,
    claim: &Claim,
    expected: ClaimStatus,
) -> Result<bool, StoreError> {
    let diagnoses: Vec<&str> = claim.diagnoses.iter().map(Icd10::as_str).collect();
    let done = sqlx::query(
        "UPDATE claims SET status = $2, review_reason = $3, status_reason = $4, diagnoses = $5, lines = $6,
            total_cents = $7, paid_cents = $8, updated_at = $9, submitted_at = $10, new_patient = $11,
            frequency = $13, payer_claim_number = $14
         WHERE id = $1 AND status = $12",
    )
    .bind(claim.id.as_str())
    .bind(claim.status.as_str())
    .bind(claim.review_reason.as_deref())
    .bind(claim.status_reason.as_deref())
    .bind(json(&diagnoses)?)
    .bind(json(&claim.lines)?)
    .bind(Claim::sum_of_lines(&claim.lines))
    .bind(claim.paid_cents)
    .bind(claim.updated_at.millis())
    .bind(claim.submitted_at.map(Timestamp::millis))
    .bind(i64::from(claim.new_patient))
    .bind(expected.as_str())
    .bind(claim.frequency.code())
    .bind(claim.payer_claim_number.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn get_claim(tx: &mut Tx, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
    let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE id = $1");
    let row: Option<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Claim::try_from).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn claim_by_number(tx: &mut Tx, number: &str) -> Result<Option<Claim>, StoreError> {
    let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE number = $1");
    let row: Option<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Claim::try_from).transpose()
}

/// Claims by encounter, patient and status (each optional), oldest first.
#[tracing::instrument(skip_all)]
pub async fn find_claims(
    tx: &mut Tx,
    encounter: Option<&str>,
    patient: Option<&str>,
    status: Option<ClaimStatus>,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let sql = format!(
        "SELECT {CLAIM_COLUMNS} FROM claims
         WHERE ($1 IS NULL OR encounter_id = $1) AND ($2 IS NULL OR patient_id = $2) AND ($3 IS NULL OR status = $3)
         ORDER BY created_at, id LIMIT $4"
    );
    let rows: Vec<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(encounter)
        .bind(patient)
        .bind(status.map(ClaimStatus::as_str))
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Claim::try_from).collect()
}

/// Locks the ready claims for a batch export (PostgreSQL), oldest first.
#[tracing::instrument(skip_all)]
pub async fn ready_claims_for_export(
    tx: &mut Tx,
    backend: Backend,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let sql = format!(
        "SELECT {CLAIM_COLUMNS} FROM claims WHERE status = $2 ORDER BY created_at, id LIMIT $1{}",
        skip_locked(backend)
    );
    let rows: Vec<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .bind(ClaimStatus::Ready.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Claim::try_from).collect()
}

/// A posting to a patient's account.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub patient: &'a PatientId,
    pub claim: Option<&'a ClaimId>,
    pub kind: EntryKind,
    pub amount_cents: i64,
    pub note: Option<&'a str>,
    pub remittance: Option<&'a str>,
    pub created_by: Option<&'a str>,
    pub at: i64,
}

#[tracing::instrument(skip_all)]
pub async fn insert_account_entry(
    tx: &mut Tx,
    entry: NewEntry<'_>,
) -> Result<AccountEntry, StoreError> {
    let posted = AccountEntry {
        id: uuid::Uuid::now_v7().to_string(),
        kind: entry.kind,
        claim_id: entry.claim.cloned(),
        amount_cents: entry.amount_cents,
        note: entry.note.map(str::to_owned),
        at: Timestamp(entry.at),
    };
    insert_account_entries(tx, &[(posted.id.as_str(), entry)]).await?;
    Ok(posted)
}

/// Posts several entries (each with its id), several to a statement.
#[tracing::instrument(skip_all)]
pub async fn insert_account_entries(
    tx: &mut Tx,
    entries: &[(&str, NewEntry<'_>)],
) -> Result<(), StoreError> {
    insert_rows(
        tx,
        "INSERT INTO account_entries (id, patient_id, claim_id, kind, amount_cents, note, remittance_id, created_by, at)
         VALUES ",
        "",
        entries,
        |row, (id, entry)| {
            row.bind(id.to_string())
                .bind(entry.patient.as_str().to_owned())
                .bind(entry.claim.map(|c| c.as_str().to_owned()))
                .bind(entry.kind.as_str())
                .bind(entry.amount_cents)
                .bind(entry.note.map(str::to_owned))
                .bind(entry.remittance.map(str::to_owned))
                .bind(entry.created_by.map(str::to_owned))
                .bind(entry.at);
        },
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn account_entries(
    tx: &mut Tx,
    patient: &PatientId,
) -> Result<Vec<AccountEntry>, StoreError> {
    type Row = (String, String, Option<String>, i64, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, claim_id, amount_cents, note, at FROM account_entries
         WHERE patient_id = $1 ORDER BY at, id",
    )
    .bind(patient.as_str())
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(id, kind, claim, amount_cents, note, at)| {
            Ok(AccountEntry {
                id,
                kind: EntryKind::parse(&kind).ok_or(StoreError::Corrupt("account_entries.kind"))?,
                claim_id: claim.map(ClaimId::from_trusted),
                amount_cents,
                note,
                at: Timestamp(at),
            })
        })
        .collect()
}

/// Records an imported remittance; a repeated trace number is a duplicate.
#[tracing::instrument(skip_all)]
pub async fn insert_remittance(
    tx: &mut Tx,
    id: &str,
    trace_number: &str,
    total_cents: i64,
    imported_by: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO remittances (id, trace_number, total_cents, imported_by, imported_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(trace_number)
    .bind(total_cents)
    .bind(imported_by)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "remittance trace number"))?;
    Ok(())
}

/// Holds a remittance's answer on one claim for review.
#[tracing::instrument(skip_all)]
pub async fn insert_remittance_hold(tx: &mut Tx, hold: &RemittanceHold) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO remittance_holds (id, remittance_id, claim_number, claim_id, reason, charge_cents, paid_cents, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&hold.id)
    .bind(&hold.remittance_id)
    .bind(&hold.claim_number)
    .bind(hold.claim_id.as_ref().map(ClaimId::as_str))
    .bind(&hold.reason)
    .bind(hold.charge_cents)
    .bind(hold.paid_cents)
    .bind(hold.created_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Held remittance answers not yet resolved, oldest first.
#[tracing::instrument(skip_all)]
pub async fn open_remittance_holds(tx: &mut Tx) -> Result<Vec<RemittanceHold>, StoreError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, remittance_id, claim_number, claim_id, reason, charge_cents, paid_cents, created_at
         FROM remittance_holds WHERE resolved_at IS NULL ORDER BY created_at, id LIMIT 1000",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, remittance_id, claim_number, claim, reason, charge_cents, paid_cents, at)| {
                RemittanceHold {
                    id,
                    remittance_id,
                    claim_number,
                    claim_id: claim.map(ClaimId::from_trusted),
                    reason,
                    charge_cents,
                    paid_cents,
                    created_at: Timestamp(at),
                }
            },
        )
        .collect())
}

/// Queues several claims' announcements, several to a statement; a claim
/// already queued is left as it is.
#[tracing::instrument(skip_all)]
pub async fn insert_webhook_deliveries(
    tx: &mut Tx,
    deliveries: &[(&ClaimId, String)],
    now: i64,
) -> Result<(), StoreError> {
    insert_rows(
        tx,
        "INSERT INTO billing_webhook_deliveries (id, claim_id, payload, next_attempt_at, created_at) VALUES ",
        " ON CONFLICT (claim_id) DO NOTHING",
        deliveries,
        |row, (claim, payload)| {
            row.bind(uuid::Uuid::now_v7().to_string())
                .bind(claim.as_str().to_owned())
                .bind(payload.clone())
                .bind(now)
                .bind(now);
        },
    )
    .await
}

/// A delivery taken for one attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub payload: String,
    pub attempts: i64,
}

/// Leases up to `limit` due deliveries, oldest due first, until
/// `lease_until`: no other attempt takes them meanwhile (locked past other
/// nodes on PostgreSQL until this transaction commits).
#[tracing::instrument(skip_all)]
pub async fn lease_due_deliveries(
    tx: &mut Tx,
    backend: Backend,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DueDelivery>, StoreError> {
    let sql = format!(
        "SELECT id, payload, attempts FROM billing_webhook_deliveries
         WHERE delivered_at IS NULL AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2{}",
        skip_locked(backend)
    );
    let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    for rows in rows.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE billing_webhook_deliveries SET next_attempt_at = ");
        sql.push_bind(lease_until)
            .push(" WHERE ")
            .push_in("id", rows.iter().map(|(id, _, _)| id.as_str()));
        sql.execute(tx).await?;
    }
    Ok(rows
        .into_iter()
        .map(|(id, payload, attempts)| DueDelivery {
            id,
            payload,
            attempts,
        })
        .collect())
}

/// One attempt at a delivery and what came of it: delivered, or due again
/// at `next_attempt_at`.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub id: String,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    pub delivered_at: Option<i64>,
    pub next_attempt_at: i64,
}

impl DeliveryAttempt {
    pub fn acknowledged(&self) -> bool {
        self.delivered_at.is_some()
    }
}

/// Records attempts, several to a statement.
#[tracing::instrument(skip_all)]
pub async fn record_delivery_attempts(
    tx: &mut Tx,
    attempts: &[DeliveryAttempt],
) -> Result<(), StoreError> {
    for attempts in attempts.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "UPDATE billing_webhook_deliveries SET attempts = attempts + 1, last_status = a.status,
                delivered_at = a.delivered_at, next_attempt_at = a.next_attempt_at
             FROM (",
        );
        for (i, attempt) in attempts.iter().enumerate() {
            sql.push(if i == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            sql.push_bind(attempt.id.clone())
                .push(" AS id, ")
                .push_bind(attempt.status)
                .push(" AS status, ")
                .push_bind(attempt.delivered_at)
                .push(" AS delivered_at, ")
                .push_bind(attempt.next_attempt_at)
                .push(" AS next_attempt_at");
        }
        sql.push(") AS a WHERE billing_webhook_deliveries.id = a.id");
        sql.execute(tx).await?;
    }
    Ok(())
}

/// Writes a claim's payer (a released claim may take the patient's new insurance).
#[tracing::instrument(skip_all)]
pub async fn set_claim_payer(tx: &mut Tx, claim: &Claim) -> Result<(), StoreError> {
    let payer = claim.payer.as_ref();
    sqlx::query(
        "UPDATE claims SET payer_id = $2, payer_name = $3, member_id = $4, group_number = $5 WHERE id = $1",
    )
    .bind(claim.id.as_str())
    .bind(payer.map(|p| p.payer_id.as_str()))
    .bind(payer.map(|p| p.payer_name.as_str()))
    .bind(payer.map(|p| p.member_id.as_str()))
    .bind(payer.and_then(|p| p.group_number.as_deref()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
