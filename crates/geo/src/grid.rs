//! Unit grid (单元网格) generation: cut an area into ~`cell_m` × `cell_m` cells.
//!
//! A city without surveyed grids still needs them to locate and count cases,
//! so chengyun can cut regular ones: rows of equal latitude height from the
//! north, columns of equal width in metres at each row's latitude.
//!
//! The work is a scanline over the boundary, not a clip per cell: edges are
//! bucketed by row, a row marks the columns its edges pass through (only those
//! cells are clipped, with geo's `BooleanOps` against the boundary pre-clipped
//! to the row), and every other cell is inside or outside as a whole, decided
//! by the crossings of the row's centre line. A 2,500 km² district at 100 m
//! (~250,000 cells) takes about a second.

use crate::pip::PolygonSet;
use chengyun_domain::Invalid;
use chengyun_domain::city::{Area, UnitGrid};
use chengyun_domain::codes::{AreaLevel, DivisionCode, GridCode};
use geo::{
    Area as _, BooleanOps, BoundingRect, Centroid, Coord, GeodesicArea, MultiPolygon, Polygon, Rect,
};
use std::collections::HashMap;

/// Smallest and largest accepted cell size in metres.
pub const CELL_M_RANGE: std::ops::RangeInclusive<f64> = 10.0..=10_000.0;
/// Clipped cells smaller than this share of a full cell are dropped as slivers.
const SLIVER_SHARE: f64 = 0.01;
/// Refuse jobs that would scan more cells than this (a mistyped cell size on a
/// province would otherwise run out of memory).
const MAX_CELLS: u64 = 20_000_000;

/// Generates the unit grids of `area`; see [`generate_with_progress`].
pub fn generate(area: &Area, sub_areas: &[Area], cell_m: f64) -> Result<Vec<UnitGrid>, Invalid> {
    generate_with_progress(area, sub_areas, cell_m, &|_, _| {})
}

/// Cuts `area`'s boundary (WGS-84) into cells of about `cell_m` metres.
///
/// Cells wholly inside stay squares; boundary cells are clipped to the
/// boundary and dropped when less than 1% of a cell remains. Each cell belongs
/// to the community in `sub_areas` that contains its centroid, else such a
/// street, else `area` itself, and is coded `GridCode::compose(area, seq)` with
/// `seq` counted per owning area in row-major order from the north-west.
/// `progress(rows_done, rows_total)` is called after every row.
pub fn generate_with_progress(
    area: &Area,
    sub_areas: &[Area],
    cell_m: f64,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<UnitGrid>, Invalid> {
    if !cell_m.is_finite() || !CELL_M_RANGE.contains(&cell_m) {
        return Err(Invalid::new(
            "cell_m",
            format!("cell size {cell_m} m must be between 10 and 10000 metres"),
        ));
    }
    let boundary = area.boundary.as_ref().ok_or_else(|| {
        Invalid::new(
            "boundary",
            format!(
                "area {} {} has no boundary; import its boundary before generating grids",
                area.code, area.name
            ),
        )
    })?;
    let bbox = boundary
        .bounding_rect()
        .filter(|r| r.width() > 0.0 && r.height() > 0.0)
        .ok_or_else(|| {
            Invalid::new(
                "boundary",
                format!("the boundary of area {} encloses no surface", area.code),
            )
        })?;
    let owners = Owners::new(area, sub_areas)?;
    let plan = Plan::new(bbox, cell_m);
    let estimate = plan.rows as u64 * plan.cols_at(plan.row_mid(plan.rows / 2)) as u64;
    if estimate > MAX_CELLS {
        return Err(Invalid::new(
            "cell_m",
            format!(
                "{cell_m} m cells over area {} would be about {estimate} cells (limit {MAX_CELLS}); use larger cells",
                area.code
            ),
        ));
    }

    let edges = boundary_edges(boundary);
    let mut by_row: Vec<Vec<u32>> = vec![Vec::new(); plan.rows];
    for (k, e) in edges.iter().enumerate() {
        let (lo, hi) = (plan.row_of(e[1].max(e[3])), plan.row_of(e[1].min(e[3])));
        for bucket in &mut by_row[lo..=hi] {
            bucket.push(k as u32);
        }
    }

    let mut seqs: HashMap<u32, u64> = HashMap::new();
    let mut out = Vec::new();
    let mut touched: Vec<bool> = Vec::new();
    let mut crossings: Vec<f64> = Vec::new();
    let total_rows = plan.rows as u64;
    for (row, row_edges) in by_row.iter().enumerate() {
        let top = plan.max_y - row as f64 * plan.dlat;
        let bottom = top - plan.dlat;
        let mid = (top + bottom) / 2.0;
        let dlon = plan.dlon_at(mid);
        let cols = plan.cols_at(mid);
        touched.clear();
        touched.resize(cols, false);
        crossings.clear();
        for &k in row_edges {
            let [x1, y1, x2, y2] = edges[k as usize];
            if let Some((xa, xb)) = x_range_in_strip(x1, y1, x2, y2, bottom, top) {
                let c0 = plan.col_of(xa, dlon, cols);
                let c1 = plan.col_of(xb, dlon, cols);
                touched[c0..=c1].fill(true);
            }
            if (y1 > mid) != (y2 > mid) {
                crossings.push(x1 + (mid - y1) * (x2 - x1) / (y2 - y1));
            }
        }
        crossings.sort_by(f64::total_cmp);

        // The boundary clipped to this row, so boundary cells clip against a
        // handful of edges rather than the whole outline.
        let strip = touched.iter().any(|t| *t).then(|| {
            let r = Rect::new(
                (plan.min_x - dlon, bottom),
                (plan.min_x + (cols as f64 + 1.0) * dlon, top),
            );
            boundary.intersection(&r.to_polygon())
        });
        let full_cell = |c: usize| {
            let x0 = plan.min_x + c as f64 * dlon;
            Rect::new((x0, bottom), (x0 + dlon, top))
        };
        let full_planar = dlon * plan.dlat;
        let full_m2 = full_cell(0).to_polygon().geodesic_area_signed().abs();
        let mut passed = 0;
        for (c, is_touched) in touched.iter().enumerate() {
            let cell = full_cell(c);
            let (shape, area_m2, centre) = if *is_touched {
                let Some(strip) = &strip else { continue };
                let clipped = strip.intersection(&cell.to_polygon());
                if clipped.unsigned_area() < SLIVER_SHARE * full_planar {
                    continue;
                }
                let Some(centre) = clipped.centroid() else {
                    continue;
                };
                let m2 = geodesic_area_m2(&clipped);
                (clipped, m2, centre.0)
            } else {
                let cx = cell.center().x;
                while passed < crossings.len() && crossings[passed] < cx {
                    passed += 1;
                }
                if passed % 2 == 0 {
                    continue;
                }
                (
                    MultiPolygon(vec![cell.to_polygon()]),
                    full_m2,
                    cell.center(),
                )
            };
            let owner = owners.owner_of(centre);
            let seq = seqs.entry(owner).or_insert(0);
            *seq += 1;
            let area_code = owners.code(owner);
            let code = GridCode::compose(area_code, *seq).map_err(|e| {
                Invalid::new(
                    "cell_m",
                    format!(
                        "area {area_code} would get more grids than its code leaves room for ({}); use larger cells or import finer sub-areas",
                        e.message
                    ),
                )
            })?;
            out.push(UnitGrid {
                code,
                name: None,
                area_code: area_code.clone(),
                boundary: shape,
                area_m2,
            });
        }
        progress(row as u64 + 1, total_rows);
    }
    Ok(out)
}

/// The layout of rows and columns over the bounding box.
struct Plan {
    min_x: f64,
    max_x: f64,
    max_y: f64,
    dlat: f64,
    rows: usize,
    cell_m: f64,
}

impl Plan {
    fn new(bbox: Rect<f64>, cell_m: f64) -> Plan {
        let dlat = cell_m / metres_per_degree_lat(bbox.center().y);
        let rows = ((bbox.height() / dlat).ceil() as usize).max(1);
        Plan {
            min_x: bbox.min().x,
            max_x: bbox.max().x,
            max_y: bbox.max().y,
            dlat,
            rows,
            cell_m,
        }
    }

    fn row_mid(&self, row: usize) -> f64 {
        self.max_y - (row as f64 + 0.5) * self.dlat
    }

    fn dlon_at(&self, lat: f64) -> f64 {
        self.cell_m / metres_per_degree_lon(lat).max(1.0)
    }

    fn cols_at(&self, lat: f64) -> usize {
        (((self.max_x - self.min_x) / self.dlon_at(lat)).ceil() as usize).max(1)
    }

    fn row_of(&self, y: f64) -> usize {
        let r = ((self.max_y - y) / self.dlat).floor();
        (r.max(0.0) as usize).min(self.rows - 1)
    }

    fn col_of(&self, x: f64, dlon: f64, cols: usize) -> usize {
        let c = ((x - self.min_x) / dlon).floor();
        (c.max(0.0) as usize).min(cols - 1)
    }
}

/// The x range of the part of segment (x1,y1)-(x2,y2) that lies in the
/// horizontal strip bottom..=top, if any.
fn x_range_in_strip(
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    bottom: f64,
    top: f64,
) -> Option<(f64, f64)> {
    let (ylo, yhi) = (y1.min(y2), y1.max(y2));
    if yhi < bottom || ylo > top {
        return None;
    }
    if y1 == y2 {
        return Some((x1.min(x2), x1.max(x2)));
    }
    let at = |y: f64| x1 + (y - y1) * (x2 - x1) / (y2 - y1);
    let (xa, xb) = (at(ylo.max(bottom)), at(yhi.min(top)));
    Some((xa.min(xb), xa.max(xb)))
}

fn boundary_edges(mp: &MultiPolygon<f64>) -> Vec<[f64; 4]> {
    mp.0.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|ring| ring.lines())
        .map(|l| [l.start.x, l.start.y, l.end.x, l.end.y])
        .collect()
}

/// Metres per degree of latitude on the WGS-84 ellipsoid at `lat`.
pub fn metres_per_degree_lat(lat: f64) -> f64 {
    let p = lat.to_radians();
    111_132.92 - 559.82 * (2.0 * p).cos() + 1.175 * (4.0 * p).cos() - 0.0023 * (6.0 * p).cos()
}

/// Metres per degree of longitude on the WGS-84 ellipsoid at `lat`.
pub fn metres_per_degree_lon(lat: f64) -> f64 {
    let p = lat.to_radians();
    111_412.84 * p.cos() - 93.5 * (3.0 * p).cos() + 0.118 * (5.0 * p).cos()
}

/// Who a cell belongs to: communities first, then streets, then the area.
struct Owners<'a> {
    /// Owner 0 is the area itself; owner `i + 1` is `subs[i]`.
    area: &'a Area,
    subs: Vec<&'a Area>,
    communities: Finder,
    streets: Finder,
}

/// Point-in-polygon over a few sub-areas, with a bounding-box R-tree.
struct Finder {
    shapes: PolygonSet,
    owners: Vec<u32>,
    tree:
        rstar::RTree<rstar::primitives::GeomWithData<rstar::primitives::Rectangle<[f64; 2]>, u32>>,
}

impl Finder {
    fn new(items: Vec<(u32, &MultiPolygon<f64>)>) -> Finder {
        let mut shapes = PolygonSet::default();
        let mut owners = Vec::new();
        let mut entries = Vec::new();
        for (owner, mp) in items {
            let idx = shapes.len() as u32;
            owners.push(owner);
            if let Some(r) = shapes.push(mp) {
                entries.push(rstar::primitives::GeomWithData::new(
                    rstar::primitives::Rectangle::from_corners(
                        [r.min().x, r.min().y],
                        [r.max().x, r.max().y],
                    ),
                    idx,
                ));
            }
        }
        Finder {
            shapes,
            owners,
            tree: rstar::RTree::bulk_load(entries),
        }
    }

    fn find(&self, p: Coord<f64>) -> Option<u32> {
        self.tree
            .locate_all_at_point(&[p.x, p.y])
            .find(|e| self.shapes.contains(e.data as usize, p.x, p.y))
            .and_then(|e| self.owners.get(e.data as usize).copied())
    }
}

impl<'a> Owners<'a> {
    fn new(area: &'a Area, sub_areas: &'a [Area]) -> Result<Owners<'a>, Invalid> {
        let mut subs = Vec::new();
        let mut communities = Vec::new();
        let mut streets = Vec::new();
        for (i, s) in sub_areas.iter().enumerate() {
            if s.code == area.code || !area.code.contains(&s.code) {
                return Err(Invalid::new(
                    format!("sub_areas[{i}]"),
                    format!(
                        "{} {} does not lie inside area {} by its code",
                        s.code, s.name, area.code
                    ),
                ));
            }
            let Some(b) = &s.boundary else { continue };
            let owner = subs.len() as u32 + 1;
            match s.code.level() {
                AreaLevel::Community => communities.push((owner, b)),
                AreaLevel::Street => streets.push((owner, b)),
                _ => continue,
            }
            subs.push(s);
        }
        Ok(Owners {
            area,
            subs,
            communities: Finder::new(communities),
            streets: Finder::new(streets),
        })
    }

    fn owner_of(&self, p: Coord<f64>) -> u32 {
        self.communities
            .find(p)
            .or_else(|| self.streets.find(p))
            .unwrap_or(0)
    }

    fn code(&self, owner: u32) -> &'a DivisionCode {
        match owner.checked_sub(1) {
            Some(i) => self
                .subs
                .get(i as usize)
                .map_or(&self.area.code, |s| &s.code),
            None => &self.area.code,
        }
    }
}

/// The geodesic area of a multipolygon in square metres, whatever the winding
/// of its rings (geo's unsigned area of a clockwise ring is the rest of the
/// globe; the signed area's magnitude is what we want).
pub fn geodesic_area_m2(mp: &MultiPolygon<f64>) -> f64 {
    mp.0.iter().map(|p| p.geodesic_area_signed().abs()).sum()
}

/// A square polygon of about `cell_m` metres with its south-west corner at (lon, lat).
pub fn square_cell(lon: f64, lat: f64, cell_m: f64) -> Polygon<f64> {
    let dlat = cell_m / metres_per_degree_lat(lat);
    let dlon = cell_m / metres_per_degree_lon(lat + dlat / 2.0).max(1.0);
    Rect::new((lon, lat), (lon + dlon, lat + dlat)).to_polygon()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, polygon};

    fn area(code: &str, boundary: Option<MultiPolygon<f64>>) -> Area {
        let code = DivisionCode::parse(code).unwrap();
        Area {
            level: code.level(),
            parent_code: code.parent(),
            name: format!("area {code}"),
            code,
            boundary,
        }
    }

    /// A ~2 km × 2 km square with a 500 m square hole, near Yingtan.
    fn holed() -> MultiPolygon<f64> {
        let outer = square_cell(117.0, 28.2, 2000.0);
        let hole = square_cell(117.005, 28.205, 500.0);
        MultiPolygon(vec![Polygon::new(
            outer.exterior().clone(),
            vec![LineString(
                hole.exterior().0.iter().rev().copied().collect(),
            )],
        )])
    }

    #[test]
    fn rejects_bad_cell_size_and_missing_boundary() {
        let a = area("360602", Some(holed()));
        for bad in [5.0, 20_000.0, f64::NAN] {
            let e = generate(&a, &[], bad).unwrap_err();
            assert_eq!(e.field, "cell_m");
        }
        let e = generate(&area("360602", None), &[], 100.0).unwrap_err();
        assert_eq!(e.field, "boundary");
        assert!(e.message.contains("360602"), "{e}");
        let outsider = area("360603001", Some(holed()));
        let e = generate(&a, &[outsider], 100.0).unwrap_err();
        assert_eq!(e.field, "sub_areas[0]");
    }

    #[test]
    fn covers_the_area_and_respects_holes() {
        let a = area("360602", Some(holed()));
        let grids = generate(&a, &[], 100.0).unwrap();
        let total: f64 = grids.iter().map(|g| g.area_m2).sum();
        let expect = geodesic_area_m2(&holed());
        assert!(
            (total - expect).abs() / expect < 0.01,
            "{total} vs {expect}"
        );
        // ~ (2000² - 500²) / 100² = 375 cells, a few more where edges cut.
        assert!((370..=460).contains(&grids.len()), "{}", grids.len());
        let first = &grids[0];
        assert_eq!(first.code.as_str(), "360602000000001");
        // Row-major from the north-west: the first grid is the north-westmost.
        let c0 = first.boundary.centroid().unwrap();
        assert!(grids.iter().all(|g| {
            let c = g.boundary.centroid().unwrap();
            c.y() <= c0.y() + 1e-9
        }));
        // No grid centre falls in the hole.
        let hole = square_cell(117.005, 28.205, 500.0);
        let inside_hole = grids.iter().filter(|g| {
            let c = g.boundary.centroid().unwrap();
            geo::Contains::contains(&hole, &c)
        });
        assert!(inside_hole.count() <= 4, "hole cells kept");
    }

    #[test]
    fn assigns_cells_to_sub_areas_and_numbers_per_owner() {
        let whole = holed();
        // West half: a community; a street covering everything.
        let west = MultiPolygon(vec![polygon![
            (x: 116.99, y: 28.19), (x: 117.01, y: 28.19), (x: 117.01, y: 28.23), (x: 116.99, y: 28.23), (x: 116.99, y: 28.19)
        ]]);
        let subs = vec![
            area("360602001001", Some(west)),
            area("360602001", Some(whole.clone())),
        ];
        let grids = generate(&area("360602", Some(whole)), &subs, 200.0).unwrap();
        let community: Vec<_> = grids
            .iter()
            .filter(|g| g.area_code.as_str() == "360602001001")
            .collect();
        let street: Vec<_> = grids
            .iter()
            .filter(|g| g.area_code.as_str() == "360602001")
            .collect();
        assert!(!community.is_empty() && !street.is_empty());
        assert_eq!(community.len() + street.len(), grids.len());
        assert_eq!(community[0].code.as_str(), "360602001001001");
        assert_eq!(street[0].code.as_str(), "360602001000001");
        assert!(
            street
                .last()
                .unwrap()
                .code
                .as_str()
                .ends_with(&format!("{:06}", street.len()))
        );
        for g in &community {
            let c = g.boundary.centroid().unwrap();
            assert!(c.x() < 117.01);
        }
    }

    #[test]
    fn reports_progress_per_row() {
        let a = area("360602", Some(holed()));
        let calls = std::cell::Cell::new((0u64, 0u64));
        generate_with_progress(&a, &[], 500.0, &|done, total| calls.set((done, total))).unwrap();
        let (done, total) = calls.get();
        assert!(total >= 4);
        assert_eq!(done, total);
    }
}
