//! FHIR search under many clients: registers many patients, checks some of
//! them in with vital signs (each check-in records vital-sign
//! Observations), then runs concurrent clients that alternate
//! `Patient?name=` and `Observation?patient=&category=vital-signs` for a
//! fixed time, and prints throughput and latency per search.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::args::Plan;
use crate::clinic::Api;
use crate::waiting::load_average;

/// What the scenario asks for.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub patients: usize,
    pub with_vitals: usize,
    pub clients: usize,
    pub seconds: u64,
}

struct Search {
    latency: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Search {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    fn record(&self, started: Instant, ok: bool) {
        let micros = started.elapsed().as_micros() as u64;
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
            self.latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .saturating_record(micros.max(1));
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run(plan: Plan, load: Load) -> anyhow::Result<()> {
    let api = Api::sign_in(&plan.base, &plan.scheduler, &plan.clinician).await?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let started = Instant::now();
    let family = format!("Fhir{run}");
    let patients: Vec<String> = stream::iter(0..load.patients)
        .map(|n| {
            let (api, family) = (&api, &family);
            async move { api.register(&format!("Load{n}"), family).await }
        })
        .buffered(plan.concurrency)
        .try_collect()
        .await?;
    let queue = api.create_queue(run, 0).await?;
    let with_vitals = load.with_vitals.min(patients.len());
    stream::iter(patients.iter().take(with_vitals))
        .map(|patient| api.check_in_with_vitals(&queue, patient))
        .buffered(plan.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "registered {} patients ({with_vitals} with vital signs) in {:.1} s; searching",
        patients.len(),
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(load.clients)
        .timeout(Duration::from_secs(60))
        .build()
        .context("Failed to build the HTTP client")?;
    let by_name = Arc::new(Search::new()?);
    let vitals = Arc::new(Search::new()?);
    let token = Arc::new(api.clinician_token().to_owned());
    let patients = Arc::new(patients);
    let until = Instant::now() + Duration::from_secs(load.seconds);
    let load_before = load_average();
    let searching = Instant::now();
    let clients: Vec<_> = (0..load.clients)
        .map(|c| {
            let (client, token, patients) =
                (client.clone(), Arc::clone(&token), Arc::clone(&patients));
            let (by_name, vitals, base) =
                (Arc::clone(&by_name), Arc::clone(&vitals), plan.base.clone());
            tokio::spawn(async move {
                let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (c as u64 + 1);
                while Instant::now() < until {
                    let n = next(&mut seed) as usize;
                    let url = format!("{base}/fhir/Patient?name=Load{}", n % patients.len());
                    let started = Instant::now();
                    by_name.record(started, get(&client, &url, &token).await);
                    let patient = &patients[n % with_vitals.max(1)];
                    let url =
                        format!("{base}/fhir/Observation?patient={patient}&category=vital-signs");
                    let started = Instant::now();
                    vitals.record(started, get(&client, &url, &token).await);
                }
            })
        })
        .collect();
    for client in clients {
        let _ = client.await;
    }
    let took = searching.elapsed();

    let mut out = std::io::stdout().lock();
    writeln!(out, "bedside-loadgen fhir against {}", plan.base)?;
    writeln!(
        out,
        "  {} patients ({with_vitals} with vital signs), {} clients for {:.1} s; load average {load_before} before, {} after",
        patients.len(),
        load.clients,
        took.as_secs_f64(),
        load_average()
    )?;
    for (name, search) in [
        ("Patient?name=", &by_name),
        ("Observation?patient=&category=vital-signs", &vitals),
    ] {
        let latency = search
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ms = |micros: u64| micros as f64 / 1000.0;
        writeln!(
            out,
            "  {name}: {} ok ({:.0}/s), {} failed; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            search.ok.load(Ordering::Relaxed),
            search.ok.load(Ordering::Relaxed) as f64 / took.as_secs_f64().max(1e-9),
            search.failed.load(Ordering::Relaxed),
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max())
        )?;
    }
    Ok(())
}

/// A searchset Bundle came back.
async fn get(client: &reqwest::Client, url: &str, token: &str) -> bool {
    let Ok(response) = client.get(url).bearer_auth(token).send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    matches!(response.json::<Value>().await, Ok(bundle) if bundle["type"] == "searchset")
}

/// xorshift64*: spreads the clients' searches without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

impl Api {
    /// Registers a patient; answers its id.
    pub async fn register(&self, given: &str, family: &str) -> anyhow::Result<String> {
        let patient = self
            .post_as_scheduler(
                "/patients",
                &json!({"given_name": given, "family_name": family, "birth_date": "1980-01-01", "sex": "unknown"}),
            )
            .await?;
        match patient["id"].as_str() {
            Some(id) => Ok(id.to_owned()),
            None => bail!("the new patient has no id"),
        }
    }

    /// Books a visit for the patient and checks it in with vital signs.
    pub async fn check_in_with_vitals(&self, queue_id: &str, patient: &str) -> anyhow::Result<()> {
        let visit = self
            .post_as_scheduler(
                "/visits",
                &json!({"patient_id": patient, "queue_id": queue_id, "reason": "Load test"}),
            )
            .await?;
        let (Some(id), Some(token)) = (visit["id"].as_str(), visit["patient_token"].as_str())
        else {
            bail!("the new visit has no id or token");
        };
        self.post_as(
            &format!("/visits/{id}/check-in"),
            token,
            &json!({
                "consent_to_telehealth": true,
                "vitals": {"heart_rate": 72, "respiratory_rate": 14, "spo2": 98,
                           "systolic_bp": 120, "temperature_c": 36.8, "consciousness": "alert"}
            }),
        )
        .await?;
        Ok(())
    }
}
