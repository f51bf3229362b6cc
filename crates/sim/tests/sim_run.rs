//! A short deterministic simulation against an in-process chengyun (SQLite, the demo city,
//! the real API and the real ingest gateways): device messages arrive, alarms become cases,
//! people report, and the staff close cases.

use chengyun_sim::city::{self, CitySpec};
use chengyun_sim::devices::{FleetSpec, Scene};
use chengyun_sim::embedded;
use chengyun_sim::people::{ApiClient, PeopleSpec};
use chengyun_sim::runner::{self, SimConfig, Targets};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_moves_devices_alarms_and_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: chengyun_store::DynStore = Arc::new(
        chengyun_store::SqliteStore::open(&dir.path().join("sim.db"))
            .await
            .expect("sqlite"),
    );
    store.migrate().await.expect("migrate");
    let spec = CitySpec {
        components: 100,
        ..CitySpec::default()
    };
    city::generate(store.as_ref(), &spec, &|_| {})
        .await
        .expect("city");
    let api_config = chengyun_api::ApiConfig {
        data_dir: dir.path().to_path_buf(),
        ..chengyun_api::ApiConfig::default()
    };
    let state = chengyun_api::AppState::new(store.clone(), api_config)
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chengyun_api::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    assert!(chengyun_sim::people::wait_ready(&api, Duration::from_secs(20)).await);

    let fleet = FleetSpec {
        seed: 11,
        per_scene: Scene::ALL
            .iter()
            .map(|s| (*s, if *s == Scene::Ebike { 6 } else { 3 }))
            .collect(),
        episode_per_report: 0.15,
        overload_share: 0.05,
    };
    let config = SimConfig {
        fleet: fleet.clone(),
        people: PeopleSpec {
            seed: 11,
            cases_per_min: 90.0,
            handler_speed_s: 0.2,
            ..PeopleSpec::default()
        },
        messages_per_s: 150.0,
        ..SimConfig::default()
    };
    let accounts: Vec<_> = chengyun_sim::devices::fleet(&fleet, &config.city)
        .into_iter()
        .map(|d| d.account)
        .collect();
    let (gw, bridge) = embedded::start_for_fleet([127, 0, 0, 1].into(), &accounts)
        .await
        .expect("gateways");
    let admin = ApiClient::login(&api, "admin", "chengyun-demo")
        .await
        .expect("admin login");
    let bridge_task = bridge
        .start_cases(admin.clone())
        .expect("bridge starts once");
    let targets = Targets {
        api: Some(api.clone()),
        jt808: Some(gw.jt808),
        watch: Some(gw.watch),
        http_telemetry: Some(gw.http_telemetry.clone()),
        gb28181: Some(gw.gb28181.clone()),
    };
    let running = runner::start(config, targets).await.expect("sim starts");
    assert!(
        running.staff > 10,
        "staff for every center and department: {}",
        running.staff
    );

    // Run until a case has gone round the whole loop (or 40 s).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = running.stats.snapshot();
        if started.elapsed() > Duration::from_secs(10)
            && s.cases_closed > 0
            && bridge.cases.load(Ordering::Relaxed) > 0
        {
            break;
        }
    }
    running.stop();
    let stats = running.stats.clone();
    running.join().await;
    let s = stats.snapshot();
    eprintln!(
        "{s:?}; bridge {bridge:?}, cases {}",
        bridge.cases.load(Ordering::Relaxed)
    );

    let all = admin
        .get("/api/v1/cases?limit=200")
        .await
        .expect("list all");
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for c in all["items"].as_array().into_iter().flatten() {
        *states
            .entry(format!("{}@{}", c["state"], c["holder_department"]))
            .or_default() += 1;
    }
    eprintln!("case states: {states:?}");
    assert!(s.sent > 300, "{s:?}");
    assert!(s.acked > s.sent / 2, "the gateways answered: {s:?}");
    // Every scene's devices reached the platform and have a latest state.
    for scene in Scene::ALL {
        let seen = accounts
            .iter()
            .filter(|a| a.scene == scene)
            .filter(|a| bridge.latest(&a.device_id).is_some())
            .count();
        assert!(seen > 0, "no {scene:?} device arrived");
    }
    let e = bridge
        .latest("SIM-ebike-00001")
        .expect("e-bike latest state");
    assert!(e.values.contains_key("speed") && e.messages > 1, "{e:?}");
    // Alarms became cases, people reported, staff closed.
    assert!(bridge.alarms.load(Ordering::Relaxed) > 0);
    assert!(
        bridge.cases.load(Ordering::Relaxed) > 0,
        "no alarm became a case"
    );
    let iot = admin
        .get("/api/v1/cases?source=iot_alarm&limit=5")
        .await
        .expect("list");
    assert!(
        iot["items"].as_array().is_some_and(|a| !a.is_empty()),
        "{iot}"
    );
    assert!(s.cases_reported > 3, "{s:?}");
    assert!(s.actions > 10, "{s:?}");
    assert!(s.cases_closed > 0, "no case was closed: {s:?}");
    let closed = admin
        .get("/api/v1/cases?state=closed&limit=5")
        .await
        .expect("list closed");
    assert!(
        closed["items"].as_array().is_some_and(|a| !a.is_empty()),
        "{closed}"
    );

    gw.stop().await;
    bridge_task.abort();
    let _ = stop_tx.send(());
    let _ = server.await;
}
