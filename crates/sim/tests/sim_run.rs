//! A short deterministic simulation against an in-process chengyun (SQLite, the demo city,
//! every scenario pack, the real API and the server's own JT/T 808 and watch gateways):
//! the fleet is enrolled through the REST API, its messages go through the server's
//! authentication, rule engine and alarms, alarms become dispatched cases, people report,
//! and the staff close cases.

use chengyun_ingest::source::{
    Jt808Config, MqttConfig, MqttMode, Resource, SourceConfig, TcpSettings, WatchConfig,
};
use chengyun_sim::city::{self, CitySpec};
use chengyun_sim::devices::{FleetSpec, Scene};
use chengyun_sim::enrol;
use chengyun_sim::people::{ApiClient, PeopleSpec};
use chengyun_sim::runner::{self, SimConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The server's TCP gateways and embedded MQTT broker on free ports, recorded in the state the way `chengyun serve`
/// records them (so `GET /api/v1/iot/gateways` answers them).
async fn start_gateways(state: &chengyun_api::AppState) {
    let tcp = TcpSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..TcpSettings::default()
    };
    let sources = [
        (
            "jt808",
            Jt808Config {
                tcp,
                ..Jt808Config::default()
            }
            .build()
            .expect("jt808"),
        ),
        (
            "watch",
            WatchConfig {
                tcp,
                ..WatchConfig::default()
            }
            .build()
            .expect("watch"),
        ),
        (
            "mqtt",
            MqttConfig {
                broker: MqttMode::Embedded {
                    listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
                },
                ..MqttConfig::default()
            }
            .build()
            .expect("mqtt"),
        ),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (_, source) in sources {
        let mut ctx = state.ingest_context();
        ctx.bound = Some(tx.clone());
        tokio::spawn(source.run(ctx));
    }
    for _ in 0..3 {
        let (name, r) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("gateway bound in time")
            .expect("announcement");
        let Resource::TcpPort(addr) = r else {
            panic!("{name}: {r:?}")
        };
        let name = ["jt808", "watch", "mqtt"]
            .into_iter()
            .find(|n| name.starts_with(n))
            .expect("a known gateway");
        state.add_gateway(chengyun_api::routes::gateways::Gateway {
            name: name.into(),
            protocol: name.into(),
            address: Some(addr.to_string()),
            path: None,
            credential: String::new(),
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_goes_through_the_servers_registry_rules_and_cases() {
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
    let mut api_config = chengyun_api::ApiConfig {
        data_dir: dir.path().to_path_buf(),
        ..chengyun_api::ApiConfig::default()
    };
    for (hint, code) in city::PACK_DEPARTMENTS {
        api_config.iot.departments.insert(hint.into(), code.into());
    }
    let state = chengyun_api::AppState::new(store.clone(), api_config)
        .await
        .expect("state");
    let actor = chengyun_domain::audit::Actor::system("test");
    for key in chengyun_domain::iot::packs::keys() {
        state.iot().enable_pack(key, &actor).await.expect("pack");
    }
    state.reload_city().await.expect("reload");
    let _workers = state.iot().spawn_workers();
    start_gateways(&state).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chengyun_api::serve(listener, state.clone(), async {
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
    let admin = ApiClient::login(&api, "admin", "chengyun-demo")
        .await
        .expect("admin login");
    let mut devices = chengyun_sim::devices::fleet(&fleet, &config.city);
    let enrolled = enrol::enrol(&admin, &mut devices, None)
        .await
        .expect("enrol");
    assert_eq!(enrolled.created, devices.len());
    // Enrolling again keeps the devices and issues the HTTP ones fresh tokens.
    let mut again = chengyun_sim::devices::fleet(&fleet, &config.city);
    let second = enrol::enrol(&admin, &mut again, None)
        .await
        .expect("enrol again");
    assert_eq!(second.existing, devices.len());
    let targets = enrol::discover(&admin, &api).await.expect("gateways");
    assert!(
        targets.jt808.is_some() && targets.watch.is_some() && targets.mqtt.is_some(),
        "{targets:?}"
    );
    assert!(
        targets
            .http_telemetry
            .as_deref()
            .is_some_and(|u| u.starts_with(&api) && u.ends_with("/telemetry")),
        "{targets:?}"
    );
    let accounts: Vec<_> = again.iter().map(|d| d.account.clone()).collect();
    let running = runner::start_fleet(config, targets, again)
        .await
        .expect("sim starts");
    assert!(
        running.staff > 10,
        "staff for every center and department: {}",
        running.staff
    );

    // Run until the server raised alarms, one became a case, and a case went round the
    // whole loop (or 60 s).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = running.stats.snapshot();
        let c = state.iot().counters();
        if started.elapsed() > Duration::from_secs(10) && s.cases_closed > 0 && c.cases_opened > 0 {
            break;
        }
    }
    running.stop();
    let stats = running.stats.clone();
    running.join().await;
    let s = stats.snapshot();
    let c = state.iot().counters();
    eprintln!("{s:?}; server {c:?}");
    assert!(s.sent > 300, "{s:?}");
    assert!(s.acked > s.sent / 2, "the gateways answered: {s:?}");
    assert_eq!(
        c.rejected_unknown_device, 0,
        "every simulated device is registered: {c:?}"
    );

    // Every scene's devices reached the server's registry and have a latest state.
    for scene in Scene::ALL {
        let mut seen = 0;
        for a in accounts.iter().filter(|a| a.scene == scene) {
            let d = admin
                .get(&format!("/api/v1/devices/{}", a.device_id))
                .await
                .expect("device");
            if !d["latest"].is_null() {
                seen += 1;
            }
        }
        assert!(seen > 0, "no {scene:?} device arrived at the server");
    }
    let e = admin
        .get("/api/v1/devices/SIM-ebike-00001")
        .await
        .expect("e-bike");
    assert!(e["latest"]["values"]["speed"].is_number(), "{e}");
    assert!(e["latest"]["location"]["lon"].is_number(), "{e}");

    // The rule engine raised alarms; an alarm became an iot_alarm case.
    let alarms = admin.get("/api/v1/alarms?limit=100").await.expect("alarms");
    let items = alarms["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "no alarm raised: {alarms}");
    assert!(c.alarms_raised > 0 && c.cases_opened > 0, "{c:?}");
    let iot = admin
        .get("/api/v1/cases?source=iot_alarm&limit=5")
        .await
        .expect("list");
    assert!(
        iot["items"].as_array().is_some_and(|a| !a.is_empty()),
        "{iot}"
    );
    // People reported and the staff closed cases.
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

    let _ = stop_tx.send(());
    let _ = server.await;
    state.stop_ingest();
}
