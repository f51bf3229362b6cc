//! Two server nodes over one PostgreSQL database, each with its own NATS
//! JetStream bus handle on the real server at 127.0.0.1:4222
//! (`CHENGYUN_TEST_NATS_URL`): what one node does shows on the other's live
//! feed, a city change made on one reloads the other, and a webhook is
//! delivered once however many nodes run the delivery worker. Fails, not
//! skips, without PostgreSQL or NATS.

mod cases_support;

use axum::http::StatusCode;
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
