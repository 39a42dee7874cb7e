//! Registered SMART apps: what an admin registers (name, launch URL,
//! exact redirect URIs, client type, allowed scopes, a JWKS for
//! `private_key_jwt`), and how an app proves who it is at the token
//! endpoint.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{OAuthError, hash, opaque};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::model::smart::Scopes;
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;
use crate::store::{self, AppRecord, Store, StoreError, Tx};

/// How an app authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClientType {
    /// No client authentication (a browser or phone app); PKCE protects the code.
    Public,
    /// A client secret, shown once at registration.
    ConfidentialSymmetric,
    /// `private_key_jwt` with a registered JWKS (RS384 or ES384); also
    /// backend services (`client_credentials`).
    ConfidentialAsymmetric,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::ConfidentialSymmetric => "confidential-symmetric",
            Self::ConfidentialAsymmetric => "confidential-asymmetric",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Public,
            Self::ConfidentialSymmetric,
            Self::ConfidentialAsymmetric,
        ]
        .into_iter()
        .find(|t| t.as_str() == value)
    }
}

/// What an admin registers.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    pub name: String,
    /// Where the console opens the app for an EHR launch.
    #[serde(default)]
    pub launch_url: Option<String>,
    /// Redirect URIs, each matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_type: ClientType,
    /// The scopes the app may be granted, space-separated
    /// (`launch openid fhirUser patient/*.rs`).
    pub scopes: String,
    /// The app's public keys (`confidential-asymmetric`), a JSON Web Key Set.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
}

/// A registered app as admins see it; never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppView {
    pub client_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub client_type: ClientType,
    pub scopes: String,
    pub created_at: Timestamp,
    pub active: bool,
}

impl AppView {
    fn from_record(record: &AppRecord) -> Result<Self, StoreError> {
        Ok(Self {
            client_id: record.client_id.clone(),
            name: record.name.clone(),
            launch_url: record.launch_url.clone(),
            redirect_uris: record.redirect_uris.clone(),
            client_type: ClientType::parse(&record.client_type)
                .ok_or(StoreError::Corrupt("smart_apps.client_type"))?,
            scopes: record.scopes.clone(),
            created_at: record.created_at,
            active: record.revoked_at.is_none(),
        })
    }
}

/// A new registration: the app, and its client secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    pub app: AppView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// An absolute `http(s)` URL without a fragment.
fn check_url(field: &str, value: &str) -> Result<(), FieldError> {
    let url = reqwest::Url::parse(value)
        .map_err(|_| FieldError::new(field, "must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(FieldError::new(field, "must be an http or https URL"));
    }
    if url.fragment().is_some() {
        return Err(FieldError::new(field, "must not have a #fragment"));
    }
    Ok(())
}

/// A key set `private_key_jwt` can verify with: every key has a `kid`,
/// and is RSA or EC P-384 (RS384, ES384).
fn check_jwks(value: &serde_json::Value) -> Result<String, FieldError> {
    let set: JwkSet = serde_json::from_value(value.clone())
        .map_err(|_| FieldError::new("jwks", "must be a JSON Web Key Set: {\"keys\": [...]}"))?;
    if set.keys.is_empty() {
        return Err(FieldError::new("jwks", "must hold at least one key"));
    }
    for (i, key) in set.keys.iter().enumerate() {
        if key.common.key_id.as_deref().is_none_or(str::is_empty) {
            return Err(FieldError::new(
                format!("jwks.keys[{i}].kid"),
                "is required",
            ));
        }
        let usable = match &key.algorithm {
            AlgorithmParameters::RSA(_) => true,
            AlgorithmParameters::EllipticCurve(ec) => ec.curve == EllipticCurve::P384,
            _ => false,
        };
        if !usable {
            return Err(FieldError::new(
                format!("jwks.keys[{i}]"),
                "must be an RSA key (RS384) or an EC P-384 key (ES384)",
            ));
        }
    }
    serde_json::to_string(value).map_err(|_| FieldError::new("jwks", "cannot be stored"))
}

/// Checks a registration into the record to keep; the secret, when the
/// app is confidential-symmetric, comes back beside it.
fn check(
    app: &NewApp,
    created_by: &Actor,
    now: Timestamp,
) -> Result<(AppRecord, Option<String>), FieldError> {
    let name = app.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if let Some(url) = &app.launch_url {
        check_url("launch_url", url)?;
    }
    for (i, uri) in app.redirect_uris.iter().enumerate() {
        check_url(&format!("redirect_uris[{i}]"), uri)?;
    }
    let scopes = Scopes::parse_all(&app.scopes).map_err(|unknown| {
        FieldError::new(
            "scopes",
            format!("{unknown:?} is not a scope this server grants"),
        )
    })?;
    if scopes.is_empty() {
        return Err(FieldError::new("scopes", "must name at least one scope"));
    }
    let backend_only = scopes
        .iter()
        .all(|s| s.is_level(crate::model::smart::Level::System));
    if app.redirect_uris.is_empty() && !backend_only {
        return Err(FieldError::new(
            "redirect_uris",
            "needs at least one URI, unless the app only holds system/ scopes",
        ));
    }
    let jwks = match (app.client_type, &app.jwks) {
        (ClientType::ConfidentialAsymmetric, Some(jwks)) => Some(check_jwks(jwks)?),
        (ClientType::ConfidentialAsymmetric, None) => {
            return Err(FieldError::new(
                "jwks",
                "is required for a confidential-asymmetric app",
            ));
        }
        (_, Some(_)) => {
            return Err(FieldError::new(
                "jwks",
                "is only for confidential-asymmetric apps",
            ));
        }
        (_, None) => None,
    };
    if scopes.has_level(crate::model::smart::Level::System)
        && app.client_type != ClientType::ConfidentialAsymmetric
    {
        return Err(FieldError::new(
            "scopes",
            "system/ scopes are for confidential-asymmetric apps (backend services)",
        ));
    }
    let secret = (app.client_type == ClientType::ConfidentialSymmetric).then(|| opaque("bcs_"));
    let record = AppRecord {
        client_id: opaque("app_").chars().take(28).collect(),
        name: name.to_owned(),
        launch_url: app.launch_url.clone(),
        redirect_uris: app.redirect_uris.clone(),
        client_type: app.client_type.as_str().to_owned(),
        secret_hash: secret.as_deref().map(hash),
        jwks,
        scopes: scopes.to_string(),
        created_by: crate::model::ids::UserId::from_trusted(
            created_by.id.clone().unwrap_or_default(),
        ),
        created_at: now,
        revoked_at: None,
    };
    Ok((record, secret))
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers an app (an admin's act, audited).
pub async fn register(
    store: &Store,
    actor: &Actor,
    app: &NewApp,
) -> Result<Registered, RegisterError> {
    let (record, secret) = check(app, actor, actor.at)?;
    let mut tx = store.begin().await?;
    store::insert_smart_app(&mut tx, &record).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "smart.app.register", "SmartApp").resource(&record.client_id),
    )
    .await?;
    store::commit(tx).await?;
    Ok(Registered {
        app: AppView::from_record(&record)?,
        client_secret: secret,
    })
}

pub async fn list(store: &Store) -> Result<Vec<AppView>, StoreError> {
    let mut tx = store.begin_read().await?;
    let apps = store::list_smart_apps(&mut tx).await?;
    store::commit(tx).await?;
    apps.iter().map(AppView::from_record).collect()
}

/// Revokes an app and every token it holds (audited); false when there
/// is no such active app.
pub async fn revoke(store: &Store, actor: &Actor, client_id: &str) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let done = store::revoke_smart_app(&mut tx, client_id, actor.at).await?;
    let entry = AuditEntry::new(actor, "smart.app.revoke", "SmartApp").resource(client_id);
    let entry = if done {
        entry
    } else {
        entry.outcome(Outcome::NotFound)
    };
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await?;
    Ok(done)
}

/// A live app by its `client_id`.
pub(crate) async fn live_app(
    tx: &mut Tx,
    client_id: &str,
) -> Result<Option<AppRecord>, StoreError> {
    Ok(store::get_smart_app(tx, client_id)
        .await?
        .filter(|app| app.revoked_at.is_none()))
}

/// How a token request says who the client is.
#[derive(Debug, Default, Clone)]
pub struct ClientAuth {
    /// `client_id` of the form.
    pub client_id: Option<String>,
    /// `client_secret` of the form (`client_secret_post`).
    pub client_secret: Option<String>,
    /// `Authorization: Basic` (`client_secret_basic`), decoded.
    pub basic: Option<(String, String)>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The app a token request comes from, once it has authenticated as its
/// registration requires: a public app names itself; a confidential one
/// proves it with its secret or a signed assertion.
pub async fn authenticate_client(
    tx: &mut Tx,
    auth: &ClientAuth,
    token_endpoint: &str,
    now: Timestamp,
) -> Result<AppRecord, OAuthError> {
    let unknown = || OAuthError::InvalidClient("the client is not registered or not active".into());
    if let Some(assertion) = &auth.assertion {
        if auth.assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::InvalidClient(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let client_id = super::assertion::issuer(assertion)?;
        if auth.client_id.as_deref().is_some_and(|id| id != client_id) {
            return Err(OAuthError::InvalidClient(
                "client_id does not match the assertion's issuer".into(),
            ));
        }
        let app = live_app(tx, &client_id).await?.ok_or_else(unknown)?;
        if app.client_type != ClientType::ConfidentialAsymmetric.as_str() {
            return Err(OAuthError::InvalidClient(
                "this app is not registered for private_key_jwt".into(),
            ));
        }
        super::assertion::verify(tx, &app, assertion, token_endpoint, now).await?;
        return Ok(app);
    }
    let (client_id, secret) = match (&auth.basic, &auth.client_id) {
        (Some((id, secret)), form) => {
            if form.as_ref().is_some_and(|f| f != id) {
                return Err(OAuthError::InvalidClient(
                    "client_id does not match the Authorization header".into(),
                ));
            }
            (id.clone(), Some(secret.clone()))
        }
        (None, Some(id)) => (id.clone(), auth.client_secret.clone()),
        (None, None) => {
            return Err(OAuthError::InvalidClient(
                "name the client: client_id, client_secret_basic or a client_assertion".into(),
            ));
        }
    };
    let app = live_app(tx, &client_id).await?.ok_or_else(unknown)?;
    match ClientType::parse(&app.client_type) {
        Some(ClientType::Public) => Ok(app),
        Some(ClientType::ConfidentialSymmetric) => {
            let good = secret
                .as_deref()
                .is_some_and(|s| Some(hash(s)) == app.secret_hash);
            if good {
                Ok(app)
            } else {
                Err(OAuthError::InvalidClient(
                    "the client secret is wrong or missing".into(),
                ))
            }
        }
        Some(ClientType::ConfidentialAsymmetric) => Err(OAuthError::InvalidClient(
            "this app authenticates with a client_assertion (private_key_jwt)".into(),
        )),
        None => Err(OAuthError::Store(StoreError::Corrupt(
            "smart_apps.client_type",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(client_type: ClientType, scopes: &str) -> NewApp {
        NewApp {
            name: "Growth charts".into(),
            launch_url: Some("https://app.example.org/launch".into()),
            redirect_uris: vec!["https://app.example.org/cb".into()],
            client_type,
            scopes: scopes.into(),
            jwks: None,
        }
    }

    #[test]
    fn a_registration_keeps_only_known_scopes_and_a_secret_for_symmetric_apps() {
        let actor = Actor::system(Timestamp(0));
        let (record, secret) = check(
            &app(
                ClientType::ConfidentialSymmetric,
                "launch patient/Observation.read",
            ),
            &actor,
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(record.scopes, "launch patient/Observation.rs");
        assert_eq!(record.secret_hash, secret.as_deref().map(hash));
        let bad = check(
            &app(ClientType::Public, "patient/Observation.xyz"),
            &actor,
            Timestamp(0),
        );
        assert_eq!(bad.unwrap_err().field, "scopes");
        let system = check(
            &app(ClientType::Public, "system/*.rs"),
            &actor,
            Timestamp(0),
        );
        assert_eq!(system.unwrap_err().field, "scopes");
        let asymmetric = check(
            &app(ClientType::ConfidentialAsymmetric, "system/*.rs"),
            &actor,
            Timestamp(0),
        );
        assert_eq!(asymmetric.unwrap_err().field, "jwks");
    }
}
