//! Following up an adjudicated claim: a corrected claim replaces it
//! (CLM05-3 `7`) or a void cancels it (`8`). Both keep the original's
//! CLM01, which the payer's 835 echoes, and name the payer's claim control
//! number (its CLP07) in `REF*F8`; both go out with the next batch.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    BillingError, BillingSettings, Claim, ClaimFrequency, ClaimId, ClaimStatus, EntryKind, Release,
    apply_fix, audit, load, record_step,
};
use crate::audit::Actor;
use crate::model::clock::Clock;
use crate::model::timestamp::Timestamp;
use crate::model::validation::Text;
use crate::store::{self, NewEntry, Store};

/// The body of `POST /claims/{id}/correct`: the fix, and why.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    #[serde(flatten)]
    pub fix: Release,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// The body of `POST /claims/{id}/void`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Void {
    #[serde(default)]
    pub reason: Option<Text>,
}

/// Only a claim the payer adjudicated, and whose control number an 835
/// gave, can be replaced or voided.
fn check_adjudicated(claim: &Claim) -> Result<(), BillingError> {
    if !matches!(claim.status, ClaimStatus::Paid | ClaimStatus::Denied) {
        return Err(BillingError::WrongState(format!(
            "only a paid or denied claim is corrected or voided; this one is {}",
            claim.status.as_str()
        )));
    }
    if claim.payer_claim_number.is_none() {
        return Err(BillingError::WrongState(
            "the payer's claim control number is not known: it comes with the claim's 835"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Makes a replacement of a paid or denied claim, ready to send.
#[tracing::instrument(skip_all)]
pub async fn correct(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    config: &BillingSettings,
    id: &ClaimId,
    correction: &Correction,
) -> Result<Claim, BillingError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    check_adjudicated(&before)?;
    let mut claim = before.clone();
    if let Some(reason) = apply_fix(config, &mut claim, &correction.fix)? {
        return Err(BillingError::WrongState(format!(
            "cannot resubmit: {reason}"
        )));
    }
    // The payer's money already on the claim stays; a charge below it would owe the payer.
    if claim.total_cents < claim.paid_cents {
        return Err(BillingError::WrongState(format!(
            "the corrected charge of {} is below the {} the payer already paid",
            super::remit::dollars(claim.total_cents),
            super::remit::dollars(claim.paid_cents)
        )));
    }
    claim.frequency = ClaimFrequency::Replacement;
    claim.status = ClaimStatus::Ready;
    claim.status_reason = None;
    claim.updated_at = Timestamp(now);
    if !store::update_claim(&mut tx, &claim, before.status).await? {
        return Err(BillingError::WrongState(
            "the claim changed meanwhile".to_owned(),
        ));
    }
    // The account follows the corrected charge.
    let change = claim.total_cents - before.total_cents;
    if change != 0 {
        store::insert_account_entry(
            &mut tx,
            NewEntry {
                patient: &claim.patient_id,
                claim: Some(&claim.id),
                kind: if change > 0 {
                    EntryKind::Charge
                } else {
                    EntryKind::Adjustment
                },
                amount_cents: change.abs(),
                note: Some(&format!("claim {} corrected", claim.number)),
                remittance: None,
                created_by: actor.id.as_deref(),
                at: now,
            },
        )
        .await?;
    }
    let note = correction
        .reason
        .as_ref()
        .map_or("corrected claim", Text::as_str);
    record_step(&mut tx, actor, &claim, Some(before.status), Some(note), now).await?;
    store::append_audit(&mut tx, &audit(actor, "claim.correct", &claim)).await?;
    store::commit(tx).await?;
    Ok(claim)
}

/// Makes a void of a paid or denied claim, ready to send.
#[tracing::instrument(skip_all)]
pub async fn void(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    id: &ClaimId,
    body: &Void,
) -> Result<Claim, BillingError> {
    let now = clock.now().millis();
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    check_adjudicated(&before)?;
    let mut claim = before.clone();
    claim.frequency = ClaimFrequency::Void;
    claim.status = ClaimStatus::Ready;
    claim.status_reason = None;
    claim.updated_at = Timestamp(now);
    if !store::update_claim(&mut tx, &claim, before.status).await? {
        return Err(BillingError::WrongState(
            "the claim changed meanwhile".to_owned(),
        ));
    }
    let note = body.reason.as_ref().map_or("void", Text::as_str);
    record_step(&mut tx, actor, &claim, Some(before.status), Some(note), now).await?;
    store::append_audit(&mut tx, &audit(actor, "claim.void", &claim)).await?;
    store::commit(tx).await?;
    Ok(claim)
}
