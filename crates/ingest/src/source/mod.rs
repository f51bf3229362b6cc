//! Network ingest sources: the tokio gateways and HTTP endpoints that wrap the codecs.
//!
//! [`contract`] is the interface with the IoT service (device directory, ingest sink,
//! connection registry, the `Source` component trait). Sources: [`jt808`] and [`watch`]
//! (TCP gateways on the shared [`tcp`] server), [`gb28181`] and [`http`] (axum routers, or
//! their own listener), [`mqtt`] (embedded broker or external broker, behind features).
//! [`mapping`] turns decoded messages into the packs' telemetry; [`memory`] holds an
//! in-memory directory and a recording sink for tests and demos.

pub mod contract;
pub mod gb28181;
pub mod http;
mod http_listener;
pub mod jt808;
pub mod mapping;
pub mod memory;
#[cfg(feature = "mqtt-client")]
pub mod mqtt;
pub mod tcp;
pub mod watch;

pub use contract::{
    Attachment, AuthRequest, CommandRef, CommandReply, ConnectionRegistry, CountersSnapshot,
    Credential, DeviceDirectory, DeviceSession, EventReport, Inbound, IngestSink, OUTBOUND_QUEUE,
    OutboundFrame, OutboundPayload, Refusal, RegisterRefusal, RegisterRefusalKind, Registered,
    Registration, Resource, SendError, Shutdown, ShutdownTrigger, SinkError, Source, SourceConfig,
    SourceContext, SourceCounters, SourceError, shutdown_channel,
};
pub use gb28181::Gb28181Config;
pub use http::HttpConfig;
pub use jt808::Jt808Config;
#[cfg(feature = "mqtt-client")]
pub use mqtt::{MqttConfig, MqttMode};
pub use tcp::TcpSettings;
pub use watch::WatchConfig;
