//! Login, logout and the current user.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Credential, CurrentUser, Json, RequestContext, SESSION_COOKIE};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chengyun_domain::auth::{Scope, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Credentials for a login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

/// A user with the part of the city they may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub scope: Scope,
}

fn session_cookie(
    state: &AppState,
    value: &str,
    max_age_secs: u64,
) -> Result<HeaderValue, ApiError> {
    let secure = if state.config().cookie_secure {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// Logs in with username and password; sets the `cy_session` cookie
/// (HttpOnly, SameSite=Strict). A failure is 401 and recorded in the audit log.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = Me),
        (status = 401, description = "Wrong username or password (`unauthenticated`)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let actor = ctx.anonymous_actor(&req.username);
    let ttl = state.config().session_ttl;
    let (secret, user) = chengyun_services::auth::login(
        state.store().as_ref(),
        &req.username,
        &req.password,
        &actor,
        ttl,
    )
    .await?;
    let scope = crate::extract::scope_of(&state, &user).await?;
    let cookie = session_cookie(&state, &secret, ttl.as_secs())?;
    let mut res = Json(Me { user, scope }).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(res)
}

/// Ends the current session and clears the cookie. With an API token, does
/// nothing but answer 204 (revoke tokens with DELETE /api/v1/tokens/{id}).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared")),
    security(("session" = []), ("token" = [])))]
pub async fn logout(State(state): State<AppState>, me: CurrentUser) -> Result<Response, ApiError> {
    if let Credential::Session(secret) = &me.credential {
        chengyun_services::auth::logout(state.store().as_ref(), secret, &me.actor).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok(res)
}

/// The current user and scope.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = Me)),
    security(("session" = []), ("token" = [])))]
pub async fn me(me: CurrentUser) -> Json<Me> {
    Json(Me {
        user: me.user,
        scope: me.scope,
    })
}
