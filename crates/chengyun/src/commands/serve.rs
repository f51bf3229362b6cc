//! `chengyun serve`: the platform's HTTP server on the configured database.

use super::{OpenBus, open_bus, open_store};
use crate::config::Config;
use anyhow::Context;
use chengyun_api::{ApiConfig, AppState};
use std::time::Duration;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let admin_password = std::env::var("CHENGYUN_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(generated) = chengyun_services::auth::ensure_admin(store.as_ref(), admin_password)
        .await
        .context("cannot create the first admin account")?
    {
        println!("created user admin with password: {generated}");
        println!("(shown once; change it with `chengyun user passwd admin`)");
    }
    serve_store(&config, store).await
}

/// Serves the API and the web on an opened, migrated store until Ctrl-C.
pub async fn serve_store(config: &Config, store: chengyun_store::DynStore) -> anyhow::Result<()> {
    serve_with(config, store, false).await
}

/// [`serve_store`] with every shipped scenario pack enabled first (the demo).
pub async fn serve_demo_store(
    config: &Config,
    store: chengyun_store::DynStore,
) -> anyhow::Result<()> {
    serve_with(config, store, true).await
}

async fn serve_with(
    config: &Config,
    store: chengyun_store::DynStore,
    enable_packs: bool,
) -> anyhow::Result<()> {
    chengyun_api::install_metrics();
    let api = ApiConfig {
        cookie_secure: config.http.cookie_secure,
        session_ttl: Duration::from_secs(config.http.session_ttl_hours * 3600),
        max_body_bytes: config.http.max_body_bytes,
        max_import_bytes: config.http.max_import_bytes,
        trust_forwarded_for: config.http.trust_forwarded_for,
        data_dir: config.data_dir.clone(),
        map: chengyun_api::routes::map::MapConfig {
            tiles: config.map.tiles()?,
        },
        iot: chengyun_services::iot::IotConfig {
            departments: config.iot.departments.clone(),
            ..Default::default()
        },
        ..ApiConfig::default()
    };
    // The demo (`enable_packs`) runs on the in-process bus whatever [bus]
    // says: it must never need NATS.
    let bus = if enable_packs {
        OpenBus::in_process()
    } else {
        open_bus(&config.bus).await?
    };
    let state = AppState::with_bus(store.clone(), api, bus.bus.clone())
        .await
        .context("cannot load the city model")?;
    if enable_packs {
        super::enable_all_packs(&state, &chengyun_domain::audit::Actor::system("demo")).await?;
        println!(
            "scenario packs enabled: {}",
            chengyun_domain::iot::packs::keys().join(", ")
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server running there? pass --listen)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    println!(
        "chengyun listening on http://{addr} (database: {}, {})",
        config
            .database_url
            .as_deref()
            .map(|_| "PostgreSQL")
            .unwrap_or("embedded SQLite"),
        store.backend().as_str()
    );
    tracing::info!(%addr, backend = store.backend().as_str(), "chengyun serving");
    // Background workers: the case timer sweep (warnings, overdue
    // supervision) and webhook deliveries; both stop on the same signal.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timers = state
        .cases()
        .spawn_worker(Duration::from_secs(30), stop_rx.clone());
    let hooks = chengyun_api::webhooks::spawn_worker(
        store.clone(),
        state.feed().clone(),
        chengyun_api::webhooks::WebhookConfig::default(),
        stop_rx,
    );
    // The IoT brain: its tick (time rules, offline sweep, command timeouts)
    // and case listener, and the configured device gateways.
    let iot_workers = state.iot().spawn_workers();
    let sources = start_sources(config, &state)?;
    let iot = state.iot().clone();
    let ingest_state = state.clone();
    println!("bus: {}", bus.shown);
    tracing::info!(bus = %bus.shown, "internal bus");
    let result = chengyun_api::serve(listener, state, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    ingest_state.stop_ingest();
    for (name, task) in sources {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(source = name, error = %e, "ingest source ended with an error")
            }
            Err(e) => tracing::warn!(source = name, error = %e, "ingest source panicked"),
        }
    }
    for w in iot_workers {
        w.abort();
    }
    if let Err(e) = iot.shutdown().await {
        tracing::warn!(error = %e, "IoT telemetry writer did not flush");
    }
    let _ = timers.await;
    let _ = hooks.await;
    bus.flush().await;
    result.context("server failed")?;
    tracing::info!("chengyun stopped");
    Ok(())
}

type SourceTask = (
    &'static str,
    tokio::task::JoinHandle<Result<(), chengyun_ingest::source::SourceError>>,
);

/// Starts the configured device gateways (JT/T 808, watch, MQTT) on the
/// state's ingest context; they stop with `AppState::stop_ingest`.
fn start_sources(config: &Config, state: &AppState) -> anyhow::Result<Vec<SourceTask>> {
    use chengyun_ingest::source::{
        Jt808Config, MqttConfig, MqttMode, SourceConfig, TcpSettings, WatchConfig,
    };
    let mut built: Vec<(
        &'static str,
        String,
        Box<dyn chengyun_ingest::source::Source>,
    )> = Vec::new();
    if let Some(listen) = config.ingest.jt808_listen {
        let c = Jt808Config {
            tcp: TcpSettings {
                listen,
                ..Jt808Config::default().tcp
            },
            ..Jt808Config::default()
        };
        built.push(("jt808", format!("tcp://{listen}"), c.build()?));
    }
    if let Some(listen) = config.ingest.watch_listen {
        let c = WatchConfig {
            tcp: TcpSettings {
                listen,
                ..WatchConfig::default().tcp
            },
            ..WatchConfig::default()
        };
        built.push(("watch", format!("tcp://{listen}"), c.build()?));
    }
    let broker = match config.mqtt.mode.as_str() {
        "embedded" => Some(MqttMode::Embedded {
            listen: config.mqtt.listen,
        }),
        "external" => {
            let (host, port) = config.mqtt.external()?;
            Some(MqttMode::External {
                host,
                port,
                username: config.mqtt.username.clone(),
                password: config.mqtt.password.clone(),
            })
        }
        _ => None,
    };
    if let Some(broker) = broker {
        let shown = match &broker {
            MqttMode::Embedded { listen } => format!("mqtt://{listen} (embedded broker)"),
            MqttMode::External { host, port, .. } => {
                format!("mqtt://{host}:{port} (external broker)")
            }
        };
        let c = MqttConfig {
            broker,
            ..MqttConfig::default()
        };
        built.push(("mqtt", shown, c.build()?));
    }
    let mut tasks = Vec::new();
    // Each source announces the address it bound (a configured port 0 becomes
    // a real one); the state keeps them for `GET /api/v1/iot/gateways`.
    let (bound_tx, mut bound_rx) = tokio::sync::mpsc::unbounded_channel();
    for (name, shown, source) in built {
        println!("device gateway {name}: {shown}");
        tracing::info!(source = name, at = %shown, "starting ingest source");
        let mut ctx = state.ingest_context();
        ctx.bound = Some(bound_tx.clone());
        tasks.push((name, tokio::spawn(source.run(ctx))));
    }
    drop(bound_tx);
    let recorder = state.clone();
    tokio::spawn(async move {
        while let Some((name, resource)) = bound_rx.recv().await {
            if let Some(g) = gateway_of(&name, &resource) {
                recorder.add_gateway(g);
            }
        }
    });
    let http = "/ingest/http/v1/telemetry (Bearer <terminal id>:<secret>), /ingest/gb28181/notify";
    println!("device endpoints on the API listener: {http}");
    Ok(tasks)
}

/// What `GET /api/v1/iot/gateways` shows for a source's bound resource.
fn gateway_of(
    source: &str,
    resource: &chengyun_ingest::source::Resource,
) -> Option<chengyun_api::routes::gateways::Gateway> {
    let chengyun_ingest::source::Resource::TcpPort(addr) = resource else {
        return None;
    };
    let (name, protocol, credential) = if source.starts_with("jt808") {
        (
            "jt808",
            "JT/T 808 (2013/2019) over TCP",
            "0x0100 registration answers the auth code; 0x0102 authenticates",
        )
    } else if source.starts_with("watch") {
        (
            "watch",
            "watch protocol [3G*id*len*…] over TCP",
            "the watch id of a registered device",
        )
    } else if source.starts_with("mqtt") {
        (
            "mqtt",
            "MQTT 3.1.1/5 (embedded broker)",
            "username = terminal id, password = the device secret",
        )
    } else {
        return None;
    };
    Some(chengyun_api::routes::gateways::Gateway {
        name: name.into(),
        protocol: protocol.into(),
        address: Some(addr.to_string()),
        path: None,
        credential: credential.into(),
    })
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
