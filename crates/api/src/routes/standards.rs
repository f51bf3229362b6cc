//! The GB/T 47678.5 class tables plus the city's local classes.

use crate::error::{ApiError, ErrorCode};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged, page_in_memory};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::Permission;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::{ClassKind, StandardClass, validate_local};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Search of the class list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StandardFilter {
    /// Only classes whose name (or major class name) contains this text.
    pub q: Option<String>,
}

/// A local class to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalClassRequest {
    /// 5 digits; local codes conventionally use minor codes 900-999.
    pub code: ClassCode,
    pub name: String,
    /// Name of the major class (the first two digits).
    pub major_name: String,
}

fn kind_of(kind: &str) -> Result<ClassKind, ApiError> {
    Ok(ClassKind::parse(kind)?)
}

/// National and local classes of one kind (`component` or `matter`), by code.
#[utoipa::path(get, path = "/api/v1/standards/{kind}", tag = "standards",
    params(("kind" = String, Path, description = "component or matter"), StandardFilter, PageParams),
    responses((status = 200, description = "Classes", body = Paged<StandardClass>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(kind): Path<String>,
    Query(filter): Query<StandardFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<StandardClass>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let kind = kind_of(&kind)?;
    let req = page.to_request()?;
    let city = state.city();
    let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let matching = city
        .catalogue
        .iter(kind)
        .filter(|c| q.is_none_or(|q| c.name.contains(q) || c.major_name.contains(q)))
        .cloned();
    let page = page_in_memory(matching, &req, |c| c.code.as_str().to_string());
    Ok(Json(page.into()))
}

/// Adds or renames a local class (role admin). A code of a national class is
/// a `conflict`.
#[utoipa::path(post, path = "/api/v1/standards/{kind}", tag = "standards",
    params(("kind" = String, Path, description = "component or matter")),
    request_body = LocalClassRequest,
    responses((status = 201, description = "Stored", body = StandardClass)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(kind): Path<String>,
    Json(req): Json<LocalClassRequest>,
) -> Result<(StatusCode, Json<StandardClass>), ApiError> {
    me.require(Permission::ManageCity)?;
    let kind = kind_of(&kind)?;
    let class = StandardClass {
        kind,
        major_code: req.code.major().to_string(),
        code: req.code,
        major_name: req.major_name.trim().to_string(),
        name: req.name.trim().to_string(),
        local: true,
    };
    validate_local(&class)?;
    if let Some(existing) = state.city().catalogue.get(kind, &class.code)
        && !existing.local
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{} class {} is the national class {:?}; pick a free code (e.g. minor 900-999)",
                kind.as_str(),
                class.code,
                existing.name
            ),
        ));
    }
    let event = AuditEvent::new(
        &me.actor,
        "standard.local_class",
        "standard_class",
        format!("{}:{}", kind.as_str(), class.code),
    )
    .with(serde_json::json!({ "name": class.name }));
    state.store().upsert_local_class(&class, &event).await?;
    state.city_changed("classes", 1).await?;
    Ok((StatusCode::CREATED, Json(class)))
}
