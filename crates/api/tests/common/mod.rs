//! A test application: the real router over an SQLite store in a temp dir,
//! seeded with a small city (鹰潭市, two districts, two streets), three
//! departments, an admin and a district dispatcher.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chengyun_api::{ApiConfig, AppState};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::NewUser;
use chengyun_domain::city::{Area, Department, Position};
use chengyun_store::{DynStore, SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

pub const ADMIN_PW: &str = "admin password 1";
pub const DISPATCHER_PW: &str = "dispatch password 1";

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub store: DynStore,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts the uniform error shape with `code` and the catalogue's status.
    pub fn assert_error(&self, code: &str) -> &Self {
        let expected = chengyun_api::ErrorCode::from_code(code)
            .unwrap_or_else(|| panic!("{code} is not in the catalogue"));
        assert_eq!(
            self.status,
            expected.status(),
            "status for {code}: {}",
            self.text
        );
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "message missing: {}",
            self.text
        );
        assert!(
            self.body["error"]
                .as_object()
                .unwrap()
                .contains_key("details"),
            "details key missing: {}",
            self.text
        );
        assert!(self.headers.contains_key("x-request-id"));
        self
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Cookie(String),
    Bearer(String),
}

/// A square polygon in GeoJSON around (lon, lat) with half-side `r` degrees.
pub fn square(lon: f64, lat: f64, r: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon - r, lat - r], [lon + r, lat - r], [lon + r, lat + r], [lon - r, lat + r], [lon - r, lat - r]
    ]]})
}

fn area(code: &str, name: &str, parent: Option<&str>, boundary: Value) -> Area {
    serde_json::from_value(json!({
        "code": code, "name": name,
        "level": chengyun_domain::codes::DivisionCode::parse(code).unwrap().level(),
        "parent_code": parent, "boundary": boundary,
    }))
    .unwrap()
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(ApiConfig::default()).await
    }

    pub async fn with_config(config: ApiConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let store: DynStore = Arc::new(store);
        seed(&store).await;
        let state = AppState::new(store.clone(), config).await.unwrap();
        TestApp {
            app: chengyun_api::router(state.clone()),
            state,
            store,
            _dir: dir,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Cookie(c) => req = req.header("cookie", c),
            Auth::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
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
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.request(Method::GET, path, auth, None, &[]).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.request(
            Method::POST,
            path,
            auth,
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        )
        .await
    }

    /// Logs in and returns the cookie to send back.
    pub async fn login(&self, username: &str, password: &str) -> Auth {
        let r = self
            .post(
                "/api/v1/auth/login",
                &Auth::None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {}", r.text);
        let cookie = r.headers["set-cookie"].to_str().unwrap();
        Auth::Cookie(cookie.split(';').next().unwrap().to_string())
    }

    pub async fn admin(&self) -> Auth {
        self.login("admin", ADMIN_PW).await
    }

    pub async fn dispatcher(&self) -> Auth {
        self.login("yh.dispatch", DISPATCHER_PW).await
    }

    /// Walks every page of a list with `limit` and returns every item.
    pub async fn walk(&self, path: &str, auth: &Auth, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let r = self.get(&url, auth).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
            let page = r.body["items"].as_array().unwrap();
            assert!(page.len() <= limit as usize);
            items.extend(page.iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
        panic!("pagination of {path} did not end");
    }
}

async fn seed(store: &DynStore) {
    let actor = Actor::system("test");
    let ev = |a: &str| AuditEvent::new(&actor, a, "seed", "seed");
    let areas = vec![
        area("360600", "鹰潭市", None, square(117.0, 28.2, 0.5)),
        area("360602", "月湖区", Some("360600"), square(116.8, 28.2, 0.2)),
        area("360603", "余江区", Some("360600"), square(117.2, 28.2, 0.2)),
        area(
            "360602001",
            "东湖街道",
            Some("360602"),
            square(116.8, 28.2, 0.1),
        ),
        area(
            "360603100",
            "邓埠镇",
            Some("360603"),
            square(117.2, 28.2, 0.1),
        ),
    ];
    store.upsert_areas(&areas, &ev("area.seed")).await.unwrap();
    let grid: chengyun_domain::city::UnitGrid = serde_json::from_value(json!({
        "code": "360602001000001", "name": "东湖1号网格", "area_code": "360602001",
        "boundary": square(116.8, 28.2, 0.01), "area_m2": 4.0e6,
    }))
    .unwrap();
    store.upsert_grids(&[grid], &ev("grid.seed")).await.unwrap();
    let dept =
        |code: &str, name: &str, tier: &str, area: &str, parent: Option<&str>| -> Department {
            serde_json::from_value(json!({
                "code": code, "name": name, "kind": "command_center", "tier": tier,
                "area_code": area, "parent_code": parent,
            }))
            .unwrap()
        };
    let departments = vec![
        dept("YT-CENTER", "鹰潭市城运中心", "city", "360600", None),
        dept(
            "YH-CENTER",
            "月湖区城运中心",
            "district",
            "360602",
            Some("YT-CENTER"),
        ),
        dept(
            "YJ-CENTER",
            "余江区城运中心",
            "district",
            "360603",
            Some("YT-CENTER"),
        ),
    ];
    store
        .upsert_departments(&departments, &ev("department.seed"))
        .await
        .unwrap();
    chengyun_services::auth::ensure_admin(store.as_ref(), Some(ADMIN_PW.to_string()))
        .await
        .unwrap();
    let dispatcher = NewUser {
        username: "yh.dispatch".into(),
        display_name: "月湖派遣员".into(),
        department_code: Some("YH-CENTER".into()),
        roles: vec![Position::Dispatcher],
    };
    chengyun_services::auth::create_user(store.as_ref(), &dispatcher, DISPATCHER_PW, &actor)
        .await
        .unwrap();
}
