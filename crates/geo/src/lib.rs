//! Geography for chengyun: coordinate systems (WGS-84 canonical; GCJ-02 and
//! BD-09 converted at the edges), the spatial index that locates a point in
//! its unit grid, community, street, district and city, unit grid generation,
//! and GeoJSON import of boundaries, grids and point features.
//!
//! Pure computation on domain types: no storage, no web, no async.

pub mod crs;
pub mod grid;
pub mod import;
pub mod index;
mod pip;

pub use crs::Crs;
pub use index::{Hit, Locator};
