//! The waiting room at scale: patients with a booked visit and a socket
//! open are checked in at a steady rate, spread over several queues, while
//! one staff socket watches each queue. The driver counts every `visit`
//! frame a patient hears and every `queue` frame a watcher hears, checks
//! that each patient was told its place and each watcher saw each of its
//! patients waiting, and times both from the check-in request.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::args::Plan;
use crate::clinic::{Api, Booked};
use crate::sockets::{self, Ws};

/// How long frames may still take to arrive after the last check-in.
const SETTLE: Duration = Duration::from_secs(20);

/// What the scenario asks for.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub patients: usize,
    pub queues: usize,
    pub per_second: u32,
}

/// Counters shared by the sockets and the check-ins.
struct Tally {
    base: Instant,
    /// When each visit's check-in was sent, in ns since `base`.
    checked_in: Mutex<HashMap<String, u64>>,
    visit_frames: AtomicU64,
    queue_frames: AtomicU64,
    /// Patients told they wait, and watchers' sightings of a waiting visit.
    told: Mutex<HashSet<String>>,
    seen: Mutex<HashSet<String>>,
    visit_latency: Mutex<Histogram<u64>>,
    queue_latency: Mutex<Histogram<u64>>,
    check_in_latency: Mutex<Histogram<u64>>,
    failed_check_ins: AtomicU64,
    dropped_sockets: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        let histogram = || Histogram::new_with_bounds(1, 600_000_000, 3);
        Ok(Self {
            base: Instant::now(),
            checked_in: Mutex::new(HashMap::new()),
            visit_frames: AtomicU64::new(0),
            queue_frames: AtomicU64::new(0),
            told: Mutex::new(HashSet::new()),
            seen: Mutex::new(HashSet::new()),
            visit_latency: Mutex::new(histogram()?),
            queue_latency: Mutex::new(histogram()?),
            check_in_latency: Mutex::new(histogram()?),
            failed_check_ins: AtomicU64::new(0),
            dropped_sockets: AtomicU64::new(0),
        })
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Microseconds since the visit's check-in was sent.
    fn since_check_in(&self, visit_id: &str) -> Option<u64> {
        let sent = *lock(&self.checked_in).get(visit_id)?;
        Some(self.now_ns().saturating_sub(sent) / 1_000)
    }

    fn on_frame(&self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match frame["type"].as_str() {
            Some("visit") => {
                self.visit_frames.fetch_add(1, Ordering::Relaxed);
                let Some(visit_id) = frame["visit_id"].as_str() else {
                    return;
                };
                if frame["status"] == "waiting"
                    && frame["position"].is_u64()
                    && lock(&self.told).insert(visit_id.to_owned())
                    && let Some(micros) = self.since_check_in(visit_id)
                {
                    lock(&self.visit_latency).saturating_record(micros.max(1));
                }
            }
            Some("queue") => {
                self.queue_frames.fetch_add(1, Ordering::Relaxed);
                let Some(entries) = frame["entries"].as_array() else {
                    return;
                };
                for entry in entries.iter().filter(|e| e["status"] == "waiting") {
                    let Some(visit_id) = entry["visit_id"].as_str() else {
                        continue;
                    };
                    if lock(&self.seen).insert(visit_id.to_owned())
                        && let Some(micros) = self.since_check_in(visit_id)
                    {
                        lock(&self.queue_latency).saturating_record(micros.max(1));
                    }
                }
            }
            _ => {}
        }
    }
}

pub async fn run(plan: Plan, room: Room) -> anyhow::Result<()> {
    let api = Api::sign_in(&plan.base, &plan.scheduler, &plan.clinician).await?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let started = Instant::now();
    let queue_ids: Vec<String> = stream::iter(0..room.queues)
        .map(|n| api.create_queue(run, n))
        .buffered(plan.concurrency)
        .try_collect()
        .await?;
    let booked: Vec<Booked> = stream::iter(0..room.patients)
        .map(|n| {
            let api = &api;
            let queue = &queue_ids[n % room.queues];
            async move { api.book_only(queue, n).await }
        })
        .buffered(plan.concurrency)
        .try_collect()
        .await?;
    eprintln!(
        "booked {} visits in {} queues in {:.1} s; opening sockets",
        booked.len(),
        queue_ids.len(),
        started.elapsed().as_secs_f64()
    );

    let tally = Arc::new(Tally::new()?);
    let (stop, stop_rx) = watch::channel(false);
    let source = |n: usize| plan.sources[n % plan.sources.len()];
    for (n, queue_id) in queue_ids.iter().enumerate() {
        let mut ws = sockets::hello(plan.server, source(n), api.scheduler_token()).await?;
        sockets::send(&mut ws, &json!({"type": "subscribe", "queue_id": queue_id})).await?;
        sockets::expect(&mut ws, "queue").await?;
        hold(ws, Arc::clone(&tally), stop_rx.clone());
    }
    let patients: Vec<Ws> = stream::iter(booked.iter().enumerate())
        .map(|(n, visit)| sockets::hello(plan.server, source(n + 1), &visit.patient_token))
        .buffered(plan.concurrency)
        .try_collect()
        .await
        .context("Failed to open a patient's socket")?;
    for ws in patients {
        hold(ws, Arc::clone(&tally), stop_rx.clone());
    }

    eprintln!(
        "{} patient and {} staff sockets open; checking in at {}/s",
        booked.len(),
        queue_ids.len(),
        room.per_second
    );
    let load_before = load_average();
    let check_ins_started = Instant::now();
    let api = Arc::new(api);
    let mut requests = Vec::with_capacity(booked.len());
    let start = tokio::time::Instant::now();
    for (n, visit) in booked.iter().enumerate() {
        let due = start + Duration::from_secs_f64(n as f64 / f64::from(room.per_second));
        tokio::time::sleep_until(due).await;
        let (api, tally, visit) = (Arc::clone(&api), Arc::clone(&tally), visit.clone());
        requests.push(tokio::spawn(async move {
            let sent = tally.now_ns();
            lock(&tally.checked_in).insert(visit.visit_id.clone(), sent);
            match api.check_in(&visit).await {
                Ok(()) => {
                    let micros = tally.now_ns().saturating_sub(sent) / 1_000;
                    lock(&tally.check_in_latency).saturating_record(micros.max(1));
                }
                Err(error) => {
                    if tally.failed_check_ins.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first failed check-in: {error:#}");
                    }
                }
            }
        }));
    }
    for request in requests {
        let _ = request.await;
    }
    let check_ins_took = check_ins_started.elapsed();
    // Wait, within bounds, until everyone was told and seen.
    let deadline = Instant::now() + SETTLE;
    let expected = booked.len() - tally.failed_check_ins.load(Ordering::Relaxed) as usize;
    while Instant::now() < deadline
        && (lock(&tally.told).len() < expected || lock(&tally.seen).len() < expected)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    report(&plan, room, &tally, check_ins_took, load_before, expected)
        .context("Failed to print the report")
}

/// Reads a socket's frames into the tally, pinging, until `stop`.
fn hold(mut ws: Ws, tally: Arc<Tally>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(sockets::PING_EVERY);
        let ping_frame = json!({"type": "ping"}).to_string();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = ping.tick() => {
                    if ws.send(Message::text(ping_frame.clone())).await.is_err() {
                        tally.dropped_sockets.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                message = ws.next() => match message {
                    Some(Ok(Message::Text(text))) => tally.on_frame(&text),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        tally.dropped_sockets.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    });
}

/// The 1-minute load average, to print beside each figure.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| String::from("unknown"))
}

fn report(
    plan: &Plan,
    room: Room,
    tally: &Tally,
    took: Duration,
    load_before: String,
    expected: usize,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let ms = |micros: u64| micros as f64 / 1000.0;
    let line = |histogram: &Histogram<u64>| {
        if histogram.is_empty() {
            String::from("none")
        } else {
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                ms(histogram.value_at_quantile(0.5)),
                ms(histogram.value_at_quantile(0.99)),
                ms(histogram.max())
            )
        }
    };
    let told = lock(&tally.told).len();
    let seen = lock(&tally.seen).len();
    writeln!(out, "bedside-loadgen waiting-room against {}", plan.base)?;
    writeln!(
        out,
        "  {} patients in {} queues checked in at {}/s in {:.1} s (failed {}); load average {} before, {} after",
        room.patients,
        room.queues,
        room.per_second,
        took.as_secs_f64(),
        tally.failed_check_ins.load(Ordering::Relaxed),
        load_before,
        load_average()
    )?;
    writeln!(
        out,
        "  frames delivered: {} visit, {} queue; sockets dropped: {}",
        tally.visit_frames.load(Ordering::Relaxed),
        tally.queue_frames.load(Ordering::Relaxed),
        tally.dropped_sockets.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "  patients told their place: {told} of {expected} (missing {}); visits seen waiting by their queue's watcher: {seen} of {expected} (missing {})",
        expected.saturating_sub(told),
        expected.saturating_sub(seen)
    )?;
    writeln!(
        out,
        "  check-in request: {}",
        line(&lock(&tally.check_in_latency))
    )?;
    writeln!(
        out,
        "  check-in to the patient's visit frame: {}",
        line(&lock(&tally.visit_latency))
    )?;
    writeln!(
        out,
        "  check-in to the watcher's queue frame: {}",
        line(&lock(&tally.queue_latency))
    )?;
    Ok(())
}
