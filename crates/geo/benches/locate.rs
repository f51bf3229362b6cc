//! Lookup speed of the Locator against a linear scan, and grid generation time.
//!
//! Grids: 100 m cells generated over 月湖区 (real boundary from the shared data
//! folder, converted from GCJ-02), or over a synthetic district of similar size
//! when that file is absent, so the bench runs anywhere.
//!
//! Run: `cargo bench -p chengyun-geo --bench locate`

use chengyun_domain::city::{Area, UnitGrid};
use chengyun_domain::codes::DivisionCode;
use chengyun_geo::import::parse_areas;
use chengyun_geo::{Crs, Locator, grid};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geo::{BoundingRect, Contains, Coord, LineString, MultiPolygon, Point, Polygon};
use std::hint::black_box;
use std::path::PathBuf;

const POINTS: usize = 10_000;
const BASELINE_POINTS: usize = 200;

/// City and districts: the real ones when the shared data is present.
fn areas() -> Vec<Area> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/yingtan-boundaries");
    let read = |name: &str| std::fs::read(dir.join(name)).ok();
    if let (Some(d), Some(c)) = (
        read("360600_full.datav.json"),
        read("360600_outline.derived.json"),
    ) && let (Ok(mut districts), Ok(city)) =
        (parse_areas(&d, Crs::Gcj02), parse_areas(&c, Crs::Gcj02))
    {
        eprintln!("using the real Yingtan boundaries");
        districts.extend(city);
        return districts;
    }
    eprintln!("shared data absent: using a synthetic district");
    // A 40-sided irregular polygon of ~150 km² around 117.05, 28.24.
    let ring: Vec<Coord<f64>> = (0..=40)
        .map(|i| {
            let a = (i % 40) as f64 / 40.0 * std::f64::consts::TAU;
            let r = 0.06 + 0.012 * (3.0 * a).sin() + 0.006 * (7.0 * a).cos();
            Coord {
                x: 117.05 + r * a.cos() * 1.13,
                y: 28.24 + r * a.sin(),
            }
        })
        .collect();
    let code = DivisionCode::parse("360602").expect("valid code");
    vec![Area {
        name: "synthetic".into(),
        level: code.level(),
        parent_code: code.parent(),
        code,
        boundary: Some(MultiPolygon(vec![Polygon::new(LineString(ring), vec![])])),
    }]
}

/// Deterministic pseudo-random points (xorshift) in the box.
fn points(n: usize, bbox: geo::Rect<f64>) -> Vec<(f64, f64)> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            (
                bbox.min().x + next() * bbox.width(),
                bbox.min().y + next() * bbox.height(),
            )
        })
        .collect()
}

fn bench_locate(c: &mut Criterion) {
    let areas = areas();
    let target = areas
        .iter()
        .find(|a| a.code.as_str() == "360602")
        .expect("月湖区 or the synthetic district");
    let grids: Vec<UnitGrid> = grid::generate(target, &[], 100.0).expect("grids");
    assert!(grids.len() >= 10_000, "{} grids", grids.len());
    let locator = Locator::build(&areas, &grids);
    let bbox = target
        .boundary
        .as_ref()
        .and_then(|b| b.bounding_rect())
        .expect("bbox");
    let pts = points(POINTS, bbox);
    let found = pts
        .iter()
        .filter(|(x, y)| locator.locate_hit(*x, *y).grid.is_some())
        .count();
    eprintln!(
        "{} grids, {} areas; {found} of {POINTS} random points fall in a grid",
        locator.grid_count(),
        locator.area_count()
    );

    let mut g = c.benchmark_group("locate");
    g.throughput(Throughput::Elements(POINTS as u64));
    g.bench_function("locate_hit (R-tree + banded point-in-polygon)", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts {
                n += black_box(locator.locate_hit(x, y)).grid.is_some() as u32;
            }
            n
        })
    });
    g.bench_function("locate (owned Location with names)", |b| {
        b.iter(|| {
            for &(x, y) in &pts {
                black_box(locator.locate(x, y));
            }
        })
    });
    // The same R-tree candidates confirmed with geo's general `Contains`
    // instead of the banded test: grids only, so compare with a grid-only hit.
    let tree = rstar::RTree::bulk_load(
        grids
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let r = g.boundary.bounding_rect()?;
                Some(rstar::primitives::GeomWithData::new(
                    rstar::primitives::Rectangle::from_corners(
                        [r.min().x, r.min().y],
                        [r.max().x, r.max().y],
                    ),
                    i,
                ))
            })
            .collect(),
    );
    let grid_only = Locator::build(&[], &grids);
    g.bench_function("grid only: locate_hit", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts {
                n += black_box(grid_only.locate_hit(x, y)).grid.is_some() as u32;
            }
            n
        })
    });
    // District polygons (hundreds of vertices) are where the bands pay off.
    let district_polys: Vec<&MultiPolygon<f64>> =
        areas.iter().filter_map(|a| a.boundary.as_ref()).collect();
    g.bench_function("areas only: geo Contains over districts and city", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts {
                let p = Point::new(x, y);
                n += district_polys.iter().filter(|d| d.contains(&p)).count() as u32;
            }
            n
        })
    });
    let areas_only = Locator::build(&areas, &[]);
    g.bench_function("areas only: locate_hit", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts {
                n += black_box(areas_only.locate_hit(x, y)).district.is_some() as u32;
            }
            n
        })
    });
    g.bench_function("grid only: R-tree + geo Contains", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts {
                let p = Point::new(x, y);
                n += tree
                    .locate_all_at_point(&[x, y])
                    .any(|e| grids[e.data].boundary.contains(&p)) as u32;
            }
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BASELINE_POINTS as u64));
    g.bench_function("linear scan with geo Contains", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(x, y) in &pts[..BASELINE_POINTS] {
                let p = Point::new(x, y);
                n += grids.iter().any(|g| g.boundary.contains(&p)) as u32;
            }
            n
        })
    });
    g.finish();
}

fn bench_generate(c: &mut Criterion) {
    let areas = areas();
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    for a in &areas {
        if a.code.as_str() == "360681" || (areas.len() == 1) {
            g.bench_function(format!("{} {} at 100 m", a.code, a.name), |b| {
                b.iter(|| grid::generate(a, &[], 100.0).expect("grids").len())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_locate, bench_generate);
criterion_main!(benches);
