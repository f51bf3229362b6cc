//! Case intake throughput on SQLite (locate + validate + dedupe + dispatch
//! rules + number + persist in one transaction), and an evaluation query
//! over N statistics rows (`CHENGYUN_BENCH_STAT_ROWS`, default 100,000).
//!
//! `cargo bench -p chengyun-services --bench intake`

use chengyun_bus::{DynBus, InProcessBus};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{Source, Stage};
use chengyun_domain::city::{Area, Department, DepartmentKind, Tier};
use chengyun_domain::codes::{AreaLevel, DivisionCode};
use chengyun_domain::standard::Catalogue;
use chengyun_geo::Locator;
use chengyun_services::case::{
    CaseConfig, CaseService, EvaluationGroup, EvaluationQuery, NewCase, StaticCity,
};
use chengyun_store::{DispatchRule, DynStore, NewStatRow, SqliteStore};
use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geo_types::{LineString, MultiPolygon, Polygon};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )])
}

async fn setup(dir: &std::path::Path) -> (DynStore, CaseService) {
    let s = SqliteStore::open(&dir.join("bench.db")).await.unwrap();
    let store: DynStore = Arc::new(s);
    store.migrate().await.unwrap();
    let audit = AuditEvent::new(&Actor::system("bench"), "setup", "city", "");
    let area = |code: &str, level, parent: Option<&str>, b| Area {
        code: DivisionCode::parse(code).unwrap(),
        name: code.into(),
        level,
        parent_code: parent.map(|p| DivisionCode::parse(p).unwrap()),
        boundary: Some(b),
    };
    let areas = vec![
        area(
            "360600",
            AreaLevel::City,
            None,
            square(116.9, 28.0, 117.3, 28.4),
        ),
        area(
            "360602",
            AreaLevel::District,
            Some("360600"),
            square(117.0, 28.2, 117.1, 28.3),
        ),
        area(
            "360602001",
            AreaLevel::Street,
            Some("360602"),
            square(117.0, 28.2, 117.05, 28.25),
        ),
    ];
    store.upsert_areas(&areas, &audit).await.unwrap();
    let dept = |code: &str, kind, tier, area: &str| Department {
        code: code.into(),
        name: code.into(),
        kind,
        tier,
        area_code: DivisionCode::parse(area).unwrap(),
        parent_code: None,
    };
    store
        .upsert_departments(
            &[
                dept(
                    "YT-CENTER",
                    DepartmentKind::CommandCenter,
                    Tier::City,
                    "360600",
                ),
                dept(
                    "JB-CENTER",
                    DepartmentKind::CommandCenter,
                    Tier::Street,
                    "360602001",
                ),
                dept(
                    "YH-SZJ",
                    DepartmentKind::Functional,
                    Tier::District,
                    "360602",
                ),
            ],
            &audit,
        )
        .await
        .unwrap();
    store
        .put_dispatch_rule(
            &DispatchRule {
                id: 0,
                matter_pattern: "01*".into(),
                area_code: "360602".into(),
                department_code: "YH-SZJ".into(),
                priority: 0,
                auto_dispatch: true,
                enabled: true,
                note: None,
            },
            &audit,
        )
        .await
        .unwrap();
    let city = Arc::new(StaticCity {
        locator: Locator::build(&areas, &[]),
        catalogue: Catalogue::national(),
    });
    let bus: DynBus = Arc::new(InProcessBus::new());
    let service = CaseService::new(store.clone(), bus, city, CaseConfig::new(dir))
        .await
        .unwrap();
    (store, service)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, service) = rt.block_on(setup(dir.path()));
    let seq = AtomicU64::new(0);
    let system = service.system_actor();
    let mut g = c.benchmark_group("case");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("intake_sqlite_auto_dispatch", |b| {
        b.iter(|| {
            rt.block_on(async {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                // spread points so dedupe finds few neighbours
                let new = NewCase {
                    description: "井盖倾斜告警".into(),
                    matter_code: Some(if i.is_multiple_of(2) { "01001" } else { "01002" }.into()),
                    source: Some(Source::IotAlarm),
                    lon: Some(117.0001 + (i % 400) as f64 * 0.0001),
                    lat: Some(28.2001 + ((i / 400) % 400) as f64 * 0.0001),
                    ..Default::default()
                };
                service.intake(new, &system, None).await.unwrap()
            })
        })
    });
    g.bench_function("intake_sqlite_public_report", |b| {
        b.iter(|| {
            rt.block_on(async {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let new = NewCase {
                    description: "路面破损".into(),
                    matter_code: Some("06013".into()),
                    source: Some(Source::Public),
                    lon: Some(117.0001 + (i % 400) as f64 * 0.0001),
                    lat: Some(28.2001 + ((i / 400) % 400) as f64 * 0.0001),
                    ..Default::default()
                };
                service.intake(new, &system, None).await.unwrap()
            })
        })
    });

    g.finish();

    // N statistics rows over the cases made above.
    let n: usize = std::env::var("CHENGYUN_BENCH_STAT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let case_id = rt
        .block_on(store.list_cases(
            &Default::default(),
            &chengyun_domain::page::PageRequest::first(1),
        ))
        .unwrap()
        .items[0]
        .id;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let rows: Vec<(i64, NewStatRow)> = (0..n)
        .map(|i| {
            (
                case_id,
                NewStatRow {
                    stage: Stage::Handling,
                    at: t0 + Duration::minutes(i as i64),
                    department_code: Some(["YH-SZJ", "JB-CENTER", "YT-CENTER"][i % 3].into()),
                    user_id: None,
                    area_code: Some(["360602001", "360602002", "360603001"][i % 3].into()),
                    counters: StageCounters {
                        reported: 1,
                        needs_disposal: 1,
                        disposed: (i % 5 != 0) as u64,
                        disposed_in_time: (i % 3 != 0) as u64,
                        needs_closing: 1,
                        closed: (i % 7 != 0) as u64,
                        closed_in_time: (i % 2) as u64,
                        rework: (i % 11 == 0) as u64,
                        ..Default::default()
                    },
                },
            )
        })
        .collect();
    let audit = AuditEvent::new(&Actor::system("bench"), "bench", "stat_rows", "");
    let started = std::time::Instant::now();
    for chunk in rows.chunks(20_000) {
        rt.block_on(store.insert_stat_rows(chunk, &audit)).unwrap();
    }
    eprintln!("inserted {n} stat rows in {:?}", started.elapsed());
    let mut g = c.benchmark_group("evaluation");
    g.sample_size(10);
    g.bench_function(format!("by_department_over_{n}_rows_sqlite"), |b| {
        b.iter(|| {
            rt.block_on(async {
                service
                    .evaluate(&EvaluationQuery {
                        group: EvaluationGroup::Department,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
