//! MQTT ingest: an embedded broker (rumqttd, feature `mqtt-embedded`) or an external broker
//! (Mosquitto), read by an internal client (rumqttc, feature `mqtt-client`).
//!
//! # Topic layout
//!
//! | topic | direction | payload (JSON) |
//! |---|---|---|
//! | `chengyun/{product}/{device}/telemetry` | device → platform | `{ "values": {…}, "location": {"lon":…,"lat":…}, "at": "RFC 3339", "events": [{"id":…}] }` (all optional but `values` or `events` or `location`) |
//! | `chengyun/{product}/{device}/event` | device → platform | `{ "id": "smoke", "params": {…}, "at": …, "location": … }` |
//! | `chengyun/{product}/{device}/command` | platform → device | the command document given to [`OutboundPayload::Json`] (by convention `{ "command_id", "command", "params" }`) |
//! | `chengyun/{product}/{device}/command/reply` | device → platform | `{ "command_id": "…", "ok": true, "detail": "…" }` |
//!
//! `{device}` is the device's MQTT identity (its terminal id in the registry, usually its
//! device id); `{product}` must be the device's product key, else the message is refused.
//! The prefix `chengyun` is configurable ([`MqttConfig::topic_prefix`]).
//!
//! # Authentication
//!
//! *Embedded*: every client connects with username = device (terminal) id and password =
//! device secret, checked through rumqttd's external auth hook by
//! [`DeviceDirectory::authenticate`](super::DeviceDirectory::authenticate) with
//! [`Credential::Secret`]; the internal client uses a random per-process credential. rumqttd
//! has no topic ACL: an authenticated device could publish on another device's topic. The
//! source therefore checks the topic's device and product against the directory, and a
//! deployment that needs strict isolation runs Mosquitto with an ACL (`pattern write
//! chengyun/+/%u/#`) in external mode.
//!
//! *External*: the broker authenticates devices (Mosquitto's password file and ACL); the
//! source identifies each topic's device with [`Credential::None`] and the directory decides.
//!
//! # Outbound
//!
//! A device becomes routable in the [`ConnectionRegistry`](super::ConnectionRegistry) on its
//! first message; commands are published (QoS 1) to its command topic and stay routable
//! while the source runs (the broker, not the gateway, knows whether the device is
//! subscribed).
//!
//! # Lifecycle
//!
//! rumqttd's `Broker::start` blocks and has no stop: the broker runs on its own OS thread
//! and its listener lives until the process exits. On shutdown the source disconnects its
//! client and stops delivering. Its Prometheus listener is never configured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chengyun_domain::iot::{EventOccurrence, GeoPoint, Protocol, Telemetry, Value};
use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::contract::{
    Attachment, AuthRequest, CommandRef, CommandReply, Credential, DeviceSession, EventReport,
    Inbound, OUTBOUND_QUEUE, OutboundFrame, OutboundPayload, Resource, Source, SourceConfig,
    SourceContext, SourceError,
};
use super::tcp::{Counter, count, deliver};

/// Source name.
pub const NAME: &str = "mqtt";

/// Which broker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum MqttMode {
    /// Run rumqttd in-process (needs the `mqtt-embedded` feature).
    Embedded {
        /// Broker listen address (1883 is usually taken by a system Mosquitto; choose another).
        listen: SocketAddr,
    },
    /// Connect to an existing broker.
    External {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Username of the platform's client, if the broker requires one.
        #[serde(default)]
        username: Option<String>,
        /// Password of the platform's client.
        #[serde(default)]
        password: Option<String>,
    },
}

/// Configuration of the MQTT source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker.
    pub broker: MqttMode,
    /// Topic prefix (first level).
    pub topic_prefix: String,
    /// Client id of the platform's subscriber.
    pub client_id: String,
    /// Largest accepted payload.
    pub max_payload_bytes: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            broker: MqttMode::Embedded {
                listen: SocketAddr::from(([0, 0, 0, 0], 1884)),
            },
            topic_prefix: "chengyun".into(),
            client_id: "chengyun-ingest".into(),
            max_payload_bytes: 64 * 1024,
        }
    }
}

impl SourceConfig for MqttConfig {
    fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        let bad = |reason: String| SourceError::Config {
            source_name: NAME.into(),
            reason,
        };
        if self.topic_prefix.is_empty() || self.topic_prefix.contains(['+', '#', '/']) {
            return Err(bad(format!(
                "topic_prefix {:?} must be one non-empty topic level without wildcards",
                self.topic_prefix
            )));
        }
        if self.max_payload_bytes < 256 {
            return Err(bad("max_payload_bytes must be at least 256".into()));
        }
        if matches!(self.broker, MqttMode::Embedded { .. }) && cfg!(not(feature = "mqtt-embedded"))
        {
            return Err(bad(
                "broker mode embedded needs the mqtt-embedded feature".into()
            ));
        }
        Ok(Box::new(MqttSource {
            config: self.clone(),
        }))
    }
}

/// The running MQTT source.
#[derive(Debug)]
pub struct MqttSource {
    config: MqttConfig,
}

/// The topic of a device's commands.
pub fn command_topic(prefix: &str, product_key: &str, device: &str) -> String {
    format!("{prefix}/{product_key}/{device}/command")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Telemetry,
    Event,
    Reply,
}

/// `prefix/product/device/kind` → (product, device, kind).
fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str, Kind)> {
    let mut parts = topic.split('/');
    if parts.next()? != prefix {
        return None;
    }
    let product = parts.next()?;
    let device = parts.next()?;
    let kind = match (parts.next()?, parts.next()) {
        ("telemetry", None) => Kind::Telemetry,
        ("event", None) => Kind::Event,
        ("command", Some("reply")) => Kind::Reply,
        _ => return None,
    };
    if parts.next().is_some() || product.is_empty() || device.is_empty() {
        return None;
    }
    Some((product, device, kind))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryDoc {
    #[serde(default)]
    values: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    location: Option<GeoPoint>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    events: Vec<EventOccurrence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventDoc {
    id: String,
    #[serde(default)]
    params: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    location: Option<GeoPoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyDoc {
    command_id: String,
    ok: bool,
    #[serde(default)]
    detail: Option<String>,
}

/// Parse a payload into the inbound message for `session`.
fn inbound(kind: Kind, device_id: &str, payload: &[u8]) -> Result<Inbound, String> {
    let now = Utc::now();
    match kind {
        Kind::Telemetry => {
            let d: TelemetryDoc =
                serde_json::from_slice(payload).map_err(|e| format!("telemetry: {e}"))?;
            Ok(Inbound::Telemetry(Telemetry {
                device_id: device_id.to_owned(),
                at: d.at.unwrap_or(now),
                values: d.values,
                events: d.events,
                location: d.location,
            }))
        }
        Kind::Event => {
            let d: EventDoc = serde_json::from_slice(payload).map_err(|e| format!("event: {e}"))?;
            Ok(Inbound::Event(EventReport {
                at: d.at.unwrap_or(now),
                event: EventOccurrence {
                    id: d.id,
                    params: d.params,
                },
                location: d.location,
            }))
        }
        Kind::Reply => {
            let d: ReplyDoc =
                serde_json::from_slice(payload).map_err(|e| format!("command reply: {e}"))?;
            Ok(Inbound::CommandReply(CommandReply {
                command: CommandRef::Command(d.command_id),
                ok: d.ok,
                detail: d.detail,
                at: now,
            }))
        }
    }
}

/// Sessions known to this source, by MQTT identity.
type Sessions = Arc<std::sync::Mutex<HashMap<String, DeviceSession>>>;

#[cfg(feature = "mqtt-embedded")]
fn random_secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Two independently seeded SipHashes of the time: not a CSPRNG, but unguessable enough
    // for a loopback-only internal login that changes every process start.
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[async_trait]
impl Source for MqttSource {
    fn name(&self) -> &str {
        NAME
    }

    fn resources(&self) -> Vec<Resource> {
        match &self.config.broker {
            MqttMode::Embedded { listen } => vec![Resource::TcpPort(*listen)],
            MqttMode::External { .. } => vec![],
        }
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let config = self.config;
        let sessions: Sessions = Arc::default();
        let (host, port, creds) = match &config.broker {
            MqttMode::External {
                host,
                port,
                username,
                password,
            } => (
                host.clone(),
                *port,
                username
                    .clone()
                    .map(|u| (u, password.clone().unwrap_or_default())),
            ),
            #[cfg(feature = "mqtt-embedded")]
            MqttMode::Embedded { listen } => {
                let internal = (
                    format!("{}-{}", config.client_id, random_secret()),
                    random_secret(),
                );
                embedded::start(
                    *listen,
                    &config,
                    internal.clone(),
                    ctx.clone(),
                    sessions.clone(),
                )
                .await?;
                let host = if listen.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    listen.ip().to_string()
                };
                (host, listen.port(), Some(internal))
            }
            #[cfg(not(feature = "mqtt-embedded"))]
            MqttMode::Embedded { .. } => {
                return Err(SourceError::Config {
                    source_name: NAME.into(),
                    reason: "broker mode embedded needs the mqtt-embedded feature".into(),
                });
            }
        };

        let mut options = MqttOptions::new(config.client_id.clone(), host, port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(
            config.max_payload_bytes + 1024,
            config.max_payload_bytes + 1024,
        );
        options.set_clean_session(true);
        if let Some((u, p)) = creds {
            options.set_credentials(u, p);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let prefix = config.topic_prefix.clone();
        let external = matches!(config.broker, MqttMode::External { .. });
        let mut attachments: HashMap<String, Attachment> = HashMap::new();
        let mut shutdown = ctx.shutdown.clone();
        let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        loop {
            let event = tokio::select! {
                _ = shutdown.recv() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!(source = NAME, "connected to broker; subscribing");
                    for kind in ["telemetry", "event", "command/reply"] {
                        let topic = format!("{prefix}/+/+/{kind}");
                        if let Err(e) = client.subscribe(topic, QoS::AtLeastOnce).await {
                            tracing::error!(source = NAME, error = %e, "subscribe failed");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    count(&ctx, NAME, Counter::Accepted, 1);
                    let Some((product, device, kind)) = parse_topic(&prefix, &p.topic) else {
                        count(&ctx, NAME, Counter::BadInput, 1);
                        tracing::warn!(source = NAME, topic = %p.topic, "unexpected topic");
                        continue;
                    };
                    if p.payload.len() > config.max_payload_bytes {
                        count(&ctx, NAME, Counter::BadInput, 1);
                        tracing::warn!(
                            source = NAME,
                            device,
                            bytes = p.payload.len(),
                            "payload too large"
                        );
                        continue;
                    }
                    let Some(session) = identify(&ctx, &sessions, product, device, external).await
                    else {
                        continue;
                    };
                    if !attachments.contains_key(&session.device_id) {
                        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
                        attachments.insert(
                            session.device_id.clone(),
                            ctx.registry.attach(&session.device_id, Protocol::Mqtt, tx),
                        );
                        let topic = command_topic(&prefix, &session.product_key, device);
                        tokio::spawn(forward_commands(
                            ctx.clone(),
                            client.clone(),
                            session.clone(),
                            topic,
                            rx,
                            stop_tx.subscribe(),
                        ));
                        let _ =
                            deliver(&ctx, NAME, &session, Inbound::Connected { peer: None }).await;
                    }
                    match inbound(kind, &session.device_id, &p.payload) {
                        Ok(message) => {
                            count(&ctx, NAME, Counter::Messages, 1);
                            let _ = deliver(&ctx, NAME, &session, message).await;
                        }
                        Err(e) => {
                            count(&ctx, NAME, Counter::BadInput, 1);
                            tracing::warn!(source = NAME, device = %session.device_id, error = %e, "malformed payload");
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(source = NAME, error = %e, "broker connection error; retrying");
                    tokio::select! {
                        _ = shutdown.recv() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
        let _ = stop_tx.send(());
        let _ = client.disconnect().await;
        // Let the disconnect go out.
        let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
        drop(attachments);
        Ok(())
    }
}

/// The session for a topic's device: cached from the embedded broker's auth hook or an
/// earlier message; with an external broker (which authenticated the device itself) asked of
/// the directory with [`Credential::None`]. With the embedded broker a topic naming a device
/// that never logged in is refused.
async fn identify(
    ctx: &SourceContext,
    sessions: &Sessions,
    product: &str,
    device: &str,
    external: bool,
) -> Option<DeviceSession> {
    let cached = sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(device)
        .cloned();
    let session = match cached {
        Some(s) => s,
        None if !external => {
            count(ctx, NAME, Counter::Refused, 1);
            tracing::warn!(
                source = NAME,
                device,
                "topic names a device that has not logged in to the broker; refused"
            );
            return None;
        }
        None => {
            let request = AuthRequest {
                protocol: Protocol::Mqtt,
                terminal_id: device.to_owned(),
                credential: Credential::None,
                peer: None,
            };
            match ctx.directory.authenticate(request).await {
                Ok(s) => {
                    sessions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(device.to_owned(), s.clone());
                    s
                }
                Err(refusal) => {
                    count(ctx, NAME, Counter::Refused, 1);
                    tracing::warn!(source = NAME, device, reason = %refusal.reason, "message from an unknown device refused");
                    return None;
                }
            }
        }
    };
    if session.product_key != product {
        count(ctx, NAME, Counter::Refused, 1);
        tracing::warn!(source = NAME, device, topic_product = product, product = %session.product_key, "topic names another product; refused");
        return None;
    }
    Some(session)
}

async fn forward_commands(
    ctx: SourceContext,
    client: AsyncClient,
    session: DeviceSession,
    topic: String,
    mut rx: mpsc::Receiver<OutboundFrame>,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) {
    loop {
        let frame = tokio::select! {
            _ = stop.recv() => return,
            f = rx.recv() => match f { Some(f) => f, None => return },
        };
        let payload = match &frame.payload {
            OutboundPayload::Json(v) => serde_json::to_vec(v).map_err(|e| e.to_string()),
            OutboundPayload::Raw(b) => Ok(b.to_vec()),
            _ => Err("payload is not an MQTT command (use Json or Raw)".into()),
        };
        let result = match payload {
            Ok(bytes) => client
                .publish(topic.clone(), QoS::AtLeastOnce, false, bytes)
                .await
                .map_err(|e| format!("publish failed: {e}")),
            Err(e) => Err(e),
        };
        let now = Utc::now();
        match (result, frame.command_id) {
            (Ok(()), id) => {
                count(&ctx, NAME, Counter::CommandsSent, 1);
                if let Some(command_id) = id {
                    let _ = deliver(
                        &ctx,
                        NAME,
                        &session,
                        Inbound::CommandSent {
                            command_id,
                            serial: None,
                            at: now,
                        },
                    )
                    .await;
                }
            }
            (Err(reason), Some(command_id)) => {
                tracing::warn!(source = NAME, device = %session.device_id, %reason, "command not sent");
                let _ = deliver(
                    &ctx,
                    NAME,
                    &session,
                    Inbound::CommandFailed {
                        command_id,
                        reason,
                        at: now,
                    },
                )
                .await;
            }
            (Err(reason), None) => {
                tracing::warn!(source = NAME, device = %session.device_id, %reason, "command not sent");
            }
        }
    }
}

#[cfg(feature = "mqtt-embedded")]
mod embedded {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    use chengyun_domain::iot::Protocol;
    use tokio::sync::{mpsc, oneshot};

    use super::{NAME, Sessions};
    use crate::source::contract::{AuthRequest, Credential, Resource, SourceContext, SourceError};
    use crate::source::tcp::{Counter, count};

    type AuthAsk = (String, String, oneshot::Sender<bool>);

    /// Start rumqttd on its own thread with the directory as auth hook; returns once the
    /// listener accepts connections.
    pub(super) async fn start(
        listen: SocketAddr,
        config: &super::MqttConfig,
        internal: (String, String),
        ctx: SourceContext,
        sessions: Sessions,
    ) -> Result<(), SourceError> {
        let (ask_tx, mut ask_rx) = mpsc::unbounded_channel::<AuthAsk>();
        let mut connections = rumqttd::ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: config.max_payload_bytes,
            max_inflight_count: 256,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        };
        // The hook runs on rumqttd's own runtime: hand the question to ours (where the
        // directory's resources live) and wait for the answer.
        connections.set_auth_handler(move |_client_id: String, user: String, pass: String| {
            let ask_tx = ask_tx.clone();
            async move {
                let (tx, rx) = oneshot::channel();
                if ask_tx.send((user, pass, tx)).is_err() {
                    return false;
                }
                rx.await.unwrap_or(false)
            }
        });
        let server = rumqttd::ServerSettings {
            name: "chengyun-v4".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        };
        let broker_config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 100_000,
                max_outgoing_packet_count: 1024,
                // rumqttd keeps every publish in a commit log per subscription
                // filter (here: the internal client's few filters) until the
                // log is full, whether or not anyone still needs it. Its only
                // reader is our own client, reading as messages arrive, so a few
                // MB of backlog is plenty (about 10 s at 5,000 msg/s); 4 × 16 MB
                // made the broker hold ~80 MB per filter for nothing.
                max_segment_size: 4 * 1024 * 1024,
                max_segment_count: 2,
                ..Default::default()
            },
            v4: Some(HashMap::from([("1".to_owned(), server)])),
            // No Prometheus listener, no console, no bridge, no cluster.
            ..Default::default()
        };

        let auth_ctx = ctx.clone();
        let mut shutdown = ctx.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let (user, pass, reply) = tokio::select! {
                    _ = shutdown.recv() => return,
                    ask = ask_rx.recv() => match ask { Some(a) => a, None => return },
                };
                if user == internal.0 {
                    let ok: bool = constant_time_eq(pass.as_bytes(), internal.1.as_bytes());
                    let _ = reply.send(ok);
                    continue;
                }
                let request = AuthRequest {
                    protocol: Protocol::Mqtt,
                    terminal_id: user.clone(),
                    credential: Credential::Secret(pass),
                    peer: None,
                };
                let ok = match auth_ctx.directory.authenticate(request).await {
                    Ok(session) => {
                        sessions
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(user, session);
                        true
                    }
                    Err(refusal) => {
                        count(&auth_ctx, NAME, Counter::Refused, 1);
                        tracing::warn!(source = NAME, device = %user, reason = %refusal.reason, "MQTT login refused");
                        false
                    }
                };
                let _ = reply.send(ok);
            }
        });

        std::thread::Builder::new()
            .name("chengyun-mqtt-broker".into())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(broker_config);
                if let Err(e) = broker.start() {
                    tracing::error!(source = NAME, error = %e, "embedded broker stopped");
                }
            })
            .map_err(|e| SourceError::Fatal {
                source_name: NAME.into(),
                reason: format!("cannot start the broker thread: {e}"),
            })?;

        // rumqttd reports a bind failure only in its log: probe until it accepts.
        let probe = if listen.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], listen.port()))
        } else {
            listen
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(probe).await.is_ok() {
                ctx.announce(NAME, Resource::TcpPort(listen));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(SourceError::Bind {
            source_name: NAME.into(),
            resource: Resource::TcpPort(listen),
            error: std::io::Error::other("the embedded broker did not start listening within 5 s"),
        })
    }

    fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_reject() {
        assert_eq!(
            parse_topic("chengyun", "chengyun/p/d/telemetry"),
            Some(("p", "d", Kind::Telemetry))
        );
        assert_eq!(
            parse_topic("chengyun", "chengyun/p/d/command/reply"),
            Some(("p", "d", Kind::Reply))
        );
        assert_eq!(parse_topic("chengyun", "chengyun/p/d/command"), None);
        assert_eq!(parse_topic("chengyun", "other/p/d/telemetry"), None);
        assert_eq!(parse_topic("chengyun", "chengyun/p//telemetry"), None);
        assert_eq!(parse_topic("chengyun", "chengyun/p/d/telemetry/x"), None);
    }

    #[test]
    fn payloads_parse_or_name_the_error() {
        let t = inbound(
            Kind::Telemetry,
            "dev",
            br#"{"values":{"battery":80},"location":{"lon":117.0,"lat":28.2}}"#,
        );
        assert!(
            matches!(t, Ok(Inbound::Telemetry(ref t)) if t.values.len() == 1 && t.location.is_some())
        );
        let bad = inbound(Kind::Telemetry, "dev", br#"{"valuez":1}"#);
        assert!(matches!(bad, Err(ref e) if e.contains("valuez")));
        let r = inbound(Kind::Reply, "dev", br#"{"command_id":"c1","ok":false}"#);
        assert!(matches!(r, Ok(Inbound::CommandReply(ref r)) if !r.ok));
    }
}
