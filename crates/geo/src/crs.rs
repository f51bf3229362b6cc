//! Coordinate reference systems met at the edges of chengyun.
//!
//! Everything is stored in WGS-84. Maps and data exports in China usually come
//! in GCJ-02 (AMap, Tencent, DataV; the "Mars" offset every published map must
//! carry) or BD-09 (Baidu, a further offset on top of GCJ-02). Input that can be
//! in one of those names its CRS explicitly and is converted here, once, on the
//! way in; output for such maps is converted on the way out.
//!
//! GCJ-02 is the well-known public approximation of the obfuscation: an offset
//! computed on the Krasovsky 1940 ellipsoid, applied only inside China's
//! bounding box (outside it the published maps use plain WGS-84). The inverse
//! has no closed form, so it is solved by fixed-point iteration to well below
//! a millimetre rather than by the crude one-step subtraction (which leaves
//! errors of up to a few metres).

use chengyun_domain::Invalid;
use geo::{Coord, MapCoordsInPlace};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// A coordinate reference system for longitude/latitude input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crs {
    /// WGS-84 (EPSG:4326), what GPS receivers give and what chengyun stores.
    #[default]
    Wgs84,
    /// GCJ-02, the offset used by AMap, Tencent maps and DataV GeoAtlas.
    Gcj02,
    /// BD-09, Baidu's offset on top of GCJ-02.
    Bd09,
}

impl Crs {
    /// All systems, in the order they are listed to users.
    pub const ALL: [Crs; 3] = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09];

    /// Parses the names users and exports commonly write.
    pub fn parse(s: &str) -> Result<Crs, Invalid> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "wgs84" | "wgs-84" | "wgs 84" | "epsg:4326" | "4326" | "crs84" => Ok(Crs::Wgs84),
            "gcj02" | "gcj-02" | "gcj" => Ok(Crs::Gcj02),
            "bd09" | "bd-09" | "bd09ll" => Ok(Crs::Bd09),
            _ => Err(Invalid::new(
                "crs",
                format!(
                    "unknown coordinate system {t:?}; use wgs84 (also WGS84, EPSG:4326), gcj02 (also GCJ-02, AMap/DataV) or bd09 (also BD-09, Baidu)"
                ),
            )),
        }
    }

    /// The canonical lower-case name (`wgs84`, `gcj02`, `bd09`).
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Crs {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Crs::parse(s)
    }
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it.
const KRASOVSKY_A: f64 = 6378245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// The constant of Baidu's BD-09 transform.
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Fixed-point iterations stop once a step moves less than this (degrees).
const INVERSE_TOLERANCE: f64 = 1e-10;
const INVERSE_MAX_STEPS: usize = 30;

/// Whether a point lies outside the box where GCJ-02 offsets are applied.
///
/// This is the rectangle every public implementation uses; it is generous
/// (it takes in parts of neighbouring countries) but it is what the maps do.
pub fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02 (identity outside China).
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let mut dlat = transform_lat(lon - 105.0, lat - 35.0);
    let mut dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * radlat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS-84 by fixed-point iteration: find `w` with `wgs84_to_gcj02(w) = g`.
///
/// The offset changes slowly (its derivative is ~1e-4), so each step gains
/// about four digits; three or four steps reach the tolerance.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    invert(lon, lat, wgs84_to_gcj02)
}

/// GCJ-02 → BD-09 (Baidu's published formula; identity outside China, where
/// Baidu serves plain WGS-84).
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02, inverted by iteration so a round trip is exact to 1e-10°
/// (the usual one-step inverse is off by up to ~1e-6°).
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    // The classic approximate inverse is an excellent first guess.
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    refine((z * theta.cos(), z * theta.sin()), lon, lat, gcj02_to_bd09)
}

/// Solves `forward(w) = (lon, lat)` starting from `(lon, lat)` minus the offset there.
fn invert(lon: f64, lat: f64, forward: fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (fx, fy) = forward(lon, lat);
    refine((lon - (fx - lon), lat - (fy - lat)), lon, lat, forward)
}

fn refine(
    start: (f64, f64),
    lon: f64,
    lat: f64,
    forward: fn(f64, f64) -> (f64, f64),
) -> (f64, f64) {
    let (mut wx, mut wy) = start;
    for _ in 0..INVERSE_MAX_STEPS {
        let (fx, fy) = forward(wx, wy);
        let (ex, ey) = (fx - lon, fy - lat);
        wx -= ex;
        wy -= ey;
        if ex.abs() < INVERSE_TOLERANCE && ey.abs() < INVERSE_TOLERANCE {
            break;
        }
    }
    (wx, wy)
}

/// Converts a longitude/latitude in `crs` to WGS-84.
pub fn to_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
        Crs::Bd09 => {
            let (gx, gy) = bd09_to_gcj02(lon, lat);
            gcj02_to_wgs84(gx, gy)
        }
    }
}

/// Converts a WGS-84 longitude/latitude to `crs`.
pub fn from_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
        Crs::Bd09 => {
            let (gx, gy) = wgs84_to_gcj02(lon, lat);
            gcj02_to_bd09(gx, gy)
        }
    }
}

/// Converts every coordinate of a geometry (any geo_types geometry: `Geometry`,
/// `MultiPolygon`, `Polygon`, `Point` …) from `crs` to WGS-84, in place.
pub fn geometry_to_wgs84<G: MapCoordsInPlace<f64>>(crs: Crs, geometry: &mut G) {
    if crs == Crs::Wgs84 {
        return;
    }
    geometry.map_coords_in_place(|c: Coord<f64>| {
        let (x, y) = to_wgs84(crs, c.x, c.y);
        Coord { x, y }
    });
}

/// Converts every coordinate of a geometry from WGS-84 to `crs`, in place
/// (for output to GCJ-02 or BD-09 maps).
pub fn geometry_from_wgs84<G: MapCoordsInPlace<f64>>(crs: Crs, geometry: &mut G) {
    if crs == Crs::Wgs84 {
        return;
    }
    geometry.map_coords_in_place(|c: Coord<f64>| {
        let (x, y) = from_wgs84(crs, c.x, c.y);
        Coord { x, y }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Point, polygon};

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() < tol && (a.1 - b.1).abs() < tol
    }

    #[test]
    fn parses_accepted_names_and_lists_them_on_error() {
        for (s, c) in [
            ("wgs84", Crs::Wgs84),
            ("WGS84", Crs::Wgs84),
            ("EPSG:4326", Crs::Wgs84),
            ("gcj02", Crs::Gcj02),
            ("GCJ-02", Crs::Gcj02),
            ("bd09", Crs::Bd09),
            ("BD-09", Crs::Bd09),
            (" Bd09 ", Crs::Bd09),
        ] {
            assert_eq!(Crs::parse(s).unwrap(), c, "{s}");
            assert_eq!(Crs::parse(c.as_str()).unwrap(), c);
        }
        let e = Crs::parse("epsg:3857").unwrap_err();
        assert_eq!(e.field, "crs");
        for name in ["wgs84", "gcj02", "bd09", "EPSG:4326", "GCJ-02", "BD-09"] {
            assert!(e.message.contains(name), "{}", e.message);
        }
    }

    #[test]
    fn wgs84_to_gcj02_matches_published_pair() {
        // Beijing, the pair quoted by most GCJ-02 libraries' docs.
        let g = wgs84_to_gcj02(116.404, 39.915);
        assert!(close(g, (116.410_244, 39.916_403), 2e-6), "{g:?}");
        let w = gcj02_to_wgs84(116.410_244, 39.916_403);
        assert!(close(w, (116.404, 39.915), 2e-6), "{w:?}");
        assert!(close(
            to_wgs84(Crs::Gcj02, 116.410_244, 39.916_403),
            (116.404, 39.915),
            2e-6
        ));
    }

    #[test]
    fn matches_coordtransform_reference_results() {
        // The results printed in wandergis/coordtransform's test/app.js (the
        // implementation most Chinese GIS code copies) for input (116.404, 39.915).
        let (x, y) = (116.404, 39.915);
        assert!(close(
            wgs84_to_gcj02(x, y),
            (116.410_244_499_169_38, 39.916_404_281_501_64),
            1e-12
        ));
        assert!(close(
            gcj02_to_bd09(x, y),
            (116.410_369_493_710_29, 39.921_336_993_510_21),
            1e-12
        ));
        // Its inverses are the one-step approximations; ours are iterated, so
        // they agree to the approximation's error and round-trip exactly.
        let g = bd09_to_gcj02(x, y);
        assert!(close(
            g,
            (116.397_627_291_193_15, 39.908_656_739_576_31),
            2e-6
        ));
        assert!(close(gcj02_to_bd09(g.0, g.1), (x, y), 1e-9));
        let w = gcj02_to_wgs84(x, y);
        assert!(close(
            w,
            (116.397_755_500_830_61, 39.913_595_718_498_36),
            2e-5
        ));
        assert!(close(wgs84_to_gcj02(w.0, w.1), (x, y), 1e-9));
    }

    #[test]
    fn bd09_matches_map_picked_pairs() {
        // Points picked on Baidu and AMap: Tiananmen, and Beijing railway
        // station. Baidu's server-side conversion is not exactly the public
        // formula; the two agree to about 1e-4° (~10 m), which is all a picked
        // pair can show.
        for (bd, gcj) in [
            ((116.403_963, 39.915_119), (116.397_573, 39.908_692)),
            ((116.433_51, 39.908_51), (116.427_03, 39.902_45)),
        ] {
            let g = bd09_to_gcj02(bd.0, bd.1);
            assert!(close(g, gcj, 1.5e-4), "{g:?}");
            let b = gcj02_to_bd09(gcj.0, gcj.1);
            assert!(close(b, bd, 1.5e-4), "{b:?}");
        }
    }

    #[test]
    fn inverse_is_tighter_than_one_step() {
        // The one-step inverse (subtract the offset at the GCJ point) leaves an
        // error of ~1e-6° or more; the iterated inverse must be far below 1e-7°.
        let w = (117.05, 28.24);
        let g = wgs84_to_gcj02(w.0, w.1);
        let (ox, oy) = wgs84_to_gcj02(g.0, g.1);
        let crude = (g.0 - (ox - g.0), g.1 - (oy - g.1));
        let good = gcj02_to_wgs84(g.0, g.1);
        assert!(close(good, w, 1e-9), "{good:?}");
        assert!(
            !close(crude, w, 1e-8),
            "crude step unexpectedly exact: {crude:?}"
        );
    }

    #[test]
    fn round_trips_everywhere_in_china() {
        let mut worst: f64 = 0.0;
        let mut lon = 73.5;
        while lon < 135.0 {
            let mut lat = 18.0;
            while lat < 53.5 {
                for crs in Crs::ALL {
                    let (x, y) = from_wgs84(crs, lon, lat);
                    if crs != Crs::Wgs84 {
                        // Inside China the offset is real: tens to hundreds of metres.
                        assert!(
                            (x - lon).abs() + (y - lat).abs() > 1e-4,
                            "{crs} at {lon},{lat}"
                        );
                    }
                    let (bx, by) = to_wgs84(crs, x, y);
                    worst = worst.max((bx - lon).abs()).max((by - lat).abs());
                }
                lat += 0.37;
            }
            lon += 0.53;
        }
        assert!(worst < 1e-7, "worst round-trip error {worst}");
    }

    #[test]
    fn identity_outside_china() {
        for (lon, lat) in [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (151.2, -33.9)] {
            for crs in Crs::ALL {
                assert_eq!(from_wgs84(crs, lon, lat), (lon, lat));
                assert_eq!(to_wgs84(crs, lon, lat), (lon, lat));
            }
        }
    }

    #[test]
    fn converts_whole_geometries() {
        let mut mp = MultiPolygon(vec![polygon![
            (x: 117.0, y: 28.2), (x: 117.1, y: 28.2), (x: 117.1, y: 28.3), (x: 117.0, y: 28.2)
        ]]);
        let orig = mp.clone();
        geometry_from_wgs84(Crs::Gcj02, &mut mp);
        let first = mp.0[0].exterior().0[0];
        assert_eq!((first.x, first.y), wgs84_to_gcj02(117.0, 28.2));
        geometry_to_wgs84(Crs::Gcj02, &mut mp);
        for (a, b) in mp.0[0].exterior().0.iter().zip(&orig.0[0].exterior().0) {
            assert!(close((a.x, a.y), (b.x, b.y), 1e-9));
        }
        let mut g: geo::Geometry<f64> = Point::new(116.404, 39.915).into();
        geometry_from_wgs84(Crs::Bd09, &mut g);
        geometry_to_wgs84(Crs::Bd09, &mut g);
        let geo::Geometry::Point(p) = g else {
            panic!("still a point")
        };
        assert!(close((p.x(), p.y()), (116.404, 39.915), 1e-9));
    }
}
