//! The NATS JetStream bus against the real server at 127.0.0.1:4222
//! (`CHENGYUN_TEST_NATS_URL` to use another). These tests fail, not skip,
//! without it. Each test uses its own stream and subject prefix and deletes
//! the stream at the end.

use chengyun_bus::{Bus, BusError, Event, NatsBus, NatsBusConfig, Origin, Received, Subscription};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("CHENGYUN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A configuration with a stream and prefix of its own.
fn unique() -> NatsBusConfig {
    static N: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    NatsBusConfig {
        url: url(),
        stream: format!("CYTEST_{tag}"),
        subject_prefix: format!("cytest.{tag}"),
        // Left-overs of a failed run expire by themselves.
        max_age: Duration::from_secs(600),
        max_bytes: 16 * 1024 * 1024,
        check_interval: Duration::from_millis(200),
        ..NatsBusConfig::default()
    }
}

async fn node(config: &NatsBusConfig) -> NatsBus {
    NatsBus::connect(config.clone())
        .await
        .unwrap_or_else(|e| panic!("the NATS bus tests need nats-server -js at {}: {e}", url()))
}

async fn jetstream() -> async_nats::jetstream::Context {
    let client = async_nats::connect(url()).await.expect("NATS is reachable");
    async_nats::jetstream::new(client)
}

async fn delete_stream(config: &NatsBusConfig) {
    jetstream()
        .await
        .delete_stream(&config.stream)
        .await
        .expect("the test stream can be deleted");
}

async fn next(sub: &mut Subscription) -> (Received, Origin) {
    tokio::time::timeout(Duration::from_secs(10), sub.recv_with_origin())
        .await
        .expect("an event within 10 s")
}

/// Nothing more arrives within `wait`.
async fn quiet(sub: &mut Subscription, wait: Duration) {
    if let Ok(got) = tokio::time::timeout(wait, sub.recv_with_origin()).await {
        panic!("unexpected extra delivery: {got:?}");
    }
}

fn changed(what: &str, n: u64) -> Event {
    Event::CityChanged {
        what: what.into(),
        count: n,
    }
}

fn every_variant() -> Vec<Event> {
    vec![
        changed("areas", 3),
        Event::CaseChanged {
            case_id: 42,
            number: "YT20260310000042".into(),
            change: "dispatch".into(),
            state: "dispatched".into(),
            area_code: Some("360602001".into()),
            center_department: "JB-CENTER".into(),
            holder_department: "YH-CGJ".into(),
            at: "2026-03-10T02:00:00Z".into(),
        },
        Event::CaseChanged {
            case_id: 43,
            number: "YT20260310000043".into(),
            change: "created".into(),
            state: "reported".into(),
            area_code: None,
            center_department: "YT-CENTER".into(),
            holder_department: "YT-CENTER".into(),
            at: "2026-03-10T02:00:01Z".into(),
        },
        Event::CaseTimer {
            case_id: 42,
            number: "YT20260310000042".into(),
            clock: "dispose".into(),
            level: "warning".into(),
            area_code: Some("360602001".into()),
            holder_department: "YH-CGJ".into(),
            at: "2026-03-10T03:00:00Z".into(),
        },
        Event::AlarmChanged {
            alarm_id: "al-1".into(),
            device_id: "dev-1".into(),
            rule_id: "overspeed".into(),
            alarm_type: "overspeed".into(),
            change: "raised".into(),
            state: "active".into(),
            level: "major".into(),
            count: 2,
            owner_department: "YH-CGJ".into(),
            lon: Some(117.02),
            lat: Some(28.22),
            at: "2026-03-10T04:00:00Z".into(),
        },
        Event::AlarmChanged {
            alarm_id: "al-2".into(),
            device_id: "dev-2".into(),
            rule_id: "r".into(),
            alarm_type: "smoke".into(),
            change: "cleared".into(),
            state: "cleared".into(),
            level: "minor".into(),
            count: 1,
            owner_department: "".into(),
            lon: None,
            lat: None,
            at: "2026-03-10T04:00:01Z".into(),
        },
        Event::DeviceState {
            device_id: "dev-1".into(),
            online: false,
            owner_department: "YH-CGJ".into(),
            at: "2026-03-10T05:00:00Z".into(),
        },
        Event::CommandChanged {
            command_id: 7,
            device_id: "dev-1".into(),
            command: "lock".into(),
            status: "acknowledged".into(),
            at: "2026-03-10T06:00:00Z".into(),
        },
        Event::iot_changed("devices", vec!["dev-1".into(), "dev-2".into()]),
        Event::iot_changed_all("rules"),
    ]
}

#[tokio::test]
async fn an_event_reaches_both_nodes_exactly_once_in_order() {
    let config = unique();
    let a = node(&config).await;
    let b = node(&config).await;
    assert_ne!(a.node_id(), b.node_id());
    assert_eq!(a.kind(), "nats");
    assert!(a.is_connected() && b.is_connected());
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    let mut on_b2 = b.subscribe();
    // The answer is the number of local subscribers.
    assert_eq!(a.publish(changed("areas", 1)), 1);
    assert_eq!(a.publish(changed("grids", 2)), 1);
    a.flush().await.unwrap();
    assert_eq!(b.publish(changed("staff", 3)), 2);
    b.flush().await.unwrap();
    let expected = [
        (changed("areas", 1), Origin::Local, Origin::Remote),
        (changed("grids", 2), Origin::Local, Origin::Remote),
        (changed("staff", 3), Origin::Remote, Origin::Local),
    ];
    for (event, seen_on_a, seen_on_b) in expected {
        assert_eq!(
            next(&mut on_a).await,
            (Received::Event(event.clone()), seen_on_a)
        );
        assert_eq!(
            next(&mut on_b).await,
            (Received::Event(event.clone()), seen_on_b)
        );
        assert_eq!(next(&mut on_b2).await.0, Received::Event(event));
    }
    // Exactly once: no echo of the local publish, no second copy.
    quiet(&mut on_a, Duration::from_millis(300)).await;
    quiet(&mut on_b, Duration::from_millis(10)).await;
    // Subjects are the prefix plus the event's own subject.
    assert_eq!(
        a.subject_of(&changed("areas", 1)),
        format!("{}.city.changed.areas", config.subject_prefix)
    );
    // A throwaway stream goes with its last node.
    drop(b);
    a.delete_stream().await.unwrap();
    assert!(jetstream().await.get_stream(&config.stream).await.is_err());
}

#[tokio::test]
async fn many_events_arrive_in_order_on_every_node() {
    let config = unique();
    let a = node(&config).await;
    let b = node(&config).await;
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    const N: u64 = 3000;
    let started = Instant::now();
    for i in 0..N {
        a.publish(changed("components", i));
    }
    a.flush().await.unwrap();
    for sub in [&mut on_b, &mut on_a] {
        for i in 0..N {
            match next(sub).await.0 {
                Received::Event(Event::CityChanged { count, .. }) => assert_eq!(count, i),
                other => panic!("event {i}: {other:?}"),
            }
        }
    }
    eprintln!(
        "{N} events through NATS to two nodes in {:?}",
        started.elapsed()
    );
    quiet(&mut on_b, Duration::from_millis(200)).await;
    // The stream holds them, within its limits.
    let mut js = jetstream().await;
    let info = js
        .get_stream(&config.stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.messages, N);
    assert_eq!(info.config.max_age, config.max_age);
    assert_eq!(info.config.max_bytes, config.max_bytes as i64);
    assert_eq!(
        info.config.subjects,
        vec![format!("{}.>", config.subject_prefix)]
    );
    // Connecting again with other limits updates the stream in place.
    let c = node(&NatsBusConfig {
        max_bytes: 32 * 1024 * 1024,
        ..config.clone()
    })
    .await;
    let info = js
        .get_stream(&config.stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.max_bytes, 32 * 1024 * 1024);
    assert_eq!(info.state.messages, N, "updating kept the events");
    js.set_timeout(Duration::from_secs(5));
    drop((a, b, c));
    delete_stream(&config).await;
}

#[tokio::test]
async fn every_event_variant_survives_the_json_round_trip() {
    let config = unique();
    let a = node(&config).await;
    let b = node(&config).await;
    let mut on_b = b.subscribe();
    for e in every_variant() {
        a.publish(e);
    }
    for e in every_variant() {
        assert_eq!(next(&mut on_b).await, (Received::Event(e), Origin::Remote));
    }
    // What is stored is the event's tagged JSON, under prefix + subject.
    let js = jetstream().await;
    let stream = js.get_stream(&config.stream).await.unwrap();
    let first = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        first.subject.as_str(),
        format!("{}.city.changed.areas", config.subject_prefix)
    );
    let json: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
    assert_eq!(json["type"], "city_changed");
    assert_eq!(json["count"], 3);
    let last = stream
        .get_raw_message(every_variant().len() as u64)
        .await
        .unwrap();
    assert_eq!(
        last.subject.as_str(),
        format!("{}.iot.changed.rules", config.subject_prefix)
    );
    let json: serde_json::Value = serde_json::from_slice(&last.payload).unwrap();
    assert_eq!(json["type"], "iot_changed");
    assert_eq!(json["all"], true);
    // Dropping the last handle of a node closes its subscriptions (another
    // node going away does not).
    drop(a);
    quiet(&mut on_b, Duration::from_millis(100)).await;
    drop(b);
    assert_eq!(next(&mut on_b).await.0, Received::Closed);
    delete_stream(&config).await;
}

#[tokio::test]
async fn a_bad_url_is_refused_quickly_and_clearly() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let e = NatsBus::connect(NatsBusConfig {
        url: format!("nats://127.0.0.1:{port}"),
        connect_timeout: Duration::from_secs(2),
        ..unique()
    })
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, BusError::Connect { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("cannot reach NATS at nats://127.0.0.1:{port}: ")),
        "{text}"
    );
    let e = NatsBus::connect(NatsBusConfig {
        url: "http://127.0.0.1:4222".into(),
        ..unique()
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("must start with nats://"), "{e}");
}

#[tokio::test]
async fn nodes_resubscribe_when_the_stream_is_lost() {
    let config = unique();
    let a = node(&config).await;
    let b = node(&config).await;
    let mut on_b = b.subscribe();
    a.publish(changed("areas", 1));
    assert_eq!(
        next(&mut on_b).await.0,
        Received::Event(changed("areas", 1))
    );
    // Someone deletes the stream under the running nodes.
    delete_stream(&config).await;
    // Both notice within a few check intervals and re-create stream and consumer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let js = jetstream().await;
        let back = js.get_stream(&config.stream).await.is_ok();
        if back && a.is_connected() && b.is_connected() {
            break;
        }
        assert!(Instant::now() < deadline, "the nodes did not resubscribe");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the second node's check a moment too (both check every 200 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    a.publish(changed("grids", 2));
    a.flush().await.unwrap();
    assert_eq!(
        next(&mut on_b).await.0,
        Received::Event(changed("grids", 2))
    );
    quiet(&mut on_b, Duration::from_millis(300)).await;
    drop((a, b));
    delete_stream(&config).await;
}
