//! Staff accounts.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::admin::{self, AccountChange};
use crate::auth::{self, CreateUserError, PasswordError, Role, User};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, ApiJson, Staff};
use crate::model::codes::Npi;
use crate::model::ids::UserId;
use crate::model::validation::{FieldError, Text};
use crate::state::AppState;
use crate::store::Account;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(list_accounts))
        .routes(routes!(update_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(reset_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = String, example = "dr.grey")]
    username: Username,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    role: Role,
    display_name: Text,
    #[serde(default)]
    npi: Option<Npi>,
}

/// 3 to 64 lowercase letters, digits, dots, dashes or underscores.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Username(String);

impl TryFrom<String> for Username {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = (3..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(value))
        } else {
            Err("must be 3 to 64 lowercase letters, digits, '.', '-' or '_'")
        }
    }
}

/// CONTRACT: `POST /users` (admin).
#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])), request_body = CreateUserRequest,
    responses((status = 201, body = User), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if body.role == Role::Clinician && body.npi.is_none() {
        return Err(FieldError::new("npi", "is required for a clinician").into());
    }
    let npi = body.npi.as_ref().map(Npi::as_str);
    let user = auth::create_user(
        &state.store,
        &body.username.0,
        body.password,
        body.role,
        body.display_name.as_str(),
        npi,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        CreateUserError::Password(e @ (PasswordError::TooShort(_) | PasswordError::TooLong(_))) => {
            ApiError::Invalid(FieldError::new("password", e.to_string()))
        }
        CreateUserError::Password(e) => ApiError::internal(e),
        CreateUserError::Store(e) => e.into(),
    })?;
    admin::audit_created(&state.store, &admin.actor, &user).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserFilter {
    role: Option<Role>,
}

/// CONTRACT: `GET /users?role=` (staff).
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(UserFilter),
    responses((status = 200, body = Vec<User>), (status = 401, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    _staff: Staff,
    filter: Result<Query<UserFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<User>>, ApiError> {
    let Query(filter) = filter
        .map_err(|_| FieldError::new("role", "must be admin, scheduler, clinician or billing"))?;
    Ok(Json(auth::list_users(&state.store, filter.role).await?))
}

/// Every account, active or not, with last sign-in and MFA (admin).
#[utoipa::path(get, path = "/users/accounts", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<Account>), (status = 403, body = Problem)))]
async fn list_accounts(
    State(state): State<AppState>,
    _admin: Staff<Admins>,
) -> Result<Json<Vec<Account>>, ApiError> {
    Ok(Json(admin::accounts(&state.store).await?))
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).ok_or(ApiError::NotFound("user"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    display_name: Option<Text>,
    #[serde(default)]
    npi: Option<Npi>,
}

/// Changes a user's role, display name or NPI (admin); audited.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = UpdateUserRequest,
    responses((status = 200, body = Account), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<Account>, ApiError> {
    let id = user_id(&id)?;
    let change = AccountChange {
        role: body.role,
        display_name: body.display_name.map(|t| t.as_str().to_owned()),
        npi: body.npi.map(|n| n.as_str().to_owned()),
    };
    Ok(Json(
        admin::change_account(&state.store, &admin.actor, &id, change).await?,
    ))
}

/// Deactivates a user (admin): they cannot sign in and their sessions end
/// at once; audited. An admin cannot deactivate themselves.
#[utoipa::path(post, path = "/users/{id}/deactivate", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Account), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn deactivate_user(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    let id = user_id(&id)?;
    let (account, ended) = admin::deactivate(&state.store, &admin.actor, &id).await?;
    close_sockets(&state, &ended).await;
    Ok(Json(account))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Sets a new password for a user (admin), who is told it out of band;
/// their sessions end. Audited.
#[utoipa::path(post, path = "/users/{id}/password", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ResetPasswordRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reset_password(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let id = user_id(&id)?;
    let ended = admin::reset_password(&state.store, &admin.actor, &id, body.password).await?;
    close_sockets(&state, &ended).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The ended sessions' sockets close too, on every node.
async fn close_sockets(state: &AppState, ended: &admin::Ended) {
    for credential in ended {
        state.live.credential_ended(credential).await;
    }
}
