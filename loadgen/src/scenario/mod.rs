//! One run, start to finish: sign in, book the visits, read the server's
//! memory, open and join every socket, read it again, relay at the chosen
//! rate for the chosen time, drain, and print the report. Each phase has a
//! bound, so the run always ends.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::{mpsc, watch};

use crate::args::{Frame, Plan};
use crate::clinic::{Api, Booked};
use crate::server;
use crate::sockets::{self, Stats};

/// How long relayed frames still in flight may take to arrive after the schedule ends.
const DRAIN: Duration = Duration::from_secs(3);

/// The figures a comparison puts side by side.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub received_per_second: f64,
    pub lost: u64,
    pub kib_per_socket: Option<f64>,
}

pub async fn run(plan: Plan) -> anyhow::Result<Summary> {
    let setup = tokio::time::timeout(plan.setup_timeout, set_up(&plan));
    let (links, measured) = setup.await.with_context(|| {
        format!(
            "setting up took longer than --setup-timeout {:?}",
            plan.setup_timeout
        )
    })??;
    let Links {
        senders,
        stats,
        stop,
    } = links;

    let relay_started = Instant::now();
    let scheduled = relay(&plan, &senders).await;
    let schedule_ended = Instant::now();
    // Wait, within bounds, for what is still in flight.
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while tokio::time::Instant::now() < deadline
        && stats.received.load(Ordering::Relaxed) + stats.unaddressed.load(Ordering::Relaxed)
            < scheduled
    {
        poll.tick().await;
    }
    let held = stats.open.load(Ordering::Relaxed);
    let rss_after_relay = measured.pid.and_then(server::rss_kib);
    let _ = stop.send(true);
    drop(senders);

    let report = Report {
        plan: &plan,
        measured: &measured,
        stats: &stats,
        held,
        scheduled,
        relay_started,
        schedule_ended,
        rss_after_relay,
    };
    report.print().context("Failed to print the report")?;
    Ok(report.summary())
}

/// The open sockets, ready for the schedule.
struct Links {
    /// Two a pair: the patient's, then the clinician's.
    senders: Vec<mpsc::Sender<()>>,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
}

/// What setup measured.
#[derive(Debug)]
struct Measured {
    pid: Option<u32>,
    booked_in: Duration,
    connected_in: Duration,
    failed_sockets: usize,
    first_failure: Option<String>,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
}

async fn set_up(plan: &Plan) -> anyhow::Result<(Links, Measured)> {
    let pid = plan.server_pid.or_else(|| server::find_pid(plan.server));
    let started = Instant::now();
    let (booked, clinician_token) = if plan.floor {
        made_up_visits(plan.pairs)
    } else {
        book_visits(plan).await?
    };
    let booked_in = started.elapsed();
    eprintln!(
        "booked {} visits in {:.1} s; opening {} sockets",
        booked.len(),
        booked_in.as_secs_f64(),
        2 * booked.len()
    );

    let rss_before = pid.and_then(server::rss_kib);
    let started = Instant::now();
    let stats = Arc::new(Stats::new()?);
    let (stop, stop_rx) = watch::channel(false);
    // Every staff socket hears every presence change, patients' included:
    // patients join first, while no staff socket is open to hear them.
    let patients = open_all(plan, &booked, Side::Patient, &stats, &stop_rx).await;
    let clinicians = open_all(
        plan,
        &booked,
        Side::Clinician(&clinician_token),
        &stats,
        &stop_rx,
    )
    .await;
    let connected_in = started.elapsed();
    let rss_after = pid.and_then(server::rss_kib);
    finish_set_up(
        patients,
        clinicians,
        Measured {
            pid,
            booked_in,
            connected_in,
            failed_sockets: 0,
            first_failure: None,
            rss_before,
            rss_after,
        },
        stats,
        stop,
    )
}

/// The floor knows no visits: any name is a room, any token a participant.
fn made_up_visits(pairs: usize) -> (Vec<Booked>, String) {
    let booked = (0..pairs)
        .map(|n| Booked {
            visit_id: format!("visit-{n}"),
            patient_token: format!("patient-{n}"),
        })
        .collect();
    (booked, String::from("clinician"))
}

/// Books one admitted visit per pair through the API; answers them with
/// the clinician's token.
async fn book_visits(plan: &Plan) -> anyhow::Result<(Vec<Booked>, String)> {
    let api = Api::sign_in(&plan.base, &plan.scheduler, &plan.clinician).await?;
    let booked = book_admitted(plan, &api, plan.pairs).await?;
    Ok((booked, api.clinician_token().to_owned()))
}

/// Books `count` admitted visits through the API, `--visits-per-queue` to
/// a queue, `--concurrency` requests at a time.
pub async fn book_admitted(plan: &Plan, api: &Api, count: usize) -> anyhow::Result<Vec<Booked>> {
    let queues = count.div_ceil(plan.visits_per_queue);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let queue_ids: Vec<String> = stream::iter(0..queues)
        .map(|n| api.create_queue(run, n))
        .buffered(plan.concurrency)
        .try_collect()
        .await?;
    stream::iter(0..count)
        .map(|n| {
            let queue = &queue_ids[n / plan.visits_per_queue];
            async move { api.book(queue, n).await }
        })
        .buffered(plan.concurrency)
        .try_collect()
        .await
}

/// Pairs the opened sockets up for the schedule and counts the failures.
fn finish_set_up(
    patients: Vec<anyhow::Result<mpsc::Sender<()>>>,
    clinicians: Vec<anyhow::Result<mpsc::Sender<()>>>,
    mut measured: Measured,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
) -> anyhow::Result<(Links, Measured)> {
    let mut senders = Vec::with_capacity(2 * patients.len());
    let mut failed_sockets = 0;
    let mut first_failure = None;
    // Interleaved, so the schedule alternates the two directions of a pair.
    for (patient, clinician) in patients.into_iter().zip(clinicians) {
        for socket in [patient, clinician] {
            match socket {
                Ok(sender) => senders.push(sender),
                Err(error) => {
                    failed_sockets += 1;
                    first_failure.get_or_insert_with(|| format!("{error:#}"));
                }
            }
        }
    }
    eprintln!(
        "joined {} sockets in {:.1} s ({failed_sockets} failed); relaying",
        senders.len(),
        measured.connected_in.as_secs_f64()
    );
    measured.failed_sockets = failed_sockets;
    measured.first_failure = first_failure;
    Ok((
        Links {
            senders,
            stats,
            stop,
        },
        measured,
    ))
}

/// Which socket of each pair [`open_all`] opens.
#[derive(Debug, Clone, Copy)]
enum Side<'a> {
    Patient,
    /// The clinician's token, the same for every clinician socket.
    Clinician(&'a str),
}

/// Opens, joins and starts one socket per booked visit, in booking order.
async fn open_all(
    plan: &Plan,
    booked: &[Booked],
    side: Side<'_>,
    stats: &Arc<Stats>,
    stop: &watch::Receiver<bool>,
) -> Vec<anyhow::Result<mpsc::Sender<()>>> {
    stream::iter(booked.iter().enumerate())
        .map(|(n, visit)| {
            // The two sockets of a pair come from neighbouring source addresses.
            let (token, slot) = match side {
                Side::Patient => (visit.patient_token.as_str(), 2 * n),
                Side::Clinician(token) => (token, 2 * n + 1),
            };
            let source = plan.sources[slot % plan.sources.len()];
            async move {
                let joined = sockets::open(plan.server, source, token, &visit.visit_id).await?;
                Ok(sockets::spawn(
                    joined,
                    plan.frame,
                    Arc::clone(stats),
                    stop.clone(),
                ))
            }
        })
        .buffered(plan.concurrency)
        .collect()
        .await
}

/// Hands out `rate × seconds` frames evenly in time, round-robin over the
/// sockets so both directions of every pair carry the same load. Returns
/// how many were scheduled.
async fn relay(plan: &Plan, senders: &[mpsc::Sender<()>]) -> u64 {
    if plan.rate == 0 || senders.is_empty() {
        tokio::time::sleep(plan.relay_for).await;
        return 0;
    }
    let total = u64::from(plan.rate) * plan.relay_for.as_secs();
    let start = tokio::time::Instant::now();
    let mut scheduled = 0;
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / f64::from(plan.rate));
        tokio::time::sleep_until(due).await;
        let sender = &senders[(n % senders.len() as u64) as usize];
        if sender.try_send(()).is_ok() {
            scheduled += 1;
        }
    }
    scheduled
}

struct Report<'a> {
    plan: &'a Plan,
    measured: &'a Measured,
    stats: &'a Stats,
    held: u64,
    scheduled: u64,
    relay_started: Instant,
    schedule_ended: Instant,
    rss_after_relay: Option<u64>,
}

impl Report<'_> {
    fn summary(&self) -> Summary {
        let latency = self.stats.latency();
        let ms = |micros: u64| micros as f64 / 1000.0;
        let received = self.stats.received.load(Ordering::Relaxed);
        let sent = self.stats.sent.load(Ordering::Relaxed);
        let m = self.measured;
        let joined = (2 * self.plan.pairs - m.failed_sockets).max(1) as f64;
        Summary {
            p50_ms: ms(latency.value_at_quantile(0.50)),
            p99_ms: ms(latency.value_at_quantile(0.99)),
            max_ms: ms(latency.max()),
            received_per_second: received as f64 / self.window().as_secs_f64().max(1e-9),
            lost: sent.saturating_sub(received),
            kib_per_socket: m
                .rss_before
                .zip(m.rss_after)
                .map(|(before, after)| after.saturating_sub(before) as f64 / joined),
        }
    }

    /// From the first scheduled frame to the last received.
    fn window(&self) -> Duration {
        let scheduled_for = self.schedule_ended - self.relay_started;
        self.stats
            .last_received()
            .checked_duration_since(self.relay_started)
            .unwrap_or(scheduled_for)
            .max(scheduled_for)
    }

    fn print(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        let plan = self.plan;
        let m = self.measured;
        let stats = self.stats;
        let wanted = 2 * plan.pairs;
        let frame = match plan.frame {
            Frame::Candidate => "candidate",
            Frame::Chat => "chat",
        };
        writeln!(out, "bedside-loadgen against {}", plan.base)?;
        writeln!(
            out,
            "  setup: {} visits booked in {:.1} s; sockets joined in {:.1} s from {} source addresses",
            plan.pairs,
            m.booked_in.as_secs_f64(),
            m.connected_in.as_secs_f64(),
            plan.sources.len()
        )?;
        writeln!(
            out,
            "  connections held: {} of {wanted} (failed to join: {}, dropped later: {})",
            self.held,
            m.failed_sockets,
            stats.dropped.load(Ordering::Relaxed)
        )?;
        if let Some(failure) = &m.first_failure {
            writeln!(out, "  first failure: {failure}")?;
        }
        match (m.pid, m.rss_before, m.rss_after) {
            (Some(pid), Some(before), Some(after)) => {
                let joined = (wanted - m.failed_sockets).max(1) as f64;
                let per_socket = after.saturating_sub(before) as f64 / joined;
                writeln!(
                    out,
                    "  server memory (pid {pid}, VmRSS): {:.1} MiB before sockets, {:.1} MiB with them, \
                     {:.1} MiB after relaying: {per_socket:.1} KiB per connection",
                    before as f64 / 1024.0,
                    after as f64 / 1024.0,
                    self.rss_after_relay.unwrap_or(after) as f64 / 1024.0,
                )?;
            }
            _ => writeln!(
                out,
                "  server memory: unknown (the server's process was not found; pass --server-pid)"
            )?,
        }
        let sent = stats.sent.load(Ordering::Relaxed);
        let received = stats.received.load(Ordering::Relaxed);
        let scheduled_for = self.schedule_ended - self.relay_started;
        let window = self.window();
        writeln!(
            out,
            "  relay ({frame}, 1:1 within each pair): target {} msg/s for {} s; scheduled {}, sent {sent}, \
             received {received}, lost {}, unaddressed {}, error frames {} (rate_limited {})",
            plan.rate,
            plan.relay_for.as_secs(),
            self.scheduled,
            sent.saturating_sub(received),
            stats.unaddressed.load(Ordering::Relaxed),
            stats.error_frames.load(Ordering::Relaxed),
            stats.rate_limited.load(Ordering::Relaxed),
        )?;
        writeln!(
            out,
            "  achieved: {:.0} msg/s sent, {:.0} msg/s received",
            sent as f64 / scheduled_for.as_secs_f64().max(1e-9),
            received as f64 / window.as_secs_f64().max(1e-9),
        )?;
        let latency = stats.latency();
        if latency.is_empty() {
            writeln!(out, "  relay latency: no frames relayed")?;
        } else {
            let ms = |micros: u64| micros as f64 / 1000.0;
            writeln!(
                out,
                "  relay latency (send to receive): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                ms(latency.value_at_quantile(0.50)),
                ms(latency.value_at_quantile(0.99)),
                ms(latency.value_at_quantile(0.999)),
                ms(latency.max()),
            )?;
        }
        Ok(())
    }
}
