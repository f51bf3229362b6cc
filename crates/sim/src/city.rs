//! A generated demo city (演示市), deterministic for a seed.
//!
//! Geometry is procedural: a city outline with a wavy radius around a centre
//! near 鹰潭, cut into three districts by angle, each district into streets
//! (an inner ring and an outer ring of sectors), each street into
//! communities, then into ~100 m unit grids. It uses division codes under
//! 369900, a code range no real city holds, so demo data can never be
//! mistaken for a real city's.

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::NewUser;
use chengyun_domain::city::{Area, Department, DepartmentKind, Position, Staff, Tier, UnitGrid};
use chengyun_domain::codes::{AreaLevel, ClassCode, DivisionCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus, DeptRef};
use chengyun_domain::standard::{Catalogue, ClassKind};
use chengyun_geo::Locator;
use chengyun_store::{Store, StoreError};
use geo_types::{LineString, MultiPolygon, Polygon};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// A radius (m) as a function of the angle.
type Radius<'a> = dyn Fn(f64) -> f64 + 'a;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CitySpec {
    pub seed: u64,
    /// Mean radius of the city outline in metres.
    pub radius_m: f64,
    /// Unit grid cell size in metres.
    pub cell_m: f64,
    /// Streets per district: inner ring + outer ring sectors.
    pub inner_streets: usize,
    pub outer_streets: usize,
    /// Communities per street.
    pub communities_per_street: usize,
    pub components: usize,
    /// Password given to every demo user.
    pub password: String,
}

impl Default for CitySpec {
    fn default() -> Self {
        Self {
            seed: 2026,
            radius_m: 3_800.0,
            cell_m: 100.0,
            inner_streets: 4,
            outer_streets: 9,
            communities_per_street: 3,
            components: 10_000,
            password: "chengyun-demo".into(),
        }
    }
}

/// The city code of the demo city.
pub const CITY_CODE: &str = "369900";
/// The centre (lon, lat) of the demo city; the simulator's fleets live around it.
pub const CENTRE: (f64, f64) = (117.045, 28.245);
const DISTRICTS: [(&str, &str); 3] = [
    ("369901", "东湖区"),
    ("369902", "西山区"),
    ("369903", "南河区"),
];
const STREET_NAMES: [&str; 16] = [
    "江边", "交通", "东湖", "梅园", "白露", "四青", "站前", "龙岗", "信江", "滨江", "雄石", "花园",
    "东门", "新城", "湖西", "北山",
];

/// A demo user: username, display name, role, department.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    pub role: Position,
    pub department: String,
}

/// What was generated, for the banner.
#[derive(Debug, Clone, Default)]
pub struct CityReport {
    pub districts: usize,
    pub streets: usize,
    pub communities: usize,
    pub grids: usize,
    pub departments: usize,
    pub components: usize,
    pub users: Vec<DemoUser>,
}

#[derive(Debug, thiserror::Error)]
pub enum CityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Generate(String),
}

/// Metres per degree at the city's latitude.
fn metres_per_degree() -> (f64, f64) {
    let lat = CENTRE.1.to_radians();
    (111_320.0 * lat.cos(), 110_540.0)
}

/// The outline radius (m) at angle `t`: wavy so areas look like real ones.
fn outline_radius(spec: &CitySpec, phase: (f64, f64), t: f64) -> f64 {
    spec.radius_m * (1.0 + 0.14 * (3.0 * t + phase.0).sin() + 0.06 * (7.0 * t + phase.1).sin())
}

fn point(r_m: f64, t: f64) -> (f64, f64) {
    let (mx, my) = metres_per_degree();
    (CENTRE.0 + r_m * t.cos() / mx, CENTRE.1 + r_m * t.sin() / my)
}

/// A sector between angles `a..b` and radii `inner(t)..outer(t)` as a polygon.
fn sector(
    a: f64,
    b: f64,
    inner: &dyn Fn(f64) -> f64,
    outer: &dyn Fn(f64) -> f64,
) -> MultiPolygon<f64> {
    let steps = (((b - a) / (2.0 * PI) * 180.0).ceil() as usize).max(4);
    let mut ring: Vec<(f64, f64)> = Vec::with_capacity(2 * steps + 3);
    for i in 0..=steps {
        let t = a + (b - a) * i as f64 / steps as f64;
        ring.push(point(outer(t), t));
    }
    if inner(a) <= 0.0 && inner(b) <= 0.0 {
        ring.push(CENTRE);
    } else {
        for i in (0..=steps).rev() {
            let t = a + (b - a) * i as f64 / steps as f64;
            ring.push(point(inner(t), t));
        }
    }
    ring.push(ring[0]);
    MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])])
}

/// The areas of the demo city, top down.
pub fn areas(spec: &CitySpec) -> Vec<Area> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let phase = (rng.gen_range(0.0..2.0 * PI), rng.gen_range(0.0..2.0 * PI));
    let outer = move |t: f64| outline_radius(spec, phase, t);
    let code = |s: &str| DivisionCode::parse(s).expect("generated codes are valid");
    let city = code(CITY_CODE);
    let mut out = vec![Area {
        code: city.clone(),
        name: "演示市".into(),
        level: AreaLevel::City,
        parent_code: None,
        boundary: Some(sector(0.0, 2.0 * PI, &|_| 0.0, &outer)),
    }];
    let inner_ratio = 0.45;
    let mut name_i = 0usize;
    for (d, (dcode, dname)) in DISTRICTS.iter().enumerate() {
        let (a, b) = (d as f64 * 2.0 * PI / 3.0, (d + 1) as f64 * 2.0 * PI / 3.0);
        let district = code(dcode);
        out.push(Area {
            code: district.clone(),
            name: (*dname).into(),
            level: AreaLevel::District,
            parent_code: Some(city.clone()),
            boundary: Some(sector(a, b, &|_| 0.0, &outer)),
        });
        let mid = move |t: f64| outer(t) * inner_ratio;
        let rings: [(usize, &Radius, &Radius); 2] = [
            (spec.inner_streets, &|_| 0.0, &mid),
            (spec.outer_streets, &mid, &outer),
        ];
        let mut seq = 0u32;
        for (count, lo, hi) in rings {
            for s in 0..count {
                seq += 1;
                let (sa, sb) = (
                    a + (b - a) * s as f64 / count as f64,
                    a + (b - a) * (s + 1) as f64 / count as f64,
                );
                let street = code(&format!("{dcode}{seq:03}"));
                let suffix = if seq.is_multiple_of(4) {
                    "镇"
                } else {
                    "街道"
                };
                let sname = format!("{}{suffix}", STREET_NAMES[name_i % STREET_NAMES.len()]);
                let sname = if name_i >= STREET_NAMES.len() {
                    format!("{}{}", dname.trim_end_matches(['区', '市']), sname)
                } else {
                    sname
                };
                name_i += 1;
                out.push(Area {
                    code: street.clone(),
                    name: sname.clone(),
                    level: AreaLevel::Street,
                    parent_code: Some(district.clone()),
                    boundary: Some(sector(sa, sb, lo, hi)),
                });
                let n = spec.communities_per_street.max(1);
                for c in 0..n {
                    // Communities split the street radially: near, middle, far.
                    let (f0, f1) = (c as f64 / n as f64, (c + 1) as f64 / n as f64);
                    let clo = move |t: f64| lo(t) + (hi(t) - lo(t)) * f0;
                    let chi = move |t: f64| lo(t) + (hi(t) - lo(t)) * f1;
                    out.push(Area {
                        code: code(&format!("{street}{:03}", c + 1)),
                        name: format!(
                            "{}第{}社区",
                            sname.trim_end_matches(['街', '道', '镇']),
                            ["一", "二", "三", "四", "五"][c % 5]
                        ),
                        level: AreaLevel::Community,
                        parent_code: Some(street.clone()),
                        boundary: Some(sector(sa, sb, &clo, &chi)),
                    });
                }
            }
        }
    }
    out
}

/// The scenario packs' department hints → the demo city's departments
/// (`[iot] departments` of the demo's configuration).
pub const PACK_DEPARTMENTS: [(&str, &str); 10] = [
    ("police", "DEMO-GA"),
    ("community", "DEMO-MZ"),
    ("judicial_office", "DEMO-SF"),
    ("railway_patrol", "DEMO-GA"),
    ("traffic_enforcement", "DEMO-JT"),
    ("market_supervision", "DEMO-SCJ"),
    ("fire_department", "DEMO-XF"),
    ("sanitation", "DEMO-CGJ"),
    ("street_lighting", "DEMO-SZ"),
    ("component_owner", "DEMO-SZ"),
];

/// Departments of the three-tier command system.
pub fn departments(areas: &[Area]) -> Vec<Department> {
    let dc = |code: &str, name: &str, kind, tier, area: &DivisionCode, parent: Option<&str>| {
        Department {
            code: code.into(),
            name: name.into(),
            kind,
            tier,
            area_code: area.clone(),
            parent_code: parent.map(str::to_string),
        }
    };
    let city = DivisionCode::parse(CITY_CODE).expect("valid");
    let mut out = vec![
        dc(
            "DEMO-CENTER",
            "演示市城市运行管理中心",
            DepartmentKind::CommandCenter,
            Tier::City,
            &city,
            None,
        ),
        dc(
            "DEMO-CG",
            "市城管指挥中心",
            DepartmentKind::SubCenter,
            Tier::City,
            &city,
            Some("DEMO-CENTER"),
        ),
        dc(
            "DEMO-110",
            "市110指挥中心",
            DepartmentKind::SubCenter,
            Tier::City,
            &city,
            Some("DEMO-CENTER"),
        ),
        dc(
            "DEMO-SCJG",
            "市市场监管指挥中心",
            DepartmentKind::SubCenter,
            Tier::City,
            &city,
            Some("DEMO-CENTER"),
        ),
    ];
    for (code, name) in [
        ("DEMO-SZ", "市市政公用局"),
        ("DEMO-CGJ", "市城市管理局"),
        ("DEMO-GA", "市公安局"),
        ("DEMO-SCJ", "市市场监督管理局"),
        ("DEMO-XF", "市消防救援支队"),
        ("DEMO-SF", "市司法局"),
        ("DEMO-JT", "市交通运输局"),
        ("DEMO-HB", "市生态环境局"),
        ("DEMO-MZ", "市民政局"),
    ] {
        out.push(dc(
            code,
            name,
            DepartmentKind::Functional,
            Tier::City,
            &city,
            Some("DEMO-CENTER"),
        ));
    }
    for a in areas.iter().filter(|a| a.level == AreaLevel::District) {
        let center = format!("D{}-CENTER", a.code);
        out.push(dc(
            &center,
            &format!("{}城运中心", a.name),
            DepartmentKind::CommandCenter,
            Tier::District,
            &a.code,
            Some("DEMO-CENTER"),
        ));
        out.push(dc(
            &format!("D{}-SZ", a.code),
            &format!("{}市政所", a.name),
            DepartmentKind::Functional,
            Tier::District,
            &a.code,
            Some(&center),
        ));
        out.push(dc(
            &format!("D{}-HW", a.code),
            &format!("{}环卫所", a.name),
            DepartmentKind::Functional,
            Tier::District,
            &a.code,
            Some(&center),
        ));
    }
    for a in areas.iter().filter(|a| a.level == AreaLevel::Street) {
        let parent = format!("D{}-CENTER", &a.code.as_str()[..6]);
        out.push(dc(
            &format!("S{}-CENTER", a.code),
            &format!("{}指挥中心", a.name),
            DepartmentKind::CommandCenter,
            Tier::Street,
            &a.code,
            Some(&parent),
        ));
    }
    out
}

/// One user for every role, in the departments where that role works.
pub fn users(areas: &[Area]) -> Vec<DemoUser> {
    let first_district = areas
        .iter()
        .find(|a| a.level == AreaLevel::District)
        .map(|a| a.code.to_string())
        .unwrap_or_default();
    let first_street = areas
        .iter()
        .find(|a| a.level == AreaLevel::Street)
        .map(|a| a.code.to_string())
        .unwrap_or_default();
    let u = |username: &str, name: &str, role, dept: String| DemoUser {
        username: username.into(),
        display_name: name.into(),
        role,
        department: dept,
    };
    vec![
        u("admin", "系统管理员", Position::Admin, "DEMO-CENTER".into()),
        u("leader", "王市长", Position::Leader, "DEMO-CENTER".into()),
        u("clerk", "张受理", Position::Clerk, "DEMO-CENTER".into()),
        u(
            "shift",
            "李值班长",
            Position::ShiftLeader,
            "DEMO-CENTER".into(),
        ),
        u(
            "dispatcher",
            "赵派遣",
            Position::Dispatcher,
            "DEMO-CENTER".into(),
        ),
        u(
            "district.dispatcher",
            "钱区派遣",
            Position::Dispatcher,
            format!("D{first_district}-CENTER"),
        ),
        u(
            "inspector",
            "孙网格",
            Position::Inspector,
            format!("S{first_street}-CENTER"),
        ),
        u(
            "handler",
            "周处置",
            Position::Handler,
            format!("D{first_district}-SZ"),
        ),
    ]
}

/// Component classes the demo scatters, with their weights.
const COMPONENT_MIX: [(&str, u32); 10] = [
    ("01001", 14), // 供水井盖
    ("01002", 14), // 污水井盖
    ("01003", 12), // 雨水井盖
    ("01004", 8),  // 雨水箅子
    ("01037", 18), // 路灯
    ("02001", 6),
    ("04001", 6),
    ("05001", 6),
    ("06001", 8),
    ("03001", 8),
];

/// Scatters `spec.components` components over the city, each in its grid.
pub fn components(
    spec: &CitySpec,
    areas: &[Area],
    locator: &Locator,
    catalogue: &Catalogue,
) -> Vec<Component> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5eed);
    let mix: Vec<(ClassCode, String, u32)> = COMPONENT_MIX
        .iter()
        .filter_map(|(c, w)| {
            let class = catalogue.get(ClassKind::Component, &ClassCode::parse(c).ok()?)?;
            Some((class.code.clone(), class.name.clone(), *w))
        })
        .collect();
    let total: u32 = mix.iter().map(|m| m.2).sum();
    let statuses = [
        ComponentStatus::Intact,
        ComponentStatus::Intact,
        ComponentStatus::Intact,
        ComponentStatus::Intact,
        ComponentStatus::Damaged,
        ComponentStatus::Lost,
    ];
    let city = areas.iter().find(|a| a.level == AreaLevel::City);
    let Some(bbox) = city.and_then(|c| c.boundary.as_ref()).and_then(bounding) else {
        return Vec::new();
    };
    let mut seq = std::collections::HashMap::<(String, ClassCode), u32>::new();
    let mut out = Vec::with_capacity(spec.components);
    let mut attempts = 0usize;
    while out.len() < spec.components && attempts < spec.components * 20 {
        attempts += 1;
        let lon = rng.gen_range(bbox.0..bbox.2);
        let lat = rng.gen_range(bbox.1..bbox.3);
        let hit = locator.locate(lon, lat);
        let (Some(district), Some(grid)) = (hit.district, hit.grid) else {
            continue;
        };
        let mut pick = rng.gen_range(0..total.max(1));
        let Some((class, name, _)) = mix.iter().find(|m| {
            if pick < m.2 {
                true
            } else {
                pick -= m.2;
                false
            }
        }) else {
            continue;
        };
        let n = seq
            .entry((district.code.clone(), class.clone()))
            .or_insert(0);
        *n += 1;
        let Ok(division) = DivisionCode::parse(&district.code) else {
            continue;
        };
        let Ok(id) = ComponentId::compose(&division, class, *n) else {
            continue;
        };
        let dept = |suffix: &str, label: &str| DeptRef {
            code: format!("D{}-{suffix}", district.code),
            name: Some(format!("{}{label}", district.name)),
        };
        out.push(Component {
            id,
            class_code: class.clone(),
            name: name.clone(),
            owner: Some(DeptRef {
                code: "DEMO-SZ".into(),
                name: Some("市市政公用局".into()),
            }),
            custodian: Some(dept("SZ", "市政所")),
            maintainer: Some(dept("HW", "环卫所")),
            grid_code: chengyun_domain::codes::GridCode::parse(&grid.code).ok(),
            status: statuses[rng.gen_range(0..statuses.len())],
            lon,
            lat,
            recorded_on: chrono::NaiveDate::from_ymd_opt(
                2020 + rng.gen_range(0..5),
                rng.gen_range(1..=12),
                rng.gen_range(1..=28),
            ),
            changed_on: None,
            source: Some("演示数据".into()),
            note: None,
        });
    }
    out
}

fn bounding(mp: &MultiPolygon<f64>) -> Option<(f64, f64, f64, f64)> {
    let mut b: Option<(f64, f64, f64, f64)> = None;
    for p in &mp.0 {
        for c in p.exterior().0.iter() {
            b = Some(match b {
                None => (c.x, c.y, c.x, c.y),
                Some((a, bb, cc, d)) => (a.min(c.x), bb.min(c.y), cc.max(c.x), d.max(c.y)),
            });
        }
    }
    b
}

/// Generates the whole demo city into `store`, which should be empty.
/// `progress` is told each step's name.
pub async fn generate(
    store: &dyn Store,
    spec: &CitySpec,
    progress: &dyn Fn(&str),
) -> Result<CityReport, CityError> {
    let actor = Actor::system("demo");
    let ev = |what: &str, n: usize| {
        AuditEvent::new(
            &actor,
            &format!("{what}.import"),
            what,
            format!("{n} demo rows"),
        )
        .with(serde_json::json!({"count": n, "demo": true}))
    };
    progress("areas");
    let areas = areas(spec);
    store.upsert_areas(&areas, &ev("area", areas.len())).await?;

    progress("unit grids");
    let mut grids: Vec<UnitGrid> = Vec::new();
    for d in areas.iter().filter(|a| a.level == AreaLevel::District) {
        let subs: Vec<Area> = areas
            .iter()
            .filter(|a| a.level == AreaLevel::Community && d.code.contains(&a.code))
            .cloned()
            .collect();
        let g = chengyun_geo::grid::generate(d, &subs, spec.cell_m)
            .map_err(|e| CityError::Generate(e.to_string()))?;
        grids.extend(g);
    }
    store.upsert_grids(&grids, &ev("grid", grids.len())).await?;

    progress("departments and staff");
    let departments = departments(&areas);
    store
        .upsert_departments(&departments, &ev("department", departments.len()))
        .await?;
    let users = users(&areas);
    let staff: Vec<Staff> = users
        .iter()
        .enumerate()
        .map(|(i, u)| Staff {
            code: format!("DEMO{:04}", i + 1),
            name: u.display_name.clone(),
            department_code: u.department.clone(),
            position: u.role,
            phone: Some(format!("1390701{:04}", i + 1)),
            username: Some(u.username.clone()),
        })
        .collect();
    store
        .upsert_staff(&staff, &ev("staff", staff.len()))
        .await?;

    progress("users");
    for u in &users {
        if store.user_by_name(&u.username).await?.is_some() {
            continue;
        }
        let new = NewUser {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            department_code: Some(u.department.clone()),
            roles: vec![u.role],
        };
        chengyun_services::auth::create_user(store, &new, &spec.password, &actor)
            .await
            .map_err(|e| CityError::Generate(format!("user {}: {e}", u.username)))?;
    }

    progress("components");
    let locator = Locator::build(&areas, &grids);
    let components = components(spec, &areas, &locator, &Catalogue::national());
    for chunk in components.chunks(5_000) {
        store
            .upsert_components(chunk, &ev("component", chunk.len()))
            .await?;
    }

    Ok(CityReport {
        districts: areas
            .iter()
            .filter(|a| a.level == AreaLevel::District)
            .count(),
        streets: areas
            .iter()
            .filter(|a| a.level == AreaLevel::Street)
            .count(),
        communities: areas
            .iter()
            .filter(|a| a.level == AreaLevel::Community)
            .count(),
        grids: grids.len(),
        departments: departments.len(),
        components: components.len(),
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_city_has_the_promised_shape() {
        let spec = CitySpec::default();
        let a = areas(&spec);
        assert_eq!(
            a.iter().filter(|x| x.level == AreaLevel::District).count(),
            3
        );
        let streets = a.iter().filter(|x| x.level == AreaLevel::Street).count();
        assert!((36..=45).contains(&streets), "{streets}");
        // Every code is unique and lies inside its parent.
        let mut codes: Vec<_> = a.iter().map(|x| x.code.clone()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), a.len());
        for x in &a {
            if let Some(p) = &x.parent_code {
                assert!(p.contains(&x.code), "{} under {p}", x.code);
            }
        }
        // Same seed, same city.
        assert_eq!(areas(&spec), a);
    }

    #[test]
    fn districts_tile_the_city_and_grids_come_out_in_thousands() {
        let spec = CitySpec::default();
        let a = areas(&spec);
        let city = chengyun_geo::grid::geodesic_area_m2(a[0].boundary.as_ref().unwrap());
        let districts: f64 = a
            .iter()
            .filter(|x| x.level == AreaLevel::District)
            .map(|d| chengyun_geo::grid::geodesic_area_m2(d.boundary.as_ref().unwrap()))
            .sum();
        assert!(
            (districts / city - 1.0).abs() < 0.01,
            "{districts} vs {city}"
        );
        let cells = city / (spec.cell_m * spec.cell_m);
        assert!((2_000.0..10_000.0).contains(&cells), "{cells}");
    }

    #[test]
    fn every_role_has_a_user_in_a_real_department() {
        let a = areas(&CitySpec::default());
        let deps = departments(&a);
        for u in users(&a) {
            assert!(
                deps.iter().any(|d| d.code == u.department),
                "{}",
                u.department
            );
        }
        for p in Position::ALL {
            assert!(users(&a).iter().any(|u| u.role == p), "{p:?}");
        }
        for d in &deps {
            d.validate().unwrap();
        }
    }
}
