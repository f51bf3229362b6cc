//! `chengyun sim`: the city simulator against a running server, and the simulator inside
//! `chengyun demo`.

use crate::cli::SimArgs;
use anyhow::Context;
use chengyun_sim::devices::FleetSpec;
use chengyun_sim::enrol::{self, Enrolled};
use chengyun_sim::people::{ApiClient, PeopleSpec};
use chengyun_sim::runner::{self, Running, SimConfig, Targets};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where the devices send, when flags say so rather than the server.
#[derive(Debug, Clone, Default)]
pub struct RemoteGateways {
    pub jt808: Option<SocketAddr>,
    pub watch: Option<SocketAddr>,
    pub http_telemetry: Option<String>,
    pub gb28181: Option<String>,
    pub mqtt: Option<SocketAddr>,
}

/// The simulator's configuration from the flags.
pub fn config(args: &SimArgs, admin_user: &str, admin_password: &str) -> anyhow::Result<SimConfig> {
    let mut fleet = FleetSpec::demo(args.seed);
    if let Some(f) = &args.fleet {
        fleet.per_scene =
            runner::parse_fleet(f).map_err(|e| anyhow::anyhow!("--sim-fleet: {e}"))?;
    }
    fleet.episode_per_report = args.episodes;
    for (name, v) in [
        ("--sim-late-share", args.late_share),
        ("--sim-return-share", args.return_share),
        ("--sim-rework-share", args.rework_share),
        ("--sim-episodes", args.episodes),
    ] {
        if !(0.0..=1.0).contains(&v) {
            anyhow::bail!("{name} {v} must be a share between 0 and 1");
        }
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let ok = positive(args.rate)
        && positive(args.handler_speed)
        && args.cases_per_min.is_finite()
        && args.cases_per_min >= 0.0;
    if !ok {
        anyhow::bail!(
            "--sim-rate and --sim-handler-speed must be above 0, --sim-cases-per-min not below 0"
        );
    }
    Ok(SimConfig {
        fleet,
        people: PeopleSpec {
            seed: args.seed,
            cases_per_min: args.cases_per_min,
            handler_speed_s: args.handler_speed,
            late_share: args.late_share,
            return_share: args.return_share,
            rework_share: args.rework_share,
            ..PeopleSpec::default()
        },
        messages_per_s: args.rate,
        admin_user: admin_user.to_owned(),
        admin_password: admin_password.to_owned(),
        ..SimConfig::default()
    })
}

/// A started simulation.
pub struct Started {
    pub running: Running,
    /// Where the devices send.
    pub targets: Targets,
    /// A session for the server-side figures of the status line.
    pub admin: ApiClient,
    pub enrolled: Enrolled,
    pub started: Instant,
    /// The last server-side figures and when they were read.
    server: std::sync::Mutex<(Instant, String)>,
}

/// Enrols the fleet in the server's registry and starts it against the server's own
/// gateways (as discovered, or as `remote` overrides them), and the people against `api`.
pub async fn start(
    api: &str,
    config: SimConfig,
    remote: RemoteGateways,
    owner: Option<&str>,
    wait_for_tcp: bool,
) -> anyhow::Result<Started> {
    let started = Instant::now();
    let admin = ApiClient::login(api, &config.admin_user, &config.admin_password)
        .await
        .with_context(|| format!("cannot log in to {api} as {}", config.admin_user))?;
    let mut devices = chengyun_sim::devices::fleet(&config.fleet, &config.city);
    let enrolled = enrol::enrol(&admin, &mut devices, owner)
        .await
        .context("cannot enrol the simulated devices")?;
    // The demo's TCP gateways announce their ports a moment after the API answers.
    let mut served = enrol::discover(&admin, api).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while wait_for_tcp
        && (served.jt808.is_none() || served.watch.is_none() || served.mqtt.is_none())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        served = enrol::discover(&admin, api).await?;
    }
    let targets = Targets {
        api: Some(api.to_owned()),
        jt808: remote.jt808.or(served.jt808),
        watch: remote.watch.or(served.watch),
        http_telemetry: remote.http_telemetry.or(served.http_telemetry),
        gb28181: remote.gb28181.or(served.gb28181),
        mqtt: remote.mqtt.or(served.mqtt),
    };
    for (what, missing, key) in [
        (
            "e-bike trackers (JT/T 808)",
            targets.jt808.is_none(),
            "ingest.jt808_listen",
        ),
        (
            "wristbands and bracelets (watch)",
            targets.watch.is_none(),
            "ingest.watch_listen",
        ),
        (
            "kitchen cameras, smoke detectors and component sensors (MQTT)",
            targets.mqtt.is_none(),
            "mqtt.mode = \"embedded\"",
        ),
    ] {
        if missing {
            eprintln!(
                "the server runs no gateway for the {what}: they stay silent (set {key} on the server, or pass the gateway's address)"
            );
        }
    }
    let running = runner::start_fleet(config, targets.clone(), devices)
        .await
        .context("cannot start the simulator")?;
    Ok(Started {
        running,
        targets,
        admin,
        enrolled,
        started,
        server: std::sync::Mutex::new((Instant::now() - Duration::from_secs(3600), String::new())),
    })
}

/// The server's own figures (devices online, open alarms, cases from alarms), read at
/// most every 5 s.
async fn server_figures(s: &Started) -> String {
    {
        let last = s.server.lock().unwrap_or_else(|p| p.into_inner());
        if last.0.elapsed() < Duration::from_secs(5) {
            return last.1.clone();
        }
    }
    let line = match s.admin.get("/api/v1/iot/overview").await {
        Ok(o) => format!(
            " | server: online {}/{} alarms open {}",
            o["devices_online"], o["devices_total"], o["alarms_open"]
        ),
        Err(e) => format!(" | server: {e}"),
    };
    *s.server.lock().unwrap_or_else(|p| p.into_inner()) = (Instant::now(), line.clone());
    line
}

/// One status line.
pub async fn status_line(s: &Started, last: &mut (Instant, u64)) -> String {
    let snap = s.running.stats.snapshot();
    let dt = last.0.elapsed().as_secs_f64().max(1e-3);
    let rate = (snap.sent - last.1) as f64 / dt;
    *last = (Instant::now(), snap.sent);
    let server = server_figures(s).await;
    format!(
        "sim: {:.0} msg/s, sent {} acked {} errors {} skipped {} connected {} | episodes {} | reported {} actions {} closed {} returned {} reworked {}{server}",
        rate,
        snap.sent,
        snap.acked,
        snap.errors,
        snap.skipped,
        snap.connected,
        snap.episodes,
        snap.cases_reported,
        snap.actions,
        snap.cases_closed,
        snap.returned,
        snap.reworked
    )
}

/// Prints stats every few seconds until `until` resolves (or the duration passes), then
/// stops the simulator.
pub async fn supervise(
    s: Started,
    duration: Option<f64>,
    until: impl std::future::Future<Output = ()>,
) {
    let pb = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut last = (Instant::now(), 0u64);
    let deadline = duration.map(|d| Instant::now() + Duration::from_secs_f64(d));
    let mut tick = tokio::time::interval(Duration::from_secs(if pb.is_hidden() { 10 } else { 1 }));
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut until => break,
        }
        let line = status_line(&s, &mut last).await;
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.set_message(line);
            pb.tick();
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    pb.finish_and_clear();
    s.running.stop();
    let summary = status_line(&s, &mut last).await;
    s.running.join().await;
    println!("{summary}");
}

/// `chengyun sim --target URL`.
pub async fn run_remote(
    target: &str,
    admin_user: &str,
    admin_password: &str,
    remote: RemoteGateways,
    args: &SimArgs,
) -> anyhow::Result<()> {
    let config = config(args, admin_user, admin_password)?;
    let api = target.trim_end_matches('/').to_owned();
    let s = start(&api, config, remote, args.owner.as_deref(), false).await?;
    print_started(&s, &api);
    supervise(s, args.duration, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

fn print_started(s: &Started, api: &str) {
    let t = &s.targets;
    let shown = |a: Option<String>| a.unwrap_or_else(|| "—".into());
    println!(
        "simulator: {} devices ({} enrolled now, {} already registered) and {} staff against {api}; devices → JT/T 808 {} · watch {} · MQTT {} · HTTP {} · GB/T 28181 {} (up in {:.1} s)",
        s.running.devices,
        s.enrolled.created,
        s.enrolled.existing,
        s.running.staff,
        shown(t.jt808.map(|a| a.to_string())),
        shown(t.watch.map(|a| a.to_string())),
        shown(t.mqtt.map(|a| a.to_string())),
        shown(t.http_telemetry.clone()),
        shown(t.gb28181.clone()),
        s.started.elapsed().as_secs_f64()
    );
}

/// Inside `chengyun demo`: waits for the server at `listen`, then runs the simulator
/// against the server's own registry and gateways until the process ends.
pub async fn run_in_demo(
    listen: SocketAddr,
    args: SimArgs,
    admin_password: String,
) -> anyhow::Result<()> {
    let ip = if listen.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    let api = format!("http://{}", SocketAddr::new(ip, listen.port()));
    if !chengyun_sim::people::wait_ready(&api, Duration::from_secs(60)).await {
        anyhow::bail!("the demo server did not come up at {api}");
    }
    let config = config(&args, "admin", &admin_password)?;
    let s = start(
        &api,
        config,
        RemoteGateways::default(),
        args.owner.as_deref(),
        true,
    )
    .await?;
    print_started(&s, &api);
    supervise(s, args.duration, std::future::pending()).await;
    Ok(())
}
