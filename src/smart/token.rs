//! The token endpoint (SAL `app-launch.html` steps 5 and 7, and
//! `backend-services.html`): the authorization code exchanged with its
//! PKCE verifier, refresh tokens rotated at each use, `client_credentials`
//! for backend services; and revocation (RFC 7009). Every token issued or
//! refused leaves an audit event.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::apps::{self, ClientAuth};
use super::caller::{ACCESS_PREFIX, REFRESH_PREFIX, lender};
use super::keys::{Keys, SigningKey};
use super::{Endpoints, OAuthError, hash, is_pkce_value, opaque, s256};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::Principal;
use crate::model::smart::{Level, Scope, Scopes};
use crate::model::timestamp::Timestamp;
use crate::store::{self, AppRecord, GrantRecord, GrantSubject, Store, TokenKind, Tx};

/// Access tokens of a user's grant live an hour at most (SAL: SHOULD ≤ 1 h).
const ACCESS_LIFETIME: Duration = Duration::from_secs(3600);
/// Backend services' tokens: SHOULD be ≤ 300 s.
const SYSTEM_LIFETIME: Duration = Duration::from_secs(300);
const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The token request's form (`application/x-www-form-urlencoded`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl TokenForm {
    fn client(&self, basic: Option<(String, String)>) -> ClientAuth {
        ClientAuth {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            basic,
            assertion_type: self.client_assertion_type.clone(),
            assertion: self.client_assertion.clone(),
        }
    }
}

/// The token response (SAL `app-launch.html` table).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    #[serde(rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_patient_banner: Option<bool>,
}

/// Where a request comes from, for the audit trail.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: Option<String>,
    pub now: Timestamp,
}

fn app_actor(client_id: Option<&str>, origin: &Origin) -> Actor {
    Actor {
        kind: "app",
        id: client_id.map(str::to_owned),
        role: Some("app".to_owned()),
        ip: origin.ip.clone(),
        at: origin.now,
    }
}

/// Answers a token request; a refusal is audited in its own transaction.
pub async fn exchange(
    store: &Store,
    keys: &Keys,
    endpoints: &Endpoints,
    form: &TokenForm,
    basic: Option<(String, String)>,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let client = form.client(basic);
    let result = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            authorization_code(store, keys, endpoints, form, &client, origin).await
        }
        Some("refresh_token") => refresh(store, keys, endpoints, form, &client, origin).await,
        Some("client_credentials") => {
            client_credentials(store, endpoints, form, &client, origin).await
        }
        Some(other) => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other:?} is not supported"
        ))),
        None => Err(OAuthError::InvalidRequest("grant_type is required".into())),
    };
    if let Err(error) = &result
        && !matches!(error, OAuthError::Store(_) | OAuthError::Internal(_))
    {
        let named = client
            .client_id
            .as_deref()
            .or(client.basic.as_ref().map(|(id, _)| id.as_str()));
        let actor = app_actor(named, origin);
        let mut tx = store.begin().await?;
        store::append_audit(
            &mut tx,
            &AuditEntry::new(&actor, "smart.token", "SmartApp").outcome(Outcome::Denied),
        )
        .await?;
        store::commit(tx).await?;
    }
    result
}

/// Revokes a grant when a used code or a rotated refresh token comes back
/// (someone else may hold it), then refuses.
async fn refuse_replay(
    mut tx: Tx,
    grant_id: &str,
    now: Timestamp,
    why: &str,
) -> Result<TokenResponse, OAuthError> {
    store::revoke_smart_grant(&mut tx, grant_id, now).await?;
    store::commit(tx).await?;
    Err(OAuthError::InvalidGrant(why.to_owned()))
}

async fn authorization_code(
    store: &Store,
    keys: &Keys,
    endpoints: &Endpoints,
    form: &TokenForm,
    client: &ClientAuth,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let now = origin.now;
    // Loaded before the transaction: a first load writes the key in its own.
    let key = keys.get(store, now).await.map_err(OAuthError::Internal)?;
    let mut tx = store.begin().await?;
    let app = apps::authenticate_client(&mut tx, client, &endpoints.token, now).await?;
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidRequest("code is required".into()))?;
    let Some(record) = store::take_smart_code(&mut tx, &hash(code), now).await? else {
        return Err(OAuthError::InvalidGrant("the code is not known".into()));
    };
    // The code is spent by this attempt, whatever follows (a wrong verifier too).
    store::commit(tx).await?;
    let mut tx = store.begin().await?;
    if record.used_at.is_some() {
        return refuse_replay(tx, &record.grant_id, now, "the code was already used").await;
    }
    if record.expires_at <= now {
        return Err(OAuthError::InvalidGrant("the code has expired".into()));
    }
    let grant = store::get_smart_grant(&mut tx, &record.grant_id)
        .await?
        .filter(|g| g.client_id == app.client_id)
        .ok_or_else(|| OAuthError::InvalidGrant("the code was not issued to this client".into()))?;
    if form.redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri must be the one of the authorization request".into(),
        ));
    }
    let verified = form
        .code_verifier
        .as_deref()
        .is_some_and(|v| is_pkce_value(v) && s256(v) == record.code_challenge);
    if !verified {
        return Err(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        ));
    }
    let response = issue(&mut tx, key, endpoints, &app, &grant, origin).await?;
    store::commit(tx).await?;
    Ok(response)
}

async fn refresh(
    store: &Store,
    keys: &Keys,
    endpoints: &Endpoints,
    form: &TokenForm,
    client: &ClientAuth,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let now = origin.now;
    let key = keys.get(store, now).await.map_err(OAuthError::Internal)?;
    let mut tx = store.begin().await?;
    let app = apps::authenticate_client(&mut tx, client, &endpoints.token, now).await?;
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is required".into()))?;
    let token = store::find_smart_token(&mut tx, &hash(presented))
        .await?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(|| OAuthError::InvalidGrant("the refresh token is not known".into()))?;
    let grant = store::get_smart_grant(&mut tx, &token.grant_id)
        .await?
        .filter(|g| g.client_id == app.client_id)
        .ok_or_else(|| {
            OAuthError::InvalidGrant("the refresh token is revoked or not this client's".into())
        })?;
    if token.revoked_at.is_some() {
        return refuse_replay(
            tx,
            &grant.id,
            now,
            "the refresh token was already used; its grant is now revoked",
        )
        .await;
    }
    if token.expires_at <= now {
        return Err(OAuthError::InvalidGrant(
            "the refresh token has expired".into(),
        ));
    }
    if let Some(asked) = &form.scope {
        let granted = Scopes::parse_known(&grant.scopes);
        let asked = Scopes::parse_all(asked)
            .map_err(|s| OAuthError::InvalidScope(format!("{s:?} is not a scope")))?;
        if asked.narrowed_to(&granted) != asked {
            return Err(OAuthError::InvalidScope(
                "a refresh cannot widen the scopes granted".into(),
            ));
        }
    }
    store::revoke_smart_token(&mut tx, &hash(presented), now).await?;
    let response = issue(&mut tx, key, endpoints, &app, &grant, origin).await?;
    store::commit(tx).await?;
    Ok(response)
}

async fn client_credentials(
    store: &Store,
    endpoints: &Endpoints,
    form: &TokenForm,
    client: &ClientAuth,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let now = origin.now;
    let mut tx = store.begin().await?;
    if client.assertion.is_none() {
        return Err(OAuthError::InvalidClient(
            "backend services authenticate with a client_assertion (private_key_jwt)".into(),
        ));
    }
    let app = apps::authenticate_client(&mut tx, client, &endpoints.token, now).await?;
    let allowed = Scopes::parse_known(&app.scopes);
    let scopes = Scopes::parse_known(form.scope.as_deref().unwrap_or_default())
        .narrowed_to(&allowed)
        .filtered(|s| s.is_level(Level::System));
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope(
            "ask for system/ scopes this app is registered for".into(),
        ));
    }
    let grant = GrantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: app.client_id.clone(),
        subject: GrantSubject::System,
        patient: None,
        encounter: None,
        scopes: scopes.to_string(),
        created_at: now,
    };
    store::insert_smart_grant(&mut tx, &grant).await?;
    let access = opaque(ACCESS_PREFIX);
    store::insert_smart_token(
        &mut tx,
        &hash(&access),
        &grant.id,
        TokenKind::Access,
        now,
        now + SYSTEM_LIFETIME,
    )
    .await?;
    let actor = app_actor(Some(&app.client_id), origin);
    store::append_audit(
        &mut tx,
        &AuditEntry::new(&actor, "smart.token", "SmartApp").resource(&app.client_id),
    )
    .await?;
    store::commit(tx).await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: SYSTEM_LIFETIME.as_secs(),
        scope: grant.scopes,
        refresh_token: None,
        id_token: None,
        patient: None,
        encounter: None,
        fhir_user: None,
        need_patient_banner: None,
    })
}

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    #[serde(rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    fhir_user: Option<String>,
}

/// Issues an access token (and a refresh token, an `id_token`, as the
/// grant's scopes ask) under `grant`, audited.
async fn issue(
    tx: &mut Tx,
    key: &SigningKey,
    endpoints: &Endpoints,
    app: &AppRecord,
    grant: &GrantRecord,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let now = origin.now;
    let scopes = Scopes::parse_known(&grant.scopes);
    let lender = lender(tx, grant).await?.ok_or_else(|| {
        OAuthError::InvalidGrant("the user of this grant is no longer active".into())
    })?;
    let access = opaque(ACCESS_PREFIX);
    store::insert_smart_token(
        tx,
        &hash(&access),
        &grant.id,
        TokenKind::Access,
        now,
        now + ACCESS_LIFETIME,
    )
    .await?;
    let refresh = if scopes.contains(&Scope::OfflineAccess) || scopes.contains(&Scope::OnlineAccess)
    {
        let refresh = opaque(REFRESH_PREFIX);
        store::insert_smart_token(
            tx,
            &hash(&refresh),
            &grant.id,
            TokenKind::Refresh,
            now,
            now + REFRESH_LIFETIME,
        )
        .await?;
        Some(refresh)
    } else {
        None
    };
    let fhir_user = lender
        .as_ref()
        .and_then(super::authorize::fhir_user)
        .map(|reference| format!("{}/{reference}", endpoints.fhir_base));
    let id_token = if scopes.contains(&Scope::OpenId) {
        let sub = lender
            .as_ref()
            .map_or(app.client_id.as_str(), Principal::actor_id);
        let claims = IdClaims {
            iss: &endpoints.fhir_base,
            sub,
            aud: &app.client_id,
            iat: now.millis() / 1000,
            exp: (now + ACCESS_LIFETIME).millis() / 1000,
            fhir_user: fhir_user
                .clone()
                .filter(|_| scopes.contains(&Scope::FhirUser)),
        };
        Some(key.sign(&claims).map_err(OAuthError::Internal)?)
    } else {
        None
    };
    let actor = app_actor(Some(&app.client_id), origin);
    let mut entry = AuditEntry::new(&actor, "smart.token", "SmartApp").resource(&app.client_id);
    if let Some(patient) = &grant.patient {
        entry = entry.patient(patient);
    }
    store::append_audit(tx, &entry).await?;
    let ehr_launch = scopes.contains(&Scope::Launch);
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ACCESS_LIFETIME.as_secs(),
        scope: grant.scopes.clone(),
        refresh_token: refresh,
        id_token,
        patient: grant.patient.as_ref().map(ToString::to_string),
        encounter: grant.encounter.as_ref().map(ToString::to_string),
        fhir_user: fhir_user.filter(|_| scopes.contains(&Scope::FhirUser)),
        // The console shows its own banner beside an app it launched.
        need_patient_banner: grant.patient.as_ref().map(|_| !ehr_launch),
    })
}

/// Revokes a token (RFC 7009): an access token alone, a refresh token
/// with its whole grant. Unknown tokens are answered the same way.
pub async fn revoke(
    store: &Store,
    endpoints: &Endpoints,
    token: &str,
    client: &ClientAuth,
    origin: &Origin,
) -> Result<(), OAuthError> {
    let now = origin.now;
    let mut tx = store.begin().await?;
    let app = apps::authenticate_client(&mut tx, client, &endpoints.token, now).await?;
    let actor = app_actor(Some(&app.client_id), origin);
    let found = store::find_smart_token(&mut tx, &hash(token)).await?;
    let mut entry =
        AuditEntry::new(&actor, "smart.token.revoke", "SmartApp").resource(&app.client_id);
    match found {
        Some(found) => {
            let grant = store::get_smart_grant(&mut tx, &found.grant_id).await?;
            match grant.filter(|g| g.client_id == app.client_id) {
                Some(grant) => {
                    if found.kind == TokenKind::Refresh {
                        store::revoke_smart_grant(&mut tx, &grant.id, now).await?;
                    }
                    store::revoke_smart_token(&mut tx, &hash(token), now).await?;
                    if let Some(patient) = &grant.patient {
                        entry = entry.patient(patient);
                    }
                }
                None => entry = entry.outcome(Outcome::NotFound),
            }
        }
        None => entry = entry.outcome(Outcome::NotFound),
    }
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(())
}
