//! The store conformance suite: every case is written once against `&dyn Store`
//! and run on both backends by `conformance!` (see `support/mod.rs`).

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::NewUser;
use chengyun_domain::city::{
    Area, Department, DepartmentKind, Position, ResponsibilityGrid, Staff, Tier, UnitGrid,
};
use chengyun_domain::codes::{AreaLevel, ClassCode, DivisionCode, GridCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus, DeptRef};
use chengyun_domain::page::PageRequest;
use chengyun_domain::standard::{ClassKind, StandardClass};
use chengyun_store::{
    AreaQuery, AuditQuery, Backend, ComponentQuery, DepartmentQuery, GridQuery, NewToken, PgStore,
    SqliteStore, StaffQuery, Store, StoreError,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use geo_types::{LineString, MultiPolygon, Polygon};

#[macro_use]
mod support;
use support::DEFAULT_PG_URL;

conformance!(
    migrate_twice_and_ping,
    areas_round_trip_with_geometry,
    area_upsert_replaces,
    areas_page_with_every_filter,
    area_parent_must_exist_and_nothing_is_stored,
    area_batch_may_name_parents_in_any_order,
    grids_round_trip_page_and_check_areas,
    replace_grids_touches_only_the_area,
    big_grid_import,
    responsibility_grids_round_trip,
    departments_filters_and_references,
    staff_filters_and_references,
    components_round_trip_filters_and_count,
    local_classes_upsert,
    users_conflicts_updates_and_pages,
    sessions_lifecycle,
    tokens_lifecycle,
    audit_rows_filters_and_newest_first,
);

// ── fixtures (鹰潭) ───────────────────────────────────────────────────────────

fn dc(s: &str) -> DivisionCode {
    DivisionCode::parse(s).expect("fixture division code")
}

fn actor() -> Actor {
    Actor {
        user_id: Some(7),
        name: "zhang.wei".into(),
        ip: Some("10.36.6.21".into()),
        request_id: Some("req-360602".into()),
    }
}

fn ev(action: &str, kind: &str, target: &str) -> AuditEvent {
    AuditEvent::new(&actor(), action, kind, target).with(serde_json::json!({"source": "test"}))
}

/// A rectangle with a hole, with coordinates to 14 decimals (what a real
/// boundary export carries).
fn yuehu_boundary() -> MultiPolygon<f64> {
    let outer = LineString::from(vec![
        (117.034_567_890_123_45, 28.221_234_567_890_12),
        (117.089_876_543_210_98, 28.221_234_567_890_12),
        (117.089_876_543_210_98, 28.273_456_789_012_34),
        (117.034_567_890_123_45, 28.273_456_789_012_34),
        (117.034_567_890_123_45, 28.221_234_567_890_12),
    ]);
    let hole = LineString::from(vec![
        (117.05, 28.24),
        (117.06, 28.24),
        (117.06, 28.25),
        (117.05, 28.24),
    ]);
    MultiPolygon(vec![Polygon::new(outer, vec![hole])])
}

fn square(lon: f64, lat: f64, size: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(vec![
            (lon, lat),
            (lon + size, lat),
            (lon + size, lat + size),
            (lon, lat + size),
            (lon, lat),
        ]),
        vec![],
    )])
}

fn area(code: &str, name: &str, parent: Option<&str>) -> Area {
    let code = dc(code);
    Area {
        level: code.level(),
        code,
        name: name.into(),
        parent_code: parent.map(dc),
        boundary: None,
    }
}

fn yingtan_areas() -> Vec<Area> {
    let mut yuehu = area("360602", "月湖区", Some("360600"));
    yuehu.boundary = Some(yuehu_boundary());
    vec![
        area("360600", "鹰潭市", None),
        yuehu,
        area("360603", "余江区", Some("360600")),
        area("360681", "贵溪市", Some("360600")),
        area("360602001", "江边街道", Some("360602")),
        area("360602002", "东湖街道", Some("360602")),
        area("360602003", "交通街道", Some("360602")),
        area("360603100", "邓埠镇", Some("360603")),
        area("360681001", "雄石街道", Some("360681")),
        area("360602001001", "江边社区", Some("360602001")),
    ]
}

async fn seed_areas(s: &dyn Store) {
    s.upsert_areas(&yingtan_areas(), &ev("area.import", "area", "鹰潭"))
        .await
        .expect("seed areas");
}

fn grid(code: &str, area: &str, lon: f64, lat: f64) -> UnitGrid {
    UnitGrid {
        code: GridCode::parse(code).expect("fixture grid code"),
        name: Some(format!("网格{}", &code[code.len() - 3..])),
        area_code: dc(area),
        boundary: square(lon, lat, 0.001),
        area_m2: 10_000.5,
    }
}

fn dept(
    code: &str,
    name: &str,
    kind: DepartmentKind,
    tier: Tier,
    area: &str,
    parent: Option<&str>,
) -> Department {
    Department {
        code: code.into(),
        name: name.into(),
        kind,
        tier,
        area_code: dc(area),
        parent_code: parent.map(str::to_string),
    }
}

fn yingtan_departments() -> Vec<Department> {
    use DepartmentKind::*;
    vec![
        // children before parents on purpose: the batch is checked as a whole
        dept(
            "JB-CENTER",
            "江边街道指挥中心",
            CommandCenter,
            Tier::Street,
            "360602001",
            Some("YH-CENTER"),
        ),
        dept(
            "YH-CENTER",
            "月湖区城运中心",
            CommandCenter,
            Tier::District,
            "360602",
            Some("YT-CENTER"),
        ),
        dept(
            "YT-CENTER",
            "鹰潭市城运管理中心",
            CommandCenter,
            Tier::City,
            "360600",
            None,
        ),
        dept(
            "YT-CGJ",
            "城管指挥中心",
            SubCenter,
            Tier::City,
            "360600",
            Some("YT-CENTER"),
        ),
        dept(
            "YH-SZ",
            "月湖区市政所",
            Functional,
            Tier::District,
            "360602",
            Some("YH-CENTER"),
        ),
        dept(
            "YJ-CENTER",
            "余江区城运中心",
            CommandCenter,
            Tier::District,
            "360603",
            Some("YT-CENTER"),
        ),
    ]
}

async fn seed_departments(s: &dyn Store) {
    seed_areas(s).await;
    s.upsert_departments(
        &yingtan_departments(),
        &ev("department.import", "department", "6"),
    )
    .await
    .expect("seed departments");
}

fn staff(code: &str, name: &str, dept: &str, position: Position) -> Staff {
    Staff {
        code: code.into(),
        name: name.into(),
        department_code: dept.into(),
        position,
        phone: Some("0701-6221234".into()),
        username: Some(format!("u{code}")),
    }
}

fn component(id: &str, status: ComponentStatus, grid: Option<&str>) -> Component {
    let id = ComponentId::parse_digits(id).expect("fixture component id");
    Component {
        class_code: ClassCode::parse(id.class_digits()).expect("class digits"),
        id,
        name: "供水井盖".into(),
        owner: Some(DeptRef {
            code: "YT-SW".into(),
            name: Some("鹰潭市水务局".into()),
        }),
        custodian: Some(DeptRef {
            code: "YT-SWJT".into(),
            name: None,
        }),
        maintainer: None,
        grid_code: grid.map(|g| GridCode::parse(g).expect("grid")),
        status,
        lon: 117.069_123_456_789,
        lat: 28.238_765_432_1,
        recorded_on: NaiveDate::from_ymd_opt(2019, 5, 20),
        changed_on: NaiveDate::from_ymd_opt(2024, 11, 3),
        source: Some("普查".into()),
        note: None,
    }
}

fn new_user(username: &str, dept: Option<&str>) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: "王芳".into(),
        department_code: dept.map(str::to_string),
        roles: vec![Position::Dispatcher, Position::Inspector],
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0)
        .single()
        .expect("valid time")
}

/// Every audit row, newest first.
async fn all_audit(s: &dyn Store, q: &AuditQuery) -> Vec<chengyun_domain::audit::AuditRecord> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let p = s.list_audit(q, &page).await.expect("list audit");
        out.extend(p.items);
        match p.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
}

async fn audit_count(s: &dyn Store) -> usize {
    all_audit(s, &AuditQuery::default()).await.len()
}

/// Walks every page of a list with `limit`, checking each page's size.
macro_rules! collect_pages {
    ($limit:expr, |$page:ident| $fetch:expr, $key:expr) => {{
        let mut out = Vec::new();
        let mut $page = PageRequest::first($limit);
        loop {
            let p = $fetch.await.expect("list page");
            assert!(p.items.len() <= $limit as usize);
            if p.next.is_some() {
                assert_eq!(
                    p.items.len(),
                    $limit as usize,
                    "a page before the last is full"
                );
            }
            out.extend(p.items.iter().map($key));
            match p.next {
                Some(n) => $page.after = Some(n),
                None => break,
            }
        }
        out
    }};
}

fn invalid_fields(e: &StoreError) -> Vec<String> {
    match e {
        StoreError::Invalid(v) => v.problems.iter().map(|p| p.to_string()).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn assert_same_geometry(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) {
    assert_eq!(a.0.len(), b.0.len());
    for (pa, pb) in a.0.iter().zip(&b.0) {
        let rings_a: Vec<_> = std::iter::once(pa.exterior())
            .chain(pa.interiors())
            .collect();
        let rings_b: Vec<_> = std::iter::once(pb.exterior())
            .chain(pb.interiors())
            .collect();
        assert_eq!(rings_a.len(), rings_b.len());
        for (ra, rb) in rings_a.iter().zip(&rings_b) {
            assert_eq!(ra.0.len(), rb.0.len());
            for (ca, cb) in ra.0.iter().zip(&rb.0) {
                assert!(
                    (ca.x - cb.x).abs() < 1e-9 && (ca.y - cb.y).abs() < 1e-9,
                    "{ca:?} vs {cb:?}"
                );
            }
        }
    }
}

// ── cases ────────────────────────────────────────────────────────────────────

async fn migrate_twice_and_ping(s: &dyn Store) {
    s.migrate().await.expect("a second migrate is harmless");
    s.migrate().await.expect("and a third");
    s.ping().await.expect("ping");
    assert!(matches!(s.backend(), Backend::Sqlite | Backend::Postgres));
    assert_eq!(s.count_users().await.expect("count"), 0);
}

async fn areas_round_trip_with_geometry(s: &dyn Store) {
    let areas = yingtan_areas();
    let n = s
        .upsert_areas(&areas, &ev("area.import", "area", "鹰潭"))
        .await
        .expect("upsert");
    assert_eq!(n, areas.len() as u64);
    let yuehu = s.area(&dc("360602")).await.expect("read").expect("stored");
    assert_eq!(yuehu.name, "月湖区");
    assert_eq!(yuehu.level, AreaLevel::District);
    assert_eq!(yuehu.parent_code, Some(dc("360600")));
    assert_same_geometry(
        yuehu.boundary.as_ref().expect("boundary kept"),
        &yingtan_areas()[1].boundary.clone().expect("fixture"),
    );
    let jiangbian = s
        .area(&dc("360602001"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(jiangbian.name, "江边街道");
    assert!(jiangbian.boundary.is_none());
    assert!(s.area(&dc("360699")).await.expect("read").is_none());
    let all = s.all_areas().await.expect("all");
    let codes: Vec<String> = all.iter().map(|a| a.code.to_string()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "all_areas is ordered by code");
    assert_eq!(all.len(), areas.len());
    assert!(all.iter().any(|a| a.boundary.is_some()));
}

async fn area_upsert_replaces(s: &dyn Store) {
    seed_areas(s).await;
    let mut yuehu = area("360602", "月湖区（新）", Some("360600"));
    yuehu.boundary = Some(square(117.0, 28.2, 0.05));
    s.upsert_areas(&[yuehu.clone()], &ev("area.update", "area", "360602"))
        .await
        .expect("replace");
    let back = s.area(&dc("360602")).await.expect("read").expect("stored");
    assert_eq!(back, yuehu);
    yuehu.boundary = None;
    s.upsert_areas(&[yuehu.clone()], &ev("area.update", "area", "360602"))
        .await
        .expect("replace");
    assert_eq!(s.area(&dc("360602")).await.expect("read"), Some(yuehu));
    assert_eq!(
        s.all_areas().await.expect("all").len(),
        yingtan_areas().len()
    );
    // a batch naming a code twice keeps the later row
    let twice = [
        area("360603", "余江县", Some("360600")),
        area("360603", "余江区", Some("360600")),
    ];
    assert_eq!(
        s.upsert_areas(&twice, &ev("area.update", "area", "360603"))
            .await
            .expect("upsert"),
        1
    );
    assert_eq!(
        s.area(&dc("360603"))
            .await
            .expect("read")
            .expect("stored")
            .name,
        "余江区"
    );
}

async fn areas_page_with_every_filter(s: &dyn Store) {
    seed_areas(s).await;
    let all: Vec<String> = s
        .all_areas()
        .await
        .expect("all")
        .iter()
        .map(|a| a.code.to_string())
        .collect();
    for limit in [1, 2, 3, 500] {
        let paged = collect_pages!(
            limit,
            |p| s.list_areas(&AreaQuery::default(), &p),
            |a: &Area| a.code.to_string()
        );
        assert_eq!(paged, all, "limit {limit}");
    }
    let q = AreaQuery {
        parent: Some(dc("360602")),
        ..Default::default()
    };
    let streets = collect_pages!(2, |p| s.list_areas(&q, &p), |a: &Area| a.code.to_string());
    assert_eq!(streets, ["360602001", "360602002", "360602003"]);
    let q = AreaQuery {
        level: Some(AreaLevel::Street),
        ..Default::default()
    };
    let streets = collect_pages!(1, |p| s.list_areas(&q, &p), |a: &Area| a.code.to_string());
    assert_eq!(
        streets,
        [
            "360602001",
            "360602002",
            "360602003",
            "360603100",
            "360681001"
        ]
    );
    let q = AreaQuery {
        within: Some("360602".into()),
        ..Default::default()
    };
    let inside = collect_pages!(2, |p| s.list_areas(&q, &p), |a: &Area| a.code.to_string());
    assert_eq!(
        inside,
        [
            "360602",
            "360602001",
            "360602001001",
            "360602002",
            "360602003"
        ]
    );
    let q = AreaQuery {
        within: Some("360602".into()),
        level: Some(AreaLevel::Street),
        parent: Some(dc("360602")),
    };
    let both = collect_pages!(2, |p| s.list_areas(&q, &p), |a: &Area| a.code.to_string());
    assert_eq!(both, ["360602001", "360602002", "360602003"]);
    // wildcard characters are literal in a scope prefix
    let q = AreaQuery {
        within: Some("3606_".into()),
        ..Default::default()
    };
    assert!(
        s.list_areas(&q, &PageRequest::first(50))
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let q = AreaQuery {
        within: Some("%".into()),
        ..Default::default()
    };
    assert!(
        s.list_areas(&q, &PageRequest::first(50))
            .await
            .expect("list")
            .items
            .is_empty()
    );
    // a scope outside the city sees nothing
    let q = AreaQuery {
        within: Some("3607".into()),
        ..Default::default()
    };
    assert!(
        s.list_areas(&q, &PageRequest::first(50))
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

async fn area_parent_must_exist_and_nothing_is_stored(s: &dyn Store) {
    seed_areas(s).await;
    let before = s.all_areas().await.expect("all").len();
    let audits = audit_count(s).await;
    let batch = [
        area("360681002", "东门街道", Some("360681")),
        area("360699001", "某街道", Some("360699")),
        area("360603101", "锦江镇", Some("360603")),
    ];
    let e = s
        .upsert_areas(&batch, &ev("area.import", "area", "3"))
        .await
        .expect_err("missing parent");
    assert_eq!(
        invalid_fields(&e),
        ["[1].parent_code: area 360699 does not exist"]
    );
    assert_eq!(
        s.all_areas().await.expect("all").len(),
        before,
        "nothing stored"
    );
    assert!(s.area(&dc("360681002")).await.expect("read").is_none());
    assert_eq!(
        audit_count(s).await,
        audits,
        "no audit row for a failed write"
    );
}

async fn area_batch_may_name_parents_in_any_order(s: &dyn Store) {
    let mut areas = yingtan_areas();
    areas.reverse();
    s.upsert_areas(&areas, &ev("area.import", "area", "鹰潭"))
        .await
        .expect("children first");
    assert_eq!(s.all_areas().await.expect("all").len(), areas.len());
}

async fn grids_round_trip_page_and_check_areas(s: &dyn Store) {
    seed_areas(s).await;
    let grids = vec![
        grid("360602001001001", "360602001001", 117.06, 28.23),
        grid("360602001001002", "360602001001", 117.061, 28.23),
        grid("360602002000001", "360602002", 117.07, 28.24),
        grid("360603100000001", "360603100", 116.9, 28.2),
        grid("36068100100001", "360681001", 117.2, 28.28),
    ];
    assert_eq!(
        s.upsert_grids(&grids, &ev("grid.import", "grid", "5"))
            .await
            .expect("upsert"),
        5
    );
    let g = s.grid(&grids[0].code).await.expect("read").expect("stored");
    assert_eq!(g.name, grids[0].name);
    assert_eq!(g.area_code, grids[0].area_code);
    assert_eq!(g.area_m2, 10_000.5);
    assert_same_geometry(&g.boundary, &grids[0].boundary);
    assert!(
        s.grid(&GridCode::parse("360602009000001").expect("code"))
            .await
            .expect("read")
            .is_none()
    );
    let all: Vec<String> = s
        .all_grids()
        .await
        .expect("all")
        .iter()
        .map(|g| g.code.to_string())
        .collect();
    let mut expected: Vec<String> = grids.iter().map(|g| g.code.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected);
    let paged = collect_pages!(
        2,
        |p| s.list_grids(&GridQuery::default(), &p),
        |g: &UnitGrid| g.code.to_string()
    );
    assert_eq!(paged, expected);
    let q = GridQuery {
        within: Some("360602".into()),
    };
    let yuehu = collect_pages!(1, |p| s.list_grids(&q, &p), |g: &UnitGrid| g
        .code
        .to_string());
    assert_eq!(
        yuehu,
        ["360602001001001", "360602001001002", "360602002000001"]
    );
    // a grid whose area is not stored fails the batch, naming the row
    let before = s.all_grids().await.expect("all").len();
    let audits = audit_count(s).await;
    let bad = vec![
        grid("360602003000001", "360602003", 117.08, 28.25),
        grid("360602003000002", "360602003", 117.081, 28.25),
        grid("360602999000001", "360602999", 117.09, 28.25),
    ];
    let e = s
        .upsert_grids(&bad, &ev("grid.import", "grid", "3"))
        .await
        .expect_err("unknown area");
    assert_eq!(
        invalid_fields(&e),
        ["[2].area_code: area 360602999 does not exist"]
    );
    assert_eq!(s.all_grids().await.expect("all").len(), before);
    assert_eq!(audit_count(s).await, audits);
    // upsert replaces
    let mut changed = grids[0].clone();
    changed.name = None;
    changed.area_m2 = 9_876.25;
    s.upsert_grids(&[changed.clone()], &ev("grid.update", "grid", "1"))
        .await
        .expect("replace");
    assert_eq!(s.grid(&changed.code).await.expect("read"), Some(changed));
}

async fn replace_grids_touches_only_the_area(s: &dyn Store) {
    seed_areas(s).await;
    let grids = vec![
        grid("360602001001001", "360602001001", 117.06, 28.23),
        grid("360602001000002", "360602001", 117.061, 28.23),
        grid("360602002000001", "360602002", 117.07, 28.24),
        grid("360603100000001", "360603100", 116.9, 28.2),
    ];
    s.upsert_grids(&grids, &ev("grid.import", "grid", "4"))
        .await
        .expect("upsert");
    let fresh = vec![
        grid("360602001000101", "360602001", 117.062, 28.231),
        grid("360602001001101", "360602001001", 117.063, 28.231),
    ];
    let n = s
        .replace_grids(
            &dc("360602001"),
            &fresh,
            &ev("grid.generate", "area", "360602001"),
        )
        .await
        .expect("replace");
    assert_eq!(n, 2);
    let codes: Vec<String> = s
        .all_grids()
        .await
        .expect("all")
        .iter()
        .map(|g| g.code.to_string())
        .collect();
    assert_eq!(
        codes,
        [
            "360602001000101",
            "360602001001101",
            "360602002000001",
            "360603100000001"
        ]
    );
    // a grid outside the replaced area is refused and the old grids stay
    let outside = vec![grid("360603100000009", "360603100", 116.91, 28.2)];
    let e = s
        .replace_grids(
            &dc("360602001"),
            &outside,
            &ev("grid.generate", "area", "360602001"),
        )
        .await
        .expect_err("outside");
    assert_eq!(invalid_fields(&e).len(), 1);
    assert!(
        invalid_fields(&e)[0].starts_with("[0].area_code: area 360603100 lies outside 360602001")
    );
    assert_eq!(s.all_grids().await.expect("all").len(), 4);
    // replacing with nothing empties the area (and its communities) only
    s.replace_grids(
        &dc("360602001"),
        &[],
        &ev("grid.generate", "area", "360602001"),
    )
    .await
    .expect("empty");
    let codes: Vec<String> = s
        .all_grids()
        .await
        .expect("all")
        .iter()
        .map(|g| g.code.to_string())
        .collect();
    assert_eq!(codes, ["360602002000001", "360603100000001"]);
}

async fn big_grid_import(s: &dyn Store) {
    seed_areas(s).await;
    let n: u64 = 100_000;
    let grids: Vec<UnitGrid> = (1..=n)
        .map(|i| {
            let code = GridCode::compose(&dc("360602001"), i).expect("code");
            let (x, y) = ((i % 400) as f64, (i / 400) as f64);
            UnitGrid {
                code,
                name: None,
                area_code: dc("360602001"),
                boundary: square(117.0 + x * 0.001, 28.2 + y * 0.001, 0.001),
                area_m2: 9_800.0 + (i % 7) as f64,
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let stored = s
        .upsert_grids(&grids, &ev("grid.import", "grid", "100000"))
        .await
        .expect("import");
    let took = started.elapsed();
    println!(
        "{}: upserted {n} grids in {:.2?} ({:.0} grids/s)",
        s.backend().as_str(),
        took,
        n as f64 / took.as_secs_f64()
    );
    assert_eq!(stored, n);
    let started = std::time::Instant::now();
    let again = s
        .upsert_grids(&grids, &ev("grid.import", "grid", "100000"))
        .await
        .expect("re-import");
    println!(
        "{}: re-upserted {n} existing grids in {:.2?}",
        s.backend().as_str(),
        started.elapsed()
    );
    assert_eq!(again, n);
    let all = s.all_grids().await.expect("all");
    assert_eq!(all.len() as u64, n);
    assert_eq!(all[12_345].code, grids[12_345].code);
    assert_same_geometry(&all[12_345].boundary, &grids[12_345].boundary);
    let q = GridQuery {
        within: Some("360602001".into()),
    };
    let page = s
        .list_grids(
            &q,
            &PageRequest {
                after: Some(grids[99_998].code.to_string()),
                limit: 10,
            },
        )
        .await
        .expect("last page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].code, grids[99_999].code);
    assert!(page.next.is_none());
}

async fn responsibility_grids_round_trip(s: &dyn Store) {
    let grids: Vec<ResponsibilityGrid> = (1..=5)
        .map(|i| ResponsibilityGrid {
            code: format!("ZR-360602001-{i:02}"),
            name: format!("江边街道责任网格{i}"),
            department_code: Some("JB-CENTER".into()),
            staff_code: (i % 2 == 0).then(|| format!("S{i:03}")),
            boundary: square(117.06 + i as f64 * 0.01, 28.23, 0.01),
        })
        .collect();
    let n = s
        .upsert_responsibility_grids(
            &grids,
            &ev("responsibility.import", "responsibility_grid", "5"),
        )
        .await
        .expect("upsert");
    assert_eq!(n, 5);
    let paged = collect_pages!(
        2,
        |p| s.list_responsibility_grids(&p),
        |g: &ResponsibilityGrid| g.clone()
    );
    assert_eq!(paged.len(), grids.len());
    for (got, want) in paged.iter().zip(&grids) {
        assert_same_geometry(&got.boundary, &want.boundary);
        assert_eq!(
            (&got.code, &got.name, &got.department_code, &got.staff_code),
            (
                &want.code,
                &want.name,
                &want.department_code,
                &want.staff_code
            )
        );
    }
    let mut changed = grids[2].clone();
    changed.staff_code = Some("S100".into());
    s.upsert_responsibility_grids(
        &[changed.clone()],
        &ev("responsibility.update", "responsibility_grid", "1"),
    )
    .await
    .expect("replace");
    let page = s
        .list_responsibility_grids(&PageRequest::first(50))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.items[2].staff_code.as_deref(), Some("S100"));
}

async fn departments_filters_and_references(s: &dyn Store) {
    seed_departments(s).await;
    let d = s
        .department("YH-CENTER")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(d, yingtan_departments()[1]);
    assert!(s.department("NOPE").await.expect("read").is_none());
    let all = collect_pages!(
        2,
        |p| s.list_departments(&DepartmentQuery::default(), &p),
        |d: &Department| d.code.clone()
    );
    assert_eq!(
        all,
        [
            "JB-CENTER",
            "YH-CENTER",
            "YH-SZ",
            "YJ-CENTER",
            "YT-CENTER",
            "YT-CGJ"
        ]
    );
    let q = DepartmentQuery {
        within: Some("360602".into()),
        ..Default::default()
    };
    let yuehu = collect_pages!(1, |p| s.list_departments(&q, &p), |d: &Department| d
        .code
        .clone());
    assert_eq!(yuehu, ["JB-CENTER", "YH-CENTER", "YH-SZ"]);
    let q = DepartmentQuery {
        tier: Some(Tier::District),
        ..Default::default()
    };
    let districts = collect_pages!(2, |p| s.list_departments(&q, &p), |d: &Department| d
        .code
        .clone());
    assert_eq!(districts, ["YH-CENTER", "YH-SZ", "YJ-CENTER"]);
    let q = DepartmentQuery {
        kind: Some(DepartmentKind::CommandCenter),
        tier: Some(Tier::District),
        ..Default::default()
    };
    let centers = collect_pages!(1, |p| s.list_departments(&q, &p), |d: &Department| d
        .code
        .clone());
    assert_eq!(centers, ["YH-CENTER", "YJ-CENTER"]);
    let q = DepartmentQuery {
        parent_code: Some("YT-CENTER".into()),
        ..Default::default()
    };
    let children = collect_pages!(2, |p| s.list_departments(&q, &p), |d: &Department| d
        .code
        .clone());
    assert_eq!(children, ["YH-CENTER", "YJ-CENTER", "YT-CGJ"]);
    // references are checked; nothing of a bad batch is stored
    let audits = audit_count(s).await;
    let bad = vec![
        dept(
            "DH-CENTER",
            "东湖街道指挥中心",
            DepartmentKind::CommandCenter,
            Tier::Street,
            "360602002",
            Some("YH-CENTER"),
        ),
        dept(
            "XX-CENTER",
            "某街道指挥中心",
            DepartmentKind::CommandCenter,
            Tier::Street,
            "360602009",
            Some("YH-CENTER"),
        ),
        dept(
            "YJ-SZ",
            "余江区市政所",
            DepartmentKind::Functional,
            Tier::District,
            "360603",
            Some("YJ-GONE"),
        ),
    ];
    let e = s
        .upsert_departments(&bad, &ev("department.import", "department", "3"))
        .await
        .expect_err("bad refs");
    assert_eq!(
        invalid_fields(&e),
        [
            "[1].area_code: area 360602009 does not exist",
            "[2].parent_code: department YJ-GONE does not exist"
        ]
    );
    assert!(s.department("DH-CENTER").await.expect("read").is_none());
    assert_eq!(audit_count(s).await, audits);
    // upsert replaces
    let mut renamed = yingtan_departments()[4].clone();
    renamed.name = "月湖区市政管理所".into();
    s.upsert_departments(
        &[renamed.clone()],
        &ev("department.update", "department", "YH-SZ"),
    )
    .await
    .expect("replace");
    assert_eq!(s.department("YH-SZ").await.expect("read"), Some(renamed));
}

async fn staff_filters_and_references(s: &dyn Store) {
    seed_departments(s).await;
    let people = vec![
        staff("S001", "李明", "JB-CENTER", Position::Inspector),
        staff("S002", "刘洋", "JB-CENTER", Position::Clerk),
        staff("S003", "陈静", "YH-CENTER", Position::Dispatcher),
        staff("S004", "杨帆", "YJ-CENTER", Position::ShiftLeader),
        staff("S005", "赵磊", "YT-CGJ", Position::Leader),
    ];
    assert_eq!(
        s.upsert_staff(&people, &ev("staff.import", "staff", "5"))
            .await
            .expect("upsert"),
        5
    );
    assert_eq!(
        s.staff("S003").await.expect("read"),
        Some(people[2].clone())
    );
    assert!(s.staff("S999").await.expect("read").is_none());
    let all = collect_pages!(
        2,
        |p| s.list_staff(&StaffQuery::default(), &p),
        |x: &Staff| x.code.clone()
    );
    assert_eq!(all, ["S001", "S002", "S003", "S004", "S005"]);
    let q = StaffQuery {
        department_code: Some("JB-CENTER".into()),
        ..Default::default()
    };
    assert_eq!(
        collect_pages!(1, |p| s.list_staff(&q, &p), |x: &Staff| x.code.clone()),
        ["S001", "S002"]
    );
    let q = StaffQuery {
        within: Some("360602".into()),
        ..Default::default()
    };
    assert_eq!(
        collect_pages!(2, |p| s.list_staff(&q, &p), |x: &Staff| x.code.clone()),
        ["S001", "S002", "S003"]
    );
    let q = StaffQuery {
        within: Some("360602001".into()),
        department_code: Some("YH-CENTER".into()),
    };
    assert!(
        s.list_staff(&q, &PageRequest::first(10))
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let audits = audit_count(s).await;
    let bad = vec![
        staff("S006", "周敏", "YH-SZ", Position::Handler),
        staff("S007", "吴刚", "YH-GONE", Position::Handler),
    ];
    let e = s
        .upsert_staff(&bad, &ev("staff.import", "staff", "2"))
        .await
        .expect_err("bad department");
    assert_eq!(
        invalid_fields(&e),
        ["[1].department_code: department YH-GONE does not exist"]
    );
    assert!(s.staff("S006").await.expect("read").is_none());
    assert_eq!(audit_count(s).await, audits);
    let mut moved = people[0].clone();
    moved.department_code = "YH-SZ".into();
    moved.phone = None;
    s.upsert_staff(&[moved.clone()], &ev("staff.update", "staff", "S001"))
        .await
        .expect("replace");
    assert_eq!(s.staff("S001").await.expect("read"), Some(moved));
}

async fn components_round_trip_filters_and_count(s: &dyn Store) {
    let items = vec![
        component(
            "36060201001000001",
            ComponentStatus::Intact,
            Some("360602001001001"),
        ),
        component(
            "36060201001000002",
            ComponentStatus::Damaged,
            Some("360602001001001"),
        ),
        component("36060201002000001", ComponentStatus::Intact, None),
        component(
            "36060301001000001",
            ComponentStatus::Lost,
            Some("360603100000001"),
        ),
        component(
            "36068101001000001",
            ComponentStatus::Intact,
            Some("36068100100001"),
        ),
    ];
    assert_eq!(
        s.upsert_components(&items, &ev("component.import", "component", "5"))
            .await
            .expect("upsert"),
        5
    );
    let back = s
        .component(&items[0].id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(back, items[0]);
    assert_eq!(
        s.component(&items[2].id).await.expect("read"),
        Some(items[2].clone())
    );
    assert!(
        s.component(&ComponentId::parse_digits("36060201001000099").expect("id"))
            .await
            .expect("read")
            .is_none()
    );
    let cases: Vec<(ComponentQuery, Vec<&str>)> = vec![
        (
            ComponentQuery::default(),
            vec![
                "36060201001000001",
                "36060201001000002",
                "36060201002000001",
                "36060301001000001",
                "36068101001000001",
            ],
        ),
        (
            ComponentQuery {
                class_code: Some("01001".into()),
                ..Default::default()
            },
            vec![
                "36060201001000001",
                "36060201001000002",
                "36060301001000001",
                "36068101001000001",
            ],
        ),
        (
            ComponentQuery {
                status: Some(ComponentStatus::Intact),
                ..Default::default()
            },
            vec![
                "36060201001000001",
                "36060201002000001",
                "36068101001000001",
            ],
        ),
        (
            ComponentQuery {
                grid_code: Some("360602001001001".into()),
                ..Default::default()
            },
            vec!["36060201001000001", "36060201001000002"],
        ),
        (
            ComponentQuery {
                within: Some("360602".into()),
                ..Default::default()
            },
            vec![
                "36060201001000001",
                "36060201001000002",
                "36060201002000001",
            ],
        ),
        (
            ComponentQuery {
                within: Some("360602".into()),
                class_code: Some("01001".into()),
                status: Some(ComponentStatus::Damaged),
                grid_code: Some("360602001001001".into()),
            },
            vec!["36060201001000002"],
        ),
        (
            ComponentQuery {
                within: Some("3607".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (q, expected) in cases {
        let got = collect_pages!(2, |p| s.list_components(&q, &p), |c: &Component| c
            .id
            .to_string());
        assert_eq!(got, expected, "{q:?}");
        assert_eq!(
            s.count_components(&q).await.expect("count"),
            expected.len() as u64,
            "{q:?}"
        );
    }
    let mut fixed = items[1].clone();
    fixed.status = ComponentStatus::Intact;
    fixed.maintainer = Some(DeptRef {
        code: "YH-SZ".into(),
        name: Some("月湖区市政所".into()),
    });
    s.upsert_components(
        &[fixed.clone()],
        &ev("component.update", "component", fixed.id.as_str()),
    )
    .await
    .expect("replace");
    assert_eq!(s.component(&fixed.id).await.expect("read"), Some(fixed));
    let q = ComponentQuery {
        status: Some(ComponentStatus::Damaged),
        ..Default::default()
    };
    assert_eq!(s.count_components(&q).await.expect("count"), 0);
    // a position off the globe is refused with the row named
    let mut bad = items[0].clone();
    bad.lon = 200.0;
    let e = s
        .upsert_components(
            &[items[2].clone(), bad],
            &ev("component.import", "component", "2"),
        )
        .await
        .expect_err("bad lon");
    assert_eq!(invalid_fields(&e).len(), 1);
    assert!(invalid_fields(&e)[0].starts_with("[1].lon:"), "{e}");
}

async fn local_classes_upsert(s: &dyn Store) {
    let class = StandardClass {
        kind: ClassKind::Matter,
        code: ClassCode::parse("01901").expect("code"),
        major_code: "01".into(),
        major_name: "市政公用设施类".into(),
        name: "智能井盖离线".into(),
        local: true,
    };
    s.upsert_local_class(&class, &ev("class.create", "class", "matter 01901"))
        .await
        .expect("upsert");
    let same_code_component = StandardClass {
        kind: ClassKind::Component,
        name: "智能井盖".into(),
        ..class.clone()
    };
    s.upsert_local_class(
        &same_code_component,
        &ev("class.create", "class", "component 01901"),
    )
    .await
    .expect("upsert");
    let mut renamed = class.clone();
    renamed.name = "智能井盖通信中断".into();
    s.upsert_local_class(&renamed, &ev("class.update", "class", "matter 01901"))
        .await
        .expect("replace");
    assert_eq!(
        s.local_classes().await.expect("list"),
        vec![same_code_component, renamed]
    );
    let national = StandardClass {
        local: false,
        ..class
    };
    let e = s
        .upsert_local_class(&national, &ev("class.create", "class", "x"))
        .await
        .expect_err("not local");
    assert!(matches!(e, StoreError::Invalid(_)));
}

async fn users_conflicts_updates_and_pages(s: &dyn Store) {
    seed_departments(s).await;
    let audits = audit_count(s).await;
    let u = s
        .create_user(
            &new_user("wang.fang", Some("YH-CENTER")),
            "$argon2id$hash1",
            &ev("user.create", "user", "wang.fang"),
        )
        .await
        .expect("create");
    assert_eq!(u.username, "wang.fang");
    assert_eq!(u.roles, vec![Position::Dispatcher, Position::Inspector]);
    assert!(!u.disabled);
    assert_eq!(s.user(u.id).await.expect("read"), Some(u.clone()));
    let (by_name, hash) = s
        .user_by_name("wang.fang")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(by_name, u);
    assert_eq!(hash, "$argon2id$hash1");
    assert!(s.user_by_name("nobody").await.expect("read").is_none());
    assert_eq!(audit_count(s).await, audits + 1);
    // a taken username is a conflict and writes nothing
    let e = s
        .create_user(
            &new_user("wang.fang", None),
            "h",
            &ev("user.create", "user", "wang.fang"),
        )
        .await
        .expect_err("taken");
    match &e {
        StoreError::Conflict(m) => assert!(m.contains("wang.fang"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.count_users().await.expect("count"), 1);
    assert_eq!(
        audit_count(s).await,
        audits + 1,
        "no audit row for the failed create"
    );
    // an unknown department is invalid
    let e = s
        .create_user(
            &new_user("li.ming", Some("GONE")),
            "h",
            &ev("user.create", "user", "li.ming"),
        )
        .await
        .expect_err("bad dept");
    assert_eq!(
        invalid_fields(&e),
        ["department_code: department GONE does not exist"]
    );
    // updates
    let other = s
        .create_user(
            &new_user("li.ming", None),
            "h2",
            &ev("user.create", "user", "li.ming"),
        )
        .await
        .expect("create");
    let mut change = new_user("li.ming2", Some("JB-CENTER"));
    change.roles = vec![Position::Admin];
    let updated = s
        .update_user(other.id, &change, &ev("user.update", "user", "li.ming"))
        .await
        .expect("update");
    assert_eq!(updated.username, "li.ming2");
    assert_eq!(updated.roles, vec![Position::Admin]);
    assert_eq!(updated.created_at, other.created_at);
    assert_eq!(s.user(other.id).await.expect("read"), Some(updated));
    let e = s
        .update_user(
            other.id,
            &new_user("wang.fang", None),
            &ev("user.update", "user", "x"),
        )
        .await
        .expect_err("taken");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = s
        .update_user(
            99_999,
            &new_user("ghost", None),
            &ev("user.update", "user", "99999"),
        )
        .await
        .expect_err("missing");
    assert!(
        matches!(e, StoreError::NotFound(ref m) if m == "user 99999"),
        "{e:?}"
    );
    assert!(matches!(
        s.set_password(99_999, "h", &ev("user.password", "user", "99999"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.set_user_disabled(99_999, true, &ev("user.disable", "user", "99999"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // pages by id
    for i in 0..5 {
        s.create_user(
            &new_user(&format!("inspector{i}"), Some("JB-CENTER")),
            "h",
            &ev("user.create", "user", "x"),
        )
        .await
        .expect("create");
    }
    assert_eq!(s.count_users().await.expect("count"), 7);
    let ids = collect_pages!(
        3,
        |p| s.list_users(&p),
        |u: &chengyun_domain::auth::User| u.id
    );
    assert_eq!(ids.len(), 7);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ascending ids: {ids:?}"
    );
    let e = s
        .list_users(&PageRequest {
            after: Some("abc".into()),
            limit: 2,
        })
        .await
        .expect_err("bad cursor");
    assert_eq!(invalid_fields(&e).len(), 1);
}

async fn sessions_lifecycle(s: &dyn Store) {
    let u = s
        .create_user(
            &new_user("chen.jing", None),
            "h",
            &ev("user.create", "user", "chen.jing"),
        )
        .await
        .expect("create");
    let exp = t0() + Duration::hours(8);
    s.create_session(
        "sess-a",
        u.id,
        exp,
        &ev("session.create", "session", "chen.jing"),
    )
    .await
    .expect("session");
    assert_eq!(
        s.session_user("sess-a", t0()).await.expect("read"),
        Some(u.clone())
    );
    assert!(
        s.session_user("sess-a", exp).await.expect("read").is_none(),
        "expired at expires_at"
    );
    assert!(
        s.session_user("sess-a", exp + Duration::seconds(1))
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        s.session_user("unknown", t0())
            .await
            .expect("read")
            .is_none()
    );
    let e = s
        .create_session("sess-a", u.id, exp, &ev("session.create", "session", "x"))
        .await
        .expect_err("dup");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = s
        .create_session(
            "sess-x",
            424_242,
            exp,
            &ev("session.create", "session", "x"),
        )
        .await
        .expect_err("no user");
    assert_eq!(invalid_fields(&e), ["user_id: user 424242 does not exist"]);
    // logout
    s.delete_session("sess-a", &ev("session.delete", "session", "chen.jing"))
        .await
        .expect("logout");
    assert!(
        s.session_user("sess-a", t0())
            .await
            .expect("read")
            .is_none()
    );
    // a new password ends every session
    s.create_session(
        "sess-b",
        u.id,
        exp,
        &ev("session.create", "session", "chen.jing"),
    )
    .await
    .expect("session");
    s.create_session(
        "sess-c",
        u.id,
        exp,
        &ev("session.create", "session", "chen.jing"),
    )
    .await
    .expect("session");
    s.set_password(
        u.id,
        "$argon2id$new",
        &ev("user.password", "user", "chen.jing"),
    )
    .await
    .expect("password");
    assert!(
        s.session_user("sess-b", t0())
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        s.session_user("sess-c", t0())
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(
        s.user_by_name("chen.jing")
            .await
            .expect("read")
            .expect("user")
            .1,
        "$argon2id$new"
    );
    // disabling ends sessions, and they do not come back on re-enable
    s.create_session(
        "sess-d",
        u.id,
        exp,
        &ev("session.create", "session", "chen.jing"),
    )
    .await
    .expect("session");
    s.set_user_disabled(u.id, true, &ev("user.disable", "user", "chen.jing"))
        .await
        .expect("disable");
    assert!(s.user(u.id).await.expect("read").expect("user").disabled);
    assert!(
        s.session_user("sess-d", t0())
            .await
            .expect("read")
            .is_none()
    );
    s.set_user_disabled(u.id, false, &ev("user.enable", "user", "chen.jing"))
        .await
        .expect("enable");
    assert!(
        s.session_user("sess-d", t0())
            .await
            .expect("read")
            .is_none()
    );
    // re-enabling keeps new sessions working
    s.create_session(
        "sess-e",
        u.id,
        exp,
        &ev("session.create", "session", "chen.jing"),
    )
    .await
    .expect("session");
    s.set_user_disabled(u.id, false, &ev("user.enable", "user", "chen.jing"))
        .await
        .expect("enable again");
    assert!(
        s.session_user("sess-e", t0())
            .await
            .expect("read")
            .is_some()
    );
}

async fn tokens_lifecycle(s: &dyn Store) {
    let u = s
        .create_user(
            &new_user("yang.fan", None),
            "h",
            &ev("user.create", "user", "yang.fan"),
        )
        .await
        .expect("create");
    let v = s
        .create_user(
            &new_user("zhao.lei", None),
            "h",
            &ev("user.create", "user", "zhao.lei"),
        )
        .await
        .expect("create");
    let nt = |user_id, hash: &str, expires_at| NewToken {
        user_id,
        name: "12345 热线对接".into(),
        prefix: "cy_ab12".into(),
        hash: hash.into(),
        expires_at,
    };
    let a = s
        .create_token(&nt(u.id, "hash-a", None), &ev("token.create", "token", "a"))
        .await
        .expect("token");
    assert_eq!(a.user_id, u.id);
    assert_eq!(a.name, "12345 热线对接");
    assert!(a.last_used_at.is_none() && a.revoked_at.is_none() && a.expires_at.is_none());
    let b = s
        .create_token(
            &nt(u.id, "hash-b", Some(t0() + Duration::days(30))),
            &ev("token.create", "token", "b"),
        )
        .await
        .expect("token");
    let c = s
        .create_token(&nt(v.id, "hash-c", None), &ev("token.create", "token", "c"))
        .await
        .expect("token");
    let e = s
        .create_token(
            &nt(u.id, "hash-a", None),
            &ev("token.create", "token", "dup"),
        )
        .await
        .expect_err("dup");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = s
        .create_token(
            &nt(777_777, "hash-z", None),
            &ev("token.create", "token", "z"),
        )
        .await
        .expect_err("no user");
    assert_eq!(invalid_fields(&e), ["user_id: user 777777 does not exist"]);
    // use records the time
    let (tok, user) = s
        .token_user("hash-a", t0())
        .await
        .expect("read")
        .expect("valid");
    assert_eq!(tok.id, a.id);
    assert_eq!(tok.last_used_at, Some(t0()));
    assert_eq!(user, u);
    assert_eq!(
        s.token(a.id)
            .await
            .expect("read")
            .expect("stored")
            .last_used_at,
        Some(t0())
    );
    assert!(s.token_user("nope", t0()).await.expect("read").is_none());
    // expiry
    assert!(
        s.token_user("hash-b", t0() + Duration::days(29))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        s.token_user("hash-b", t0() + Duration::days(30))
            .await
            .expect("read")
            .is_none()
    );
    // lists
    let mine: Vec<i64> = s
        .list_tokens(Some(u.id))
        .await
        .expect("list")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(mine, [a.id, b.id]);
    let all: Vec<i64> = s
        .list_tokens(None)
        .await
        .expect("list")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(all, [a.id, b.id, c.id]);
    // revoke: stops working, a second revoke keeps the first time
    s.revoke_token(a.id, &ev("token.revoke", "token", "a"))
        .await
        .expect("revoke");
    assert!(s.token_user("hash-a", t0()).await.expect("read").is_none());
    let revoked_at = s
        .token(a.id)
        .await
        .expect("read")
        .expect("stored")
        .revoked_at
        .expect("revoked");
    s.revoke_token(a.id, &ev("token.revoke", "token", "a"))
        .await
        .expect("revoke again");
    assert_eq!(
        s.token(a.id)
            .await
            .expect("read")
            .expect("stored")
            .revoked_at,
        Some(revoked_at)
    );
    assert!(
        matches!(s.revoke_token(999_999, &ev("token.revoke", "token", "x")).await, Err(StoreError::NotFound(ref m)) if m == "token 999999")
    );
    // a disabled user's tokens stop working, and work again when re-enabled
    assert!(s.token_user("hash-c", t0()).await.expect("read").is_some());
    s.set_user_disabled(v.id, true, &ev("user.disable", "user", "zhao.lei"))
        .await
        .expect("disable");
    assert!(s.token_user("hash-c", t0()).await.expect("read").is_none());
    s.set_user_disabled(v.id, false, &ev("user.enable", "user", "zhao.lei"))
        .await
        .expect("enable");
    assert!(s.token_user("hash-c", t0()).await.expect("read").is_some());
    assert!(s.token(c.id).await.expect("read").is_some());
    assert!(s.token(424_242).await.expect("read").is_none());
}

async fn audit_rows_filters_and_newest_first(s: &dyn Store) {
    let before = Utc::now() - Duration::seconds(1);
    seed_departments(s).await; // area.import, department.import
    let u = s
        .create_user(
            &new_user("zhou.min", None),
            "h",
            &ev("user.create", "user", "zhou.min"),
        )
        .await
        .expect("create");
    s.set_password(u.id, "h2", &ev("user.password", "user", "zhou.min"))
        .await
        .expect("password");
    s.upsert_components(
        &[component(
            "36060201001000001",
            ComponentStatus::Intact,
            None,
        )],
        &ev("component.import", "component", "1"),
    )
    .await
    .expect("component");
    let mut system = AuditEvent::new(&Actor::system("cli:root"), "login.failed", "user", "ghost");
    system.details = serde_json::json!({"reason": "unknown user", "attempt": 3});
    s.record_audit(&system).await.expect("record");

    let all = all_audit(s, &AuditQuery::default()).await;
    let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "login.failed",
            "component.import",
            "user.password",
            "user.create",
            "department.import",
            "area.import"
        ],
        "one row per write, newest first"
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let newest = &all[0];
    assert_eq!(newest.user_id, None);
    assert_eq!(newest.actor, "cli:root");
    assert_eq!(newest.target, "ghost");
    assert_eq!(
        newest.details,
        serde_json::json!({"reason": "unknown user", "attempt": 3})
    );
    let create = &all[3];
    assert_eq!(create.user_id, Some(7));
    assert_eq!(create.actor, "zhang.wei");
    assert_eq!(create.ip.as_deref(), Some("10.36.6.21"));
    assert_eq!(create.request_id.as_deref(), Some("req-360602"));
    assert_eq!(create.target_kind, "user");
    assert_eq!(create.target, "zhou.min");
    assert_eq!(create.details, serde_json::json!({"source": "test"}));
    assert!(create.at >= before && create.at <= Utc::now() + Duration::seconds(1));

    // newest-first paging: pages are contiguous and descending
    let paged = collect_pages!(
        2,
        |p| s.list_audit(&AuditQuery::default(), &p),
        |r: &chengyun_domain::audit::AuditRecord| r.id
    );
    assert_eq!(paged, all.iter().map(|r| r.id).collect::<Vec<_>>());
    // filters
    let q = AuditQuery {
        action_prefix: Some("user.".into()),
        ..Default::default()
    };
    let users = collect_pages!(
        1,
        |p| s.list_audit(&q, &p),
        |r: &chengyun_domain::audit::AuditRecord| r.action.clone()
    );
    assert_eq!(users, ["user.password", "user.create"]);
    let q = AuditQuery {
        target_kind: Some("user".into()),
        ..Default::default()
    };
    assert_eq!(all_audit(s, &q).await.len(), 3);
    let q = AuditQuery {
        user_id: Some(7),
        ..Default::default()
    };
    assert_eq!(all_audit(s, &q).await.len(), 5);
    let q = AuditQuery {
        user_id: Some(7),
        target_kind: Some("user".into()),
        action_prefix: Some("user.c".into()),
        ..Default::default()
    };
    assert_eq!(all_audit(s, &q).await.len(), 1);
    let q = AuditQuery {
        since: Some(before),
        ..Default::default()
    };
    assert_eq!(all_audit(s, &q).await.len(), 6);
    let q = AuditQuery {
        until: Some(before),
        ..Default::default()
    };
    assert!(all_audit(s, &q).await.is_empty());
    let q = AuditQuery {
        since: Some(before),
        until: Some(newest.at),
        ..Default::default()
    };
    assert_eq!(all_audit(s, &q).await.len(), 5, "until is exclusive");
    let q = AuditQuery {
        since: Some(Utc::now() + Duration::hours(1)),
        ..Default::default()
    };
    assert!(all_audit(s, &q).await.is_empty());
    let e = s
        .list_audit(
            &AuditQuery::default(),
            &PageRequest {
                after: Some("x".into()),
                limit: 5,
            },
        )
        .await
        .expect_err("cursor");
    assert_eq!(invalid_fields(&e).len(), 1);
}

// ── backend selection and outage ─────────────────────────────────────────────

#[tokio::test]
async fn open_picks_the_backend_by_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/dir/chengyun.db");
    let s = chengyun_store::open(path.to_str().expect("utf-8 path"))
        .await
        .expect("open path");
    assert_eq!(s.backend(), Backend::Sqlite);
    s.migrate().await.expect("migrate");
    assert!(path.exists(), "file and parent directories created");
    let url = format!("sqlite://{}", dir.path().join("other.db").display());
    let s = chengyun_store::open(&url).await.expect("open sqlite url");
    assert_eq!(s.backend(), Backend::Sqlite);
    s.migrate().await.expect("migrate");
    s.ping().await.expect("ping");
    let mem = SqliteStore::memory().await.expect("memory");
    mem.migrate().await.expect("migrate memory");
    seed_areas(&mem).await;
    assert_eq!(
        mem.all_areas().await.expect("all").len(),
        yingtan_areas().len()
    );
    let pg_url =
        std::env::var("CHENGYUN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let pg = chengyun_store::open(&pg_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {pg_url} must be running for the tests: {e}"));
    assert_eq!(pg.backend(), Backend::Postgres);
    pg.ping().await.expect("ping");
    let e = chengyun_store::open("mysql://root@localhost/chengyun")
        .await
        .err()
        .expect("unknown scheme");
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable_and_names_the_host() {
    // port 1 on localhost: nothing listens there
    let e = PgStore::connect("postgres://postgres@127.0.0.1:1/chengyun")
        .await
        .expect_err("no server");
    match e {
        StoreError::Unavailable(m) => {
            assert!(m.contains("127.0.0.1:1"), "{m}");
            assert!(m.contains("check that PostgreSQL is running"), "{m}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let e = PgStore::connect_in_schema(DEFAULT_PG_URL, "Robert'); DROP")
        .await
        .expect_err("bad schema");
    assert!(matches!(e, StoreError::Invalid(_)));
}
