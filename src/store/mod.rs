//! Everything durable, behind one store that speaks both SQLite (the
//! embedded default) and PostgreSQL through sqlx's `Any` driver. SQL lives
//! here only, in named functions that take a transaction; portable SQL
//! (`$N` placeholders, text ids, integer times) serves both backends.

mod audit;
mod billing;
mod cds;
mod chat;
mod claim_work;
mod clearinghouse;
mod clinical;
mod drafts;
mod encounters;
mod fhir;
mod fhir_write;
mod guests;
mod health;
mod links;
mod livekit;
mod messages;
mod mfa;
mod numbers;
mod patients;
mod precall;
mod quality;
mod reviews;
mod schedule;
mod sessions;
mod settings;
mod smart;
mod sql;
mod users;
mod visits;
mod writes;

pub use audit::{
    AuditQuery, append_audit, append_audits, audit_events_for_patient, audit_pending, seal_audit,
    search_audit, verify_audit_chain, write_audits,
};
pub use billing::*;
pub use cds::{Feedback, insert_cds_feedback, record_triage, symptoms_for_encounter};
pub use chat::{
    fhir_communications, get_chat_message, insert_chat_message, patient_messages, visit_messages,
};
pub use claim_work::*;
pub use clearinghouse::*;
pub use clinical::*;
pub use drafts::{delete_draft, get_draft, save_draft};
pub use encounters::{encounter_practitioners, find_encounters, get_encounter};
pub use fhir::*;
pub use fhir_write::*;
pub use guests::{
    count_admitted_guests, get_guest, insert_guest, mark_guest_admitted, revoke_guest, visit_guests,
};
pub use links::{bump_link_version, visit_link};
pub use livekit::{
    CallPresence, CallSide, call_presence, end_call_presence, measured_call_seconds,
    overlap_seconds, record_call_joined, record_call_left, record_livekit_event,
};
pub use messages::{
    PatientContact, ReminderCandidate, Settled, claim_next_message, insert_message,
    patient_contact, patients_with_phone_ending, reminder_candidates, set_sms_opt_out,
    settle_message, texts_to_patient_since, visit_patient_messages,
};
pub use mfa::*;
pub use numbers::{Counter, next_counter, take_number, take_numbers};
pub use patients::{
    PatientLookup, find_patients, get_patient, insert_patient, match_patient, search_patients,
    update_patient,
};
pub use precall::{insert_precall, latest_precall};
pub use quality::{
    AdmittedCall, StoredSample, admitted_calls, call_measure, insert_quality_sample,
    lock_call_measure, others_audio_only, quality_timeline_length, recent_quality_samples,
    save_call_measure,
};
pub use reviews::{flag_for_review, open_reviews, resolve_review, use_booking_form};
pub use schedule::{
    CalendarQuery, bookings_between, calendar, claim_slot, get_schedule, list_schedules,
    move_booking, put_schedule, release_slot, visit_booking,
};
pub use sessions::{
    SessionRecord, find_session, insert_session, revoke_session, revoke_user_sessions,
};
pub use settings::{StoredClinic, clinic_settings, put_clinic_settings, token_secret};
pub use smart::*;
pub use users::{
    Account, NewUser, count_users, deactivate_user, find_login, get_account, get_active_user,
    insert_user, list_accounts, list_users, record_sign_in, set_password_hash, update_user,
};
pub use visits::*;
pub use writes::Writes;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Where durable state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(url) | Self::Postgres(url) => url,
        }
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        redact_url(self.as_str())
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A connection outside any transaction, for a read of one statement: a
/// transaction around it would cost two more round trips (`BEGIN`,
/// `COMMIT`). Functions taking `&mut Conn` take a `&mut Tx` as well.
pub type Conn = sqlx::AnyConnection;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Whether `tx` runs on SQLite, for the few statements the stores spell differently.
fn is_sqlite(tx: &Tx) -> bool {
    tx.backend_name().eq_ignore_ascii_case("sqlite")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What a `SELECT` ends with to hold its rows until the transaction
    /// ends: SQLite's `BEGIN IMMEDIATE` already lets one writer in at a time.
    pub(crate) fn row_lock(self) -> &'static str {
        match self {
            Self::Postgres => " FOR UPDATE",
            Self::Sqlite => "",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with the same {0} already exists")]
    Duplicate(&'static str),
    /// The database is down, unreachable or out of space: the same request
    /// may succeed later.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {0}")]
    Folder(String),
    #[error("stored data is malformed: {0}")]
    Corrupt(&'static str),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if health::is_unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Database(error)
        }
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to `Duplicate(what)`.
    pub(crate) fn on_unique(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate(what),
            _ => error.into(),
        }
    }
}

/// How long a request waits for a database connection before the store
/// counts as unavailable (`BEDSIDE_STORE_TIMEOUT_SECONDS`).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// At least how long a writer waits for its turn on SQLite: as long as
/// SQLite's `busy_timeout` below lets a statement wait for a lock.
const SQLITE_BUSY: Duration = Duration::from_secs(10);

/// A pool of connections to one database, and which backend it is.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions start. On SQLite, which lets one writer in
    /// at a time, a pool of one connection: writers wait their turn in
    /// order there, where SQLite's own busy handler would have them retry
    /// after ever longer sleeps and let a late comer in first. On
    /// PostgreSQL, the same pool as readers.
    writer: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects (creating a SQLite file and its folder when missing) and
    /// applies the backend's migrations.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// As [`Store::connect`], giving up on a connection after
    /// `acquire_timeout`: while the database is away, requests fail fast
    /// with [`StoreError::Unavailable`] instead of queueing.
    #[tracing::instrument(skip_all)]
    pub async fn connect_with(
        url: &DatabaseUrl,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = match url {
            DatabaseUrl::Sqlite(url) => (Backend::Sqlite, prepare_sqlite_url(url)?),
            DatabaseUrl::Postgres(url) => (Backend::Postgres, url.clone()),
        };
        let options: AnyConnectOptions = url.parse()?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool_options = || {
            AnyPoolOptions::new()
                .acquire_timeout(acquire_timeout)
                .before_acquire(|conn, _| Box::pin(async move { Ok(health::is_idle(conn)) }))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                                .await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_options()
            .max_connections(max_connections)
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            Backend::Postgres => pool.clone(),
            Backend::Sqlite => {
                // WAL lets readers go on while one writer commits; it persists in the file.
                pool.execute("PRAGMA journal_mode = WAL").await?;
                pool_options()
                    .max_connections(1)
                    .acquire_timeout(acquire_timeout.max(SQLITE_BUSY))
                    .connect_with(options)
                    .await?
            }
        };
        let store = Self {
            pool,
            writer,
            backend,
        };
        store.migrator().run(&store.writer).await?;
        Ok(store)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction. On SQLite it waits its turn for the one writer
    /// connection and takes the write lock at once, so two writers queue
    /// instead of failing when a read turns into a write.
    #[tracing::instrument(skip_all)]
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A connection for a read of one statement (see [`Conn`]).
    #[tracing::instrument(skip_all)]
    pub async fn connection(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Starts a transaction that only reads (no write lock on SQLite).
    #[tracing::instrument(skip_all)]
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Whether the database answers, for `/readyz`.
    #[tracing::instrument(skip_all)]
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Whether the database takes a write now (a full disk answers reads
    /// and refuses commits), for `/readyz`.
    #[tracing::instrument(skip_all)]
    pub async fn can_write(&self, now: i64) -> bool {
        let written = async {
            let mut tx = self.begin().await?;
            health::touch_probe(&mut tx, now).await?;
            commit(tx).await
        };
        written.await.is_ok()
    }

    /// The pool, for tests and tools that inspect the database directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    #[tracing::instrument(skip_all)]
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Creates the folder of a SQLite file and asks sqlx to create the file.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    let folder = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder.filter(|_| path != ":memory:") {
        std::fs::create_dir_all(folder)
            .map_err(|_| StoreError::Folder(folder.display().to_string()))?;
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    })
}

/// A statement that binds an `Option<f64>`. sqlx's `Any` driver sends a
/// missing `f64` as a `float4` NULL; PostgreSQL then keeps the cached
/// statement's parameter as `float4` and refuses the next present figure
/// (22P03). Such statements are prepared afresh on every run.
pub(crate) fn query_with_optional_floats(
    sql: &'static str,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql).persistent(false)
}

/// Commits a transaction, with the store's error type.
#[tracing::instrument(skip_all)]
pub async fn commit(tx: Tx) -> Result<(), StoreError> {
    Ok(tx.commit().await?)
}
