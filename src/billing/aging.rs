//! The aging report: what is still owed on coded claims, by payer, in
//! buckets of days since the date of service (0–30, 31–60, 61–90, 90+).

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::BillingError;
use crate::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::store::{self, OpenBalance, Store};

/// One payer's open balances; amounts in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgingRow {
    /// None for claims billed to no payer.
    pub payer_id: Option<String>,
    pub payer_name: Option<String>,
    pub days_0_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub days_over_90: i64,
    pub total: i64,
}

impl AgingRow {
    fn add(&mut self, days: i64, cents: i64) {
        let bucket = match days {
            ..=30 => &mut self.days_0_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.days_over_90,
        };
        *bucket += cents;
        self.total += cents;
    }
}

/// `GET /reports/aging`: a row per payer (by name) and the totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingReport {
    #[schema(value_type = String, format = "date")]
    pub as_of: NaiveDate,
    pub payers: Vec<AgingRow>,
    pub totals: AgingRow,
}

/// Buckets balances by days from their date of service to `today`.
pub fn bucket(balances: &[OpenBalance], today: NaiveDate) -> AgingReport {
    let mut payers: Vec<AgingRow> = Vec::new();
    let mut totals = AgingRow::default();
    for balance in balances {
        let Ok(served) = NaiveDate::parse_from_str(&balance.service_date, "%Y-%m-%d") else {
            continue;
        };
        let days = (today - served).num_days();
        let row = match payers
            .iter_mut()
            .position(|r| r.payer_id == balance.payer_id)
        {
            Some(i) => &mut payers[i],
            None => {
                payers.push(AgingRow {
                    payer_id: balance.payer_id.clone(),
                    payer_name: balance.payer_name.clone(),
                    ..AgingRow::default()
                });
                payers.last_mut().expect("just pushed")
            }
        };
        row.add(days, balance.outstanding_cents);
        totals.add(days, balance.outstanding_cents);
    }
    payers.sort_by(|a, b| a.payer_name.cmp(&b.payer_name));
    AgingReport {
        as_of: today,
        payers,
        totals,
    }
}

#[tracing::instrument(skip_all)]
pub async fn report(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
) -> Result<AgingReport, BillingError> {
    let mut tx = store.begin().await?;
    let balances = store::open_balances(&mut tx).await?;
    store::append_audit(&mut tx, &AuditEntry::new(actor, "report.aging", "Claim")).await?;
    store::commit(tx).await?;
    let today = clock.now().to_datetime().date_naive();
    Ok(bucket(&balances, today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(payer: &str, date: &str, cents: i64) -> OpenBalance {
        OpenBalance {
            payer_id: Some(payer.to_owned()),
            payer_name: Some(format!("{payer} Plan")),
            service_date: date.to_owned(),
            outstanding_cents: cents,
        }
    }

    #[test]
    fn balances_fall_in_buckets_by_whole_days_since_service() {
        let today = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        let report = bucket(
            &[
                open("A", "2026-05-31", 100), // 30 days
                open("A", "2026-05-30", 200), // 31
                open("A", "2026-05-01", 300), // 60
                open("A", "2026-04-30", 400), // 61
                open("A", "2026-04-01", 500), // 90
                open("B", "2026-03-31", 600), // 91
            ],
            today,
        );
        let a = &report.payers[0];
        assert_eq!(
            (a.days_0_30, a.days_31_60, a.days_61_90, a.days_over_90),
            (100, 500, 900, 0)
        );
        assert_eq!(report.payers[1].days_over_90, 600);
        assert_eq!(report.totals.total, 2100);
    }
}
