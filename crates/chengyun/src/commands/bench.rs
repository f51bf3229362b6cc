//! `chengyun bench <scenario>`: end-to-end scenarios through the real interfaces, each
//! printed beside the baseline it is compared with, measured in the same run.
//!
//! | scenario | measures | baseline |
//! |---|---|---|
//! | `telemetry` | JT/T 808 0x0200 messages/s through the server's gateway and IoT service, stored durably | the machine's Mosquitto relaying the same frames (QoS 1) to one subscriber |
//! | `intake` | cases/s and p50/p95/p99 of `POST /api/v1/cases` at a fixed offered rate | a plain SQLite insert loop of the same rows |
//! | `queries` | big-screen and evaluation latency over N cases' statistics | the same sums from the raw rows (no daily roll-up) |
//! | `connections` | memory per authenticated JT/T 808 connection to the server, messages/s over them | idle TCP connections to a bare tokio listener |
//!
//! `screen` is not a comparison but a fixture: it fills a data dir that `chengyun serve
//! --data-dir` opens with the demo city, N cases through the real batch intake and M
//! devices with latest positions, for `web/e2e/perf.mjs --url` to time the big screen.

use anyhow::{Context, bail};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_sim::bench as b;
use chengyun_sim::city::{self, CitySpec};
use chengyun_sim::people::{self, ApiClient};
use chengyun_store::DynStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The flags of `chengyun bench`.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: String,
    pub bus: String,
    pub quick: bool,
    pub cases: Option<usize>,
    pub messages: Option<usize>,
    pub connections: Option<usize>,
    pub rate: Option<f64>,
    pub seconds: Option<f64>,
    pub mosquitto: String,
    pub database_url: Option<String>,
    pub devices: Option<usize>,
    /// Where the screen scenario leaves its database (kept after the run).
    pub data_dir: Option<std::path::PathBuf>,
}

pub async fn run(scenario: &str, o: Options) -> anyhow::Result<()> {
    match o.bus.as_str() {
        "inprocess" => {}
        #[cfg(feature = "nats")]
        "nats" => {}
        #[cfg(not(feature = "nats"))]
        "nats" => bail!("--bus nats: this chengyun was built without the nats feature"),
        other => bail!("--bus {other:?}: use inprocess or nats"),
    }
    if !matches!(o.backend.as_str(), "sqlite" | "postgres") {
        bail!("--backend {:?}: use sqlite or postgres", o.backend);
    }
    println!(
        "machine: {} cores, {}; backend {}, bus {}{}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model(),
        o.backend,
        o.bus,
        if o.quick { ", quick sizes" } else { "" }
    );
    let all = ["telemetry", "intake", "queries", "connections"];
    let list: Vec<&str> = if scenario == "all" {
        all.to_vec()
    } else {
        vec![scenario]
    };
    for s in list {
        match s {
            "telemetry" => telemetry(&o).await?,
            "intake" => intake(&o).await?,
            "queries" => queries(&o).await?,
            "connections" => connections(&o).await?,
            "screen" => screen(&o).await?,
            other => bail!(
                "unknown scenario {other:?}: use telemetry, intake, queries, connections, screen or all"
            ),
        }
    }
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A store of the chosen backend, fresh for the run, and what to clean up.
struct Backend {
    store: DynStore,
    pg: Option<chengyun_store::PgStore>,
    dir: TempDir,
    /// `--bus`: the servers of the run publish on it.
    bus: String,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!(
            "chengyun-bench-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
        Ok(Self(p))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Backend {
    async fn open(o: &Options) -> anyhow::Result<Self> {
        let dir = TempDir::new()?;
        if o.backend == "postgres" {
            let url = o
                .database_url
                .clone()
                .or_else(|| std::env::var("CHENGYUN_BENCH_PG").ok())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let schema = format!(
                "cy_bench_{}_{}",
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            );
            let pg = chengyun_store::PgStore::connect_in_schema(&url, &schema)
                .await
                .with_context(|| format!("PostgreSQL needed at {url}"))?;
            let store: DynStore = Arc::new(pg.clone());
            store.migrate().await.context("cannot migrate")?;
            return Ok(Self {
                store,
                pg: Some(pg),
                dir,
                bus: o.bus.clone(),
            });
        }
        let store = chengyun_store::open(&dir.path().join("bench.db").display().to_string())
            .await
            .context("cannot open SQLite")?;
        store.migrate().await.context("cannot migrate")?;
        Ok(Self {
            store,
            pg: None,
            dir,
            bus: o.bus.clone(),
        })
    }

    async fn close(self) {
        if let Some(pg) = self.pg {
            let _ = pg.drop_schema().await;
        }
    }
}

/// The API on a free loopback port over `store`, with the demo city generated in it.
struct Server {
    api: String,
    state: chengyun_api::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// The run's own NATS stream (`--bus nats`), deleted at stop.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    nats: Option<BenchNats>,
}

#[cfg(feature = "nats")]
type BenchNats = chengyun_bus::NatsBus;
#[cfg(not(feature = "nats"))]
type BenchNats = std::convert::Infallible;

/// The bus of a benchmark server: in-process, or a NATS JetStream stream of
/// its own (`CHENGYUN_BENCH_NATS`, default nats://127.0.0.1:4222).
async fn bench_bus(kind: &str) -> anyhow::Result<(chengyun_bus::DynBus, Option<BenchNats>)> {
    #[cfg(feature = "nats")]
    if kind == "nats" {
        let tag = format!(
            "{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        let config = chengyun_bus::NatsBusConfig {
            url: std::env::var("CHENGYUN_BENCH_NATS")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
            stream: format!("CHENGYUN_BENCH_{tag}"),
            subject_prefix: format!("chengyun_bench.{tag}"),
            max_age: Duration::from_secs(3600),
            ..Default::default()
        };
        let nats = chengyun_bus::NatsBus::connect(config.clone())
            .await
            .context("--bus nats")?;
        println!(
            "bus: NATS JetStream {} stream {} (file storage, acked publishes, one ordered consumer)",
            config.url, config.stream
        );
        return Ok((Arc::new(nats.clone()), Some(nats)));
    }
    println!("bus: in-process ({kind})");
    Ok((Arc::new(chengyun_bus::InProcessBus::new()), None))
}

async fn server(backend: &Backend) -> anyhow::Result<Server> {
    server_with(backend, chengyun_services::iot::IotConfig::default()).await
}

/// [`server`] with the IoT service configured as given.
async fn server_with(
    backend: &Backend,
    iot: chengyun_services::iot::IotConfig,
) -> anyhow::Result<Server> {
    let spec = CitySpec {
        components: 300,
        ..CitySpec::default()
    };
    city::generate(backend.store.as_ref(), &spec, &|_| {})
        .await
        .context("cannot generate the demo city")?;
    let config = chengyun_api::ApiConfig {
        data_dir: backend.dir.path().to_path_buf(),
        iot,
        ..chengyun_api::ApiConfig::default()
    };
    let (bus, nats) = bench_bus(&backend.bus).await?;
    let state = chengyun_api::AppState::with_bus(backend.store.clone(), config, bus)
        .await
        .context("cannot build the API state")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    let task = tokio::spawn(async move {
        let _ = chengyun_api::serve(listener, served, async {
            let _ = rx.await;
        })
        .await;
    });
    let api = format!("http://{addr}");
    if !people::wait_ready(&api, Duration::from_secs(20)).await {
        bail!("the benchmark server did not come up");
    }
    Ok(Server {
        api,
        state,
        stop: Some(tx),
        task,
        nats,
    })
}

impl Server {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        #[cfg(feature = "nats")]
        if let Some(nats) = &self.nats {
            // Everything published is stored; let the last events come back.
            let _ = nats.flush().await;
        }
        let mut seen = self.state.feed().last_id();
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.state.feed().last_id();
            if now == seen {
                break;
            }
            seen = now;
        }
        println!(
            "bus {}: {seen} events reached the server's live feed",
            self.state.bus().kind()
        );
        #[cfg(feature = "nats")]
        if let Some(nats) = self.nats.take()
            && let Err(e) = nats.delete_stream().await
        {
            println!("bus: {e}");
        }
    }
}

/// A server for the device scenarios: the e-bike pack enabled, per-device rate limits
/// out of the way (a flood is not a tracker's pace), `devices` registered with their
/// terminal ids, and the JT/T 808 gateway on a free loopback port on the server's own
/// ingest context (authentication, decode, rules, latest state, durable history).
async fn device_server(
    backend: &Backend,
    devices: &[chengyun_sim::devices::SimDevice],
) -> anyhow::Result<(Server, std::net::SocketAddr)> {
    use chengyun_ingest::source::{Jt808Config, Resource, SourceConfig, TcpSettings};
    let iot = chengyun_services::iot::IotConfig {
        rate_per_sec: 1e9,
        burst: 1e9,
        ..Default::default()
    };
    let srv = server_with(backend, iot).await?;
    let actor = Actor::system("bench");
    srv.state
        .iot()
        .enable_pack("ebike_antitheft", &actor)
        .await
        .context("cannot enable the e-bike pack")?;
    let mut batch = Vec::with_capacity(devices.len());
    for d in devices {
        let a = &d.account;
        let mut device =
            chengyun_domain::iot::Device::new(&a.device_id, a.product_key, &a.name, "DEMO-GA");
        device.terminal_id = Some(a.terminal_id.clone());
        batch.push(device);
    }
    srv.state
        .iot()
        .put_devices(batch, &actor)
        .await
        .context("cannot register the devices")?;
    let source = Jt808Config {
        tcp: TcpSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            max_connections: devices.len() * 2 + 16,
            idle_timeout_secs: 600,
            ..Jt808Config::default().tcp
        },
        ..Jt808Config::default()
    }
    .build()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ctx = srv.state.ingest_context();
    ctx.bound = Some(tx);
    tokio::spawn(source.run(ctx));
    let addr = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((_, Resource::TcpPort(a)))) if a.port() != 0 => break a,
            Ok(Some(_)) => continue,
            _ => bail!("the JT/T 808 gateway did not bind"),
        }
    };
    Ok((srv, addr))
}

async fn telemetry(o: &Options) -> anyhow::Result<()> {
    let conns = if o.quick { 20 } else { 100 };
    let total = o.messages.unwrap_or(if o.quick { 5_000 } else { 200_000 });
    let per = total.div_ceil(conns);
    let total = per * conns;
    println!(
        "\n== telemetry: {total} JT/T 808 0x0200 messages over {conns} connections into the server ({})",
        o.backend
    );
    let backend = Backend::open(o).await?;
    let devices = b::ebikes(1, conns);
    let (srv, jt808) = device_server(&backend, &devices).await?;
    let iot = srv.state.iot().clone();
    let (open, failed) = b::open_connections(jt808, devices, 64).await;
    if !failed.is_empty() {
        bail!(
            "{} of {conns} connections failed: {}",
            failed.len(),
            failed[0]
        );
    }
    let before = iot.counters().messages;
    let started = Instant::now();
    let flooded = b::flood(open, per).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while iot.counters().messages - before < total as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Durable: the clock stops when the history writer has committed everything.
    iot.flush()
        .await
        .context("the telemetry writer did not flush")?;
    let elapsed = started.elapsed();
    let got = iot.counters().messages - before;
    let c = iot.counters();
    drop(flooded);
    println!(
        "chengyun JT/T 808 gateway → IoT service ({}): {got}/{total} delivered and stored in {elapsed:.2?} = {:.0} msg/s (decode, authenticated session, 0x8001 per message, validation, e-bike rules, latest state, history committed); rejected {}",
        o.backend,
        got as f64 / elapsed.as_secs_f64(),
        c.rejected_invalid + c.rejected_unknown_device + c.rate_limited
    );
    srv.stop().await;
    backend.close().await;
    // Baseline: the same frames through the machine's Mosquitto.
    let mut one = b::ebikes(2, 1).remove(0);
    let frames = b::location_frames(&mut one, total);
    match b::mqtt_relay(&o.mosquitto, &frames, 8, Duration::from_secs(300)).await {
        Ok(r) => println!(
            "baseline Mosquitto {} relay (QoS 1, 8 publishers → 1 subscriber, ≤ 300 ahead of it): {}/{} received in {:.2?} = {:.0} msg/s",
            o.mosquitto,
            r.received,
            r.published,
            r.elapsed,
            r.received as f64 / r.elapsed.as_secs_f64()
        ),
        Err(e) => println!("baseline Mosquitto: not measured ({e})"),
    }
    Ok(())
}

async fn intake(o: &Options) -> anyhow::Result<()> {
    let rate = o.rate.unwrap_or(if o.quick { 20.0 } else { 50.0 });
    let secs = o.seconds.unwrap_or(if o.quick { 3.0 } else { 30.0 });
    let n = (rate * secs).round().max(1.0) as usize;
    println!(
        "\n== intake: {n} cases offered at {rate}/s through POST /api/v1/cases ({})",
        o.backend
    );
    let backend = Backend::open(o).await?;
    let srv = server(&backend).await?;
    let client = ApiClient::login(&srv.api, "clerk", "chengyun-demo")
        .await
        .context("cannot log in as clerk")?;
    let bodies = people::report_bodies(7, n);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    for (i, body) in bodies.iter().cloned().enumerate() {
        let at = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
        let (c, sem) = (client.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            let t = Instant::now();
            let r = c.post("/api/v1/cases", &body).await;
            (t.elapsed(), r.is_ok())
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut ok = 0usize;
    for t in tasks {
        if let Ok((d, good)) = t.await {
            lat.push(d);
            ok += usize::from(good);
        }
    }
    let elapsed = started.elapsed();
    let [p50, p95, p99, max] = b::percentiles(&mut lat);
    println!(
        "chengyun intake over HTTP: {ok}/{n} created in {elapsed:.2?} = {:.1} cases/s; latency p50 {} p95 {} p99 {} max {} (locate, classify, dedupe, dispatch rules, number, timers, stats, audit, one transaction)",
        ok as f64 / elapsed.as_secs_f64(),
        ms(p50),
        ms(p95),
        ms(p99),
        ms(max)
    );
    srv.stop().await;
    let base_path = backend.dir.path().join("baseline.db");
    let mut base = b::sqlite_insert_loop(&base_path, &bodies)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let sum: Duration = base.iter().sum();
    let [p50, p95, p99, max] = b::percentiles(&mut base);
    println!(
        "baseline plain SQLite insert loop (WAL, autocommit, same {n} rows, one connection, no HTTP): {:.0} rows/s; p50 {} p95 {} p99 {} max {}",
        n as f64 / sum.as_secs_f64().max(1e-9),
        ms(p50),
        ms(p95),
        ms(p99),
        ms(max)
    );
    backend.close().await;
    Ok(())
}

async fn queries(o: &Options) -> anyhow::Result<()> {
    use chengyun_domain::case::evaluation::StageCounters;
    use chengyun_domain::case::workflow::Stage;
    use chengyun_store::NewStatRow;
    use chengyun_store::case::StatRowWrite;
    let n = o.cases.unwrap_or(if o.quick { 20_000 } else { 1_000_000 });
    let live = if o.quick { 200 } else { 2_000 };
    println!(
        "\n== queries: big screen and evaluation over {n} cases' statistics + {live} live cases ({})",
        o.backend
    );
    let backend = Backend::open(o).await?;
    let srv = server(&backend).await?;
    let areas = city::areas(&CitySpec::default());
    let streets: Vec<String> = areas
        .iter()
        .filter(|a| a.level == chengyun_domain::codes::AreaLevel::Street)
        .map(|a| a.code.to_string())
        .collect();
    let depts = [
        "D369901-SZ",
        "D369902-SZ",
        "D369903-SZ",
        "D369901-HW",
        "D369902-HW",
        "D369903-HW",
        "DEMO-CGJ",
        "DEMO-SZ",
    ];
    let now = chrono::Utc::now();
    let t0 = now - chrono::Duration::days(365);
    let audit = AuditEvent::new(&Actor::system("bench"), "bench", "stat_rows", "");
    let started = Instant::now();
    let chunk = 50_000;
    let mut loaded = 0;
    while loaded < n {
        let rows: Vec<StatRowWrite> = (loaded..(loaded + chunk).min(n))
            .map(|i| StatRowWrite {
                case_id: 1_000_000_000 + i as i64,
                case_number: format!("BN{i:010}"),
                row: NewStatRow {
                    stage: Stage::CheckClose,
                    at: t0 + chrono::Duration::seconds((i as i64 * 31_536_000) / n as i64),
                    department_code: Some(depts[i % depts.len()].into()),
                    user_id: Some((i % 50) as i64 + 1),
                    area_code: streets.get(i % streets.len().max(1)).cloned(),
                    counters: StageCounters {
                        reported: 1,
                        registered: 1,
                        registered_in_time: u64::from(i % 4 != 0),
                        needs_dispatch: 1,
                        dispatched: 1,
                        dispatched_in_time: 1,
                        needs_disposal: 1,
                        disposed: u64::from(i % 5 != 0),
                        disposed_in_time: u64::from(i % 3 != 0),
                        needs_closing: 1,
                        closed: u64::from(i % 7 != 0),
                        closed_in_time: (i % 2) as u64,
                        rework: u64::from(i % 11 == 0),
                        ..Default::default()
                    },
                },
            })
            .collect();
        loaded += rows.len();
        backend
            .store
            .insert_stat_rows(&rows, &audit)
            .await
            .context("cannot load statistics rows")?;
    }
    println!(
        "loaded {n} statistics rows (+ daily roll-up) through the bulk path in {:.2?}",
        started.elapsed()
    );
    // Live cases for the open-case lists, through the API.
    let client = ApiClient::login(&srv.api, "admin", "chengyun-demo")
        .await
        .context("cannot log in as admin")?;
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for body in people::report_bodies(9, live) {
        let (c, sem) = (client.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            c.post("/api/v1/cases", &body).await.is_ok()
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap_or(false));
    }
    println!(
        "created {created} live cases through the API in {:.2?}",
        started.elapsed()
    );
    let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT00:00:00Z").to_string();
    let (today, tomorrow) = (day(now), day(now + chrono::Duration::days(1)));
    let (d14, year) = (day(now - chrono::Duration::days(13)), day(t0));
    let queries = [
        (
            "big screen: today's headline",
            format!("/api/v1/evaluation/headline?from={today}&to={tomorrow}"),
        ),
        (
            "big screen: 14-day evaluation",
            format!("/api/v1/evaluation?from={d14}&to={tomorrow}"),
        ),
        (
            "big screen: open-case markers (500)",
            "/api/v1/cases?open=true&limit=500".to_owned(),
        ),
        (
            "big screen: overdue open cases",
            "/api/v1/cases?open=true&overdue=true&limit=500".to_owned(),
        ),
        (
            "evaluation: year by department",
            format!("/api/v1/evaluation?group=department&from={year}&to={tomorrow}"),
        ),
        (
            "evaluation: year by street",
            format!("/api/v1/evaluation?group=area&level=street&from={year}&to={tomorrow}"),
        ),
        (
            "evaluation: year by position",
            format!("/api/v1/evaluation?group=position&from={year}&to={tomorrow}"),
        ),
    ];
    let runs = if o.quick { 3 } else { 10 };
    for (label, path) in &queries {
        client
            .get(path)
            .await
            .with_context(|| format!("{label}: GET {path}"))?;
        let mut lat = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            client
                .get(path)
                .await
                .with_context(|| format!("{label}: GET {path}"))?;
            lat.push(t.elapsed());
        }
        let [p50, _, _, max] = b::percentiles(&mut lat);
        println!(
            "{label}: p50 {} max {} over {runs} runs (HTTP, JSON)",
            ms(p50),
            ms(max)
        );
    }
    let t = Instant::now();
    let raw = backend
        .store
        .stat_totals_raw(&Default::default(), chengyun_store::StatGroup::Department)
        .await?;
    println!(
        "baseline: year by department summed from the raw rows in SQL (no roll-up, no HTTP): {} ({} groups)",
        ms(t.elapsed()),
        raw.len()
    );
    let t = Instant::now();
    let rolled = backend
        .store
        .stat_totals(&Default::default(), chengyun_store::StatGroup::Department)
        .await?;
    println!(
        "          the same through the daily roll-up (store call, no HTTP): {} ({} groups)",
        ms(t.elapsed()),
        rolled.len()
    );
    srv.stop().await;
    backend.close().await;
    Ok(())
}

async fn connections(o: &Options) -> anyhow::Result<()> {
    let n = o.connections.unwrap_or(if o.quick { 200 } else { 5_000 });
    println!(
        "\n== connections: {n} concurrent JT/T 808 connections on loopback (gateway and terminals in this process)"
    );
    // Baseline: the same number of idle connections to a bare accept loop.
    let rss0 = b::rss_kib().unwrap_or(0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(tokio::spawn(async move {
                let mut s = s;
                let mut buf = vec![0u8; 4096];
                while matches!(tokio::io::AsyncReadExt::read(&mut s, &mut buf).await, Ok(k) if k > 0) {}
            }));
        }
    });
    let mut plain = Vec::with_capacity(n);
    for _ in 0..n {
        plain.push(tokio::net::TcpStream::connect(addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss1 = b::rss_kib().unwrap_or(0);
    drop(plain);
    acceptor.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_per = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / n as f64;

    let backend = Backend::open(o).await?;
    let devices = b::ebikes(3, n);
    let (srv, jt808) = device_server(&backend, &devices).await?;
    let iot = srv.state.iot().clone();
    let rss2 = b::rss_kib().unwrap_or(0);
    let t = Instant::now();
    let (open, failed) = b::open_connections(jt808, devices, 256).await;
    let connect_time = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss3 = b::rss_kib().unwrap_or(0);
    let opened = open.len();
    println!(
        "opened {opened}/{n} authenticated connections (register + authenticate) in {connect_time:.2?}{}",
        if failed.is_empty() {
            String::new()
        } else {
            format!("; {} failed, first: {}", failed.len(), failed[0])
        }
    );
    let per = (rss3.saturating_sub(rss2)) as f64 * 1024.0 / opened.max(1) as f64;
    let rounds = if o.quick { 5 } else { 20 };
    let before = iot.counters().messages;
    let t = Instant::now();
    let flooded = b::flood(open, rounds).await;
    let total = (opened * rounds) as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while iot.counters().messages - before < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    iot.flush()
        .await
        .context("the telemetry writer did not flush")?;
    let got = iot.counters().messages - before;
    let d = t.elapsed();
    println!(
        "chengyun JT/T 808 gateway: {:.1} KiB RSS per connection (gateway + terminal side, from VmRSS {} → {} KiB); {got}/{total} messages over them in {d:.2?} = {:.0} msg/s; {} still open",
        per / 1024.0,
        rss2,
        rss3,
        got as f64 / d.as_secs_f64(),
        flooded.open()
    );
    println!(
        "baseline bare tokio accept loop, idle connections (both sides): {:.1} KiB RSS per connection",
        base_per / 1024.0
    );
    drop(flooded);
    srv.stop().await;
    backend.close().await;
    Ok(())
}

/// Fills a data dir for the big-screen measurement: the demo city, every shipped
/// scenario pack, `--cases` cases through [`chengyun_services::CaseService::intake_many`]
/// (the demo's simulated reports: inspector and public sources over the whole
/// catalogue, reported over the last 30 days, located, classified, deduplicated and
/// dispatched by the demo's rules exactly as over HTTP) and `--devices` devices of every
/// scene with their latest state. The directory is kept for `chengyun serve --data-dir`.
async fn screen(o: &Options) -> anyhow::Result<()> {
    use chengyun_domain::iot::{Device, GeoPoint};
    use chengyun_sim::devices::{FleetSpec, Scene};
    use chengyun_store::LatestState;
    if o.backend != "sqlite" {
        bail!(
            "--backend {}: the screen scenario fills a SQLite data dir only",
            o.backend
        );
    }
    let n = o.cases.unwrap_or(if o.quick { 500 } else { 100_000 });
    let m = o.devices.unwrap_or(if o.quick { 100 } else { 10_000 });
    let dir = o.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "chengyun-screen-{n}-{m}-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ))
    });
    let db = dir.join("chengyun.db");
    if db.exists() {
        bail!(
            "--data-dir {}: already holds a database; the screen scenario needs an empty one",
            dir.display()
        );
    }
    println!("\n== screen: data dir with the demo city, {n} cases and {m} devices (sqlite)");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = chengyun_store::open(&db.display().to_string())
        .await
        .context("cannot open SQLite")?;
    store.migrate().await.context("cannot migrate")?;
    let t = Instant::now();
    let spec = CitySpec::default();
    city::generate(store.as_ref(), &spec, &|_| {})
        .await
        .context("cannot generate the demo city")?;
    let config = chengyun_api::ApiConfig {
        data_dir: dir.clone(),
        ..chengyun_api::ApiConfig::default()
    };
    let state = chengyun_api::AppState::new(store.clone(), config)
        .await
        .context("cannot build the API state")?;
    let actor = Actor::system("bench");
    super::enable_all_packs(&state, &actor).await?;
    println!("demo city and scenario packs in {:.2?}", t.elapsed());

    // Cases, in batches of 1,000 through the real batch intake.
    let t = Instant::now();
    let now = chrono::Utc::now();
    let span = chrono::Duration::days(30).num_seconds();
    let system = state.cases().system_actor();
    let bodies = people::report_bodies(11, n);
    let (mut created, mut refused) = (0usize, 0usize);
    let mut first_refusal: Option<String> = None;
    for (c, chunk) in bodies.chunks(1_000).enumerate() {
        let mut batch = Vec::with_capacity(chunk.len());
        for (k, body) in chunk.iter().enumerate() {
            let i = c * 1_000 + k;
            let mut new: chengyun_services::case::NewCase =
                serde_json::from_value(body.clone()).context("a simulated report body")?;
            // Oldest first, ending now: the trend panel sees a month of intake.
            new.reported_at =
                Some(now - chrono::Duration::seconds(span * (n - i) as i64 / n.max(1) as i64));
            batch.push(new);
        }
        for r in state
            .cases()
            .intake_many(batch, &system)
            .await
            .map_err(|e| anyhow::anyhow!("batch intake failed: {e}"))?
        {
            match r {
                Ok(_) => created += 1,
                Err(e) => {
                    refused += 1;
                    first_refusal.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    let took = t.elapsed();
    println!(
        "intake_many: {created} cases created, {refused} refused{} in {took:.2?} = {:.0} cases/s",
        first_refusal
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        created as f64 / took.as_secs_f64().max(1e-9)
    );

    // Devices: the scenes in the demo fleet's proportions, one shared credential hash.
    let t = Instant::now();
    let demo = FleetSpec::demo(11);
    let demo_total: usize = demo.per_scene.iter().map(|(_, k)| k).sum();
    let mut per_scene: Vec<(Scene, usize)> = demo
        .per_scene
        .iter()
        .map(|(s, k)| (*s, m * k / demo_total.max(1)))
        .collect();
    let short = m - per_scene.iter().map(|(_, k)| k).sum::<usize>();
    if let Some(first) = per_scene.first_mut() {
        first.1 += short;
    }
    let fleet = chengyun_sim::devices::fleet(&FleetSpec { per_scene, ..demo }, &spec);
    let hash = chengyun_services::auth::device_secret_hash("chengyun-bench-device");
    let audit = AuditEvent::new(&actor, "device.upsert", "device", "");
    let mut states = Vec::with_capacity(fleet.len());
    let mut devices = Vec::with_capacity(fleet.len());
    for (i, d) in fleet.iter().enumerate() {
        let a = &d.account;
        let home = GeoPoint::new(a.home.0, a.home.1);
        let mut device = Device::new(&a.device_id, a.product_key, &a.name, "DEMO-CGJ");
        device.credential_hash = Some(hash.clone());
        // HTTP devices are named by their bearer token, which is not a wire id.
        device.terminal_id =
            (a.protocol != chengyun_domain::iot::Protocol::Http).then(|| a.terminal_id.clone());
        device.location = Some(home);
        devices.push(device);
        let mut values = std::collections::BTreeMap::new();
        values.insert(
            "battery".to_owned(),
            chengyun_domain::iot::Value::Int(40 + (i * 37 % 60) as i64),
        );
        states.push(LatestState {
            device_id: a.device_id.clone(),
            values,
            location: Some(home),
            last_seen: now - chrono::Duration::seconds((i % 600) as i64),
            // One in ten has gone quiet.
            online: i % 10 != 0,
        });
    }
    for chunk in devices.chunks(2_000) {
        store
            .upsert_devices(chunk, &audit)
            .await
            .context("cannot store the devices")?;
    }
    let devices_took = t.elapsed();
    let t = Instant::now();
    let mut latest = 0;
    for chunk in states.chunks(2_000) {
        latest += store
            .upsert_latest(chunk)
            .await
            .context("cannot store the latest states")?;
    }
    println!(
        "devices: {} stored in batches of 2,000 in {devices_took:.2?}; {latest} latest states in bulk in {:.2?}",
        fleet.len(),
        t.elapsed()
    );
    // The mix of states the intake left (no workflow actions are run on them).
    use chengyun_domain::case::workflow::CaseState as S;
    let mut mix = Vec::new();
    for st in [
        S::Reported,
        S::AwaitingVerification,
        S::AwaitingRegistration,
        S::Registered,
        S::Dispatched,
        S::Closed,
    ] {
        let q = chengyun_store::case::CaseQuery {
            states: vec![st],
            ..Default::default()
        };
        let k = store.count_cases(&q).await.context("cannot count cases")?;
        if k > 0 {
            mix.push(format!("{st:?} {k}"));
        }
    }
    println!("case states: {}", mix.join(", "));
    println!("data dir: {}", dir.display());
    println!(
        "serve it: CHENGYUN_WEB_DIR=$PWD/web/dist chengyun --data-dir {} serve",
        dir.display()
    );
    Ok(())
}
