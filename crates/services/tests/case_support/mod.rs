//! A small realistic 鹰潭 for the case tests: the city 360600, 月湖区 360602
//! and its street 360602001 with square boundaries; command centers at the
//! three tiers, a functional department; a user per position; a store on
//! SQLite (temp file) or PostgreSQL (a fresh schema, dropped afterwards).
#![allow(dead_code)]

use chengyun_bus::{DynBus, InProcessBus};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::{NewUser, User};
use chengyun_domain::city::{Area, Department, DepartmentKind, Position, Tier};
use chengyun_domain::codes::{AreaLevel, DivisionCode};
use chengyun_domain::standard::Catalogue;
use chengyun_geo::Locator;
use chengyun_services::case::{CaseActor, CaseConfig, CaseService, StaticCity};
use chengyun_store::{DynStore, PgStore, SqliteStore, Store};
use chrono::{DateTime, TimeZone, Utc};
use geo_types::{LineString, MultiPolygon, Polygon};
use std::sync::{Arc, Mutex};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Inside street 360602001.
pub const IN_STREET: (f64, f64) = (117.02, 28.22);

pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(PgStore),
}

pub struct World {
    pub store: DynStore,
    pub bus: DynBus,
    pub city: Arc<StaticCity>,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub clock: Arc<Mutex<DateTime<Utc>>>,
    pub service: CaseService,
    pub users: Vec<(String, User)>,
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )])
}

fn area(
    code: &str,
    name: &str,
    level: AreaLevel,
    parent: Option<&str>,
    b: MultiPolygon<f64>,
) -> Area {
    Area {
        code: DivisionCode::parse(code).unwrap(),
        name: name.into(),
        level,
        parent_code: parent.map(|p| DivisionCode::parse(p).unwrap()),
        boundary: Some(b),
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
        area_code: DivisionCode::parse(area).unwrap(),
        parent_code: parent.map(str::to_string),
    }
}

/// 10:00 on Tuesday 10 March 2026 in Yingtan.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

pub async fn sqlite() -> World {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("db/chengyun.db"))
        .await
        .unwrap();
    let store: DynStore = Arc::new(s);
    store.migrate().await.unwrap();
    let db = tempfile::tempdir().unwrap();
    build(store, Backend::Sqlite(db), dir).await
}

pub async fn postgres() -> World {
    let url = std::env::var("CHENGYUN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let schema = format!("cy_t_{}", uuid::Uuid::new_v4().simple());
    let pg = PgStore::connect_in_schema(&url, &schema).await.unwrap_or_else(|e| {
        panic!("the PostgreSQL case tests need a server at {url} where the user may create schemas: {e}")
    });
    pg.migrate().await.unwrap();
    let store: DynStore = Arc::new(pg.clone());
    build(store, Backend::Postgres(pg), tempfile::tempdir().unwrap()).await
}

impl World {
    pub async fn finish(self) {
        if let Backend::Postgres(pg) = self.backend {
            drop(self.service);
            drop(self.store);
            pg.drop_schema().await.unwrap();
        }
    }

    pub fn user(&self, name: &str) -> &User {
        &self.users.iter().find(|(n, _)| n == name).unwrap().1
    }

    pub fn actor(&self, name: &str) -> CaseActor {
        let u = self.user(name);
        self.service.actor(
            u,
            Actor {
                user_id: Some(u.id),
                name: u.username.clone(),
                ip: None,
                request_id: None,
            },
        )
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        *self.clock.lock().unwrap() = t;
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().unwrap()
    }

    pub fn advance(&self, d: chrono::Duration) {
        let t = self.now() + d;
        self.set_now(t);
    }

    /// A second service over the same store and attachment directory (a restart).
    pub async fn restart(&self) -> CaseService {
        let clock = self.clock.clone();
        CaseService::new(
            self.store.clone(),
            self.bus.clone(),
            self.city.clone(),
            CaseConfig::new(self.dir.path()),
        )
        .await
        .unwrap()
        .with_clock(move || *clock.lock().unwrap())
    }
}

async fn build(store: DynStore, backend: Backend, dir: tempfile::TempDir) -> World {
    let audit = AuditEvent::new(&Actor::system("test"), "setup", "city", "yingtan");
    let areas = vec![
        area(
            "360600",
            "鹰潭市",
            AreaLevel::City,
            None,
            square(116.9, 28.0, 117.3, 28.4),
        ),
        area(
            "360602",
            "月湖区",
            AreaLevel::District,
            Some("360600"),
            square(117.0, 28.2, 117.1, 28.3),
        ),
        area(
            "360602001",
            "江边街道",
            AreaLevel::Street,
            Some("360602"),
            square(117.0, 28.2, 117.05, 28.25),
        ),
    ];
    store.upsert_areas(&areas, &audit).await.unwrap();
    let depts = vec![
        dept(
            "YT-CENTER",
            "鹰潭市城运中心",
            DepartmentKind::CommandCenter,
            Tier::City,
            "360600",
            None,
        ),
        dept(
            "YH-CENTER",
            "月湖区城运中心",
            DepartmentKind::CommandCenter,
            Tier::District,
            "360602",
            Some("YT-CENTER"),
        ),
        dept(
            "JB-CENTER",
            "江边街道指挥中心",
            DepartmentKind::CommandCenter,
            Tier::Street,
            "360602001",
            Some("YH-CENTER"),
        ),
        dept(
            "YH-CGJ",
            "月湖区城管局",
            DepartmentKind::Functional,
            Tier::District,
            "360602",
            Some("YH-CENTER"),
        ),
        dept(
            "YH-SZJ",
            "月湖区市政局",
            DepartmentKind::Functional,
            Tier::District,
            "360602",
            Some("YH-CENTER"),
        ),
    ];
    store.upsert_departments(&depts, &audit).await.unwrap();
    let people: [(&str, &str, Position); 8] = [
        ("clerk", "JB-CENTER", Position::Clerk),
        ("leader_shift", "JB-CENTER", Position::ShiftLeader),
        ("dispatcher", "JB-CENTER", Position::Dispatcher),
        ("inspector", "JB-CENTER", Position::Inspector),
        ("handler", "YH-CGJ", Position::Handler),
        ("handler2", "YH-SZJ", Position::Handler),
        ("boss", "YH-CENTER", Position::Leader),
        ("city_boss", "YT-CENTER", Position::Leader),
    ];
    let mut users = Vec::new();
    for (name, d, p) in people {
        let u = store
            .create_user(
                &NewUser {
                    username: name.into(),
                    display_name: name.into(),
                    department_code: Some(d.into()),
                    roles: vec![p],
                },
                "x",
                &audit,
            )
            .await
            .unwrap();
        users.push((name.to_string(), u));
    }
    let locator = Locator::build(&areas, &[]);
    let city = Arc::new(StaticCity {
        locator,
        catalogue: Catalogue::national(),
    });
    let bus: DynBus = Arc::new(InProcessBus::new());
    let clock = Arc::new(Mutex::new(t0()));
    let c = clock.clone();
    let service = CaseService::new(
        store.clone(),
        bus.clone(),
        city.clone(),
        CaseConfig::new(dir.path()),
    )
    .await
    .unwrap()
    .with_clock(move || *c.lock().unwrap());
    World {
        store,
        bus,
        city,
        backend,
        dir,
        clock,
        service,
        users,
    }
}

/// Runs an async test body on both backends.
#[macro_export]
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let w = super::case_support::sqlite().await;
                    super::$case(&w).await;
                    w.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let w = super::case_support::postgres().await;
                    super::$case(&w).await;
                    w.finish().await;
                }
            )*
        }
    };
}
