//! Consult close → claim ready: admits many visits through the API, closes
//! them at a steady rate with a bound on closes in flight, and times each
//! close from its request to the claim's arrival at this tool's billing
//! webhook receiver (the server announces each claim once committed). At
//! the end every closed visit must have exactly one claim: counted in what
//! the webhook announced and again in `GET /claims`, both printed.
//!
//! The server must be started with `BEDSIDE_BILLING_WEBHOOK_URL` pointing
//! at `--webhook` (and any `BEDSIDE_BILLING_WEBHOOK_SECRET`); its billing
//! workers (`BEDSIDE_BILLING_WORKERS`) are whatever it was started with.

mod receiver;
mod tally;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::args::Plan;
use crate::clinic::Api;
use crate::scenario::book_admitted;
use crate::waiting::load_average;

pub use tally::ClaimTally;

/// What the scenario asks for.
#[derive(Debug, Clone)]
pub struct Closing {
    pub visits: usize,
    pub per_second: u32,
    pub in_flight: usize,
    pub webhook: SocketAddr,
    pub wait: Duration,
    pub biller: String,
    pub password: String,
}

/// One close as sent.
struct Closed {
    visit_id: String,
    sent: Instant,
    answered: Instant,
    ok: bool,
}

pub async fn run(plan: Plan, closing: Closing) -> anyhow::Result<()> {
    let receiver = receiver::Receiver::start(closing.webhook).await?;
    let api = Api::sign_in(&plan.base, &plan.scheduler, &plan.clinician).await?;
    let biller = api
        .sign_in_other(&closing.biller, &closing.password)
        .await
        .with_context(|| format!("signing in the biller {}", closing.biller))?;
    let started = Instant::now();
    let booked = book_admitted(&plan, &api, closing.visits).await?;
    eprintln!(
        "admitted {} visits in {:.1} s; closing {}/s, at most {} in flight",
        booked.len(),
        started.elapsed().as_secs_f64(),
        closing.per_second,
        closing.in_flight
    );
    let before = *receiver.count().borrow();
    let load_before = load_average();

    let api = Arc::new(api);
    let gate = Arc::new(Semaphore::new(closing.in_flight));
    let interval = Duration::from_secs_f64(1.0 / f64::from(closing.per_second));
    let closing_from = Instant::now();
    let mut tasks = Vec::with_capacity(booked.len());
    for (n, visit) in booked.iter().enumerate() {
        tokio::time::sleep_until((closing_from + interval * n as u32).into()).await;
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (api, visit_id) = (Arc::clone(&api), visit.visit_id.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = api.close(&visit_id).await;
            let answered = Instant::now();
            drop(permit);
            if let Err(error) = &ok {
                eprintln!("bedside-loadgen: close of {visit_id}: {error:#}");
            }
            Closed {
                visit_id,
                sent,
                answered,
                ok: ok.is_ok(),
            }
        }));
    }
    let mut closed = Vec::with_capacity(tasks.len());
    for task in tasks {
        closed.push(task.await?);
    }
    let closing_took = closing_from.elapsed();
    let closed_ok = closed.iter().filter(|c| c.ok).count();

    // Wait for every claim, or for `--wait` after the last close.
    let mut count = receiver.count();
    let deadline = tokio::time::Instant::now() + closing.wait;
    while *count.borrow_and_update() < before + closed_ok {
        if tokio::time::timeout_at(deadline, count.changed())
            .await
            .is_err()
        {
            break;
        }
    }
    let load_after = load_average();
    let announced = receiver.announced();

    let report = Report::new(&closed, &announced, closing_from, closing_took)?;
    let listed = list_claims(&api, &biller).await?;
    let closed_ids = || closed.iter().filter(|c| c.ok).map(|c| c.visit_id.as_str());
    let by_webhook = ClaimTally::count(
        closed_ids(),
        announced
            .iter()
            .map(|a| (a.claim_id.as_str(), a.visit_id.as_str())),
    );
    let by_api = ClaimTally::count(
        closed_ids(),
        listed.iter().map(|(c, v)| (c.as_str(), v.as_str())),
    );

    let mut out = std::io::stdout().lock();
    writeln!(out, "bedside-loadgen close-claim against {}", plan.base)?;
    writeln!(
        out,
        "  {} admitted visits closed at {}/s asked, at most {} in flight; load average {load_before} before, {load_after} after",
        booked.len(),
        closing.per_second,
        closing.in_flight
    )?;
    report.write(&mut out)?;
    writeln!(out, "  claims announced by webhook: {}", by_webhook.line())?;
    writeln!(out, "  claims in GET /claims: {}", by_api.line())?;
    if receiver.strange() > 0 {
        writeln!(
            out,
            "  {} webhook bodies were not claim announcements",
            receiver.strange()
        )?;
    }
    drop(out);
    if !by_api.holds() {
        bail!("not every closed visit has exactly one claim");
    }
    if closed_ok < closed.len() {
        bail!("{} closes failed", closed.len() - closed_ok);
    }
    Ok(())
}

/// Throughput and latency of one run.
struct Report {
    closes: usize,
    failed: usize,
    closes_per_second: f64,
    close_request: Histogram<u64>,
    ready: Histogram<u64>,
    claims: usize,
    claims_per_second: f64,
    statuses: Vec<(String, usize)>,
}

impl Report {
    fn new(
        closed: &[Closed],
        announced: &[receiver::Announced],
        from: Instant,
        closing_took: Duration,
    ) -> anyhow::Result<Self> {
        let mut close_request = Histogram::new_with_bounds(1, 600_000_000, 3)?;
        let mut ready = Histogram::new_with_bounds(1, 600_000_000, 3)?;
        let sent: HashMap<&str, Instant> = closed
            .iter()
            .filter(|c| c.ok)
            .map(|c| (c.visit_id.as_str(), c.sent))
            .collect();
        for c in closed.iter().filter(|c| c.ok) {
            close_request.saturating_record(micros(c.answered - c.sent));
        }
        let mut last = from;
        let mut claims = 0;
        let mut statuses: HashMap<&str, usize> = HashMap::new();
        for a in announced {
            let Some(sent) = sent.get(a.visit_id.as_str()) else {
                continue;
            };
            claims += 1;
            last = last.max(a.at);
            ready.saturating_record(micros(a.at.saturating_duration_since(*sent)));
            *statuses.entry(a.status.as_str()).or_default() += 1;
        }
        let mut statuses: Vec<(String, usize)> = statuses
            .into_iter()
            .map(|(s, n)| (s.to_owned(), n))
            .collect();
        statuses.sort();
        let closes = sent.len();
        Ok(Self {
            closes,
            failed: closed.len() - closes,
            closes_per_second: closes as f64 / closing_took.as_secs_f64().max(1e-9),
            close_request,
            ready,
            claims,
            claims_per_second: claims as f64 / (last - from).as_secs_f64().max(1e-9),
            statuses,
        })
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &self.close_request;
        writeln!(
            out,
            "  closes: {} ok ({:.0}/s), {} failed; close request p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.closes,
            self.closes_per_second,
            self.failed,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        )?;
        let h = &self.ready;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        writeln!(
            out,
            "  claims: {} ready ({:.0}/s from the first close to the last claim; {}); close → claim ready p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.claims,
            self.claims_per_second,
            if statuses.is_empty() {
                String::from("none")
            } else {
                statuses.join(", ")
            },
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        )
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Every claim the server lists (claim id, visit id), page by page.
async fn list_claims(api: &Api, biller: &str) -> anyhow::Result<Vec<(String, String)>> {
    const PAGE: usize = 1_000;
    let mut claims = Vec::new();
    loop {
        let page = api
            .get_as(
                &format!("/claims?limit={PAGE}&offset={}", claims.len()),
                biller,
            )
            .await?;
        let Some(page) = page.as_array() else {
            bail!("GET /claims did not answer a list");
        };
        for claim in page {
            let (Some(id), Some(visit)) = (claim["id"].as_str(), claim["visit_id"].as_str()) else {
                bail!("a listed claim has no id or visit_id");
            };
            claims.push((id.to_owned(), visit.to_owned()));
        }
        if page.len() < PAGE {
            return Ok(claims);
        }
    }
}

impl Api {
    /// The admitting clinician closes the visit with a note and a diagnosis.
    pub async fn close(&self, visit_id: &str) -> anyhow::Result<Value> {
        self.post_as(
            &format!("/visits/{visit_id}/close"),
            self.clinician_token(),
            &json!({
                "diagnoses": ["J06.9"],
                "note": {"subjective": "Sore throat for 3 days", "objective": "Erythema",
                         "assessment": "Viral pharyngitis", "plan": "Fluids, rest"},
                "total_minutes": 18,
                "patient_location": "home"
            }),
        )
        .await
    }
}
