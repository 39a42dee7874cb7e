//! One typed configuration, read from the environment with an optional
//! `bedside.toml` holding the same keys. Every value is parsed here, so a bad
//! one stops start-up with a single line naming its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use crate::auth::{HashingSettings, ThrottleSettings};
use crate::billing::clearinghouse::{ClearinghouseAuth, ClearinghouseSettings};
use crate::billing::{
    BillingProvider, BillingSettings, BillingWebhook, FeeSchedule, PayerRules, X12Usage,
};
use crate::media::livekit::LiveKitConfig;
use crate::media::precall::PreCallConfig;
use crate::media::turn::TurnConfig;
use crate::model::auth::Role;
use crate::model::codes::{Npi, PostalCode};
use crate::model::region::Region;
use crate::model::summary::ClinicContact;
use crate::outbox::{self, OutboxSettings, email::EmailSettings, sms::SmsSettings};
pub use crate::store::{DatabaseUrl, redact_url};
use crate::visits::{self, SummarySettings};

#[derive(Debug, Clone)]
pub struct Config {
    /// `BEDSIDE_ADDR`: where the server listens.
    pub addr: SocketAddr,
    /// `DATABASE_URL`: `sqlite://…` (default `sqlite://./data/bedside.db`) or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// `BEDSIDE_STORE_TIMEOUT_SECONDS` (default 3): how long a request
    /// waits for a database connection before it answers 503.
    pub store_timeout: Duration,
    /// `BEDSIDE_STORE_CONNECTIONS` (default 10): the node's pool of
    /// database connections (SQLite's one writer connection aside).
    pub store_connections: u32,
    /// `REDIS_URL`: presence and the cross-node bus; in memory when unset.
    pub redis_url: Option<String>,
    /// `BEDSIDE_ADMIN_PASSWORD`: creates user `admin` when the store has no users.
    pub admin_password: Option<SecretString>,
    /// `BEDSIDE_PUBLIC_URL`: the base of patient join links.
    pub public_url: String,
    /// `BEDSIDE_SESSION_TTL_MINUTES`: how long a staff sign-in lasts.
    pub session_lifetime: Duration,
    /// `BEDSIDE_LOG_FORMAT`: `text` or `json`.
    pub log_json: bool,
    /// `BEDSIDE_DRAIN_SECONDS` (default 20): on SIGTERM, how long sockets
    /// are given to reconnect elsewhere before the node closes them.
    pub drain_for: Duration,
    /// `BEDSIDE_BILLING_*`, `BEDSIDE_X12_*`, `BEDSIDE_FEE_SCHEDULE`,
    /// `BEDSIDE_PAYER_RULES`, `BEDSIDE_BILLING_WEBHOOK_*`,
    /// `BEDSIDE_BILLING_POLL_SECONDS` (0 turns the worker off),
    /// `BEDSIDE_BILLING_WORKERS` (claim loops, default 1).
    pub billing: BillingSettings,
    /// `BEDSIDE_TURN_URLS`, `BEDSIDE_TURN_SECRET`, `BEDSIDE_TURN_TTL_SECONDS`.
    pub turn: Option<TurnConfig>,
    /// `BEDSIDE_STUN_URLS`: STUN servers handed to browsers.
    pub stun_urls: Vec<String>,
    /// `LIVEKIT_URL`, `LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`.
    pub livekit: Option<LiveKitConfig>,
    /// `BEDSIDE_PRECALL_MAX`, `BEDSIDE_PRECALL_UDP_ADDRS`.
    pub precall: PreCallConfig,
    /// `BEDSIDE_REGION`: `US` (the default) or `GB`; the emergency number,
    /// temperature unit, spelling and knowledge sources patients and staff see.
    pub region: Region,
    /// `BEDSIDE_MFA_REQUIRED_ROLES`: roles (comma-separated, e.g.
    /// `admin,billing`) that must set up TOTP before they get a session.
    pub mfa_required_roles: Vec<Role>,
    /// `BEDSIDE_SUMMARY_DAYS` (default 30): how long after close the
    /// patient's link shows the after-visit summary; the clinic named on it
    /// is the billing provider with `BEDSIDE_BILLING_PHONE`, when set.
    pub summary: SummarySettings,
    /// `BEDSIDE_SIGNIN_WORKERS` (default: the cores), `BEDSIDE_SIGNIN_QUEUE`
    /// (default: eight per worker), `BEDSIDE_SIGNIN_WAIT_MS` (default 2000):
    /// password checks running at once, waiting, and how long one may wait
    /// before the sign-in answers 503.
    pub hashing: HashingSettings,
    /// `BEDSIDE_SIGNIN_BACKOFF_SECONDS` (default 1): the first wait after
    /// the free failed sign-ins for one username from one address; each
    /// further failure doubles it, up to 15 minutes.
    pub throttle: ThrottleSettings,
    /// `BEDSIDE_TRUSTED_PROXIES`: addresses or CIDR ranges (comma-separated)
    /// whose `Forwarded` / `X-Forwarded-For` headers name the client.
    pub trusted_proxies: Vec<IpNet>,
    /// `BEDSIDE_ALLOWED_ORIGINS`: browser origins besides this server's own
    /// that may open the socket (`https://app.example.org`, comma-separated).
    pub allowed_origins: Vec<String>,
    /// `BEDSIDE_TLS_CERT` and `BEDSIDE_TLS_KEY`: PEM files; HTTPS when set,
    /// reloaded when they change.
    pub tls: Option<TlsFiles>,
    /// `BEDSIDE_HTTP_REDIRECT_ADDR`: a plain HTTP listener answering 308 to
    /// the HTTPS URL (with TLS only).
    pub http_redirect_addr: Option<SocketAddr>,
    /// Messages to patients: `BEDSIDE_SMTP_URL`, `BEDSIDE_SMTP_FROM`,
    /// `BEDSIDE_SMTP_TLS` (`none`, `starttls` or `tls`); `BEDSIDE_SMS_PROVIDER`
    /// (`twilio`), `BEDSIDE_SMS_ACCOUNT_SID`, `BEDSIDE_SMS_AUTH_TOKEN`,
    /// `BEDSIDE_SMS_FROM`, `BEDSIDE_SMS_BASE_URL`; `BEDSIDE_SMS_DAILY_CAP`
    /// (default 5 texts per patient in 24 hours); `BEDSIDE_REMINDER_MINUTES`
    /// (default `1440,60`); `BEDSIDE_MESSAGE_POLL_SECONDS` (default 5, 0
    /// turns the worker off); `BEDSIDE_MESSAGES_LOG` (`true`: log "would
    /// send" where no transport is set; the demo's default).
    pub outbox: OutboxSettings,
    /// `BEDSIDE_QUALITY_TIMELINE_CAP` (default 1200, about an hour at one
    /// summary every three seconds): call-quality summaries kept per
    /// participant of a visit; older ones are dropped first.
    pub quality_timeline_cap: i64,
    /// `BEDSIDE_BOOKING_PER_HOUR` (default 10): bookings one client address
    /// may make from the public page in an hour; `BEDSIDE_BOOKING_MIN_FILL_SECONDS`
    /// (default 3): how long its form must be open before it is sent.
    pub booking: crate::schedule::booking::BookingSettings,
}

/// The certificate chain and private key, as PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Every key Bedside reads; anything else in `bedside.toml` is refused.
pub const KEYS: &[&str] = &[
    "BEDSIDE_ADDR",
    "DATABASE_URL",
    "BEDSIDE_STORE_TIMEOUT_SECONDS",
    "REDIS_URL",
    "BEDSIDE_ADMIN_PASSWORD",
    "BEDSIDE_PUBLIC_URL",
    "BEDSIDE_SESSION_TTL_MINUTES",
    "BEDSIDE_LOG_FORMAT",
    "BEDSIDE_DRAIN_SECONDS",
    "BEDSIDE_BOOKING_PER_HOUR",
    "BEDSIDE_BOOKING_MIN_FILL_SECONDS",
    "BEDSIDE_BILLING_NAME",
    "BEDSIDE_BILLING_NPI",
    "BEDSIDE_BILLING_TAX_ID",
    "BEDSIDE_BILLING_ADDRESS_LINE",
    "BEDSIDE_BILLING_CITY",
    "BEDSIDE_BILLING_STATE",
    "BEDSIDE_BILLING_POSTAL_CODE",
    "BEDSIDE_X12_SENDER_ID",
    "BEDSIDE_X12_RECEIVER_ID",
    "BEDSIDE_X12_USAGE",
    "BEDSIDE_BILLING_PHONE",
    "BEDSIDE_FEE_SCHEDULE",
    "BEDSIDE_PAYER_RULES",
    "BEDSIDE_BILLING_WEBHOOK_URL",
    "BEDSIDE_BILLING_WEBHOOK_SECRET",
    "BEDSIDE_BILLING_POLL_SECONDS",
    "BEDSIDE_BILLING_WORKERS",
    "BEDSIDE_CLEARINGHOUSE_URL",
    "BEDSIDE_CLEARINGHOUSE_USERNAME",
    "BEDSIDE_CLEARINGHOUSE_PASSWORD",
    "BEDSIDE_CLEARINGHOUSE_TOKEN",
    "BEDSIDE_CLEARINGHOUSE_TIMEOUT_SECONDS",
    "BEDSIDE_TURN_URLS",
    "BEDSIDE_TURN_SECRET",
    "BEDSIDE_TURN_TTL_SECONDS",
    "BEDSIDE_STUN_URLS",
    "BEDSIDE_PRECALL_MAX",
    "BEDSIDE_PRECALL_UDP_ADDRS",
    "BEDSIDE_REGION",
    "BEDSIDE_SUMMARY_DAYS",
    "BEDSIDE_QUALITY_TIMELINE_CAP",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "BEDSIDE_SIGNIN_WORKERS",
    "BEDSIDE_SIGNIN_QUEUE",
    "BEDSIDE_SIGNIN_WAIT_MS",
    "BEDSIDE_SIGNIN_BACKOFF_SECONDS",
    "BEDSIDE_TRUSTED_PROXIES",
    "BEDSIDE_ALLOWED_ORIGINS",
    "BEDSIDE_TLS_CERT",
    "BEDSIDE_TLS_KEY",
    "BEDSIDE_HTTP_REDIRECT_ADDR",
    "BEDSIDE_SMTP_URL",
    "BEDSIDE_SMTP_FROM",
    "BEDSIDE_SMTP_TLS",
    "BEDSIDE_SMS_PROVIDER",
    "BEDSIDE_SMS_ACCOUNT_SID",
    "BEDSIDE_SMS_AUTH_TOKEN",
    "BEDSIDE_SMS_FROM",
    "BEDSIDE_SMS_BASE_URL",
    "BEDSIDE_SMS_DAILY_CAP",
    "BEDSIDE_REMINDER_MINUTES",
    "BEDSIDE_MESSAGE_POLL_SECONDS",
    "BEDSIDE_MESSAGES_LOG",
];

const BILLING_KEYS: &[&str] = &[
    "BEDSIDE_BILLING_NAME",
    "BEDSIDE_BILLING_NPI",
    "BEDSIDE_BILLING_TAX_ID",
    "BEDSIDE_BILLING_ADDRESS_LINE",
    "BEDSIDE_BILLING_CITY",
    "BEDSIDE_BILLING_STATE",
    "BEDSIDE_BILLING_POSTAL_CODE",
];

/// Raw values by key, before parsing.
#[derive(Debug, Default, Clone)]
pub struct Source(BTreeMap<String, String>);

impl Source {
    /// The process environment over an optional TOML file (environment wins).
    /// `BEDSIDE_CONFIG` names the file; `./bedside.toml` is read when present.
    pub fn from_env_and_file() -> Result<Self, ConfigError> {
        let explicit = std::env::var("BEDSIDE_CONFIG").ok();
        let path = explicit
            .as_deref()
            .map(PathBuf::from)
            .unwrap_or_else(|| "bedside.toml".into());
        let mut source = if path.exists() {
            Self::from_toml_file(&path)?
        } else if explicit.is_some() {
            return Err(ConfigError::new(
                "BEDSIDE_CONFIG",
                format!("{} does not exist", path.display()),
            ));
        } else {
            Self::default()
        };
        for key in KEYS {
            if let Ok(value) = std::env::var(key) {
                source.0.insert((*key).to_owned(), value);
            }
        }
        Ok(source)
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "BEDSIDE_CONFIG",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError::new("BEDSIDE_CONFIG", e.message().to_owned())
        })?;
        let mut map = BTreeMap::new();
        for (key, value) in table {
            if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::new(&key, "is not a Bedside setting"));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned).ok_or(()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|()| ConfigError::new(&key, "must be a list of strings"))?
                    .join(","),
                _ => return Err(ConfigError::new(&key, "must be a string or a number")),
            };
            map.insert(key, value);
        }
        Ok(Self(map))
    }

    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    /// Parses every key; the first bad value is the error.
    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let addr = match source.get("BEDSIDE_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "BEDSIDE_ADDR",
                    format!("{v:?} is not a socket address such as 127.0.0.1:8080"),
                )
            })?,
        };
        let database_url = parse_database_url(source.get("DATABASE_URL"))?;
        let store_timeout = parse_int("BEDSIDE_STORE_TIMEOUT_SECONDS", source, 3, 1, 60)?;
        let store_connections = parse_int("BEDSIDE_STORE_CONNECTIONS", source, 10, 1, 500)?;
        let drain_seconds = parse_int("BEDSIDE_DRAIN_SECONDS", source, 20, 0, 600)?;
        let redis_url = match source.get("REDIS_URL") {
            None => None,
            Some(v) if v.starts_with("redis://") || v.starts_with("rediss://") => {
                redis::Client::open(v).map_err(|e| {
                    ConfigError::new("REDIS_URL", format!("is not a Redis URL: {e}"))
                })?;
                Some(v.to_owned())
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
        };
        let scheme = if source.get("BEDSIDE_TLS_CERT").is_some() {
            "https"
        } else {
            "http"
        };
        let public_url = source
            .get("BEDSIDE_PUBLIC_URL")
            .map(|v| v.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("{scheme}://{addr}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::new(
                "BEDSIDE_PUBLIC_URL",
                "must start with http:// or https://",
            ));
        }
        let session_ttl_minutes = parse_int(
            "BEDSIDE_SESSION_TTL_MINUTES",
            source,
            12 * 60,
            1,
            7 * 24 * 60,
        )?;
        let log_json = match source.get("BEDSIDE_LOG_FORMAT") {
            None | Some("text") => false,
            Some("json") => true,
            Some(_) => {
                return Err(ConfigError::new(
                    "BEDSIDE_LOG_FORMAT",
                    "must be text or json",
                ));
            }
        };

        let billing = parse_billing_settings(source)?;
        let summary = parse_summary(source, &billing)?;
        let tls = parse_tls(source)?;
        let http_redirect_addr = parse_redirect_addr(source, tls.is_some())?;
        Ok(Self {
            quality_timeline_cap: parse_int(
                "BEDSIDE_QUALITY_TIMELINE_CAP",
                source,
                1200,
                1,
                100_000,
            )?,
            hashing: parse_hashing(source)?,
            throttle: ThrottleSettings {
                first_wait: Duration::from_secs(parse_int(
                    "BEDSIDE_SIGNIN_BACKOFF_SECONDS",
                    source,
                    1,
                    1,
                    3600,
                )? as u64),
                ..ThrottleSettings::default()
            },
            trusted_proxies: parse_trusted_proxies(source)?,
            allowed_origins: parse_urls(
                "BEDSIDE_ALLOWED_ORIGINS",
                source,
                &["http://", "https://"],
            )?
            .into_iter()
            .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
            .collect(),
            tls,
            http_redirect_addr,
            outbox: parse_outbox(source)?,
            addr,
            database_url,
            store_timeout: Duration::from_secs(store_timeout as u64),
            store_connections: store_connections as u32,
            redis_url,
            admin_password: source
                .get("BEDSIDE_ADMIN_PASSWORD")
                .map(|v| SecretString::from(v.to_owned())),
            public_url,
            session_lifetime: Duration::from_secs(60 * session_ttl_minutes as u64),
            log_json,
            drain_for: Duration::from_secs(drain_seconds as u64),
            booking: crate::schedule::booking::BookingSettings {
                per_hour: parse_int("BEDSIDE_BOOKING_PER_HOUR", source, 10, 1, 100_000)? as u32,
                min_fill: Duration::from_secs(parse_int(
                    "BEDSIDE_BOOKING_MIN_FILL_SECONDS",
                    source,
                    3,
                    0,
                    600,
                )? as u64),
            },
            billing,
            turn: parse_turn(source)?,
            stun_urls: parse_urls("BEDSIDE_STUN_URLS", source, &["stun:", "stuns:"])?,
            livekit: parse_livekit(source)?,
            precall: parse_precall(source)?,
            summary,
            mfa_required_roles: parse_roles("BEDSIDE_MFA_REQUIRED_ROLES", source)?,
            region: match source.get("BEDSIDE_REGION") {
                None => Region::default(),
                Some(v) => Region::parse(v)
                    .ok_or_else(|| ConfigError::new("BEDSIDE_REGION", "must be US or GB"))?,
            },
        })
    }

    /// Config for the demo clinic: the given values plus demo billing.
    pub fn with_demo_defaults(source: &Source) -> Source {
        let mut source = source.clone();
        let demo = [
            ("BEDSIDE_BILLING_NAME", "Bedside Demo Clinic"),
            ("BEDSIDE_BILLING_NPI", "1234567893"),
            ("BEDSIDE_BILLING_TAX_ID", "123456789"),
            ("BEDSIDE_BILLING_ADDRESS_LINE", "1 Demo Way"),
            ("BEDSIDE_BILLING_CITY", "Springfield"),
            ("BEDSIDE_BILLING_STATE", "IL"),
            ("BEDSIDE_BILLING_POSTAL_CODE", "627011234"),
            ("BEDSIDE_X12_SENDER_ID", "BEDSIDEDEMO"),
            ("BEDSIDE_X12_RECEIVER_ID", "DEMOPAYER"),
            ("BEDSIDE_X12_USAGE", "T"),
            ("BEDSIDE_BILLING_PHONE", "2175550100"),
            ("BEDSIDE_FEE_SCHEDULE", DEMO_FEE_SCHEDULE),
            ("BEDSIDE_MESSAGES_LOG", "true"),
        ];
        for (key, value) in demo {
            source
                .0
                .entry(key.to_owned())
                .or_insert_with(|| value.to_owned());
        }
        source
    }
}

/// Demo fees for every time-based E/M code Bedside bills.
const DEMO_FEE_SCHEDULE: &str = "99202=7500,99203=11500,99204=17000,99205=22500,\
99212=6000,99213=9500,99214=13500,99215=19000,\
98000=7500,98001=11500,98002=17000,98003=22500,98004=6000,98005=9500,98006=13500,98007=19000,\
98008=7000,98009=11000,98010=16000,98011=21000,98012=5500,98013=9000,98014=12500,98015=18000";

fn parse_phone(source: &Source) -> Result<Option<String>, ConfigError> {
    let Some(value) = source.get("BEDSIDE_BILLING_PHONE") else {
        return Ok(None);
    };
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " -().+".contains(c));
    match digits.len() {
        10 if allowed => Ok(Some(digits)),
        11 if allowed && digits.starts_with('1') => Ok(Some(digits[1..].to_owned())),
        _ => Err(ConfigError::new(
            "BEDSIDE_BILLING_PHONE",
            "must be a ten-digit US phone number",
        )),
    }
}

fn parse_summary(
    source: &Source,
    billing: &BillingSettings,
) -> Result<SummarySettings, ConfigError> {
    let days = parse_int(
        "BEDSIDE_SUMMARY_DAYS",
        source,
        visits::summary::DEFAULT_SUMMARY_DAYS as i64,
        1,
        3650,
    )?;
    let clinic = billing.provider.as_ref().map(|p| ClinicContact {
        name: p.name.clone(),
        phone: billing
            .phone
            .as_ref()
            .map(|d| format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])),
    });
    Ok(SummarySettings {
        available_for: Duration::from_secs(days as u64 * 24 * 3600),
        clinic,
    })
}

fn parse_billing_settings(source: &Source) -> Result<BillingSettings, ConfigError> {
    let poll_seconds = parse_int("BEDSIDE_BILLING_POLL_SECONDS", source, 5, 0, 3600)? as u64;
    let workers = parse_int("BEDSIDE_BILLING_WORKERS", source, 1, 1, 16)? as usize;
    Ok(BillingSettings {
        provider: parse_billing(source)?,
        x12_sender_id: parse_x12_id("BEDSIDE_X12_SENDER_ID", source)?,
        x12_receiver_id: parse_x12_id("BEDSIDE_X12_RECEIVER_ID", source)?,
        x12_usage: match source.get("BEDSIDE_X12_USAGE") {
            None | Some("P") => X12Usage::Production,
            Some("T") => X12Usage::Test,
            Some(_) => return Err(ConfigError::new("BEDSIDE_X12_USAGE", "must be P or T")),
        },
        phone: parse_phone(source)?,
        fee_schedule: FeeSchedule::parse(source.get("BEDSIDE_FEE_SCHEDULE").unwrap_or_default())
            .map_err(|e| ConfigError::new("BEDSIDE_FEE_SCHEDULE", e.to_string()))?,
        payer_rules: PayerRules::parse(source.get("BEDSIDE_PAYER_RULES").unwrap_or_default())
            .map_err(|e| ConfigError::new("BEDSIDE_PAYER_RULES", e.to_string()))?,
        webhook: parse_billing_webhook(source)?,
        poll_every: (poll_seconds > 0).then(|| Duration::from_secs(poll_seconds)),
        workers,
        clearinghouse: parse_clearinghouse(source)?,
    })
}

/// `BEDSIDE_CLEARINGHOUSE_*`: the URL, then basic auth (username and
/// password) or a bearer token, never both.
fn parse_clearinghouse(source: &Source) -> Result<Option<ClearinghouseSettings>, ConfigError> {
    let timeout = parse_int("BEDSIDE_CLEARINGHOUSE_TIMEOUT_SECONDS", source, 30, 1, 300)? as u64;
    let username = source.get("BEDSIDE_CLEARINGHOUSE_USERNAME");
    let password = source.get("BEDSIDE_CLEARINGHOUSE_PASSWORD");
    let token = source.get("BEDSIDE_CLEARINGHOUSE_TOKEN");
    let Some(url) = source.get("BEDSIDE_CLEARINGHOUSE_URL") else {
        if let Some(key) = [
            ("BEDSIDE_CLEARINGHOUSE_USERNAME", username),
            ("BEDSIDE_CLEARINGHOUSE_PASSWORD", password),
            ("BEDSIDE_CLEARINGHOUSE_TOKEN", token),
        ]
        .iter()
        .find_map(|(key, value)| value.map(|_| *key))
        {
            return Err(ConfigError::new(key, "needs BEDSIDE_CLEARINGHOUSE_URL"));
        }
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::new(
            "BEDSIDE_CLEARINGHOUSE_URL",
            "must start with http:// or https://",
        ));
    }
    let auth = match (username, password, token) {
        (None, None, None) => None,
        (Some(username), Some(password), None) => Some(ClearinghouseAuth::Basic {
            username: username.to_owned(),
            password: SecretString::from(password.to_owned()),
        }),
        (None, None, Some(token)) => Some(ClearinghouseAuth::Bearer(SecretString::from(
            token.to_owned(),
        ))),
        (_, _, Some(_)) => {
            return Err(ConfigError::new(
                "BEDSIDE_CLEARINGHOUSE_TOKEN",
                "cannot go with BEDSIDE_CLEARINGHOUSE_USERNAME or _PASSWORD",
            ));
        }
        (Some(_), None, None) => {
            return Err(ConfigError::new(
                "BEDSIDE_CLEARINGHOUSE_PASSWORD",
                "is required with BEDSIDE_CLEARINGHOUSE_USERNAME",
            ));
        }
        (None, Some(_), None) => {
            return Err(ConfigError::new(
                "BEDSIDE_CLEARINGHOUSE_USERNAME",
                "is required with BEDSIDE_CLEARINGHOUSE_PASSWORD",
            ));
        }
    };
    Ok(Some(ClearinghouseSettings {
        url: url.to_owned(),
        auth,
        timeout: Duration::from_secs(timeout),
    }))
}

fn parse_billing_webhook(source: &Source) -> Result<Option<BillingWebhook>, ConfigError> {
    let url = source.get("BEDSIDE_BILLING_WEBHOOK_URL");
    let secret = source.get("BEDSIDE_BILLING_WEBHOOK_SECRET");
    match (url, secret) {
        (None, None) => Ok(None),
        (Some(url), Some(secret)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(
                    "BEDSIDE_BILLING_WEBHOOK_URL",
                    "must start with http:// or https://",
                ));
            }
            if secret.len() < 16 {
                return Err(ConfigError::new(
                    "BEDSIDE_BILLING_WEBHOOK_SECRET",
                    "must be at least 16 characters",
                ));
            }
            Ok(Some(BillingWebhook {
                url: url.to_owned(),
                secret: SecretString::from(secret.to_owned()),
            }))
        }
        (Some(_), None) => Err(ConfigError::new(
            "BEDSIDE_BILLING_WEBHOOK_SECRET",
            "is required with BEDSIDE_BILLING_WEBHOOK_URL",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "BEDSIDE_BILLING_WEBHOOK_URL",
            "is required with BEDSIDE_BILLING_WEBHOOK_SECRET",
        )),
    }
}

fn parse_hashing(source: &Source) -> Result<HashingSettings, ConfigError> {
    let defaults = HashingSettings::default();
    let workers = parse_int(
        "BEDSIDE_SIGNIN_WORKERS",
        source,
        defaults.workers as i64,
        1,
        256,
    )?;
    let queue = parse_int("BEDSIDE_SIGNIN_QUEUE", source, 8 * workers, 0, 10_000)?;
    let wait_ms = parse_int(
        "BEDSIDE_SIGNIN_WAIT_MS",
        source,
        defaults.wait.as_millis() as i64,
        1,
        60_000,
    )?;
    Ok(HashingSettings {
        workers: workers as usize,
        queue: queue as usize,
        wait: Duration::from_millis(wait_ms as u64),
    })
}

fn parse_trusted_proxies(source: &Source) -> Result<Vec<IpNet>, ConfigError> {
    let Some(value) = source.get("BEDSIDE_TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "BEDSIDE_TRUSTED_PROXIES",
                        format!("{item:?} is not an address or CIDR range such as 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

fn parse_tls(source: &Source) -> Result<Option<TlsFiles>, ConfigError> {
    let cert = source.get("BEDSIDE_TLS_CERT");
    let key = source.get("BEDSIDE_TLS_KEY");
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "BEDSIDE_TLS_KEY",
                "is required with BEDSIDE_TLS_CERT",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "BEDSIDE_TLS_CERT",
                "is required with BEDSIDE_TLS_KEY",
            ));
        }
    };
    for (key_name, path) in [("BEDSIDE_TLS_CERT", &cert), ("BEDSIDE_TLS_KEY", &key)] {
        if !path.is_file() {
            return Err(ConfigError::new(
                key_name,
                format!("{} is not a readable file", path.display()),
            ));
        }
    }
    Ok(Some(TlsFiles { cert, key }))
}

fn parse_redirect_addr(source: &Source, tls: bool) -> Result<Option<SocketAddr>, ConfigError> {
    const KEY: &str = "BEDSIDE_HTTP_REDIRECT_ADDR";
    let Some(value) = source.get(KEY) else {
        return Ok(None);
    };
    if !tls {
        return Err(ConfigError::new(
            KEY,
            "needs BEDSIDE_TLS_CERT and BEDSIDE_TLS_KEY: it redirects to HTTPS",
        ));
    }
    value.parse().map(Some).map_err(|_| {
        ConfigError::new(
            KEY,
            format!("{value:?} is not a socket address such as 0.0.0.0:80"),
        )
    })
}

fn parse_database_url(value: Option<&str>) -> Result<DatabaseUrl, ConfigError> {
    let value = value.unwrap_or("sqlite://./data/bedside.db");
    if value.starts_with("sqlite:") {
        Ok(DatabaseUrl::Sqlite(value.to_owned()))
    } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        Ok(DatabaseUrl::Postgres(value.to_owned()))
    } else {
        Err(ConfigError::new(
            "DATABASE_URL",
            "must start with sqlite:// or postgres://",
        ))
    }
}

fn parse_int(
    key: &str,
    source: &Source,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match source.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                key,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

fn parse_urls(key: &str, source: &Source, schemes: &[&str]) -> Result<Vec<String>, ConfigError> {
    let Some(value) = source.get(key) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|url| {
            if schemes.iter().any(|scheme| url.starts_with(scheme)) {
                Ok(url.to_owned())
            } else {
                Err(ConfigError::new(
                    key,
                    format!("{url:?} must start with {}", schemes.join(" or ")),
                ))
            }
        })
        .collect()
}

fn parse_billing(source: &Source) -> Result<Option<BillingProvider>, ConfigError> {
    let present: Vec<&str> = BILLING_KEYS
        .iter()
        .copied()
        .filter(|k| source.get(k).is_some())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = BILLING_KEYS.iter().find(|k| source.get(k).is_none()) {
        return Err(ConfigError::new(
            missing,
            "is required when any BEDSIDE_BILLING_* key is set",
        ));
    }
    let get = |k: &str| source.get(k).unwrap_or_default().trim().to_owned();
    let npi = Npi::parse(&get("BEDSIDE_BILLING_NPI"))
        .map_err(|e| ConfigError::new("BEDSIDE_BILLING_NPI", e.to_string()))?;
    let postal_code = PostalCode::parse(&get("BEDSIDE_BILLING_POSTAL_CODE"))
        .ok()
        .filter(PostalCode::is_nine_digit)
        .ok_or_else(|| {
            ConfigError::new(
                "BEDSIDE_BILLING_POSTAL_CODE",
                "must be a nine-digit ZIP code",
            )
        })?;
    let tax_id = get("BEDSIDE_BILLING_TAX_ID").replace('-', "");
    if tax_id.len() != 9 || !tax_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::new(
            "BEDSIDE_BILLING_TAX_ID",
            "must be a nine-digit tax id",
        ));
    }
    let state = get("BEDSIDE_BILLING_STATE").to_ascii_uppercase();
    if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ConfigError::new(
            "BEDSIDE_BILLING_STATE",
            "must be a two-letter state code",
        ));
    }
    Ok(Some(BillingProvider {
        name: get("BEDSIDE_BILLING_NAME"),
        npi,
        tax_id,
        address_line: get("BEDSIDE_BILLING_ADDRESS_LINE"),
        city: get("BEDSIDE_BILLING_CITY"),
        state,
        postal_code,
    }))
}

fn parse_x12_id(key: &str, source: &Source) -> Result<Option<String>, ConfigError> {
    match source.get(key) {
        None => Ok(None),
        Some(v) if (2..=15).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(ConfigError::new(key, "must be 2 to 15 letters or digits")),
    }
}

fn parse_turn(source: &Source) -> Result<Option<TurnConfig>, ConfigError> {
    let urls = parse_urls("BEDSIDE_TURN_URLS", source, &["turn:", "turns:"])?;
    let secret = source.get("BEDSIDE_TURN_SECRET");
    let ttl_seconds = parse_int("BEDSIDE_TURN_TTL_SECONDS", source, 3600, 60, 86_400)?;
    match (urls.is_empty(), secret) {
        (true, None) => Ok(None),
        (false, Some(secret)) => Ok(Some(TurnConfig {
            urls,
            secret: SecretString::from(secret.to_owned()),
            ttl_seconds: ttl_seconds as u64,
        })),
        (true, Some(_)) => Err(ConfigError::new(
            "BEDSIDE_TURN_URLS",
            "is required with BEDSIDE_TURN_SECRET",
        )),
        (false, None) => Err(ConfigError::new(
            "BEDSIDE_TURN_SECRET",
            "is required with BEDSIDE_TURN_URLS",
        )),
    }
}

/// The pre-call check's own peer: how many run at once, and where it binds.
fn parse_precall(source: &Source) -> Result<PreCallConfig, ConfigError> {
    let max_checks = parse_int("BEDSIDE_PRECALL_MAX", source, 8, 1, 1000)? as usize;
    let udp_addrs = match source.get("BEDSIDE_PRECALL_UDP_ADDRS") {
        None => vec!["0.0.0.0:0".to_owned()],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<SocketAddr>().map(|_| a.to_owned()).map_err(|_| {
                    ConfigError::new(
                        "BEDSIDE_PRECALL_UDP_ADDRS",
                        format!("{a:?} is not a socket address such as 0.0.0.0:0"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if udp_addrs.is_empty() {
        return Err(ConfigError::new(
            "BEDSIDE_PRECALL_UDP_ADDRS",
            "must name at least one address",
        ));
    }
    Ok(PreCallConfig {
        max_checks,
        udp_addrs,
    })
}

fn parse_livekit(source: &Source) -> Result<Option<LiveKitConfig>, ConfigError> {
    let keys = ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"];
    if keys.iter().all(|k| source.get(k).is_none()) {
        return Ok(None);
    }
    if let Some(missing) = keys.iter().find(|k| source.get(k).is_none()) {
        return Err(ConfigError::new(
            missing,
            "is required when any LIVEKIT_* key is set",
        ));
    }
    let url = source.get("LIVEKIT_URL").unwrap_or_default().to_owned();
    if !["ws://", "wss://", "http://", "https://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Err(ConfigError::new(
            "LIVEKIT_URL",
            "must start with ws://, wss://, http:// or https://",
        ));
    }
    Ok(Some(LiveKitConfig {
        url,
        api_key: source.get("LIVEKIT_API_KEY").unwrap_or_default().to_owned(),
        api_secret: SecretString::from(
            source
                .get("LIVEKIT_API_SECRET")
                .unwrap_or_default()
                .to_owned(),
        ),
    }))
}

/// Messages to patients: the transports, reminders and the worker.
fn parse_outbox(source: &Source) -> Result<OutboxSettings, ConfigError> {
    let email = match (
        source.get("BEDSIDE_SMTP_URL"),
        source.get("BEDSIDE_SMTP_FROM"),
    ) {
        (None, None) => None,
        (Some(url), Some(from)) => Some(
            EmailSettings::parse(url, from, source.get("BEDSIDE_SMTP_TLS"))
                .map_err(|(key, message)| ConfigError::new(key, message))?,
        ),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "BEDSIDE_SMTP_FROM",
                "is required with BEDSIDE_SMTP_URL",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "BEDSIDE_SMTP_URL",
                "is required with BEDSIDE_SMTP_FROM",
            ));
        }
    };
    let sms = match source.get("BEDSIDE_SMS_PROVIDER") {
        None => None,
        Some("twilio") => {
            let need = |key: &str| {
                source
                    .get(key)
                    .map(str::to_owned)
                    .ok_or_else(|| ConfigError::new(key, "is required with BEDSIDE_SMS_PROVIDER"))
            };
            let base_url = source
                .get("BEDSIDE_SMS_BASE_URL")
                .unwrap_or("https://api.twilio.com")
                .trim_end_matches('/')
                .to_owned();
            if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                return Err(ConfigError::new(
                    "BEDSIDE_SMS_BASE_URL",
                    "must start with https:// or http://",
                ));
            }
            Some(SmsSettings {
                account_sid: need("BEDSIDE_SMS_ACCOUNT_SID")?,
                auth_token: SecretString::from(need("BEDSIDE_SMS_AUTH_TOKEN")?),
                from: need("BEDSIDE_SMS_FROM")?,
                base_url,
            })
        }
        Some(_) => {
            return Err(ConfigError::new(
                "BEDSIDE_SMS_PROVIDER",
                "must be twilio (the one provider Bedside speaks)",
            ));
        }
    };
    let reminder_minutes = match source.get("BEDSIDE_REMINDER_MINUTES") {
        None => outbox::DEFAULT_REMINDER_MINUTES.to_vec(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|m| (1..=14 * 24 * 60).contains(m))
                    .ok_or_else(|| {
                        ConfigError::new(
                            "BEDSIDE_REMINDER_MINUTES",
                            "must list minutes before the visit, each from 1 to 20160, such as 1440,60",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let poll = parse_int("BEDSIDE_MESSAGE_POLL_SECONDS", source, 5, 0, 3600)? as u64;
    let sms_daily_cap = parse_int(
        "BEDSIDE_SMS_DAILY_CAP",
        source,
        i64::from(outbox::DEFAULT_SMS_DAILY_CAP),
        1,
        100,
    )? as u32;
    let log_only = match source.get("BEDSIDE_MESSAGES_LOG") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ConfigError::new(
                "BEDSIDE_MESSAGES_LOG",
                "must be true or false",
            ));
        }
    };
    Ok(OutboxSettings {
        email,
        sms,
        log_only,
        reminder_minutes,
        sms_daily_cap,
        poll_every: (poll > 0).then(|| Duration::from_secs(poll)),
    })
}

/// A comma-separated list of staff roles; empty or unset is none.
fn parse_roles(key: &str, source: &Source) -> Result<Vec<Role>, ConfigError> {
    let Some(value) = source.get(key) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            Role::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                ConfigError::new(
                    key,
                    "must list roles among admin, scheduler, clinician, billing",
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let source = pairs
            .iter()
            .fold(Source::default(), |s, (k, v)| s.set(k, *v));
        Config::from_source(&source)
    }

    #[test]
    fn mfa_required_roles_are_a_list_of_known_roles() {
        assert!(parse(&[]).unwrap().mfa_required_roles.is_empty());
        let config = parse(&[("BEDSIDE_MFA_REQUIRED_ROLES", "admin, Billing,")]).unwrap();
        assert_eq!(config.mfa_required_roles, [Role::Admin, Role::Billing]);
        let error = parse(&[("BEDSIDE_MFA_REQUIRED_ROLES", "admin,nurse")]).unwrap_err();
        assert_eq!(error.key, "BEDSIDE_MFA_REQUIRED_ROLES");
    }

    #[test]
    fn the_summary_lasts_thirty_days_unless_configured_in_whole_days() {
        let thirty = Duration::from_secs(30 * 24 * 3600);
        assert_eq!(parse(&[]).unwrap().summary.available_for, thirty);
        let config = parse(&[("BEDSIDE_SUMMARY_DAYS", "14")]).unwrap();
        assert_eq!(
            config.summary.available_for,
            Duration::from_secs(14 * 24 * 3600)
        );
        assert!(config.summary.clinic.is_none());
        for bad in ["0", "two", "-3"] {
            let error = parse(&[("BEDSIDE_SUMMARY_DAYS", bad)]).unwrap_err();
            assert_eq!(error.key, "BEDSIDE_SUMMARY_DAYS");
        }
    }

    #[test]
    fn defaults_run_the_embedded_store_on_localhost() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url,
            DatabaseUrl::Sqlite("sqlite://./data/bedside.db".into())
        );
        assert!(config.redis_url.is_none() && config.billing.provider.is_none());
        assert_eq!(config.store_timeout, Duration::from_secs(3));
        assert_eq!(config.store_connections, 10);
        assert_eq!(config.drain_for, Duration::from_secs(20));
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("BEDSIDE_ADDR", "nowhere"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "http://x"),
            ("BEDSIDE_SESSION_TTL_MINUTES", "0"),
            ("BEDSIDE_LOG_FORMAT", "xml"),
            ("BEDSIDE_STORE_CONNECTIONS", "0"),
            ("BEDSIDE_TURN_TTL_SECONDS", "ten"),
            ("BEDSIDE_STUN_URLS", "http://x"),
            ("BEDSIDE_REGION", "FR"),
            ("BEDSIDE_STORE_TIMEOUT_SECONDS", "0"),
            ("BEDSIDE_DRAIN_SECONDS", "soon"),
        ];
        for (key, value) in cases {
            let err = parse(&[(key, value)]).unwrap_err();
            assert_eq!(err.key, key, "{value}");
        }
    }

    #[test]
    fn billing_needs_every_key_and_a_valid_npi_and_nine_digit_zip() {
        let base = Config::with_demo_defaults(&Source::default());
        assert!(
            Config::from_source(&base)
                .unwrap()
                .billing
                .provider
                .is_some()
        );
        let bad_npi = base.clone().set("BEDSIDE_BILLING_NPI", "1234567890");
        assert_eq!(
            Config::from_source(&bad_npi).unwrap_err().key,
            "BEDSIDE_BILLING_NPI"
        );
        let short_zip = base.set("BEDSIDE_BILLING_POSTAL_CODE", "62701");
        assert_eq!(
            Config::from_source(&short_zip).unwrap_err().key,
            "BEDSIDE_BILLING_POSTAL_CODE"
        );
        let partial = Source::default().set("BEDSIDE_BILLING_NAME", "Clinic");
        assert_eq!(
            Config::from_source(&partial).unwrap_err().key,
            "BEDSIDE_BILLING_NPI"
        );
    }

    #[test]
    fn the_clearinghouse_takes_basic_auth_or_a_token_never_both() {
        use crate::billing::clearinghouse::ClearinghouseAuth;
        let url = ("BEDSIDE_CLEARINGHOUSE_URL", "https://ch.example/x12");
        assert!(parse(&[]).unwrap().billing.clearinghouse.is_none());
        let basic = parse(&[
            url,
            ("BEDSIDE_CLEARINGHOUSE_USERNAME", "clinic"),
            ("BEDSIDE_CLEARINGHOUSE_PASSWORD", "secret"),
        ])
        .unwrap();
        let settings = basic.billing.clearinghouse.unwrap();
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert!(matches!(
            settings.auth,
            Some(ClearinghouseAuth::Basic { .. })
        ));
        assert!(
            !format!("{settings:?}").contains("secret"),
            "secrets stay out of Debug"
        );
        let token = parse(&[url, ("BEDSIDE_CLEARINGHOUSE_TOKEN", "t0ken")]).unwrap();
        assert!(matches!(
            token.billing.clearinghouse.unwrap().auth,
            Some(ClearinghouseAuth::Bearer(_))
        ));
        let key = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().key;
        assert_eq!(
            key(&[
                url,
                ("BEDSIDE_CLEARINGHOUSE_TOKEN", "t"),
                ("BEDSIDE_CLEARINGHOUSE_USERNAME", "u")
            ]),
            "BEDSIDE_CLEARINGHOUSE_TOKEN"
        );
        assert_eq!(
            key(&[url, ("BEDSIDE_CLEARINGHOUSE_USERNAME", "u")]),
            "BEDSIDE_CLEARINGHOUSE_PASSWORD"
        );
        assert_eq!(
            key(&[("BEDSIDE_CLEARINGHOUSE_TOKEN", "t")]),
            "BEDSIDE_CLEARINGHOUSE_TOKEN"
        );
        assert_eq!(
            key(&[("BEDSIDE_CLEARINGHOUSE_URL", "ftp://x")]),
            "BEDSIDE_CLEARINGHOUSE_URL"
        );
    }

    #[test]
    fn billing_keys_name_themselves_on_a_bad_value() {
        const URL: &str = "BEDSIDE_BILLING_WEBHOOK_URL";
        const SECRET: &str = "BEDSIDE_BILLING_WEBHOOK_SECRET";
        let good_secret = (SECRET, "a-secret-of-enough-length");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("BEDSIDE_FEE_SCHEDULE", "99213=12.50")],
                "BEDSIDE_FEE_SCHEDULE",
            ),
            (
                &[("BEDSIDE_FEE_SCHEDULE", "banana=100")],
                "BEDSIDE_FEE_SCHEDULE",
            ),
            (
                &[("BEDSIDE_PAYER_RULES", "ACME=dental")],
                "BEDSIDE_PAYER_RULES",
            ),
            (&[("BEDSIDE_PAYER_RULES", "ACME")], "BEDSIDE_PAYER_RULES"),
            (
                &[("BEDSIDE_BILLING_PHONE", "555-0100")],
                "BEDSIDE_BILLING_PHONE",
            ),
            (&[("BEDSIDE_X12_USAGE", "X")], "BEDSIDE_X12_USAGE"),
            (
                &[("BEDSIDE_BILLING_POLL_SECONDS", "-1")],
                "BEDSIDE_BILLING_POLL_SECONDS",
            ),
            (
                &[("BEDSIDE_BILLING_WORKERS", "0")],
                "BEDSIDE_BILLING_WORKERS",
            ),
            (&[(URL, "ftp://x"), good_secret], URL),
            (&[good_secret], URL),
            (&[(URL, "http://127.0.0.1:9/hook")], SECRET),
            (
                &[(URL, "http://127.0.0.1:9/hook"), (SECRET, "short")],
                SECRET,
            ),
        ];
        for (pairs, key) in cases {
            let err = parse(pairs).unwrap_err();
            assert_eq!(err.key, *key, "{pairs:?}");
        }
    }

    #[test]
    fn demo_defaults_bill_end_to_end() {
        let config = Config::from_source(&Config::with_demo_defaults(&Source::default())).unwrap();
        assert!(crate::billing::missing_config(&config.billing).is_none());
        let code = crate::billing::Cpt::parse("99213").unwrap();
        assert!(config.billing.fee_schedule.fee(&code).is_some());
        assert_eq!(config.billing.phone.as_deref(), Some("2175550100"));
        assert_eq!(config.billing.poll_every, Some(Duration::from_secs(5)));
        assert_eq!(config.billing.workers, 1);
    }

    #[test]
    fn toml_file_keys_are_checked_and_env_style() {
        let source =
            Source::from_toml("BEDSIDE_ADDR = \"127.0.0.1:9000\"\nBEDSIDE_TURN_TTL_SECONDS = 600")
                .unwrap();
        assert_eq!(Config::from_source(&source).unwrap().addr.port(), 9000);
        assert_eq!(Source::from_toml("PORT = 1").unwrap_err().key, "PORT");
    }

    #[test]
    fn message_settings_name_their_key_when_bad() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.outbox.reminder_minutes, [1440, 60]);
        assert_eq!(config.outbox.sms_daily_cap, 5);
        assert!(config.outbox.email.is_none() && config.outbox.sms.is_none());
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("BEDSIDE_SMTP_URL", "smtp://x")], "BEDSIDE_SMTP_FROM"),
            (
                &[
                    ("BEDSIDE_SMTP_URL", "http://x"),
                    ("BEDSIDE_SMTP_FROM", "a@b.org"),
                ],
                "BEDSIDE_SMTP_URL",
            ),
            (
                &[
                    ("BEDSIDE_SMTP_URL", "smtp://x"),
                    ("BEDSIDE_SMTP_FROM", "a@b.org"),
                    ("BEDSIDE_SMTP_TLS", "maybe"),
                ],
                "BEDSIDE_SMTP_TLS",
            ),
            (
                &[("BEDSIDE_SMS_PROVIDER", "pigeon")],
                "BEDSIDE_SMS_PROVIDER",
            ),
            (
                &[("BEDSIDE_SMS_PROVIDER", "twilio")],
                "BEDSIDE_SMS_ACCOUNT_SID",
            ),
            (
                &[("BEDSIDE_REMINDER_MINUTES", "1440,soon")],
                "BEDSIDE_REMINDER_MINUTES",
            ),
            (
                &[("BEDSIDE_MESSAGE_POLL_SECONDS", "-1")],
                "BEDSIDE_MESSAGE_POLL_SECONDS",
            ),
            (&[("BEDSIDE_SMS_DAILY_CAP", "0")], "BEDSIDE_SMS_DAILY_CAP"),
            (&[("BEDSIDE_MESSAGES_LOG", "yes")], "BEDSIDE_MESSAGES_LOG"),
        ];
        for (pairs, key) in cases {
            assert_eq!(parse(pairs).unwrap_err().key, *key, "{pairs:?}");
        }
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}
