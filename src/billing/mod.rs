//! Billing: from a closed consult to a paid claim. A worker turns each
//! billing-outbox row into exactly one claim (unique per encounter), coded
//! with no human input where the rules allow and left in `needs_review`
//! where they do not. Claims are exported as X12 837P, followed through
//! their statuses and X12 835 remittances, and posted to the patient's
//! account; an optional webhook announces each new claim.
//!
//! - [`codes`]: CPT, modifiers, place of service, payer rules, fee schedule.
//! - [`coding`]: the E/M level, modifiers and pointers of a consult.
//! - [`claim`]: the claim, its statuses and the patient account.
//! - [`x12`]: the 837P writer; [`remit`]: the 835 reader.
//! - [`eligibility`] (270/271), [`claim_status`] (276/277) and
//!   [`acknowledgement`] (999), over [`interchange`]; sent through the
//!   [`clearinghouse`] adapter by [`inquiries`].
//! - [`worker`]: the outbox consumer and its background loop.
//! - [`webhook`]: signed delivery of new claims to another system.
//!
//! No axum types here: the HTTP edge maps [`BillingError`] to problem+json.

pub mod acknowledgement;
pub mod aging;
pub mod claim_status;
pub mod clearinghouse;
pub mod codes;
pub mod coding;
pub mod correction;
pub mod eligibility;
pub mod inquiries;
pub mod interchange;
pub mod remit;
mod settings;
pub mod webhook;
pub mod worker;
pub mod x12;

pub use crate::model::claim::{
    Account, AccountEntry, Claim, ClaimBatch, ClaimEvent, ClaimFrequency, ClaimId, ClaimLine,
    ClaimPayer, ClaimStatus, EntryKind, RemittanceHold,
};
pub use codes::{CodeFamily, Cpt, FeeSchedule, Modifier, PayerRule, PayerRules, PlaceOfService};
pub use settings::{BillingProvider, BillingSettings, BillingWebhook, X12Usage};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Actor, AuditEntry};
use crate::model::claim::ClaimFacts;
use crate::model::clock::Clock;
use crate::model::codes::Icd10;
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::{FieldError, Text};
use crate::model::visit::PatientLocation;
use crate::store::{self, NewClaimEvent, NewEntry, Store, StoreError, Tx, WorkQuery};
use coding::{Coded, CodingInput, code_consult, place_of_service};

/// Most claims one batch interchange carries.
pub const MAX_BATCH: i64 = 500;
/// Most lines a biller may put on one claim (the 837P allows 50).
pub const MAX_LINES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    WrongState(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Remittance(#[from] remit::RemitError),
    #[error(transparent)]
    Clearinghouse(#[from] clearinghouse::ClearinghouseError),
    #[error(transparent)]
    Acknowledgement(#[from] acknowledgement::AckError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is missing before claims can leave: provider, X12 ids, contact.
pub fn missing_config(config: &BillingSettings) -> Option<&'static str> {
    if config.provider.is_none() {
        Some("the billing provider is not configured (BEDSIDE_BILLING_*)")
    } else if config.x12_sender_id.is_none() || config.x12_receiver_id.is_none() {
        Some("the X12 ids are not configured (BEDSIDE_X12_SENDER_ID, BEDSIDE_X12_RECEIVER_ID)")
    } else if config.phone.is_none() {
        Some("the billing contact phone is not configured (BEDSIDE_BILLING_PHONE)")
    } else {
        None
    }
}

fn blocker(config: &BillingSettings, payer: Option<&ClaimPayer>) -> Option<String> {
    if let Some(missing) = missing_config(config) {
        return Some(missing.to_owned());
    }
    payer
        .is_none()
        .then(|| "the patient has no insurance on file".to_owned())
}

/// Codes the consult and decides the claim's status: `ready` only when
/// coding succeeded and nothing is missing to send it.
fn code_and_judge(
    config: &BillingSettings,
    input: &CodingInput,
    payer: Option<&ClaimPayer>,
) -> (ClaimStatus, Vec<ClaimLine>, Option<String>) {
    let rule = config
        .payer_rules
        .for_payer(payer.map(|p| p.payer_id.as_str()));
    let (lines, coding_reason) = match code_consult(input, rule, &config.fee_schedule) {
        Coded::Lines(lines) => (lines, None),
        Coded::Review(reason) => (Vec::new(), Some(reason)),
    };
    match coding_reason.or_else(|| blocker(config, payer)) {
        Some(reason) => (ClaimStatus::NeedsReview, lines, Some(reason)),
        None => (ClaimStatus::Ready, lines, None),
    }
}

/// Three years and a day, as the new-patient rule counts them (leap days
/// included).
const THREE_YEARS: std::time::Duration = std::time::Duration::from_secs((3 * 365 + 1) * 24 * 3600);

/// CPT's rule: a new patient has had no professional service from this
/// practice within the three years before this one.
pub fn is_new_patient(service_start: Timestamp, previous_end: Option<Timestamp>) -> bool {
    previous_end.is_none_or(|end| end + THREE_YEARS < service_start)
}

/// How a consult's facts code: the input coding used, and its outcome.
fn code_facts(
    config: &BillingSettings,
    facts: &ClaimFacts,
) -> (CodingInput, ClaimStatus, Vec<ClaimLine>, Option<String>) {
    let new_patient = facts.new_patient.unwrap_or_else(|| {
        is_new_patient(
            facts.period_start.unwrap_or(facts.period_end),
            facts.previous_encounter_end,
        )
    });
    // Closing refuses more than the 837's twelve, so none is dropped here.
    let input = CodingInput {
        total_minutes: facts.total_minutes,
        new_patient,
        audio_only: facts.audio_only,
        location: facts.patient_location.unwrap_or(PatientLocation::Home),
        diagnoses: facts.diagnoses.clone(),
    };
    let (status, lines, reason) = code_and_judge(config, &input, facts.payer.as_ref());
    (input, status, lines, reason)
}

/// What closing with these facts would hand billing, told to the
/// clinician before they close, while the minutes can still be corrected.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BillingPreview {
    /// `ready`, or `needs_review` when a biller must look at the claim.
    pub status: ClaimStatus,
    pub total_minutes: i64,
    pub new_patient: bool,
    /// Each line's code with its modifiers, e.g. `99213-95`.
    pub codes: Vec<String>,
    /// Why the claim would wait for review, in a sentence for the clinician.
    pub review_reason: Option<String>,
}

pub fn preview(config: &BillingSettings, facts: &ClaimFacts) -> BillingPreview {
    let (input, status, lines, reason) = code_facts(config, facts);
    let rule = config
        .payer_rules
        .for_payer(facts.payer.as_ref().map(|p| p.payer_id.as_str()));
    let minimum =
        coding::shortest_billable_minutes(rule.family, input.new_patient, input.audio_only);
    let review_reason = reason.map(|reason| {
        if input.total_minutes < minimum {
            format!(
                "{minimum} minutes is the shortest billable time for this visit; it was {} {}. \
                 Correct the minutes if it took longer; otherwise the claim waits for a biller's review.",
                input.total_minutes,
                if input.total_minutes == 1 { "minute" } else { "minutes" }
            )
        } else {
            format!("The claim will wait for a biller's review: {reason}.")
        }
    });
    BillingPreview {
        status,
        total_minutes: input.total_minutes,
        new_patient: input.new_patient,
        codes: lines
            .iter()
            .map(|line| {
                std::iter::once(line.cpt.to_string())
                    .chain(line.modifiers.iter().map(|m| m.as_str().to_owned()))
                    .collect::<Vec<_>>()
                    .join("-")
            })
            .collect(),
        review_reason,
    }
}

/// The claim for a closed consult, as the rules and config code it.
pub fn build_claim(
    config: &BillingSettings,
    facts: &ClaimFacts,
    visit: &VisitId,
    encounter: &EncounterId,
    number: String,
    now: i64,
) -> Claim {
    let (input, status, lines, review_reason) = code_facts(config, facts);
    let (new_patient, location, diagnoses) = (input.new_patient, input.location, input.diagnoses);
    Claim {
        id: ClaimId::new(),
        number,
        encounter_id: encounter.clone(),
        visit_id: visit.clone(),
        patient_id: facts.patient_id.clone(),
        status,
        review_reason,
        status_reason: None,
        payer: facts.payer.clone(),
        place_of_service: place_of_service(location),
        new_patient,
        audio_only: facts.audio_only,
        total_minutes: facts.total_minutes,
        service_date: facts.period_end.to_datetime().date_naive(),
        diagnoses,
        total_cents: Claim::sum_of_lines(&lines),
        lines,
        paid_cents: 0,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        submitted_at: None,
        frequency: ClaimFrequency::Original,
        payer_claim_number: None,
        modality_reason: facts.modality_reason.clone(),
    }
}

/// `CLM01`: short, unique and free of X12 delimiters.
pub fn claim_number(n: i64) -> String {
    format!("BS{n:08}")
}

fn audit(actor: &Actor, action: &'static str, claim: &Claim) -> AuditEntry {
    AuditEntry::new(actor, action, "Claim")
        .resource(&claim.id)
        .patient(&claim.patient_id)
}

/// Writes the first step of new claims' histories, with one statement.
async fn record_creations(
    tx: &mut Tx,
    actor: &Actor,
    claims: &[&Claim],
    now: i64,
) -> Result<(), StoreError> {
    let events: Vec<NewClaimEvent<'_>> = claims
        .iter()
        .map(|claim| NewClaimEvent {
            claim: &claim.id,
            from: None,
            to: claim.status,
            note: claim.review_reason.as_deref(),
            actor: actor.id.as_deref(),
            at: now,
        })
        .collect();
    store::insert_claim_events(tx, &events).await
}

/// Writes one step of the claim's history: it moved from `from` (none when
/// it was created) to its current status.
async fn record_step(
    tx: &mut Tx,
    actor: &Actor,
    claim: &Claim,
    from: Option<ClaimStatus>,
    note: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    store::insert_claim_event(
        tx,
        NewClaimEvent {
            claim: &claim.id,
            from,
            to: claim.status,
            note,
            actor: actor.id.as_deref(),
            at: now,
        },
    )
    .await
}

/// Posts a claim's total as a charge, once it is coded and released.
async fn post_charge(tx: &mut Tx, claim: &Claim, now: i64) -> Result<(), StoreError> {
    post_charges(tx, &[claim], now).await
}

/// Posts several claims' totals as charges, with one statement.
async fn post_charges(tx: &mut Tx, claims: &[&Claim], now: i64) -> Result<(), StoreError> {
    let notes: Vec<(String, String)> = claims
        .iter()
        .map(|claim| {
            (
                uuid::Uuid::now_v7().to_string(),
                format!("claim {}", claim.number),
            )
        })
        .collect();
    let entries: Vec<(&str, NewEntry<'_>)> = claims
        .iter()
        .zip(&notes)
        .map(|(claim, (id, note))| {
            let entry = NewEntry {
                patient: &claim.patient_id,
                claim: Some(&claim.id),
                kind: EntryKind::Charge,
                amount_cents: Claim::sum_of_lines(&claim.lines),
                note: Some(note.as_str()),
                remittance: None,
                created_by: None,
                at: now,
            };
            (id.as_str(), entry)
        })
        .collect();
    store::insert_account_entries(tx, &entries).await
}

async fn load(tx: &mut Tx, id: &ClaimId) -> Result<Claim, BillingError> {
    store::get_claim(tx, id)
        .await?
        .ok_or(BillingError::NotFound("claim"))
}

/// The filters of `GET /claims` and `GET /claims/counts`.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub encounter_id: Option<EncounterId>,
    pub patient_id: Option<PatientId>,
    pub status: Option<ClaimStatus>,
    pub payer_id: Option<String>,
    /// Dates of service from and to, inclusive.
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    /// The start of the patient's given or family name, or of both.
    pub patient_name: Option<String>,
}

impl ClaimFilter {
    fn query(&self) -> WorkQuery {
        let date = |d: &Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        WorkQuery {
            encounter_id: self.encounter_id.as_ref().map(|e| e.as_str().to_owned()),
            patient_id: self.patient_id.as_ref().map(|p| p.as_str().to_owned()),
            status: self.status,
            payer_id: self.payer_id.clone(),
            from: date(&self.from),
            to: date(&self.to),
            patient_name: self.patient_name.clone(),
        }
    }
}

/// A claim in the work queue, with its patient's name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedClaim {
    #[serde(flatten)]
    pub claim: Claim,
    pub patient_name: String,
}

/// One page of the work queue, and how many claims match in all.
#[derive(Debug, Clone)]
pub struct ClaimPage {
    pub claims: Vec<QueuedClaim>,
    pub total: i64,
}

#[tracing::instrument(skip_all)]
pub async fn list_claims(
    store: &Store,
    actor: &Actor,
    filter: &ClaimFilter,
    limit: i64,
    offset: i64,
) -> Result<ClaimPage, BillingError> {
    let mut tx = store.begin().await?;
    let (claims, total) = store::search_claims(&mut tx, &filter.query(), limit, offset).await?;
    for (claim, _) in &claims {
        store::append_audit(&mut tx, &audit(actor, "claim.read", claim)).await?;
    }
    store::commit(tx).await?;
    Ok(ClaimPage {
        claims: claims
            .into_iter()
            .map(|(claim, patient_name)| QueuedClaim {
                claim,
                patient_name,
            })
            .collect(),
        total,
    })
}

/// How many claims match the filter in each status; every status is
/// listed, zero or not (`GET /claims/counts`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: ClaimStatus,
    pub count: i64,
}

#[tracing::instrument(skip_all)]
pub async fn claim_counts(
    store: &Store,
    actor: &Actor,
    filter: &ClaimFilter,
) -> Result<Vec<StatusCount>, BillingError> {
    use strum::IntoEnumIterator;
    let mut tx = store.begin().await?;
    let counted = store::claim_counts(&mut tx, &filter.query()).await?;
    // Counts name no patient, but they are still a read of claims.
    store::append_audit(&mut tx, &AuditEntry::new(actor, "claim.count", "Claim")).await?;
    store::commit(tx).await?;
    Ok(ClaimStatus::iter()
        .map(|status| StatusCount {
            status,
            count: counted
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n),
        })
        .collect())
}

/// A claim with its patient's name, its diagnoses' descriptions and its
/// history (`GET /claims/{id}/detail`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimDetail {
    pub claim: Claim,
    pub patient_name: String,
    /// Each diagnosis with its ICD-10-CM description, in the claim's order
    /// (pointer 1 is the first).
    pub diagnoses: Vec<DiagnosisDetail>,
    pub history: Vec<ClaimEvent>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiagnosisDetail {
    pub code: String,
    pub description: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn claim_detail(
    store: &Store,
    actor: &Actor,
    id: &ClaimId,
) -> Result<ClaimDetail, BillingError> {
    let mut tx = store.begin().await?;
    let claim = load(&mut tx, id).await?;
    let patient = store::get_patient(&mut tx, &claim.patient_id)
        .await?
        .ok_or(StoreError::Corrupt("claims.patient_id"))?;
    let history = store::claim_events(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "claim.read", &claim)).await?;
    store::commit(tx).await?;
    let table = crate::codeset::icd10cm();
    Ok(ClaimDetail {
        patient_name: format!("{} {}", patient.given_name, patient.family_name),
        diagnoses: claim
            .diagnoses
            .iter()
            .map(|code| DiagnosisDetail {
                code: code.as_str().to_owned(),
                description: table.get(code).map(|e| e.description.to_owned()),
            })
            .collect(),
        history,
        claim,
    })
}

#[tracing::instrument(skip_all)]
pub async fn read_claim(store: &Store, actor: &Actor, id: &ClaimId) -> Result<Claim, BillingError> {
    let mut tx = store.begin().await?;
    let claim = load(&mut tx, id).await?;
    store::append_audit(&mut tx, &audit(actor, "claim.read", &claim)).await?;
    store::commit(tx).await?;
    Ok(claim)
}

/// One X12 837P interchange for a coded claim; each call takes a new
/// control number.
#[tracing::instrument(skip_all)]
pub async fn claim_x12(
    store: &Store,
    actor: &Actor,
    config: &BillingSettings,
    id: &ClaimId,
) -> Result<String, BillingError> {
    let mut tx = store.begin().await?;
    let claim = load(&mut tx, id).await?;
    let (text, _) =
        write_interchange(&mut tx, config, std::slice::from_ref(&claim), actor.at).await?;
    store::append_audit(&mut tx, &audit(actor, "claim.export", &claim)).await?;
    store::commit(tx).await?;
    Ok(text)
}

async fn write_interchange(
    tx: &mut Tx,
    config: &BillingSettings,
    claims: &[Claim],
    at: Timestamp,
) -> Result<(String, i64), BillingError> {
    if let Some(missing) = missing_config(config) {
        return Err(BillingError::WrongState(missing.to_owned()));
    }
    let (Some(provider), Some(sender), Some(receiver), Some(phone)) = (
        config.provider.as_ref(),
        config.x12_sender_id.as_deref(),
        config.x12_receiver_id.as_deref(),
        config.phone.as_deref(),
    ) else {
        return Err(BillingError::WrongState(
            "billing is not configured".to_owned(),
        ));
    };
    let mut patients = Vec::with_capacity(claims.len());
    for claim in claims {
        if !claim.status.is_coded() {
            return Err(BillingError::WrongState(format!(
                "claim {} needs review before it can be exported",
                claim.number
            )));
        }
        let patient = store::get_patient(tx, &claim.patient_id)
            .await?
            .ok_or(StoreError::Corrupt("claims.patient_id"))?;
        patients.push(patient);
    }
    let control_number = store::next_counter(tx, "x12_interchange").await?;
    let envelope = x12::Envelope {
        sender_id: sender,
        receiver_id: receiver,
        control_number,
        usage: config.x12_usage.code(),
        at: at.to_datetime(),
    };
    let submitter = x12::Submitter { provider, phone };
    let items: Vec<x12::ClaimOfPatient<'_>> = claims
        .iter()
        .zip(&patients)
        .map(|(claim, patient)| x12::ClaimOfPatient { claim, patient })
        .collect();
    let text = x12::write_837(&envelope, &submitter, &items)
        .map_err(|e| BillingError::WrongState(e.to_string()))?;
    Ok((text, control_number))
}

/// Every ready claim in one interchange, each marked submitted. `None`
/// when no claim is ready.
#[tracing::instrument(skip_all)]
pub async fn export_ready(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    config: &BillingSettings,
) -> Result<Option<(String, ClaimBatch)>, BillingError> {
    let mut tx = store.begin().await?;
    let claims = store::ready_claims_for_export(&mut tx, store.backend(), MAX_BATCH).await?;
    if claims.is_empty() {
        store::commit(tx).await?;
        return Ok(None);
    }
    let (text, control_number) = write_interchange(&mut tx, config, &claims, actor.at).await?;
    let now = clock.now().millis();
    let batch = ClaimBatch {
        id: uuid::Uuid::now_v7().to_string(),
        control_number,
        claim_count: claims.len() as i64,
        created_by: actor.id.clone(),
        created_at: Timestamp(now),
    };
    store::insert_batch(&mut tx, &batch, &text).await?;
    let note = format!("batch {control_number}");
    for claim in &claims {
        if !claim.status.may_become(ClaimStatus::Submitted) {
            return Err(BillingError::WrongState(format!(
                "claim {} is {}, not ready to send",
                claim.number,
                claim.status.as_str()
            )));
        }
        let mut submitted = claim.clone();
        submitted.status = ClaimStatus::Submitted;
        submitted.submitted_at = Some(Timestamp(now));
        submitted.updated_at = Timestamp(now);
        if !store::update_claim(&mut tx, &submitted, claim.status).await? {
            return Err(BillingError::WrongState(format!(
                "claim {} changed during the export",
                claim.number
            )));
        }
        record_step(
            &mut tx,
            actor,
            &submitted,
            Some(claim.status),
            Some(&note),
            now,
        )
        .await?;
        store::append_audit(&mut tx, &audit(actor, "claim.submit", claim)).await?;
    }
    store::commit(tx).await?;
    Ok(Some((text, batch)))
}

/// The 837P batches sent, newest first.
#[tracing::instrument(skip_all)]
pub async fn batches(store: &Store, actor: &Actor) -> Result<Vec<ClaimBatch>, BillingError> {
    let mut tx = store.begin().await?;
    let batches = store::list_batches(&mut tx, 200).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "claim.batches_read", "Claim"),
    )
    .await?;
    store::commit(tx).await?;
    Ok(batches)
}

/// A batch's interchange again, as it was sent.
#[tracing::instrument(skip_all)]
pub async fn batch_x12(store: &Store, actor: &Actor, id: &str) -> Result<String, BillingError> {
    let mut tx = store.begin().await?;
    let body = store::batch_body(&mut tx, id)
        .await?
        .ok_or(BillingError::NotFound("batch"))?;
    let entry = AuditEntry::new(actor, "claim.batch_export", "Claim").resource(id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(body)
}

/// The body of `POST /claims/{id}/status`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `submitted`, `accepted`, `rejected`, `paid` or `denied`.
    pub status: ClaimStatus,
    /// With `paid`: what the insurer paid, posted to the account.
    #[serde(default)]
    pub paid_cents: Option<i64>,
    /// The payer's reason, with `rejected` or `denied`.
    #[serde(default)]
    pub reason: Option<Text>,
}

#[tracing::instrument(skip_all)]
pub async fn change_status(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &ClaimId,
    change: &StatusChange,
) -> Result<Claim, BillingError> {
    if matches!(change.status, ClaimStatus::NeedsReview | ClaimStatus::Ready) {
        return Err(FieldError::new(
            "status",
            "must be submitted, accepted, rejected, paid or denied",
        )
        .into());
    }
    if let Some(paid) = change.paid_cents {
        if change.status != ClaimStatus::Paid {
            return Err(FieldError::new("paid_cents", "goes only with status paid").into());
        }
        if !(0..=100_000_000).contains(&paid) {
            return Err(FieldError::new("paid_cents", "must be from 0 to 100000000").into());
        }
    }
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    if !before.status.may_become(change.status) {
        return Err(BillingError::WrongState(format!(
            "a {} claim cannot become {}",
            before.status.as_str(),
            change.status.as_str()
        )));
    }
    let paid = change.paid_cents.unwrap_or(0);
    if before.paid_cents + paid > before.total_cents {
        return Err(FieldError::new(
            "paid_cents",
            format!(
                "would bring the claim's payments to {}, over its charge of {}",
                remit::dollars(before.paid_cents + paid),
                remit::dollars(before.total_cents)
            ),
        )
        .into());
    }
    let mut claim = before.clone();
    claim.status = change.status;
    claim.updated_at = Timestamp(now);
    claim.status_reason = change.reason.as_ref().map(|r| r.as_str().to_owned());
    if change.status == ClaimStatus::Submitted {
        claim.submitted_at = Some(Timestamp(now));
    }
    claim.paid_cents += paid;
    if !store::update_claim(&mut tx, &claim, before.status).await? {
        return Err(BillingError::WrongState(
            "the claim changed meanwhile".to_owned(),
        ));
    }
    if paid > 0 {
        store::insert_account_entry(
            &mut tx,
            NewEntry {
                patient: &claim.patient_id,
                claim: Some(&claim.id),
                kind: EntryKind::InsurerPayment,
                amount_cents: paid,
                note: Some(&format!("claim {} paid", claim.number)),
                remittance: None,
                created_by: actor.id.as_deref(),
                at: now,
            },
        )
        .await?;
    }
    record_step(
        &mut tx,
        actor,
        &claim,
        Some(before.status),
        claim.status_reason.as_deref(),
        now,
    )
    .await?;
    store::append_audit(&mut tx, &audit(actor, "claim.status", &claim)).await?;
    store::commit(tx).await?;
    Ok(claim)
}

/// A service line as a biller writes it; the charge comes from the fee schedule.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub cpt: Cpt,
    #[serde(default)]
    pub modifiers: Vec<Modifier>,
    #[serde(default)]
    pub units: Option<i64>,
    /// Defaults to the first diagnoses, at most four.
    #[serde(default)]
    pub diagnosis_pointers: Option<Vec<u8>>,
}

/// The body of `POST /claims/{id}/release`: a biller's fix. Without
/// `lines`, the claim is coded again under the current configuration.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(default)]
    pub lines: Option<Vec<LineInput>>,
    #[serde(default)]
    pub new_patient: Option<bool>,
    /// The claim's diagnoses, primary first, replacing what the visit
    /// recorded; each must be a billable ICD-10-CM code.
    #[serde(default)]
    pub diagnoses: Option<Vec<Icd10>>,
}

/// At most twelve billable ICD-10-CM codes, as the 837P's HI carries them.
fn checked_diagnoses(codes: &[Icd10]) -> Result<Vec<Icd10>, FieldError> {
    if codes.is_empty() || codes.len() > 12 {
        return Err(FieldError::new("diagnoses", "needs 1 to 12 diagnoses"));
    }
    let table = crate::codeset::icd10cm();
    for (index, code) in codes.iter().enumerate() {
        table.check_billable(code).map_err(|problem| {
            FieldError::new(format!("diagnoses[{index}]"), problem.to_string())
        })?;
    }
    Ok(codes.to_vec())
}

/// Applies a biller's fix (diagnoses, new or established, lines) to a claim;
/// without lines the claim is coded again. Why it still cannot go, if so.
fn apply_fix(
    config: &BillingSettings,
    claim: &mut Claim,
    fix: &Release,
) -> Result<Option<String>, BillingError> {
    if let Some(codes) = &fix.diagnoses {
        claim.diagnoses = checked_diagnoses(codes)?;
    }
    if let Some(new_patient) = fix.new_patient {
        claim.new_patient = new_patient;
    }
    let (lines, reason) = match &fix.lines {
        Some(inputs) => {
            let lines = priced_lines(config, inputs, claim.diagnoses.len())?;
            (lines, blocker(config, claim.payer.as_ref()))
        }
        None => {
            let input = CodingInput {
                total_minutes: claim.total_minutes,
                new_patient: claim.new_patient,
                audio_only: claim.audio_only,
                location: match claim.place_of_service {
                    PlaceOfService::TelehealthHome => PatientLocation::Home,
                    PlaceOfService::TelehealthOther => PatientLocation::Other,
                },
                diagnoses: claim.diagnoses.clone(),
            };
            let (_, lines, reason) = code_and_judge(config, &input, claim.payer.as_ref());
            (lines, reason)
        }
    };
    claim.lines = lines;
    claim.total_cents = Claim::sum_of_lines(&claim.lines);
    Ok(reason)
}

fn priced_lines(
    config: &BillingSettings,
    inputs: &[LineInput],
    diagnoses: usize,
) -> Result<Vec<ClaimLine>, FieldError> {
    if inputs.is_empty() || inputs.len() > MAX_LINES {
        return Err(FieldError::new(
            "lines",
            format!("needs 1 to {MAX_LINES} lines"),
        ));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let units = line.units.unwrap_or(1);
            if !(1..=99).contains(&units) {
                return Err(FieldError::new(
                    format!("lines[{i}].units"),
                    "must be from 1 to 99",
                ));
            }
            if line.modifiers.len() > 4 {
                return Err(FieldError::new(
                    format!("lines[{i}].modifiers"),
                    "has at most 4 modifiers",
                ));
            }
            let pointers = line
                .diagnosis_pointers
                .clone()
                .unwrap_or_else(|| coding::pointers(diagnoses));
            let in_range = pointers
                .iter()
                .all(|&p| p >= 1 && usize::from(p) <= diagnoses);
            if pointers.is_empty() || pointers.len() > coding::MAX_POINTERS || !in_range {
                return Err(FieldError::new(
                    format!("lines[{i}].diagnosis_pointers"),
                    format!("needs 1 to 4 pointers, each from 1 to {diagnoses}"),
                ));
            }
            let charge_cents = config.fee_schedule.fee(&line.cpt).ok_or_else(|| {
                FieldError::new(
                    format!("lines[{i}].cpt"),
                    format!("{} has no fee in the fee schedule", line.cpt),
                )
            })?;
            Ok(ClaimLine {
                cpt: line.cpt.clone(),
                modifiers: line.modifiers.clone(),
                units,
                charge_cents,
                diagnosis_pointers: pointers,
            })
        })
        .collect()
}

/// A biller fixes a claim in `needs_review` and releases it as `ready`.
#[tracing::instrument(skip_all)]
pub async fn release(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    config: &BillingSettings,
    id: &ClaimId,
    fix: &Release,
) -> Result<Claim, BillingError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    if !before.status.may_become(ClaimStatus::Ready) {
        return Err(BillingError::WrongState(format!(
            "only a claim in needs_review is released; this one is {}",
            before.status.as_str()
        )));
    }
    let mut claim = before.clone();
    if claim.payer.is_none() {
        // The patient's insurance may have been added since.
        let patient = store::get_patient(&mut tx, &claim.patient_id).await?;
        claim.payer = patient
            .and_then(|p| p.insurance)
            .map(|i| ClaimPayer::from(&i));
    }
    if let Some(reason) = apply_fix(config, &mut claim, fix)? {
        return Err(BillingError::WrongState(format!(
            "cannot release: {reason}"
        )));
    }
    claim.status = ClaimStatus::Ready;
    claim.review_reason = None;
    claim.updated_at = Timestamp(now);
    if !store::update_claim(&mut tx, &claim, before.status).await? {
        return Err(BillingError::WrongState(
            "the claim changed meanwhile".to_owned(),
        ));
    }
    // The payer may be new: write it with the rest.
    store::set_claim_payer(&mut tx, &claim).await?;
    post_charge(&mut tx, &claim, now).await?;
    record_step(
        &mut tx,
        actor,
        &claim,
        Some(before.status),
        Some("released"),
        now,
    )
    .await?;
    store::append_audit(&mut tx, &audit(actor, "claim.release", &claim)).await?;
    store::commit(tx).await?;
    Ok(claim)
}

/// What an 835 import did.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct RemittanceResult {
    pub id: String,
    pub trace_number: String,
    pub posted: Vec<PostedPayment>,
    /// CLP01 numbers that matched no claim open to payment.
    pub unmatched: Vec<String>,
    /// Every answer not posted (the unmatched among them), with its reason;
    /// they wait on `GET /remittances/holds`.
    pub held: Vec<RemittanceHold>,
}

#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct PostedPayment {
    pub claim_id: ClaimId,
    pub status: ClaimStatus,
    pub paid_cents: i64,
    pub adjustment_cents: i64,
    pub patient_responsibility_cents: i64,
}

/// Why a payment that balances still does not fit its claim: the payer
/// billed another amount, or it would pay more than was charged.
fn misfit(claim: &Claim, payment: &remit::ClaimPayment) -> Option<String> {
    if payment.charge_cents != claim.total_cents {
        return Some(format!(
            "the payer's charge of {} does not match the claim's {}",
            remit::dollars(payment.charge_cents),
            remit::dollars(claim.total_cents)
        ));
    }
    let paid = claim.paid_cents + payment.paid_cents;
    if paid > claim.total_cents {
        return Some(format!(
            "it would bring the claim's payments to {}, over its charge of {}",
            remit::dollars(paid),
            remit::dollars(claim.total_cents)
        ));
    }
    None
}

/// Why one answer of a remittance was not posted.
enum Refusal {
    /// No claim open to this payment has its number.
    Unmatched(String),
    /// Its claim exists, but the answer does not balance or fit it.
    Unfit(ClaimId, PatientId, String),
}

/// One answer of a remittance, about to be posted to its claim.
struct Posting<'a> {
    outcome: ClaimStatus,
    payment: &'a remit::ClaimPayment,
    remittance: &'a str,
    trace: &'a str,
}

/// Moves the claim to paid or denied and posts the payment and write-offs
/// to the account; `None` when the claim changed meanwhile.
async fn post_payment(
    tx: &mut Tx,
    actor: &Actor,
    before: &Claim,
    posting: &Posting<'_>,
    now: i64,
) -> Result<Option<Claim>, BillingError> {
    let mut claim = before.clone();
    claim.status = posting.outcome;
    claim.paid_cents += posting.payment.paid_cents;
    claim.updated_at = Timestamp(now);
    // Kept for a later replacement or void, which must name it (REF*F8).
    if let Some(number) = &posting.payment.payer_claim_number {
        claim.payer_claim_number = Some(number.clone());
    }
    if !store::update_claim(tx, &claim, before.status).await? {
        return Ok(None);
    }
    let note = format!("remittance {}", posting.trace);
    for (kind, amount) in [
        (EntryKind::InsurerPayment, posting.payment.paid_cents),
        (EntryKind::Adjustment, posting.payment.write_off_cents()),
    ] {
        if amount != 0 {
            store::insert_account_entry(
                tx,
                NewEntry {
                    patient: &claim.patient_id,
                    claim: Some(&claim.id),
                    kind,
                    amount_cents: amount,
                    note: Some(&note),
                    remittance: Some(posting.remittance),
                    created_by: actor.id.as_deref(),
                    at: now,
                },
            )
            .await?;
        }
    }
    record_step(tx, actor, &claim, Some(before.status), Some(&note), now).await?;
    store::append_audit(tx, &audit(actor, "claim.remit", &claim)).await?;
    Ok(Some(claim))
}

/// Posts an 835: for each claim it names, the insurer's payment and the
/// write-offs go to the account and the claim becomes paid or denied.
/// A file that does not balance is refused whole; an answer that matches
/// no open claim, does not balance or does not fit its claim is held for
/// review, never posted. The same trace number twice is refused, so a
/// file posts once.
#[tracing::instrument(skip_all)]
pub async fn import_remittance(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    text: &str,
) -> Result<RemittanceResult, BillingError> {
    let remittance = remit::parse_835(text)?;
    remittance.check_balance()?;
    let now = clock.now().millis();
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = store.begin().await?;
    store::insert_remittance(
        &mut tx,
        &id,
        &remittance.trace_number,
        remittance.total_paid_cents,
        actor.id.as_deref(),
        now,
    )
    .await?;
    let mut posted = Vec::new();
    let mut unmatched = Vec::new();
    let mut held = Vec::new();
    for payment in &remittance.payments {
        let outcome = if payment.is_denied() {
            ClaimStatus::Denied
        } else {
            ClaimStatus::Paid
        };
        let claim = store::claim_by_number(&mut tx, &payment.claim_number).await?;
        let checked = match claim {
            None => Err(Refusal::Unmatched("no claim has this number".to_owned())),
            Some(c)
                if !c.status.may_become(outcome) && !inquiries::awaits_remittance(&c, outcome) =>
            {
                Err(Refusal::Unmatched(format!(
                    "its claim is {} and cannot become {}",
                    c.status.as_str(),
                    outcome.as_str()
                )))
            }
            Some(c) => match payment.imbalance().or_else(|| misfit(&c, payment)) {
                Some(reason) => Err(Refusal::Unfit(c.id, c.patient_id, reason)),
                None => Ok(c),
            },
        };
        let result = match checked {
            Ok(before) => {
                let posting = Posting {
                    outcome,
                    payment,
                    remittance: &id,
                    trace: &remittance.trace_number,
                };
                post_payment(&mut tx, actor, &before, &posting, now)
                    .await?
                    .ok_or_else(|| Refusal::Unmatched("the claim changed meanwhile".to_owned()))
            }
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok(claim) => posted.push(PostedPayment {
                claim_id: claim.id.clone(),
                status: claim.status,
                paid_cents: payment.paid_cents,
                adjustment_cents: payment.write_off_cents(),
                patient_responsibility_cents: payment.patient_responsibility_cents,
            }),
            Err(refusal) => {
                let mut entry = AuditEntry::new(actor, "claim.remit_held", "Claim");
                let (claim_id, reason) = match refusal {
                    Refusal::Unmatched(reason) => {
                        unmatched.push(payment.claim_number.clone());
                        entry = entry.resource(&payment.claim_number);
                        (None, reason)
                    }
                    Refusal::Unfit(claim, patient, reason) => {
                        entry = entry.resource(&claim).patient(&patient);
                        (Some(claim), reason)
                    }
                };
                let hold = RemittanceHold {
                    id: uuid::Uuid::now_v7().to_string(),
                    remittance_id: id.clone(),
                    claim_number: payment.claim_number.clone(),
                    claim_id,
                    reason,
                    charge_cents: payment.charge_cents,
                    paid_cents: payment.paid_cents,
                    created_at: Timestamp(now),
                };
                store::insert_remittance_hold(&mut tx, &hold).await?;
                store::append_audit(&mut tx, &entry).await?;
                held.push(hold);
            }
        }
    }
    store::commit(tx).await?;
    Ok(RemittanceResult {
        id,
        trace_number: remittance.trace_number,
        posted,
        unmatched,
        held,
    })
}

/// Remittance answers held for review, oldest first (`GET /remittances/holds`).
#[tracing::instrument(skip_all)]
pub async fn remittance_holds(
    store: &Store,
    actor: &Actor,
) -> Result<Vec<RemittanceHold>, BillingError> {
    let mut tx = store.begin().await?;
    let holds = store::open_remittance_holds(&mut tx).await?;
    let entry = AuditEntry::new(actor, "remittance.holds_read", "Claim");
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(holds)
}

async fn require_patient(tx: &mut Tx, patient: &PatientId) -> Result<(), BillingError> {
    store::get_patient(tx, patient)
        .await?
        .map(|_| ())
        .ok_or(BillingError::NotFound("patient"))
}

#[tracing::instrument(skip_all)]
pub async fn account(
    store: &Store,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Account, BillingError> {
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    let entries = store::account_entries(&mut tx, patient).await?;
    let entry = AuditEntry::new(actor, "account.read", "Account")
        .resource(patient)
        .patient(patient);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(Account::from_entries(patient.clone(), entries))
}

/// The body of `POST /patients/{id}/account/payments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientPayment {
    pub amount_cents: i64,
    /// How it was paid or a receipt reference.
    #[serde(default)]
    pub note: Option<Text>,
    /// The claim it pays towards, if any.
    #[serde(default)]
    pub claim_id: Option<ClaimId>,
}

#[tracing::instrument(skip_all)]
pub async fn record_patient_payment(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    patient: &PatientId,
    payment: &PatientPayment,
) -> Result<AccountEntry, BillingError> {
    if !(1..=100_000_000).contains(&payment.amount_cents) {
        return Err(FieldError::new("amount_cents", "must be from 1 to 100000000").into());
    }
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    require_patient(&mut tx, patient).await?;
    if let Some(claim) = &payment.claim_id {
        let found = store::get_claim(&mut tx, claim).await?;
        if found.is_none_or(|c| c.patient_id != *patient) {
            return Err(FieldError::new("claim_id", "is not a claim of this patient").into());
        }
    }
    let entry = store::insert_account_entry(
        &mut tx,
        NewEntry {
            patient,
            claim: payment.claim_id.as_ref(),
            kind: EntryKind::PatientPayment,
            amount_cents: payment.amount_cents,
            note: payment.note.as_ref().map(Text::as_str),
            remittance: None,
            created_by: actor.id.as_deref(),
            at: now,
        },
    )
    .await?;
    let audit = AuditEntry::new(actor, "account.payment", "Account")
        .resource(patient)
        .patient(patient);
    store::append_audit(&mut tx, &audit).await?;
    store::commit(tx).await?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 3600 * 1000;

    #[test]
    fn a_patient_is_new_without_a_finished_encounter_in_the_three_years_before() {
        let start = Timestamp(1_800_000_000_000);
        assert!(is_new_patient(start, None));
        let within = Timestamp(start.millis() - 3 * 365 * DAY_MS);
        assert!(!is_new_patient(start, Some(within)));
        let long_ago = Timestamp(start.millis() - (3 * 365 + 2) * DAY_MS);
        assert!(is_new_patient(start, Some(long_ago)));
    }
}
