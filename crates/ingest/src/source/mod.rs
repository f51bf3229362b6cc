//! Network ingest sources: the tokio gateways and HTTP endpoints that wrap the codecs.
//!
//! [`contract`] is the interface with the IoT service (device directory, ingest sink,
//! connection registry, the `Source` component trait).

pub mod contract;

pub use contract::{
    Attachment, AuthRequest, CommandRef, CommandReply, ConnectionRegistry, CountersSnapshot,
    Credential, DeviceDirectory, DeviceSession, EventReport, Inbound, IngestSink, OUTBOUND_QUEUE,
    OutboundFrame, OutboundPayload, Refusal, RegisterRefusal, RegisterRefusalKind, Registered,
    Registration, Resource, SendError, Shutdown, ShutdownTrigger, SinkError, Source, SourceConfig,
    SourceContext, SourceCounters, SourceError, shutdown_channel,
};
