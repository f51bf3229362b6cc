//! Case intake throughput (locate + validate + classify + dedupe + dispatch
//! rules + number + persist, one transaction per case) on SQLite and
//! PostgreSQL, and evaluation over N cases' statistics.
//!
//! ```text
//! cargo bench -p chengyun-services --bench intake
//! CHENGYUN_BENCH_BACKEND=both N=1000000 cargo bench -p chengyun-services --bench intake
//! ```
//!
//! Environment:
//! - `CHENGYUN_BENCH_BACKEND`: `sqlite` (default), `postgres` or `both`;
//!   PostgreSQL at `CHENGYUN_TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`) in a fresh schema,
//!   dropped afterwards.
//! - `CHENGYUN_BENCH_INTAKE`: cases per intake measurement (default 4,000).
//! - `N`: cases whose statistics the evaluation runs over (default 100,000).
//!
//! Prints one line per measurement; it is a plain program (no criterion)
//! so a 1,000,000-case run takes minutes, not hours.

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
use chengyun_store::case::StatRowWrite;
use chengyun_store::{DispatchRule, DynStore, NewStatRow, PgStore, SqliteStore};
use chrono::{Duration, TimeZone, Utc};
use geo_types::{LineString, MultiPolygon, Polygon};
use std::sync::Arc;
use std::time::Instant;

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )])
}

async fn setup(store: DynStore, dir: &std::path::Path) -> CaseService {
    store.migrate().await.expect("migrate");
    let audit = AuditEvent::new(&Actor::system("bench"), "setup", "city", "");
    let area = |code: &str, level, parent: Option<&str>, b| Area {
        code: DivisionCode::parse(code).expect("code"),
        name: code.into(),
        level,
        parent_code: parent.map(|p| DivisionCode::parse(p).expect("code")),
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
    store.upsert_areas(&areas, &audit).await.expect("areas");
    let dept = |code: &str, kind, tier, area: &str| Department {
        code: code.into(),
        name: code.into(),
        kind,
        tier,
        area_code: DivisionCode::parse(area).expect("code"),
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
        .expect("departments");
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
        .expect("rule");
    let city = Arc::new(StaticCity {
        locator: Locator::build(&areas, &[]),
        catalogue: Catalogue::national(),
    });
    let bus: DynBus = Arc::new(InProcessBus::new());
    CaseService::new(store, bus, city, CaseConfig::new(dir))
        .await
        .expect("service")
}

/// The i-th bench case: even ones are IoT alarms registered and dispatched
/// automatically, odd ones public reports; points spread over a 400×400 lattice
/// of ~11 m cells so dedupe finds few neighbours.
fn case(i: u64) -> NewCase {
    let (lon, lat) = (
        117.0001 + (i % 400) as f64 * 0.0001,
        28.2001 + ((i / 400) % 400) as f64 * 0.0001,
    );
    if i.is_multiple_of(2) {
        NewCase {
            description: "井盖倾斜告警".into(),
            matter_code: Some(
                if i.is_multiple_of(4) {
                    "01001"
                } else {
                    "01002"
                }
                .into(),
            ),
            source: Some(Source::IotAlarm),
            lon: Some(lon),
            lat: Some(lat),
            ..Default::default()
        }
    } else {
        NewCase {
            description: "路面破损".into(),
            matter_code: Some("06013".into()),
            source: Some(Source::Public),
            lon: Some(lon),
            lat: Some(lat),
            ..Default::default()
        }
    }
}

fn env_usize(names: &[&str], default: usize) -> usize {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rate(n: usize, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn run(backend: &str, store: DynStore, dir: &std::path::Path) {
    let service = setup(store.clone(), dir).await;
    let system = service.system_actor();
    let n = env_usize(&["CHENGYUN_BENCH_INTAKE"], 4_000);
    let mut seq = 0u64;

    // warm up (prepared statements, caches)
    for _ in 0..200 {
        service
            .intake(case(seq), &system, None)
            .await
            .expect("intake");
        seq += 1;
    }

    let started = Instant::now();
    for _ in 0..n {
        service
            .intake(case(seq), &system, None)
            .await
            .expect("intake");
        seq += 1;
    }
    let d = started.elapsed();
    println!(
        "{backend}: intake, one at a time: {n} cases in {d:.2?} = {:.0} cases/s",
        rate(n, d)
    );

    // Concurrent submitters (an API server's requests): their writes meet
    // in the service's group-commit writer.
    for workers in [4u64, 32] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        let per = n as u64 / workers;
        for w in 0..workers {
            let service = service.clone();
            let system = system.clone();
            let base = seq;
            tasks.push(tokio::spawn(async move {
                for k in 0..per {
                    service
                        .intake(case(base + w * per + k), &system, None)
                        .await
                        .expect("intake");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let done = (per * workers) as usize;
        seq += done as u64;
        let d = started.elapsed();
        println!(
            "{backend}: intake, {workers} concurrent submitters: {done} cases in {d:.2?} = {:.0} cases/s",
            rate(done, d)
        );
    }

    let batch = 100;
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let cases: Vec<NewCase> = (0..batch).map(|k| case(seq + k as u64)).collect();
        seq += batch as u64;
        let out = service
            .intake_many(cases, &system)
            .await
            .expect("intake_many");
        for r in out {
            r.expect("case");
        }
        done += batch;
    }
    let d = started.elapsed();
    println!(
        "{backend}: intake_many, group commit of {batch}: {done} cases in {d:.2?} = {:.0} cases/s",
        rate(done, d)
    );

    // Evaluation over N cases: one statistics row per case carrying its
    // whole life (reported, dispatched, disposed, closed, in time or not),
    // spread over a year, three departments and areas, 50 users.
    let cases = env_usize(&["N", "CHENGYUN_BENCH_CASES"], 100_000);
    let t0 = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("t0");
    let audit = AuditEvent::new(&Actor::system("bench"), "bench", "stat_rows", "");
    let started = Instant::now();
    let chunk = 50_000;
    let mut loaded = 0;
    while loaded < cases {
        let rows: Vec<StatRowWrite> = (loaded..(loaded + chunk).min(cases))
            .map(|i| StatRowWrite {
                case_id: 1_000_000_000 + i as i64,
                case_number: format!("BN{i:010}"),
                row: NewStatRow {
                    stage: Stage::CheckClose,
                    at: t0 + Duration::seconds((i as i64 * 31_536_000) / cases as i64),
                    department_code: Some(["YH-SZJ", "JB-CENTER", "YT-CENTER"][i % 3].into()),
                    user_id: Some((i % 50) as i64 + 1),
                    area_code: Some(["360602001", "360602002", "360603001"][i % 3].into()),
                    counters: StageCounters {
                        reported: 1,
                        registered: 1,
                        registered_in_time: (i % 4 != 0) as u64,
                        needs_dispatch: 1,
                        dispatched: 1,
                        dispatched_in_time: 1,
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
            })
            .collect();
        loaded += rows.len();
        store
            .insert_stat_rows(&rows, &audit)
            .await
            .expect("stat rows");
    }
    let d = started.elapsed();
    println!(
        "{backend}: loaded {cases} cases' statistics rows (+ daily roll-up) in {d:.2?} = {:.0} rows/s",
        rate(cases, d)
    );
    for (label, group) in [
        ("total", EvaluationGroup::Total),
        ("by department", EvaluationGroup::Department),
        (
            "by street",
            EvaluationGroup::Area {
                level: AreaLevel::Street,
            },
        ),
    ] {
        let q = EvaluationQuery {
            group,
            ..Default::default()
        };
        let _ = service.evaluate(&q).await.expect("evaluate");
        let runs = 5;
        let started = Instant::now();
        let mut report = None;
        for _ in 0..runs {
            report = Some(service.evaluate(&q).await.expect("evaluate"));
        }
        let d = started.elapsed() / runs;
        let reported = report.map(|r| r.total.reported).unwrap_or(0);
        println!(
            "{backend}: evaluate {label} over {cases} cases (roll-up): {d:.2?} per evaluation (reported = {reported})"
        );
    }
    let started = Instant::now();
    let raw = store
        .stat_totals_raw(&Default::default(), chengyun_store::StatGroup::Department)
        .await
        .expect("raw");
    println!(
        "{backend}: the same by department from the raw rows (no roll-up): {:.2?} ({} groups)",
        started.elapsed(),
        raw.len()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let which = std::env::var("CHENGYUN_BENCH_BACKEND").unwrap_or_else(|_| "sqlite".into());
    rt.block_on(async {
        if which == "sqlite" || which == "both" {
            let dir = tempfile::tempdir().expect("tempdir");
            let store: DynStore = Arc::new(
                SqliteStore::open(&dir.path().join("bench.db"))
                    .await
                    .expect("sqlite"),
            );
            run("sqlite", store, dir.path()).await;
        }
        if which == "postgres" || which == "both" {
            let url = std::env::var("CHENGYUN_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let schema = format!("cy_bench_{}", uuid::Uuid::new_v4().simple());
            let pg = PgStore::connect_in_schema(&url, &schema)
                .await
                .expect("postgres");
            let dir = tempfile::tempdir().expect("tempdir");
            run("postgres", Arc::new(pg.clone()), dir.path()).await;
            pg.drop_schema().await.expect("drop schema");
        }
    });
}
