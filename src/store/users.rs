//! Staff accounts.

use super::{StoreError, Tx};
use crate::model::auth::{Role, User};
use crate::model::ids::UserId;
use crate::model::timestamp::Timestamp;

/// A user to insert; `Debug` leaves out the hash.
#[derive(Clone, Copy)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub display_name: &'a str,
    pub npi: Option<&'a str>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

type UserRow = (String, String, String, String, Option<String>);
pub(super) type UserRowWithSession = (String, String, String, String, Option<String>, i64);

fn user_from_row((id, username, role, display_name, npi): UserRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_trusted(id),
        username,
        role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
        display_name,
        npi,
    })
}

#[tracing::instrument(skip_all)]
pub async fn insert_user(tx: &mut Tx, new: NewUser<'_>) -> Result<User, StoreError> {
    let id = UserId::new();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, display_name, npi, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
    )
    .bind(id.as_str())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(new.display_name)
    .bind(new.npi)
    .bind(new.created_at.millis())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "username"))?;
    Ok(User {
        id,
        username: new.username.to_owned(),
        role: new.role,
        display_name: new.display_name.to_owned(),
        npi: new.npi.map(str::to_owned),
    })
}

/// An active user and its password hash, for sign-in.
#[tracing::instrument(skip_all)]
pub async fn find_login(tx: &mut Tx, username: &str) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<(String, String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT id, username, role, display_name, npi, password_hash FROM users
         WHERE username = $1 AND active = 1",
    )
    .bind(username)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(id, username, role, display_name, npi, hash)| {
        user_from_row((id, username, role, display_name, npi)).map(|user| (user, hash))
    })
    .transpose()
}

#[tracing::instrument(skip_all)]
pub async fn list_users(tx: &mut Tx, role: Option<Role>) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, username, role, display_name, npi FROM users
         WHERE active = 1 AND ($1 IS NULL OR role = $1) ORDER BY username",
    )
    .bind(role.map(Role::as_str))
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(user_from_row).collect()
}

#[tracing::instrument(skip_all)]
pub async fn count_users(tx: &mut Tx) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut **tx)
        .await?;
    Ok(count)
}

/// A staff account as an admin sees it: active or not, last sign-in, MFA.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Account {
    #[serde(flatten)]
    pub user: User,
    pub active: bool,
    pub last_sign_in_at: Option<Timestamp>,
    pub mfa_enrolled: bool,
}

type AccountRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

const ACCOUNT_SELECT: &str = "SELECT u.id, u.username, u.role, u.display_name, u.npi, u.active,
        u.last_sign_in_at, m.confirmed_at
     FROM users u LEFT JOIN user_mfa m ON m.user_id = u.id";

fn account_from_row(row: AccountRow) -> Result<Account, StoreError> {
    let (id, username, role, display_name, npi, active, last, mfa) = row;
    Ok(Account {
        user: user_from_row((id, username, role, display_name, npi))?,
        active: active == 1,
        last_sign_in_at: last.map(Timestamp),
        mfa_enrolled: mfa.is_some(),
    })
}

/// Every account, active or not, by username.
#[tracing::instrument(skip_all)]
pub async fn list_accounts(tx: &mut Tx) -> Result<Vec<Account>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("{ACCOUNT_SELECT} ORDER BY u.username"));
    let rows: Vec<AccountRow> = sqlx::query_as(sql).fetch_all(&mut **tx).await?;
    rows.into_iter().map(account_from_row).collect()
}

#[tracing::instrument(skip_all)]
pub async fn get_account(tx: &mut Tx, id: &UserId) -> Result<Option<Account>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE u.id = $1"));
    let row: Option<AccountRow> = sqlx::query_as(sql)
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(account_from_row).transpose()
}

/// Sets role, display name and NPI together.
#[tracing::instrument(skip_all)]
pub async fn update_user(tx: &mut Tx, user: &User) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET role = $1, display_name = $2, npi = $3 WHERE id = $4")
        .bind(user.role.as_str())
        .bind(&user.display_name)
        .bind(&user.npi)
        .bind(user.id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn deactivate_user(tx: &mut Tx, id: &UserId) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET active = 0 WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn set_password_hash(tx: &mut Tx, id: &UserId, hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn record_sign_in(tx: &mut Tx, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(at.millis())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An active user by id, for the MFA step after the password.
#[tracing::instrument(skip_all)]
pub async fn get_active_user(tx: &mut Tx, id: &UserId) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT id, username, role, display_name, npi FROM users WHERE id = $1 AND active = 1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(user_from_row).transpose()
}
