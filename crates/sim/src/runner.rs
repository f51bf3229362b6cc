//! Runs a fleet and the people against a target: one task per device connection, paced so
//! the whole fleet sends `messages_per_s`; reporters and staff through the REST API; live
//! [`Stats`] for the progress line.
//!
//! Reproducibility: every device and every person has its own `StdRng` seeded from the run's
//! seed and its index, so the content each sends is the same on every run with that seed,
//! whatever the scheduling (only timestamps differ).
//!
//! Memory stays flat: devices are created once; each connection has a fixed read buffer;
//! HTTP posts go through one semaphore (`max_in_flight`); a device that cannot send in time
//! skips a report (counted in `skipped`) instead of queueing it.

use crate::city::CitySpec;
use crate::devices::{FleetSpec, Scene, SimDevice, Wire, fleet};
use crate::people::{self, ApiClient, PeopleSpec};
use crate::protocol::{self, PlatformReply};
use chengyun_domain::iot::Protocol;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

/// Where the simulator sends things. A missing target silences the devices that need it.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// `http://host:port` of the chengyun API (people).
    pub api: Option<String>,
    pub jt808: Option<SocketAddr>,
    pub watch: Option<SocketAddr>,
    /// Full URL of the HTTP telemetry endpoint (`…/ingest/http/v1/telemetry`).
    pub http_telemetry: Option<String>,
    /// Full URL of the GB/T 28181 Notify endpoint (`…/ingest/gb28181/notify`).
    pub gb28181: Option<String>,
    /// The MQTT broker the server reads (`host:port`).
    pub mqtt: Option<SocketAddr>,
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Device messages written to the wire.
    pub sent: AtomicU64,
    /// Device messages the platform answered (JT/T 808 0x8001, watch replies, HTTP results).
    pub acked: AtomicU64,
    /// Failed connects, refused messages, failed API calls.
    pub errors: AtomicU64,
    /// Reports skipped because the previous one was still being written.
    pub skipped: AtomicU64,
    /// Device connections open now.
    pub connected: AtomicU64,
    pub cases_reported: AtomicU64,
    pub actions: AtomicU64,
    pub cases_closed: AtomicU64,
    pub returned: AtomicU64,
    pub reworked: AtomicU64,
    /// Episodes (alarms the devices tried to raise).
    pub episodes: AtomicU64,
}

/// A copy of [`Stats`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub skipped: u64,
    pub connected: u64,
    pub cases_reported: u64,
    pub actions: u64,
    pub cases_closed: u64,
    pub returned: u64,
    pub reworked: u64,
    pub episodes: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: g(&self.sent),
            acked: g(&self.acked),
            errors: g(&self.errors),
            skipped: g(&self.skipped),
            connected: g(&self.connected),
            cases_reported: g(&self.cases_reported),
            actions: g(&self.actions),
            cases_closed: g(&self.cases_closed),
            returned: g(&self.returned),
            reworked: g(&self.reworked),
            episodes: g(&self.episodes),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub fleet: FleetSpec,
    pub people: PeopleSpec,
    pub city: CitySpec,
    /// Device messages per second, all devices together.
    pub messages_per_s: f64,
    /// Concurrent HTTP device posts.
    pub max_in_flight: usize,
    /// Login of the admin who creates the simulator's staff (and whose session reports).
    pub admin_user: String,
    pub admin_password: String,
    /// Run the people (reporters and staff); off for pure device load.
    pub people_enabled: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            fleet: FleetSpec::demo(2026),
            people: PeopleSpec::default(),
            city: CitySpec::default(),
            messages_per_s: 500.0,
            max_in_flight: 64,
            admin_user: "admin".into(),
            admin_password: "chengyun-demo".into(),
            people_enabled: true,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot log in to {target} as {user}: {error}")]
    Login {
        target: String,
        user: String,
        error: people::ApiError,
    },
    #[error("cannot create the simulator's staff: {0}")]
    Staff(people::ApiError),
}

/// A running simulation: stop it with [`Running::stop`] and await [`Running::join`].
pub struct Running {
    pub stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub devices: usize,
    pub staff: usize,
}

impl Running {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for every task (after [`Running::stop`]).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the fleet and the people. Returns once the staff exist and the tasks are spawned.
pub async fn start(config: SimConfig, targets: Targets) -> Result<Running, RunError> {
    let devices = fleet(&config.fleet, &config.city);
    start_fleet(config, targets, devices).await
}

/// [`start`] with a fleet built (and perhaps enrolled, see [`crate::enrol`]) by the caller.
pub async fn start_fleet(
    config: SimConfig,
    targets: Targets,
    devices: Vec<SimDevice>,
) -> Result<Running, RunError> {
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut staff_n = 0;
    if config.people_enabled
        && let Some(api) = targets.api.clone()
    {
        let admin = ApiClient::login(&api, &config.admin_user, &config.admin_password)
            .await
            .map_err(|error| RunError::Login {
                target: api.clone(),
                user: config.admin_user.clone(),
                error,
            })?;
        let staff = people::ensure_staff(&admin, &config.people)
            .await
            .map_err(RunError::Staff)?;
        staff_n = staff.len();
        tasks.push(tokio::spawn(people::report_cases(
            admin,
            config.people.clone(),
            stats.clone(),
            stop_rx.clone(),
        )));
        for account in staff {
            let (api, spec, stats, stop) = (
                api.clone(),
                config.people.clone(),
                stats.clone(),
                stop_rx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                match ApiClient::login(&api, &account.username, &spec.staff_password).await {
                    Ok(c) => people::work_queue(c, account, spec, stats, stop).await,
                    Err(e) => {
                        tracing::warn!(user = %account.username, error = %e, "staff login failed");
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    let n = devices.len();
    let total_weight: f64 = devices
        .iter()
        .map(|d| d.account.scene.weight())
        .sum::<f64>()
        .max(1e-9);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .ok();
    let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let shared = Arc::new(Shared {
        fleet: config.fleet.clone(),
        city: config.city.clone(),
        targets,
        stats: stats.clone(),
        http,
        permits,
    });
    for (i, device) in devices.into_iter().enumerate() {
        // This device's share of the total rate.
        let rate = config.messages_per_s * device.account.scene.weight() / total_weight;
        if rate <= 0.0 {
            continue;
        }
        let rng = StdRng::seed_from_u64(
            config
                .fleet
                .seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x2545_F491_4F6C_DD1D),
        );
        let period = Duration::from_secs_f64(1.0 / rate);
        tasks.push(tokio::spawn(drive(
            device,
            rng,
            period,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    Ok(Running {
        stats,
        stop: stop_tx,
        tasks,
        devices: n,
        staff: staff_n,
    })
}

struct Shared {
    fleet: FleetSpec,
    city: CitySpec,
    targets: Targets,
    stats: Arc<Stats>,
    http: Option<reqwest::Client>,
    permits: Arc<Semaphore>,
}

/// One device's life: connect (for connection protocols), then report every `period`.
async fn drive(
    mut device: SimDevice,
    mut rng: StdRng,
    period: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // Spread the first reports over one period so the fleet does not send in lock-step.
    let offset = period.mul_f64(rand::Rng::gen_range(&mut rng, 0.0..1.0));
    if tokio::time::timeout(offset, stop.wait_for(|s| *s))
        .await
        .is_ok()
    {
        return;
    }
    let mut conn: Option<Conn> = None;
    let mut mqtt: Option<MqttConn> = None;
    let mut batch: Vec<serde_json::Value> = Vec::new();
    let mut last_flush = Instant::now();
    let mut last = Instant::now();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if conn.is_none() && matches!(device.account.protocol, Protocol::Jt808 | Protocol::Watch) {
            match connect(&mut device, &mut rng, &shared).await {
                Ok(c) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(200);
                    shared.stats.connected.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(device = %device.account.device_id, error = %e, "connect failed");
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if tokio::time::timeout(backoff, stop.wait_for(|s| *s))
                        .await
                        .is_ok()
                    {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
        }
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let before = device.episodes;
        let wires = device.step(
            &mut rng,
            &shared.fleet,
            &shared.city,
            chrono::Utc::now(),
            dt,
        );
        shared
            .stats
            .episodes
            .fetch_add(device.episodes - before, Ordering::Relaxed);
        for w in wires {
            match w {
                Wire::Jt808(bytes) | Wire::Watch(bytes) => {
                    let Some(c) = conn.as_mut() else { continue };
                    match tokio::time::timeout(Duration::from_secs(5), c.write.write_all(&bytes))
                        .await
                    {
                        Ok(Ok(())) => {
                            shared.stats.sent.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                            shared.stats.connected.fetch_sub(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
                Wire::Notify(xml) => post_notify(&shared, xml).await,
                Wire::Http(item) if device.account.protocol == Protocol::Mqtt => {
                    if mqtt.is_none() {
                        mqtt = mqtt_connect(&device, &shared);
                    }
                    match &mqtt {
                        Some(m) => m.publish(&shared, item),
                        None => {
                            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Wire::Http(item) => batch.push(item),
            }
        }
        // HTTP devices post what they gathered once a second (stations batch their records).
        if !batch.is_empty()
            && (last_flush.elapsed() >= Duration::from_secs(1) || batch.len() >= 50)
        {
            post_batch(
                &shared,
                device.account.secret.as_deref().unwrap_or_default(),
                std::mem::take(&mut batch),
            )
            .await;
            last_flush = Instant::now();
        }
    }
    if conn.take().is_some() {
        shared.stats.connected.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(m) = mqtt.take() {
        m.close().await;
    }
}

/// One MQTT device's session: a rumqttc client whose event loop runs on its own task
/// (reconnecting by itself) and counts the broker's PUBACKs.
struct MqttConn {
    client: rumqttc::AsyncClient,
    topic: String,
    _loop: AbortOnDrop,
}

impl MqttConn {
    /// Queues one telemetry item (QoS 1); a full queue skips the report.
    fn publish(&self, shared: &Shared, item: serde_json::Value) {
        let payload = item.to_string().into_bytes();
        match self
            .client
            .try_publish(&self.topic, rumqttc::QoS::AtLeastOnce, false, payload)
        {
            Ok(()) => {
                shared.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                shared.stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.disconnect()).await;
    }
}

/// Connects an MQTT device to the server's broker: username = its terminal id, password =
/// the secret the server issued. `None` without a broker target or a secret.
fn mqtt_connect(device: &SimDevice, shared: &Shared) -> Option<MqttConn> {
    let broker = shared.targets.mqtt?;
    let secret = device.account.secret.clone()?;
    let id = &device.account.terminal_id;
    let mut opts = rumqttc::MqttOptions::new(id.clone(), broker.ip().to_string(), broker.port());
    opts.set_credentials(id.clone(), secret);
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_clean_session(true);
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 64);
    let stats = shared.stats.clone();
    let task = tokio::spawn(async move {
        let mut was_up = false;
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    if !was_up {
                        stats.connected.fetch_add(1, Ordering::Relaxed);
                        was_up = true;
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "MQTT device connection failed");
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    if was_up {
                        stats.connected.fetch_sub(1, Ordering::Relaxed);
                        was_up = false;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        if was_up {
            stats.connected.fetch_sub(1, Ordering::Relaxed);
        }
    });
    Some(MqttConn {
        client,
        topic: format!(
            "chengyun/{}/{}/telemetry",
            device.account.product_key, device.account.terminal_id
        ),
        _loop: AbortOnDrop(task),
    })
}

struct Conn {
    write: tokio::net::tcp::OwnedWriteHalf,
    _reader: AbortOnDrop,
}

/// Aborts the reply reader when the connection is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects a JT/T 808 terminal: 0x0100 registration, the 0x8100 auth code, 0x0102
/// authentication and its 0x8001. Returns the authenticated stream.
pub async fn jt808_handshake(
    addr: SocketAddr,
    device: &mut SimDevice,
    rng: &mut StdRng,
) -> Result<TcpStream, ConnectError> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout)??;
    s.set_nodelay(true)?;
    let reg = device.jt808_register(rng).ok_or(ConnectError::Encode)?;
    s.write_all(&reg).await?;
    let mut buf = Vec::with_capacity(256);
    let code = match read_until(&mut s, &mut buf, |r| {
        matches!(r, PlatformReply::Registered { .. })
    })
    .await?
    {
        PlatformReply::Registered {
            result: 0,
            auth_code,
        } => auth_code,
        PlatformReply::Registered { result, .. } => {
            return Err(ConnectError::Refused(result));
        }
        _ => return Err(ConnectError::Timeout),
    };
    let auth = device
        .terminal
        .as_mut()
        .and_then(|t| t.authenticate(&code).ok())
        .ok_or(ConnectError::Encode)?;
    s.write_all(&auth).await?;
    match read_until(&mut s, &mut buf, |r| {
        matches!(
            r,
            PlatformReply::Ack {
                msg_id: protocol::msg::AUTHENTICATE,
                ..
            }
        )
    })
    .await?
    {
        PlatformReply::Ack { result: 0, .. } => Ok(s),
        PlatformReply::Ack { result, .. } => Err(ConnectError::AuthRefused(result)),
        _ => Err(ConnectError::Timeout),
    }
}

/// Why a device could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no target for {0}")]
    NoTarget(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the platform did not answer the handshake in time")]
    Timeout,
    #[error("registration refused (0x8100 result {0})")]
    Refused(u8),
    #[error("authentication refused (0x8001 result {0})")]
    AuthRefused(u8),
    #[error("cannot encode the handshake")]
    Encode,
}

async fn connect(
    device: &mut SimDevice,
    rng: &mut StdRng,
    shared: &Shared,
) -> Result<Conn, ConnectError> {
    match device.account.protocol {
        Protocol::Jt808 => {
            let addr = shared
                .targets
                .jt808
                .ok_or(ConnectError::NoTarget("jt808"))?;
            let s = jt808_handshake(addr, device, rng).await?;
            let (mut read, write) = s.into_split();
            let stats = shared.stats.clone();
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut pending: Vec<u8> = Vec::with_capacity(4096);
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            pending.extend_from_slice(&buf[..n]);
                            let (replies, used) = protocol::read_platform_replies(&pending);
                            pending.drain(..used);
                            let acks = replies
                                .iter()
                                .filter(|r| {
                                    matches!(
                                        r,
                                        PlatformReply::Ack {
                                            msg_id: protocol::msg::LOCATION,
                                            result: 0
                                        }
                                    )
                                })
                                .count();
                            stats.acked.fetch_add(acks as u64, Ordering::Relaxed);
                        }
                    }
                }
            });
            Ok(Conn {
                write,
                _reader: AbortOnDrop(reader),
            })
        }
        Protocol::Watch => {
            let addr = shared
                .targets
                .watch
                .ok_or(ConnectError::NoTarget("watch"))?;
            let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
                .await
                .map_err(|_| ConnectError::Timeout)??;
            s.set_nodelay(true)?;
            let (mut read, mut write) = s.into_split();
            // The first frame identifies the connection: a heartbeat.
            let hello = protocol::watch_heartbeat(&device.account.terminal_id, 0, 90)
                .ok_or(ConnectError::Encode)?;
            write.write_all(&hello).await?;
            let stats = shared.stats.clone();
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        // Every platform reply is one `[…]` frame.
                        Ok(n) => {
                            let frames = buf[..n].iter().filter(|b| **b == b']').count();
                            stats.acked.fetch_add(frames as u64, Ordering::Relaxed);
                        }
                    }
                }
            });
            Ok(Conn {
                write,
                _reader: AbortOnDrop(reader),
            })
        }
        _ => Err(ConnectError::NoTarget("a connection protocol")),
    }
}

/// Reads replies until one matches `want` (others are ignored), for at most 5 s.
async fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    want: impl Fn(&PlatformReply) -> bool,
) -> Result<PlatformReply, ConnectError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 512];
    loop {
        let (replies, used) = protocol::read_platform_replies(buf);
        buf.drain(..used);
        if let Some(r) = replies.into_iter().find(|r| want(r)) {
            return Ok(r);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError::Timeout);
        }
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) => {
                return Err(ConnectError::Io(
                    std::io::ErrorKind::ConnectionAborted.into(),
                ));
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(ConnectError::Timeout),
        }
    }
}

async fn post_notify(shared: &Shared, xml: String) {
    let (Some(url), Some(http)) = (&shared.targets.gb28181, &shared.http) else {
        return;
    };
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    shared.stats.sent.fetch_add(1, Ordering::Relaxed);
    match http
        .post(url)
        .header("Content-Type", "application/xml")
        .body(xml)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            shared.stats.acked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(r) => {
            tracing::debug!(status = %r.status(), "notify refused");
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::debug!(error = %e, "notify failed");
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn post_batch(shared: &Shared, token: &str, items: Vec<serde_json::Value>) {
    let (Some(url), Some(http)) = (&shared.targets.http_telemetry, &shared.http) else {
        return;
    };
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    let n = items.len() as u64;
    shared.stats.sent.fetch_add(n, Ordering::Relaxed);
    match http.post(url).bearer_auth(token).json(&items).send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let accepted = body
                .get("accepted")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            shared.stats.acked.fetch_add(accepted, Ordering::Relaxed);
            shared
                .stats
                .errors
                .fetch_add(n.saturating_sub(accepted), Ordering::Relaxed);
        }
        Ok(r) => {
            tracing::debug!(status = %r.status(), "telemetry batch refused");
            shared.stats.errors.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::debug!(error = %e, "telemetry batch failed");
            shared.stats.errors.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The scenes a fleet flag names (`ebike=200,elderly=100`), for the CLI.
pub fn parse_fleet(spec: &str) -> Result<Vec<(Scene, usize)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| {
            let (name, n) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected scene=count"))?;
            let scene = Scene::parse(name).ok_or_else(|| {
                format!(
                    "{name:?} is not a scene; use {}",
                    Scene::ALL.map(|s| s.as_str()).join(", ")
                )
            })?;
            let n = n
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{part:?}: the count must be a whole number"))?;
            Ok((scene, n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_flags_parse_and_name_bad_parts() {
        assert_eq!(
            parse_fleet("ebike=3, weigh=1").expect("ok"),
            vec![(Scene::Ebike, 3), (Scene::Weigh, 1)]
        );
        assert!(
            parse_fleet("bikes=3")
                .expect_err("bad")
                .contains("not a scene")
        );
        assert!(
            parse_fleet("ebike=x")
                .expect_err("bad")
                .contains("whole number")
        );
        assert!(
            parse_fleet("ebike")
                .expect_err("bad")
                .contains("scene=count")
        );
    }
}
