//! Drives the real router over an SQLite store: auth, scope, errors,
//! pagination, audit, system endpoints, the OpenAPI snapshot.

mod common;

use axum::http::{Method, StatusCode};
use chengyun_api::{ApiConfig, ErrorCode};
use common::{ADMIN_PW, Auth, TestApp};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Compares `actual` with a checked-in file; `UPDATE_SNAPSHOTS=1` rewrites it.
fn check_snapshot(rel: &str, actual: &str) {
    let path = manifest_path(rel);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let Ok(expected) = std::fs::read_to_string(&path) else {
        panic!(
            "{} does not exist; create it with `UPDATE_SNAPSHOTS=1 cargo test -p chengyun-api`",
            path.display()
        );
    };
    if expected != actual {
        let first_diff = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from what the code generates (first difference at line {}).\n\
             If the change is intended, run `UPDATE_SNAPSHOTS=1 cargo test -p chengyun-api` and commit the file.",
            path.display(),
            first_diff + 1
        );
    }
}

#[tokio::test]
async fn login_me_logout() {
    let t = TestApp::new().await;
    let r = t
        .post(
            "/api/v1/auth/login",
            &Auth::None,
            json!({"username": "admin", "password": ADMIN_PW}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    for attr in ["cy_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "not configured as secure");
    assert_eq!(r.body["user"]["username"], "admin");
    assert_eq!(r.body["scope"]["kind"], "all");
    let auth = Auth::Cookie(cookie.split(';').next().unwrap().to_string());
    let me = t.get("/api/v1/auth/me", &auth).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["display_name"], "管理员");

    let out = t
        .request(Method::POST, "/api/v1/auth/logout", &auth, None, &[])
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    t.get("/api/v1/auth/me", &auth)
        .await
        .assert_error("unauthenticated");
    t.get("/api/v1/auth/me", &Auth::None)
        .await
        .assert_error("unauthenticated");

    let dispatcher = t.dispatcher().await;
    let me = t.get("/api/v1/auth/me", &dispatcher).await;
    assert_eq!(me.body["scope"], json!({"kind": "area", "area": "360602"}));
}

#[tokio::test]
async fn secure_cookie_when_configured() {
    let t = TestApp::with_config(ApiConfig {
        cookie_secure: true,
        ..ApiConfig::default()
    })
    .await;
    let r = t
        .post(
            "/api/v1/auth/login",
            &Auth::None,
            json!({"username": "admin", "password": ADMIN_PW}),
        )
        .await;
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn wrong_password_is_401_and_audited_with_request_id() {
    let t = TestApp::new().await;
    for (user, pw) in [("admin", "wrong password!"), ("nobody", "whatever pass")] {
        let r = t
            .request(
                Method::POST,
                "/api/v1/auth/login",
                &Auth::None,
                Some((
                    "application/json",
                    json!({"username": user, "password": pw})
                        .to_string()
                        .into_bytes(),
                )),
                &[("x-request-id", "login-try-1")],
            )
            .await;
        r.assert_error("unauthenticated");
        assert_eq!(r.headers["x-request-id"], "login-try-1");
        assert!(r.headers.get("set-cookie").is_none());
    }
    let admin = t.admin().await;
    let log = t
        .get("/api/v1/audit?action=auth.login_failed", &admin)
        .await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", log.text);
    let names: HashSet<&str> = items.iter().map(|i| i["actor"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["admin", "nobody"]));
    assert!(items.iter().all(|i| i["request_id"] == "login-try-1"));
    assert!(
        !log.text.contains("wrong password!"),
        "passwords never logged"
    );
}

#[tokio::test]
async fn bearer_token_lifecycle() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let r = t
        .post("/api/v1/tokens", &admin, json!({"name": "hotline bridge"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("cy_"));
    let id = r.body["token"]["id"].as_i64().unwrap();
    let bearer = Auth::Bearer(secret.clone());
    let me = t.get("/api/v1/auth/me", &bearer).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["username"], "admin");
    let list = t.get("/api/v1/tokens", &bearer).await;
    let tokens = list.body["items"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(secret.starts_with(tokens[0]["prefix"].as_str().unwrap()));
    assert!(
        !list.text.contains(&secret),
        "the secret is shown once only"
    );

    // Someone else cannot revoke it.
    let dispatcher = t.dispatcher().await;
    t.request(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        &dispatcher,
        None,
        &[],
    )
    .await
    .assert_error("not_found");

    let del = t
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    t.get("/api/v1/auth/me", &bearer)
        .await
        .assert_error("unauthenticated");
    t.get(
        "/api/v1/auth/me",
        &Auth::Bearer("cy_not_a_real_token".into()),
    )
    .await
    .assert_error("unauthenticated");
}

#[tokio::test]
async fn disabled_user_is_refused() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let session = t.dispatcher().await;
    let users = t.walk("/api/v1/users", &admin, 50).await;
    let id = users
        .iter()
        .find(|u| u["username"] == "yh.dispatch")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = t
        .request(
            Method::POST,
            &format!("/api/v1/users/{id}/disable"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    t.get("/api/v1/auth/me", &session)
        .await
        .assert_error("unauthenticated");
    t.post(
        "/api/v1/auth/login",
        &Auth::None,
        json!({"username": "yh.dispatch", "password": common::DISPATCHER_PW}),
    )
    .await
    .assert_error("unauthenticated");
    let r = t
        .request(
            Method::POST,
            &format!("/api/v1/users/{id}/enable"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.dispatcher().await;
}

#[tokio::test]
async fn district_dispatcher_sees_only_its_district() {
    let t = TestApp::new().await;
    let d = t.dispatcher().await;
    let areas = t.walk("/api/v1/areas", &d, 50).await;
    let codes: Vec<&str> = areas.iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["360602", "360602001"]);
    assert!(areas.iter().all(|a| a["boundary"].is_null()));
    let with = t.get("/api/v1/areas?boundary=true", &d).await;
    assert_eq!(with.body["items"][0]["boundary"]["type"], "MultiPolygon");

    let depts = t.walk("/api/v1/departments", &d, 50).await;
    let codes: Vec<&str> = depts.iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["YH-CENTER"]);

    let children = t.walk("/api/v1/areas/360600/children", &d, 50).await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["code"], "360602");

    let own = t.get("/api/v1/areas/360602001", &d).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["boundary"]["type"], "MultiPolygon");
    t.get("/api/v1/areas/360603", &d)
        .await
        .assert_error("out_of_scope");
    t.get("/api/v1/departments/YJ-CENTER", &d)
        .await
        .assert_error("out_of_scope");
    t.get("/api/v1/grids?within=360603", &d)
        .await
        .assert_error("out_of_scope");
    let grids = t.walk("/api/v1/grids", &d, 50).await;
    assert_eq!(grids.len(), 1);

    // Admin endpoints.
    t.get("/api/v1/users", &d).await.assert_error("forbidden");
    t.get("/api/v1/audit", &d).await.assert_error("forbidden");
    t.request(
        Method::POST,
        "/api/v1/import/departments",
        &d,
        Some(("text/csv", b"code,name\n".to_vec())),
        &[],
    )
    .await
    .assert_error("forbidden");

    // The admin sees the whole city.
    let admin = t.admin().await;
    assert_eq!(t.walk("/api/v1/areas", &admin, 50).await.len(), 5);
    assert_eq!(t.walk("/api/v1/departments", &admin, 50).await.len(), 3);
}

#[tokio::test]
async fn every_reachable_error_code_has_the_shape() {
    let t = TestApp::with_config(ApiConfig {
        max_body_bytes: 2048,
        ..ApiConfig::default()
    })
    .await;
    let admin = t.admin().await;
    let d = t.dispatcher().await;
    let mut seen = HashSet::new();
    let mut check = |r: common::Resp, code: &str| {
        r.assert_error(code);
        seen.insert(code.to_string());
    };

    check(
        t.get("/api/v1/nothing-here", &admin).await,
        "route_not_found",
    );
    check(
        t.request(Method::DELETE, "/api/v1/areas", &admin, None, &[])
            .await,
        "method_not_allowed",
    );
    let bad_json = t
        .request(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(("application/json", b"{\"name\": ".to_vec())),
            &[],
        )
        .await;
    check(bad_json, "invalid_json");
    check(
        t.post("/api/v1/tokens", &admin, json!({"name": 5})).await,
        "invalid_json",
    );
    check(
        t.post(
            "/api/v1/tokens",
            &admin,
            json!({"name": "x", "nmae": "typo"}),
        )
        .await,
        "unknown_field",
    );
    check(
        t.request(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(("text/plain", b"{}".to_vec())),
            &[],
        )
        .await,
        "unsupported_media_type",
    );
    let big = json!({"name": "x".repeat(4096)});
    check(
        t.post("/api/v1/tokens", &admin, big).await,
        "payload_too_large",
    );
    check(
        t.get("/api/v1/areas?limit=abc", &admin).await,
        "invalid_query",
    );
    let r = t.get("/api/v1/areas?limit=1000", &admin).await;
    assert_eq!(r.body["error"]["details"][0]["field"], "limit");
    check(r, "invalid_input");
    check(
        t.get("/api/v1/areas?cursor=%2A%2A", &admin).await,
        "invalid_input",
    );
    check(
        t.get("/api/v1/locate?lat=28.2&lon=116.8&crs=mars", &admin)
            .await,
        "invalid_input",
    );
    check(
        t.get("/api/v1/locate?lat=95&lon=116.8", &admin).await,
        "invalid_input",
    );
    check(
        t.get("/api/v1/locate?lat=north&lon=116.8", &admin).await,
        "invalid_query",
    );
    check(t.get("/api/v1/users/abc", &admin).await, "invalid_path");
    check(t.get("/api/v1/users/99999", &admin).await, "not_found");
    check(t.get("/api/v1/areas/360699", &admin).await, "not_found");
    check(
        t.get("/api/v1/auth/me", &Auth::None).await,
        "unauthenticated",
    );
    check(t.get("/api/v1/users", &d).await, "forbidden");
    check(t.get("/api/v1/areas/360603", &d).await, "out_of_scope");
    let dup = json!({
        "username": "admin", "display_name": "again", "department_code": null,
        "roles": ["admin"], "password": "long enough password"
    });
    check(t.post("/api/v1/users", &admin, dup).await, "conflict");
    let short = json!({
        "username": "new.user", "display_name": "新用户", "department_code": null,
        "roles": ["clerk"], "password": "short"
    });
    let r = t.post("/api/v1/users", &admin, short).await;
    assert_eq!(r.body["error"]["details"][0]["field"], "password");
    check(r, "invalid_input");

    // The case loop's codes (exercised in depth by tests/cases.rs).
    let report = json!({"matter_code": "01001", "lon": 116.8, "lat": 28.2});
    let key = [("idempotency-key", "same-key")];
    let first = t
        .request(
            Method::POST,
            "/api/v1/cases",
            &admin,
            Some(("application/json", report.to_string().into_bytes())),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let other = json!({"matter_code": "01002", "lon": 116.8, "lat": 28.2});
    check(
        t.request(
            Method::POST,
            "/api/v1/cases",
            &admin,
            Some(("application/json", other.to_string().into_bytes())),
            &key,
        )
        .await,
        "idempotency_conflict",
    );
    let id = first.body["case"]["id"].as_i64().unwrap();
    check(
        t.post(
            &format!("/api/v1/cases/{id}/actions"),
            &admin,
            json!({"action": "register"}),
        )
        .await,
        "refused_action",
    );
    check(
        t.request(
            Method::POST,
            "/api/v1/attachments?name=x.html",
            &admin,
            Some(("text/html", b"<html></html>".to_vec())),
            &[],
        )
        .await,
        "unsupported_attachment",
    );

    // Codes that need a failing database or a panicking handler are covered by
    // `readyz_reports_a_database_outage` and the middleware unit tests.
    let untested: HashSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .filter(|c| !seen.contains(c))
        .collect();
    assert_eq!(
        untested,
        HashSet::from(["database_unavailable".to_string(), "internal".to_string()])
    );
}

#[tokio::test]
async fn pagination_walks_every_page_once() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    for limit in [1, 2, 3] {
        let areas = t.walk("/api/v1/areas", &admin, limit).await;
        let codes: Vec<String> = areas
            .iter()
            .map(|a| a["code"].as_str().unwrap().to_string())
            .collect();
        let unique: HashSet<&String> = codes.iter().collect();
        assert_eq!(codes.len(), 5, "limit {limit}: {codes:?}");
        assert_eq!(unique.len(), 5);
    }
    let classes = t.walk("/api/v1/standards/component", &admin, 40).await;
    let unique: HashSet<&str> = classes
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(classes.len(), 153);
    assert_eq!(unique.len(), 153);
    let first = t.get("/api/v1/standards/matter", &admin).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 50);
    assert!(first.body["next_cursor"].is_string());
}

#[tokio::test]
async fn audit_lists_writes_with_actor_and_request_id() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let body = json!({
        "username": "zhang.san", "display_name": "张三", "department_code": "YJ-CENTER",
        "roles": ["inspector"], "password": "a long password"
    });
    let r = t
        .request(
            Method::POST,
            "/api/v1/users",
            &admin,
            Some(("application/json", body.to_string().into_bytes())),
            &[("x-request-id", "create-zhang")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    let patch = t
        .request(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &admin,
            Some((
                "application/json",
                json!({"display_name": "张三丰"}).to_string().into_bytes(),
            )),
            &[],
        )
        .await;
    assert_eq!(patch.body["display_name"], "张三丰", "{}", patch.text);
    assert_eq!(patch.body["department_code"], "YJ-CENTER");

    let log = t.walk("/api/v1/audit?action=user.", &admin, 50).await;
    let create = log
        .iter()
        .find(|e| e["action"] == "user.create" && e["request_id"] == "create-zhang");
    let create = create.unwrap_or_else(|| panic!("no user.create record: {log:?}"));
    assert_eq!(create["actor"], "admin");
    assert!(create["user_id"].is_i64());
    assert!(log.iter().any(|e| e["action"] == "user.update"));
    assert!(
        !serde_json::to_string(&log)
            .unwrap()
            .contains("a long password")
    );
    let logins = t
        .get("/api/v1/audit?action=auth.login&target_kind=user", &admin)
        .await;
    assert!(!logins.body["items"].as_array().unwrap().is_empty());
    let future = t
        .get("/api/v1/audit?since=2999-01-01T00:00:00Z", &admin)
        .await;
    assert_eq!(future.body["items"], json!([]));
}

#[tokio::test]
async fn locate_answers_codes_and_nulls_outside() {
    let t = TestApp::new().await;
    let d = t.dispatcher().await;
    let r = t.get("/api/v1/locate?lat=28.2&lon=116.8", &d).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["grid"]["code"], "360602001000001");
    assert_eq!(r.body["street"]["code"], "360602001");
    assert_eq!(r.body["district"]["code"], "360602");
    assert_eq!(r.body["city"]["name"], "鹰潭市");
    let gcj = t
        .get("/api/v1/locate?lat=28.2&lon=116.8&crs=GCJ-02", &d)
        .await;
    assert_eq!(gcj.status, StatusCode::OK);
    assert_ne!(
        gcj.body["lon"], r.body["lon"],
        "GCJ-02 input is shifted to WGS-84"
    );
    let out = t.get("/api/v1/locate?lat=40&lon=100", &d).await;
    assert_eq!(out.status, StatusCode::OK);
    for k in ["grid", "community", "street", "district", "city"] {
        assert!(out.body[k].is_null(), "{k}: {}", out.text);
    }
}

#[tokio::test]
async fn city_writes_and_imports() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let c = json!({
        "id": "36060201001000001", "class_code": "01001", "name": "供水井盖",
        "owner": null, "custodian": null, "maintainer": null, "grid_code": null,
        "status": "intact", "lon": 116.8, "lat": 28.2, "recorded_on": null,
        "changed_on": null, "source": null, "note": null
    });
    let r = t.post("/api/v1/components", &admin, c).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.body["grid_code"], "360602001000001",
        "grid filled by location"
    );
    let d = t.dispatcher().await;
    let list = t.get("/api/v1/components?class_code=01001", &d).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
    let one = t.get("/api/v1/components/36060201001000001", &d).await;
    assert_eq!(one.body["name"], "供水井盖");
    t.post(
        "/api/v1/components",
        &admin,
        json!({"id": "36060299999000001"}),
    )
    .await
    .assert_error("invalid_json");

    let local = json!({"code": "01901", "name": "智能井盖", "major_name": "市政公用设施"});
    let r = t.post("/api/v1/standards/component", &admin, local).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let found = t.get("/api/v1/standards/component?q=智能", &admin).await;
    assert_eq!(found.body["items"][0]["code"], "01901", "{}", found.text);
    assert_eq!(found.body["items"][0]["local"], true);
    let taken = json!({"code": "01001", "name": "x", "major_name": "y"});
    t.post("/api/v1/standards/component", &admin, taken)
        .await
        .assert_error("conflict");
    t.get("/api/v1/standards/widget", &admin)
        .await
        .assert_error("invalid_input");

    let dept = json!({
        "code": "YH-SZ", "name": "月湖区市政公司", "kind": "functional", "tier": "district",
        "area_code": "360602", "parent_code": "YH-CENTER"
    });
    let r = t.post("/api/v1/departments", &admin, dept).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let staff = json!({
        "code": "S001", "name": "李四", "department_code": "YH-SZ", "position": "handler",
        "phone": "13800000000", "username": null
    });
    let r = t.post("/api/v1/staff", &admin, staff).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(t.walk("/api/v1/staff", &d, 10).await.len(), 1);

    let csv = "code,name,kind,tier,area_code,parent_code\nYJ-SZ,余江区市政,functional,district,360603,YJ-CENTER\n";
    let r = t
        .request(
            Method::POST,
            "/api/v1/import/departments",
            &admin,
            Some(("text/csv", csv.as_bytes().to_vec())),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"kind": "departments", "count": 1}));
    let bad = "code,name,kind,tier,area_code,parent_code\nA,,functional,district,360603,\nB,b,nonsense,district,360603,\n";
    let r = t
        .request(
            Method::POST,
            "/api/v1/import/departments",
            &admin,
            Some(("text/csv", bad.as_bytes().to_vec())),
            &[],
        )
        .await;
    r.assert_error("invalid_input");
    assert!(
        r.body["error"]["details"].as_array().unwrap().len() >= 2,
        "{}",
        r.text
    );
    t.request(
        Method::POST,
        "/api/v1/import/planets",
        &admin,
        Some(("text/csv", b"x".to_vec())),
        &[],
    )
    .await
    .assert_error("invalid_input");
}

#[tokio::test]
async fn system_endpoints_and_request_ids() {
    let t = TestApp::new().await;
    let h = t.get("/healthz", &Auth::None).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.body, json!({"status": "ok"}));
    let r = t.get("/readyz", &Auth::None).await;
    assert_eq!(r.body, json!({"status": "ready"}));
    let id = t
        .request(
            Method::GET,
            "/healthz",
            &Auth::None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(id.headers["x-request-id"], "abc-123");
    let bad = t
        .request(
            Method::GET,
            "/healthz",
            &Auth::None,
            None,
            &[("x-request-id", "no spaces allowed")],
        )
        .await;
    let generated = bad.headers["x-request-id"].to_str().unwrap();
    assert!(uuid_like(generated), "{generated}");

    t.get("/api/v1/areas/360602", &Auth::None).await;
    let m = t.get("/metrics", &Auth::None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(m.headers["content-type"], "text/plain; version=0.0.4");
    assert!(m.text.contains("http_requests_total"), "{}", m.text);
    assert!(
        m.text.contains(r#"route="/api/v1/areas/{code}""#),
        "routes are labelled by pattern: {}",
        m.text
    );
    assert!(m.text.contains(r#"status="401""#));
    assert!(m.text.contains("http_request_duration_seconds_bucket"));

    let errors = t.get("/api/v1/errors", &Auth::None).await;
    assert_eq!(errors.body.as_array().unwrap().len(), ErrorCode::ALL.len());
    assert_eq!(errors.body[0]["code"], "invalid_input");
    assert_eq!(errors.body[0]["status"], 400);

    let docs = t.get("/api/docs/", &Auth::None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(
        docs.text.contains("swagger"),
        "the vendored Swagger UI is served"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.bytes().filter(|&b| b == b'-').count() == 4
}

#[tokio::test]
async fn readyz_reports_a_database_outage() {
    // A PostgreSQL URL nobody listens on: the store cannot be opened at all,
    // so the outage is exercised through the same error mapping readyz uses.
    let r = chengyun_store::open("postgres://nobody@127.0.0.1:1/none").await;
    let e = match r {
        Ok(store) => store.ping().await.expect_err("nothing listens on port 1"),
        Err(e) => e,
    };
    let api = chengyun_api::ApiError::from(e);
    assert_eq!(api.code, ErrorCode::DatabaseUnavailable, "{api}");
}

#[tokio::test]
async fn openapi_document_matches_snapshot() {
    let t = TestApp::new().await;
    let r = t.get("/api/openapi.json", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc: Value = r.body;
    // Every route of the router is documented.
    for path in [
        "/api/v1/auth/login",
        "/api/v1/areas/{code}/children",
        "/api/v1/import/{kind}",
        "/api/v1/locate",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} undocumented");
    }
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert_eq!(codes.as_array().unwrap().len(), ErrorCode::ALL.len());
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    check_snapshot("tests/snapshots/openapi.json", &pretty);
}

#[test]
fn errors_doc_matches_catalogue() {
    check_snapshot("ERRORS.md", &chengyun_api::error::catalogue_markdown());
}

#[tokio::test]
async fn serves_on_a_real_socket_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chengyun_api::serve(listener, t.state.clone(), async {
        let _ = rx.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("x-request-id"));
    tx.send(()).unwrap();
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops after the shutdown signal");
    done.unwrap().unwrap();
}

#[tokio::test]
async fn map_config_is_public_and_names_the_configured_tile_layer() {
    use chengyun_api::routes::map::{MapConfig, TileCrs, TileLayer};
    let t = TestApp::new().await;
    let r = t.get("/api/v1/map/config", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"tiles": null}));

    let t = TestApp::with_config(ApiConfig {
        map: MapConfig {
            tiles: Some(TileLayer {
                url: "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}"
                    .into(),
                subdomains: "1234".into(),
                crs: TileCrs::Gcj02,
                attribution: "© 高德地图".into(),
                min_zoom: 3,
                max_zoom: 18,
            }),
        },
        ..ApiConfig::default()
    })
    .await;
    let r = t.get("/api/v1/map/config", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"tiles": {
            "url": "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}",
            "subdomains": "1234",
            "crs": "gcj02",
            "attribution": "© 高德地图",
            "min_zoom": 3,
            "max_zoom": 18,
        }})
    );
}
