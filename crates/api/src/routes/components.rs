//! City components (管理部件), scoped to the caller's area.
//!
//! Component ids carry a 6-digit division code, so district scopes filter by
//! id; street and community scopes filter further by the component's grid
//! code (grid codes start with their area's code). For those, a page can hold
//! fewer items than `limit` while `next_cursor` is still set.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::{Permission, Scope};
use chengyun_domain::codes::{ClassCode, GridCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus, DeptRef};
use chengyun_store::ComponentQuery;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Filters of the component list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComponentFilter {
    /// 5-digit class code.
    pub class_code: Option<String>,
    /// intact, damaged, lost, occupied, abandoned, removed (or 完好, 破损 …).
    pub status: Option<String>,
    /// Only components in this unit grid.
    pub grid_code: Option<String>,
}

/// A component to store (strict: unknown fields are refused). Without a
/// `grid_code`, the unit grid at the position is filled in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentBody {
    pub id: ComponentId,
    pub class_code: ClassCode,
    pub name: String,
    pub owner: Option<DeptRef>,
    pub custodian: Option<DeptRef>,
    pub maintainer: Option<DeptRef>,
    pub grid_code: Option<GridCode>,
    pub status: ComponentStatus,
    pub lon: f64,
    pub lat: f64,
    pub recorded_on: Option<NaiveDate>,
    pub changed_on: Option<NaiveDate>,
    pub source: Option<String>,
    pub note: Option<String>,
}

impl From<ComponentBody> for Component {
    fn from(b: ComponentBody) -> Self {
        Component {
            id: b.id,
            class_code: b.class_code,
            name: b.name,
            owner: b.owner,
            custodian: b.custodian,
            maintainer: b.maintainer,
            grid_code: b.grid_code,
            status: b.status,
            lon: b.lon,
            lat: b.lat,
            recorded_on: b.recorded_on,
            changed_on: b.changed_on,
            source: b.source,
            note: b.note,
        }
    }
}

/// The division prefix to filter ids by, and the finer prefix grid codes must
/// start with (street and community scopes).
fn scope_filters(scope: &Scope) -> (Option<String>, Option<String>) {
    match scope.prefix() {
        None => (None, None),
        Some(p) if p.len() <= 6 => (Some(p.to_string()), None),
        Some(p) => (Some(p[..6].to_string()), Some(p.to_string())),
    }
}

fn in_scope(scope: &Scope, c: &Component) -> bool {
    let (id_prefix, grid_prefix) = scope_filters(scope);
    id_prefix.is_none_or(|p| c.id.as_str().starts_with(&p))
        && grid_prefix.is_none_or(|p| {
            c.grid_code
                .as_ref()
                .is_some_and(|g| g.as_str().starts_with(&p))
        })
}

/// Components in the caller's scope, by id.
#[utoipa::path(get, path = "/api/v1/components", tag = "city",
    params(ComponentFilter, PageParams),
    responses((status = 200, description = "Components", body = Paged<Component>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<ComponentFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<Component>>, ApiError> {
    me.require(Permission::ReadCity)?;
    if let Some(c) = &filter.class_code {
        ClassCode::parse(c)?;
    }
    let (within, _) = scope_filters(&me.scope);
    let q = ComponentQuery {
        class_code: filter.class_code,
        status: filter
            .status
            .as_deref()
            .map(ComponentStatus::parse)
            .transpose()?,
        grid_code: filter.grid_code,
        within,
    };
    let mut page = state
        .store()
        .list_components(&q, &page.to_request()?)
        .await?;
    page.items.retain(|c| in_scope(&me.scope, c));
    Ok(Json(page.into()))
}

/// One component.
#[utoipa::path(get, path = "/api/v1/components/{id}", tag = "city",
    params(("id" = String, Path, description = "17-digit component id (16-digit legacy ids accepted)")),
    responses((status = 200, description = "The component", body = Component)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Component>, ApiError> {
    me.require(Permission::ReadCity)?;
    let id = ComponentId::parse_digits(&id)?;
    let c = state
        .store()
        .component(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("component {id}")))?;
    if !in_scope(&me.scope, &c) {
        return Err(ApiError::out_of_scope(format!("component {id}")));
    }
    Ok(Json(c))
}

/// Creates or replaces one component (role admin), checked against the
/// class catalogue.
#[utoipa::path(post, path = "/api/v1/components", tag = "city", request_body = ComponentBody,
    responses((status = 201, description = "Stored", body = Component)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<ComponentBody>,
) -> Result<(StatusCode, Json<Component>), ApiError> {
    me.require(Permission::ManageCity)?;
    let mut c = Component::from(body);
    let city = state.city();
    c.validate(&city.catalogue)?;
    if c.grid_code.is_none() {
        let located = city.locator.locate(c.lon, c.lat);
        c.grid_code = located.grid.and_then(|g| GridCode::parse(&g.code).ok());
    }
    if !in_scope(&me.scope, &c) {
        return Err(ApiError::out_of_scope(format!("component {}", c.id)));
    }
    let event = AuditEvent::new(&me.actor, "component.upsert", "component", c.id.to_string()).with(
        serde_json::json!({ "class_code": c.class_code, "name": c.name, "status": c.status }),
    );
    state
        .store()
        .upsert_components(std::slice::from_ref(&c), &event)
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}
