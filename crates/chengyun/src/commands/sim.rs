//! `chengyun sim`: the city simulator against a running server, and the simulator inside
//! `chengyun demo`.

use crate::cli::SimArgs;
use anyhow::Context;
use chengyun_sim::devices::FleetSpec;
use chengyun_sim::embedded::{self, AlarmBridge, Gateways};
use chengyun_sim::people::{ApiClient, PeopleSpec};
use chengyun_sim::runner::{self, Running, SimConfig, Targets};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server's own gateways, when it runs them.
#[derive(Debug, Clone, Default)]
pub struct RemoteGateways {
    pub jt808: Option<SocketAddr>,
    pub watch: Option<SocketAddr>,
    pub http_telemetry: Option<String>,
    pub gb28181: Option<String>,
}

impl RemoteGateways {
    fn any(&self) -> bool {
        self.jt808.is_some()
            || self.watch.is_some()
            || self.http_telemetry.is_some()
            || self.gb28181.is_some()
    }
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

/// A started simulation with its local gateways (if any).
pub struct Started {
    pub running: Running,
    pub gateways: Option<(Gateways, Arc<AlarmBridge>)>,
    pub started: Instant,
}

/// Starts gateways (unless `remote` names the server's) and the simulator against `api`.
pub async fn start(
    api: &str,
    config: SimConfig,
    remote: RemoteGateways,
) -> anyhow::Result<Started> {
    let started = Instant::now();
    let (targets, gateways) = if remote.any() {
        (
            Targets {
                api: Some(api.to_owned()),
                jt808: remote.jt808,
                watch: remote.watch,
                http_telemetry: remote.http_telemetry,
                gb28181: remote.gb28181,
            },
            None,
        )
    } else {
        let accounts: Vec<_> = chengyun_sim::devices::fleet(&config.fleet, &config.city)
            .into_iter()
            .map(|d| d.account)
            .collect();
        let (gw, bridge) = embedded::start_for_fleet([127, 0, 0, 1].into(), &accounts)
            .await
            .context("cannot start the simulator's gateways")?;
        let bridge_client = ApiClient::login(api, &config.admin_user, &config.admin_password)
            .await
            .with_context(|| format!("cannot log in to {api} as {}", config.admin_user))?;
        bridge.start_cases(bridge_client);
        (
            Targets {
                api: Some(api.to_owned()),
                jt808: Some(gw.jt808),
                watch: Some(gw.watch),
                http_telemetry: Some(gw.http_telemetry.clone()),
                gb28181: Some(gw.gb28181.clone()),
            },
            Some((gw, bridge)),
        )
    };
    let running = runner::start(config, targets)
        .await
        .context("cannot start the simulator")?;
    Ok(Started {
        running,
        gateways,
        started,
    })
}

/// One status line.
pub fn status_line(s: &Started, last: &mut (Instant, u64)) -> String {
    let snap = s.running.stats.snapshot();
    let dt = last.0.elapsed().as_secs_f64().max(1e-3);
    let rate = (snap.sent - last.1) as f64 / dt;
    *last = (Instant::now(), snap.sent);
    let alarms = s
        .gateways
        .as_ref()
        .map(|(_, b)| {
            format!(
                " alarms {} → cases {}",
                b.alarms.load(std::sync::atomic::Ordering::Relaxed),
                b.cases.load(std::sync::atomic::Ordering::Relaxed)
            )
        })
        .unwrap_or_default();
    format!(
        "sim: {:.0} msg/s, sent {} acked {} errors {} connected {} | episodes {}{alarms} | reported {} actions {} closed {} returned {} reworked {}",
        rate,
        snap.sent,
        snap.acked,
        snap.errors,
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
        let line = status_line(&s, &mut last);
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
    let summary = status_line(&s, &mut last);
    s.running.join().await;
    if let Some((gw, _)) = s.gateways {
        gw.stop().await;
    }
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
    if !remote.any() {
        eprintln!(
            "no server gateways given (--jt808/--watch/--http-telemetry/--gb28181): running them here on loopback and forwarding alarms to {api} as cases"
        );
    }
    let s = start(&api, config, remote).await?;
    println!(
        "simulating {} devices and {} staff against {api} (Ctrl-C stops)",
        s.running.devices, s.running.staff
    );
    supervise(s, args.duration, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// Inside `chengyun demo`: waits for the server at `listen`, then runs the simulator until
/// the process ends.
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
    let s = start(&api, config, RemoteGateways::default()).await?;
    if let Some((gw, _)) = &s.gateways {
        println!(
            "simulator: {} devices, {} staff; gateways JT/T 808 {} · watch {} · HTTP {} · GB/T 28181 {} (up in {:.1} s)",
            s.running.devices,
            s.running.staff,
            gw.jt808,
            gw.watch,
            gw.http_telemetry,
            gw.gb28181,
            s.started.elapsed().as_secs_f64()
        );
    }
    supervise(s, args.duration, std::future::pending()).await;
    Ok(())
}
