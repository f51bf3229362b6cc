//! The audit log (role admin).

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::audit::AuditRecord;
use chengyun_domain::auth::Permission;
use chengyun_store::AuditQuery;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters of the audit log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only writes by this user.
    pub user_id: Option<i64>,
    /// Only actions starting with this text, e.g. `user.` or `auth.login`.
    pub action: Option<String>,
    /// Only writes to this kind of thing, e.g. `area`, `user`.
    pub target_kind: Option<String>,
    /// Only records at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only records before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// Audit records, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditFilter, PageParams),
    responses((status = 200, description = "Audit records", body = Paged<AuditRecord>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<AuditFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<AuditRecord>>, ApiError> {
    me.require(Permission::ManageUsers)?;
    let q = AuditQuery {
        user_id: filter.user_id,
        action_prefix: filter.action,
        target_kind: filter.target_kind,
        since: filter.since,
        until: filter.until,
    };
    let page = state.store().list_audit(&q, &page.to_request()?).await?;
    Ok(Json(page.into()))
}
