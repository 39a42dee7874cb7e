//! SMART on FHIR: registered apps, EHR launches, grants, authorization
//! codes and tokens (kept by their SHA-256 only), client-assertion ids
//! already seen, and the server's signing key.

use super::{StoreError, Tx};
use crate::model::ids::{EncounterId, PatientId, UserId, VisitId};
use crate::model::timestamp::Timestamp;

/// A registered app as stored; `Debug` leaves out the secret's hash.
#[derive(Clone)]
pub struct AppRecord {
    pub client_id: String,
    pub name: String,
    pub launch_url: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `public`, `confidential-symmetric` or `confidential-asymmetric`.
    pub client_type: String,
    pub secret_hash: Option<String>,
    /// The app's JSON Web Key Set, as registered.
    pub jwks: Option<String>,
    pub scopes: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("client_id", &self.client_id)
            .field("client_type", &self.client_type)
            .finish_non_exhaustive()
    }
}

const APP_COLUMNS: &str = "client_id, name, launch_url, redirect_uris, client_type, secret_hash, \
                           jwks, scopes, created_by, created_at, revoked_at";

type AppRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
);

fn app_from_row(row: AppRow) -> Result<AppRecord, StoreError> {
    let (
        client_id,
        name,
        launch_url,
        redirect_uris,
        client_type,
        secret_hash,
        jwks,
        scopes,
        created_by,
        created_at,
        revoked_at,
    ) = row;
    Ok(AppRecord {
        client_id,
        name,
        launch_url,
        redirect_uris: serde_json::from_str(&redirect_uris)
            .map_err(|_| StoreError::Corrupt("smart_apps.redirect_uris"))?,
        client_type,
        secret_hash,
        jwks,
        scopes,
        created_by: UserId::from_trusted(created_by),
        created_at: Timestamp(created_at),
        revoked_at: revoked_at.map(Timestamp),
    })
}

#[tracing::instrument(skip_all)]
pub async fn insert_smart_app(tx: &mut Tx, app: &AppRecord) -> Result<(), StoreError> {
    let uris = serde_json::to_string(&app.redirect_uris)
        .map_err(|_| StoreError::Corrupt("smart_apps.redirect_uris"))?;
    sqlx::query(
        "INSERT INTO smart_apps (client_id, name, launch_url, redirect_uris, client_type, secret_hash,
             jwks, scopes, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&app.client_id)
    .bind(&app.name)
    .bind(&app.launch_url)
    .bind(uris)
    .bind(&app.client_type)
    .bind(&app.secret_hash)
    .bind(&app.jwks)
    .bind(&app.scopes)
    .bind(app.created_by.as_str())
    .bind(app.created_at.millis())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "client_id"))?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn get_smart_app(tx: &mut Tx, client_id: &str) -> Result<Option<AppRecord>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM smart_apps WHERE client_id = $1");
    let row: Option<AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(client_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(app_from_row).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn list_smart_apps(tx: &mut Tx) -> Result<Vec<AppRecord>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM smart_apps ORDER BY created_at, client_id");
    let rows: Vec<AppRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(app_from_row).collect()
}

/// Revokes an app and every grant (so every token) it holds; false when
/// there is no such live app.
#[tracing::instrument(skip_all)]
pub async fn revoke_smart_app(
    tx: &mut Tx,
    client_id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE smart_apps SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.millis())
    .bind(client_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE smart_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.millis())
    .bind(client_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// An EHR launch: who opened which app on which chart.
#[derive(Debug, Clone)]
pub struct LaunchRecord {
    pub client_id: String,
    pub user_id: UserId,
    pub patient_id: PatientId,
    pub encounter_id: Option<EncounterId>,
    pub expires_at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn insert_smart_launch(
    tx: &mut Tx,
    id_hash: &str,
    launch: &LaunchRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO smart_launches (id_hash, client_id, user_id, patient_id, encounter_id,
             created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id_hash)
    .bind(&launch.client_id)
    .bind(launch.user_id.as_str())
    .bind(launch.patient_id.as_str())
    .bind(launch.encounter_id.as_ref().map(EncounterId::as_str))
    .bind(now.millis())
    .bind(launch.expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes a launch once: an unused, unexpired launch is marked used and
/// returned; anything else is `None`.
#[tracing::instrument(skip_all)]
pub async fn take_smart_launch(
    tx: &mut Tx,
    id_hash: &str,
    now: Timestamp,
) -> Result<Option<LaunchRecord>, StoreError> {
    let row: Option<(String, String, String, Option<String>, i64)> = sqlx::query_as(
        "UPDATE smart_launches SET used_at = $1
         WHERE id_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING client_id, user_id, patient_id, encounter_id, expires_at",
    )
    .bind(now.millis())
    .bind(id_hash)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(
        |(client_id, user_id, patient_id, encounter_id, expires_at)| LaunchRecord {
            client_id,
            user_id: UserId::from_trusted(user_id),
            patient_id: PatientId::from_trusted(patient_id),
            encounter_id: encounter_id.map(EncounterId::from_trusted),
            expires_at: Timestamp(expires_at),
        },
    ))
}

/// Whose permissions a grant lends the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSubject {
    User(UserId),
    /// A visit's patient, through the visit's link.
    Patient {
        visit_id: VisitId,
        patient_id: PatientId,
        encounter_id: EncounterId,
    },
    /// A backend service acting on its own.
    System,
}

/// A grant: an app, a subject, the scopes granted and the context.
#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    pub subject: GrantSubject,
    pub patient: Option<PatientId>,
    pub encounter: Option<EncounterId>,
    pub scopes: String,
    pub created_at: Timestamp,
}

#[tracing::instrument(skip_all)]
pub async fn insert_smart_grant(tx: &mut Tx, grant: &GrantRecord) -> Result<(), StoreError> {
    let (kind, user, visit) = match &grant.subject {
        GrantSubject::User(user) => ("user", Some(user.as_str()), None),
        GrantSubject::Patient { visit_id, .. } => ("patient", None, Some(visit_id.as_str())),
        GrantSubject::System => ("system", None, None),
    };
    sqlx::query(
        "INSERT INTO smart_grants (id, client_id, subject_kind, user_id, visit_id, patient_id,
             encounter_id, scopes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&grant.id)
    .bind(&grant.client_id)
    .bind(kind)
    .bind(user)
    .bind(visit)
    .bind(grant.patient.as_ref().map(PatientId::as_str))
    .bind(grant.encounter.as_ref().map(EncounterId::as_str))
    .bind(&grant.scopes)
    .bind(grant.created_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type GrantRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

const GRANT_COLUMNS: &str = "g.id, g.client_id, g.subject_kind, g.user_id, g.visit_id, \
                             g.patient_id, g.encounter_id, g.scopes, g.created_at";

fn grant_from_row(row: GrantRow) -> Result<GrantRecord, StoreError> {
    let (id, client_id, kind, user, visit, patient, encounter, scopes, created_at) = row;
    let corrupt = || StoreError::Corrupt("smart_grants.subject");
    let patient = patient.map(PatientId::from_trusted);
    let encounter = encounter.map(EncounterId::from_trusted);
    let subject = match kind.as_str() {
        "user" => GrantSubject::User(UserId::from_trusted(user.ok_or_else(corrupt)?)),
        "patient" => GrantSubject::Patient {
            visit_id: VisitId::from_trusted(visit.ok_or_else(corrupt)?),
            patient_id: patient.clone().ok_or_else(corrupt)?,
            encounter_id: encounter.clone().ok_or_else(corrupt)?,
        },
        "system" => GrantSubject::System,
        _ => return Err(corrupt()),
    };
    Ok(GrantRecord {
        id,
        client_id,
        subject,
        patient,
        encounter,
        scopes,
        created_at: Timestamp(created_at),
    })
}

/// A live grant of a live app.
#[tracing::instrument(skip_all)]
pub async fn get_smart_grant(tx: &mut Tx, id: &str) -> Result<Option<GrantRecord>, StoreError> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM smart_grants g
         JOIN smart_apps a ON a.client_id = g.client_id
         WHERE g.id = $1 AND g.revoked_at IS NULL AND a.revoked_at IS NULL"
    );
    let row: Option<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(grant_from_row).transpose()
}

/// Revokes a grant and so every token issued under it.
#[tracing::instrument(skip_all)]
pub async fn revoke_smart_grant(tx: &mut Tx, id: &str, now: Timestamp) -> Result<(), StoreError> {
    sqlx::query("UPDATE smart_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now.millis())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An authorization code waiting for its exchange.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[tracing::instrument(skip_all)]
pub async fn insert_smart_code(
    tx: &mut Tx,
    code_hash: &str,
    code: &CodeRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO smart_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(code_hash)
    .bind(&code.grant_id)
    .bind(&code.redirect_uri)
    .bind(&code.code_challenge)
    .bind(code.expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The code as it was before this call, which marks it used.
#[tracing::instrument(skip_all)]
pub async fn take_smart_code(
    tx: &mut Tx,
    code_hash: &str,
    now: Timestamp,
) -> Result<Option<CodeRecord>, StoreError> {
    let row: Option<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT grant_id, redirect_uri, code_challenge, expires_at, used_at
         FROM smart_codes WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query("UPDATE smart_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL")
        .bind(now.millis())
        .bind(code_hash)
        .execute(&mut **tx)
        .await?;
    Ok(row.map(
        |(grant_id, redirect_uri, code_challenge, expires_at, used_at)| CodeRecord {
            grant_id,
            redirect_uri,
            code_challenge,
            expires_at: Timestamp(expires_at),
            used_at: used_at.map(Timestamp),
        },
    ))
}

/// Which kind of token a hash stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn insert_smart_token(
    tx: &mut Tx,
    token_hash: &str,
    grant_id: &str,
    kind: TokenKind,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO smart_tokens (token_hash, grant_id, kind, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(kind.as_str())
    .bind(now.millis())
    .bind(expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A token as stored: its grant, and whether it is still good.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub grant_id: String,
    pub kind: TokenKind,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[tracing::instrument(skip_all)]
pub async fn find_smart_token(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT grant_id, kind, expires_at, revoked_at FROM smart_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(grant_id, kind, expires_at, revoked_at)| {
        Ok(TokenRecord {
            grant_id,
            kind: match kind.as_str() {
                "access" => TokenKind::Access,
                "refresh" => TokenKind::Refresh,
                _ => return Err(StoreError::Corrupt("smart_tokens.kind")),
            },
            expires_at: Timestamp(expires_at),
            revoked_at: revoked_at.map(Timestamp),
        })
    })
    .transpose()
}

/// Revokes one token; false when it was already revoked (or unknown).
#[tracing::instrument(skip_all)]
pub async fn revoke_smart_token(
    tx: &mut Tx,
    token_hash: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE smart_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(now.millis())
    .bind(token_hash)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a client assertion's `jti`; false when it was already seen.
#[tracing::instrument(skip_all)]
pub async fn remember_smart_assertion(
    tx: &mut Tx,
    client_id: &str,
    jti: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // Ids past their token's lifetime can no longer be replayed: forget them.
    sqlx::query("DELETE FROM smart_assertions WHERE expires_at < $1")
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query(
        "INSERT INTO smart_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (client_id, jti) DO NOTHING",
    )
    .bind(client_id)
    .bind(jti)
    .bind(expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The signing key every node uses: the oldest stored, after `fresh` has
/// been offered (the first node to store one wins).
#[tracing::instrument(skip_all)]
pub async fn smart_signing_key(
    tx: &mut Tx,
    fresh: Option<(&str, &str)>,
    now: Timestamp,
) -> Result<Option<(String, String)>, StoreError> {
    if let Some((kid, der)) = fresh {
        sqlx::query(
            "INSERT INTO smart_keys (kid, private_der, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (kid) DO NOTHING",
        )
        .bind(kid)
        .bind(der)
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
    }
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT kid, private_der FROM smart_keys ORDER BY created_at, kid LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row)
}
