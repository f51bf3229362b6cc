//! The internal bus: typed events published by one part of chengyun and
//! consumed by others (the live feed, caches, webhooks, the IoT case
//! listener). Two backends behind one [`Bus`] trait:
//!
//! - [`InProcessBus`] (default): a tokio broadcast channel inside one process.
//! - `NatsBus` (cargo feature `nats`): a NATS JetStream stream shared by
//!   several chengyun nodes; each node fans what it consumes out locally
//!   through the same kind of broadcast channel (see the `nats` module).
//!
//! Delivery is at-most-once per subscriber: a subscriber that falls more than
//! [`InProcessBus::CAPACITY`] events behind is told how many it missed
//! ([`Received::Lagged`]) so it can resynchronise from the store.
//! [`Subscription::recv_with_origin`] also tells whether an event was
//! published by this process ([`Origin::Local`]) or by another node.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "nats")]
pub use nats::{BusError, NatsBus, NatsBusConfig};

/// Something that happened, as other parts of the system need to hear it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The city model changed (areas, grids, departments, staff, components,
    /// local classes, scenario packs, case settings): spatial indexes and
    /// catalogues must be reloaded (every node reloads on it).
    CityChanged {
        /// What changed: `areas`, `grids`, `departments`, `staff`, `components`,
        /// `classes`, `packs` or `case_settings`.
        what: String,
        /// Rows written.
        count: u64,
    },
    /// A case was created or changed: reported, an action taken, merged.
    /// Carries what a live feed needs to filter by the viewer's scope and to
    /// decide whether to reload the case.
    CaseChanged {
        case_id: i64,
        number: String,
        /// `created`, an action name (`dispatch`, `check_fail` …), `merged`,
        /// `merged_into` or `overdue`.
        change: String,
        /// The state after the change (`dispatched` …).
        state: String,
        /// The finest area the case lies in, for scope filtering.
        area_code: Option<String>,
        center_department: String,
        holder_department: String,
        /// RFC 3339 UTC.
        at: String,
    },
    /// A case's timer crossed 80 % (`warning`) or 100 % (`overdue`) of its limit.
    CaseTimer {
        case_id: i64,
        number: String,
        /// `verify`, `register_dispatch`, `dispose` or `check`.
        clock: String,
        /// `warning` or `overdue`.
        level: String,
        area_code: Option<String>,
        holder_department: String,
        /// RFC 3339 UTC.
        at: String,
    },
    /// An IoT alarm was raised, updated, acknowledged or cleared.
    AlarmChanged {
        alarm_id: String,
        device_id: String,
        rule_id: String,
        alarm_type: String,
        /// `raised`, `updated`, `acknowledged` or `cleared`.
        change: String,
        /// `active`, `acknowledged` or `cleared`.
        state: String,
        level: String,
        count: u64,
        /// The device owner, for scope filtering.
        owner_department: String,
        lon: Option<f64>,
        lat: Option<f64>,
        /// RFC 3339 UTC.
        at: String,
    },
    /// A device went online or offline.
    DeviceState {
        device_id: String,
        online: bool,
        owner_department: String,
        /// RFC 3339 UTC.
        at: String,
    },
    /// A device command changed status (`queued`, `sent`, `acknowledged`,
    /// `failed`, `timed_out`).
    CommandChanged {
        command_id: i64,
        device_id: String,
        command: String,
        status: String,
        /// RFC 3339 UTC.
        at: String,
    },
}

impl Event {
    /// The subject a message broker files the event under.
    pub fn subject(&self) -> String {
        match self {
            Event::CityChanged { what, .. } => format!("city.changed.{what}"),
            Event::CaseChanged { change, .. } => format!("case.changed.{change}"),
            Event::CaseTimer { level, .. } => format!("case.timer.{level}"),
            Event::AlarmChanged { change, .. } => format!("iot.alarm.{change}"),
            Event::DeviceState { online, .. } => {
                format!("iot.device.{}", if *online { "online" } else { "offline" })
            }
            Event::CommandChanged { status, .. } => format!("iot.command.{status}"),
        }
    }
}

/// What a subscriber gets from [`Subscription::recv`].
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a received event is moved out at once; boxing would allocate per delivery"
)]
pub enum Received {
    Event(Event),
    /// The subscriber missed this many events.
    Lagged(u64),
    /// The bus is gone; no more events will come.
    Closed,
}

/// Where a received event was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// By this bus handle's process (its own node).
    Local,
    /// By another node sharing the bus (NATS only).
    Remote,
}

/// Publish and subscribe.
pub trait Bus: Send + Sync + 'static {
    /// Publishes to every subscriber. Answers how many subscribers of this
    /// process will get it: for the in-process bus those that got it; for
    /// NATS those subscribed when it was queued (0 if it was dropped because
    /// the publish queue was full), as it reaches them only after its round
    /// trip through the stream.
    fn publish(&self, event: Event) -> usize;
    fn subscribe(&self) -> Subscription;
    /// `inprocess` or `nats`, for logs and the bench output.
    fn kind(&self) -> &'static str {
        "inprocess"
    }
    /// Whether the bus can deliver now (NATS: connected and consuming);
    /// the in-process bus always can.
    fn is_connected(&self) -> bool {
        true
    }
}

/// What travels on a node's local broadcast channel.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "cloned once per subscriber and moved out at once; boxing would allocate per event"
)]
pub(crate) enum Item {
    Event(Event, Origin),
    /// The node's consumer lost this many events (they left the stream
    /// before it resubscribed): every subscriber is told as `Lagged`.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Missed(u64),
}

/// A stream of events for one subscriber.
pub struct Subscription {
    rx: broadcast::Receiver<Item>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        self.recv_with_origin().await.0
    }

    /// [`Subscription::recv`] with where the event was published; the origin
    /// of `Lagged` and `Closed` is [`Origin::Local`].
    pub async fn recv_with_origin(&mut self) -> (Received, Origin) {
        match self.rx.recv().await {
            Ok(Item::Event(e, origin)) => (Received::Event(e), origin),
            Ok(Item::Missed(n)) => (Received::Lagged(n), Origin::Local),
            Err(broadcast::error::RecvError::Lagged(n)) => (Received::Lagged(n), Origin::Local),
            Err(broadcast::error::RecvError::Closed) => (Received::Closed, Origin::Local),
        }
    }
}

/// The embedded, single-process bus.
#[derive(Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<Item>,
}

impl InProcessBus {
    /// Events a slow subscriber may fall behind before it lags.
    pub const CAPACITY: usize = 4096;

    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(Self::CAPACITY);
        Self { tx }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus for InProcessBus {
    fn publish(&self, event: Event) -> usize {
        self.tx.send(Item::Event(event, Origin::Local)).unwrap_or(0)
    }

    fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }
}

/// A shared handle to the bus in use.
pub type DynBus = Arc<dyn Bus>;

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(n: u64) -> Event {
        Event::CityChanged {
            what: "areas".into(),
            count: n,
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = InProcessBus::new();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        assert_eq!(bus.publish(changed(1)), 2);
        bus.publish(changed(2));
        for s in [&mut a, &mut b] {
            assert_eq!(s.recv().await, Received::Event(changed(1)));
            assert_eq!(s.recv().await, Received::Event(changed(2)));
        }
        assert_eq!(changed(1).subject(), "city.changed.areas");
        let timer = Event::CaseTimer {
            case_id: 1,
            number: "YT20260310000001".into(),
            clock: "dispose".into(),
            level: "overdue".into(),
            area_code: Some("360602001".into()),
            holder_department: "YH-CGJ".into(),
            at: "2026-03-10T02:00:00Z".into(),
        };
        assert_eq!(timer.subject(), "case.timer.overdue");
        let json = serde_json::to_value(&timer).unwrap();
        assert_eq!(json["type"], "case_timer");
    }

    #[tokio::test]
    async fn slow_subscribers_are_told_what_they_missed() {
        let bus = InProcessBus::new();
        let mut s = bus.subscribe();
        for i in 0..(InProcessBus::CAPACITY as u64 + 3) {
            bus.publish(changed(i));
        }
        assert_eq!(s.recv().await, Received::Lagged(3));
        assert_eq!(
            s.recv_with_origin().await,
            (Received::Event(changed(3)), Origin::Local)
        );
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_harmless() {
        let bus = InProcessBus::new();
        assert_eq!(bus.publish(changed(1)), 0);
        let mut s = bus.subscribe();
        drop(bus);
        assert_eq!(s.recv().await, Received::Closed);
    }
}
