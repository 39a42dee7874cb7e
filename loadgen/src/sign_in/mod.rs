//! Sign-ins per second: concurrent clients sign one staff user in with the
//! right password, again and again, for a fixed time. Every sign-in costs
//! the server an Argon2 check on its bounded hashing threads
//! (`BEDSIDE_SIGNIN_WORKERS`, `_QUEUE`, `_WAIT_MS`), so this measures that
//! bound: sign-ins a second, their latency, and how many were refused with
//! 503 because the threads and their queue were full. Right passwords never
//! count towards the sign-in throttle, so one address is enough.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::Plan;
use crate::waiting::load_average;

/// What the scenario asks for.
#[derive(Debug, Clone)]
pub struct Storm {
    pub clients: usize,
    pub seconds: u64,
    pub username: String,
    pub password: String,
}

#[derive(Default)]
struct Answers {
    /// By HTTP status, or the error's kind when there was no answer.
    by_status: BTreeMap<String, u64>,
    signed_in: Option<Histogram<u64>>,
    refused: Option<Histogram<u64>>,
}

pub async fn run(plan: Plan, storm: Storm) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(storm.clients)
        .timeout(Duration::from_secs(60))
        .build()
        .context("Failed to build the HTTP client")?;
    let answers = Arc::new(Mutex::new(Answers {
        signed_in: Some(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        refused: Some(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        ..Answers::default()
    }));
    let url = format!("{}/api/v1/auth/login", plan.base);
    let body = Arc::new(json!({"username": storm.username, "password": storm.password}));
    let load_before = load_average();
    let started = Instant::now();
    let until = started + Duration::from_secs(storm.seconds);
    let clients: Vec<_> = (0..storm.clients)
        .map(|_| {
            let (client, url, body, answers) = (
                client.clone(),
                url.clone(),
                Arc::clone(&body),
                Arc::clone(&answers),
            );
            tokio::spawn(async move {
                while Instant::now() < until {
                    let sent = Instant::now();
                    let outcome = client.post(&url).json(&*body).send().await;
                    let micros = (sent.elapsed().as_micros() as u64).max(1);
                    let status = match outcome {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            // Read the body so the connection is reused.
                            let _ = response.bytes().await;
                            status.to_string()
                        }
                        Err(error) if error.is_timeout() => String::from("timeout"),
                        Err(_) => String::from("no answer"),
                    };
                    let mut answers = answers.lock().unwrap_or_else(PoisonError::into_inner);
                    let histogram = match status.as_str() {
                        "200" => answers.signed_in.as_mut(),
                        "503" => answers.refused.as_mut(),
                        _ => None,
                    };
                    if let Some(histogram) = histogram {
                        histogram.saturating_record(micros);
                    }
                    *answers.by_status.entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    for client in clients {
        let _ = client.await;
    }
    let took = started.elapsed().as_secs_f64().max(1e-9);
    let answers = answers.lock().unwrap_or_else(PoisonError::into_inner);
    let ms = |micros: u64| micros as f64 / 1000.0;
    let mut out = std::io::stdout().lock();
    writeln!(out, "bedside-loadgen sign-in against {}", plan.base)?;
    writeln!(
        out,
        "  {} clients signing {} in for {took:.1} s; load average {load_before} before, {} after",
        storm.clients,
        storm.username,
        load_average()
    )?;
    let answered: Vec<String> = answers
        .by_status
        .iter()
        .map(|(status, n)| format!("{n} × {status}"))
        .collect();
    writeln!(out, "  answers: {}", answered.join(", "))?;
    if let Some(h) = &answers.signed_in {
        writeln!(
            out,
            "  signed in: {:.1}/s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            h.len() as f64 / took,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        )?;
    }
    if let Some(h) = answers.refused.as_ref().filter(|h| !h.is_empty()) {
        writeln!(
            out,
            "  refused as busy (503): {:.1}/s; p50 {:.1} ms, p99 {:.1} ms",
            h.len() as f64 / took,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99))
        )?;
    }
    Ok(())
}
