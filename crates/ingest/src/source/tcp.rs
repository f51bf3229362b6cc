//! The TCP server shared by the JT/T 808 and watch gateways, after tokio-rs/mini-redis:
//!
//! * a [`Semaphore`] bounds connections; over the limit a connection is closed at once and
//!   counted (`over_limit`) rather than queued, so a flood cannot pile up sockets;
//! * one task per connection owns a `BytesMut` read buffer and the write half; the protocol's
//!   [`ConnectionProtocol::on_bytes`] parses frames out of the buffer (resynchronising on bad
//!   input) and writes replies; outbound commands arrive on the connection's mpsc queue,
//!   registered in the [`ConnectionRegistry`](super::ConnectionRegistry) once authenticated;
//! * a per-connection idle timeout;
//! * graceful shutdown: on the [`Shutdown`](super::Shutdown) signal the listener is dropped
//!   (new connections refused by the OS), each connection finishes the frame it is handling
//!   and closes, and the server waits for all connection tasks up to the drain timeout, then
//!   aborts the stragglers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::contract::{
    Attachment, DeviceSession, Inbound, OUTBOUND_QUEUE, OutboundFrame, Resource, SinkError,
    SourceContext, SourceError,
};

/// Settings common to the TCP gateways (part of each gateway's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpSettings {
    /// Listen address (`0.0.0.0:7611`; port 0 = any free port, announced when bound).
    pub listen: SocketAddr,
    /// Maximum simultaneous connections.
    pub max_connections: usize,
    /// Close a connection that sent nothing for this many seconds.
    pub idle_timeout_secs: u64,
    /// On shutdown, wait this long for connections to finish before aborting them.
    pub drain_timeout_ms: u64,
    /// Close a connection that has buffered this many bytes without a complete frame.
    pub max_buffer_bytes: usize,
}

impl Default for TcpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            max_connections: 10_000,
            idle_timeout_secs: 300,
            drain_timeout_ms: 5_000,
            max_buffer_bytes: 64 * 1024,
        }
    }
}

impl TcpSettings {
    pub(crate) fn validate(&self, source_name: &str) -> Result<(), SourceError> {
        let bad = |reason: &str| {
            Err(SourceError::Config {
                source_name: source_name.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.idle_timeout_secs == 0 {
            return bad("idle_timeout_secs must be at least 1");
        }
        if self.max_buffer_bytes < 1024 {
            return bad("max_buffer_bytes must be at least 1024");
        }
        Ok(())
    }
}

/// What the connection loop does after a protocol callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close(&'static str),
}

/// The connection state a protocol works with.
pub(crate) struct Conn {
    pub name: &'static str,
    pub peer: SocketAddr,
    pub ctx: SourceContext,
    pub session: Option<DeviceSession>,
    writer: BufWriter<OwnedWriteHalf>,
    attachment: Option<Attachment>,
    outbound_tx: mpsc::Sender<OutboundFrame>,
}

impl Conn {
    /// Write and flush one reply or command.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Count an event on this source (atomic counter + `metrics`).
    pub fn count(&self, field: Counter, n: u64) {
        count(&self.ctx, self.name, field, n);
    }

    /// Hand a message to the sink for the authenticated device.
    pub async fn deliver(&self, inbound: Inbound) {
        let Some(session) = &self.session else { return };
        // Counted and logged inside; a refused message does not end the connection.
        let _ = deliver(&self.ctx, self.name, session, inbound).await;
    }

    /// The device authenticated: remember the session, route commands here, tell the sink.
    pub async fn authenticated(&mut self, session: DeviceSession) {
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.device_id == session.device_id)
        {
            return;
        }
        self.attachment = Some(self.ctx.registry.attach(
            &session.device_id,
            session.protocol,
            self.outbound_tx.clone(),
        ));
        self.session = Some(session);
        self.deliver(Inbound::Connected {
            peer: Some(self.peer),
        })
        .await;
    }
}

/// The counters a source bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Accepted,
    OverLimit,
    Messages,
    Refused,
    Unauthenticated,
    BadInput,
    DiscardedBytes,
    Replies,
    CommandsSent,
    IdleTimeouts,
}

pub(crate) fn count(ctx: &SourceContext, name: &'static str, field: Counter, n: u64) {
    let c = &ctx.counters;
    let (atomic, metric) = match field {
        Counter::Accepted => (&c.accepted, "chengyun_ingest_accepted_total"),
        Counter::OverLimit => (&c.over_limit, "chengyun_ingest_over_limit_total"),
        Counter::Messages => (&c.messages, "chengyun_ingest_messages_total"),
        Counter::Refused => (&c.refused, "chengyun_ingest_refused_total"),
        Counter::Unauthenticated => (&c.unauthenticated, "chengyun_ingest_unauthenticated_total"),
        Counter::BadInput => (&c.bad_input, "chengyun_ingest_bad_input_total"),
        Counter::DiscardedBytes => (&c.discarded_bytes, "chengyun_ingest_discarded_bytes_total"),
        Counter::Replies => (&c.replies, "chengyun_ingest_replies_total"),
        Counter::CommandsSent => (&c.commands_sent, "chengyun_ingest_commands_sent_total"),
        Counter::IdleTimeouts => (&c.idle_timeouts, "chengyun_ingest_idle_timeouts_total"),
    };
    atomic.fetch_add(n, Ordering::Relaxed);
    metrics::counter!(metric, "source" => name).increment(n);
}

/// Deliver to the sink and count the outcome.
pub(crate) async fn deliver(
    ctx: &SourceContext,
    name: &'static str,
    session: &DeviceSession,
    inbound: Inbound,
) -> Result<(), SinkError> {
    let result = ctx.sink.deliver(session, inbound).await;
    match &result {
        Ok(()) => {
            ctx.counters.delivered.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("chengyun_ingest_delivered_total", "source" => name).increment(1);
        }
        Err(e) => {
            ctx.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("chengyun_ingest_sink_errors_total", "source" => name).increment(1);
            tracing::warn!(source = name, device = %session.device_id, error = %e, "sink refused a message");
        }
    }
    result
}

/// A protocol spoken on a TCP connection.
#[async_trait]
pub(crate) trait ConnectionProtocol: Send + 'static {
    /// Parse and handle every complete frame in `buf` (consuming them), replying through
    /// `conn`. Bad input is counted and skipped, never an error; `Err` is an I/O failure.
    async fn on_bytes(&mut self, buf: &mut BytesMut, conn: &mut Conn) -> io::Result<Flow>;

    /// Encode and write a command queued by the service.
    async fn on_outbound(&mut self, frame: OutboundFrame, conn: &mut Conn) -> io::Result<Flow>;
}

/// Bind and serve until shutdown; see the module docs.
pub(crate) async fn serve<P, F>(
    name: &'static str,
    settings: TcpSettings,
    ctx: SourceContext,
    new_protocol: F,
) -> Result<(), SourceError>
where
    P: ConnectionProtocol,
    F: Fn() -> P + Send + 'static,
{
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|error| SourceError::Bind {
            source_name: name.to_owned(),
            resource: Resource::TcpPort(settings.listen),
            error,
        })?;
    let local = listener.local_addr().map_err(|error| SourceError::Bind {
        source_name: name.to_owned(),
        resource: Resource::TcpPort(settings.listen),
        error,
    })?;
    tracing::info!(source = name, listen = %local, "listening");
    ctx.announce(name, Resource::TcpPort(local));

    let limit = Arc::new(Semaphore::new(settings.max_connections));
    let mut tasks = JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();
    let mut backoff = Duration::from_millis(10);
    loop {
        tokio::select! {
            _ = shutdown.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(10);
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        count(&ctx, name, Counter::OverLimit, 1);
                        tracing::warn!(source = name, %peer, limit = settings.max_connections, "connection limit reached; closing");
                        drop(stream);
                        continue;
                    };
                    count(&ctx, name, Counter::Accepted, 1);
                    let protocol = new_protocol();
                    let ctx = ctx.clone();
                    tasks.spawn(async move {
                        ctx.counters.open_connections.fetch_add(1, Ordering::Relaxed);
                        run_connection(name, settings, ctx.clone(), stream, peer, protocol).await;
                        ctx.counters.open_connections.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off (mini-redis) rather than spin.
                    tracing::error!(source = name, error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!(
        source = name,
        open = tasks.len(),
        "shutting down; draining connections"
    );
    let drain = Duration::from_millis(settings.drain_timeout_ms);
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            source = name,
            left = tasks.len(),
            "drain timeout; aborting connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

async fn run_connection<P: ConnectionProtocol>(
    name: &'static str,
    settings: TcpSettings,
    ctx: SourceContext,
    stream: TcpStream,
    peer: SocketAddr,
    mut protocol: P,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let (outbound_tx, mut outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let mut shutdown = ctx.shutdown.clone();
    let mut conn = Conn {
        name,
        peer,
        ctx,
        session: None,
        writer: BufWriter::with_capacity(1024, writer),
        attachment: None,
        outbound_tx,
    };
    let mut buf = BytesMut::with_capacity(512);
    let idle = Duration::from_secs(settings.idle_timeout_secs);
    let reason: String = loop {
        let flow = tokio::select! {
            _ = shutdown.recv() => break "shutdown".into(),
            _ = tokio::time::sleep(idle) => {
                conn.count(Counter::IdleTimeouts, 1);
                tracing::info!(source = name, %peer, device = ?conn.session.as_ref().map(|s| &s.device_id), "idle timeout");
                break "idle timeout".into();
            }
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break "peer closed".into(),
                Ok(_) => {
                    let flow = protocol.on_bytes(&mut buf, &mut conn).await;
                    if buf.len() > settings.max_buffer_bytes {
                        conn.count(Counter::BadInput, 1);
                        conn.count(Counter::DiscardedBytes, buf.len() as u64);
                        tracing::warn!(source = name, %peer, bytes = buf.len(), "buffer limit exceeded without a frame; closing");
                        break "buffer limit exceeded".into();
                    }
                    flow
                }
                Err(e) => break format!("read error: {e}"),
            },
            Some(frame) = outbound_rx.recv() => protocol.on_outbound(frame, &mut conn).await,
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close(why)) => break why.into(),
            Err(e) => break format!("write error: {e}"),
        }
    };
    let _ = conn.writer.shutdown().await;
    tracing::debug!(source = name, %peer, %reason, "connection closed");
    conn.attachment = None;
    conn.deliver(Inbound::Disconnected {
        reason,
        at: Utc::now(),
    })
    .await;
}
