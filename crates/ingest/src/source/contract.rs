//! The contract between the network ingest sources and the IoT service.
//!
//! Shaped after Vector's source components: every source is configured by a serde struct whose
//! `build()` returns a [`Source`]; the source declares the [`Resource`]s it binds (ports, HTTP
//! paths) so a supervisor can detect conflicts before anything starts, then `run`s until the
//! [`Shutdown`] signal, draining its connections. Everything a source needs from the rest of
//! chengyun arrives in the [`SourceContext`]:
//!
//! * [`DeviceDirectory`] (implemented by the IoT service's device registry): who is this
//!   terminal, is its credential right, may it register itself (JT/T 808 0x0100)?
//! * [`IngestSink`] (implemented by the IoT service's telemetry pipeline): where decoded
//!   [`Inbound`] messages go.
//! * [`ConnectionRegistry`] (maintained by the gateways, used by the service's command
//!   interface): device id → the live connection, to push [`OutboundFrame`]s to a device.
//! * [`Shutdown`]: the graceful-stop signal.
//! * [`SourceCounters`]: per-source counters (also exported through the `metrics` crate as
//!   `chengyun_ingest_*{source=…}`), read by tests and the API's status page.
//!
//! Sources never decide policy: unknown terminals, auto-registration and telemetry validation
//! are the directory's and the sink's business. Sources own framing, protocol replies, per
//! connection limits and counting bad input.
//!
//! This file is a stable interface: the IoT service implements [`DeviceDirectory`] and
//! [`IngestSink`] against it. Additions are made as new items or new enum variants behind
//! `#[non_exhaustive]`, never by changing a signature.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use chengyun_domain::iot::{EventOccurrence, GeoPoint, Protocol, Telemetry};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::jt808::PlatformMessage;
use crate::watch::WatchCommand;

// ---------------------------------------------------------------------------------------------
// Device directory
// ---------------------------------------------------------------------------------------------

/// A device that a source has identified and the directory has accepted. Every [`Inbound`]
/// message is delivered with the session it came on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceSession {
    /// The registry's device id (what [`Telemetry::device_id`] carries and what
    /// [`ConnectionRegistry::send`] is keyed by).
    pub device_id: String,
    /// The device's product (thing model) key.
    pub product_key: String,
    /// The protocol the device came in on.
    pub protocol: Protocol,
    /// The identifier the device used on the wire (JT/T 808 terminal phone, watch id, GB/T 28181
    /// DeviceID, MQTT username, …); may differ from `device_id`.
    pub terminal_id: String,
}

impl DeviceSession {
    /// A session (for directory implementations and tests).
    pub fn new(device_id: &str, product_key: &str, protocol: Protocol, terminal_id: &str) -> Self {
        Self {
            device_id: device_id.to_owned(),
            product_key: product_key.to_owned(),
            protocol,
            terminal_id: terminal_id.to_owned(),
        }
    }
}

/// What a device presented to prove who it is.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// The protocol carries no credential (the watch protocol, GB/T 28181 Notify from a
    /// registered camera, MQTT via an external broker that authenticated the client itself):
    /// the terminal id alone identifies the device. The directory decides whether that is
    /// acceptable for the device's product.
    None,
    /// JT/T 808 0x0102 authentication code (issued by [`DeviceDirectory::register`] or
    /// provisioned).
    AuthCode(String),
    /// A device secret (MQTT password).
    Secret(String),
    /// An opaque bearer token (HTTP `Authorization: Bearer …`); `terminal_id` is empty then,
    /// the token alone identifies the device.
    Token(String),
}

impl fmt::Debug for Credential {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::None => f.write_str("None"),
            Credential::AuthCode(_) => f.write_str("AuthCode(***)"),
            Credential::Secret(_) => f.write_str("Secret(***)"),
            Credential::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// An authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The protocol (the directory checks that the device's product speaks it).
    pub protocol: Protocol,
    /// The identifier the device used on the wire; empty for [`Credential::Token`].
    pub terminal_id: String,
    /// What it presented.
    pub credential: Credential,
    /// The remote address, for the directory's logs; `None` when not known (MQTT via a broker).
    pub peer: Option<SocketAddr>,
}

/// Why the directory refused a device. The source logs it (with the terminal id and peer),
/// counts it, answers per protocol and, for connection protocols, closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// Human-readable reason ("unknown terminal 013912345678", "wrong auth code", …).
    pub reason: String,
    /// Whether the directory could not answer at all (database down): the source answers
    /// "try again" where the protocol can say so instead of "refused".
    pub temporary: bool,
}

impl Refusal {
    /// A definitive refusal.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            temporary: false,
        }
    }

    /// The directory is unavailable; the device may retry.
    pub fn temporary(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            temporary: true,
        }
    }
}

/// A JT/T 808 0x0100 terminal registration, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Protocol (always [`Protocol::Jt808`] today).
    pub protocol: Protocol,
    /// The terminal phone number from the header (the wire identifier).
    pub terminal_id: String,
    /// Province id.
    pub province: u16,
    /// City/county id.
    pub city: u16,
    /// Maker id.
    pub maker: String,
    /// Terminal model.
    pub model: String,
    /// Terminal id from the body (distinct from the phone).
    pub device_serial: String,
    /// Plate colour (0 = not registered with a plate).
    pub plate_color: u8,
    /// Plate or VIN.
    pub plate: String,
    /// Remote address, for logs.
    pub peer: Option<SocketAddr>,
}

/// A successful registration: the code the terminal must present in 0x0102.
#[derive(Clone, PartialEq, Eq)]
pub struct Registered {
    /// The authentication code sent back in 0x8100.
    pub auth_code: String,
    /// The registry's device id for this terminal.
    pub device_id: String,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("auth_code", &"***")
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// The 0x8100 result codes other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterRefusalKind {
    /// 1 vehicle already registered.
    VehicleRegistered,
    /// 2 no such vehicle in the database.
    NoSuchVehicle,
    /// 3 terminal already registered.
    TerminalRegistered,
    /// 4 no such terminal in the database (also: auto-registration not allowed).
    NoSuchTerminal,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {reason}")]
pub struct RegisterRefusal {
    /// The 0x8100 result to answer with.
    pub kind: RegisterRefusalKind,
    /// Human-readable reason, logged.
    pub reason: String,
}

/// Who a device is. Implemented by the IoT service's device registry; the sources call it
/// once per connection (TCP), once per request (HTTP) or once per device per process (MQTT,
/// cached by the source until the device disconnects).
#[async_trait]
pub trait DeviceDirectory: Send + Sync + 'static {
    /// Identify and authenticate a device. Unknown terminals, wrong credentials, products
    /// that do not speak `request.protocol`, disabled devices: [`Refusal`].
    async fn authenticate(&self, request: AuthRequest) -> Result<DeviceSession, Refusal>;

    /// JT/T 808 0x0100: a terminal asks to be registered. The implementor owns the
    /// auto-registration policy (known terminals only, or a whitelist of makers/models, or
    /// open) and issues the auth code.
    async fn register(&self, request: Registration) -> Result<Registered, RegisterRefusal>;
}

// ---------------------------------------------------------------------------------------------
// Inbound messages and the sink
// ---------------------------------------------------------------------------------------------

/// How a device's reply names the command it answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandRef {
    /// The service's command id, when the gateway could correlate it (it remembers which
    /// protocol serial or keyword it sent for an [`OutboundFrame::command_id`]).
    Command(String),
    /// Only a protocol serial is known (JT/T 808 0x0001 answering a frame the gateway did
    /// not track, e.g. raw bytes sent without a command id).
    Serial {
        /// The serial being answered.
        serial: u32,
        /// The message id being answered (0x8105, 0x8300, …), when the protocol says.
        msg_id: Option<u32>,
    },
}

/// A device's answer to a platform command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandReply {
    /// Which command.
    pub command: CommandRef,
    /// Whether the device reports success.
    pub ok: bool,
    /// Protocol detail ("result 3 unsupported", the MQTT reply payload, …).
    pub detail: Option<String>,
    /// When the reply arrived.
    pub at: DateTime<Utc>,
}

/// A standalone event (a GB/T 28181 alarm Notify, an MQTT `.../event` message). Events that
/// arrive together with readings (JT/T 808 alarm bits, watch `AL`) travel inside
/// [`Telemetry::events`] instead.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReport {
    /// When it happened (device time when the protocol carries it).
    pub at: DateTime<Utc>,
    /// The event, with the product's event id.
    pub event: EventOccurrence,
    /// Where, when the message says.
    pub location: Option<GeoPoint>,
}

/// Everything a source hands to the IoT service.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inbound {
    /// The device connected and authenticated (connection protocols only; MQTT: first
    /// message or broker connect event). Marks the device online.
    Connected {
        /// Remote address, when known.
        peer: Option<SocketAddr>,
    },
    /// Readings (and events carried with them). `device_id` equals the session's.
    Telemetry(Telemetry),
    /// A standalone event.
    Event(EventReport),
    /// Keep-alive; marks the device online.
    Heartbeat {
        /// When.
        at: DateTime<Utc>,
    },
    /// A command left the gateway (bytes written to the socket / published).
    CommandSent {
        /// The command id from [`OutboundFrame::command_id`].
        command_id: String,
        /// The protocol serial assigned, when the protocol has one.
        serial: Option<u32>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A command could not be encoded or written; the gateway will not retry.
    CommandFailed {
        /// The command id.
        command_id: String,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The device answered a command.
    CommandReply(CommandReply),
    /// The connection closed (connection protocols only).
    Disconnected {
        /// Why: "peer closed", "idle timeout", "shutdown", "refused", an I/O error…
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why the sink did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The message is wrong for this device (unknown property, out of range, …): counted and
    /// logged by the source, reported per item by HTTP, never retried.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The pipeline is overloaded or down: HTTP answers 503, connection sources log and go on.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Where decoded messages go. Implemented by the IoT service's telemetry pipeline. Called
/// from connection tasks: it should be quick (enqueue, not process) and must not block the
/// runtime; slow sinks slow down the device that is sending, which is the intended
/// back-pressure.
#[async_trait]
pub trait IngestSink: Send + Sync + 'static {
    /// Take one message from an authenticated device.
    async fn deliver(&self, session: &DeviceSession, inbound: Inbound) -> Result<(), SinkError>;
}

// ---------------------------------------------------------------------------------------------
// Outbound commands and the connection registry
// ---------------------------------------------------------------------------------------------

/// What to send to a device.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OutboundPayload {
    /// Bytes already encoded for the device's protocol (a whole JT/T 808 frame with
    /// delimiters, a whole watch frame, an MQTT payload), written as they are.
    Raw(Bytes),
    /// A JT/T 808 platform message: the gateway adds the header (terminal phone, protocol
    /// version of the connection, its own serial counter) and escapes the frame.
    Jt808(PlatformMessage),
    /// A watch command: the gateway frames it with the device's vendor and id.
    Watch(WatchCommand),
    /// An MQTT command document, published as JSON to `chengyun/{product}/{device}/command`.
    Json(serde_json::Value),
}

/// A command on its way to one device.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundFrame {
    /// The service's command id; when set, the gateway reports [`Inbound::CommandSent`] /
    /// [`Inbound::CommandFailed`] and correlates the device's reply to it
    /// ([`CommandRef::Command`]).
    pub command_id: Option<String>,
    /// The payload.
    pub payload: OutboundPayload,
}

impl OutboundFrame {
    /// A tracked command.
    pub fn command(command_id: &str, payload: OutboundPayload) -> Self {
        Self {
            command_id: Some(command_id.to_owned()),
            payload,
        }
    }

    /// An untracked frame.
    pub fn untracked(payload: OutboundPayload) -> Self {
        Self {
            command_id: None,
            payload,
        }
    }
}

/// Why [`ConnectionRegistry::send`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No live connection (or MQTT route) for the device.
    #[error("device {device_id} is not connected")]
    NotConnected {
        /// The device.
        device_id: String,
    },
    /// The connection's outbound queue is full (the device is not reading); try later.
    #[error("device {device_id}: outbound queue full")]
    QueueFull {
        /// The device.
        device_id: String,
    },
}

/// Capacity of each connection's outbound queue.
pub const OUTBOUND_QUEUE: usize = 64;

struct Route {
    protocol: Protocol,
    generation: u64,
    sender: mpsc::Sender<OutboundFrame>,
}

#[derive(Default)]
struct RegistryInner {
    routes: RwLock<HashMap<String, Route>>,
    next_generation: AtomicU64,
}

/// Device id → live connection. Gateways [`attach`](ConnectionRegistry::attach) a device
/// after it authenticated and detach it (by dropping the [`Attachment`]) when the
/// connection ends; the command interface [`send`](ConnectionRegistry::send)s. A device that
/// reconnects replaces its old route; the old connection's late detach does not remove the
/// new one. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct ConnectionRegistry {
    inner: Arc<RegistryInner>,
}

impl fmt::Debug for ConnectionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionRegistry")
            .field("connected", &self.len())
            .finish()
    }
}

/// Keeps a device's route alive; dropping it detaches the device (unless it has reconnected
/// meanwhile).
pub struct Attachment {
    registry: ConnectionRegistry,
    device_id: String,
    generation: u64,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("device_id", &self.device_id)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut routes = match self.registry.inner.routes.write() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        if routes
            .get(&self.device_id)
            .is_some_and(|r| r.generation == self.generation)
        {
            routes.remove(&self.device_id);
        }
    }
}

impl ConnectionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Route commands for `device_id` to `sender` until the returned [`Attachment`] drops.
    pub fn attach(
        &self,
        device_id: &str,
        protocol: Protocol,
        sender: mpsc::Sender<OutboundFrame>,
    ) -> Attachment {
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let mut routes = match self.inner.routes.write() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        routes.insert(
            device_id.to_owned(),
            Route {
                protocol,
                generation,
                sender,
            },
        );
        Attachment {
            registry: self.clone(),
            device_id: device_id.to_owned(),
            generation,
        }
    }

    /// Queue a frame for a connected device. Never blocks.
    pub fn send(&self, device_id: &str, frame: OutboundFrame) -> Result<(), SendError> {
        let routes = match self.inner.routes.read() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let route = routes
            .get(device_id)
            .ok_or_else(|| SendError::NotConnected {
                device_id: device_id.to_owned(),
            })?;
        route.sender.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::QueueFull {
                device_id: device_id.to_owned(),
            },
            mpsc::error::TrySendError::Closed(_) => SendError::NotConnected {
                device_id: device_id.to_owned(),
            },
        })
    }

    /// Whether the device has a live route.
    pub fn is_connected(&self, device_id: &str) -> bool {
        let routes = match self.inner.routes.read() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        routes.get(device_id).is_some_and(|r| !r.sender.is_closed())
    }

    /// The protocol a connected device is reached through.
    pub fn protocol_of(&self, device_id: &str) -> Option<Protocol> {
        let routes = match self.inner.routes.read() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        routes.get(device_id).map(|r| r.protocol)
    }

    /// Connected device ids (sorted).
    pub fn connected(&self) -> Vec<String> {
        let routes = match self.inner.routes.read() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut ids: Vec<String> = routes.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        match self.inner.routes.read() {
            Ok(routes) => routes.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Whether no device is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

/// Fires the graceful stop of every source holding a [`Shutdown`] made from it.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    /// Ask every source to stop: listeners close at once, connections finish the frame in
    /// hand and close, sources return after draining (bounded by their drain timeout).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Another receiver.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

/// The stop signal as seen by a source or connection (mini-redis' `Shutdown`). Cloneable.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Whether stop was requested.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Wait until stop is requested (returns at once if it already was, or if the trigger
    /// was dropped — a dropped trigger means nobody can stop us cleanly any more, so stop).
    pub async fn recv(&mut self) {
        // `wait_for` errors only when the sender is gone: treat as shutdown.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// A trigger and its first receiver.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// What happened at one source. Every increment is also sent to the `metrics` facade as
/// `chengyun_ingest_<field>_total{source="<name>"}` by the source.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Connections (or HTTP requests, or MQTT publishes) accepted.
    pub accepted: AtomicU64,
    /// Connections refused at accept because the connection limit was reached.
    pub over_limit: AtomicU64,
    /// Messages decoded.
    pub messages: AtomicU64,
    /// Messages delivered to the sink and taken.
    pub delivered: AtomicU64,
    /// Messages the sink refused ([`SinkError`]).
    pub sink_errors: AtomicU64,
    /// Devices refused by the directory (unknown terminal, wrong credential).
    pub refused: AtomicU64,
    /// Messages from devices that had not authenticated yet, answered "fail".
    pub unauthenticated: AtomicU64,
    /// Bad input: garbage, oversize, bad checksum, malformed body/JSON/XML.
    pub bad_input: AtomicU64,
    /// Bytes dropped while resynchronising.
    pub discarded_bytes: AtomicU64,
    /// Protocol replies written.
    pub replies: AtomicU64,
    /// Commands written to devices.
    pub commands_sent: AtomicU64,
    /// Connections closed for idleness.
    pub idle_timeouts: AtomicU64,
    /// Connections currently open.
    pub open_connections: AtomicU64,
}

/// A point-in-time copy of [`SourceCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountersSnapshot {
    /// See [`SourceCounters::accepted`].
    pub accepted: u64,
    /// See [`SourceCounters::over_limit`].
    pub over_limit: u64,
    /// See [`SourceCounters::messages`].
    pub messages: u64,
    /// See [`SourceCounters::delivered`].
    pub delivered: u64,
    /// See [`SourceCounters::sink_errors`].
    pub sink_errors: u64,
    /// See [`SourceCounters::refused`].
    pub refused: u64,
    /// See [`SourceCounters::unauthenticated`].
    pub unauthenticated: u64,
    /// See [`SourceCounters::bad_input`].
    pub bad_input: u64,
    /// See [`SourceCounters::discarded_bytes`].
    pub discarded_bytes: u64,
    /// See [`SourceCounters::replies`].
    pub replies: u64,
    /// See [`SourceCounters::commands_sent`].
    pub commands_sent: u64,
    /// See [`SourceCounters::idle_timeouts`].
    pub idle_timeouts: u64,
    /// See [`SourceCounters::open_connections`].
    pub open_connections: u64,
}

impl SourceCounters {
    /// Copy the counters.
    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            accepted: g(&self.accepted),
            over_limit: g(&self.over_limit),
            messages: g(&self.messages),
            delivered: g(&self.delivered),
            sink_errors: g(&self.sink_errors),
            refused: g(&self.refused),
            unauthenticated: g(&self.unauthenticated),
            bad_input: g(&self.bad_input),
            discarded_bytes: g(&self.discarded_bytes),
            replies: g(&self.replies),
            commands_sent: g(&self.commands_sent),
            idle_timeouts: g(&self.idle_timeouts),
            open_connections: g(&self.open_connections),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The source component contract
// ---------------------------------------------------------------------------------------------

/// Something a source binds. Declared before running so a supervisor can refuse two sources
/// on one port; announced again once bound (with the real port when configured as 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Resource {
    /// A TCP listener.
    TcpPort(SocketAddr),
    /// A UDP socket.
    UdpPort(SocketAddr),
    /// An HTTP route mounted into the API's router.
    HttpPath(String),
}

/// Why a source could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The configuration is wrong (names the field and the rule).
    #[error("{source_name}: bad configuration: {reason}")]
    Config {
        /// Source.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Binding a port failed (taken, no permission).
    #[error("{source_name}: cannot bind {resource:?}: {error}")]
    Bind {
        /// Source.
        source_name: String,
        /// What.
        resource: Resource,
        /// Why.
        error: std::io::Error,
    },
    /// A fatal runtime error (the listener itself failed, the broker thread died).
    #[error("{source_name}: {reason}")]
    Fatal {
        /// Source.
        source_name: String,
        /// Why.
        reason: String,
    },
}

/// Everything a running source gets from the platform.
#[derive(Clone)]
pub struct SourceContext {
    /// Where decoded messages go.
    pub sink: Arc<dyn IngestSink>,
    /// Who devices are.
    pub directory: Arc<dyn DeviceDirectory>,
    /// Where the source registers live connections for outbound commands.
    pub registry: ConnectionRegistry,
    /// The stop signal.
    pub shutdown: Shutdown,
    /// This source's counters (the caller keeps a clone of the `Arc` to read them).
    pub counters: Arc<SourceCounters>,
    /// Where the source announces what it actually bound (port 0 resolved); `None` = nobody
    /// listens.
    pub bound: Option<mpsc::UnboundedSender<(String, Resource)>>,
}

impl fmt::Debug for SourceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceContext")
            .field("registry", &self.registry)
            .field("shutdown", &self.shutdown.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl SourceContext {
    /// A context with fresh counters and no bound announcements.
    pub fn new(
        sink: Arc<dyn IngestSink>,
        directory: Arc<dyn DeviceDirectory>,
        registry: ConnectionRegistry,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            sink,
            directory,
            registry,
            shutdown,
            counters: Arc::new(SourceCounters::default()),
            bound: None,
        }
    }

    /// Announce a bound resource (ignored when nobody listens).
    pub fn announce(&self, source_name: &str, resource: Resource) {
        if let Some(tx) = &self.bound {
            let _ = tx.send((source_name.to_owned(), resource));
        }
    }
}

/// A network ingest source (after Vector's `SourceConfig::build` → `Source` future).
#[async_trait]
pub trait Source: Send + 'static {
    /// The source's name (`jt808`, `watch`, `mqtt`, …), used in logs and metric labels.
    fn name(&self) -> &str;

    /// What it will bind, as configured.
    fn resources(&self) -> Vec<Resource>;

    /// Bind, serve until `ctx.shutdown` fires, drain, return. An `Err` means the source could
    /// not start (bind failure) or its listener failed; bad input from devices never makes a
    /// source return.
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError>;
}

/// A source's configuration (serde); implemented by every `*Config` in [`super`].
pub trait SourceConfig {
    /// Validate the configuration and build the source.
    fn build(&self) -> Result<Box<dyn Source>, SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reconnect_replaces_the_route_and_the_old_detach_keeps_it() {
        let registry = ConnectionRegistry::new();
        let (tx1, _rx1) = mpsc::channel(1);
        let (tx2, mut rx2) = mpsc::channel(1);
        let old = registry.attach("d", Protocol::Jt808, tx1);
        let new = registry.attach("d", Protocol::Jt808, tx2);
        drop(old);
        assert!(registry.is_connected("d"));
        registry
            .send(
                "d",
                OutboundFrame::untracked(OutboundPayload::Raw(Bytes::from_static(b"x"))),
            )
            .expect("routed to the new connection");
        assert!(rx2.recv().await.is_some());
        // Queue of one: the second frame finds it full.
        registry
            .send(
                "d",
                OutboundFrame::untracked(OutboundPayload::Raw(Bytes::new())),
            )
            .expect("queued");
        assert!(matches!(
            registry.send(
                "d",
                OutboundFrame::untracked(OutboundPayload::Raw(Bytes::new()))
            ),
            Err(SendError::QueueFull { .. })
        ));
        drop(new);
        assert!(matches!(
            registry.send(
                "d",
                OutboundFrame::untracked(OutboundPayload::Raw(Bytes::new()))
            ),
            Err(SendError::NotConnected { .. })
        ));
        assert!(registry.is_empty());
    }

    #[tokio::test]
    async fn shutdown_reaches_every_receiver_and_a_dropped_trigger_stops_too() {
        let (trigger, mut a) = shutdown_channel();
        let mut b = trigger.subscribe();
        assert!(!a.is_shutdown());
        trigger.trigger();
        a.recv().await;
        b.recv().await;
        assert!(b.is_shutdown());
        let (trigger, mut c) = shutdown_channel();
        drop(trigger);
        c.recv().await;
    }

    #[test]
    fn credentials_are_never_printed() {
        let text = format!("{:?}", Credential::Secret("hunter2".into()));
        assert!(!text.contains("hunter2"));
        let reg = Registered {
            auth_code: "abc123".into(),
            device_id: "d".into(),
        };
        assert!(!format!("{reg:?}").contains("abc123"));
    }
}
