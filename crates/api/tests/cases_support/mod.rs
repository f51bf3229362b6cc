//! A small 鹰潭 for the case-loop HTTP tests: the real router over SQLite
//! (temp dir) or PostgreSQL (a fresh schema, dropped afterwards); two
//! districts, a street, command centers at three tiers, a functional
//! department; one user per position, each logged in.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chengyun_api::{ApiConfig, AppState};
use chengyun_bus::{DynBus, InProcessBus};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::NewUser;
use chengyun_domain::city::{Area, Department, Position};
use chengyun_services::case::CaseConfig;
use chengyun_store::{DynStore, PgStore, SqliteStore, Store};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

pub const PW: &str = "case test password 1";
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Inside street 360602001 (月湖区).
pub const IN_STREET: (f64, f64) = (117.02, 28.22);
/// Inside 余江区 360603.
pub const IN_YJ: (f64, f64) = (117.2, 28.1);

pub struct World {
    pub app: Router,
    pub state: AppState,
    pub store: DynStore,
    pub bus: DynBus,
    pub clock: Option<Arc<Mutex<DateTime<Utc>>>>,
    pub auth: HashMap<String, String>,
    pub ids: HashMap<String, i64>,
    pub pg: Option<PgStore>,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

/// 10:00 on Tuesday 10 March 2026 in Yingtan.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})
}

fn area(code: &str, name: &str, parent: Option<&str>, b: Value) -> Area {
    serde_json::from_value(json!({
        "code": code, "name": name,
        "level": chengyun_domain::codes::DivisionCode::parse(code).unwrap().level(),
        "parent_code": parent, "boundary": b,
    }))
    .unwrap()
}

fn dept(
    code: &str,
    name: &str,
    kind: &str,
    tier: &str,
    area: &str,
    parent: Option<&str>,
) -> Department {
    serde_json::from_value(json!({
        "code": code, "name": name, "kind": kind, "tier": tier,
        "area_code": area, "parent_code": parent,
    }))
    .unwrap()
}

pub enum Backend {
    Sqlite,
    Postgres,
}

impl World {
    /// A world on `backend`; with `fixed_clock` the case service reads the
    /// time from [`World::set_now`] (starting at [`t0`]), else the real time.
    pub async fn new(backend: Backend, fixed_clock: bool) -> World {
        Self::with_bus(backend, fixed_clock, Arc::new(InProcessBus::new())).await
    }

    /// [`World::new`] publishing on `bus` (e.g. a NATS bus shared with
    /// [`World::another_node`]).
    pub async fn with_bus(backend: Backend, fixed_clock: bool, bus: DynBus) -> World {
        let dir = tempfile::tempdir().unwrap();
        let (store, pg): (DynStore, Option<PgStore>) = match backend {
            Backend::Sqlite => {
                let s = SqliteStore::open(&dir.path().join("db/chengyun.db"))
                    .await
                    .unwrap();
                s.migrate().await.unwrap();
                (Arc::new(s), None)
            }
            Backend::Postgres => {
                let url = std::env::var("CHENGYUN_TEST_DATABASE_URL")
                    .unwrap_or_else(|_| DEFAULT_PG_URL.into());
                let schema = format!("cy_api_{}", uuid::Uuid::new_v4().simple());
                let pg = PgStore::connect_in_schema(&url, &schema).await.unwrap_or_else(|e| {
                    panic!("the PostgreSQL case tests need a server at {url} where the user may create schemas: {e}")
                });
                pg.migrate().await.unwrap();
                (Arc::new(pg.clone()), Some(pg))
            }
        };
        let ids = seed(&store).await;
        let clock = fixed_clock.then(|| Arc::new(Mutex::new(t0())));
        let mut w = Self::node(store, pg, bus, clock, dir, ids).await;
        for name in [
            "admin",
            "clerk",
            "leader_shift",
            "dispatcher",
            "inspector",
            "handler",
            "boss",
            "yj_dispatcher",
        ] {
            let r = w
                .call(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(json!({"username": name, "password": PW})),
                    &[],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "login {name}: {}", r.text);
            let cookie = r.headers["set-cookie"].to_str().unwrap();
            w.auth.insert(
                name.to_string(),
                cookie.split(';').next().unwrap().to_string(),
            );
        }
        w
    }

    /// A second server node over the same database, with its own state,
    /// router and `bus`; the sessions live in the database, so everyone is
    /// logged in there too. Its `finish` leaves the database to this world's.
    pub async fn another_node(&self, bus: DynBus) -> World {
        let dir = tempfile::tempdir().unwrap();
        let (store, clock, ids) = (self.store.clone(), self.clock.clone(), self.ids.clone());
        let mut w = Self::node(store, None, bus, clock, dir, ids).await;
        w.auth = self.auth.clone();
        w
    }

    async fn node(
        store: DynStore,
        pg: Option<PgStore>,
        bus: DynBus,
        clock: Option<Arc<Mutex<DateTime<Utc>>>>,
        dir: tempfile::TempDir,
        ids: HashMap<String, i64>,
    ) -> World {
        let config = ApiConfig {
            data_dir: dir.path().to_path_buf(),
            max_attachment_bytes: 64 * 1024,
            ..ApiConfig::default()
        };
        let mut case_config = CaseConfig::new(dir.path());
        case_config.max_attachment_bytes = 64 * 1024;
        let c = clock.clone();
        let state =
            AppState::build(
                store.clone(),
                config,
                bus.clone(),
                case_config,
                move |s| match c {
                    Some(c) => s.with_clock(move || *c.lock().unwrap()),
                    None => s,
                },
            )
            .await
            .unwrap();
        let app = chengyun_api::router(state.clone());
        World {
            app,
            state,
            store,
            bus,
            clock,
            auth: HashMap::new(),
            ids,
            pg,
            _dir: dir,
        }
    }

    pub async fn finish(self) {
        if let Some(pg) = self.pg {
            drop(self.app);
            drop(self.state);
            drop(self.store);
            pg.drop_schema().await.unwrap();
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.clock {
            Some(c) => *c.lock().unwrap(),
            None => Utc::now(),
        }
    }

    pub fn advance(&self, d: chrono::Duration) {
        let c = self.clock.as_ref().expect("a fixed clock");
        let mut g = c.lock().unwrap();
        *g += d;
    }

    pub fn id(&self, user: &str) -> i64 {
        self.ids[user]
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        json_body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = json_body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.raw(method, path, who, body, headers).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(who) = who {
            req = req.header(
                "cookie",
                self.auth
                    .get(who)
                    .unwrap_or_else(|| panic!("no user {who}")),
            );
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some((ct, bytes)) => {
                if !ct.is_empty() {
                    req = req.header("content-type", ct);
                }
                req.body(Body::from(bytes)).unwrap()
            }
            None => req.body(Body::empty()).unwrap(),
        };
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
            bytes,
        }
    }

    pub async fn get(&self, path: &str, who: &str) -> Resp {
        self.call(Method::GET, path, Some(who), None, &[]).await
    }

    pub async fn post(&self, path: &str, who: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(who), Some(body), &[])
            .await
    }

    /// An action that must succeed; answers the CaseView.
    pub async fn act(&self, id: i64, who: &str, action: Value) -> Value {
        let r = self
            .post(&format!("/api/v1/cases/{id}/actions"), who, action.clone())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{who} {action}: {}", r.text);
        r.body
    }

    /// An action that must be refused with 409 `refused_action`; answers the details.
    pub async fn refused(&self, id: i64, who: &str, action: Value) -> Value {
        let r = self
            .post(&format!("/api/v1/cases/{id}/actions"), who, action.clone())
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{who} {action}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "refused_action", "{}", r.text);
        r.body["error"]["details"].clone()
    }

    /// A public report of `matter` at `at`.
    pub async fn report(&self, who: &str, matter: &str, at: (f64, f64)) -> Value {
        let r = self
            .post("/api/v1/cases", who, json!({
                "title": "井盖缺失", "description": "人民路口供水井盖不见了",
                "matter_code": matter, "source": "public", "urgency": "urgent",
                "lon": at.0, "lat": at.1, "reporter_name": "张三", "reporter_phone": "13800000000",
            }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }
}

pub fn state(v: &Value) -> &str {
    v["case"]["snapshot"]["state"].as_str().unwrap()
}

pub fn allowed(v: &Value) -> Vec<String> {
    v["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

async fn seed(store: &DynStore) -> HashMap<String, i64> {
    let actor = Actor::system("test");
    let ev = |a: &str| AuditEvent::new(&actor, a, "seed", "seed");
    let areas = vec![
        area("360600", "鹰潭市", None, square(116.9, 28.0, 117.3, 28.4)),
        area(
            "360602",
            "月湖区",
            Some("360600"),
            square(117.0, 28.2, 117.1, 28.3),
        ),
        area(
            "360602001",
            "江边街道",
            Some("360602"),
            square(117.0, 28.2, 117.05, 28.25),
        ),
        area(
            "360603",
            "余江区",
            Some("360600"),
            square(117.15, 28.05, 117.25, 28.15),
        ),
    ];
    store.upsert_areas(&areas, &ev("area.seed")).await.unwrap();
    let departments = vec![
        dept(
            "YT-CENTER",
            "鹰潭市城运中心",
            "command_center",
            "city",
            "360600",
            None,
        ),
        dept(
            "YH-CENTER",
            "月湖区城运中心",
            "command_center",
            "district",
            "360602",
            Some("YT-CENTER"),
        ),
        dept(
            "YJ-CENTER",
            "余江区城运中心",
            "command_center",
            "district",
            "360603",
            Some("YT-CENTER"),
        ),
        dept(
            "JB-CENTER",
            "江边街道指挥中心",
            "command_center",
            "street",
            "360602001",
            Some("YH-CENTER"),
        ),
        dept(
            "YH-CGJ",
            "月湖区城管局",
            "functional",
            "district",
            "360602",
            Some("YH-CENTER"),
        ),
    ];
    store
        .upsert_departments(&departments, &ev("department.seed"))
        .await
        .unwrap();
    chengyun_services::auth::ensure_admin(store.as_ref(), Some(PW.to_string()))
        .await
        .unwrap();
    let mut ids = HashMap::new();
    let (admin, _) = store.user_by_name("admin").await.unwrap().unwrap();
    ids.insert("admin".to_string(), admin.id);
    let people: [(&str, &str, Position); 7] = [
        ("clerk", "JB-CENTER", Position::Clerk),
        ("leader_shift", "JB-CENTER", Position::ShiftLeader),
        ("dispatcher", "JB-CENTER", Position::Dispatcher),
        ("inspector", "JB-CENTER", Position::Inspector),
        ("handler", "YH-CGJ", Position::Handler),
        ("boss", "YH-CENTER", Position::Leader),
        ("yj_dispatcher", "YJ-CENTER", Position::Dispatcher),
    ];
    for (name, d, p) in people {
        let u = chengyun_services::auth::create_user(
            store.as_ref(),
            &NewUser {
                username: name.into(),
                display_name: name.into(),
                department_code: Some(d.into()),
                roles: vec![p],
            },
            PW,
            &actor,
        )
        .await
        .unwrap();
        ids.insert(name.to_string(), u.id);
    }
    ids
}
