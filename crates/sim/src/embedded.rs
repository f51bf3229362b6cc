//! The device side of `chengyun demo` and of the benchmarks: the ingest gateways on free
//! loopback ports, a device directory holding the simulator's fleet, and a sink.
//!
//! Until the IoT runtime (`chengyun_services::iot`) serves as directory and sink, the demo
//! uses [`MemoryDirectory`] and [`AlarmBridge`]: it keeps every device's latest state and
//! turns the fleet's alarms (alarm bits, SOS/fall, intrusion, smoke, overload …) into cases
//! through the REST API as source `iot_alarm`, at most one per device a minute. It decides
//! alarms with the packs' own thresholds, but it is not the rule engine: no durations, no
//! clearing, no alarm records. With `--target` against a remote server the server's own
//! IoT runtime must know the devices (see the README for the gap).

use crate::devices::DeviceAccount;
use crate::people::ApiClient;
use async_trait::async_trait;
use chengyun_domain::iot::{Telemetry, Value};
use chengyun_ingest::source::memory::MemoryDirectory;
use chengyun_ingest::source::{
    ConnectionRegistry, DeviceDirectory, DeviceSession, EventReport, Inbound, IngestSink, Resource,
    ShutdownTrigger, SinkError, SourceConfig, SourceContext, shutdown_channel,
};
use chengyun_ingest::source::{
    Gb28181Config, HttpConfig, Jt808Config, SourceError, TcpSettings, WatchConfig,
};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A directory that knows exactly the simulator's fleet.
pub fn directory_for(devices: &[DeviceAccount]) -> MemoryDirectory {
    let dir = MemoryDirectory::new();
    for d in devices {
        dir.add(
            &d.device_id,
            d.product_key,
            d.protocol,
            &d.terminal_id,
            d.secret.as_deref(),
        );
    }
    dir
}

/// The running gateways.
pub struct Gateways {
    pub jt808: SocketAddr,
    pub watch: SocketAddr,
    /// Full URL of the HTTP telemetry endpoint.
    pub http_telemetry: String,
    /// Full URL of the GB/T 28181 Notify endpoint.
    pub gb28181: String,
    pub registry: ConnectionRegistry,
    trigger: ShutdownTrigger,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Gateways {
    /// Stops every gateway and waits for them.
    pub async fn stop(self) {
        self.trigger.trigger();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Why the gateways did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("the {0} gateway did not report its port")]
    NotBound(&'static str),
}

/// Starts the JT/T 808, watch, HTTP telemetry and GB/T 28181 gateways on `ip` with free
/// ports (or the given ones; 0 = free) and returns their addresses once bound.
pub async fn start_gateways(
    ip: std::net::IpAddr,
    ports: [u16; 4],
    directory: Arc<dyn DeviceDirectory>,
    sink: Arc<dyn IngestSink>,
    max_connections: usize,
) -> Result<Gateways, GatewayError> {
    let (trigger, shutdown) = shutdown_channel();
    let registry = ConnectionRegistry::new();
    let (bound_tx, mut bound_rx) = mpsc::unbounded_channel();
    let tcp = |port: u16| TcpSettings {
        listen: SocketAddr::new(ip, port),
        max_connections,
        idle_timeout_secs: 600,
        ..TcpSettings::default()
    };
    let sources: Vec<(&'static str, Box<dyn chengyun_ingest::source::Source>)> = vec![
        (
            "jt808",
            Jt808Config {
                tcp: tcp(ports[0]),
                ..Jt808Config::default()
            }
            .build()?,
        ),
        (
            "watch",
            WatchConfig {
                tcp: tcp(ports[1]),
                ..WatchConfig::default()
            }
            .build()?,
        ),
        (
            "http",
            HttpConfig {
                listen: SocketAddr::new(ip, ports[2]),
                ..HttpConfig::default()
            }
            .build()?,
        ),
        (
            "gb28181",
            Gb28181Config {
                listen: SocketAddr::new(ip, ports[3]),
            }
            .build()?,
        ),
    ];
    let mut tasks = Vec::new();
    for (name, source) in sources {
        let mut ctx = SourceContext::new(
            sink.clone(),
            directory.clone(),
            registry.clone(),
            shutdown.clone(),
        );
        ctx.bound = Some(bound_tx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = source.run(ctx).await {
                tracing::error!(source = name, error = %e, "gateway stopped");
            }
        }));
    }
    drop(bound_tx);
    let mut ports: HashMap<String, SocketAddr> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ports.len() < 4 {
        match tokio::time::timeout_at(deadline, bound_rx.recv()).await {
            Ok(Some((name, Resource::TcpPort(addr)))) if addr.port() != 0 => {
                ports.insert(name, addr);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let find = |prefix: &'static str| {
        ports
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .ok_or(GatewayError::NotBound(prefix))
    };
    let (jt808, watch, http, gb) = (
        find("jt808")?,
        find("watch")?,
        find("http")?,
        find("gb28181")?,
    );
    Ok(Gateways {
        jt808,
        watch,
        http_telemetry: format!(
            "http://{http}{}",
            chengyun_ingest::source::http::TELEMETRY_PATH
        ),
        gb28181: format!(
            "http://{gb}{}",
            chengyun_ingest::source::gb28181::NOTIFY_PATH
        ),
        registry,
        trigger,
        tasks,
    })
}

/// Gateways on `ip` (free ports) for `devices`, with an [`AlarmBridge`] (one case per device
/// a minute at most) as the sink: what `chengyun demo` and `chengyun sim` without remote
/// gateways run.
pub async fn start_for_fleet(
    ip: std::net::IpAddr,
    devices: &[DeviceAccount],
) -> Result<(Gateways, Arc<AlarmBridge>), GatewayError> {
    let bridge = AlarmBridge::new(Duration::from_secs(60));
    let directory = Arc::new(directory_for(devices));
    let gateways = start_gateways(
        ip,
        [0; 4],
        directory,
        bridge.clone(),
        devices.len().max(16) * 2,
    )
    .await?;
    Ok((gateways, bridge))
}

/// The latest state the bridge keeps per device.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub product_key: String,
    pub messages: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub values: std::collections::BTreeMap<String, Value>,
}

/// An alarm the bridge decided on.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeAlarm {
    pub device_id: String,
    pub alarm_type: &'static str,
    pub title: &'static str,
    /// The pack's matter code for it.
    pub matter: &'static str,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

/// Sink for the demo: latest state per device, alarms → cases through the API.
pub struct AlarmBridge {
    latest: Mutex<HashMap<String, Latest>>,
    last_alarm: Mutex<HashMap<String, Instant>>,
    cooldown: Duration,
    queue: mpsc::Sender<BridgeAlarm>,
    rx: Mutex<Option<mpsc::Receiver<BridgeAlarm>>>,
    client: OnceLock<ApiClient>,
    pub delivered: AtomicU64,
    pub alarms: AtomicU64,
    pub cases: AtomicU64,
    pub dropped: AtomicU64,
}

impl std::fmt::Debug for AlarmBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlarmBridge")
            .field("delivered", &self.delivered)
            .field("alarms", &self.alarms)
            .finish_non_exhaustive()
    }
}

impl AlarmBridge {
    /// A bridge that raises at most one case per device per `cooldown`.
    pub fn new(cooldown: Duration) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(256);
        Arc::new(Self {
            latest: Mutex::new(HashMap::new()),
            last_alarm: Mutex::new(HashMap::new()),
            cooldown,
            queue: tx,
            rx: Mutex::new(Some(rx)),
            client: OnceLock::new(),
            delivered: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
            cases: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Starts posting cases as `client` (once; later calls do nothing).
    pub fn start_cases(self: &Arc<Self>, client: ApiClient) -> Option<tokio::task::JoinHandle<()>> {
        let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let _ = self.client.set(client.clone());
        let me = self.clone();
        Some(tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                let mut body = json!({
                    "title": a.title,
                    "description": format!("物联感知报警：{}（设备 {}）", a.title, a.device_id),
                    "matter_code": a.matter,
                    "source": "iot_alarm",
                    "channel": "iot",
                    "device_id": a.device_id,
                    "external_id": format!("sim-alarm-{}-{}", a.device_id, me.alarms.load(Ordering::Relaxed)),
                    "lon": a.lon,
                    "lat": a.lat,
                });
                let mut r = client.post("/api/v1/cases", &body).await;
                if matches!(&r, Err(e) if e.status() == Some(400) || e.status() == Some(422)) {
                    // The pack's local matter is not installed in this city: let intake classify.
                    body["matter_code"] = serde_json::Value::Null;
                    r = client.post("/api/v1/cases", &body).await;
                }
                match r {
                    Ok(_) => {
                        me.cases.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::debug!(error = %e, "alarm case refused"),
                }
            }
        }))
    }

    /// Latest state of one device.
    pub fn latest(&self, device_id: &str) -> Option<Latest> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(device_id)
            .cloned()
    }

    /// Devices with a latest state.
    pub fn devices_seen(&self) -> usize {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn raise(&self, alarm: BridgeAlarm) {
        {
            let mut last = self.last_alarm.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last
                .get(&alarm.device_id)
                .is_some_and(|t| now.duration_since(*t) < self.cooldown)
            {
                return;
            }
            last.insert(alarm.device_id.clone(), now);
        }
        self.alarms.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(alarm).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The alarm a reading or event means, by the packs' rules (thresholds and bits only).
pub fn alarm_of(
    product_key: &str,
    t: &Telemetry,
) -> Option<(&'static str, &'static str, &'static str)> {
    let num = |k: &str| t.values.get(k).and_then(Value::as_f64);
    let event = |id: &str| t.events.iter().any(|e| e.id == id);
    match product_key {
        "ebike_tracker_jt808" => {
            let a = num("alarm")? as u64;
            if a & (1 << 26) != 0 {
                Some(("ebike.stolen", "电动车被盗报警", "10901"))
            } else if a & (1 << 28) != 0 {
                Some(("ebike.illegal_displacement", "电动车非法位移报警", "10901"))
            } else if a & (1 << 8) != 0 {
                Some(("ebike.power_cut", "电动车电源被剪断报警", "10901"))
            } else {
                None
            }
        }
        "elderly_watch" | "corrections_bracelet" => {
            let s = num("status").map(|v| v as u64).unwrap_or(0);
            if event("sos") || s & (1 << 16) != 0 {
                Some(("elder.sos", "老人手环SOS求助", "10902"))
            } else if event("fall") || s & (3 << 21) != 0 {
                Some(("elder.fall", "老人跌倒报警", "10902"))
            } else if s & (1 << 20) != 0 {
                Some(("corrections.tamper", "矫正手环被拆除", "10905"))
            } else if num("heart_rate").is_some_and(|h| h > 120.0) && product_key == "elderly_watch"
            {
                Some(("elder.heart_rate", "老人心率异常", "10902"))
            } else {
                None
            }
        }
        "perimeter_camera" => {
            if event("intrusion") || event("tripwire") {
                Some(("railway.intrusion", "铁路护网周界入侵", "10906"))
            } else if event("video_loss") || event("tamper") {
                Some(("railway.camera_fault", "铁路护网摄像机故障", "01050"))
            } else {
                None
            }
        }
        "wim_station" => {
            let (axles, gross) = (num("axles")?, num("gross_mass_t")?);
            let limit = match axles as u32 {
                0..=2 => 18.0,
                3 => 25.0,
                4 => 31.0,
                5 => 43.0,
                _ => 49.0,
            };
            (gross > limit).then_some(("wim.overload", "货车超限超载", "10907"))
        }
        "kitchen_ai_camera" => ["no_hat", "no_mask", "rodent", "smoking"]
            .iter()
            .any(|e| event(e))
            .then_some(("kitchen.violation", "明厨亮灶AI识别违规", "10908")),
        "smoke_detector" => event("smoke").then_some(("fire.smoke", "烟感火情报警", "10910")),
        "manhole_tilt_sensor" => num("tilt_deg").is_some_and(|v| v > 15.0).then_some((
            "component.manhole_tilt",
            "井盖倾斜或被打开",
            "01023",
        )),
        "bin_fill_sensor" => num("fill_pct").is_some_and(|v| v >= 90.0).then_some((
            "component.bin_full",
            "垃圾桶满溢",
            "06042",
        )),
        "street_light_controller" => num("fault_word")
            .is_some_and(|v| (v as u64) & 1 != 0)
            .then_some(("component.street_light_out", "路灯不亮", "01037")),
        _ => None,
    }
}

#[async_trait]
impl IngestSink for AlarmBridge {
    async fn deliver(&self, session: &DeviceSession, inbound: Inbound) -> Result<(), SinkError> {
        let t = match inbound {
            Inbound::Telemetry(t) => t,
            Inbound::Event(EventReport {
                at,
                event,
                location,
            }) => {
                let mut t = Telemetry::new(&session.device_id, at);
                t.events.push(event);
                t.location = location;
                t
            }
            _ => return Ok(()),
        };
        self.delivered.fetch_add(1, Ordering::Relaxed);
        {
            let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            let e = latest
                .entry(session.device_id.clone())
                .or_insert_with(|| Latest {
                    product_key: session.product_key.clone(),
                    messages: 0,
                    at: t.at,
                    values: Default::default(),
                });
            e.messages += 1;
            e.at = t.at;
            for (k, v) in &t.values {
                e.values.insert(k.clone(), v.clone());
            }
        }
        if let Some((alarm_type, title, matter)) = alarm_of(&session.product_key, &t) {
            self.raise(BridgeAlarm {
                device_id: session.device_id.clone(),
                alarm_type,
                title,
                matter,
                lon: t.location.map(|p| p.lon),
                lat: t.location.map(|p| p.lat),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_follow_the_packs_thresholds() {
        let now = chrono::Utc::now();
        let t = |k: &str, v: f64| Telemetry::new("d", now).with(k, Value::Float(v));
        assert_eq!(
            alarm_of("ebike_tracker_jt808", &t("alarm", (1u64 << 26) as f64)).map(|a| a.0),
            Some("ebike.stolen")
        );
        assert_eq!(alarm_of("ebike_tracker_jt808", &t("alarm", 0.0)), None);
        assert_eq!(
            alarm_of("elderly_watch", &t("status", (1u64 << 16) as f64)).map(|a| a.0),
            Some("elder.sos")
        );
        assert_eq!(
            alarm_of("manhole_tilt_sensor", &t("tilt_deg", 16.0)).map(|a| a.0),
            Some("component.manhole_tilt")
        );
        assert_eq!(alarm_of("manhole_tilt_sensor", &t("tilt_deg", 14.0)), None);
        let truck = |axles: f64, gross: f64| {
            Telemetry::new("w", now)
                .with("axles", Value::Float(axles))
                .with("gross_mass_t", Value::Float(gross))
        };
        assert!(alarm_of("wim_station", &truck(6.0, 49.5)).is_some());
        assert!(alarm_of("wim_station", &truck(6.0, 48.0)).is_none());
        assert!(alarm_of("wim_station", &truck(2.0, 18.5)).is_some());
    }
}
