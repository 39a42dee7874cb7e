//! Billing's settings: who bills, how claims are addressed in X12, what
//! each code is charged and how each payer wants it coded, where new
//! claims are announced and how often the worker runs. Built from config
//! at start; billing reads nothing else of it.

use std::time::Duration;

use secrecy::SecretString;

use super::codes::{FeeSchedule, PayerRules};
use crate::model::codes::{Npi, PostalCode};

/// Everything billing needs from the clinic's configuration.
#[derive(Debug, Clone, Default)]
pub struct BillingSettings {
    /// `BEDSIDE_BILLING_*`: absent until every key is set.
    pub provider: Option<BillingProvider>,
    /// `BEDSIDE_X12_SENDER_ID`, `BEDSIDE_X12_RECEIVER_ID`.
    pub x12_sender_id: Option<String>,
    pub x12_receiver_id: Option<String>,
    /// `BEDSIDE_X12_USAGE`: ISA15, `P` (production) or `T` (test).
    pub x12_usage: X12Usage,
    /// `BEDSIDE_BILLING_PHONE`: the billing contact's ten-digit phone (837 loop 1000A).
    pub phone: Option<String>,
    /// `BEDSIDE_FEE_SCHEDULE`: a code without a fee waits in review.
    pub fee_schedule: FeeSchedule,
    /// `BEDSIDE_PAYER_RULES`.
    pub payer_rules: PayerRules,
    /// `BEDSIDE_BILLING_WEBHOOK_URL`, `BEDSIDE_BILLING_WEBHOOK_SECRET`.
    pub webhook: Option<BillingWebhook>,
    /// `BEDSIDE_BILLING_POLL_SECONDS`: how often the worker runs; `None` is off.
    pub poll_every: Option<Duration>,
    /// `BEDSIDE_BILLING_WORKERS`: claim loops on this node (at least one).
    pub workers: usize,
    /// `BEDSIDE_CLEARINGHOUSE_*`: where eligibility and claim-status
    /// inquiries go; `None` until a URL is set.
    pub clearinghouse: Option<super::clearinghouse::ClearinghouseSettings>,
}

/// ISA15: whether an interchange is production or test data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum X12Usage {
    #[default]
    Production,
    Test,
}

impl X12Usage {
    pub fn code(self) -> char {
        match self {
            Self::Production => 'P',
            Self::Test => 'T',
        }
    }
}

/// The billing provider printed on every claim.
#[derive(Debug, Clone)]
pub struct BillingProvider {
    pub name: String,
    pub npi: Npi,
    pub tax_id: String,
    pub address_line: String,
    pub city: String,
    pub state: String,
    pub postal_code: PostalCode,
}

/// Where new claims are announced, and the key that signs them.
#[derive(Debug, Clone)]
pub struct BillingWebhook {
    pub url: String,
    pub secret: SecretString,
}
