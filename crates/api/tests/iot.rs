//! The IoT routes over the real router on SQLite: products, devices with
//! owner/grant visibility and pagination, grants, HTTP telemetry through the
//! mounted ingest endpoint tripping a rule, alarms and their actions,
//! telemetry history and tracks, commands, rules (validation, versions,
//! export/import), packs, the overview, and the live feed's grant filter.

mod common;

use axum::http::{Method, StatusCode};
use common::{Auth, TestApp};
use serde_json::{Value, json};

const YJ_PW: &str = "yujiang password 1";

fn product() -> Value {
    json!({
        "key": "t_sensor", "name": "温度传感器", "protocol": "http",
        "properties": [
            {"id": "temp", "name": "温度", "data_type": "float", "unit": "℃", "min": -50, "max": 150}
        ],
        "commands": [
            {"id": "beep", "name": "鸣叫", "params": [{"id": "secs", "name": "秒", "data_type": "int", "min": 1, "max": 60}]}
        ]
    })
}

fn rule_set(threshold: f64) -> Value {
    json!({"format_version": 1, "rules": [{
        "id": "temp_high", "version": 1, "name": "温度过高",
        "applies_to": {"product": "t_sensor"},
        "condition": {"kind": "threshold", "property": "temp", "op": "gt", "value": threshold},
        "raise": {"type": "temp.high", "level": "major", "message": "{device_name} 温度过高"}
    }]})
}

async fn put(app: &TestApp, path: &str, auth: &Auth, body: Value) -> common::Resp {
    app.request(
        Method::PUT,
        path,
        auth,
        Some(("application/json", body.to_string().into_bytes())),
        &[],
    )
    .await
}

async fn delete(app: &TestApp, path: &str, auth: &Auth) -> common::Resp {
    app.request(Method::DELETE, path, auth, None, &[]).await
}

/// An app with the product, the rule, a 余江 dispatcher, and `n` devices
/// owned by 月湖 (`yh-0..`) plus one owned by 余江 (`yj-0`).
async fn setup(n: usize) -> (TestApp, Auth, Auth, Auth, Vec<Value>) {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "yj.dispatch", "display_name": "余江派遣员",
                   "department_code": "YJ-CENTER", "roles": ["dispatcher"], "password": YJ_PW}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = put(&app, "/api/v1/products/t_sensor", &admin, product()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = put(
        &app,
        "/api/v1/rules",
        &admin,
        json!({"rule_set": rule_set(50.0), "note": "first"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut created = Vec::new();
    for i in 0..n {
        let r = app
            .post(
                "/api/v1/devices",
                &admin,
                json!({"id": format!("yh-{i:02}"), "product_key": "t_sensor",
                       "name": format!("月湖传感器{i}"), "owner_department": "YH-CENTER",
                       "location": {"lon": 116.8, "lat": 28.2}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        created.push(r.body.clone());
    }
    let r = app
        .post(
            "/api/v1/devices",
            &admin,
            json!({"id": "yj-0", "product_key": "t_sensor", "name": "余江传感器",
                   "owner_department": "YJ-CENTER"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    created.push(r.body.clone());
    let yh = app.dispatcher().await;
    let yj = app.login("yj.dispatch", YJ_PW).await;
    (app, admin, yh, yj, created)
}

async fn post_telemetry(app: &TestApp, token: &str, body: Value) -> common::Resp {
    app.request(
        Method::POST,
        "/ingest/http/v1/telemetry",
        &Auth::Bearer(token.to_string()),
        Some(("application/json", body.to_string().into_bytes())),
        &[],
    )
    .await
}

#[tokio::test]
async fn products_are_validated_and_read() {
    let (app, admin, yh, _, _) = setup(0).await;
    let r = app.get("/api/v1/products", &yh).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["key"], "t_sensor");
    let r = app.get("/api/v1/products/t_sensor", &yh).await;
    assert_eq!(r.body["commands"][0]["id"], "beep");
    app.get("/api/v1/products/nope", &yh)
        .await
        .assert_error("not_found");
    // Only admins write; a key mismatch and a broken product are 400.
    put(&app, "/api/v1/products/t_sensor", &yh, product())
        .await
        .assert_error("forbidden");
    put(&app, "/api/v1/products/other", &admin, product())
        .await
        .assert_error("invalid_input");
    let mut bad = product();
    bad["properties"][0]["id"] = json!("bad id!");
    put(&app, "/api/v1/products/t_sensor", &admin, bad)
        .await
        .assert_error("invalid_input");
    app.get("/api/v1/products", &Auth::None)
        .await
        .assert_error("unauthenticated");
}

#[tokio::test]
async fn devices_are_created_listed_and_paginated_by_owner_and_grant() {
    let (app, admin, yh, yj, created) = setup(7).await;
    // The secret is answered once; the hash never.
    let first = &created[0];
    assert!(first["secret"].as_str().is_some_and(|s| s.len() >= 16));
    assert_eq!(
        first["token"].as_str().unwrap(),
        format!("yh00:{}", first["secret"].as_str().unwrap())
    );
    assert!(first["device"]["device"].get("credential_hash").is_none());
    assert_eq!(first["device"]["has_credential"], true);
    let r = app.get("/api/v1/devices/yh-00", &admin).await;
    assert!(!r.text.contains("argon2"), "{}", r.text);
    assert_eq!(r.body["product_name"], "温度传感器");
    // Admin sees all 8, in pages of 3 without gaps.
    let all = app.walk("/api/v1/devices", &admin, 3).await;
    assert_eq!(all.len(), 8);
    // 月湖 sees its 7, 余江 its one.
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|d| d["device"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(app.walk("/api/v1/devices", &yh, 2).await.len(), 7);
    assert_eq!(ids(&app.walk("/api/v1/devices", &yj, 2).await), ["yj-0"]);
    // 余江 cannot see 月湖's device: 404, and cannot command it.
    app.get("/api/v1/devices/yh-03", &yj)
        .await
        .assert_error("not_found");
    app.post(
        "/api/v1/devices/yh-03/commands",
        &yj,
        json!({"command": "beep", "params": {"secs": 3}}),
    )
    .await
    .assert_error("not_found");
    // 月湖 shares yh-03 for reading: 余江 sees it in its list (merged in id order),
    // still may not command it (403).
    let r = app
        .post(
            "/api/v1/grants",
            &yh,
            json!({"target": {"device": "yh-03"}, "grantee_department": "YJ-CENTER", "permissions": ["read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let grant_id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        ids(&app.walk("/api/v1/devices", &yj, 1).await),
        ["yh-03", "yj-0"]
    );
    let r = app.get("/api/v1/devices/yh-03", &yj).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["may_command"], false);
    app.post(
        "/api/v1/devices/yh-03/commands",
        &yj,
        json!({"command": "beep", "params": {"secs": 3}}),
    )
    .await
    .assert_error("forbidden");
    // 余江 may not share what it does not own.
    app.post(
        "/api/v1/grants",
        &yj,
        json!({"target": {"device": "yh-03"}, "grantee_department": "YJ-CENTER", "permissions": ["command"]}),
    )
    .await
    .assert_error("forbidden");
    // A product grant shows every device of the product.
    let r = app
        .post(
            "/api/v1/grants",
            &admin,
            json!({"target": {"product": "t_sensor"}, "grantee_department": "YJ-CENTER", "permissions": ["read", "command"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let product_grant = r.body["id"].as_i64().unwrap();
    assert_eq!(app.walk("/api/v1/devices", &yj, 3).await.len(), 8);
    let r = app.get("/api/v1/grants", &yj).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    // Revoking both: back to one device.
    delete(&app, &format!("/api/v1/grants/{product_grant}"), &yh)
        .await
        .assert_error("forbidden");
    for id in [grant_id, product_grant] {
        let r = delete(&app, &format!("/api/v1/grants/{id}"), &admin).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    assert_eq!(app.walk("/api/v1/devices", &yj, 3).await.len(), 1);
    delete(&app, &format!("/api/v1/grants/{grant_id}"), &admin)
        .await
        .assert_error("not_found");
    // Filters.
    assert_eq!(
        app.walk("/api/v1/devices?owner=YJ-CENTER", &admin, 5)
            .await
            .len(),
        1
    );
    assert_eq!(
        app.walk("/api/v1/devices?within=116.7,28.1,116.9,28.3", &admin, 5)
            .await
            .len(),
        7
    );
    assert_eq!(
        app.walk("/api/v1/devices?online=true", &admin, 5)
            .await
            .len(),
        0
    );
    app.get("/api/v1/devices?within=1,2,3", &admin)
        .await
        .assert_error("invalid_input");
    app.get("/api/v1/devices?limit=0", &admin)
        .await
        .assert_error("invalid_input");
    app.get("/api/v1/devices?cursor=***", &admin)
        .await
        .assert_error("invalid_input");
}

#[tokio::test]
async fn device_writes_are_validated() {
    let (app, admin, yh, _, _) = setup(1).await;
    // Every problem at once.
    let r = app
        .post(
            "/api/v1/devices",
            &admin,
            json!({"id": "x1", "product_key": "nope", "name": "x", "owner_department": "NOPE"}),
        )
        .await;
    r.assert_error("invalid_input");
    assert_eq!(r.body["error"]["details"].as_array().unwrap().len(), 2);
    app.post(
        "/api/v1/devices",
        &admin,
        json!({"id": "x1", "product_key": "t_sensor", "name": "x", "owner_department": "YH-CENTER", "colour": 1}),
    )
    .await
    .assert_error("unknown_field");
    app.post(
        "/api/v1/devices",
        &admin,
        json!({"id": "yh-00", "product_key": "t_sensor", "name": "x", "owner_department": "YH-CENTER"}),
    )
    .await
    .assert_error("conflict");
    app.post(
        "/api/v1/devices",
        &yh,
        json!({"id": "x2", "product_key": "t_sensor", "name": "x", "owner_department": "YH-CENTER"}),
    )
    .await
    .assert_error("forbidden");
    // Update keeps the credential (the token still works) and changes the name.
    let r = put(
        &app,
        "/api/v1/devices/yh-00",
        &admin,
        json!({"product_key": "t_sensor", "name": "新名字", "owner_department": "YH-CENTER"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["device"]["name"], "新名字");
    assert_eq!(r.body["has_credential"], true);
    assert_eq!(r.body["device"]["terminal_id"], "yh00");
    put(
        &app,
        "/api/v1/devices/none",
        &admin,
        json!({"product_key": "t_sensor", "name": "x", "owner_department": "YH-CENTER"}),
    )
    .await
    .assert_error("not_found");
}

#[tokio::test]
async fn http_telemetry_trips_a_rule_and_alarms_follow_grants() {
    let (app, admin, yh, yj, created) = setup(2).await;
    let token = created[0]["token"].as_str().unwrap().to_string();
    // A wrong token is refused by the ingest endpoint itself.
    let r = post_telemetry(&app, "yh00:wrong", json!([{"values": {"temp": 20.0}}])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = post_telemetry(&app, "no-colon", json!([{"values": {"temp": 20.0}}])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let now = chrono::Utc::now();
    let at = |s: i64| (now - chrono::Duration::seconds(s)).to_rfc3339();
    let r = post_telemetry(
        &app,
        &token,
        json!([
            {"at": at(120), "values": {"temp": 20.0}, "location": {"lon": 116.80, "lat": 28.20}},
            {"at": at(60), "values": {"temp": 30.0}, "location": {"lon": 116.81, "lat": 28.21}},
            // At receipt: the rule engine ignores samples from before the
            // device was registered, so the tripping one is current.
            {"values": {"temp": 80.0}, "location": {"lon": 116.82, "lat": 28.22}},
            {"values": {"nope": 1}}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["accepted"], 3, "{}", r.text);
    assert_eq!(r.body["rejected"], 1, "{}", r.text);
    app.state.iot().flush().await.unwrap();
    // Latest state and the alarm.
    let r = app.get("/api/v1/devices/yh-00", &yh).await;
    assert_eq!(r.body["online"], true, "{}", r.text);
    assert_eq!(r.body["latest"]["values"]["temp"], 80.0);
    let r = app.get("/api/v1/alarms?open=true", &yh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let alarms = r.body["items"].as_array().unwrap().clone();
    assert_eq!(alarms.len(), 1, "{}", r.text);
    assert_eq!(alarms[0]["alarm"]["type"], "temp.high");
    assert_eq!(alarms[0]["device_id"], "yh-00");
    let alarm_id = alarms[0]["alarm"]["id"].as_str().unwrap().to_string();
    let enc = alarm_id.replace('/', "%2F").replace('@', "%40");
    // 余江 sees none of it, and cannot act on it.
    let r = app.get("/api/v1/alarms", &yj).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    app.get(&format!("/api/v1/alarms/{enc}"), &yj)
        .await
        .assert_error("not_found");
    app.post(&format!("/api/v1/alarms/{enc}/acknowledge"), &yj, json!({}))
        .await
        .assert_error("not_found");
    // With a product read grant 余江 sees the alarm (scan of product grants)
    // but may not clear it.
    let r = app
        .post(
            "/api/v1/grants",
            &admin,
            json!({"target": {"product": "t_sensor"}, "grantee_department": "YJ-CENTER", "permissions": ["read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get("/api/v1/alarms?type=temp.high", &yj).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    app.post(&format!("/api/v1/alarms/{enc}/clear"), &yj, json!({}))
        .await
        .assert_error("forbidden");
    // The owner acknowledges, then clears.
    let r = app
        .post(&format!("/api/v1/alarms/{enc}/acknowledge"), &yh, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["alarm"]["state"], "acknowledged");
    let r = app
        .post(&format!("/api/v1/alarms/{enc}/clear"), &yh, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["alarm"]["state"], "cleared");
    app.post(&format!("/api/v1/alarms/{enc}/acknowledge"), &yh, json!({}))
        .await
        .assert_error("conflict");
    let r = app.get("/api/v1/alarms?state=cleared", &admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/alarms?state=open", &admin)
        .await
        .assert_error("invalid_input");
    // History: raw, downsampled, track.
    let r = app.get("/api/v1/devices/yh-00/telemetry", &yh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["samples"].as_array().unwrap().len(), 3);
    let r = app
        .get("/api/v1/devices/yh-00/telemetry?bucket=3600", &yh)
        .await;
    let buckets = r.body["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty(), "{}", r.text);
    let count: i64 = buckets.iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(count, 3);
    let r = app.get("/api/v1/devices/yh-00/track", &yh).await;
    assert_eq!(r.body["type"], "Feature");
    assert_eq!(r.body["geometry"]["type"], "LineString");
    assert_eq!(
        r.body["geometry"]["coordinates"].as_array().unwrap().len(),
        3
    );
    assert_eq!(r.body["geometry"]["coordinates"][2][0], 116.82);
    app.get("/api/v1/devices/yh-00/telemetry?bucket=0", &yh)
        .await
        .assert_error("invalid_input");
    app.get(
        "/api/v1/devices/yh-00/track?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        &yh,
    )
    .await
    .assert_error("invalid_input");
    // The overview counts the device online and no open alarm now.
    let r = app.get("/api/v1/iot/overview", &yh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["devices_total"], 2);
    assert_eq!(r.body["devices_online"], 1);
    assert_eq!(r.body["online_rate"], 0.5);
    assert_eq!(r.body["by_product"][0]["product_key"], "t_sensor");
    assert_eq!(r.body["alarms_open"], 0);
    assert_eq!(r.body["matter_classes_total"], 250);
}

#[tokio::test]
async fn commands_are_tracked_and_refused_without_a_grant() {
    let (app, admin, yh, yj, _) = setup(2).await;
    // Not connected: answered and failed at once.
    let r = app
        .post(
            "/api/v1/devices/yh-00/commands",
            &yh,
            json!({"command": "beep", "params": {"secs": 3}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["status"], "failed");
    // Connected (a fake connection): queued and handed to it.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let _attached =
        app.state
            .connections()
            .attach("yh-01", chengyun_domain::iot::Protocol::Http, tx);
    let r = app
        .post(
            "/api/v1/devices/yh-01/commands",
            &yh,
            json!({"command": "beep", "params": {"secs": 5}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["status"], "queued");
    let id = r.body["id"].as_i64().unwrap();
    let frame = rx.try_recv().expect("the command reached the connection");
    assert_eq!(frame.command_id.as_deref(), Some(id.to_string().as_str()));
    let r = app.get(&format!("/api/v1/commands/{id}"), &yh).await;
    assert_eq!(r.body["command"], "beep");
    let r = app.get("/api/v1/devices/yh-01/commands", &yh).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    // Others: not found.
    app.get(&format!("/api/v1/commands/{id}"), &yj)
        .await
        .assert_error("not_found");
    app.get("/api/v1/devices/yh-01/commands", &yj)
        .await
        .assert_error("not_found");
    // Bad parameters and unknown commands are 400 naming them.
    let r = app
        .post(
            "/api/v1/devices/yh-01/commands",
            &yh,
            json!({"command": "beep", "params": {"secs": 600}}),
        )
        .await;
    r.assert_error("invalid_input");
    assert!(r.text.contains("secs"), "{}", r.text);
    app.post(
        "/api/v1/devices/yh-01/commands",
        &yh,
        json!({"command": "explode"}),
    )
    .await
    .assert_error("invalid_input");
    // A command grant lets 余江 command it.
    let r = app
        .post(
            "/api/v1/grants",
            &yh,
            json!({"target": {"device": "yh-01"}, "grantee_department": "YJ-CENTER", "permissions": ["command"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            "/api/v1/devices/yh-01/commands",
            &yj,
            json!({"command": "beep", "params": {"secs": 1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    // Admins command any device.
    let r = app
        .post(
            "/api/v1/devices/yj-0/commands",
            &admin,
            json!({"command": "beep", "params": {"secs": 1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
}

#[tokio::test]
async fn rules_are_versioned_validated_exported_and_imported() {
    let (app, admin, yh, _, _) = setup(0).await;
    let r = app.get("/api/v1/rules", &yh).await;
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["rule_set"]["rules"][0]["id"], "temp_high");
    // Every problem is listed.
    let mut bad = rule_set(50.0);
    bad["rules"][0]["condition"]["property"] = json!("nope");
    bad["rules"][0]["applies_to"]["product"] = json!("t_sensor");
    let second = bad["rules"][0].clone();
    bad["rules"].as_array_mut().unwrap().push(second);
    let r = put(&app, "/api/v1/rules", &admin, json!({"rule_set": bad})).await;
    r.assert_error("invalid_input");
    assert!(
        r.body["error"]["details"].as_array().unwrap().len() >= 2,
        "{}",
        r.text
    );
    put(
        &app,
        "/api/v1/rules",
        &yh,
        json!({"rule_set": rule_set(60.0)}),
    )
    .await
    .assert_error("forbidden");
    let r = put(
        &app,
        "/api/v1/rules",
        &admin,
        json!({"rule_set": rule_set(60.0), "note": "raised"}),
    )
    .await;
    assert_eq!(r.body["version"], 2, "{}", r.text);
    let r = app.get("/api/v1/rules/versions", &yh).await;
    let versions = r.body.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["note"], "raised");
    assert!(versions[0].get("rule_set").is_none());
    let r = app.get("/api/v1/rules/versions/1", &yh).await;
    assert_eq!(r.body["rule_set"]["rules"][0]["condition"]["value"], 50.0);
    app.get("/api/v1/rules/versions/9", &yh)
        .await
        .assert_error("not_found");
    // Export version 1, import it back as version 3.
    let r = app.get("/api/v1/rules/export?version=1", &yh).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("chengyun-rules-v1.json")
    );
    let exported = r.text.clone();
    let r = app
        .request(
            Method::POST,
            "/api/v1/rules/import?note=back",
            &admin,
            Some(("application/json", exported.into_bytes())),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["rule_set"]["rules"][0]["condition"]["value"], 50.0);
    let r = app
        .request(
            Method::POST,
            "/api/v1/rules/import",
            &admin,
            Some((
                "application/json",
                b"{\"format_version\": 1, \"rules\": [".to_vec(),
            )),
            &[],
        )
        .await;
    r.assert_error("invalid_input");
    assert!(r.text.contains("line"), "{}", r.text);
}

#[tokio::test]
async fn packs_are_listed_and_enabled() {
    let (app, admin, yh, _, _) = setup(0).await;
    let r = app.get("/api/v1/packs", &yh).await;
    let packs = r.body.as_array().unwrap();
    assert!(packs.len() >= 8, "{}", r.text);
    assert!(packs.iter().all(|p| p["enabled"] == false));
    app.post("/api/v1/packs/smart_fire/enable", &yh, json!({}))
        .await
        .assert_error("forbidden");
    app.post("/api/v1/packs/nope/enable", &admin, json!({}))
        .await
        .assert_error("not_found");
    let r = app
        .post("/api/v1/packs/smart_fire/enable", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.get("/api/v1/packs", &yh).await;
    let fire = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "smart_fire")
        .unwrap()
        .clone();
    assert_eq!(fire["enabled"], true);
    // Its products and rules are in, next to the city's own rule.
    let r = app.get("/api/v1/products/smoke_detector", &yh).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/api/v1/rules", &yh).await;
    let rules = r.body["rule_set"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|x| x["id"] == "fire_smoke"));
    assert!(rules.iter().any(|x| x["id"] == "temp_high"));
    // Its mapped matters count as connected.
    let r = app.get("/api/v1/iot/overview", &admin).await;
    assert!(
        r.body["matter_classes_connected"].as_u64().unwrap() >= 1,
        "{}",
        r.text
    );
}

#[tokio::test]
async fn the_live_feed_sends_iot_events_to_owners_and_grantees_only() {
    use chengyun_bus::Event;
    use chengyun_domain::auth::Scope;
    use chengyun_domain::codes::DivisionCode;
    use futures::StreamExt;
    let (app, _, _, _, _) = setup(1).await;
    let feed = app.state.feed().clone();
    let yh_scope = Scope::Area(DivisionCode::parse("360602").unwrap());
    let yj_scope = Scope::Area(DivisionCode::parse("360603").unwrap());
    let start = feed.last_id();
    let event = Event::DeviceState {
        device_id: "yh-00".into(),
        online: true,
        owner_department: "YH-CENTER".into(),
        at: chrono::Utc::now().to_rfc3339(),
    };
    app.state.bus().publish(event);
    // Wait until the collector pushed it.
    for _ in 0..100 {
        if feed.last_id() > start {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(feed.last_id() > start, "the event reached the feed");
    let first = |scope: Scope, dept: &str| {
        let s = chengyun_api::routes::stream::viewer_stream(
            feed.clone(),
            scope,
            Some(dept.to_string()),
            vec!["device.state".into()],
            Some(start),
        );
        async move {
            let mut s = Box::pin(s);
            tokio::time::timeout(std::time::Duration::from_millis(200), s.next())
                .await
                .ok()
                .flatten()
        }
    };
    assert!(first(yh_scope.clone(), "YH-CENTER").await.is_some());
    assert!(first(yj_scope.clone(), "YJ-CENTER").await.is_none());
    assert!(first(Scope::All, "YT-CENTER").await.is_some());
    // A grant opens the stream to 余江 (checked when sent).
    app.state
        .iot()
        .grant(
            chengyun_domain::iot::Grant {
                target: chengyun_domain::iot::GrantTarget::Device("yh-00".into()),
                grantee_department: "YJ-CENTER".into(),
                permissions: [chengyun_domain::iot::Permission::Read].into(),
            },
            &chengyun_domain::audit::Actor::system("test"),
        )
        .await
        .unwrap();
    assert!(first(yj_scope, "YJ-CENTER").await.is_some());
}

#[tokio::test]
async fn pack_kpis_and_case_tracks_answer_through_the_api() {
    let (app, admin, yh, _, _) = setup(0).await;
    // A pack that is not enabled has no KPIs yet.
    let r = app
        .get("/api/v1/iot/kpis?pack=weigh_in_motion", &admin)
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
    let r = app
        .post("/api/v1/packs/weigh_in_motion/enable", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Enabled, with no weighings: every KPI group answers no value, never NaN.
    let r = app.get("/api/v1/iot/kpis?pack=weigh_in_motion", &yh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["value"].is_null()),
        "{}",
        r.text
    );
    app.get(
        "/api/v1/iot/kpis?pack=weigh_in_motion&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        &yh,
    )
    .await
    .assert_error("invalid_input");
    app.get("/api/v1/iot/kpis", &yh)
        .await
        .assert_error("invalid_query");
    // A case linked to no device has no track.
    let r = app
        .post(
            "/api/v1/cases",
            &admin,
            json!({"description": "路灯不亮", "matter_code": "01037", "area_code": "360602"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["case"]["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/cases/{id}/track"), &admin)
        .await
        .assert_error("not_found");
}

#[tokio::test]
async fn a_theft_report_arms_the_tracker_and_shows_its_track() {
    let (app, admin, _, _, _) = setup(0).await;
    let r = app
        .post("/api/v1/packs/ebike_antitheft/enable", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .post(
            "/api/v1/devices",
            &admin,
            json!({"id": "bike-1", "product_key": "ebike_tracker_jt808", "name": "电动车 赣L00001",
                   "owner_department": "YH-CENTER", "terminal_id": "013800000001",
                   "location": {"lon": 117.03, "lat": 28.24}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Without a device the report is refused, naming the field.
    let r = app
        .post(
            "/api/v1/iot/theft-reports",
            &admin,
            json!({"description": "电动车被盗", "lon": 117.03, "lat": 28.24}),
        )
        .await;
    r.assert_error("invalid_input");
    assert!(r.text.contains("device_id"), "{}", r.text);
    let r = app
        .post(
            "/api/v1/iot/theft-reports",
            &admin,
            json!({"description": "小区车棚电动车被盗", "device_id": "bike-1", "lon": 117.03, "lat": 28.24,
                   "reporter_name": "车主", "reporter_phone": "13900000001"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["case"]["matter_code"], "10901", "{}", r.text);
    assert_eq!(r.body["case"]["device_id"], "bike-1", "{}", r.text);
    let id = r.body["case"]["id"].as_i64().unwrap();
    let d = app.get("/api/v1/devices/bike-1", &admin).await;
    assert_eq!(d.body["device"]["armed"], true, "{}", d.text);
    let t = app.get(&format!("/api/v1/cases/{id}/track"), &admin).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    assert_eq!(t.body["type"], "Feature", "{}", t.text);
}

#[tokio::test]
async fn a_rotated_credential_replaces_the_old_one_at_once() {
    let (app, admin, yh, _yj, created) = setup(1).await;
    let old = created[0]["token"].as_str().expect("token").to_string();
    let reading = json!([{"values": {"temp": 21.5}}]);
    let r = post_telemetry(&app, &old, reading.clone()).await;
    assert!(r.status.is_success(), "{}", r.text);
    // Only an administrator may rotate; the answer is the new secret and token.
    let r = app
        .post("/api/v1/devices/yh-00/credential", &yh, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .post("/api/v1/devices/nope/credential", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .post("/api/v1/devices/yh-00/credential", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.body["token"].as_str().expect("new token").to_string();
    assert_ne!(new, old);
    assert!(
        new.ends_with(r.body["secret"].as_str().unwrap()),
        "{}",
        r.text
    );
    let r = post_telemetry(&app, &old, reading.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "old token: {}", r.text);
    let r = post_telemetry(&app, &new, reading).await;
    assert!(r.status.is_success(), "{}", r.text);
}

#[tokio::test]
async fn the_gateways_list_names_the_bound_tcp_gateways_and_the_http_endpoints() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let r = app.get("/api/v1/iot/gateways", &Auth::None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app.get("/api/v1/iot/gateways", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let names: Vec<&str> = r.body["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["http", "gb28181"], "no TCP gateway started yet");
    assert_eq!(
        r.body["gateways"][0]["path"], "/ingest/http/v1/telemetry",
        "{}",
        r.text
    );
    app.state
        .add_gateway(chengyun_api::routes::gateways::Gateway {
            name: "jt808".into(),
            protocol: "JT/T 808 over TCP".into(),
            address: Some("127.0.0.1:6808".into()),
            path: None,
            credential: "auth code".into(),
        });
    let r = app.get("/api/v1/iot/gateways", &admin).await;
    assert_eq!(r.body["gateways"][0]["name"], "jt808", "{}", r.text);
    assert_eq!(r.body["gateways"][0]["address"], "127.0.0.1:6808");
}

#[tokio::test]
async fn a_batch_registers_many_devices_all_or_nothing() {
    let (app, admin, yh, _yj, _created) = setup(1).await;
    let body = |ids: &[&str], owner: &str| {
        json!({"devices": ids.iter().map(|id| json!({
            "id": id, "product_key": "t_sensor", "name": format!("批量{id}"),
            "owner_department": owner, "location": {"lon": 116.8, "lat": 28.2}
        })).collect::<Vec<_>>()})
    };
    let r = app
        .post("/api/v1/devices/batch", &yh, body(&["b-1"], "YH-CENTER"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // One bad device (unknown owner) and a duplicate: nothing is stored, each named.
    let mut bad = body(&["b-1", "b-2", "b-2"], "YH-CENTER");
    bad["devices"][1]["owner_department"] = json!("NOPE");
    let r = app.post("/api/v1/devices/batch", &admin, bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("devices[1].owner_department"), "{}", r.text);
    assert!(r.text.contains("devices[2].id"), "{}", r.text);
    let r = app.get("/api/v1/devices/b-1", &admin).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "nothing half-stored: {}",
        r.text
    );
    let r = app
        .post("/api/v1/devices/batch", &admin, json!({"devices": []}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A good batch: one existing device (kept credential) and two new ones.
    let r = app
        .post(
            "/api/v1/devices/batch",
            &admin,
            body(&["yh-00", "b-1", "b-2"], "YH-CENTER"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["created"], 2, "{}", r.text);
    assert_eq!(r.body["updated"], 1, "{}", r.text);
    assert!(r.body["devices"][0]["secret"].is_null(), "kept: {}", r.text);
    let token = r.body["devices"][1]["token"].as_str().expect("token");
    assert!(token.starts_with("b1:"), "{token}");
    let reading = json!([{"values": {"temp": 22.0}}]);
    let r2 = post_telemetry(&app, token, reading.clone()).await;
    assert!(r2.status.is_success(), "{}", r2.text);
    let r = app.get("/api/v1/devices/b-2", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["device"]["name"], "批量b-2", "{}", r.text);
    // Re-enrolling with rotate_existing replaces the secrets.
    let mut again = body(&["b-1"], "YH-CENTER");
    again["rotate_existing"] = json!(true);
    let r = app.post("/api/v1/devices/batch", &admin, again).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let fresh = r.body["devices"][0]["token"].as_str().expect("new token");
    assert_ne!(fresh, token);
    let r2 = post_telemetry(&app, token, reading.clone()).await;
    assert_eq!(r2.status, StatusCode::FORBIDDEN, "{}", r2.text);
    let r2 = post_telemetry(&app, fresh, reading).await;
    assert!(r2.status.is_success(), "{}", r2.text);
}
