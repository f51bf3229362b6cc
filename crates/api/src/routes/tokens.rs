//! API tokens of the caller (bearer tokens for integrations).

use crate::error::{ApiError, ErrorCode};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged, page_in_memory};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::ApiToken;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for, e.g. `hotline bridge`.
    pub name: String,
    /// When it stops working; never when omitted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created token. `secret` is shown only here, once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`. It cannot be shown again.
    pub secret: String,
}

/// The caller's own tokens (revoked ones included), oldest first.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", params(PageParams),
    responses((status = 200, description = "The caller's tokens", body = Paged<ApiToken>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    let req = page.to_request()?;
    let mut tokens = state.store().list_tokens(Some(me.user.id)).await?;
    tokens.sort_by_key(|t| t.id);
    // Zero-padded so the text order of keys is the numeric order.
    let page = page_in_memory(tokens, &req, |t| format!("{:020}", t.id));
    Ok(Json(page.into()))
}

/// Creates a token for the caller; the secret is in the answer, once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = NewTokenRequest,
    responses((status = 201, description = "Created", body = CreatedToken)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(req): Json<NewTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (secret, token) = chengyun_services::auth::create_token(
        state.store().as_ref(),
        me.user.id,
        &req.name,
        req.expires_at,
        &me.actor,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revokes a token: the caller's own, or anyone's for an administrator.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked")),
    security(("session" = []), ("token" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let token = state
        .store()
        .token(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("token {id}")))?;
    if token.user_id != me.user.id && !me.is_admin() {
        // Someone else's token is answered like a missing one: ids are not secrets,
        // but other users' tokens are none of the caller's business.
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("token {id} not found"),
        ));
    }
    let event = AuditEvent::new(&me.actor, "token.revoke", "token", id.to_string())
        .with(serde_json::json!({ "user_id": token.user_id, "prefix": token.prefix }));
    state.store().revoke_token(id, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}
