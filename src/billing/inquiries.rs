//! Asking payers through the clearinghouse and hearing back: eligibility
//! before a visit (270 → 271, kept on the visit), claim status after
//! submission (276 → 277, moving the claim), and 999 acknowledgements of
//! the 837P batches sent (tied by GS06 ↔ AK102, moving the batch's claims).
//! Each exchange is audited: what left with a patient's insurance, what
//! came back, and every claim moved.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::acknowledgement::{self, Acknowledgement, Verdict};
use super::claim_status::{self, ClaimAnswer, Outcome, StatusInquiry};
use super::clearinghouse::{Clearinghouse, ClearinghouseError};
use super::eligibility::{self, Coverage, Eligibility, Inquiry};
use super::interchange::{self, Envelope};
use super::{BillingError, BillingSettings, Claim, ClaimId, ClaimStatus, audit, load, record_step};
use crate::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::model::ids::{PatientId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::store::{self, EligibilityRow, NewAcknowledgement, Store, StoreError, Tx};

/// An eligibility answer as kept on its visit (`GET /visits/{id}/eligibility`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EligibilityCheck {
    pub id: String,
    pub visit_id: VisitId,
    pub patient_id: PatientId,
    /// The 270's TRN02, echoed by the 271.
    pub trace: String,
    pub checked_at: Timestamp,
    /// Who asked.
    pub checked_by: Option<String>,
    #[serde(flatten)]
    pub answer: Eligibility,
}

impl TryFrom<EligibilityRow> for EligibilityCheck {
    type Error = StoreError;

    fn try_from(row: EligibilityRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            visit_id: VisitId::parse(&row.visit_id)
                .ok_or(StoreError::Corrupt("eligibility_checks.visit_id"))?,
            patient_id: PatientId::parse(&row.patient_id)
                .ok_or(StoreError::Corrupt("eligibility_checks.patient_id"))?,
            trace: row.trace,
            checked_at: Timestamp(row.checked_at),
            checked_by: row.checked_by,
            answer: serde_json::from_str(&row.answer)
                .map_err(|_| StoreError::Corrupt("eligibility_checks.answer"))?,
        })
    }
}

/// What every outbound interchange needs from config.
struct Sender<'a> {
    provider: &'a super::BillingProvider,
    sender_id: &'a str,
    receiver_id: &'a str,
}

fn sender(config: &BillingSettings) -> Result<Sender<'_>, BillingError> {
    match (
        config.provider.as_ref(),
        config.x12_sender_id.as_deref(),
        config.x12_receiver_id.as_deref(),
    ) {
        (Some(provider), Some(sender_id), Some(receiver_id)) => Ok(Sender {
            provider,
            sender_id,
            receiver_id,
        }),
        _ => Err(BillingError::WrongState(
            super::missing_config(config)
                .unwrap_or("billing is not configured")
                .to_owned(),
        )),
    }
}

fn envelope<'a>(
    config: &BillingSettings,
    sender: &Sender<'a>,
    control_number: i64,
    at: Timestamp,
) -> Envelope<'a> {
    Envelope {
        sender_id: sender.sender_id,
        receiver_id: sender.receiver_id,
        control_number,
        usage: config.x12_usage.code(),
        at: at.to_datetime(),
    }
}

fn unreadable(error: impl std::fmt::Display) -> BillingError {
    ClearinghouseError::Unreadable(error.to_string()).into()
}

/// Asks the visit's payer, through the clearinghouse, whether the
/// patient's insurance covers the visit, and keeps the answer on the visit.
#[tracing::instrument(skip_all, fields(visit.id = %visit_id))]
pub async fn check_eligibility(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    config: &BillingSettings,
    clearinghouse: &dyn Clearinghouse,
    visit_id: &VisitId,
) -> Result<EligibilityCheck, BillingError> {
    if config.clearinghouse.is_none() {
        return Err(ClearinghouseError::NotConfigured.into());
    }
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, visit_id)
        .await?
        .ok_or(BillingError::NotFound("visit"))?;
    let patient = store::get_patient(&mut tx, &visit.patient_id)
        .await?
        .ok_or(StoreError::Corrupt("visits.patient_id"))?;
    let Some(insurance) = patient.insurance.as_ref() else {
        return Err(BillingError::WrongState(
            "the patient has no insurance on file".to_owned(),
        ));
    };
    let sender = sender(config)?;
    let control_number = store::next_counter(&mut tx, "x12_interchange").await?;
    let trace = format!("EL{control_number:09}");
    let now = clock.now();
    let service_date = visit
        .scheduled_start
        .unwrap_or(now)
        .to_datetime()
        .date_naive();
    let x12 = eligibility::write_270(
        &envelope(config, &sender, control_number, now),
        &Inquiry {
            provider: sender.provider,
            payer_id: insurance.payer_id.as_str(),
            payer_name: insurance.payer_name.as_str(),
            member_id: insurance.member_id.as_str(),
            family_name: &patient.family_name,
            given_name: &patient.given_name,
            birth_date: patient.birth_date,
            service_date,
            trace: &trace,
        },
    );
    // The insurance leaves Bedside here: recorded before it goes.
    let sent = AuditEntry::new(actor, "eligibility.request", "Visit")
        .resource(visit_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &sent).await?;
    store::commit(tx).await?;

    let response = clearinghouse.exchange("270", &x12).await?;
    let answer = eligibility::read_271(&response, &trace).map_err(unreadable)?;

    let check = EligibilityCheck {
        id: uuid::Uuid::now_v7().to_string(),
        visit_id: visit_id.clone(),
        patient_id: visit.patient_id.clone(),
        trace,
        checked_at: clock.now(),
        checked_by: actor.id.clone(),
        answer,
    };
    let mut tx = store.begin().await?;
    store::insert_eligibility_check(
        &mut tx,
        &EligibilityRow {
            id: check.id.clone(),
            visit_id: visit_id.as_str().to_owned(),
            patient_id: check.patient_id.as_str().to_owned(),
            trace: check.trace.clone(),
            coverage: coverage_name(check.answer.coverage).to_owned(),
            answer: serde_json::to_string(&check.answer)
                .map_err(|_| StoreError::Corrupt("eligibility answer"))?,
            response,
            checked_by: check.checked_by.clone(),
            checked_at: check.checked_at.millis(),
        },
    )
    .await?;
    let entry = AuditEntry::new(actor, "eligibility.check", "Visit")
        .resource(visit_id)
        .patient(&check.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(check)
}

fn coverage_name(coverage: Coverage) -> &'static str {
    match coverage {
        Coverage::Active => "active",
        Coverage::Inactive => "inactive",
        Coverage::Rejected => "rejected",
        Coverage::Unknown => "unknown",
    }
}

/// The visit's latest eligibility answer; `None` when none was asked.
#[tracing::instrument(skip_all, fields(visit.id = %visit_id))]
pub async fn last_eligibility(
    store: &Store,
    actor: &Actor,
    visit_id: &VisitId,
) -> Result<Option<EligibilityCheck>, BillingError> {
    let mut tx = store.begin().await?;
    let visit = store::get_visit(&mut tx, visit_id)
        .await?
        .ok_or(BillingError::NotFound("visit"))?;
    let row = store::latest_eligibility_check(&mut tx, visit_id).await?;
    let entry = AuditEntry::new(actor, "eligibility.read", "Visit")
        .resource(visit_id)
        .patient(&visit.patient_id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(row.map(EligibilityCheck::try_from).transpose()?)
}

/// A claim-status inquiry's result (`POST /claims/{id}/status-inquiry`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusInquiryResult {
    pub claim: Claim,
    /// STC01-1 of the answer, e.g. `A2`, `F1`.
    pub category: String,
    /// STC01-2, e.g. `20`, `65`.
    pub status_code: String,
    /// The answer in words, as written in the claim's history.
    pub description: String,
    /// Whether the answer moved the claim's status.
    pub moved: bool,
}

/// What a status outcome moves the claim to, if anything.
fn target(outcome: Outcome) -> Option<ClaimStatus> {
    match outcome {
        Outcome::Accepted => Some(ClaimStatus::Accepted),
        Outcome::Rejected => Some(ClaimStatus::Rejected),
        Outcome::Paid => Some(ClaimStatus::Paid),
        Outcome::Denied => Some(ClaimStatus::Denied),
        Outcome::Received | Outcome::Pending | Outcome::Noted => None,
    }
}

/// Whether a claim a 277 already finalized as `outcome` still takes the
/// 835 that brings its money: the 277 moves the status, the 835 posts.
pub fn awaits_remittance(claim: &Claim, outcome: ClaimStatus) -> bool {
    claim.status == outcome
        && matches!(outcome, ClaimStatus::Paid | ClaimStatus::Denied)
        && claim.paid_cents == 0
}

/// Moves `before` to `to` (when the state machine allows) or only notes
/// `note` in its history; the claim as it now stands, and whether it moved.
async fn move_claim(
    tx: &mut Tx,
    actor: &Actor,
    before: &Claim,
    to: Option<ClaimStatus>,
    reason: Option<&str>,
    note: &str,
    now: Timestamp,
) -> Result<(Claim, bool), BillingError> {
    let mut claim = before.clone();
    let moving = to.filter(|to| before.status.may_become(*to));
    if let Some(to) = moving {
        claim.status = to;
        claim.updated_at = now;
        if matches!(to, ClaimStatus::Rejected | ClaimStatus::Denied) {
            claim.status_reason = reason.map(str::to_owned);
        }
        if !store::update_claim(tx, &claim, before.status).await? {
            return Err(BillingError::WrongState(
                "the claim changed meanwhile".to_owned(),
            ));
        }
    }
    record_step(
        tx,
        actor,
        &claim,
        Some(before.status),
        Some(note),
        now.millis(),
    )
    .await?;
    Ok((claim, moving.is_some()))
}

/// Asks the payer, through the clearinghouse, where a submitted claim
/// stands, and moves the claim as the 277's status category says.
#[tracing::instrument(skip_all, fields(claim.id = %id))]
pub async fn inquire_claim_status(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    config: &BillingSettings,
    clearinghouse: &dyn Clearinghouse,
    id: &ClaimId,
) -> Result<StatusInquiryResult, BillingError> {
    if config.clearinghouse.is_none() {
        return Err(ClearinghouseError::NotConfigured.into());
    }
    let mut tx = store.begin().await?;
    let claim = load(&mut tx, id).await?;
    if claim.submitted_at.is_none() {
        return Err(BillingError::WrongState(format!(
            "claim {} has not been submitted yet",
            claim.number
        )));
    }
    let payer = claim
        .payer
        .clone()
        .ok_or_else(|| BillingError::WrongState(format!("claim {} has no payer", claim.number)))?;
    let patient = store::get_patient(&mut tx, &claim.patient_id)
        .await?
        .ok_or(StoreError::Corrupt("claims.patient_id"))?;
    let sender = sender(config)?;
    let control_number = store::next_counter(&mut tx, "x12_interchange").await?;
    let trace = format!("CS{control_number:09}");
    let x12 = claim_status::write_276(
        &envelope(config, &sender, control_number, clock.now()),
        &StatusInquiry {
            provider: sender.provider,
            payer_id: &payer.payer_id,
            payer_name: &payer.payer_name,
            member_id: &payer.member_id,
            family_name: &patient.family_name,
            given_name: &patient.given_name,
            birth_date: patient.birth_date,
            sex: patient.sex,
            claim_number: &claim.number,
            total_cents: claim.total_cents,
            service_date: claim.service_date,
            trace: &trace,
        },
    );
    store::append_audit(&mut tx, &audit(actor, "claim.status_inquiry", &claim)).await?;
    store::commit(tx).await?;

    let response = clearinghouse.exchange("276", &x12).await?;
    let answers = claim_status::read_277(&response).map_err(unreadable)?;
    let answer: &ClaimAnswer = answers
        .iter()
        .find(|a| a.trace == trace || a.claim_number.as_deref() == Some(claim.number.as_str()))
        .ok_or_else(|| unreadable("the 277 does not answer this claim"))?;
    let status = answer
        .statuses
        .first()
        .ok_or_else(|| unreadable("the 277 gives this claim no status (STC)"))?;
    let description = status.words();

    let now = clock.now();
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    let (mut claim, moved) = move_claim(
        &mut tx,
        actor,
        &before,
        target(status.outcome()),
        Some(&description),
        &description,
        now,
    )
    .await?;
    // The payer's claim number, for a later replacement or void.
    if claim.payer_claim_number.is_none()
        && let Some(number) = &answer.payer_claim_number
    {
        claim.payer_claim_number = Some(number.clone());
        store::update_claim(&mut tx, &claim, claim.status).await?;
    }
    store::append_audit(&mut tx, &audit(actor, "claim.status_answer", &claim)).await?;
    store::commit(tx).await?;
    Ok(StatusInquiryResult {
        claim,
        category: status.category.clone(),
        status_code: status.code.clone(),
        description,
        moved,
    })
}

/// One claim of an acknowledged batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcknowledgedClaim {
    pub claim_id: ClaimId,
    pub number: String,
    /// The claim's status after the 999.
    pub status: ClaimStatus,
    pub moved: bool,
    /// What the 999 found wrong in its transaction set, in words.
    pub errors: Vec<String>,
}

/// `POST /acknowledgements`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcknowledgementResult {
    pub id: String,
    /// The 837P batch whose GS06 the 999's AK102 names.
    pub batch_id: String,
    pub group_control_number: i64,
    /// `accepted`, `partially_accepted` or `rejected` (AK901).
    pub verdict: String,
    pub claims: Vec<AcknowledgedClaim>,
}

/// Each transaction set's ST02 in a batch, with the CLM01 it carries.
fn claims_by_set(body: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for group in interchange::read_groups(body).unwrap_or_default() {
        let mut st = None;
        for segment in &group.segments {
            match segment.id() {
                "ST" => st = Some(segment.get(2).to_owned()),
                "CLM" => {
                    if let Some(st) = st.take() {
                        map.insert(st, segment.get(1).to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    map
}

/// Reads a 999, ties it to the 837P batch it acknowledges and moves each
/// of the batch's claims to accepted or rejected.
#[tracing::instrument(skip_all)]
pub async fn receive_acknowledgement(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    text: &str,
) -> Result<AcknowledgementResult, BillingError> {
    let ack: Acknowledgement = acknowledgement::read_999(text)?;
    if ack.group_functional_id != "HC" {
        return Err(FieldError::new(
            "body",
            format!(
                "the 999 acknowledges a {} group, not an 837 claim batch (HC)",
                ack.group_functional_id
            ),
        )
        .into());
    }
    let now = clock.now();
    let mut tx = store.begin().await?;
    let batch = store::batch_by_control_number(&mut tx, ack.group_control_number)
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "body",
                format!(
                    "no 837 batch was sent with group control number {} (AK102)",
                    ack.group_control_number
                ),
            )
        })?;
    let numbers = claims_by_set(&batch.body);
    // Without AK2 loops the group's verdict speaks for every set.
    let answers: Vec<(String, Verdict, Vec<String>)> = if ack.sets.is_empty() {
        let mut all: Vec<(&String, &String)> = numbers.iter().collect();
        all.sort();
        all.into_iter()
            .map(|(_, number)| (number.clone(), ack.verdict, Vec::new()))
            .collect()
    } else {
        ack.sets
            .iter()
            .filter_map(|set| {
                let number = numbers.get(&set.control_number)?;
                Some((number.clone(), set.verdict, set.errors.clone()))
            })
            .collect()
    };
    let mut claims = Vec::new();
    for (number, verdict, errors) in answers {
        let Some(before) = store::claim_by_number(&mut tx, &number).await? else {
            continue;
        };
        let (to, note) = match verdict {
            Verdict::Accepted => (
                ClaimStatus::Accepted,
                format!("999 accepted batch {}", ack.group_control_number),
            ),
            Verdict::Rejected | Verdict::PartiallyAccepted => (
                ClaimStatus::Rejected,
                if errors.is_empty() {
                    format!("999 rejected batch {}", ack.group_control_number)
                } else {
                    format!(
                        "999 rejected batch {}: {}",
                        ack.group_control_number,
                        errors.join("; ")
                    )
                },
            ),
        };
        let (claim, moved) =
            move_claim(&mut tx, actor, &before, Some(to), Some(&note), &note, now).await?;
        store::append_audit(&mut tx, &audit(actor, "claim.acknowledgement", &claim)).await?;
        claims.push(AcknowledgedClaim {
            claim_id: claim.id,
            number,
            status: claim.status,
            moved,
            errors,
        });
    }
    let verdict = ack.verdict.as_str();
    let id = store::insert_acknowledgement(
        &mut tx,
        &NewAcknowledgement {
            batch_id: Some(&batch.id),
            functional_id: &ack.group_functional_id,
            group_control_number: ack.group_control_number,
            verdict,
            body: text,
            received_by: actor.id.as_deref(),
            at: now,
        },
    )
    .await?;
    store::mark_batch_acknowledged(&mut tx, &batch.id, verdict, now).await?;
    let entry = AuditEntry::new(actor, "claim.batch_acknowledgement", "Claim").resource(&batch.id);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(AcknowledgementResult {
        id,
        batch_id: batch.id,
        group_control_number: ack.group_control_number,
        verdict: verdict.to_owned(),
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_names_each_sets_claim() {
        let body = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *260302*1319*^*00501*000000017*0*T*:~\n\
                    GS*HC*A*B*20260302*1319*17*X*005010X222A1~\nST*837*0001*005010X222A1~\nCLM*BS00000001*75***10:B:1*Y*A*Y*Y~\nSE*3*0001~\n\
                    ST*837*0002*005010X222A1~\nCLM*BS00000002*95***10:B:1*Y*A*Y*Y~\nSE*3*0002~\nGE*2*17~\nIEA*1*000000017~\n";
        let map = claims_by_set(body);
        assert_eq!(map.get("0001").map(String::as_str), Some("BS00000001"));
        assert_eq!(map.get("0002").map(String::as_str), Some("BS00000002"));
    }

    #[test]
    fn status_categories_move_claims_only_where_the_machine_allows() {
        assert_eq!(target(Outcome::Accepted), Some(ClaimStatus::Accepted));
        assert_eq!(target(Outcome::Paid), Some(ClaimStatus::Paid));
        assert_eq!(target(Outcome::Pending), None);
        assert_eq!(target(Outcome::Received), None);
    }
}
