//! Administrative areas, scoped to the caller's area.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::auth::Permission;
use chengyun_domain::city::Area;
use chengyun_domain::codes::{AreaLevel, DivisionCode};
use chengyun_store::AreaQuery;
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters of the area list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AreaFilter {
    /// Only the children of this area.
    pub parent: Option<String>,
    /// Only areas of this level: province, city, district, street, community.
    pub level: Option<String>,
    /// Include boundaries (GeoJSON); they are large, so off by default.
    #[serde(default)]
    pub boundary: bool,
}

/// Whether to include boundaries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoundaryParam {
    /// Include boundaries (GeoJSON).
    #[serde(default)]
    pub boundary: bool,
}

fn strip(mut a: Area, keep_boundary: bool) -> Area {
    if !keep_boundary {
        a.boundary = None;
    }
    a
}

async fn list_with(
    state: &AppState,
    me: &CurrentUser,
    mut q: AreaQuery,
    page: &PageParams,
    boundary: bool,
) -> Result<Json<Paged<Area>>, ApiError> {
    q.within = me.scope.prefix().map(str::to_string);
    let page = state.store().list_areas(&q, &page.to_request()?).await?;
    Ok(Json(page.map(|a| strip(a, boundary)).into()))
}

/// Areas within the caller's scope, by code.
#[utoipa::path(get, path = "/api/v1/areas", tag = "city", params(AreaFilter, PageParams),
    responses((status = 200, description = "Areas", body = Paged<Area>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<AreaFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<Area>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let q = AreaQuery {
        parent: filter
            .parent
            .as_deref()
            .map(|p| DivisionCode::parse(p).map_err(|e| e.at("parent")))
            .transpose()?,
        level: filter
            .level
            .as_deref()
            .map(str::parse::<AreaLevel>)
            .transpose()?,
        within: None,
    };
    list_with(&state, &me, q, &page, filter.boundary).await
}

fn parse_code(code: &str) -> Result<DivisionCode, ApiError> {
    Ok(DivisionCode::parse(code)?)
}

/// One area with its boundary (GeoJSON).
#[utoipa::path(get, path = "/api/v1/areas/{code}", tag = "city",
    params(("code" = String, Path, description = "Division code (6, 9 or 12 digits)")),
    responses((status = 200, description = "The area", body = Area)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(code): Path<String>,
) -> Result<Json<Area>, ApiError> {
    me.require(Permission::ReadCity)?;
    let code = parse_code(&code)?;
    me.require_in_scope(code.as_str())?;
    let area = state
        .store()
        .area(&code)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("area {code}")))?;
    Ok(Json(area))
}

/// The areas one level below an area.
#[utoipa::path(get, path = "/api/v1/areas/{code}/children", tag = "city",
    params(("code" = String, Path, description = "Division code"), BoundaryParam, PageParams),
    responses((status = 200, description = "Child areas", body = Paged<Area>)),
    security(("session" = []), ("token" = [])))]
pub async fn children(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(code): Path<String>,
    Query(b): Query<BoundaryParam>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<Area>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let code = parse_code(&code)?;
    if state.store().area(&code).await?.is_none() {
        return Err(ApiError::not_found(format!("area {code}")));
    }
    let q = AreaQuery {
        parent: Some(code),
        ..AreaQuery::default()
    };
    // A district user asking for the city's children sees their own district only.
    list_with(&state, &me, q, &page, b.boundary).await
}
