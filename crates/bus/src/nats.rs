//! The NATS JetStream backend: several chengyun nodes share one bus.
//!
//! Every event goes into one JetStream stream (default `CHENGYUN`) under the
//! subject `<prefix>.<Event::subject()>` (prefix default `chengyun`, so e.g.
//! `chengyun.case.changed.dispatch`), as the event's JSON. The stream is
//! created, or its limits updated, when a node connects; it keeps messages at
//! most `max_age` (24 h) and `max_bytes` (1 GiB), dropping the oldest first,
//! so it cannot grow forever.
//!
//! - **Publishing** stays synchronous: [`Bus::publish`] puts the event on a
//!   bounded queue (`publish_queue`) and returns. A background task sends it
//!   to JetStream with the node's id (header `Chengyun-Node`) and a message id
//!   (`Nats-Msg-Id`, so a retried publish is stored once), and awaits the
//!   stream's ack; a failed publish is retried `publish_retries` times with a
//!   growing pause, then given up. A full queue drops the event. Both are
//!   logged and counted (see below).
//! - **Consuming**: each node runs one ordered, ephemeral pull consumer on
//!   the stream (deliver policy *new*: events from before the node connected
//!   are not replayed), created before [`NatsBus::connect`] returns. It
//!   receives every event — the node's own included — and fans it out to the
//!   node's subscribers through a tokio broadcast channel, so
//!   [`Bus::subscribe`] returns the same [`Subscription`] with the same
//!   `Lagged`/`Closed` semantics as the in-process bus. Own events are *not*
//!   also broadcast at publish time: every subscriber gets each event exactly
//!   once, in stream order, local and remote alike, and
//!   [`Subscription::recv_with_origin`] tells them apart by the node header.
//! - **Failures**: the client reconnects by itself (forever). The ordered
//!   consumer re-creates itself from the last sequence it saw when it notices
//!   a gap or missed heartbeats; if the stream itself is gone (checked every
//!   `check_interval`) the node re-creates the stream and its consumer. If
//!   events it had not yet received left the stream meanwhile, subscribers
//!   get `Lagged(n)` for them.
//! - **Order**: one node's events reach every node in the order it published
//!   them, except an event whose publish had to be retried.
//!
//! Metrics (the `metrics` facade; chengyun exports them on `/metrics`):
//! `chengyun_bus_published_total`, `chengyun_bus_publish_retries_total`,
//! `chengyun_bus_publish_errors_total` (given up), `chengyun_bus_dropped_total`
//! (queue full), `chengyun_bus_received_total`,
//! `chengyun_bus_decode_errors_total`, `chengyun_bus_resubscribes_total`.
//!
//! [`Subscription::recv_with_origin`]: crate::Subscription::recv_with_origin

use crate::{Bus, Event, InProcessBus, Item, Origin, Subscription};
use async_nats::connection::State;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType,
};
use async_nats::jetstream::{self, Context};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The header naming the node that published a message.
pub const NODE_HEADER: &str = "Chengyun-Node";

/// Publishes awaiting their ack at once, per node.
const MAX_IN_FLIGHT: usize = 1024;

/// How to reach NATS and which stream to use.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsBusConfig {
    /// `nats://host:port` (or `tls://`); several servers of one cluster
    /// separated by commas.
    pub url: String,
    /// The JetStream stream name (`CHENGYUN`); nodes sharing a bus use the same.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<event subject>`; the stream holds
    /// `<subject_prefix>.>`.
    pub subject_prefix: String,
    /// Events older than this leave the stream.
    pub max_age: Duration,
    /// The stream's size limit; the oldest events leave first.
    pub max_bytes: u64,
    /// How long connecting may take before [`NatsBus::connect`] gives up.
    pub connect_timeout: Duration,
    /// Events waiting to be published; more are dropped (and counted).
    pub publish_queue: usize,
    /// Further attempts after a failed publish.
    pub publish_retries: u32,
    /// How often the node checks that its stream still exists.
    pub check_interval: Duration,
    /// The connection's name in NATS monitoring; default `chengyun <node id>`.
    pub name: Option<String>,
}

impl Default for NatsBusConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "CHENGYUN".into(),
            subject_prefix: "chengyun".into(),
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 1024 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            publish_queue: 65_536,
            publish_retries: 3,
            check_interval: Duration::from_secs(5),
            name: None,
        }
    }
}

impl NatsBusConfig {
    /// The server URLs, each checked.
    fn servers(&self) -> Result<Vec<String>, BusError> {
        let mut out = Vec::new();
        for raw in self.url.split(',') {
            let url = raw.trim();
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                return Err(BusError::Config(format!(
                    "bus url {url:?} must start with nats:// or tls:// (several servers separated by commas)"
                )));
            }
            if let Err(e) = url.parse::<async_nats::ServerAddr>() {
                return Err(BusError::Config(format!("bus url {url:?}: {e}")));
            }
            out.push(url.to_string());
        }
        Ok(out)
    }

    /// Checks every field; the error names the field and the rule.
    pub fn validate(&self) -> Result<(), BusError> {
        self.servers()?;
        let bad_stream = |c: char| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c);
        if self.stream.is_empty() || self.stream.len() > 255 || self.stream.contains(bad_stream) {
            return Err(BusError::Config(format!(
                "bus stream {:?} must be 1-255 characters without spaces, '.', '*', '>', '/' or '\\'",
                self.stream
            )));
        }
        let bad_token = |t: &str| {
            t.is_empty()
                || t.contains(|c: char| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        };
        if self.subject_prefix.split('.').any(bad_token) {
            return Err(BusError::Config(format!(
                "bus subject_prefix {:?} must be dot-separated non-empty tokens without spaces, '*' or '>' (e.g. chengyun)",
                self.subject_prefix
            )));
        }
        if self.max_age < Duration::from_secs(1) {
            return Err(BusError::Config("bus max_age must be at least 1 s".into()));
        }
        if self.max_bytes < 1024 * 1024 || i64::try_from(self.max_bytes).is_err() {
            return Err(BusError::Config(format!(
                "bus max_bytes {} must be at least 1 MiB (1048576)",
                self.max_bytes
            )));
        }
        if self.publish_queue == 0 {
            return Err(BusError::Config(
                "bus publish_queue must be at least 1".into(),
            ));
        }
        if self.connect_timeout.is_zero() || self.check_interval.is_zero() {
            return Err(BusError::Config(
                "bus connect_timeout and check_interval must be above zero".into(),
            ));
        }
        Ok(())
    }

    fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            storage: StorageType::File,
            max_age: self.max_age,
            max_bytes: i64::try_from(self.max_bytes).unwrap_or(i64::MAX),
            duplicate_window: self.max_age.min(Duration::from_secs(120)),
            description: Some("chengyun internal bus".into()),
            ..Default::default()
        }
    }
}

/// Why a [`NatsBus`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid bus configuration: {0}")]
    Config(String),
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "NATS at {url} refused the JetStream stream {stream} (is JetStream enabled, nats-server -js?): {reason}"
    )]
    Stream {
        url: String,
        stream: String,
        reason: String,
    },
    #[error("cannot consume the JetStream stream {stream} at {url}: {reason}")]
    Consumer {
        url: String,
        stream: String,
        reason: String,
    },
    #[error("the NATS bus is closed")]
    Closed,
}

#[expect(
    clippy::large_enum_variant,
    reason = "flushes are rare; boxing every event would allocate per publish"
)]
enum Job {
    Event(Event),
    /// Answered once every event queued before it was acked or given up.
    Flush(oneshot::Sender<()>),
}

struct Shared {
    client: async_nats::Client,
    local: broadcast::Sender<Item>,
    queue: mpsc::Sender<Job>,
    node: String,
    config: NatsBusConfig,
    consuming: Arc<AtomicBool>,
    consumer: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The consumer holds a sender of the local channel: stopping it lets
        // subscribers see `Closed`. The publisher ends by itself once the
        // queue's sender is gone, after publishing what was queued.
        self.consumer.abort();
    }
}

/// The bus over NATS JetStream (see the module docs). Cheap to clone; the
/// node's consumer stops when the last clone is dropped.
#[derive(Clone)]
pub struct NatsBus {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("url", &self.inner.config.url)
            .field("stream", &self.inner.config.stream)
            .field("node", &self.inner.node)
            .finish()
    }
}

/// A node id unique per bus handle: process, time and a counter.
fn new_node_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{:x}-{:x}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl NatsBus {
    /// Connects, creates or updates the stream, starts the node's consumer
    /// (subscribed before this returns) and the publisher. Must run inside a
    /// Tokio runtime.
    pub async fn connect(config: NatsBusConfig) -> Result<NatsBus, BusError> {
        config.validate()?;
        let servers = config.servers()?;
        let node = new_node_id();
        let connect_err = |reason: String| BusError::Connect {
            url: config.url.clone(),
            reason,
        };
        let options = async_nats::ConnectOptions::new()
            .name(
                config
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("chengyun {node}")),
            )
            .connection_timeout(config.connect_timeout)
            .max_reconnects(None);
        let client = tokio::time::timeout(
            config.connect_timeout + Duration::from_secs(1),
            async_nats::connect_with_options(servers.as_slice(), options),
        )
        .await
        .map_err(|_| {
            connect_err(format!(
                "no answer within {:?}",
                config.connect_timeout + Duration::from_secs(1)
            ))
        })?
        .map_err(|e| connect_err(e.to_string()))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .max_ack_inflight(MAX_IN_FLIGHT * 2)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let info = js
            .create_or_update_stream(config.stream_config())
            .await
            .map_err(|e| BusError::Stream {
                url: config.url.clone(),
                stream: config.stream.clone(),
                reason: e.to_string(),
            })?;
        let position = Position {
            last: info.state.last_sequence,
            created: info.created,
        };
        let messages = open_consumer(&js, &config, DeliverPolicy::New)
            .await
            .map_err(|reason| BusError::Consumer {
                url: config.url.clone(),
                stream: config.stream.clone(),
                reason,
            })?;
        let (local, _) = broadcast::channel(InProcessBus::CAPACITY);
        let consuming = Arc::new(AtomicBool::new(true));
        let consumer = tokio::spawn(consume(
            js.clone(),
            config.clone(),
            messages,
            position,
            local.clone(),
            node.clone(),
            consuming.clone(),
        ));
        let (queue, jobs) = mpsc::channel(config.publish_queue);
        tokio::spawn(publish_loop(
            js,
            jobs,
            node.clone(),
            config.subject_prefix.clone(),
            config.publish_retries,
        ));
        tracing::info!(url = %config.url, stream = %config.stream, %node, "bus: connected to NATS JetStream");
        Ok(NatsBus {
            inner: Arc::new(Shared {
                client,
                local,
                queue,
                node,
                config,
                consuming,
                consumer,
            }),
        })
    }

    /// Waits until every event published before the call was stored in the
    /// stream or given up (for shutdown and tests).
    pub async fn flush(&self) -> Result<(), BusError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .queue
            .send(Job::Flush(tx))
            .await
            .map_err(|_| BusError::Closed)?;
        rx.await.map_err(|_| BusError::Closed)
    }

    /// Deletes the stream with everything in it, for throwaway streams
    /// (benchmarks); this node stops consuming. Other nodes still connected
    /// re-create it empty.
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.inner.consumer.abort();
        let js = jetstream::new(self.inner.client.clone());
        js.delete_stream(&self.inner.config.stream)
            .await
            .map(|_| ())
            .map_err(|e| BusError::Stream {
                url: self.inner.config.url.clone(),
                stream: self.inner.config.stream.clone(),
                reason: format!("cannot delete it: {e}"),
            })
    }

    /// This node's id, the `Chengyun-Node` header of what it publishes.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &NatsBusConfig {
        &self.inner.config
    }

    /// The JetStream subject of `event` on this bus.
    pub fn subject_of(&self, event: &Event) -> String {
        format!("{}.{}", self.inner.config.subject_prefix, event.subject())
    }
}

impl Bus for NatsBus {
    /// Queues the event for the stream; answers how many of this node's
    /// subscribers there are now (they get it once it comes back from the
    /// stream), or 0 if the queue was full and the event was dropped.
    fn publish(&self, event: Event) -> usize {
        match self.inner.queue.try_send(Job::Event(event)) {
            Ok(()) => self.inner.local.receiver_count(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("chengyun_bus_dropped_total").increment(1);
                tracing::warn!(
                    queue = self.inner.config.publish_queue,
                    "bus: the NATS publish queue is full; event dropped"
                );
                0
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("chengyun_bus_dropped_total").increment(1);
                tracing::warn!("bus: the NATS publisher has stopped; event dropped");
                0
            }
        }
    }

    fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.inner.local.subscribe(),
        }
    }

    fn kind(&self) -> &'static str {
        "nats"
    }

    /// Connected to NATS and consuming the stream.
    fn is_connected(&self) -> bool {
        self.inner.client.connection_state() == State::Connected
            && self.inner.consuming.load(Ordering::Relaxed)
    }
}

/// The node's ordered consumer on the stream, from `policy`.
async fn open_consumer(
    js: &Context,
    config: &NatsBusConfig,
    policy: DeliverPolicy,
) -> Result<Ordered, String> {
    let stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|e| format!("stream lookup: {e}"))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{}.>", config.subject_prefix),
            deliver_policy: policy,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("creating the consumer: {e}"))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("pulling messages: {e}"))
}

/// Hands one stream message to the node's subscribers.
fn deliver(message: &async_nats::Message, node: &str, local: &broadcast::Sender<Item>) {
    let origin = match message
        .headers
        .as_ref()
        .and_then(|h| h.get(NODE_HEADER))
        .map(|v| v.as_str())
    {
        Some(n) if n == node => Origin::Local,
        _ => Origin::Remote,
    };
    match serde_json::from_slice::<Event>(&message.payload) {
        Ok(event) => {
            metrics::counter!("chengyun_bus_received_total").increment(1);
            let _ = local.send(Item::Event(event, origin));
        }
        Err(e) => {
            metrics::counter!("chengyun_bus_decode_errors_total").increment(1);
            tracing::warn!(subject = %message.subject, error = %e, "bus: a message on the stream is not a chengyun event; skipped");
        }
    }
}

/// Where the node's consumer is: the stream (by its creation time) and the
/// sequence of the last message delivered.
#[derive(Debug, Clone, Copy)]
struct Position {
    last: u64,
    created: async_nats::datetime::DateTime,
}

/// Why the node must resubscribe, if the stream is gone or was re-created
/// since `position` (the ordered consumer would continue at a sequence of
/// the old stream). Other errors (a slow or lost connection) are left to the
/// client's reconnect.
async fn stream_lost(js: &Context, name: &str, position: &Position) -> Option<String> {
    match js.get_stream(name).await {
        Ok(stream) => (stream.cached_info().created != position.created)
            .then(|| format!("the stream {name} was re-created")),
        Err(e) => matches!(
            e.kind(),
            jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
        )
        .then(|| format!("the stream {name} is gone")),
    }
}

/// The node's consumer: delivers what the stream holds, resubscribing when
/// the consumer or the stream is lost. Ends when the bus is dropped (aborted).
async fn consume(
    js: Context,
    config: NatsBusConfig,
    mut messages: Ordered,
    mut position: Position,
    local: broadcast::Sender<Item>,
    node: String,
    consuming: Arc<AtomicBool>,
) {
    let mut check = tokio::time::interval(config.check_interval);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    loop {
        let lost = tokio::select! {
            next = messages.next() => match next {
                Some(Ok(message)) => {
                    if let Ok(info) = message.info() {
                        position.last = info.stream_sequence;
                    }
                    deliver(&message, &node, &local);
                    None
                }
                Some(Err(e)) => Some(format!("the consumer failed: {e}")),
                None => Some("the consumer ended".to_string()),
            },
            _ = check.tick() => stream_lost(&js, &config.stream, &position).await,
        };
        let Some(why) = lost else { continue };
        consuming.store(false, Ordering::Relaxed);
        tracing::warn!(stream = %config.stream, reason = %why, "bus: resubscribing to NATS");
        let mut pause = Duration::from_millis(200);
        messages = loop {
            match resubscribe(&js, &config, &mut position, &local).await {
                Ok(m) => break m,
                Err(e) => {
                    tracing::warn!(stream = %config.stream, error = %e, "bus: cannot resubscribe yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        };
        metrics::counter!("chengyun_bus_resubscribes_total").increment(1);
        consuming.store(true, Ordering::Relaxed);
        tracing::info!(stream = %config.stream, "bus: consuming NATS again");
    }
}

/// Re-creates the stream if needed and a consumer continuing after
/// `position`; tells subscribers about events that left the stream meanwhile.
async fn resubscribe(
    js: &Context,
    config: &NatsBusConfig,
    position: &mut Position,
    local: &broadcast::Sender<Item>,
) -> Result<Ordered, String> {
    let info = js
        .create_or_update_stream(config.stream_config())
        .await
        .map_err(|e| format!("creating the stream: {e}"))?;
    let state = info.state;
    let policy = if info.created != position.created {
        // A new stream (deleted and re-created): all of it is new to this node.
        DeliverPolicy::All
    } else {
        let next = position.last + 1;
        if state.messages > 0 && state.first_sequence > next {
            let _ = local.send(Item::Missed(state.first_sequence - next));
        }
        DeliverPolicy::ByStartSequence {
            start_sequence: next.max(state.first_sequence),
        }
    };
    let messages = open_consumer(js, config, policy).await?;
    if info.created != position.created {
        *position = Position {
            last: 0,
            created: info.created,
        };
    }
    Ok(messages)
}

/// Publishes queued events in order, awaiting acks concurrently.
async fn publish_loop(
    js: Context,
    mut jobs: mpsc::Receiver<Job>,
    node: String,
    prefix: String,
    retries: u32,
) {
    let mut seq = 0u64;
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            job = jobs.recv(), if open && in_flight.len() < MAX_IN_FLIGHT => match job {
                None => open = false,
                Some(Job::Flush(done)) => {
                    while in_flight.next().await.is_some() {}
                    let _ = done.send(());
                }
                Some(Job::Event(event)) => {
                    seq += 1;
                    let subject = format!("{prefix}.{}", event.subject());
                    let payload = match serde_json::to_vec(&event) {
                        Ok(p) => p,
                        Err(e) => {
                            metrics::counter!("chengyun_bus_publish_errors_total").increment(1);
                            tracing::error!(%subject, error = %e, "bus: cannot encode an event");
                            continue;
                        }
                    };
                    let message = PublishMessage::build()
                        .payload(payload.into())
                        .message_id(format!("{node}-{seq}"))
                        .header(NODE_HEADER, node.as_str());
                    // Sent here, in queue order; only the ack is awaited concurrently.
                    let first = js.send_publish(subject.clone(), message.clone()).await;
                    in_flight.push(settle(js.clone(), subject, message, first, retries));
                }
            },
        }
    }
}

/// Awaits a publish's ack, retrying the publish (same message id) on failure.
async fn settle(
    js: Context,
    subject: String,
    message: PublishMessage,
    first: Result<jetstream::context::PublishAckFuture, jetstream::context::PublishError>,
    retries: u32,
) {
    let mut error = match first {
        Ok(ack) => match ack.await {
            Ok(_) => {
                metrics::counter!("chengyun_bus_published_total").increment(1);
                return;
            }
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=retries {
        metrics::counter!("chengyun_bus_publish_retries_total").increment(1);
        tracing::warn!(%subject, attempt, %error, "bus: publish to NATS failed; retrying");
        tokio::time::sleep(pause).await;
        pause *= 4;
        match js.send_publish(subject.clone(), message.clone()).await {
            Ok(ack) => match ack.await {
                Ok(_) => {
                    metrics::counter!("chengyun_bus_published_total").increment(1);
                    return;
                }
                Err(e) => error = e.to_string(),
            },
            Err(e) => error = e.to_string(),
        }
    }
    metrics::counter!("chengyun_bus_publish_errors_total").increment(1);
    tracing::error!(%subject, %error, attempts = retries + 1, "bus: event not published to NATS; given up");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked_field_by_field() {
        assert!(NatsBusConfig::default().validate().is_ok());
        let two = NatsBusConfig {
            url: "nats://10.0.0.1:4222, tls://10.0.0.2:4222".into(),
            ..Default::default()
        };
        assert_eq!(two.servers().unwrap().len(), 2);
        let cases = [
            (
                NatsBusConfig {
                    url: "http://127.0.0.1:4222".into(),
                    ..Default::default()
                },
                "nats://",
            ),
            (
                NatsBusConfig {
                    stream: "CHENG.YUN".into(),
                    ..Default::default()
                },
                "stream",
            ),
            (
                NatsBusConfig {
                    subject_prefix: "cy.*".into(),
                    ..Default::default()
                },
                "subject_prefix",
            ),
            (
                NatsBusConfig {
                    subject_prefix: "cy..x".into(),
                    ..Default::default()
                },
                "subject_prefix",
            ),
            (
                NatsBusConfig {
                    max_bytes: 10,
                    ..Default::default()
                },
                "max_bytes",
            ),
            (
                NatsBusConfig {
                    max_age: Duration::ZERO,
                    ..Default::default()
                },
                "max_age",
            ),
            (
                NatsBusConfig {
                    publish_queue: 0,
                    ..Default::default()
                },
                "publish_queue",
            ),
        ];
        for (config, field) in cases {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn the_stream_is_bounded_and_holds_the_prefix() {
        let c = NatsBusConfig {
            stream: "T".into(),
            subject_prefix: "a.b".into(),
            max_bytes: 5 * 1024 * 1024,
            max_age: Duration::from_secs(30),
            ..Default::default()
        };
        let s = c.stream_config();
        assert_eq!(s.subjects, vec!["a.b.>".to_string()]);
        assert_eq!(s.max_bytes, 5 * 1024 * 1024);
        assert_eq!(s.max_age, Duration::from_secs(30));
        assert_eq!(s.discard, DiscardPolicy::Old);
        assert_eq!(s.duplicate_window, Duration::from_secs(30));
        assert_ne!(new_node_id(), new_node_id());
    }
}
