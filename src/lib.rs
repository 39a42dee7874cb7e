//! Bedside: a telehealth server. Patients join video visits from a browser,
//! clinicians consult, schedulers steer the queues; every visit is an EHR
//! encounter that feeds billing when it closes.
//!
//! # Layout
//!
//! - [`config`]: the typed configuration, from the environment and `bedside.toml`.
//! - [`store`]: everything durable, on SQLite or PostgreSQL.
//! - [`auth`]: staff accounts and roles, sessions, patient visit tokens.
//! - [`access`]: the one read policy (which role and relation reads which data), and refusals audited.
//! - [`ehr`]: the health record: patients and what clinicians record.
//! - [`chart`]: ending allergies, medications and problems, each end a new FHIR version.
//! - [`visits`]: queues and the visit lifecycle, moving each encounter with it.
//! - [`schedule`]: working hours, slots, booking and the day and week calendar.
//! - [`cdss`]: decision support: NEWS2, triage, allergy and interaction checks, CDS Hooks.
//! - [`fhir`]: the health record as FHIR R4 resources, read and searched under `/fhir`.
//! - [`smart`]: SMART on FHIR: registered apps, launches, the OAuth authorization server, scoped tokens.
//! - [`media`]: how a visit's browsers connect their call: ICE servers, TURN credentials, LiveKit rooms and webhooks.
//! - [`outbox`]: messages to patients (links, reminders, running late, cancellations) by e-mail and text; its worker runs from [`serve`].
//! - [`billing`]: claims from closed consults, X12 837P/835, accounts; its worker runs from [`serve`].
//! - [`audit`]: the hash-chained trail of every read and write of health data.
//! - [`codes`], [`ids`], [`timestamp`], [`validation`]: values that cannot be built invalid.
//! - [`region`]: where the clinic practises: emergency number, units, spelling, sources.
//! - [`live`]: the socket's authoriser and the live updates pushed after each change.
//! - [`quality`]: call quality: the `stats` timeline, the measured call, the operations figures.
//! - [`http`]: routes, extractors and problem+json errors.
//! - [`metrics`]: Prometheus counters owned by the app.
//! - [`demo`]: the demo clinic for `serve --demo`.
//!
//! [`serve`] runs the server on a listener until a shutdown signal; tests
//! call it on port 0 in-process.

pub mod access;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cdss;
pub mod chart;
pub mod clinic;
pub mod codeset;
pub mod config;
pub mod demo;
pub mod ehr;
pub mod fhir;
pub mod http;
pub mod live;
pub mod media;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod quality;
pub mod schedule;
pub mod smart;
pub mod state;
pub mod store;
pub mod visits;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::auth::{LoginThrottle, PasswordPool, Role, TokenKeys};
use crate::config::Config;
use crate::model::clock::Clock;
use crate::state::AppState;
use crate::store::Store;

/// The log filter when `RUST_LOG` is unset. The WebRTC crates (`webrtc*`,
/// `rtc*`) log every failed ICE pair and DTLS retry as a warning, hundreds
/// per failed pre-call check: only their errors are kept. Bedside's own
/// warnings stay.
pub const LOG_FILTER: &str = "info,sqlx=warn,webrtc=error,rtc=error";

/// Connects the store (running migrations), creates the first admin when
/// asked, and assembles the shared state.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    build_state_with_clock(config, Clock::system()).await
}

/// As [`build_state`], reading time from `clock` (tests move it).
pub async fn build_state_with_clock(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let store = Store::connect_with(
        &config.database_url,
        config.store_connections,
        config.store_timeout,
    )
    .await
    .with_context(|| {
        format!(
            "Failed to open the store at {}",
            config.database_url.redacted()
        )
    })?;
    bootstrap_admin(&store, &clock, config.admin_password.clone()).await?;
    let secret = {
        let mut tx = store.begin().await?;
        let secret = store::token_secret(&mut tx, &TokenKeys::generate_secret()).await?;
        store::commit(tx)
            .await
            .context("Failed to store the token secret")?;
        secret
    };
    let redis = config
        .redis_url
        .as_deref()
        .map(redis::Client::open)
        .transpose()
        .context("Failed to read REDIS_URL")?;
    let tokens = TokenKeys::from_secret(secret.as_bytes());
    let sessions = auth::SessionSettings {
        lifetime: config.session_lifetime,
        links: auth::LinkSettings {
            after_close: config.summary.available_for,
        },
    };
    let stats = Arc::new(live::StoreStatsRecorder::new(
        store.clone(),
        clock.clone(),
        config.quality_timeline_cap,
    ));
    let hub = start_hub(&store, &clock, &tokens, sessions, redis.as_ref(), stats).await?;
    let livekit = config
        .livekit
        .as_ref()
        .map(|lk| Arc::new(media::livekit::LiveKit::new(lk)));
    let live = live::Live::new(hub, store.clone());
    let precall = Arc::new(media::precall::PreCall::new(
        &config.precall,
        config.stun_urls.clone(),
        store.clone(),
        clock.clone(),
        live.clone(),
    ));
    let knowledge =
        cdss::Knowledge::bundled_for(config.region).context("Failed to load the knowledge base")?;
    let throttle = Arc::new(LoginThrottle::new(config.throttle));
    let config_booking = config.booking;
    let hashing = Arc::new(PasswordPool::start(config.hashing));
    let join_links = auth::JoinLinks::new(
        tokens.clone(),
        &config.public_url,
        visits::patient_token_ttl_seconds(&config.summary),
    );
    Ok(AppState {
        clock,
        billing: Arc::new(config.billing.clone()),
        billing_nudge: billing::worker::Nudge::default(),
        outbox: Arc::new(config.outbox.clone()),
        ice: Arc::new(media::IceSettings {
            stun_urls: config.stun_urls.clone(),
            turn: config.turn.clone(),
        }),
        sessions,
        livekit,
        precall,
        config: Arc::new(config),
        live,
        knowledge: Arc::new(knowledge),
        store,
        tokens,
        join_links,
        throttle,
        hashing,
        metrics: Arc::new(metrics::Metrics::new()),
        booking: Arc::new(schedule::booking::SelfBooking::new(config_booking)),
        draining: state::Draining::default(),
        smart_keys: smart::keys::Keys::default(),
    })
}

/// How long a user stays present after their last socket closed.
const OFFLINE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The signaling hub: presence and bus in Redis when configured (several
/// nodes), in memory otherwise. Starts even while Redis is away.
async fn start_hub(
    store: &Store,
    clock: &Clock,
    tokens: &TokenKeys,
    sessions: auth::SessionSettings,
    redis: Option<&redis::Client>,
    stats: Arc<live::StoreStatsRecorder>,
) -> anyhow::Result<signaling::Hub> {
    let authoriser = Arc::new(live::StoreAuthoriser::new(
        store.clone(),
        clock.clone(),
        tokens.clone(),
        sessions,
    ));
    let defaults = signaling::HubConfig::default();
    let config = signaling::HubConfig {
        max_sockets: socket_capacity(defaults.max_sockets),
        ..defaults
    };
    let chat = Arc::new(live::StoreChatRecorder::new(store.clone(), clock.clone()));
    let mut builder = signaling::Hub::builder(authoriser)
        .config(config)
        .chat(chat)
        .stats(stats);
    if let Some(client) = redis {
        let connection =
            signaling::redis_connection(client.clone()).context("Failed to set up Redis")?;
        builder = builder
            .presence(Arc::new(signaling::RedisPresence::new(
                connection.clone(),
                "bedside",
                OFFLINE_AFTER,
            )))
            .bus(Arc::new(signaling::RedisBus::new(
                client.clone(),
                connection,
                "bedside",
            )));
    } else {
        builder = builder.presence(Arc::new(signaling::MemoryPresence::new(OFFLINE_AFTER)));
    }
    Ok(builder.start().await)
}

/// Open files kept for everything but sockets: the store, Redis, listeners,
/// the pre-call check's peers, logs.
const RESERVED_FILES: u64 = 256;

/// Raises this process's open-file limit as far as the system allows (the
/// usual soft limit of 1,024 would cap a node at about a thousand sockets),
/// and returns how many sockets the hub may hold under it.
fn socket_capacity(wanted: usize) -> usize {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            let fits = limit.saturating_sub(RESERVED_FILES);
            wanted.min(usize::try_from(fits).unwrap_or(usize::MAX))
        }
        Err(error) => {
            tracing::warn!(%error, "the open-file limit could not be read or raised");
            wanted
        }
    }
}

/// Creates user `admin` when the store has no users and a password is given.
async fn bootstrap_admin(
    store: &Store,
    clock: &Clock,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    let Some(password) = password else {
        return Ok(());
    };
    let mut tx = store.begin_read().await?;
    let users = store::count_users(&mut tx).await?;
    store::commit(tx).await?;
    if users == 0 {
        let now = clock.now();
        auth::create_user(
            store,
            "admin",
            password,
            Role::Admin,
            "Administrator",
            None,
            now,
        )
        .await
        .context("Failed to create the first admin from BEDSIDE_ADMIN_PASSWORD")?;
        tracing::info!("created the first admin user");
    }
    Ok(())
}

/// Serves the app on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = state.store.clone();
    let hub = state.live.hub().clone();
    let draining = state.draining.clone();
    let drain_for = state.config.drain_for;
    // The audit sealer, the billing outbox worker and the patient-message
    // worker run beside the server and stop with it.
    let sealer = audit::sealer::Sealer::start(store.clone());
    let billing = billing::worker::Worker::start(
        state.clock.clone(),
        store.clone(),
        state.billing.clone(),
        &state.billing_nudge,
    );
    // The patient-message worker too: reminders, then sending.
    let messages = outbox::worker::Worker::start(outbox::worker::Sender::new(
        store.clone(),
        state.clock.clone(),
        state.outbox.clone(),
        state.join_links.clone(),
        state.config.summary.clinic.clone(),
    )?);
    let tls = state.config.tls.clone();
    let redirect_addr = state.config.http_redirect_addr;
    let public_url = state.config.public_url.clone();
    let app = http::app(state).into_make_service_with_connect_info::<http::listen::PeerAddr>();
    let shutdown = async move {
        shutdown.await;
        // Take nothing new; send sockets elsewhere while billing finishes
        // the row in hand.
        draining.start();
        let billing = async {
            if let Some(worker) = billing {
                worker.stop().await;
            }
        };
        let messages = async {
            if let Some(worker) = messages {
                worker.stop().await;
            }
        };
        tokio::join!(billing, messages, drain_sockets(&hub, drain_for));
        // Sockets never finish by themselves: close those left.
        hub.shutdown();
        sealer.stop().await;
    };
    match tls {
        None => axum::serve(http::listen::PlainListener(listener), app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("Failed to serve")?,
        Some(files) => {
            let certificates = http::tls::Certificates::load(&files)
                .context("Failed to load BEDSIDE_TLS_CERT and BEDSIDE_TLS_KEY")?;
            let config = certificates
                .server_config()
                .context("Failed to set up TLS")?;
            let https_port = listener.local_addr()?.port();
            let listener = http::tls::TlsListener::new(listener, config)?;
            let watcher = certificates.watch();
            let redirecting = match redirect_addr {
                None => None,
                Some(addr) => {
                    let plain = TcpListener::bind(addr).await.with_context(|| {
                        format!("Failed to listen on {addr} (BEDSIDE_HTTP_REDIRECT_ADDR)")
                    })?;
                    let app = http::tls::redirect(&public_url, https_port);
                    Some(tokio::spawn(async move { axum::serve(plain, app).await }))
                }
            };
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("Failed to serve");
            watcher.abort();
            if let Some(redirecting) = redirecting {
                redirecting.abort();
            }
            served?;
        }
    }
    store.close().await;
    Ok(())
}

/// Tells this node's sockets to reconnect elsewhere and waits, at most
/// `window` (`BEDSIDE_DRAIN_SECONDS`), for them to go. A zero window skips
/// it: sockets are closed at once.
async fn drain_sockets(hub: &signaling::Hub, window: std::time::Duration) {
    if window.is_zero() {
        return;
    }
    hub.drain(window);
    let gone = async {
        let mut poll = tokio::time::interval(std::time::Duration::from_millis(100));
        while hub.socket_count() > 0 {
            poll.tick().await;
        }
    };
    if tokio::time::timeout(window, gone).await.is_err() {
        tracing::info!(
            sockets = hub.socket_count(),
            "drain window over; closing the sockets left"
        );
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
