//! The live feed: `GET /api/v1/stream`, Server-Sent Events of every case
//! change (and later alarms), filtered by the viewer's scope.
//!
//! Every event has the envelope `{type, id, at, data}`:
//! - `type`: `case.changed`, `case.timer`, `alarm.changed`, `device.state`,
//!   `command.changed`, `iot.changed` (the device registry, products, grants,
//!   packs or rules were written: `what`, `ids`, `all`), `city.changed`, or `resync`
//!   (the client missed events and should reload what it shows from REST);
//! - `id`: a number, increasing by one per event in this server process;
//!   also the SSE `id:` line, so a browser's `EventSource` resumes with
//!   `Last-Event-ID` by itself;
//! - `at`: RFC 3339 UTC;
//! - `data`: the bus event's fields (`case_id`, `number`, `change`, `state`,
//!   `area_code`, `center_department`, `holder_department` for case changes).
//!
//! The SSE `event:` line is the type, so `EventSource.addEventListener("case.changed", …)` works.
//!
//! [`Feed`] collects the bus into a bounded ring buffer (`ApiConfig::sse_buffer`
//! events) and fans it out. A reconnecting client sends `Last-Event-ID`:
//! the events after it that are still in the buffer are replayed first. If
//! the id is older than the buffer (or from before a server restart, i.e.
//! larger than any id issued), the stream starts with one `resync` event
//! instead — nothing is silently skipped. A client too slow to keep up also
//! gets `resync`. Heartbeats are SSE comment lines (`: heartbeat`) every
//! `ApiConfig::sse_heartbeat` (15 s), so proxies keep the connection open.
//!
//! Several nodes (a NATS bus, see `crates/bus`): every node's feed receives
//! every node's events, so a viewer on node B sees a case created on node A.
//! The `id`s count per node, so `Last-Event-ID` only means something to the
//! node that issued it: route a client's reconnects to the same node (sticky
//! sessions) or it may get the wrong replay instead of `resync`.
//!
//! Scope: an event about a case in an area is sent only to viewers whose
//! scope contains that area; a case without an area only to whole-city
//! viewers; `city.changed` to everyone who may read the city. IoT events
//! (`alarm.changed`, `device.state`, `command.changed`) follow the device
//! rule of the REST API: whole-city viewers get all of them, everyone else
//! only those of devices their department owns or was granted (read) — the
//! grant is checked when the event is sent, so a revoked grant stops the
//! events at once. `iot.changed` goes to whole-city viewers only. Without the IoT service attached (a bare [`Feed::start`])
//! IoT events fall back to the owning department's area.

use crate::error::ApiResult;
use crate::extract::{CurrentUser, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chengyun_bus::{DynBus, Event, Origin, Received};
use chengyun_domain::auth::{Permission, Scope};
use chengyun_services::iot::IotService;
use chengyun_store::DynStore;
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};
use utoipa::{IntoParams, ToSchema};

/// One event of the live feed (and of webhook deliveries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    /// `case.changed`, `case.timer`, `city.changed`, `resync`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: u64,
    /// RFC 3339 UTC.
    pub at: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An envelope with what scope filtering needs.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub envelope: Envelope,
    /// The bus subject (`case.changed.dispatch` …), for webhook filters.
    pub subject: String,
    /// `Some(area)` for events about a place; `None` with `scoped` for a
    /// case without an area (whole-city viewers only).
    pub area_code: Option<String>,
    pub scoped: bool,
    /// For IoT events: the device, whose ownership and grants decide who sees it.
    pub device_id: Option<String>,
    /// Published by this node (always, on the in-process bus). With several
    /// nodes on one NATS bus every node's feed shows every event, but only
    /// the node that published one queues its webhook deliveries.
    pub local: bool,
}

impl FeedItem {
    /// Whether a viewer with `scope` may receive this event.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        if !self.scoped {
            return !matches!(scope, Scope::Nothing);
        }
        match &self.area_code {
            Some(area) => scope.contains_str(area),
            None => matches!(scope, Scope::All),
        }
    }
}

/// What the feed needs to know about a bus event.
pub struct Described {
    pub kind: String,
    pub subject: String,
    pub area_code: Option<String>,
    pub scoped: bool,
    /// For IoT events: the owning department, whose area scopes the event.
    pub owner_department: Option<String>,
    /// For IoT events: the device.
    pub device_id: Option<String>,
    pub data: serde_json::Value,
    pub at: String,
}

/// The envelope parts of a bus event.
pub fn describe(event: &Event) -> Described {
    let mut data = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = data.as_object_mut() {
        obj.remove("type");
    }
    let subject = event.subject();
    let device_id = match event {
        Event::AlarmChanged { device_id, .. }
        | Event::DeviceState { device_id, .. }
        | Event::CommandChanged { device_id, .. } => Some(device_id.clone()),
        _ => None,
    };
    let (kind, area_code, scoped, owner_department, at) = match event {
        Event::CaseChanged { area_code, at, .. } => {
            ("case.changed", area_code.clone(), true, None, at.clone())
        }
        Event::CaseTimer { area_code, at, .. } => {
            ("case.timer", area_code.clone(), true, None, at.clone())
        }
        Event::CityChanged { .. } => (
            "city.changed",
            None,
            false,
            None,
            chrono::Utc::now().to_rfc3339(),
        ),
        Event::AlarmChanged {
            owner_department,
            at,
            ..
        } => (
            "alarm.changed",
            None,
            true,
            Some(owner_department.clone()),
            at.clone(),
        ),
        Event::DeviceState {
            owner_department,
            at,
            ..
        } => (
            "device.state",
            None,
            true,
            Some(owner_department.clone()),
            at.clone(),
        ),
        // Commands name no department: whole-city viewers only.
        Event::CommandChanged { at, .. } => ("command.changed", None, true, None, at.clone()),
        // Registry changes (device ids, product keys) name no department either.
        Event::IotChanged { .. } => (
            "iot.changed",
            None,
            true,
            None,
            chrono::Utc::now().to_rfc3339(),
        ),
    };
    Described {
        kind: kind.to_string(),
        subject,
        area_code,
        scoped,
        owner_department,
        device_id,
        data,
        at,
    }
}

struct Ring {
    items: VecDeque<Arc<FeedItem>>,
    next_id: u64,
}

/// The live feed's ring buffer and fan-out (see the module docs).
pub struct Feed {
    ring: Mutex<Ring>,
    capacity: usize,
    tx: broadcast::Sender<Arc<FeedItem>>,
    closed: watch::Sender<bool>,
    /// Ownership and grants of devices, for IoT events.
    iot: Option<IotService>,
}

/// What a resume from `Last-Event-ID` finds.
#[derive(Debug)]
pub enum Resume {
    /// The buffered events after the id (possibly none).
    Replay(Vec<Arc<FeedItem>>),
    /// The id is no longer (or never was) in the buffer.
    Gap,
}

impl Feed {
    /// A feed keeping the last `capacity` events, fed from `bus` by a task
    /// spawned here (it ends when the bus closes).
    /// IoT events are scoped by their owning department's area, looked up
    /// in `store` (and remembered).
    pub fn start(bus: &DynBus, store: DynStore, capacity: usize) -> Arc<Feed> {
        Self::start_with_grants(bus, store, None, capacity)
    }

    /// [`Feed::start`] with the IoT service whose ownership and grants
    /// decide who sees IoT events (see the module docs).
    pub fn start_with_grants(
        bus: &DynBus,
        store: DynStore,
        iot: Option<IotService>,
        capacity: usize,
    ) -> Arc<Feed> {
        let mut feed = Feed::new(capacity);
        feed.iot = iot;
        let feed = Arc::new(feed);
        let mut sub = bus.subscribe();
        let weak = Arc::downgrade(&feed);
        tokio::spawn(async move {
            let mut areas: HashMap<String, Option<String>> = HashMap::new();
            loop {
                let (got, origin) = sub.recv_with_origin().await;
                let Some(feed) = weak.upgrade() else { break };
                match got {
                    Received::Event(e) => {
                        let mut d = describe(&e);
                        if let Some(dept) = d.owner_department.clone() {
                            if !areas.contains_key(&dept) {
                                match store.department(&dept).await {
                                    Ok(found) => {
                                        areas.insert(
                                            dept.clone(),
                                            found.map(|x| x.area_code.to_string()),
                                        );
                                    }
                                    Err(err) => {
                                        tracing::warn!(error = %err, %dept, "cannot scope an IoT event");
                                    }
                                }
                            }
                            d.area_code = areas.get(&dept).cloned().flatten();
                        }
                        feed.push_from(d, origin == Origin::Local);
                    }
                    Received::Lagged(n) => {
                        tracing::warn!(missed = n, "the live feed fell behind the bus");
                        feed.push_described(Described {
                            kind: "resync".into(),
                            subject: "resync".into(),
                            area_code: None,
                            scoped: false,
                            owner_department: None,
                            device_id: None,
                            data: serde_json::json!({ "missed": n }),
                            at: chrono::Utc::now().to_rfc3339(),
                        });
                    }
                    Received::Closed => break,
                }
            }
        });
        feed
    }

    /// An empty feed not attached to a bus (push events yourself).
    pub fn new(capacity: usize) -> Feed {
        let (tx, _) = broadcast::channel(capacity.clamp(16, 65_536));
        let (closed, _) = watch::channel(false);
        Feed {
            ring: Mutex::new(Ring {
                items: VecDeque::new(),
                next_id: 1,
            }),
            capacity: capacity.max(1),
            tx,
            closed,
            iot: None,
        }
    }

    /// Records a bus event and sends it to every open stream.
    pub fn push_event(&self, event: &Event) -> Arc<FeedItem> {
        self.push_described(describe(event))
    }

    fn push_described(&self, d: Described) -> Arc<FeedItem> {
        self.push_from(d, true)
    }

    /// Records an event published by this node (`local`) or another one.
    fn push_from(&self, d: Described, local: bool) -> Arc<FeedItem> {
        let Described {
            kind,
            subject,
            area_code,
            scoped,
            device_id,
            data,
            at,
            ..
        } = d;
        let mut ring = match self.ring.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let item = Arc::new(FeedItem {
            envelope: Envelope {
                kind,
                id: ring.next_id,
                at,
                data,
            },
            subject,
            area_code,
            scoped,
            device_id,
            local,
        });
        ring.next_id += 1;
        ring.items.push_back(item.clone());
        while ring.items.len() > self.capacity {
            ring.items.pop_front();
        }
        // Sent under the lock so ids reach subscribers in order.
        let _ = self.tx.send(item.clone());
        item
    }

    /// A receiver of events pushed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedItem>> {
        self.tx.subscribe()
    }

    /// The buffered events after `last_id`.
    pub fn resume(&self, last_id: u64) -> Resume {
        let ring = match self.ring.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let newest = ring.next_id - 1;
        if last_id > newest {
            return Resume::Gap;
        }
        let oldest = ring.items.front().map_or(ring.next_id, |i| i.envelope.id);
        if last_id + 1 < oldest {
            return Resume::Gap;
        }
        Resume::Replay(
            ring.items
                .iter()
                .filter(|i| i.envelope.id > last_id)
                .cloned()
                .collect(),
        )
    }

    /// The id of the newest event (0 when none yet).
    pub fn last_id(&self) -> u64 {
        match self.ring.lock() {
            Ok(g) => g.next_id - 1,
            Err(p) => p.into_inner().next_id - 1,
        }
    }

    /// Ends every open stream (graceful shutdown: SSE responses never end
    /// by themselves, and the server waits for open responses).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }
}

/// Filters of the live feed.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Comma-separated type prefixes to receive (`case.changed,case.timer`); all when absent.
    pub types: Option<String>,
    /// Resume after this event id (for clients that cannot send `Last-Event-ID`).
    pub last_event_id: Option<u64>,
}

fn sse_event(item: &FeedItem) -> SseEvent {
    let data = serde_json::to_string(&item.envelope).unwrap_or_else(|_| "{}".to_string());
    SseEvent::default()
        .id(item.envelope.id.to_string())
        .event(item.envelope.kind.clone())
        .data(data)
}

fn resync_event(feed: &Feed, reason: &str) -> SseEvent {
    let env = Envelope {
        kind: "resync".into(),
        id: feed.last_id(),
        at: chrono::Utc::now().to_rfc3339(),
        data: serde_json::json!({ "reason": reason }),
    };
    SseEvent::default()
        .id(env.id.to_string())
        .event("resync")
        .data(serde_json::to_string(&env).unwrap_or_default())
}

struct StreamState {
    feed: Arc<Feed>,
    rx: broadcast::Receiver<Arc<FeedItem>>,
    closed: watch::Receiver<bool>,
    backlog: VecDeque<SseEvent>,
    last_sent: u64,
    scope: Scope,
    /// The viewer's department (for device ownership and grants).
    department: Option<String>,
    types: Vec<String>,
}

impl StreamState {
    fn visible(&self, item: &FeedItem) -> bool {
        match (&item.device_id, &self.feed.iot) {
            (Some(device), Some(iot)) => {
                matches!(self.scope, Scope::All)
                    || self.department.as_deref().is_some_and(|dept| {
                        iot.may(device, dept, chengyun_domain::iot::Permission::Read)
                    })
            }
            _ => item.visible_to(&self.scope),
        }
    }

    fn wants(&self, item: &FeedItem) -> bool {
        self.visible(item)
            && (self.types.is_empty()
                || item.envelope.kind == "resync"
                || self.types.iter().any(|t| item.envelope.kind.starts_with(t)))
    }
}

/// The feed as an SSE stream for one viewer.
pub fn viewer_stream(
    feed: Arc<Feed>,
    scope: Scope,
    department: Option<String>,
    types: Vec<String>,
    last_event_id: Option<u64>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    // Subscribe before reading the buffer, then skip what the buffer gave.
    let rx = feed.subscribe();
    let closed = feed.closed();
    let mut st = StreamState {
        rx,
        closed,
        backlog: VecDeque::new(),
        last_sent: feed.last_id(),
        scope,
        department,
        types,
        feed: feed.clone(),
    };
    if let Some(last) = last_event_id {
        match feed.resume(last) {
            Resume::Replay(items) => {
                st.last_sent = last;
                for item in items {
                    st.last_sent = item.envelope.id;
                    if st.wants(&item) {
                        st.backlog.push_back(sse_event(&item));
                    }
                }
            }
            Resume::Gap => st.backlog.push_back(resync_event(
                &feed,
                "the last event id is no longer buffered",
            )),
        }
    }
    futures::stream::unfold(st, |mut st| async move {
        if let Some(ev) = st.backlog.pop_front() {
            return Some((Ok(ev), st));
        }
        loop {
            if *st.closed.borrow() {
                return None;
            }
            tokio::select! {
                got = st.rx.recv() => match got {
                    Ok(item) => {
                        if item.envelope.id <= st.last_sent {
                            continue;
                        }
                        st.last_sent = item.envelope.id;
                        if st.wants(&item) {
                            return Some((Ok(sse_event(&item)), st));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        st.last_sent = st.feed.last_id();
                        let ev = resync_event(&st.feed, "this client fell behind the feed");
                        return Some((Ok(ev), st));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = st.closed.changed() => return None,
            }
        }
    })
}

/// The live feed of case changes in the caller's scope (Server-Sent Events).
#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "cases",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses((status = 200, description = "An endless `text/event-stream`; each `data:` line is an Envelope", content_type = "text/event-stream", body = Envelope)),
    security(("session" = []), ("token" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    me.require(Permission::ReadCity)?;
    let header_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let last = match header_id {
        Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
            crate::error::ApiError::new(
                crate::error::ErrorCode::InvalidQuery,
                format!("Last-Event-ID {raw:?} is not an event id (a whole number)"),
            )
        })?),
        None => p.last_event_id,
    };
    let types: Vec<String> = p
        .types
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let s = viewer_stream(
        state.feed().clone(),
        me.scope.clone(),
        me.user.department_code.clone(),
        types,
        last,
    );
    Ok(Sse::new(s).keep_alive(
        KeepAlive::new()
            .interval(state.config().sse_heartbeat)
            .text("heartbeat"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chengyun_domain::codes::DivisionCode;

    fn changed(id: i64, area: Option<&str>) -> Event {
        Event::CaseChanged {
            case_id: id,
            number: format!("YT{id}"),
            change: "created".into(),
            state: "reported".into(),
            area_code: area.map(str::to_string),
            center_department: "C".into(),
            holder_department: "C".into(),
            at: "2026-03-10T02:00:00+00:00".into(),
        }
    }

    #[test]
    fn ring_keeps_the_last_events_and_reports_gaps() {
        let feed = Feed::new(3);
        for i in 0..5 {
            feed.push_event(&changed(i, Some("360602")));
        }
        assert_eq!(feed.last_id(), 5);
        match feed.resume(3) {
            Resume::Replay(v) => {
                assert_eq!(v.iter().map(|i| i.envelope.id).collect::<Vec<_>>(), [4, 5])
            }
            Resume::Gap => panic!("3 is buffered"),
        }
        assert!(matches!(feed.resume(2), Resume::Replay(ref v) if v.len() == 3));
        assert!(matches!(feed.resume(1), Resume::Gap));
        assert!(
            matches!(feed.resume(99), Resume::Gap),
            "an id from a previous process"
        );
        assert!(matches!(feed.resume(5), Resume::Replay(ref v) if v.is_empty()));
    }

    #[test]
    fn iot_events_carry_their_department() {
        let d = describe(&Event::DeviceState {
            device_id: "d1".into(),
            online: false,
            owner_department: "YH-CGJ".into(),
            at: "2026-03-10T02:00:00+00:00".into(),
        });
        assert_eq!(d.kind, "device.state");
        assert_eq!(d.subject, "iot.device.offline");
        assert_eq!(d.owner_department.as_deref(), Some("YH-CGJ"));
        assert!(d.scoped);
        let feed = Feed::new(4);
        let item = feed.push_described(Described {
            area_code: Some("360602".into()),
            ..d
        });
        assert!(item.visible_to(&Scope::Area(DivisionCode::parse("360602").unwrap())));
        assert!(!item.visible_to(&Scope::Area(DivisionCode::parse("360603").unwrap())));
    }

    #[test]
    fn scope_filtering() {
        let feed = Feed::new(8);
        let yh = feed.push_event(&changed(1, Some("360602001")));
        let none = feed.push_event(&changed(2, None));
        let district = Scope::Area(DivisionCode::parse("360602").unwrap());
        let other = Scope::Area(DivisionCode::parse("360603").unwrap());
        assert!(yh.visible_to(&district));
        assert!(!yh.visible_to(&other));
        assert!(yh.visible_to(&Scope::All));
        assert!(!none.visible_to(&district));
        assert!(none.visible_to(&Scope::All));
        assert!(!yh.visible_to(&Scope::Nothing));
        assert_eq!(yh.envelope.kind, "case.changed");
        assert_eq!(yh.envelope.data["case_id"], 1);
        assert!(yh.envelope.data.get("type").is_none());
        assert_eq!(yh.subject, "case.changed.created");
    }
}
