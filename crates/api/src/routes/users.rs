//! User administration (role admin).

use crate::error::{ApiError, ErrorCode};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::{NewUser, Permission, User};
use chengyun_domain::city::Position;
use serde::Deserialize;
use utoipa::ToSchema;

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub display_name: String,
    pub department_code: Option<String>,
    pub roles: Vec<Position>,
    /// At least 10 characters.
    #[schema(format = Password)]
    pub password: String,
}

/// Fields to change; omitted fields keep their value. `department_code: null`
/// removes the department.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub department_code: Option<Option<String>>,
    pub roles: Option<Vec<Position>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    #[schema(format = Password)]
    pub password: String,
}

async fn check_department(state: &AppState, code: Option<&str>) -> Result<(), ApiError> {
    if let Some(code) = code
        && state.store().department(code).await?.is_none()
    {
        return Err(chengyun_domain::Invalid::new(
            "department_code",
            format!("department {code:?} does not exist"),
        )
        .into());
    }
    Ok(())
}

async fn existing(state: &AppState, id: i64) -> Result<User, ApiError> {
    state
        .store()
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {id}")))
}

/// Every user, by id.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageParams),
    responses((status = 200, description = "Users", body = Paged<User>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<User>>, ApiError> {
    me.require(Permission::ManageUsers)?;
    let page = state.store().list_users(&page.to_request()?).await?;
    Ok(Json(page.into()))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, description = "Created", body = User)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    me.require(Permission::ManageUsers)?;
    let new = NewUser {
        username: req.username,
        display_name: req.display_name,
        department_code: req.department_code,
        roles: req.roles,
    };
    new.validate()?;
    check_department(&state, new.department_code.as_deref()).await?;
    let user = chengyun_services::auth::create_user(
        state.store().as_ref(),
        &new,
        &req.password,
        &me.actor,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    me.require(Permission::ManageUsers)?;
    Ok(Json(existing(&state, id).await?))
}

/// Changes display name, department or roles.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses((status = 200, description = "The changed user", body = User)),
    security(("session" = []), ("token" = [])))]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(req): Json<UpdateUserRequest>,
) -> Result<Json<User>, ApiError> {
    me.require(Permission::ManageUsers)?;
    let old = existing(&state, id).await?;
    let new = NewUser {
        username: old.username.clone(),
        display_name: req.display_name.unwrap_or(old.display_name.clone()),
        department_code: req.department_code.unwrap_or(old.department_code.clone()),
        roles: req.roles.unwrap_or(old.roles.clone()),
    };
    new.validate()?;
    if id == me.user.id && !new.roles.contains(&Position::Admin) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot remove the admin role from your own account",
        ));
    }
    check_department(&state, new.department_code.as_deref()).await?;
    let event =
        AuditEvent::new(&me.actor, "user.update", "user", id.to_string()).with(serde_json::json!({
            "display_name": new.display_name,
            "department_code": new.department_code,
            "roles": new.roles,
        }));
    Ok(Json(state.store().update_user(id, &new, &event).await?))
}

/// Sets a new password and ends the user's sessions.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = PasswordRequest,
    responses((status = 204, description = "Changed")),
    security(("session" = []), ("token" = [])))]
pub async fn set_password(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(req): Json<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    me.require(Permission::ManageUsers)?;
    existing(&state, id).await?;
    chengyun_services::auth::set_password(state.store().as_ref(), id, &req.password, &me.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_disabled(
    state: &AppState,
    me: &CurrentUser,
    id: i64,
    disabled: bool,
) -> Result<StatusCode, ApiError> {
    me.require(Permission::ManageUsers)?;
    if disabled && id == me.user.id {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot disable your own account",
        ));
    }
    existing(state, id).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let event = AuditEvent::new(&me.actor, action, "user", id.to_string());
    state
        .store()
        .set_user_disabled(id, disabled, &event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables a user: their sessions end and their tokens stop working.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 204, description = "Disabled")),
    security(("session" = []), ("token" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    set_disabled(&state, &me, id, true).await
}

/// Enables a disabled user again.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 204, description = "Enabled")),
    security(("session" = []), ("token" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    set_disabled(&state, &me, id, false).await
}
