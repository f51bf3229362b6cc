//! What the web pages need to know before they draw a map: the optional
//! raster tile layer under the city's own boundaries.
//!
//! The maps draw districts, streets and grids from the city's GeoJSON, so no
//! tile server is needed. A city that has one (its own, or a provider's) sets
//! `[map] tile_url` in the configuration; the pages then draw those tiles
//! under the boundaries, in Web Mercator, shifted to GCJ-02 when the tiles
//! are (AutoNavi, Tencent and most Chinese providers).

use crate::extract::Json;
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// The datum a tile set is drawn in. Our coordinates are WGS-84; GCJ-02
/// tiles are offset by up to ~700 m, so the pages shift our data to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TileCrs {
    /// WGS-84 (OpenStreetMap, Tianditu `_w` layers, most self-hosted tiles).
    Wgs84,
    /// GCJ-02 (AutoNavi/Gaode, Tencent and other tiles published in China).
    Gcj02,
}

impl TileCrs {
    /// `wgs84` or `gcj02`, as the configuration and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TileCrs::Wgs84 => "wgs84",
            TileCrs::Gcj02 => "gcj02",
        }
    }
}

/// A raster tile layer: XYZ tiles of 256 px in Web Mercator (EPSG:3857).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TileLayer {
    /// The tile URL template: `{z}`, `{x}` and `{y}` (or `{-y}` for TMS rows
    /// counted from the south), and `{s}` for one of `subdomains`, e.g.
    /// `https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}`.
    #[schema(example = "https://tiles.example.cn/{z}/{x}/{y}.png")]
    pub url: String,
    /// The letters (or digits) `{s}` cycles through, one per host; empty when
    /// the URL has no `{s}`.
    #[schema(example = "abc")]
    pub subdomains: String,
    /// The datum of the tiles.
    pub crs: TileCrs,
    /// The text shown in the map's corner (the provider's terms, the map
    /// approval number 审图号).
    pub attribution: String,
    /// The lowest zoom level the server has tiles for.
    pub min_zoom: u8,
    /// The highest zoom level the server has tiles for.
    pub max_zoom: u8,
}

/// The map settings of this server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct MapConfig {
    /// The tile layer drawn under the boundaries, or null: the maps then draw
    /// the city's own GeoJSON on the page background, as without a tile server.
    pub tiles: Option<TileLayer>,
}

/// The map settings. Public, like the pages themselves: the tile URL (and any
/// key in it) is what every browser showing the map requests anyway.
#[utoipa::path(get, path = "/api/v1/map/config", tag = "city",
    responses((status = 200, description = "The optional tile layer", body = MapConfig)))]
pub async fn config(State(state): State<AppState>) -> Json<MapConfig> {
    Json(state.config().map.clone())
}
