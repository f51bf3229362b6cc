//! Fast point-in-polygon for many polygons at once.
//!
//! Each polygon's edges are stored in one flat arena and bucketed into
//! horizontal bands of its bounding box, so a test only crosses the few edges
//! of the band the point falls in: a 700-vertex district costs about as much as
//! a square. Squares and other small polygons keep a single band and skip the
//! bucket table. The arena keeps a quarter of a million unit grids in a few
//! contiguous vectors instead of a million small allocations.
//!
//! The test is the even-odd (crossing number) rule over every ring of every
//! part of a multipolygon, which is exact for valid polygons with holes and
//! disjoint parts. Points exactly on an edge may fall either way.

use geo::{MultiPolygon, Rect};

/// Aim for about this many edges per band.
const EDGES_PER_BAND: usize = 4;
/// Polygons with at most this many edges use one band.
const SMALL_POLYGON: usize = 16;
const MAX_BANDS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Meta {
    min_x: f64,
    min_y: f64,
    max_x: f64,
    max_y: f64,
    /// Bands per degree of latitude (0 when there is a single band).
    inv_band_h: f64,
    edge_start: u32,
    edge_end: u32,
    /// Index of this polygon's first entry in `band_starts` (unused with one band).
    band_off: u32,
    bands: u32,
}

/// A set of polygons answering "is this point inside polygon `i`?".
#[derive(Debug, Clone, Default)]
pub(crate) struct PolygonSet {
    metas: Vec<Meta>,
    /// Edges as `[x1, y1, x2, y2]`, horizontal edges dropped (they never cross).
    edges: Vec<[f64; 4]>,
    /// For banded polygons: `bands + 1` offsets into `band_edges` per polygon.
    band_starts: Vec<u32>,
    band_edges: Vec<u32>,
}

impl PolygonSet {
    pub(crate) fn len(&self) -> usize {
        self.metas.len()
    }

    /// Adds a polygon and returns its bounding box (`None` when it has no
    /// area-bearing edges; it is still added, and never contains a point).
    pub(crate) fn push(&mut self, mp: &MultiPolygon<f64>) -> Option<Rect<f64>> {
        let edge_start = self.edges.len();
        let (mut min_x, mut min_y) = (f64::INFINITY, f64::INFINITY);
        let (mut max_x, mut max_y) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for poly in &mp.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for line in ring.lines() {
                    let (a, b) = (line.start, line.end);
                    min_x = min_x.min(a.x).min(b.x);
                    max_x = max_x.max(a.x).max(b.x);
                    min_y = min_y.min(a.y).min(b.y);
                    max_y = max_y.max(a.y).max(b.y);
                    if a.y != b.y {
                        self.edges.push([a.x, a.y, b.x, b.y]);
                    }
                }
            }
        }
        let edge_end = self.edges.len();
        let n = edge_end - edge_start;
        let mut meta = Meta {
            min_x,
            min_y,
            max_x,
            max_y,
            inv_band_h: 0.0,
            edge_start: edge_start as u32,
            edge_end: edge_end as u32,
            band_off: 0,
            bands: 1,
        };
        let height = max_y - min_y;
        if n > SMALL_POLYGON && height > 0.0 {
            let bands = (n / EDGES_PER_BAND).clamp(2, MAX_BANDS);
            let inv = bands as f64 / height;
            let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); bands];
            for (k, e) in self.edges[edge_start..edge_end].iter().enumerate() {
                let lo = band_of(e[1].min(e[3]), min_y, inv, bands);
                let hi = band_of(e[1].max(e[3]), min_y, inv, bands);
                for bucket in &mut buckets[lo..=hi] {
                    bucket.push((edge_start + k) as u32);
                }
            }
            meta.inv_band_h = inv;
            meta.bands = bands as u32;
            meta.band_off = self.band_starts.len() as u32;
            for bucket in buckets {
                self.band_starts.push(self.band_edges.len() as u32);
                self.band_edges.extend(bucket);
            }
            self.band_starts.push(self.band_edges.len() as u32);
        }
        self.metas.push(meta);
        (n > 0).then(|| Rect::new((min_x, min_y), (max_x, max_y)))
    }

    /// Whether polygon `i` contains the point (false for an unknown `i`).
    #[inline]
    pub(crate) fn contains(&self, i: usize, x: f64, y: f64) -> bool {
        let Some(m) = self.metas.get(i) else {
            return false;
        };
        if x < m.min_x || x > m.max_x || y < m.min_y || y > m.max_y {
            return false;
        }
        let mut inside = false;
        if m.bands <= 1 {
            for e in &self.edges[m.edge_start as usize..m.edge_end as usize] {
                inside ^= crosses(e, x, y);
            }
        } else {
            let b = band_of(y, m.min_y, m.inv_band_h, m.bands as usize);
            let off = m.band_off as usize + b;
            let (s, t) = (
                self.band_starts[off] as usize,
                self.band_starts[off + 1] as usize,
            );
            for &k in &self.band_edges[s..t] {
                inside ^= crosses(&self.edges[k as usize], x, y);
            }
        }
        inside
    }
}

#[inline]
fn band_of(y: f64, min_y: f64, inv: f64, bands: usize) -> usize {
    let b = ((y - min_y) * inv) as isize;
    b.clamp(0, bands as isize - 1) as usize
}

/// Whether a ray from (x, y) towards +x crosses the edge (half-open in y, so a
/// vertex shared by two edges is counted once).
#[inline(always)]
fn crosses(e: &[f64; 4], x: f64, y: f64) -> bool {
    let [x1, y1, x2, y2] = *e;
    if (y1 > y) != (y2 > y) {
        let xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1);
        x < xi
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Coord, LineString, Point, Polygon};

    fn star(n: usize, cx: f64, cy: f64) -> Polygon<f64> {
        let pts: Vec<Coord<f64>> = (0..=n)
            .map(|i| {
                let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
                let r = if i % 2 == 0 { 1.0 } else { 0.4 };
                Coord {
                    x: cx + r * a.cos(),
                    y: cy + r * a.sin(),
                }
            })
            .collect();
        let hole = LineString::from(vec![
            (cx - 0.1, cy - 0.1),
            (cx + 0.1, cy - 0.1),
            (cx + 0.1, cy + 0.1),
            (cx - 0.1, cy + 0.1),
            (cx - 0.1, cy - 0.1),
        ]);
        Polygon::new(LineString(pts), vec![hole])
    }

    #[test]
    fn agrees_with_geo_contains() {
        let polys = [
            MultiPolygon(vec![star(200, 0.0, 0.0), star(10, 3.0, 0.0)]),
            MultiPolygon(vec![star(6, 0.5, 0.5)]),
        ];
        let mut set = PolygonSet::default();
        for p in &polys {
            assert!(set.push(p).is_some());
        }
        let mut checked = 0;
        for i in 0..200 {
            for j in 0..100 {
                let (x, y) = (-1.5 + i as f64 * 0.0277, -1.2 + j as f64 * 0.0241);
                for (k, p) in polys.iter().enumerate() {
                    assert_eq!(
                        set.contains(k, x, y),
                        p.contains(&Point::new(x, y)),
                        "{k} {x} {y}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 40_000);
        assert!(!set.contains(7, 0.0, 0.0));
    }
}
