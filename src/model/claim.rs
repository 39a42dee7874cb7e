//! The claim as billing keeps it and the API shows it, its status machine,
//! and the patient account built from its postings.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::billing_codes::{Cpt, Modifier, PlaceOfService};
use crate::model::codes::Icd10;
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::model::patient::Insurance;
use crate::model::timestamp::Timestamp;
use crate::model::visit::PatientLocation;

/// What a closed visit tells billing, typed as the visit recorded it.
#[derive(Debug, Clone)]
pub struct ClaimFacts {
    pub patient_id: PatientId,
    pub total_minutes: i64,
    /// The clinician's word on new vs established, when given.
    pub new_patient: Option<bool>,
    pub audio_only: bool,
    pub patient_location: Option<PatientLocation>,
    pub period_start: Option<Timestamp>,
    pub period_end: Timestamp,
    pub payer: Option<ClaimPayer>,
    /// The visit's diagnoses, primary first.
    pub diagnoses: Vec<Icd10>,
    /// When the patient's latest earlier finished encounter ended, if any.
    pub previous_encounter_end: Option<Timestamp>,
    /// Why the visit bills as video or audio-only (the measured call, or
    /// the clinician's stated reason), kept at close.
    pub modality_reason: Option<String>,
}

/// A claim's id: a UUID in text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = "uuid")]
pub struct ClaimId(String);

impl ClaimId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn parse(value: &str) -> Option<Self> {
        uuid::Uuid::parse_str(value)
            .ok()
            .map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ClaimId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ClaimId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ClaimStatus {
    NeedsReview,
    Ready,
    Submitted,
    Accepted,
    Rejected,
    Paid,
    Denied,
}

impl ClaimStatus {
    /// The claim state machine: whether a claim may move from `self` to
    /// `to`. A reviewed claim is released to ready; a rejected one may be
    /// sent again; a remittance is the payer's last word, even after a
    /// rejection; paid and denied are final.
    pub fn may_become(self, to: Self) -> bool {
        use ClaimStatus::*;
        matches!(
            (self, to),
            (NeedsReview, Ready)
                | (Ready | Rejected, Submitted)
                | (Submitted, Accepted | Rejected | Paid | Denied)
                | (Accepted | Rejected, Paid | Denied)
        )
    }

    /// Whether the claim has codes an 837 can carry.
    pub fn is_coded(self) -> bool {
        self != Self::NeedsReview
    }
}

/// One service line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimLine {
    pub cpt: Cpt,
    pub modifiers: Vec<Modifier>,
    pub units: i64,
    pub charge_cents: i64,
    /// 1-based positions in the claim's diagnoses; at most four.
    pub diagnosis_pointers: Vec<u8>,
}

/// The payer and member a claim is billed to, copied from the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimPayer {
    pub payer_id: String,
    pub payer_name: String,
    pub member_id: String,
    pub group_number: Option<String>,
}

impl From<&Insurance> for ClaimPayer {
    fn from(insurance: &Insurance) -> Self {
        Self {
            payer_id: insurance.payer_id.as_str().to_owned(),
            payer_name: insurance.payer_name.as_str().to_owned(),
            member_id: insurance.member_id.as_str().to_owned(),
            group_number: insurance
                .group_number
                .as_ref()
                .map(|g| g.as_str().to_owned()),
        }
    }
}

/// `GET /claims/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Claim {
    pub id: ClaimId,
    /// The patient control number sent as CLM01 and returned in an 835's CLP01.
    pub number: String,
    pub encounter_id: EncounterId,
    pub visit_id: VisitId,
    pub patient_id: PatientId,
    pub status: ClaimStatus,
    /// Why a biller must look at it, while `needs_review`.
    pub review_reason: Option<String>,
    /// The payer's reason for a rejection or denial.
    pub status_reason: Option<String>,
    pub payer: Option<ClaimPayer>,
    pub place_of_service: PlaceOfService,
    pub new_patient: bool,
    pub audio_only: bool,
    pub total_minutes: i64,
    #[schema(value_type = String, format = "date")]
    pub service_date: NaiveDate,
    pub diagnoses: Vec<Icd10>,
    pub lines: Vec<ClaimLine>,
    /// Always the sum of the lines' charges.
    pub total_cents: i64,
    /// What insurers paid on it so far.
    pub paid_cents: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub submitted_at: Option<Timestamp>,
    /// CLM05-3: an original claim, or a replacement or void of one the
    /// payer adjudicated.
    pub frequency: ClaimFrequency,
    /// The payer's claim control number (an 835's CLP07), sent as `REF*F8`
    /// on a replacement or void.
    pub payer_claim_number: Option<String>,
    /// Why the claim carries the video or the audio-only modifier: the
    /// measured call, or the clinician's stated reason.
    pub modality_reason: Option<String>,
}

/// CLM05-3, the claim frequency code (NUBC code source 235).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ClaimFrequency {
    /// `1`: the first claim for this service.
    #[default]
    Original,
    /// `7`: replaces a claim the payer already adjudicated.
    Replacement,
    /// `8`: cancels a claim the payer already adjudicated.
    Void,
}

impl ClaimFrequency {
    pub fn code(self) -> &'static str {
        match self {
            Self::Original => "1",
            Self::Replacement => "7",
            Self::Void => "8",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "1" => Some(Self::Original),
            "7" => Some(Self::Replacement),
            "8" => Some(Self::Void),
            _ => None,
        }
    }
}

impl Claim {
    pub fn sum_of_lines(lines: &[ClaimLine]) -> i64 {
        lines.iter().map(|l| l.charge_cents * l.units).sum()
    }
}

/// What kind of money an account entry records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EntryKind {
    /// A claim's total, owed once the claim is coded.
    Charge,
    InsurerPayment,
    /// A write-off: contractual, other or payer-initiated.
    Adjustment,
    PatientPayment,
}

/// One posting to a patient's account; amounts are positive cents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountEntry {
    pub id: String,
    pub kind: EntryKind,
    pub claim_id: Option<ClaimId>,
    pub amount_cents: i64,
    pub note: Option<String>,
    pub at: Timestamp,
}

/// A remittance's answer on one claim that was not posted: it matched no
/// claim open to payment, or its amounts do not balance or fit the claim.
/// It waits for a biller instead of touching the patient's account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RemittanceHold {
    pub id: String,
    pub remittance_id: String,
    /// CLP01 as the payer sent it.
    pub claim_number: String,
    /// The claim it names, when one has that number.
    pub claim_id: Option<ClaimId>,
    /// Why it was held, in plain words.
    pub reason: String,
    /// CLP03 and CLP04 as the payer sent them.
    pub charge_cents: i64,
    pub paid_cents: i64,
    pub created_at: Timestamp,
}

/// `GET /patients/{id}/account`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub patient_id: PatientId,
    pub charges_cents: i64,
    pub insurer_payments_cents: i64,
    pub adjustments_cents: i64,
    pub patient_payments_cents: i64,
    /// Charges less everything paid or adjusted: what the patient still owes.
    pub balance_cents: i64,
    pub entries: Vec<AccountEntry>,
}

impl Account {
    pub fn from_entries(patient_id: PatientId, entries: Vec<AccountEntry>) -> Self {
        let sum = |kind: EntryKind| -> i64 {
            entries
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.amount_cents)
                .sum()
        };
        let charges_cents = sum(EntryKind::Charge);
        let insurer_payments_cents = sum(EntryKind::InsurerPayment);
        let adjustments_cents = sum(EntryKind::Adjustment);
        let patient_payments_cents = sum(EntryKind::PatientPayment);
        Self {
            patient_id,
            charges_cents,
            insurer_payments_cents,
            adjustments_cents,
            patient_payments_cents,
            balance_cents: charges_cents
                - insurer_payments_cents
                - adjustments_cents
                - patient_payments_cents,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_moves_forward_only() {
        use ClaimStatus::*;
        assert!(Ready.may_become(Submitted));
        assert!(Submitted.may_become(Paid));
        assert!(Rejected.may_become(Submitted));
        assert!(!NeedsReview.may_become(Submitted));
        assert!(!Paid.may_become(Denied));
        assert!(!Ready.may_become(Paid));
    }

    #[test]
    fn the_balance_is_charges_less_payments_and_adjustments() {
        let entry = |kind, amount_cents| AccountEntry {
            id: String::new(),
            kind,
            claim_id: None,
            amount_cents,
            note: None,
            at: Timestamp(0),
        };
        let account = Account::from_entries(
            PatientId::new(),
            vec![
                entry(EntryKind::Charge, 12_000),
                entry(EntryKind::InsurerPayment, 8_000),
                entry(EntryKind::Adjustment, 2_000),
                entry(EntryKind::PatientPayment, 500),
            ],
        );
        assert_eq!(account.balance_cents, 1_500);
    }
}

/// One step of a claim's history: a status change, who made it and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimEvent {
    /// None when the claim was created.
    pub from_status: Option<ClaimStatus>,
    pub to_status: ClaimStatus,
    /// The reason given, or what the step was (a remittance's trace number, a batch).
    pub note: Option<String>,
    /// The staff member who acted; none for the billing worker.
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub at: Timestamp,
}

/// An 837P batch as it was sent (`GET /claims/batches`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimBatch {
    pub id: String,
    /// ISA13 and GS06 of its interchange.
    pub control_number: i64,
    pub claim_count: i64,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
}
