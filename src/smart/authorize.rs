//! The authorization request (SAL `app-launch.html` steps 2–4): checking
//! it, opening EHR launches from the console, and turning a user's
//! consent (or an EHR launch, which the user started themselves) into a
//! grant and a single-use authorization code.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Endpoints, OAuthError, hash, is_pkce_value, opaque};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::{Principal, Role};
use crate::model::ids::{EncounterId, PatientId};
use crate::model::smart::{Level, Scope, Scopes};
use crate::model::timestamp::Timestamp;
use crate::store::{
    self, AppRecord, CodeRecord, GrantRecord, GrantSubject, LaunchRecord, Store, StoreError, Tx,
};

/// How long an EHR launch id may wait for its authorization request.
const LAUNCH_LIFETIME: Duration = Duration::from_secs(300);
/// How long an authorization code may wait for its exchange.
const CODE_LIFETIME: Duration = Duration::from_secs(120);

/// The query (or form) of an authorization request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    /// The opaque launch id of an EHR launch.
    pub launch: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    /// The FHIR base URL the token is for.
    pub aud: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request fails, and where the answer goes.
#[derive(Debug)]
pub enum AuthorizeFailure {
    /// The client or its redirect URI is unknown: the user is told, and
    /// nothing is sent to a URI nobody registered.
    Shown(String),
    /// Anything else goes back to the app's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl From<StoreError> for AuthorizeFailure {
    fn from(error: StoreError) -> Self {
        Self::Shown(format!("the request could not be handled now ({error})"))
    }
}

impl AuthorizeFailure {
    /// Where the browser goes with this failure, if anywhere.
    pub fn redirect_url(&self) -> Option<String> {
        match self {
            Self::Shown(_) => None,
            Self::Redirect {
                redirect_uri,
                state,
                error,
            } => {
                let mut pairs = vec![("error", error.code()), ("error_description", "")];
                let description = error.to_string();
                pairs[1].1 = &description;
                if let Some(state) = state {
                    pairs.push(("state", state));
                }
                Some(with_query(redirect_uri, &pairs))
            }
        }
    }
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match reqwest::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// An authorization request that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub app: AppRecord,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// What was asked, narrowed to what the app may hold.
    pub scopes: Scopes,
    pub challenge: String,
    pub launch: Option<String>,
}

impl Checked {
    fn fail(&self, error: OAuthError) -> AuthorizeFailure {
        AuthorizeFailure::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
        }
    }

    /// Whether the grant needs a patient in context: any `patient/` scope,
    /// or `launch/patient`.
    pub fn needs_patient(&self) -> bool {
        self.scopes.has_level(Level::Patient) || self.scopes.contains(&Scope::LaunchPatient)
    }
}

/// Checks a request on its own read transaction (see [`check`]).
pub async fn check_request(
    store: &Store,
    endpoints: &Endpoints,
    params: &AuthorizeParams,
) -> Result<Checked, AuthorizeFailure> {
    let mut tx = store.begin_read().await?;
    let checked = check(&mut tx, endpoints, params).await;
    crate::store::commit(tx).await?;
    checked
}

/// Checks a request in the order the answer's destination needs: client
/// and redirect URI first (else nothing may be redirected), then the rest.
pub async fn check(
    tx: &mut Tx,
    endpoints: &Endpoints,
    params: &AuthorizeParams,
) -> Result<Checked, AuthorizeFailure> {
    let client_id = params
        .client_id
        .as_deref()
        .ok_or_else(|| AuthorizeFailure::Shown("the request names no client_id".into()))?;
    let app = super::apps::live_app(tx, client_id)
        .await?
        .ok_or_else(|| AuthorizeFailure::Shown("this app is not registered here".into()))?;
    let redirect_uri = params
        .redirect_uri
        .as_deref()
        .filter(|uri| app.redirect_uris.iter().any(|r| r == uri))
        .ok_or_else(|| {
            AuthorizeFailure::Shown(
                "redirect_uri is missing or is not one the app registered (exact match)".into(),
            )
        })?
        .to_owned();
    let state = params.state.clone();
    let fail = |error: OAuthError| AuthorizeFailure::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(fail(OAuthError::UnsupportedResponseType(
            "response_type must be code".into(),
        )));
    }
    if state.as_deref().is_none_or(str::is_empty) {
        return Err(fail(OAuthError::InvalidRequest("state is required".into())));
    }
    match params.aud.as_deref() {
        Some(aud) if endpoints.is_own_audience(aud) => {}
        _ => {
            return Err(fail(OAuthError::InvalidRequest(format!(
                "aud must be this server's FHIR base, {}",
                endpoints.fhir_base
            ))));
        }
    }
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(OAuthError::InvalidRequest(
            "PKCE is required with code_challenge_method=S256 (plain is not supported)".into(),
        )));
    }
    let challenge = params
        .code_challenge
        .clone()
        .filter(|c| c.len() == 43 && is_pkce_value(c))
        .ok_or_else(|| {
            fail(OAuthError::InvalidRequest(
                "code_challenge must be the base64url SHA-256 of the code_verifier".into(),
            ))
        })?;
    let allowed = Scopes::parse_known(&app.scopes);
    let asked = Scopes::parse_known(params.scope.as_deref().unwrap_or_default());
    let launch = params.launch.clone().filter(|l| !l.is_empty());
    let ehr = launch.is_some();
    // No system scopes through a user's grant; launch context only in its flow.
    let scopes = asked.narrowed_to(&allowed).filtered(|s| match s {
        Scope::Resource { level, .. } => *level != Level::System,
        Scope::Launch => ehr,
        Scope::LaunchPatient => !ehr,
        Scope::LaunchEncounter => false,
        _ => true,
    });
    if scopes.is_empty() {
        return Err(fail(OAuthError::InvalidScope(
            "none of the scopes asked for is one this app may be granted".into(),
        )));
    }
    Ok(Checked {
        app,
        redirect_uri,
        state,
        scopes,
        challenge,
        launch,
    })
}

/// What the consent page shows of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Description {
    pub app_name: String,
    pub client_id: String,
    /// The scopes that would be granted.
    pub scopes: Vec<String>,
    /// Whether a patient must be chosen (staff) for the grant.
    pub needs_patient: bool,
}

pub fn describe(checked: &Checked) -> Description {
    Description {
        app_name: checked.app.name.clone(),
        client_id: checked.app.client_id.clone(),
        scopes: checked.scopes.iter().map(ToString::to_string).collect(),
        needs_patient: checked.needs_patient(),
    }
}

/// The console opens `app` on a chart: a launch id bound to the user, the
/// patient and the encounter, and the URL that starts the app with it.
pub async fn open_launch(
    store: &Store,
    endpoints: &Endpoints,
    actor: &Actor,
    user: &crate::auth::User,
    client_id: &str,
    patient: &PatientId,
    encounter: Option<&EncounterId>,
) -> Result<Option<String>, StoreError> {
    let mut tx = store.begin().await?;
    let app = super::apps::live_app(&mut tx, client_id).await?;
    let Some(launch_url) = app.and_then(|a| a.launch_url) else {
        return Ok(None);
    };
    if store::get_patient(&mut tx, patient).await?.is_none() {
        return Ok(None);
    }
    let launch = opaque("");
    let record = LaunchRecord {
        client_id: client_id.to_owned(),
        user_id: user.id.clone(),
        patient_id: patient.clone(),
        encounter_id: encounter.cloned(),
        expires_at: actor.at + LAUNCH_LIFETIME,
    };
    store::insert_smart_launch(&mut tx, &hash(&launch), &record, actor.at).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "smart.launch", "SmartApp")
            .resource(client_id)
            .patient(patient),
    )
    .await?;
    store::commit(tx).await?;
    Ok(Some(with_query(
        &launch_url,
        &[("iss", &endpoints.fhir_base), ("launch", &launch)],
    )))
}

/// An EHR launch's authorization: the launch id stands for the user who
/// opened the app from the chart, so the grant is made at once.
pub async fn authorize_launch(
    store: &Store,
    endpoints: &Endpoints,
    params: &AuthorizeParams,
    now: Timestamp,
) -> Result<String, AuthorizeFailure> {
    let mut tx = store.begin().await?;
    let checked = check(&mut tx, endpoints, params).await?;
    let launch = checked.launch.as_deref().unwrap_or_default();
    let taken = store::take_smart_launch(&mut tx, &hash(launch), now)
        .await?
        .filter(|l| l.client_id == checked.app.client_id);
    let Some(launch) = taken else {
        return Err(checked.fail(OAuthError::InvalidRequest(
            "launch is unknown, used, expired or for another app".into(),
        )));
    };
    let user = store::get_active_user(&mut tx, &launch.user_id).await?;
    let Some(user) = user else {
        return Err(checked.fail(OAuthError::AccessDenied(
            "the user who launched the app is no longer active".into(),
        )));
    };
    let actor = Actor::from_principal(&Principal::Staff(user.clone()), None, now);
    let grant = GrantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: checked.app.client_id.clone(),
        subject: GrantSubject::User(user.id.clone()),
        patient: Some(launch.patient_id),
        encounter: launch.encounter_id,
        scopes: checked.scopes.to_string(),
        created_at: now,
    };
    let url = issue_code(&mut tx, &checked, &grant, &actor).await?;
    store::commit(tx).await?;
    Ok(url)
}

/// The user's answer on the consent page of a standalone launch: a
/// signed-in staff member (choosing the patient when the scopes need one),
/// or a patient through their visit link (their own record).
pub async fn decide(
    store: &Store,
    endpoints: &Endpoints,
    params: &AuthorizeParams,
    principal: &Principal,
    actor: &Actor,
    chosen_patient: Option<&PatientId>,
    approve: bool,
) -> Result<String, AuthorizeFailure> {
    let mut tx = store.begin().await?;
    let checked = check(&mut tx, endpoints, params).await?;
    if checked.launch.is_some() {
        return Err(checked.fail(OAuthError::InvalidRequest(
            "an EHR launch is authorized by its launch id".into(),
        )));
    }
    if !approve {
        store::append_audit(
            &mut tx,
            &AuditEntry::new(actor, "smart.grant", "SmartApp")
                .resource(&checked.app.client_id)
                .outcome(Outcome::Denied),
        )
        .await?;
        store::commit(tx).await?;
        return Err(checked.fail(OAuthError::AccessDenied("the user declined".into())));
    }
    let (subject, patient, encounter) = match principal {
        Principal::Staff(user) => {
            let patient = match chosen_patient {
                Some(p) if store::get_patient(&mut tx, p).await?.is_some() => Some(p.clone()),
                Some(_) => return Err(AuthorizeFailure::Shown("no such patient".into())),
                None if checked.needs_patient() => {
                    return Err(AuthorizeFailure::Shown(
                        "choose the patient this app will see".into(),
                    ));
                }
                None => None,
            };
            (GrantSubject::User(user.id.clone()), patient, None)
        }
        Principal::Patient {
            visit_id,
            patient_id,
            encounter_id,
        } => (
            GrantSubject::Patient {
                visit_id: visit_id.clone(),
                patient_id: patient_id.clone(),
                encounter_id: encounter_id.clone(),
            },
            Some(patient_id.clone()),
            Some(encounter_id.clone()),
        ),
        Principal::Guest { .. } | Principal::App(_) => {
            return Err(AuthorizeFailure::Shown(
                "sign in as staff, or with your visit link, to authorize an app".into(),
            ));
        }
    };
    let grant = GrantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: checked.app.client_id.clone(),
        subject,
        patient,
        encounter,
        scopes: checked.scopes.to_string(),
        created_at: actor.at,
    };
    let url = issue_code(&mut tx, &checked, &grant, actor).await?;
    store::commit(tx).await?;
    Ok(url)
}

async fn issue_code(
    tx: &mut Tx,
    checked: &Checked,
    grant: &GrantRecord,
    actor: &Actor,
) -> Result<String, AuthorizeFailure> {
    store::insert_smart_grant(tx, grant).await?;
    let code = opaque("");
    let record = CodeRecord {
        grant_id: grant.id.clone(),
        redirect_uri: checked.redirect_uri.clone(),
        code_challenge: checked.challenge.clone(),
        expires_at: actor.at + CODE_LIFETIME,
        used_at: None,
    };
    store::insert_smart_code(tx, &hash(&code), &record).await?;
    let mut entry =
        AuditEntry::new(actor, "smart.grant", "SmartApp").resource(&checked.app.client_id);
    if let Some(patient) = &grant.patient {
        entry = entry.patient(patient);
    }
    store::append_audit(tx, &entry).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &checked.state {
        pairs.push(("state", state));
    }
    Ok(with_query(&checked.redirect_uri, &pairs))
}

/// The FHIR reference of the user behind a grant, for `fhirUser`.
pub fn fhir_user(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Staff(user) if user.role == Role::Clinician => {
            Some(format!("Practitioner/{}", user.id))
        }
        Principal::Patient { patient_id, .. } => Some(format!("Patient/{patient_id}")),
        _ => None,
    }
}
