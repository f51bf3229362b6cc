//! Imports of whole files (role admin): all-or-nothing, every problem listed.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Path, Query, RawBody};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::Invalid;
use chengyun_domain::auth::Permission;
use chengyun_geo::Crs;
use chengyun_services::import::{self, ComponentFormat, ImportReport};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Options of an import.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Coordinate system of the file: wgs84 (default), gcj02 (DataV, AMap) or bd09.
    pub crs: Option<String>,
    /// components only: csv or geojson (default csv).
    pub format: Option<String>,
}

/// What an import stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// `areas`, `grids`, `departments`, `staff` or `components`.
    pub kind: String,
    /// Rows written (inserted or replaced).
    pub count: u64,
}

impl From<ImportReport> for ImportResult {
    fn from(r: ImportReport) -> Self {
        ImportResult {
            kind: r.kind,
            count: r.count,
        }
    }
}

/// Imports a file: `areas`, `grids` and `responsibility_grids` take GeoJSON, `departments` and `staff`
/// CSV, `components` CSV or GeoJSON (`?format=`). The body is the raw file.
/// Nothing is stored when any row is bad; the 400 answer lists every problem.
#[utoipa::path(post, path = "/api/v1/import/{kind}", tag = "import",
    params(("kind" = String, Path, description = "areas, grids, responsibility_grids, departments, staff or components"), ImportParams),
    request_body(content = String, description = "The file", content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored", body = ImportResult)),
    security(("session" = []), ("token" = [])))]
pub async fn import(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<ImportParams>,
    RawBody(body): RawBody,
) -> Result<Json<ImportResult>, ApiError> {
    me.require(Permission::ManageCity)?;
    let crs = match params.crs.as_deref() {
        Some(s) => Crs::parse(s)?,
        None => Crs::Wgs84,
    };
    let store = state.store().as_ref();
    let actor = &me.actor;
    let report = match kind.as_str() {
        "areas" => import::import_areas(store, &body, crs, actor).await?,
        "grids" => {
            let city = state.city();
            import::import_grids(store, &body, crs, &city.locator, actor).await?
        }
        "responsibility_grids" => {
            import::import_responsibility_grids(store, &body, crs, actor).await?
        }
        "departments" => import::import_departments_csv(store, &body, actor).await?,
        "staff" => import::import_staff_csv(store, &body, actor).await?,
        "components" => {
            let format = match params.format.as_deref() {
                Some(f) => ComponentFormat::parse(f)?,
                None => ComponentFormat::Csv,
            };
            let city = state.city();
            import::import_components(
                store,
                &body,
                format,
                crs,
                &city.catalogue,
                &city.locator,
                actor,
            )
            .await?
        }
        other => {
            return Err(Invalid::new(
                "kind",
                format!(
                    "unknown import kind {other:?}; use areas, grids, responsibility_grids, departments, staff or components"
                ),
            )
            .into());
        }
    };
    // Every kind feeds a cache (the spatial index, the case service's
    // departments and responsibility grids): reload, and have the other
    // nodes on the bus reload too.
    state.city_changed(&report.kind, report.count).await?;
    Ok(Json(report.into()))
}
