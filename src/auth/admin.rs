//! What an admin does to staff accounts: change a role, deactivate, set a
//! new password. Each change is audited in its own transaction, and
//! deactivation and a new password end the user's sessions.

use secrecy::SecretString;

use super::{CreateUserError, Role, User};
use crate::model::audit::{Actor, AuditEntry};
use crate::model::ids::UserId;
use crate::store::{self, Account, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("user not found")]
    NotFound,
    #[error("{0}")]
    Refused(&'static str),
    #[error("a clinician needs an NPI")]
    NpiRequired,
    #[error(transparent)]
    Password(#[from] super::PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CreateUserError> for AdminError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::Password(e) => Self::Password(e),
            CreateUserError::Store(e) => Self::Store(e),
        }
    }
}

/// Every account, active or not, with its last sign-in and MFA state.
pub async fn accounts(store: &Store) -> Result<Vec<Account>, StoreError> {
    let mut tx = store.begin_read().await?;
    let accounts = store::list_accounts(&mut tx).await?;
    store::commit(tx).await?;
    Ok(accounts)
}

/// The changes an admin may make to an account's profile.
#[derive(Debug, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    pub npi: Option<String>,
}

async fn load(tx: &mut store::Tx, id: &UserId) -> Result<Account, AdminError> {
    store::get_account(tx, id)
        .await?
        .ok_or(AdminError::NotFound)
}

/// Changes role, display name or NPI; a clinician must keep an NPI, and
/// an admin cannot take away their own admin role.
#[tracing::instrument(skip_all)]
pub async fn change_account(
    store: &Store,
    actor: &Actor,
    id: &UserId,
    change: AccountChange,
) -> Result<Account, AdminError> {
    let mut tx = store.begin().await?;
    let mut account = load(&mut tx, id).await?;
    if actor.id.as_deref() == Some(id.as_str()) && change.role.is_some_and(|r| r != Role::Admin) {
        return Err(AdminError::Refused(
            "an admin cannot remove their own admin role",
        ));
    }
    let user: &mut User = &mut account.user;
    if let Some(role) = change.role {
        user.role = role;
    }
    if let Some(name) = change.display_name {
        user.display_name = name;
    }
    if change.npi.is_some() {
        user.npi = change.npi;
    }
    if user.role == Role::Clinician && user.npi.is_none() {
        return Err(AdminError::NpiRequired);
    }
    store::update_user(&mut tx, user).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "user.update", "User").resource(id),
    )
    .await?;
    store::commit(tx).await?;
    Ok(account)
}

/// The credentials of the sessions a change ended; their sockets close.
pub type Ended = Vec<super::Credential>;

fn ended(hashes: Vec<String>) -> Ended {
    hashes
        .iter()
        .map(|h| super::Credential::session_hash(h))
        .collect()
}

/// Deactivates an account: it cannot sign in and its sessions end now.
#[tracing::instrument(skip_all)]
pub async fn deactivate(
    store: &Store,
    actor: &Actor,
    id: &UserId,
) -> Result<(Account, Ended), AdminError> {
    if actor.id.as_deref() == Some(id.as_str()) {
        return Err(AdminError::Refused(
            "an admin cannot deactivate their own account",
        ));
    }
    let mut tx = store.begin().await?;
    let mut account = load(&mut tx, id).await?;
    store::deactivate_user(&mut tx, id).await?;
    let revoked = store::revoke_user_sessions(&mut tx, id, actor.at).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "user.deactivate", "User").resource(id),
    )
    .await?;
    store::commit(tx).await?;
    account.active = false;
    Ok((account, ended(revoked)))
}

/// Sets a new password (the admin tells the user) and ends the user's
/// sessions, so whoever held the old one is out.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    store: &Store,
    actor: &Actor,
    id: &UserId,
    password: SecretString,
) -> Result<Ended, AdminError> {
    let hash = super::hash_password(password).await?;
    let mut tx = store.begin().await?;
    load(&mut tx, id).await?;
    store::set_password_hash(&mut tx, id, &hash).await?;
    let revoked = store::revoke_user_sessions(&mut tx, id, actor.at).await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "user.password_reset", "User").resource(id),
    )
    .await?;
    store::commit(tx).await?;
    Ok(ended(revoked))
}

/// Audits an account an admin created (the CLI and bootstrap do not).
pub async fn audit_created(store: &Store, actor: &Actor, user: &User) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::append_audit(
        &mut tx,
        &AuditEntry::new(actor, "user.create", "User").resource(&user.id),
    )
    .await?;
    store::commit(tx).await
}
