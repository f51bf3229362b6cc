//! Integration tests on Yingtan's real boundaries (DataV / gmap exports, GCJ-02),
//! read from the shared data folder, never copied into the repository.

use chengyun_domain::city::Area;
use chengyun_domain::codes::AreaLevel;
use chengyun_geo::crs::{self, Crs};
use chengyun_geo::import::{parse_areas, parse_grids, parse_point_features};
use chengyun_geo::{Locator, grid};
use geo::GeodesicArea;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/yingtan-boundaries")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn districts() -> &'static Vec<Area> {
    static D: OnceLock<Vec<Area>> = OnceLock::new();
    D.get_or_init(|| parse_areas(&data("360600_full.datav.json"), Crs::Gcj02).unwrap())
}

fn city() -> Area {
    let mut v = parse_areas(&data("360600_outline.derived.json"), Crs::Gcj02).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn district(code: &str) -> &'static Area {
    districts()
        .iter()
        .find(|a| a.code.as_str() == code)
        .unwrap_or_else(|| panic!("{code} missing"))
}

/// The DataV `center` of each feature (GCJ-02), converted to WGS-84.
fn centres() -> Vec<(String, f64, f64)> {
    let v: serde_json::Value = serde_json::from_slice(&data("360600_full.datav.json")).unwrap();
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let c = p["center"].as_array().unwrap();
            let (x, y) = crs::to_wgs84(Crs::Gcj02, c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
            (p["adcode"].to_string(), x, y)
        })
        .collect()
}

const EXPECTED: [(&str, &str); 3] = [
    ("360602", "月湖区"),
    ("360603", "余江区"),
    ("360681", "贵溪市"),
];

fn assert_three_districts(areas: &[Area]) {
    let got: Vec<(&str, &str)> = areas
        .iter()
        .map(|a| (a.code.as_str(), a.name.as_str()))
        .collect();
    assert_eq!(got, EXPECTED);
    for a in areas {
        assert_eq!(a.level, AreaLevel::District);
        assert_eq!(a.parent_code.as_ref().unwrap().as_str(), "360600");
        let b = a.boundary.as_ref().unwrap();
        // WGS-84 now: inside Yingtan's rough box.
        for p in &b.0 {
            for c in &p.exterior().0 {
                assert!((116.6..117.5).contains(&c.x) && (27.8..28.7).contains(&c.y));
            }
        }
    }
}

#[test]
fn datav_feature_collection_parses_to_three_districts() {
    assert_three_districts(districts());
    // The conversion happened: the first vertex moved by the GCJ-02 offset.
    let first = districts()[0].boundary.as_ref().unwrap().0[0].exterior().0[0];
    let back = crs::from_wgs84(Crs::Gcj02, first.x, first.y);
    assert!((back.0 - 116.992641).abs() < 1e-7 && (back.1 - 28.165762).abs() < 1e-7);
    assert!((first.x - 116.992641).abs() > 1e-3);
}

#[test]
fn gmap_bare_array_parses_to_the_same_districts() {
    let areas = parse_areas(&data("360600.gmap.json"), Crs::Gcj02).unwrap();
    assert_three_districts(&areas);
    for name in ["360602.gmap.json", "360603.gmap.json", "360681.gmap.json"] {
        let one = parse_areas(&data(name), Crs::Gcj02).unwrap();
        assert_eq!(one.len(), 1);
        assert!(name.starts_with(one[0].code.as_str()));
    }
}

#[test]
fn outline_gives_the_city() {
    let c = city();
    assert_eq!(c.code.as_str(), "360600");
    assert_eq!(c.name, "鹰潭市");
    assert_eq!(c.level, AreaLevel::City);
    assert_eq!(c.parent_code.unwrap().as_str(), "360000");
    // The city's surface is about the sum of its districts' (3,557 km² officially).
    let city_m2 = c.boundary.as_ref().unwrap().geodesic_area_unsigned();
    let sum: f64 = districts()
        .iter()
        .map(|d| d.boundary.as_ref().unwrap().geodesic_area_unsigned())
        .sum();
    assert!((city_m2 - sum).abs() / sum < 0.03, "{city_m2} vs {sum}");
    assert!((3.3e9..3.8e9).contains(&city_m2), "{city_m2}");
}

#[test]
fn province_file_parses_eleven_cities() {
    let cities = parse_areas(&data("360000_full.datav.json"), Crs::Gcj02).unwrap();
    assert_eq!(cities.len(), 11);
    assert!(cities.iter().all(
        |c| c.level == AreaLevel::City && c.parent_code.as_ref().unwrap().as_str() == "360000"
    ));
}

fn yuehu_grids() -> &'static Vec<chengyun_domain::city::UnitGrid> {
    static G: OnceLock<Vec<chengyun_domain::city::UnitGrid>> = OnceLock::new();
    G.get_or_init(|| {
        let t = Instant::now();
        let g = grid::generate(district("360602"), &[], 100.0).unwrap();
        eprintln!("月湖区: {} grids in {:?}", g.len(), t.elapsed());
        g
    })
}

#[test]
fn yuehu_grids_cover_the_district() {
    let grids = yuehu_grids();
    let d_m2 = district("360602")
        .boundary
        .as_ref()
        .unwrap()
        .geodesic_area_unsigned();
    // ~146 km² at 1 ha per cell, plus partial boundary cells.
    assert!((1.3e8..1.6e8).contains(&d_m2), "{d_m2}");
    let n = grids.len() as f64;
    assert!(n > d_m2 / 1e4 && n < d_m2 / 1e4 * 1.1, "{n} grids");
    let sum: f64 = grids.iter().map(|g| g.area_m2).sum();
    assert!((sum - d_m2).abs() / d_m2 < 0.02, "{sum} vs {d_m2}");
    let mut codes = HashSet::new();
    for g in grids {
        let c = g.code.as_str();
        assert_eq!(c.len(), 15);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
        assert!(c.starts_with("360602"));
        assert_eq!(g.area_code.as_str(), "360602");
        assert!(g.area_m2 > 0.0 && g.area_m2 < 1.05e4, "{}", g.area_m2);
        assert!(codes.insert(c));
    }
}

#[test]
fn locator_finds_districts_grids_and_nothing_outside() {
    let mut areas = vec![city()];
    areas.extend(districts().iter().cloned());
    let locator = Locator::build(&areas, yuehu_grids());
    assert_eq!(locator.area_count(), 4);
    assert_eq!(locator.grid_count(), yuehu_grids().len());

    for (code, lon, lat) in centres() {
        let loc = locator.locate(lon, lat);
        assert_eq!(
            loc.district.as_ref().map(|d| d.code.as_str()),
            Some(code.as_str()),
            "{code}"
        );
        assert_eq!(loc.city.as_ref().map(|c| c.name.as_str()), Some("鹰潭市"));
        if code == "360602" {
            let g = loc.grid.expect("月湖区 is gridded");
            assert!(g.code.starts_with("360602"));
        } else {
            assert!(loc.grid.is_none());
        }
        assert!(loc.street.is_none() && loc.community.is_none());
    }
    // Nanchang, and the sea: nothing.
    for (lon, lat) in [(115.89, 28.68), (122.0, 30.0)] {
        let loc = locator.locate(lon, lat);
        assert!(
            loc.grid.is_none() && loc.district.is_none() && loc.city.is_none(),
            "{loc:?}"
        );
    }
    // Every grid's own centre finds that grid (or, at a clipped edge, a neighbour
    // in the same district).
    for g in yuehu_grids().iter().step_by(97) {
        let p = geo::InteriorPoint::interior_point(&g.boundary).unwrap();
        let hit = locator.locate_hit(p.x(), p.y());
        assert_eq!(locator.grid_code(&hit), Some(&g.code));
        assert_eq!(
            locator
                .area(&hit, AreaLevel::District)
                .map(|a| a.0.as_str()),
            Some("360602")
        );
    }
}

#[test]
fn grids_import_locates_their_owner() {
    // A street known to the locator by boundary; grids without area_code get it.
    let street = Area {
        code: "360602001".parse().unwrap(),
        name: "江边街道".into(),
        level: AreaLevel::Street,
        parent_code: Some("360602".parse().unwrap()),
        boundary: district("360602").boundary.clone(),
    };
    let locator = Locator::build(&[street], &[]);
    let cell = |g: &chengyun_domain::city::UnitGrid| {
        let mut b = g.boundary.clone();
        crs::geometry_from_wgs84(Crs::Gcj02, &mut b);
        serde_json::json!({
            "type": "Feature",
            "properties": {"BGID": g.code.as_str()},
            "geometry": geojson::Geometry::from(&b),
        })
    };
    let picked: Vec<_> = yuehu_grids().iter().step_by(1000).collect();
    let fc = serde_json::json!({
        "type": "FeatureCollection",
        "features": picked.iter().map(|g| cell(g)).collect::<Vec<_>>(),
    });
    let parsed = parse_grids(fc.to_string().as_bytes(), Crs::Gcj02, &locator).unwrap();
    assert_eq!(parsed.len(), picked.len());
    for (p, g) in parsed.iter().zip(&picked) {
        assert_eq!(p.code, g.code);
        assert_eq!(p.area_code.as_str(), "360602001");
        assert!((p.area_m2 - g.area_m2).abs() / g.area_m2 < 1e-3);
    }
}

fn one_feature(props: &str, geometry: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"FeatureCollection","features":[
          {{"type":"Feature","properties":{{"adcode":360602,"name":"月湖区"}},"geometry":{{"type":"Polygon","coordinates":[[[117.0,28.2],[117.1,28.2],[117.1,28.3],[117.0,28.3],[117.0,28.2]]]}}}},
          {{"type":"Feature","properties":{props},"geometry":{geometry}}}]}}"#
    )
    .into_bytes()
}

const OK_POLYGON: &str = r#"{"type":"Polygon","coordinates":[[[117.2,28.2],[117.3,28.2],[117.3,28.3],[117.2,28.3],[117.2,28.2]]]}"#;

#[test]
fn bow_tie_is_rejected_with_its_feature_index() {
    let bow = r#"{"type":"MultiPolygon","coordinates":[[[[117.2,28.2],[117.3,28.3],[117.3,28.2],[117.2,28.3],[117.2,28.2]]]]}"#;
    let e = parse_areas(
        &one_feature(r#"{"adcode":360603,"name":"余江区"}"#, bow),
        Crs::Wgs84,
    )
    .unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(
        e.problems[0].field,
        "features[1].geometry.coordinates[0][0]"
    );
    assert!(e.to_string().contains("features[1]"), "{e}");
    assert!(e.problems[0].message.contains("intersects itself"), "{e}");
}

#[test]
fn unknown_crs_is_rejected() {
    let e = Crs::parse("EPSG:3857").unwrap_err();
    assert!(
        e.message.contains("wgs84") && e.message.contains("gcj02") && e.message.contains("bd09")
    );
}

#[test]
fn bad_files_get_clear_errors() {
    let e = parse_areas(
        b"{\"type\": \"FeatureCollection\", \"features\": [",
        Crs::Wgs84,
    )
    .unwrap_err();
    assert_eq!(e.problems[0].field, "json");
    assert!(e.problems[0].message.contains("not valid JSON"), "{e}");
    assert!(e.problems[0].message.contains("line 1"), "{e}");

    let e = parse_areas(
        b"{\"type\": \"Point\", \"coordinates\": [1, 2]}",
        Crs::Wgs84,
    )
    .unwrap_err();
    assert_eq!(e.problems[0].field, "type");

    let e = parse_areas(b"[]", Crs::Wgs84).unwrap_err();
    assert!(e.problems[0].message.contains("no features"), "{e}");

    let point = r#"{"type":"Point","coordinates":[117.2,28.2]}"#;
    let e = parse_areas(
        &one_feature(r#"{"adcode":360603,"name":"余江区"}"#, point),
        Crs::Wgs84,
    )
    .unwrap_err();
    assert_eq!(e.problems[0].field, "features[1].geometry.type");
    assert!(e.problems[0].message.contains("found a Point"), "{e}");

    let e = parse_areas(&one_feature(r#"{"name":"余江区"}"#, OK_POLYGON), Crs::Wgs84).unwrap_err();
    assert_eq!(e.problems[0].field, "features[1].properties");
    assert!(e.problems[0].message.contains("adcode"), "{e}");

    let e = parse_areas(
        &one_feature(r#"{"adcode":"360602","name":"又一个"}"#, OK_POLYGON),
        Crs::Wgs84,
    )
    .unwrap_err();
    assert_eq!(e.problems[0].field, "features[1].properties.adcode");
    assert!(
        e.problems[0].message.contains("duplicate code 360602"),
        "{e}"
    );
    assert!(e.problems[0].message.contains("features[0]"), "{e}");

    let e = parse_areas(&one_feature(r#"{"adcode":360603}"#, OK_POLYGON), Crs::Wgs84).unwrap_err();
    assert_eq!(e.problems[0].field, "features[1].properties");
    assert!(e.problems[0].message.contains("name"), "{e}");

    let e = parse_point_features(&one_feature("{}", point), Crs::Wgs84).unwrap_err();
    assert_eq!(e.problems[0].field, "features[0].geometry.type");
}

#[test]
fn guixi_grids_are_fast_enough() {
    // ~2,500 km² → ~250,000 cells at 100 m. Debug builds are slow; this bounds
    // the work, not a benchmark (the bench measures the release build).
    let d = district("360681");
    let rows = std::cell::Cell::new(0u64);
    let t = Instant::now();
    let grids = grid::generate_with_progress(d, &[], 100.0, &|done, _| rows.set(done)).unwrap();
    let took = t.elapsed();
    eprintln!(
        "贵溪市: {} grids, {} rows in {took:?}",
        grids.len(),
        rows.get()
    );
    let d_m2 = d.boundary.as_ref().unwrap().geodesic_area_unsigned();
    assert!((2.3e9..2.7e9).contains(&d_m2), "{d_m2}");
    let sum: f64 = grids.iter().map(|g| g.area_m2).sum();
    assert!((sum - d_m2).abs() / d_m2 < 0.02, "{sum} vs {d_m2}");
    assert!(took.as_secs() < 60, "{took:?}");
}

#[test]
fn responsibility_grids_parse_with_their_owner() {
    let json = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "ZR-001", "name": "江边责任网格一", "department_code": "YH-JB", "staff_code": "S002"},
         "geometry": {"type": "Polygon", "coordinates": [[[117.0,28.2],[117.01,28.2],[117.01,28.21],[117.0,28.21],[117.0,28.2]]]}},
        {"type": "Feature", "properties": {"ZRWGBM": "ZR-001"},
         "geometry": {"type": "Polygon", "coordinates": [[[117.0,28.2],[117.01,28.2],[117.01,28.21],[117.0,28.21],[117.0,28.2]]]}},
        {"type": "Feature", "properties": {"name": "无编码"},
         "geometry": {"type": "Polygon", "coordinates": [[[117.0,28.2],[117.01,28.2],[117.01,28.21],[117.0,28.21],[117.0,28.2]]]}}
    ]});
    let bytes = serde_json::to_vec(&json).unwrap();
    let e = chengyun_geo::import::parse_responsibility_grids(&bytes, chengyun_geo::Crs::Wgs84)
        .unwrap_err();
    let fields: Vec<_> = e.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["features[1].properties.code", "features[2].properties"],
        "{e:?}"
    );
    let mut ok = json.clone();
    ok["features"].as_array_mut().unwrap().truncate(1);
    let grids = chengyun_geo::import::parse_responsibility_grids(
        &serde_json::to_vec(&ok).unwrap(),
        chengyun_geo::Crs::Gcj02,
    )
    .unwrap();
    assert_eq!(grids[0].department_code.as_deref(), Some("YH-JB"));
    assert_eq!(grids[0].staff_code.as_deref(), Some("S002"));
    // GCJ-02 in, WGS-84 stored: shifted by a few hundred metres.
    let x = grids[0].boundary.0[0].exterior().0[0].x;
    assert!((x - 117.0).abs() > 1e-4 && (x - 117.0).abs() < 1e-2, "{x}");
}
