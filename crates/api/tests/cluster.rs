//! Two server nodes over one PostgreSQL database, each with its own NATS
//! JetStream bus handle on the real server at 127.0.0.1:4222
//! (`CHENGYUN_TEST_NATS_URL`): what one node does shows on the other's live
//! feed, a city change made on one reloads the other, and a webhook is
//! delivered once however many nodes run the delivery worker; the IoT
//! registry follows the bus (products, rules, devices and their rotated
//! credentials, grants, packs written on one node are used at the other's
//! HTTP device gateway), and an alarm acknowledged or cleared through one
//! node reaches the engine of the node holding it. Fails, not skips,
//! without PostgreSQL or NATS.

mod cases_support;

use axum::http::{Method, StatusCode};
use cases_support::{Backend, IN_STREET, World};
use chengyun_bus::{DynBus, NatsBus, NatsBusConfig};
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::ClassKind;
use futures::StreamExt;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bus_config() -> NatsBusConfig {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    NatsBusConfig {
        url: std::env::var("CHENGYUN_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        stream: format!("CYTEST_API_{tag}"),
        subject_prefix: format!("cytest.api.{tag}"),
        max_age: Duration::from_secs(600),
        max_bytes: 16 * 1024 * 1024,
        ..NatsBusConfig::default()
    }
}

async fn nats(config: &NatsBusConfig) -> NatsBus {
    NatsBus::connect(config.clone())
        .await
        .unwrap_or_else(|e| panic!("the cluster test needs nats-server -js: {e}"))
}

/// Reads SSE text until `done` holds or `secs` pass.
async fn read_sse(body: axum::body::Body, secs: u64, done: impl Fn(&str) -> bool) -> String {
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done(&text) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

async fn open_stream(w: &World, who: &str) -> axum::http::Response<axum::body::Body> {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri("/api/v1/stream?types=case.")
        .header("cookie", &w.auth[who])
        .body(axum::body::Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res
}

/// Webhook POSTs received: (delivery id, body).
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(String, serde_json::Value)>>>);

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let id = headers["x-chengyun-delivery"].to_str().unwrap().to_string();
    let json = serde_json::from_slice(&body).unwrap();
    r.0.lock().unwrap().push((id, json));
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_feed_city_changes_and_webhooks() {
    let config = bus_config();
    let bus_a = nats(&config).await;
    let bus_b = nats(&config).await;
    let a = World::with_bus(Backend::Postgres, false, Arc::new(bus_a.clone()) as DynBus).await;
    let b = a.another_node(Arc::new(bus_b.clone()) as DynBus).await;

    // Both nodes run the webhook worker, as `chengyun serve` does.
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = a
        .post(
            "/api/v1/webhooks",
            "admin",
            json!({"url": format!("http://{addr}/hook"), "secret": "a very secret key 123", "event_filter": "case.changed.created"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let hooks = chengyun_api::webhooks::WebhookConfig {
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let workers: Vec<_> = [&a, &b]
        .into_iter()
        .map(|w| {
            chengyun_api::webhooks::spawn_worker(
                w.store.clone(),
                w.state.feed().clone(),
                hooks.clone(),
                stop_rx.clone(),
            )
        })
        .collect();

    // A case reported through node A shows on node B's live feed, once.
    let on_b = open_stream(&b, "admin").await;
    let started = Instant::now();
    let v = a.report("clerk", "01001", IN_STREET).await;
    let number = v["case"]["number"].as_str().unwrap().to_string();
    let text = read_sse(on_b.into_body(), 10, |t| t.contains(&number)).await;
    let latency = started.elapsed();
    assert!(text.contains(&number), "node B's stream: {text}");
    assert!(text.contains("event: case.changed"), "{text}");
    assert!(text.contains("\"change\":\"created\""), "{text}");
    eprintln!("case created on A reached B's SSE stream in {latency:?}");
    // Each node's feed holds it exactly once; only A's copy is local.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (node, w, local) in [("A", &a, true), ("B", &b, false)] {
        let chengyun_api::routes::stream::Resume::Replay(items) = w.state.feed().resume(0) else {
            panic!("node {node}: the feed lost its buffer");
        };
        let mine: Vec<_> = items
            .iter()
            .filter(|i| i.envelope.data["number"] == number.as_str())
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "node {node}: {:?}",
            mine.iter().map(|i| &i.envelope).collect::<Vec<_>>()
        );
        assert_eq!(mine[0].local, local, "node {node}");
    }

    // The webhook is delivered once, though both nodes saw the event and both poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.0.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = receiver.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one delivery: {seen:?}");
    assert_eq!(seen[0].1["data"]["number"], number.as_str());

    // A local class added on node A: node B reloads its catalogue.
    let code = ClassCode::parse("01902").unwrap();
    assert!(
        b.state
            .city()
            .catalogue
            .get(ClassKind::Matter, &code)
            .is_none()
    );
    let r = a
        .post(
            "/api/v1/standards/matter",
            "admin",
            json!({"code": "01902", "name": "井盖异响", "major_name": "市政公用设施"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b
        .state
        .city()
        .catalogue
        .get(ClassKind::Matter, &code)
        .is_none()
    {
        assert!(Instant::now() < deadline, "node B did not reload its city");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let found = b.get("/api/v1/standards/matter?q=井盖异响", "admin").await;
    assert_eq!(found.body["items"][0]["code"], "01902", "{}", found.text);

    stop.send(true).unwrap();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .unwrap()
            .unwrap();
    }
    b.finish().await;
    a.finish().await;
    drop((bus_a, bus_b));
    let js = async_nats::jetstream::new(async_nats::connect(&config.url).await.unwrap());
    js.delete_stream(&config.stream).await.unwrap();
}

/// Waits up to 10 s for `done`, else fails naming `what`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "node A never saw {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn put(w: &World, path: &str, body: serde_json::Value) -> cases_support::Resp {
    w.call(Method::PUT, path, Some("admin"), Some(body), &[])
        .await
}

/// An HTTP device's telemetry through the node's mounted ingest endpoint.
async fn telemetry(w: &World, token: &str, temp: f64) -> StatusCode {
    let body = json!([{ "values": { "temp": temp } }])
        .to_string()
        .into_bytes();
    let bearer = format!("Bearer {token}");
    w.raw(
        Method::POST,
        "/ingest/http/v1/telemetry",
        None,
        Some(("application/json", body)),
        &[("authorization", bearer.as_str())],
    )
    .await
    .status
}

/// Posts until the node answers `want` (its registry follows the other
/// node's write a moment later); answers how long that took.
async fn telemetry_until(w: &World, token: &str, temp: f64, want: StatusCode) -> Duration {
    let started = Instant::now();
    loop {
        let got = telemetry(w, token, temp).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "node A kept answering {got}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rule_set(version: u32, threshold: f64) -> serde_json::Value {
    json!({"format_version": 1, "rules": [{
        "id": "temp_high", "version": version, "name": "温度过高",
        "applies_to": {"product": "t_sensor"},
        "condition": {"kind": "threshold", "property": "temp", "op": "gt", "value": threshold},
        "raise": {"type": "temp.high", "level": "major", "message": "{device_name} 温度过高"}
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_iot_registry_and_alarm_actions() {
    use chengyun_domain::iot::{AlarmState, ClearReason, Permission};
    let config = bus_config();
    let bus_a = nats(&config).await;
    let bus_b = nats(&config).await;
    let a = World::with_bus(Backend::Postgres, false, Arc::new(bus_a.clone()) as DynBus).await;
    let b = a.another_node(Arc::new(bus_b.clone()) as DynBus).await;
    let (iot_a, iot_b) = (a.state.iot().clone(), b.state.iot().clone());

    // A product added on B is known on A.
    let product = json!({
        "key": "t_sensor", "name": "温度传感器", "protocol": "http",
        "properties": [{"id": "temp", "name": "温度", "data_type": "float", "unit": "℃", "min": -50, "max": 150}]
    });
    let r = put(&b, "/api/v1/products/t_sensor", product).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    eventually("the product", || iot_a.product("t_sensor").is_some()).await;

    // Rules saved on B run on A.
    let r = put(&b, "/api/v1/rules", json!({"rule_set": rule_set(1, 90.0)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    eventually("the rule set", || {
        iot_a
            .running_rules()
            .rules
            .iter()
            .any(|r| r.id == "temp_high")
    })
    .await;

    // A device created on B authenticates at A's HTTP gateway.
    let r = b
        .post(
            "/api/v1/devices",
            "admin",
            json!({"id": "yh-00", "product_key": "t_sensor", "name": "月湖传感器",
                   "owner_department": "YH-CENTER", "location": {"lon": 117.02, "lat": 28.22}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    let took = telemetry_until(&a, &token, 80.0, StatusCode::OK).await;
    eprintln!("a device created on B authenticated on A after {took:?}");
    // 80 is under version 1's 90: no alarm.
    assert!(iot_a.running_rules().rules[0].version == 1);
    let open = a.get("/api/v1/alarms?open=true", "admin").await;
    assert_eq!(open.body["items"], json!([]), "{}", open.text);

    // Version 2 (over 50) saved on B takes effect for telemetry ingested on A.
    let r = put(&b, "/api/v1/rules", json!({"rule_set": rule_set(2, 50.0)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    eventually("rule version 2", || {
        iot_a.running_rules().rules.iter().any(|r| r.version == 2)
    })
    .await;
    assert_eq!(telemetry(&a, &token, 80.0).await, StatusCode::OK);
    let open = b.get("/api/v1/alarms?open=true", "admin").await;
    let items = open.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", open.text);
    let alarm_id = items[0]["alarm"]["id"].as_str().unwrap().to_string();
    let enc = alarm_id.replace('/', "%2F").replace('@', "%40");
    assert!(
        iot_a.held_alarm(&alarm_id).is_some(),
        "A's engine raised it"
    );
    assert!(iot_b.held_alarm(&alarm_id).is_none());

    // Acknowledged through B: A's engine holds it acknowledged.
    let r = b
        .post(
            &format!("/api/v1/alarms/{enc}/acknowledge"),
            "admin",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["alarm"]["state"], "acknowledged", "{}", r.text);
    eventually("the acknowledgement", || {
        iot_a.held_alarm(&alarm_id).map(|x| x.state) == Some(AlarmState::Acknowledged)
    })
    .await;
    assert_eq!(
        iot_a
            .held_alarm(&alarm_id)
            .unwrap()
            .acknowledged_by
            .as_deref(),
        Some("admin")
    );

    // A credential rotated on B: A refuses the old token and takes the new one.
    let r = b
        .post("/api/v1/devices/yh-00/credential", "admin", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rotated = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(rotated, token);
    telemetry_until(&a, &token, 70.0, StatusCode::FORBIDDEN).await;
    assert_eq!(telemetry(&a, &rotated, 70.0).await, StatusCode::OK);

    // Cleared through B: A's engine lets go, and the fault still on raises
    // nothing and writes nothing back.
    let r = b
        .post(&format!("/api/v1/alarms/{enc}/clear"), "admin", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    eventually("the clear", || iot_a.held_alarm(&alarm_id).is_none()).await;
    assert_eq!(telemetry(&a, &rotated, 85.0).await, StatusCode::OK);
    assert_eq!(telemetry(&a, &rotated, 20.0).await, StatusCode::OK);
    let open = a.get("/api/v1/alarms?open=true", "admin").await;
    assert_eq!(open.body["items"], json!([]), "{}", open.text);
    let stored = a.store.alarm(&alarm_id).await.unwrap().unwrap();
    assert_eq!(stored.alarm.state, AlarmState::Cleared);
    assert_eq!(
        stored.alarm.clear_reason,
        Some(ClearReason::Person {
            user: "admin".into()
        })
    );

    // A grant made on B counts on A.
    assert!(!iot_a.may("yh-00", "YJ-CENTER", Permission::Read));
    let r = b
        .post(
            "/api/v1/grants",
            "admin",
            json!({"target": {"device": "yh-00"}, "grantee_department": "YJ-CENTER", "permissions": ["read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    eventually("the grant", || {
        iot_a.may("yh-00", "YJ-CENTER", Permission::Read)
    })
    .await;

    // A pack enabled on B: its products and rules on A.
    let r = b
        .post("/api/v1/packs/smart_fire/enable", "admin", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    eventually("the pack", || {
        iot_a.product("smoke_detector").is_some() && iot_a.running_rules() == iot_b.running_rules()
    })
    .await;

    b.finish().await;
    a.finish().await;
    drop((bus_a, bus_b));
    let js = async_nats::jetstream::new(async_nats::connect(&config.url).await.unwrap());
    js.delete_stream(&config.stream).await.unwrap();
}
