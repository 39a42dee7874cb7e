//! The command line, checked into a [`Plan`]: the target must be loopback,
//! every phase is bounded, and the per-socket rate stays under the
//! contract's 200 frames a second.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// The contract lets a socket send 200 frames a second; stay well under it.
const MAX_RATE_PER_SOCKET: f64 = 150.0;

#[derive(Debug, Parser)]
#[command(
    name = "bedside-loadgen",
    version,
    about = "Load Bedside's signaling socket on loopback: hold pairs of sockets in visit rooms, relay frames, measure",
    long_about = "Load Bedside's signaling socket on loopback.\n\n\
        Signs in a scheduler and a clinician (or takes their tokens), books one visit per pair \
        (patient, visit, check-in, admit), opens a patient and a clinician socket per visit from \
        several 127.0.0.x source addresses, joins both to the call room, relays `candidate` or \
        `chat` frames between the two at the chosen total rate, and prints sockets held, relay \
        latency (p50/p99/max), messages per second and the server's resident memory per socket.\n\n\
        Example, against `bedside serve --demo`:\n  \
        bedside-loadgen --url http://127.0.0.1:8080 --pairs 1000 --rate 5000 --seconds 20\n\n\
        Other scenarios are subcommands; the options above go before the subcommand's name:\n  \
        bedside-loadgen --pairs 100 --rate 5000 compare --bedside-bin target/release/bedside\n  \
        bedside-loadgen waiting-room --patients 1000 --queues 10 --per-second 200\n  \
        bedside-loadgen idle --sockets 10000"
)]
pub struct Args {
    /// A scenario other than the relay against `--url`.
    #[command(subcommand)]
    pub mode: Option<Mode>,

    /// Base URL of the server; only loopback hosts are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Patient–clinician pairs, each in its own visit room (two sockets a pair).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub pairs: u32,

    /// Relayed frames per second, in total over all pairs (0 only holds the sockets).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=200_000))]
    pub rate: u32,

    /// How long the relay phase lasts, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub seconds: u64,

    /// Which frame to relay between the two sockets of a pair.
    #[arg(long, value_enum, default_value_t = Frame::Candidate)]
    pub frame: Frame,

    /// Staff user who creates queues, patients and visits (scheduler or admin).
    #[arg(long, default_value = "scheduler")]
    pub scheduler: String,

    /// Clinician who admits every visit and holds the clinician sockets.
    #[arg(long, default_value = "dr.grey")]
    pub clinician: String,

    /// Password of both staff users (the demo clinic's by default).
    #[arg(
        long,
        env = "BEDSIDE_LOADGEN_PASSWORD",
        default_value = "bedside-demo",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub password: String,

    /// A scheduler's bearer token, instead of signing in.
    #[arg(long, env = "BEDSIDE_LOADGEN_SCHEDULER_TOKEN", hide_env_values = true)]
    pub scheduler_token: Option<String>,

    /// A clinician's bearer token, instead of signing in.
    #[arg(long, env = "BEDSIDE_LOADGEN_CLINICIAN_TOKEN", hide_env_values = true)]
    pub clinician_token: Option<String>,

    /// Source addresses to spread sockets over: 127.0.0.2 up to 127.0.0.(1+N).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub sources: u8,

    /// Visits per queue: every queue change re-reads the queue, so keep them short.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub visits_per_queue: u32,

    /// Setup steps in flight at once (HTTP requests, socket handshakes).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    pub concurrency: u32,

    /// The server's process id, for memory readings; found from the port when absent.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Give up when booking and connecting take longer than this, in seconds.
    #[arg(long, default_value_t = 1_200, value_parser = clap::value_parser!(u64).range(1..=7_200))]
    pub setup_timeout: u64,
}

/// The scenarios besides the relay.
#[derive(Debug, Clone, Subcommand)]
pub enum Mode {
    /// Serve the floor: a bare tokio-tungstenite relay with Bedside's framing
    /// (`hello`/`welcome`, `join`, 1:1 relay adding `from`), for comparison.
    Floor {
        /// Where to listen; loopback only.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
    },
    /// Run the relay against the floor and against Bedside back to back,
    /// each started here pinned to one core and the driver to another, and
    /// print both with their ratio.
    Compare {
        /// The `bedside` binary to start (`serve --demo` on a fresh SQLite store).
        #[arg(long)]
        bedside_bin: std::path::PathBuf,
        /// Port of the floor; Bedside gets the next one.
        #[arg(long, default_value_t = 9100)]
        port: u16,
        /// The core the servers run on; the driver takes the others.
        #[arg(long, default_value_t = 0)]
        server_core: usize,
    },
    /// Waiting patients checked in at a steady rate while staff watch every
    /// queue: counts every `visit` and `queue` frame and times delivery.
    WaitingRoom {
        /// Patients, each with a booked visit and a socket open before check-in.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
        patients: u32,
        /// Queues they are spread over, one watching staff socket each.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        queues: u32,
        /// Check-ins per second.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        per_second: u32,
    },
    /// FHIR search under concurrent clients: `Patient?name=` and
    /// `Observation?patient=&category=vital-signs`.
    Fhir {
        /// Patients registered first.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        patients: u32,
        /// Of them, checked in with vital signs (their Observations are searched).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        with_vitals: u32,
        /// Concurrent clients.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2_000))]
        clients: u32,
        /// How long they search, in seconds.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3_600))]
        seconds: u64,
    },
    /// Consult close → claim ready: admitted visits closed at a steady
    /// rate, each timed until its claim reaches this tool's billing webhook
    /// receiver; then exactly one claim per visit is checked. Start the
    /// server with `BEDSIDE_BILLING_WEBHOOK_URL=http://<--webhook>/` and
    /// `BEDSIDE_BILLING_WEBHOOK_SECRET`.
    CloseClaim {
        /// Visits admitted first, then closed.
        #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
        visits: u32,
        /// Closes started per second.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        per_second: u32,
        /// Closes in flight at most (requests waiting for their answer).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        in_flight: u32,
        /// Where this tool receives the billing webhook; loopback only.
        #[arg(long, default_value = "127.0.0.1:18310")]
        webhook: SocketAddr,
        /// How long to wait for the last claims after the last close, in seconds.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3_600))]
        wait_seconds: u64,
        /// Billing user who lists the claims at the end.
        #[arg(long, default_value = "billing")]
        biller: String,
    },
    /// Sign-ins per second: concurrent clients sign a staff user in with
    /// the right password again and again (the server checks each password
    /// on its bounded hashing threads); answers counted by status.
    SignIn {
        /// Concurrent clients.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=2_000))]
        clients: u32,
        /// How long they sign in, in seconds.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3_600))]
        seconds: u64,
        /// Who signs in (with `--password`).
        #[arg(long, default_value = "dr.grey")]
        username: String,
    },
    /// Idle authenticated patient sockets: the server's memory per socket.
    Idle {
        /// Sockets to hold (the open-file limit allows about 19,990).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
        sockets: u32,
        /// Visits whose patient tokens the sockets share (one token may hold many).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        visits: u32,
    },
}

/// The frame relayed between the two sockets of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Frame {
    /// `candidate {to, candidate}`: addressed to the other socket.
    Candidate,
    /// `chat {text}`: to everyone else in the room, here the other socket.
    Chat,
}

/// What to run, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server's HTTP base, without a trailing slash.
    pub base: String,
    /// Where the sockets connect.
    pub server: SocketAddr,
    pub pairs: usize,
    pub rate: u32,
    pub relay_for: Duration,
    pub frame: Frame,
    pub scheduler: Credentials,
    pub clinician: Credentials,
    /// Local addresses the sockets bind before connecting.
    pub sources: Vec<IpAddr>,
    pub visits_per_queue: usize,
    pub concurrency: usize,
    pub server_pid: Option<u32>,
    pub setup_timeout: Duration,
    /// The floor has no HTTP API: its visits and tokens are made up.
    pub floor: bool,
}

/// A staff user to sign in, or a token already issued.
#[derive(Clone)]
pub enum Credentials {
    SignIn { username: String, password: String },
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn { username, .. } => write!(f, "SignIn({username}, ***)"),
            Self::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// A listening address for this tool: loopback only.
pub fn loopback_listen(addr: SocketAddr, flag: &str) -> Result<SocketAddr, String> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{flag}: {} is not a loopback address", addr.ip()))
    }
}

impl Args {
    /// Checks the arguments into a plan, or says which one is wrong.
    pub fn plan(&self) -> Result<Plan, String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        if url.scheme() != "http" {
            return Err("--url must be http:// (loopback needs no TLS)".into());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain("localhost")) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            _ => return Err("--url must name a loopback address or localhost".into()),
        };
        if !ip.is_loopback() {
            return Err(format!(
                "--url: {ip} is not a loopback address; this tool only loads loopback"
            ));
        }
        let port = url.port_or_known_default().ok_or("--url has no port")?;
        let pairs = self.pairs as usize;
        let per_socket = f64::from(self.rate) / (2.0 * pairs as f64);
        if per_socket > MAX_RATE_PER_SOCKET {
            return Err(format!(
                "--rate {} over {} sockets is {per_socket:.0} frames/s each; the server allows 200 \
                 (keep it under {MAX_RATE_PER_SOCKET}): add --pairs",
                self.rate,
                2 * pairs
            ));
        }
        // Other source addresses exist only for IPv4 loopback (127.0.0.0/8).
        let sources = match ip {
            IpAddr::V4(_) => (0..self.sources)
                .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n)))
                .collect(),
            IpAddr::V6(_) => vec![ip],
        };
        let credentials = |token: &Option<String>, username: &str| match token {
            Some(token) => Credentials::Token(token.clone()),
            None => Credentials::SignIn {
                username: username.to_owned(),
                password: self.password.clone(),
            },
        };
        Ok(Plan {
            base: format!("http://{}", SocketAddr::new(ip, port)),
            server: SocketAddr::new(ip, port),
            pairs,
            rate: self.rate,
            relay_for: Duration::from_secs(self.seconds),
            frame: self.frame,
            scheduler: credentials(&self.scheduler_token, &self.scheduler),
            clinician: credentials(&self.clinician_token, &self.clinician),
            sources,
            visits_per_queue: self.visits_per_queue as usize,
            concurrency: self.concurrency as usize,
            server_pid: self.server_pid,
            setup_timeout: Duration::from_secs(self.setup_timeout),
            floor: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["bedside-loadgen"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("arguments parse")
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(args(&["--url", "http://127.0.0.1:8080"]).plan().is_ok());
        assert!(args(&["--url", "http://localhost:9000"]).plan().is_ok());
        assert!(args(&["--url", "http://[::1]:8080"]).plan().is_ok());
        assert!(args(&["--url", "http://192.0.2.2:8080"]).plan().is_err());
        assert!(args(&["--url", "http://example.org"]).plan().is_err());
        assert!(args(&["--url", "https://127.0.0.1"]).plan().is_err());
    }

    #[test]
    fn a_rate_past_the_servers_per_socket_limit_is_refused() {
        assert!(args(&["--pairs", "10", "--rate", "5000"]).plan().is_err());
        assert!(args(&["--pairs", "100", "--rate", "5000"]).plan().is_ok());
    }

    #[test]
    fn relay_options_go_before_a_scenario() {
        let parsed = args(&[
            "--pairs",
            "100",
            "--rate",
            "5000",
            "compare",
            "--bedside-bin",
            "b",
        ]);
        assert_eq!(parsed.pairs, 100);
        assert!(matches!(
            parsed.mode,
            Some(Mode::Compare { port: 9100, .. })
        ));
        assert!(args(&[]).mode.is_none());
    }

    #[test]
    fn sockets_spread_over_loopback_sources() {
        let plan = args(&["--sources", "3"]).plan().expect("a plan");
        let sources: Vec<String> = plan.sources.iter().map(ToString::to_string).collect();
        assert_eq!(sources, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    }
}
