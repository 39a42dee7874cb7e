//! Side by side in one run: the relay scenario against the floor (this
//! tool's bare relay, started as a child process) and then against Bedside
//! (`serve --demo` on a fresh SQLite store, from a given binary), the
//! servers pinned to one core and this driver to the others where the
//! machine has two or more and `taskset` is installed. Prints both reports
//! and a table of the two with their ratio.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::args::Plan;
use crate::scenario::{self, Summary};
use crate::waiting::load_average;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What `compare` was given.
#[derive(Debug, Clone)]
pub struct Servers {
    pub bedside_bin: PathBuf,
    pub port: u16,
    pub server_core: usize,
}

pub async fn run(plan: Plan, servers: Servers) -> anyhow::Result<()> {
    let pinning = pin_driver(servers.server_core).await;
    let dir = std::env::temp_dir().join(format!("bedside-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("Failed to create {}", dir.display()))?;

    let floor_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, servers.port));
    let exe = std::env::current_exe().context("Failed to find this program's path")?;
    let mut floor = start(
        pinning.server_core(),
        &exe,
        &["floor", "--listen", &floor_addr.to_string()],
        &[],
        &dir.join("floor.log"),
    )?;
    wait_listening(floor_addr, &mut floor).await?;
    let load_floor = load_average();
    heading(&format!(
        "the floor: bare tokio-tungstenite relay on {floor_addr}"
    ))?;
    let floor_plan = Plan {
        base: format!("http://{floor_addr}"),
        server: floor_addr,
        server_pid: floor.id(),
        floor: true,
        ..plan.clone()
    };
    let floor_summary = scenario::run(floor_plan).await;
    let _ = floor.kill().await;
    let floor_summary = floor_summary?;

    let bedside_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, servers.port + 1));
    let database = format!("sqlite://{}", dir.join("bedside.db").display());
    let log = dir.join("bedside.log");
    let mut bedside = start(
        pinning.server_core(),
        &servers.bedside_bin,
        &["serve", "--demo"],
        &[
            ("BEDSIDE_ADDR", bedside_addr.to_string()),
            ("DATABASE_URL", database),
            ("RUST_LOG", String::from("warn")),
        ],
        &log,
    )?;
    wait_listening(bedside_addr, &mut bedside).await?;
    let load_bedside = load_average();
    heading(&format!(
        "Bedside: {} on {bedside_addr}",
        servers.bedside_bin.display()
    ))?;
    let bedside_plan = Plan {
        base: format!("http://{bedside_addr}"),
        server: bedside_addr,
        server_pid: bedside.id(),
        floor: false,
        ..plan.clone()
    };
    let bedside_summary = scenario::run(bedside_plan).await;
    let _ = bedside.kill().await;
    let bedside_summary = bedside_summary?;
    let lagged = std::fs::read_to_string(&log)
        .map(|text| text.lines().filter(|l| l.contains("lagged")).count())
        .unwrap_or(0);

    table(
        &plan,
        &pinning,
        [
            (&floor_summary, load_floor),
            (&bedside_summary, load_bedside),
        ],
        lagged,
        &log,
    )
    .context("Failed to print the comparison")
}

fn heading(text: &str) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "== {text} ==")
}

/// Where the servers and the driver run.
#[derive(Debug)]
enum Pinning {
    /// Servers on this core, the driver on the others.
    Pinned {
        server_core: usize,
        driver: String,
    },
    NotPinned(String),
}

impl Pinning {
    fn server_core(&self) -> Option<usize> {
        match self {
            Self::Pinned { server_core, .. } => Some(*server_core),
            Self::NotPinned(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Pinned {
                server_core,
                driver,
            } => format!("servers pinned to core {server_core}, driver to cores {driver}"),
            Self::NotPinned(why) => format!("not pinned: {why}"),
        }
    }
}

/// Pins every thread of this process to the cores the servers do not use.
async fn pin_driver(server_core: usize) -> Pinning {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 {
        return Pinning::NotPinned(String::from("one core only"));
    }
    if server_core >= cores {
        return Pinning::NotPinned(format!("no core {server_core} (cores 0-{})", cores - 1));
    }
    let driver: Vec<String> = (0..cores)
        .filter(|core| *core != server_core)
        .map(|core| core.to_string())
        .collect();
    let driver = driver.join(",");
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", &driver, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .await;
    match pinned {
        Ok(status) if status.success() => Pinning::Pinned {
            server_core,
            driver,
        },
        Ok(status) => Pinning::NotPinned(format!("taskset failed ({status})")),
        Err(error) => Pinning::NotPinned(format!("taskset not found ({error})")),
    }
}

/// Starts a server, under `taskset` on `core` when pinning.
fn start(
    core: Option<usize>,
    program: &Path,
    args: &[&str],
    env: &[(&str, String)],
    log: &Path,
) -> anyhow::Result<Child> {
    let mut command = match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    };
    let out = std::fs::File::create(log)
        .with_context(|| format!("Failed to create {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    command
        .spawn()
        .with_context(|| format!("Failed to start {}", program.display()))
}

/// Waits until `addr` accepts connections, or the child exits.
async fn wait_listening(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server on {addr} exited ({status}) before listening");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server on {addr} did not listen within {START_TIMEOUT:?}")
}

fn table(
    plan: &Plan,
    pinning: &Pinning,
    runs: [(&Summary, String); 2],
    lagged: usize,
    log: &Path,
) -> std::io::Result<()> {
    let [(floor, load_floor), (bedside, load_bedside)] = runs;
    let mut out = std::io::stdout().lock();
    let ratio = |b: f64, f: f64| {
        if f > 0.0 {
            format!("{:.2}×", b / f)
        } else {
            String::from("-")
        }
    };
    let kib = |s: &Summary| {
        s.kib_per_socket
            .map_or(String::from("-"), |k| format!("{k:.1}"))
    };
    writeln!(
        out,
        "== side by side: {} pairs, {} frames/s for {} s; {} ==",
        plan.pairs,
        plan.rate,
        plan.relay_for.as_secs(),
        pinning.describe()
    )?;
    writeln!(
        out,
        "| server | p50 ms | p99 ms | max ms | frames/s received | lost | KiB per socket | load average |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- | --- |")?;
    for (name, s, load) in [
        ("floor", floor, &load_floor),
        ("Bedside", bedside, &load_bedside),
    ] {
        writeln!(
            out,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} | {load} |",
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            s.received_per_second,
            s.lost,
            kib(s)
        )?;
    }
    writeln!(
        out,
        "| Bedside ÷ floor | {} | {} | {} | {} | | {} | |",
        ratio(bedside.p50_ms, floor.p50_ms),
        ratio(bedside.p99_ms, floor.p99_ms),
        ratio(bedside.max_ms, floor.max_ms),
        ratio(bedside.received_per_second, floor.received_per_second),
        match (bedside.kib_per_socket, floor.kib_per_socket) {
            (Some(b), Some(f)) => ratio(b, f),
            _ => String::from("-"),
        }
    )?;
    writeln!(
        out,
        "Bedside's log ({}): {lagged} line(s) mention a lagged bus",
        log.display()
    )?;
    Ok(())
}
