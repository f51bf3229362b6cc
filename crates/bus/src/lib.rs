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
    /// The IoT registry changed in the store (committed): every *other*
    /// node reloads what it names into its in-memory registry and rule
    /// engine (the node that wrote it already holds it).
    IotChanged {
        /// `devices`, `products`, `grants`, `packs` or `rules`.
        what: String,
        /// The device ids or product keys written (at most
        /// [`Event::IOT_CHANGED_MAX_IDS`]); empty with `all`.
        #[serde(default)]
        ids: Vec<String>,
        /// Reload every entry of this kind: grants, packs and rules always,
        /// devices and products when more than [`Event::IOT_CHANGED_MAX_IDS`]
        /// were written at once.
        #[serde(default)]
        all: bool,
    },
}

impl Event {
    /// The most ids an [`Event::IotChanged`] names; a larger batch is sent as `all`.
    pub const IOT_CHANGED_MAX_IDS: usize = 256;

    /// `IotChanged` for the entries `ids` of kind `what`, or for all of
    /// them (`all`, no ids) when there are more than [`Event::IOT_CHANGED_MAX_IDS`].
    pub fn iot_changed(what: &str, ids: Vec<String>) -> Event {
        if ids.len() > Self::IOT_CHANGED_MAX_IDS {
            return Self::iot_changed_all(what);
        }
        Event::IotChanged {
            what: what.to_string(),
            ids,
            all: false,
        }
    }

    /// `IotChanged` for every entry of kind `what`.
    pub fn iot_changed_all(what: &str) -> Event {
        Event::IotChanged {
            what: what.to_string(),
            ids: Vec::new(),
            all: true,
        }
    }

    /// The subject a message broker files the event under.
    pub fn subject(&self) -> String {
        match self {
            Event::CityChanged { what, .. } => format!("city.changed.{what}"),
            Event::IotChanged { what, .. } => format!("iot.changed.{what}"),
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

    #[test]
    fn iot_changes_name_their_ids_up_to_a_bound_then_all() {
        let few = Event::iot_changed("devices", vec!["d1".into(), "d2".into()]);
        assert_eq!(few.subject(), "iot.changed.devices");
        assert_eq!(
            few,
            Event::IotChanged {
                what: "devices".into(),
                ids: vec!["d1".into(), "d2".into()],
                all: false
            }
        );
        let json = serde_json::to_value(&few).unwrap();
        assert_eq!(json["type"], "iot_changed");
        assert_eq!(json["ids"][1], "d2");
        assert_eq!(json["all"], false);
        let bound: Vec<String> = (0..Event::IOT_CHANGED_MAX_IDS)
            .map(|i| format!("d{i}"))
            .collect();
        match Event::iot_changed("devices", bound.clone()) {
            Event::IotChanged { ids, all, .. } => assert!(ids == bound && !all),
            other => panic!("{other:?}"),
        }
        let mut many = bound;
        many.push("one more".into());
        assert_eq!(
            Event::iot_changed("devices", many),
            Event::iot_changed_all("devices")
        );
        let all = serde_json::to_value(Event::iot_changed_all("rules")).unwrap();
        assert_eq!(all["ids"], serde_json::json!([]));
        assert_eq!(all["all"], true);
        // Missing ids and all read as "these ids: none", not as "reload all".
        let bare: Event =
            serde_json::from_str(r#"{"type":"iot_changed","what":"grants"}"#).unwrap();
        assert_eq!(
            bare,
            Event::IotChanged {
                what: "grants".into(),
                ids: vec![],
                all: false
            }
        );
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
