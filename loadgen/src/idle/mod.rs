//! Idle authenticated patient sockets: the server's resident memory per
//! socket. A few visits are booked; many sockets say `hello` with their
//! patients' tokens (one token may hold several sockets) and then only
//! ping, as a waiting patient's page does.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::args::Plan;
use crate::clinic::{Api, Booked};
use crate::server;
use crate::sockets::{self, Ws};
use crate::waiting::load_average;

/// Time for the server's allocator to settle before the second reading.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(plan: Plan, sockets: usize, visits: usize) -> anyhow::Result<()> {
    let pid = plan
        .server_pid
        .or_else(|| server::find_pid(plan.server))
        .context("the server's process was not found; pass --server-pid")?;
    let api = Api::sign_in(&plan.base, &plan.scheduler, &plan.clinician).await?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let queue = api.create_queue(run, 0).await?;
    let booked: Vec<Booked> = stream::iter(0..visits)
        .map(|n| api.book_only(&queue, n))
        .buffered(plan.concurrency)
        .try_collect()
        .await?;
    // Warm the server's paths with one socket before the first reading.
    let warm = sockets::hello(plan.server, plan.sources[0], &booked[0].patient_token).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server::rss_kib(pid).context("VmRSS unreadable")?;
    let started = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let opened: Vec<anyhow::Result<Ws>> = stream::iter(0..sockets)
        .map(|n| {
            let token = &booked[n % booked.len()].patient_token;
            sockets::hello(plan.server, plan.sources[n % plan.sources.len()], token)
        })
        .buffered(plan.concurrency)
        .collect()
        .await;
    let took = started.elapsed();
    let mut held = 0usize;
    let mut first_failure = None;
    for ws in opened {
        match ws {
            Ok(ws) => {
                held += 1;
                idle(ws, stop_rx.clone());
            }
            Err(error) => {
                first_failure.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    tokio::time::sleep(SETTLE).await;
    let after = server::rss_kib(pid).context("VmRSS unreadable")?;
    let per_socket = after.saturating_sub(before) as f64 / held.max(1) as f64;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bedside-loadgen idle against {} (pid {pid})",
        plan.base
    )?;
    writeln!(
        out,
        "  {held} of {sockets} authenticated idle patient sockets opened in {:.1} s; load average {}",
        took.as_secs_f64(),
        load_average()
    )?;
    if let Some(failure) = first_failure {
        writeln!(out, "  first failure: {failure}")?;
    }
    writeln!(
        out,
        "  server memory (VmRSS): {:.1} MiB before, {:.1} MiB with them: {per_socket:.1} KiB per socket",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    )?;
    drop(out);
    let _ = stop.send(true);
    drop(warm);
    Ok(())
}

/// Holds a socket, pinging, until `stop`.
fn idle(mut ws: Ws, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(sockets::PING_EVERY);
        let ping_frame = json!({"type": "ping"}).to_string();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = ping.tick() => {
                    if ws.send(Message::text(ping_frame.clone())).await.is_err() {
                        return;
                    }
                }
                message = ws.next() => if !matches!(message, Some(Ok(_))) {
                    return;
                },
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    });
}
