//! Webhook subscriptions of external systems (admin). Deliveries: see
//! [`crate::webhooks`]. Secrets are write-only: answers show a hint only.

use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::Invalid;
use chengyun_domain::audit::AuditEvent;
use chengyun_store::Webhook;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A webhook as answered (the secret is never sent back).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub event_filter: String,
    pub enabled: bool,
    pub created_by: Option<i64>,
    /// The secret's first four characters, to tell secrets apart.
    pub secret_hint: String,
}

impl From<Webhook> for WebhookView {
    fn from(h: Webhook) -> Self {
        let hint: String = h.secret.chars().take(4).collect();
        WebhookView {
            id: h.id,
            url: h.url,
            event_filter: h.event_filter,
            enabled: h.enabled,
            created_by: h.created_by,
            secret_hint: format!("{hint}…"),
        }
    }
}

/// A webhook subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// `http://host[:port]/path` (HTTPS needs a TLS build; see the module docs of `webhooks`).
    pub url: String,
    /// The HMAC-SHA256 key, 16-256 characters.
    pub secret: String,
    /// Subject prefix: `*` (default) for every event, `case.` for case
    /// events, `case.changed.close` for closures …
    #[serde(default = "any")]
    pub event_filter: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn any() -> String {
    "*".into()
}

fn yes() -> bool {
    true
}

impl WebhookBody {
    fn into_hook(self, id: i64, created_by: Option<i64>) -> ApiResult<Webhook> {
        let mut problems = chengyun_domain::ValidationError::default();
        let url = self.url.trim().to_string();
        match reqwest::Url::parse(&url) {
            Err(e) => problems.push(Invalid::new("url", format!("{url:?} is not a URL: {e}"))),
            Ok(u) if u.scheme() == "https" => problems.push(Invalid::new(
                "url",
                "https webhooks need a TLS-enabled build; this server posts over http:// only",
            )),
            Ok(u) if u.scheme() != "http" => {
                problems.push(Invalid::new("url", "the URL must start with http://"))
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                problems.push(Invalid::new("url", "the URL has no host"))
            }
            Ok(_) => {}
        }
        let n = self.secret.chars().count();
        if !(16..=256).contains(&n) {
            problems.push(Invalid::new(
                "secret",
                "the secret must have 16-256 characters",
            ));
        }
        let filter = self.event_filter.trim().to_string();
        if filter.is_empty()
            || filter.len() > 100
            || !filter
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_' || b == b'*')
        {
            problems.push(Invalid::new(
                "event_filter",
                "use * or a subject prefix of lowercase letters, dots and underscores (case., case.changed.close)",
            ));
        }
        problems.into_result()?;
        Ok(Webhook {
            id,
            url,
            secret: self.secret,
            event_filter: filter,
            enabled: self.enabled,
            created_by,
        })
    }
}

fn require_admin(me: &CurrentUser) -> ApiResult<()> {
    if me.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("managing webhooks (admin)"))
    }
}

/// Every webhook.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "The webhooks", body = Vec<WebhookView>)),
    security(("session" = []), ("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<WebhookView>>> {
    require_admin(&me)?;
    let hooks = state.store().webhooks().await?;
    Ok(Json(hooks.into_iter().map(WebhookView::from).collect()))
}

/// Subscribes an external system.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body = WebhookBody,
    responses((status = 201, description = "Stored", body = WebhookView)),
    security(("session" = []), ("token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<WebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    require_admin(&me)?;
    let hook = body.into_hook(0, Some(me.user.id))?;
    let audit = AuditEvent::new(&me.actor, "webhook.create", "webhook", "")
        .with(serde_json::json!({ "url": hook.url, "event_filter": hook.event_filter }));
    let saved = state.store().put_webhook(&hook, &audit).await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// Replaces a webhook (the secret must be sent again).
#[utoipa::path(
    put,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = WebhookBody,
    responses((status = 200, description = "Stored", body = WebhookView)),
    security(("session" = []), ("token" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<WebhookBody>,
) -> ApiResult<Json<WebhookView>> {
    require_admin(&me)?;
    let old = state
        .store()
        .webhooks()
        .await?
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    let hook = body.into_hook(id, old.created_by)?;
    let audit = AuditEvent::new(&me.actor, "webhook.update", "webhook", id.to_string()).with(
        serde_json::json!({ "url": hook.url, "event_filter": hook.event_filter, "enabled": hook.enabled }),
    );
    let saved = state.store().put_webhook(&hook, &audit).await?;
    Ok(Json(saved.into()))
}

/// Deletes a webhook; its queued deliveries are given up.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted")),
    security(("session" = []), ("token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    require_admin(&me)?;
    let audit = AuditEvent::new(&me.actor, "webhook.delete", "webhook", id.to_string());
    state.store().delete_webhook(id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}
