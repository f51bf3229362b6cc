//! Unit grids, scoped to the caller's area.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::auth::Permission;
use chengyun_domain::city::UnitGrid;
use chengyun_domain::codes::{DivisionCode, GridCode};
use chengyun_store::GridQuery;
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters of the grid list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridFilter {
    /// Only grids inside this area (division code).
    pub within: Option<String>,
}

/// The narrower of a requested area prefix and the caller's scope, or
/// `out_of_scope` when they do not overlap.
pub fn narrow(
    me: &CurrentUser,
    requested: Option<&DivisionCode>,
) -> Result<Option<String>, ApiError> {
    let scope = me.scope.prefix();
    match (requested.map(|c| c.prefix()), scope) {
        (None, s) => Ok(s.map(str::to_string)),
        (Some(r), None) => Ok(Some(r.to_string())),
        (Some(r), Some(s)) if r.starts_with(s) => Ok(Some(r.to_string())),
        (Some(r), Some(s)) if s.starts_with(r) => Ok(Some(s.to_string())),
        (Some(r), Some(_)) => Err(ApiError::out_of_scope(format!("area {r}"))),
    }
}

/// Unit grids, by code.
#[utoipa::path(get, path = "/api/v1/grids", tag = "city", params(GridFilter, PageParams),
    responses((status = 200, description = "Unit grids", body = Paged<UnitGrid>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<GridFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<UnitGrid>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let within = filter
        .within
        .as_deref()
        .map(|w| DivisionCode::parse(w).map_err(|e| e.at("within")))
        .transpose()?;
    let q = GridQuery {
        within: narrow(&me, within.as_ref())?,
    };
    let page = state.store().list_grids(&q, &page.to_request()?).await?;
    Ok(Json(page.into()))
}

/// One unit grid.
#[utoipa::path(get, path = "/api/v1/grids/{code}", tag = "city",
    params(("code" = String, Path, description = "Grid code (15 or 14 characters)")),
    responses((status = 200, description = "The grid", body = UnitGrid)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(code): Path<String>,
) -> Result<Json<UnitGrid>, ApiError> {
    me.require(Permission::ReadCity)?;
    let code = GridCode::parse(&code)?;
    let grid = state
        .store()
        .grid(&code)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("grid {code}")))?;
    me.require_in_scope(grid.area_code.as_str())?;
    Ok(Json(grid))
}
