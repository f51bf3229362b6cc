//! Point location: which grid, community, street, district and city a point is in.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::auth::Permission;
use chengyun_domain::city::{Location, wgs84_point};
use chengyun_geo::Crs;
use serde::Deserialize;
use utoipa::IntoParams;

/// A point to locate.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateParams {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Coordinate system of the point: wgs84 (default), gcj02 or bd09.
    pub crs: Option<String>,
}

/// Locates a point. The answer's `lon`/`lat` are WGS-84. A point outside
/// every known area answers 200 with nulls. Not filtered by scope: the
/// geography of the city is not confidential.
#[utoipa::path(get, path = "/api/v1/locate", tag = "city", params(LocateParams),
    responses((status = 200, description = "Where the point lies", body = Location)),
    security(("session" = []), ("token" = [])))]
pub async fn locate(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<LocateParams>,
) -> Result<Json<Location>, ApiError> {
    me.require(Permission::ReadCity)?;
    let crs = match p.crs.as_deref() {
        Some(s) => Crs::parse(s)?,
        None => Crs::Wgs84,
    };
    wgs84_point(p.lon, p.lat)?;
    let (lon, lat) = chengyun_geo::crs::to_wgs84(crs, p.lon, p.lat);
    wgs84_point(lon, lat)?;
    Ok(Json(state.city().locator.locate(lon, lat)))
}
