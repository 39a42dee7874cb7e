//! Signing staff in and out, and turning a bearer token into a principal.

use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::credential::{Credential, Grant, LinkSettings, link_live_until};
use super::{LoginThrottle, PasswordPool, Principal, SessionToken, TokenKeys, User};
use crate::model::clock::Clock;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Too many recent failures for this username from this address.
    #[error("too many failed sign-ins; try again in {} seconds", retry_seconds(*.0))]
    Throttled(Duration),
    /// Every password check is taken; nothing was checked.
    #[error(transparent)]
    Busy(#[from] super::HashingBusy),
    #[error("invalid username or password")]
    BadCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whole seconds to wait, rounded up (at least one).
pub fn retry_seconds(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

/// How long a staff sign-in lasts (`BEDSIDE_SESSION_TTL_MINUTES`), and how
/// long a patient's link outlives its visit's close.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub lifetime: Duration,
    pub links: LinkSettings,
}

/// An opened session: its user, its token (shown once) and its end.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: SessionToken,
    pub expires_at: Timestamp,
}

/// What checks a sign-in: the throttle and the hashing pool.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub throttle: &'a LoginThrottle,
    pub hashing: &'a PasswordPool,
}

/// Checks a username and password and opens a session.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    store: &Store,
    gate: Gate<'_>,
    username: &str,
    password: SecretString,
    ip: IpAddr,
    clock: &Clock,
    settings: &SessionSettings,
) -> Result<SignedIn, SignInError> {
    let user = check_password(store, gate, username, password, ip, clock).await?;
    Ok(open_session(store, user, clock, settings).await?)
}

/// Checks a username and password through the throttle, without opening
/// a session (MFA may come first).
#[tracing::instrument(skip_all)]
pub async fn check_password(
    store: &Store,
    gate: Gate<'_>,
    username: &str,
    password: SecretString,
    ip: IpAddr,
    clock: &Clock,
) -> Result<User, SignInError> {
    gate.throttle
        .check(username, ip, clock.now())
        .map_err(SignInError::Throttled)?;
    let found = {
        let mut tx = store.begin().await?;
        let found = store::find_login(&mut tx, username).await?;
        store::commit(tx).await?;
        found
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Verify even for an unknown user, so timing does not tell which exist.
    let verified = gate.hashing.verify(password, hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        gate.throttle.record_failure(username, ip, clock.now());
        return Err(SignInError::BadCredentials);
    };
    gate.throttle.record_success(username, ip);
    Ok(user)
}

/// Opens a session for a user whose sign-in is complete.
#[tracing::instrument(skip_all)]
pub async fn open_session(
    store: &Store,
    user: User,
    clock: &Clock,
    settings: &SessionSettings,
) -> Result<SignedIn, StoreError> {
    let token = SessionToken::generate();
    let now = clock.now();
    let expires_at = now + settings.lifetime;
    let mut tx = store.begin().await?;
    store::insert_session(&mut tx, &token.hash(), &user.id, now, expires_at).await?;
    store::record_sign_in(&mut tx, &user.id, now).await?;
    store::commit(tx).await?;
    Ok(SignedIn {
        user,
        token,
        expires_at,
    })
}

#[tracing::instrument(skip_all)]
pub async fn sign_out(
    store: &Store,
    clock: &Clock,
    token: &SessionToken,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::revoke_session(&mut tx, &token.hash(), clock.now()).await?;
    store::commit(tx).await?;
    Ok(())
}

/// The principal a bearer token stands for, if it is valid now.
pub async fn authenticate(
    store: &Store,
    clock: &Clock,
    keys: &TokenKeys,
    settings: &SessionSettings,
    bearer: &str,
) -> Result<Option<Principal>, StoreError> {
    Ok(grant(store, clock, keys, settings, bearer)
        .await?
        .map(|grant| grant.principal))
}

/// What a bearer token grants now: its principal, the credential behind
/// it and when that ends. A patient token is checked against its visit's
/// link in the store, so a revoked link or an ended visit stops it on
/// every node at once.
#[tracing::instrument(skip_all)]
pub async fn grant(
    store: &Store,
    clock: &Clock,
    keys: &TokenKeys,
    settings: &SessionSettings,
    bearer: &str,
) -> Result<Option<Grant>, StoreError> {
    let now = clock.now();
    if let Some(token) = SessionToken::from_bearer(bearer) {
        let mut conn = store.connection().await?;
        let session = store::find_session(&mut conn, &token.hash(), now).await?;
        return Ok(session.map(|s| Grant {
            principal: Principal::Staff(s.user),
            credential: Credential::session(&token),
            expires_at: s.expires_at,
        }));
    }
    if let Some(claims) = keys.verify_patient(bearer) {
        let Some((visit_id, patient_id)) = claims.visit_id().zip(claims.patient_id()) else {
            return Ok(None);
        };
        let mut conn = store.connection().await?;
        let link = store::visit_link(&mut conn, &visit_id).await?;
        let Some(link) = link.filter(|l| l.patient_id == patient_id) else {
            return Ok(None);
        };
        let token_expires = Timestamp(claims.exp.saturating_mul(1000));
        let until = link_live_until(&link, claims.ver, token_expires, &settings.links)
            .filter(|until| now < *until);
        return Ok(until.map(|expires_at| Grant {
            credential: Credential::visit_link(&visit_id, link.version),
            principal: Principal::Patient {
                visit_id,
                patient_id,
                encounter_id: link.encounter_id,
            },
            expires_at,
        }));
    }
    let Some((visit_id, guest_id)) = keys
        .verify_guest(bearer)
        .and_then(|claims| claims.visit_id().zip(claims.guest_id()))
    else {
        return Ok(None);
    };
    // A revoked or expired invitation ends at once, whatever the token says.
    let mut conn = store.connection().await?;
    let guest = store::get_guest(&mut conn, &guest_id).await?;
    Ok(guest
        .filter(|g| g.visit_id == visit_id && g.is_active(now.millis()))
        .map(|g| Grant {
            credential: Credential::guest(&guest_id),
            expires_at: g.expires_at,
            principal: Principal::Guest {
                visit_id,
                guest_id,
                display_name: g.display_name,
            },
        }))
}

/// Creates a user unless the username is taken; used by the CLI, the
/// first-admin bootstrap and the demo.
#[tracing::instrument(skip_all)]
pub async fn create_user(
    store: &Store,
    username: &str,
    password: SecretString,
    role: super::Role,
    display_name: &str,
    npi: Option<&str>,
    now: Timestamp,
) -> Result<User, CreateUserError> {
    let hash = super::hash_password(password).await?;
    let mut tx = store.begin().await?;
    let user = store::insert_user(
        &mut tx,
        store::NewUser {
            username,
            password_hash: &hash,
            role,
            display_name,
            npi,
            created_at: now,
        },
    )
    .await?;
    store::commit(tx).await?;
    Ok(user)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error(transparent)]
    Password(#[from] super::PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The active staff, of one role or all.
#[tracing::instrument(skip_all)]
pub async fn list_users(store: &Store, role: Option<super::Role>) -> Result<Vec<User>, StoreError> {
    let mut tx = store.begin_read().await?;
    let users = store::list_users(&mut tx, role).await?;
    store::commit(tx).await?;
    Ok(users)
}
