//! The IoT brain (物联大脑) as a service: the device registry (and the
//! [`DeviceDirectory`] the gateways authenticate terminals against), the
//! telemetry pipeline (and the [`IngestSink`] the gateways deliver to), the
//! rule engine runtime, alarms → cases through the alarm mapping and back
//! (a closed case clears its alarm), linkage actions, the command interface
//! and scenario packs.
//!
//! Pipeline of one message ([`IotService::ingest`]): the device and its
//! product are looked up in the in-memory registry; the per-device token
//! bucket admits it or it is dropped (counted, logged with the device); it is
//! validated against the product (an unknown property is counted and
//! rejected with the device and the reason); the latest state is merged in
//! memory (see [`pipeline`] for the sharding); the rule engine evaluates it;
//! the row goes to the group-commit writer (see [`pipeline`] for the
//! durability guarantee; [`IotService::flush`] makes everything before it
//! durable); alarm changes are stored, published on the bus as
//! `Event::AlarmChanged`, and a raised alarm with a mapping becomes a case.
//!
//! Background work ([`IotService::spawn_workers`]): a tick every second
//! (time-based rule conditions, offline detection, command timeouts) and a
//! bus listener that clears the alarms of closed or cancelled cases. Tests
//! call [`IotService::tick`] and [`IotService::on_case_finished`] directly
//! with an injected clock instead.
//!
//! Several nodes (see [`cluster`]): every committed registry write (devices,
//! credentials, products, grants, packs, rules) is announced on the bus as
//! `Event::IotChanged`, and [`IotService::follow_bus`] reloads what another
//! node announced from the store; an alarm acknowledged or cleared through
//! another node reaches the engine that holds it the same way.
//!
//! Metrics (the `metrics` facade): `chengyun_iot_messages_total`,
//! `chengyun_iot_rejected_total{reason}`, `chengyun_iot_alarms_total{change}`,
//! `chengyun_iot_commands_total{status}`, and the histogram
//! `chengyun_iot_pipeline_seconds` (one message, ingest to queued).

pub mod cluster;
mod encode;
mod pipeline;
mod scenes;

pub use scenes::{
    CaseTrack, KpiValue, MAX_TRACK_POINTS, OVERLOAD_ALARM, OVERLOAD_MATTER, THEFT_MATTER,
    WIM_PRODUCT,
};

use crate::auth::{device_secret_hash, random_secret, verify_device_secret};
use crate::case::{CaseService, NewCase};
use async_trait::async_trait;
use chengyun_bus::{DynBus, Event, Received};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::case::workflow::Source;
use chengyun_domain::iot::{
    AlarmChange, AlarmChangeKind, AlarmState, ClearReason, Device, DeviceContext, DispatchPolicy,
    Grant, LinkageAction, MappingTable, Pack, Permission, Product, Protocol, Rule, RuleEngine,
    RuleSet, Telemetry, Value, may,
};
use chengyun_domain::standard::{Catalogue, ClassKind, StandardClass};
use chengyun_domain::{Invalid, ValidationError};
use chengyun_ingest::source::ConnectionRegistry;
use chengyun_ingest::source::contract::{
    AuthRequest, CommandRef, Credential, DeviceDirectory, DeviceSession, Inbound, IngestSink,
    OutboundFrame, Refusal, RegisterRefusal, RegisterRefusalKind, Registered, Registration,
    SendError, SinkError,
};
use chengyun_store::{
    AlarmQuery, CommandRecord, CommandStatus, DispatchRule, DynStore, LatestState, NewCommand,
    StoreError, StoredAlarm,
};
use chrono::{DateTime, Utc};
use pipeline::{Shards, Writer, WriterConfig, WriterMsg};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Errors of the IoT service.
#[derive(Debug, thiserror::Error)]
pub enum IotError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("case intake failed: {0}")]
    Case(String),
}

impl From<Invalid> for IotError {
    fn from(e: Invalid) -> Self {
        IotError::Invalid(e.into())
    }
}

impl From<StoreError> for IotError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(v) => IotError::Invalid(v),
            StoreError::NotFound(m) => IotError::NotFound(m),
            StoreError::Conflict(m) => IotError::Conflict(m),
            other => IotError::Store(other),
        }
    }
}

/// Auto-registration of unknown JT/T 808 terminals (0x0100) into a product.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoRegistration {
    pub product_key: String,
    pub owner_department: String,
}

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct IotConfig {
    /// Group commit: flush at least this often…
    pub flush_interval: std::time::Duration,
    /// …or when this many rows are waiting.
    pub flush_rows: usize,
    /// Messages the writer queue holds before `ingest` waits (back-pressure).
    pub queue_capacity: usize,
    /// Per-device token bucket: messages a second, and the burst allowed.
    pub rate_per_sec: f64,
    pub burst: f64,
    /// A device not heard from for this long is marked offline by the sweep.
    pub offline_after: chrono::Duration,
    /// A command not acknowledged within this is timed out by the sweep.
    pub command_timeout: chrono::Duration,
    /// Unknown JT/T 808 terminals registering (0x0100) are refused unless
    /// this names the product (and owner) they join.
    pub auto_register: Option<AutoRegistration>,
    /// Department hint of the packs' alarm mappings (`police`, `community`…)
    /// → department code of this city; `enable_pack` installs a dispatch
    /// rule per mapped matter for each hint found here.
    pub departments: BTreeMap<String, String>,
}

impl Default for IotConfig {
    fn default() -> Self {
        Self {
            flush_interval: std::time::Duration::from_millis(50),
            // Under load the writer drains what queued while it wrote, so
            // batches grow towards this on their own (group commit adapts);
            // at 10,000 rows a commit SQLite writes ~4 µs a row.
            flush_rows: 10_000,
            queue_capacity: 100_000,
            rate_per_sec: 10.0,
            burst: 50.0,
            offline_after: chrono::Duration::minutes(10),
            command_timeout: chrono::Duration::seconds(60),
            auto_register: None,
            departments: BTreeMap::new(),
        }
    }
}

/// Where commands go: the gateways' [`ConnectionRegistry`] in production
/// (JT/T 808 and watch connections, MQTT publishes); a fake in tests.
pub trait CommandTransport: Send + Sync + 'static {
    fn send(&self, device_id: &str, frame: OutboundFrame) -> Result<(), SendError>;
}

impl CommandTransport for ConnectionRegistry {
    fn send(&self, device_id: &str, frame: OutboundFrame) -> Result<(), SendError> {
        ConnectionRegistry::send(self, device_id, frame)
    }
}

/// Counters the tests and the status page read (also exported as metrics).
#[derive(Debug, Default)]
pub struct IotCounters {
    pub messages: AtomicU64,
    pub rejected_unknown_device: AtomicU64,
    pub rejected_invalid: AtomicU64,
    pub rate_limited: AtomicU64,
    pub refused_terminals: AtomicU64,
    pub alarms_raised: AtomicU64,
    pub cases_opened: AtomicU64,
    pub notifications: AtomicU64,
}

/// A snapshot of [`IotCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IotCountersSnapshot {
    pub messages: u64,
    pub rejected_unknown_device: u64,
    pub rejected_invalid: u64,
    pub rate_limited: u64,
    pub refused_terminals: u64,
    pub alarms_raised: u64,
    pub cases_opened: u64,
    pub notifications: u64,
}

/// Who sends a command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandActor {
    pub name: String,
    /// The sender's department; `None` for the system (linkage), which may
    /// command any device.
    pub department: Option<String>,
}

/// Why `ingest` did not take a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("unknown device {0}")]
    UnknownDevice(String),
    #[error("device {device}: {reason}")]
    Rejected { device: String, reason: String },
    #[error("device {0}: rate limited")]
    RateLimited(String),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Default)]
struct Registry {
    products: HashMap<String, Arc<Product>>,
    devices: HashMap<String, Arc<Device>>,
    by_terminal: HashMap<(Protocol, String), String>,
    grants: Vec<Grant>,
}

impl Registry {
    /// Rebuilds the (protocol, terminal id) index, e.g. after a product
    /// changed or arrived after its devices.
    fn reindex(&mut self) {
        self.by_terminal.clear();
        for d in self.devices.values() {
            if let (Some(t), Some(p)) = (&d.terminal_id, self.products.get(&d.product_key)) {
                self.by_terminal
                    .insert((p.protocol, t.clone()), d.id.clone());
            }
        }
    }

    fn remove_device(&mut self, id: &str) {
        if let Some(old) = self.devices.remove(id)
            && let (Some(t), Some(p)) = (&old.terminal_id, self.products.get(&old.product_key))
        {
            self.by_terminal.remove(&(p.protocol, t.clone()));
        }
    }

    fn put_device(&mut self, d: Device) {
        if let Some(old) = self.devices.get(&d.id)
            && let (Some(t), Some(p)) = (&old.terminal_id, self.products.get(&old.product_key))
        {
            self.by_terminal.remove(&(p.protocol, t.clone()));
        }
        if let (Some(t), Some(p)) = (&d.terminal_id, self.products.get(&d.product_key)) {
            self.by_terminal
                .insert((p.protocol, t.clone()), d.id.clone());
        }
        self.devices.insert(d.id.clone(), Arc::new(d));
    }
}

type NowFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

struct Inner {
    store: DynStore,
    bus: DynBus,
    cases: Option<CaseService>,
    transport: Arc<dyn CommandTransport>,
    config: IotConfig,
    now: NowFn,
    registry: RwLock<Registry>,
    shards: Arc<Shards>,
    engine: Mutex<RuleEngine>,
    mappings: RwLock<MappingTable>,
    catalogue: RwLock<Catalogue>,
    writer: Writer,
    counters: IotCounters,
    /// Held from a registry write's store commit until memory holds it (and
    /// by a reload from the store), so a reload that read an older row never
    /// overwrites a newer local write.
    writes: tokio::sync::Mutex<()>,
    /// Subscribed before the registry was loaded; [`IotService::follow_bus`] takes it.
    early: Mutex<Option<chengyun_bus::Subscription>>,
}

/// The national catalogue with the stored local classes (a stored class that
/// no longer fits is skipped) and the enabled packs' alarm mappings: what the
/// service loads at start and reloads when another node installs a pack.
async fn catalogue_and_mappings(
    store: &DynStore,
    packs: &[Pack],
) -> Result<(Catalogue, MappingTable), IotError> {
    let mut catalogue = Catalogue::national();
    for class in store.local_classes().await? {
        let _ = catalogue.extend(class);
    }
    let mut mappings = MappingTable::default();
    for p in packs {
        mappings.mappings.extend(p.alarm_mappings.iter().cloned());
    }
    Ok((catalogue, mappings))
}

/// The IoT service (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct IotService {
    inner: Arc<Inner>,
}

impl IotService {
    /// Builds the service: loads products, devices, grants, latest states,
    /// the rule set (the latest stored version, else the enabled packs'
    /// rules) and the mappings of the enabled packs; starts the writer.
    /// `cases` is the case loop alarms feed (none: alarms stay alarms).
    pub async fn new(
        store: DynStore,
        bus: DynBus,
        cases: Option<CaseService>,
        transport: Arc<dyn CommandTransport>,
        config: IotConfig,
    ) -> Result<Self, IotError> {
        Self::with_clock(store, bus, cases, transport, config, Arc::new(Utc::now)).await
    }

    /// [`IotService::new`] reading the time from `now` (tests drive time this way).
    pub async fn with_clock(
        store: DynStore,
        bus: DynBus,
        cases: Option<CaseService>,
        transport: Arc<dyn CommandTransport>,
        config: IotConfig,
        now: NowFn,
    ) -> Result<Self, IotError> {
        // Before loading: what other nodes announce meanwhile is followed too.
        let early = bus.subscribe();
        let products = store.products().await?;
        let devices = store.all_devices().await?;
        let grants = store.grants(None).await?;
        let packs = store.enabled_packs().await?;
        let rules: Vec<Rule> = match store.rule_set(None).await? {
            Some(r) => r.rules.rules,
            None => packs.iter().flat_map(|p| p.rules.clone()).collect(),
        };
        let mut engine = RuleEngine::new(products.clone(), rules)?;
        let t = now();
        for d in &devices {
            engine.register_device(d, t);
        }
        let (catalogue, mappings) = catalogue_and_mappings(&store, &packs).await?;
        let mut registry = Registry::default();
        for p in products {
            registry.products.insert(p.key.clone(), Arc::new(p));
        }
        for d in devices {
            registry.put_device(d);
        }
        registry.grants = grants.into_iter().map(|g| g.grant).collect();
        let shards = Arc::new(Shards::new());
        for l in store.all_latest().await? {
            let id = l.device_id.clone();
            shards.with(&id, config.burst, |rt| rt.latest = Some(l));
        }
        let writer = Writer::spawn(
            store.clone(),
            shards.clone(),
            WriterConfig {
                flush_interval: config.flush_interval,
                flush_rows: config.flush_rows,
                queue: config.queue_capacity,
            },
        );
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                bus,
                cases,
                transport,
                config,
                now,
                registry: RwLock::new(registry),
                shards,
                engine: Mutex::new(engine),
                mappings: RwLock::new(mappings),
                catalogue: RwLock::new(catalogue),
                writer,
                counters: IotCounters::default(),
                writes: tokio::sync::Mutex::new(()),
                early: Mutex::new(Some(early)),
            }),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        (self.inner.now)()
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        match self.inner.registry.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        match self.inner.registry.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, RuleEngine> {
        match self.inner.engine.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The counters since start.
    pub fn counters(&self) -> IotCountersSnapshot {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IotCountersSnapshot {
            messages: g(&c.messages),
            rejected_unknown_device: g(&c.rejected_unknown_device),
            rejected_invalid: g(&c.rejected_invalid),
            rate_limited: g(&c.rate_limited),
            refused_terminals: g(&c.refused_terminals),
            alarms_raised: g(&c.alarms_raised),
            cases_opened: g(&c.cases_opened),
            notifications: g(&c.notifications),
        }
    }

    // ── registry ─────────────────────────────────────────────────────────────

    /// Adds or replaces a product (thing model).
    pub async fn put_product(&self, product: Product, actor: &Actor) -> Result<(), IotError> {
        let key = product.key.clone();
        {
            let _writing = self.inner.writes.lock().await;
            self.inner
                .store
                .upsert_product(
                    &product,
                    &AuditEvent::new(actor, "iot.product.put", "product", &product.key),
                )
                .await?;
            self.hold_product(product)?;
        }
        self.announce(Event::iot_changed("products", vec![key]));
        Ok(())
    }

    /// Puts a stored product into the engine and the registry.
    fn hold_product(&self, product: Product) -> Result<(), IotError> {
        self.engine().upsert_product(product.clone())?;
        let mut reg = self.registry_mut();
        reg.products.insert(product.key.clone(), Arc::new(product));
        reg.reindex();
        Ok(())
    }

    /// Tells the other nodes on the bus what this node wrote (see [`cluster`]).
    fn announce(&self, event: Event) {
        self.inner.bus.publish(event);
    }

    pub fn product(&self, key: &str) -> Option<Arc<Product>> {
        self.registry().products.get(key).cloned()
    }

    pub fn device(&self, id: &str) -> Option<Arc<Device>> {
        self.registry().devices.get(id).cloned()
    }

    /// Registers a device and answers its one-time secret: only its hash is
    /// stored, so the secret cannot be shown again (create the device anew
    /// to rotate it). Any `credential_hash` in `device` is replaced.
    pub async fn create_device(
        &self,
        mut device: Device,
        actor: &Actor,
    ) -> Result<String, IotError> {
        let secret = random_secret();
        device.credential_hash = Some(device_secret_hash(&secret));
        self.put_device(device, actor).await?;
        Ok(secret)
    }

    /// Adds or replaces a device as given (e.g. an update of its name,
    /// location or armed flag; keeps the credential hash it carries).
    pub async fn put_device(&self, device: Device, actor: &Actor) -> Result<(), IotError> {
        let id = device.id.clone();
        {
            let _writing = self.inner.writes.lock().await;
            self.inner
                .store
                .upsert_device(
                    &device,
                    &AuditEvent::new(actor, "iot.device.put", "device", &device.id),
                )
                .await?;
            let now = self.now();
            self.engine().register_device(&device, now);
            self.registry_mut().put_device(device);
        }
        self.announce(Event::iot_changed("devices", vec![id]));
        Ok(())
    }

    /// Adds or replaces many devices in one transaction (all or nothing), as
    /// given: a bulk import or a fleet's enrolment.
    pub async fn put_devices(&self, devices: Vec<Device>, actor: &Actor) -> Result<(), IotError> {
        let ids: Vec<String> = devices.iter().map(|d| d.id.clone()).collect();
        {
            let _writing = self.inner.writes.lock().await;
            self.inner
                .store
                .upsert_devices(
                    &devices,
                    &AuditEvent::new(
                        actor,
                        "iot.device.put_many",
                        "device",
                        devices.len().to_string(),
                    ),
                )
                .await?;
            let now = self.now();
            let mut engine = self.engine();
            for d in &devices {
                engine.register_device(d, now);
            }
            drop(engine);
            let mut reg = self.registry_mut();
            for d in devices {
                reg.put_device(d);
            }
        }
        if !ids.is_empty() {
            self.announce(Event::iot_changed("devices", ids));
        }
        Ok(())
    }

    /// Grants another department read or command access.
    pub async fn grant(&self, grant: Grant, actor: &Actor) -> Result<i64, IotError> {
        let stored = {
            let _writing = self.inner.writes.lock().await;
            let stored = self
                .inner
                .store
                .create_grant(
                    &grant,
                    &AuditEvent::new(actor, "iot.grant.create", "grant", ""),
                )
                .await?;
            self.registry_mut().grants.push(grant);
            stored
        };
        self.announce(Event::iot_changed_all("grants"));
        Ok(stored.id)
    }

    /// Revokes a grant.
    pub async fn revoke_grant(&self, id: i64, actor: &Actor) -> Result<(), IotError> {
        let revoked = {
            let _writing = self.inner.writes.lock().await;
            self.inner
                .store
                .revoke_grant(
                    id,
                    &AuditEvent::new(actor, "iot.grant.revoke", "grant", id.to_string()),
                )
                .await?;
            // Revoked: announced even if re-reading the grants fails here.
            self.hold_grants().await
        };
        self.announce(Event::iot_changed_all("grants"));
        revoked
    }

    /// Replaces the registry's grants by the stored ones.
    async fn hold_grants(&self) -> Result<(), IotError> {
        let grants = self.inner.store.grants(None).await?;
        self.registry_mut().grants = grants.into_iter().map(|g| g.grant).collect();
        Ok(())
    }

    /// Whether `department` may `permission` the device.
    pub fn may(&self, device_id: &str, department: &str, permission: Permission) -> bool {
        let reg = self.registry();
        reg.devices
            .get(device_id)
            .is_some_and(|d| may(d, department, permission, &reg.grants))
    }

    fn refuse(&self, request: &AuthRequest, reason: String) -> Refusal {
        self.inner
            .counters
            .refused_terminals
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("chengyun_iot_rejected_total", "reason" => "refused_terminal")
            .increment(1);
        tracing::warn!(
            protocol = request.protocol.as_str(),
            terminal = %request.terminal_id,
            peer = ?request.peer,
            %reason,
            "terminal refused"
        );
        Refusal::new(reason)
    }

    /// Authenticates a terminal by (protocol, terminal id) and credential.
    /// Devices with a credential hash must present the matching secret or
    /// auth code; devices without one are identified by the terminal id alone
    /// (watch, GB/T 28181). Unknown terminals are refused, counted and logged.
    pub fn authenticate_terminal(&self, request: &AuthRequest) -> Result<DeviceSession, Refusal> {
        let (device, product) = {
            let reg = self.registry();
            let Some(id) = reg
                .by_terminal
                .get(&(request.protocol, request.terminal_id.clone()))
            else {
                drop(reg);
                return Err(self.refuse(
                    request,
                    format!(
                        "unknown {} terminal {:?}",
                        request.protocol.as_str(),
                        request.terminal_id
                    ),
                ));
            };
            let Some(d) = reg.devices.get(id).cloned() else {
                drop(reg);
                return Err(self.refuse(
                    request,
                    format!("terminal {:?} names no device", request.terminal_id),
                ));
            };
            let p = reg.products.get(&d.product_key).cloned();
            (d, p)
        };
        let Some(product) = product else {
            return Err(self.refuse(request, format!("device {} has no product", device.id)));
        };
        if product.protocol != request.protocol {
            return Err(self.refuse(
                request,
                format!(
                    "device {} speaks {}, not {}",
                    device.id,
                    product.protocol.as_str(),
                    request.protocol.as_str()
                ),
            ));
        }
        match (&device.credential_hash, &request.credential) {
            (None, _) => {}
            (
                Some(hash),
                Credential::AuthCode(s) | Credential::Secret(s) | Credential::Token(s),
            ) => {
                if !verify_device_secret(s, hash) {
                    return Err(self.refuse(
                        request,
                        format!("wrong credential for device {}", device.id),
                    ));
                }
            }
            (Some(_), _) => {
                return Err(self.refuse(
                    request,
                    format!("device {} must present its credential", device.id),
                ));
            }
        }
        Ok(DeviceSession::new(
            &device.id,
            &device.product_key,
            product.protocol,
            &request.terminal_id,
        ))
    }

    // ── packs ────────────────────────────────────────────────────────────────

    /// Enables a shipped scenario pack: its products, its rules (merged into
    /// the rule set, saved as a new version), its local matter classes (added
    /// to the store and the catalogue), its alarm mappings, and for each
    /// mapping whose department hint the config resolves, a dispatch rule
    /// (matter → department; automatic dispatch when the mapping says `auto`).
    /// Call `CaseService::reload` afterwards so the case loop sees the rules.
    pub async fn enable_pack(&self, key: &str, actor: &Actor) -> Result<(), IotError> {
        let pack = chengyun_domain::iot::packs::get(key).ok_or_else(|| {
            IotError::NotFound(format!(
                "scenario pack {key:?}; shipped: {}",
                chengyun_domain::iot::packs::keys().join(", ")
            ))
        })?;
        self.install_pack(pack, actor).await
    }

    /// [`IotService::enable_pack`] for a pack given as data.
    pub async fn install_pack(&self, pack: Pack, actor: &Actor) -> Result<(), IotError> {
        pack.validate()?;
        let installed = self.install_valid_pack(&pack, actor).await;
        // Announced even after an error: what was stored before it (products,
        // rules…) must reach the other nodes too; reloading is harmless.
        self.announce(Event::iot_changed_all("packs"));
        installed
    }

    async fn install_valid_pack(&self, pack: &Pack, actor: &Actor) -> Result<(), IotError> {
        let store = &self.inner.store;
        for p in &pack.products {
            self.put_product(p.clone(), actor).await?;
        }
        let mut classes = Vec::new();
        {
            let mut cat = match self.inner.catalogue.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let before: std::collections::HashSet<String> = cat
                .iter(ClassKind::Matter)
                .map(|c| c.code.to_string())
                .collect();
            pack.extend_catalogue(&mut cat)?;
            for c in cat.iter(ClassKind::Matter) {
                if !before.contains(c.code.as_str()) {
                    classes.push(c.clone());
                }
            }
        }
        for c in &classes {
            store
                .upsert_local_class(
                    c,
                    &AuditEvent::new(actor, "class.put", "class", c.code.to_string()),
                )
                .await?;
        }
        // Rules: the pack's replace same-id rules of the current set.
        let now = self.now();
        let cleared = {
            let _writing = self.inner.writes.lock().await;
            let (rules, cleared) = {
                let mut engine = self.engine();
                let mut cleared = Vec::new();
                for r in &pack.rules {
                    cleared.extend(engine.upsert_rule(r.clone(), now)?);
                }
                (engine.export(), cleared)
            };
            store
                .save_rule_set(
                    &rules,
                    Some(&format!("pack {} enabled", pack.key)),
                    &AuditEvent::new(actor, "iot.rules.save", "rule_set", ""),
                )
                .await?;
            cleared
        };
        self.handle_changes(cleared).await;
        {
            let mut m = match self.inner.mappings.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            m.mappings.retain(|x| {
                !pack
                    .alarm_mappings
                    .iter()
                    .any(|y| y.alarm_type == x.alarm_type)
            });
            m.mappings.extend(pack.alarm_mappings.iter().cloned());
        }
        // Dispatch rules per matter, for the hints this city maps.
        let existing = store.dispatch_rules().await?;
        let mut seen = std::collections::HashSet::new();
        for m in &pack.alarm_mappings {
            let Some(dept) = m
                .department_hint
                .as_ref()
                .and_then(|h| self.inner.config.departments.get(h))
            else {
                continue;
            };
            let code = match &m.matter {
                chengyun_domain::iot::MatterTarget::Code { code } => code.clone(),
                chengyun_domain::iot::MatterTarget::ComponentClass { fallback } => fallback.clone(),
            };
            if !seen.insert(code.clone()) {
                continue;
            }
            if existing
                .iter()
                .any(|r| r.matter_pattern == code && r.area_code == "*")
            {
                continue;
            }
            store
                .put_dispatch_rule(
                    &DispatchRule {
                        id: 0,
                        matter_pattern: code.clone(),
                        area_code: "*".into(),
                        department_code: dept.clone(),
                        priority: 0,
                        auto_dispatch: m.dispatch == DispatchPolicy::Auto,
                        enabled: true,
                        note: Some(format!("scenario pack {}", pack.key)),
                    },
                    &AuditEvent::new(actor, "dispatch_rule.put", "dispatch_rule", &code),
                )
                .await?;
        }
        store
            .enable_pack(
                pack,
                &AuditEvent::new(actor, "iot.pack.enable", "pack", &pack.key),
            )
            .await?;
        Ok(())
    }

    /// Replaces the rule set by `rules` (validated against the products),
    /// saved as a new version; answers the version.
    pub async fn save_rules(
        &self,
        rules: RuleSet,
        note: Option<&str>,
        actor: &Actor,
    ) -> Result<i64, IotError> {
        let (version, cleared) = {
            let _writing = self.inner.writes.lock().await;
            self.check_rules(&rules.rules)?;
            let version = self
                .inner
                .store
                .save_rule_set(
                    &rules,
                    note,
                    &AuditEvent::new(actor, "iot.rules.save", "rule_set", ""),
                )
                .await?;
            (version, self.run_rules(rules.rules))
        };
        self.announce(Event::iot_changed_all("rules"));
        self.handle_changes(cleared).await;
        Ok(version)
    }

    /// Validates `rules` against the registry's products (as a whole set:
    /// unique ids, every rule valid).
    fn check_rules(&self, rules: &[Rule]) -> Result<(), IotError> {
        let products: Vec<Product> = self
            .registry()
            .products
            .values()
            .map(|p| (**p).clone())
            .collect();
        RuleEngine::new(products, rules.to_vec())?;
        Ok(())
    }

    /// Makes the live engine run `rules` (checked by [`IotService::check_rules`])
    /// and answers the alarm changes that come with it. The per-device state
    /// of an unchanged rule is kept; a rule at a higher version keeps its open
    /// alarms and restarts its condition (`RuleEngine::upsert_rule`); a
    /// removed or disabled rule clears its alarms; a rule put back at a
    /// version not above the running one (an older set imported again)
    /// starts afresh, its alarms cleared.
    fn run_rules(&self, rules: Vec<Rule>) -> Vec<AlarmChange> {
        enum Step {
            Keep,
            Upgrade,
            Replace,
        }
        let now = self.now();
        let mut engine = self.engine();
        let wanted: std::collections::HashSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let gone: Vec<String> = engine
            .rules()
            .filter(|r| !wanted.contains(r.id.as_str()))
            .map(|r| r.id.clone())
            .collect();
        let mut changes = Vec::new();
        for id in gone {
            changes.extend(engine.remove_rule(&id, now));
        }
        for rule in rules {
            let step = match engine.rule(&rule.id) {
                Some(old) if *old == rule => Step::Keep,
                Some(old) if old.version < rule.version => Step::Upgrade,
                Some(_) => Step::Replace,
                None => Step::Upgrade,
            };
            match step {
                Step::Keep => continue,
                Step::Replace => changes.extend(engine.remove_rule(&rule.id, now)),
                Step::Upgrade => {}
            }
            let id = rule.id.clone();
            match engine.upsert_rule(rule, now) {
                Ok(cleared) => changes.extend(cleared),
                // Checked against the same products: not expected.
                Err(e) => {
                    tracing::error!(rule = %id, error = %e, "a checked rule did not load; it is not evaluated")
                }
            }
        }
        changes
    }

    /// The rules this node's engine runs (in the engine's order).
    pub fn running_rules(&self) -> RuleSet {
        self.engine().export()
    }

    /// The open alarm `alarm_id` as this node's rule engine holds it (the
    /// node the device reports to), if it holds it.
    pub fn held_alarm(&self, alarm_id: &str) -> Option<chengyun_domain::iot::Alarm> {
        self.engine()
            .active_alarms()
            .find(|a| a.id == alarm_id)
            .cloned()
    }

    // ── telemetry ────────────────────────────────────────────────────────────

    /// Takes one telemetry message (see the module docs). `Ok` means queued
    /// for the next group commit; [`IotService::flush`] waits for it.
    pub async fn ingest(&self, telemetry: Telemetry) -> Result<(), IngestError> {
        let started = Instant::now();
        let c = &self.inner.counters;
        c.messages.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("chengyun_iot_messages_total").increment(1);
        let (device, product) = {
            let reg = self.registry();
            match reg.devices.get(&telemetry.device_id) {
                Some(d) => (d.clone(), reg.products.get(&d.product_key).cloned()),
                None => {
                    drop(reg);
                    c.rejected_unknown_device.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("chengyun_iot_rejected_total", "reason" => "unknown_device")
                        .increment(1);
                    tracing::warn!(device = %telemetry.device_id, "telemetry from an unknown device rejected");
                    return Err(IngestError::UnknownDevice(telemetry.device_id));
                }
            }
        };
        let Some(product) = product else {
            return Err(IngestError::Rejected {
                device: device.id.clone(),
                reason: format!("product {} is not registered", device.product_key),
            });
        };
        let cfg = &self.inner.config;
        let admitted = self.inner.shards.with(&device.id, cfg.burst, |rt| {
            rt.bucket.take(cfg.rate_per_sec, cfg.burst, started)
        });
        if !admitted {
            c.rate_limited.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("chengyun_iot_rejected_total", "reason" => "rate_limited")
                .increment(1);
            tracing::warn!(device = %device.id, "telemetry over the device's rate limit dropped");
            return Err(IngestError::RateLimited(device.id.clone()));
        }
        if let Err(e) = telemetry.validate(&product) {
            c.rejected_invalid.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("chengyun_iot_rejected_total", "reason" => "invalid").increment(1);
            tracing::warn!(device = %device.id, reason = %e, "telemetry rejected");
            return Err(IngestError::Rejected {
                device: device.id.clone(),
                reason: e.to_string(),
            });
        }
        let now = self.now();
        let came_online = self.merge_latest(&telemetry, now);
        let changes = {
            let mut ctx = DeviceContext::new(&device);
            ctx.paired_position = None;
            self.engine().evaluate(&telemetry, &ctx, now)
        };
        self.inner
            .writer
            .send(WriterMsg::Row(telemetry))
            .await
            .map_err(IngestError::Unavailable)?;
        if came_online {
            self.publish_device_state(&device, true, now);
        }
        if !changes.is_empty() {
            self.handle_changes(changes).await;
        }
        metrics::histogram!("chengyun_iot_pipeline_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Merges a message into the latest state; answers whether the device
    /// was offline (or unknown) before.
    fn merge_latest(&self, t: &Telemetry, now: DateTime<Utc>) -> bool {
        let at = t.at.min(now);
        self.inner
            .shards
            .with(&t.device_id, self.inner.config.burst, |rt| {
                let latest = rt.latest.get_or_insert_with(|| LatestState {
                    device_id: t.device_id.clone(),
                    values: BTreeMap::new(),
                    location: None,
                    last_seen: at,
                    online: false,
                });
                let was_online = latest.online;
                for (k, v) in &t.values {
                    match latest.values.get_mut(k) {
                        Some(old) => *old = v.clone(),
                        None => {
                            latest.values.insert(k.clone(), v.clone());
                        }
                    }
                }
                if t.location.is_some() {
                    latest.location = t.location;
                }
                if at >= latest.last_seen {
                    latest.last_seen = at;
                }
                latest.online = true;
                !was_online
            })
    }

    /// A heartbeat: the device is online now.
    pub async fn heartbeat(&self, device_id: &str, at: DateTime<Utc>) -> Result<(), IngestError> {
        let Some(device) = self.device(device_id) else {
            return Err(IngestError::UnknownDevice(device_id.to_string()));
        };
        let now = self.now();
        let came_online = self.merge_latest(&Telemetry::new(device_id, at), now);
        self.engine().evaluate(
            &Telemetry::new(device_id, at),
            &DeviceContext::new(&device),
            now,
        );
        self.inner
            .writer
            .send(WriterMsg::Touch(device_id.to_string()))
            .await
            .map_err(IngestError::Unavailable)?;
        if came_online {
            self.publish_device_state(&device, true, now);
        }
        Ok(())
    }

    /// The latest state of a device (from memory).
    pub fn latest(&self, device_id: &str) -> Option<LatestState> {
        self.inner.shards.latest(device_id)
    }

    /// Waits until everything ingested before the call is committed.
    pub async fn flush(&self) -> Result<(), IotError> {
        self.inner
            .writer
            .flush()
            .await
            .map_err(IotError::Unavailable)
    }

    /// Flushes and stops the writer; the service takes no telemetry after.
    pub async fn shutdown(&self) -> Result<(), IotError> {
        self.inner
            .writer
            .close()
            .await
            .map_err(IotError::Unavailable)
    }

    fn publish_device_state(&self, device: &Device, online: bool, at: DateTime<Utc>) {
        self.inner.bus.publish(Event::DeviceState {
            device_id: device.id.clone(),
            online,
            owner_department: device.owner_department.clone(),
            at: at.to_rfc3339(),
        });
    }

    // ── time ─────────────────────────────────────────────────────────────────

    /// One tick: time-based rule conditions (durations, dwell, offline
    /// rules), the offline sweep and command timeouts.
    pub async fn tick(&self) -> Result<(), IotError> {
        let now = self.now();
        let changes = self.engine().tick(now);
        if !changes.is_empty() {
            self.handle_changes(changes).await;
        }
        self.sweep_offline(now).await?;
        self.sweep_commands(now).await?;
        Ok(())
    }

    /// Marks devices not heard from for `offline_after` offline; answers them.
    pub async fn sweep_offline(&self, now: DateTime<Utc>) -> Result<Vec<String>, IotError> {
        let limit = now - self.inner.config.offline_after;
        let stale: Vec<String> = self
            .inner
            .shards
            .all_latest()
            .into_iter()
            .filter(|l| l.online && l.last_seen < limit)
            .map(|l| l.device_id)
            .collect();
        for id in &stale {
            self.inner.shards.with(id, self.inner.config.burst, |rt| {
                if let Some(l) = rt.latest.as_mut() {
                    l.online = false;
                }
            });
            if let Some(d) = self.device(id) {
                tracing::info!(device = %id, "device offline");
                self.publish_device_state(&d, false, now);
            }
        }
        if !stale.is_empty() {
            self.inner.store.set_offline(&stale).await?;
        }
        Ok(stale)
    }

    /// Starts the background loops: a tick every second and the listener
    /// that clears the alarms of closed cases. They end when the bus closes
    /// or the returned handles are aborted.
    pub fn spawn_workers(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let ticker = {
            let svc = self.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    every.tick().await;
                    if let Err(e) = svc.tick().await {
                        tracing::error!(error = %e, "iot tick failed");
                    }
                }
            })
        };
        let listener = {
            let svc = self.clone();
            let mut sub = self.inner.bus.subscribe();
            tokio::spawn(async move {
                loop {
                    match sub.recv().await {
                        Received::Event(Event::CaseChanged { case_id, state, .. })
                            if state == "closed" || state == "cancelled" =>
                        {
                            if let Err(e) = svc.on_case_finished(case_id).await {
                                tracing::error!(case_id, error = %e, "clearing the alarms of a finished case failed");
                            }
                        }
                        Received::Event(_) => {}
                        Received::Lagged(n) => {
                            tracing::warn!(
                                missed = n,
                                "iot case listener lagged; closed cases may keep their alarms open until cleared by hand"
                            );
                        }
                        Received::Closed => return,
                    }
                }
            })
        };
        vec![ticker, listener]
    }

    // ── alarms ───────────────────────────────────────────────────────────────

    async fn handle_changes(&self, changes: Vec<AlarmChange>) {
        for change in changes {
            if let Err(e) = self.handle_change(change).await {
                tracing::error!(error = %e, "alarm change could not be handled");
            }
        }
    }

    async fn handle_change(&self, change: AlarmChange) -> Result<(), IotError> {
        let alarm = &change.alarm;
        let device = self.device(&alarm.key.device_id);
        let owner = device
            .as_ref()
            .map(|d| d.owner_department.clone())
            .unwrap_or_default();
        self.inner
            .store
            .upsert_alarms(&[(alarm.clone(), owner.clone())])
            .await?;
        let kind = match change.kind {
            AlarmChangeKind::Raised => "raised",
            AlarmChangeKind::Updated => "updated",
            AlarmChangeKind::Acknowledged => "acknowledged",
            AlarmChangeKind::Cleared => "cleared",
        };
        metrics::counter!("chengyun_iot_alarms_total", "change" => kind).increment(1);
        self.inner.bus.publish(Event::AlarmChanged {
            alarm_id: alarm.id.clone(),
            device_id: alarm.key.device_id.clone(),
            rule_id: alarm.key.rule_id.clone(),
            alarm_type: alarm.alarm_type.clone(),
            change: kind.into(),
            state: match alarm.state {
                AlarmState::Active => "active",
                AlarmState::Acknowledged => "acknowledged",
                AlarmState::Cleared => "cleared",
            }
            .into(),
            level: alarm.level.as_str().into(),
            count: alarm.count,
            owner_department: owner,
            lon: alarm.location.map(|p| p.lon),
            lat: alarm.location.map(|p| p.lat),
            at: alarm.last_at.to_rfc3339(),
        });
        if change.kind != AlarmChangeKind::Raised {
            return Ok(());
        }
        self.inner
            .counters
            .alarms_raised
            .fetch_add(1, Ordering::Relaxed);
        let Some(device) = device else {
            return Ok(());
        };
        for action in &change.linkage {
            self.run_linkage(action, alarm, &device).await;
        }
        self.open_case(alarm, &device).await
    }

    async fn open_case(
        &self,
        alarm: &chengyun_domain::iot::Alarm,
        device: &Device,
    ) -> Result<(), IotError> {
        let Some(cases) = &self.inner.cases else {
            return Ok(());
        };
        let mapping = {
            let m = match self.inner.mappings.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            m.for_alarm(&alarm.alarm_type).cloned()
        };
        let Some(mapping) = mapping else {
            tracing::info!(alarm = %alarm.id, alarm_type = %alarm.alarm_type, "no alarm mapping; the alarm opens no case");
            return Ok(());
        };
        let draft = {
            let cat = match self.inner.catalogue.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            mapping.case_draft(alarm, device, &cat)?
        };
        let new = NewCase {
            title: String::new(),
            description: draft.description.clone(),
            matter_code: Some(draft.matter_code.to_string()),
            source: Some(Source::IotAlarm),
            urgency: Some(draft.urgency),
            lon: draft.location.map(|p| p.lon),
            lat: draft.location.map(|p| p.lat),
            component_id: draft.component_id.as_ref().map(|c| c.to_string()),
            device_id: Some(draft.device_id.clone()),
            external_id: Some(draft.alarm_id.clone()),
            channel: Some("iot".into()),
            reported_at: Some(alarm.first_at),
            dispatch_hint: draft
                .department_hint
                .as_ref()
                .and_then(|h| self.inner.config.departments.get(h).map(|d| (h, d)))
                .map(|(hint, department)| crate::case::DispatchHint {
                    department_code: department.clone(),
                    auto_dispatch: draft.dispatch == DispatchPolicy::Auto,
                    reason: format!(
                        "alarm {} maps to {hint} ({department}), {} dispatch",
                        alarm.alarm_type,
                        if draft.dispatch == DispatchPolicy::Auto {
                            "automatic"
                        } else {
                            "clerk"
                        }
                    ),
                }),
            ..NewCase::default()
        };
        let actor = cases.system_actor();
        let view = cases
            .intake(new, &actor, Some(&format!("iot-alarm:{}", alarm.id)))
            .await
            .map_err(|e| IotError::Case(e.to_string()))?;
        self.inner
            .store
            .set_alarm_case(&alarm.id, view.case.id)
            .await?;
        self.inner
            .counters
            .cases_opened
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(alarm = %alarm.id, case = %view.case.number, "alarm opened a case");
        Ok(())
    }

    async fn run_linkage(
        &self,
        action: &LinkageAction,
        alarm: &chengyun_domain::iot::Alarm,
        device: &Device,
    ) {
        match action {
            LinkageAction::NearestDeviceCommand { .. } => {
                let Some(at) = alarm.location.or(device.location) else {
                    tracing::warn!(alarm = %alarm.id, "linkage needs a location; the alarm has none");
                    return;
                };
                let candidates: Vec<Device> = self
                    .registry()
                    .devices
                    .values()
                    .map(|d| {
                        let mut d = (**d).clone();
                        if d.location.is_none() {
                            d.location = self.latest(&d.id).and_then(|l| l.location);
                        }
                        d
                    })
                    .collect();
                let Some(plan) = action.plan(at, candidates.iter()) else {
                    tracing::warn!(alarm = %alarm.id, "no device for the linkage within its radius");
                    return;
                };
                let actor = CommandActor {
                    name: format!("rule:{}", alarm.key.rule_id),
                    department: None,
                };
                if let Err(e) = self
                    .send(&plan.device_id, &plan.command, plan.params.clone(), &actor)
                    .await
                {
                    tracing::error!(alarm = %alarm.id, device = %plan.device_id, error = %e, "linkage command failed");
                }
            }
            LinkageAction::NotifyContacts { relation } => {
                // No contact directory exists yet: the intent is recorded in the log and counted.
                self.inner
                    .counters
                    .notifications
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(alarm = %alarm.id, device = %device.id, %relation, "notify contacts requested");
            }
        }
    }

    /// A person acknowledges an open alarm.
    pub async fn acknowledge_alarm(&self, alarm_id: &str, user: &str) -> Result<(), IotError> {
        let stored = self.stored_alarm(alarm_id).await?;
        let change = self
            .engine()
            .acknowledge(&stored.alarm.key, user, self.now());
        match change {
            Some(c) => self.handle_change(c).await,
            None => {
                // Not in this node's engine: held by another node's (which
                // follows the event, see [`cluster`]) or by none (restart).
                let mut a = stored.alarm;
                if a.state == AlarmState::Active {
                    a.state = AlarmState::Acknowledged;
                    a.acknowledged_by = Some(user.to_string());
                    self.handle_change(AlarmChange {
                        kind: AlarmChangeKind::Acknowledged,
                        alarm: a,
                        linkage: Vec::new(),
                    })
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// A person clears an open alarm.
    pub async fn clear_alarm(&self, alarm_id: &str, user: &str) -> Result<(), IotError> {
        let stored = self.stored_alarm(alarm_id).await?;
        self.clear_stored(
            stored,
            ClearReason::Person {
                user: user.to_string(),
            },
        )
        .await
    }

    async fn stored_alarm(&self, alarm_id: &str) -> Result<StoredAlarm, IotError> {
        self.inner
            .store
            .alarm(alarm_id)
            .await?
            .ok_or_else(|| IotError::NotFound(format!("alarm {alarm_id}")))
    }

    async fn clear_stored(&self, stored: StoredAlarm, reason: ClearReason) -> Result<(), IotError> {
        if stored.alarm.state == AlarmState::Cleared {
            return Ok(());
        }
        let now = self.now();
        let change = self.engine().clear(&stored.alarm.key, reason.clone(), now);
        match change {
            Some(c) if c.alarm.id == stored.alarm.id => self.handle_change(c).await,
            other => {
                // This engine does not hold the lifecycle (a restart, or the
                // device reports to another node, whose engine follows the
                // `cleared` event, see [`cluster`]): clear it in the store.
                if let Some(c) = other {
                    self.handle_change(c).await?;
                }
                let mut a = stored.alarm;
                a.state = AlarmState::Cleared;
                a.cleared_at = Some(now);
                a.clear_reason = Some(reason);
                self.handle_change(AlarmChange {
                    kind: AlarmChangeKind::Cleared,
                    alarm: a,
                    linkage: Vec::new(),
                })
                .await
            }
        }
    }

    /// The case loop closed (or cancelled) a case: its alarms clear with
    /// the reason `case_closed` (the loop closes back to the device), and the
    /// tracker of a finished theft case is disarmed.
    pub async fn on_case_finished(&self, case_id: i64) -> Result<usize, IotError> {
        if let Some(case) = self.inner.store.case(case_id).await? {
            self.disarm_after_theft(&case).await?;
        }
        let alarms = self.inner.store.alarms_of_case(case_id).await?;
        let mut n = 0;
        for a in alarms {
            if a.alarm.state != AlarmState::Cleared {
                self.clear_stored(
                    a,
                    ClearReason::CaseClosed {
                        case_id: case_id.to_string(),
                    },
                )
                .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Alarms, filtered (see [`AlarmQuery`]).
    pub async fn alarms(
        &self,
        q: &AlarmQuery,
        page: &chengyun_domain::page::PageRequest,
    ) -> Result<chengyun_domain::page::Page<StoredAlarm>, IotError> {
        Ok(self.inner.store.list_alarms(q, page).await?)
    }

    // ── commands ─────────────────────────────────────────────────────────────

    /// Sends a command: validated against the product's `CommandDef`,
    /// allowed by ownership or a command grant, stored as queued, encoded for
    /// the device's protocol and handed to the transport. A transport refusal
    /// (not connected, queue full) fails the command at once; otherwise the
    /// gateway reports sent / failed and the device's reply acknowledges it;
    /// the sweep times out the rest.
    pub async fn send(
        &self,
        device_id: &str,
        command: &str,
        params: BTreeMap<String, Value>,
        actor: &CommandActor,
    ) -> Result<CommandRecord, IotError> {
        let (device, product, allowed) = {
            let reg = self.registry();
            let d = reg
                .devices
                .get(device_id)
                .cloned()
                .ok_or_else(|| IotError::NotFound(format!("device {device_id}")))?;
            let p = reg
                .products
                .get(&d.product_key)
                .cloned()
                .ok_or_else(|| IotError::NotFound(format!("product {}", d.product_key)))?;
            let allowed = actor
                .department
                .as_deref()
                .is_none_or(|dept| may(&d, dept, Permission::Command, &reg.grants));
            (d, p, allowed)
        };
        if !allowed {
            return Err(IotError::Forbidden(format!(
                "department {} may not command device {} (owner {}, no command grant)",
                actor.department.as_deref().unwrap_or(""),
                device.id,
                device.owner_department
            )));
        }
        product.check_command(command, &params)?;
        let now = self.now();
        let rec = self
            .inner
            .store
            .create_command(
                &NewCommand {
                    device_id: device.id.clone(),
                    command: command.to_string(),
                    params: params.clone(),
                    actor: actor.name.clone(),
                    deadline_at: now + self.inner.config.command_timeout,
                },
                &AuditEvent::new(
                    &Actor::system(actor.name.clone()),
                    "iot.command.send",
                    "command",
                    "",
                )
                .with(serde_json::json!({ "device": device.id, "command": command })),
            )
            .await?;
        self.command_event(&rec);
        let payload = match encode::encode(&product, rec.id, command, &params) {
            Ok(p) => p,
            Err(reason) => {
                return self
                    .finish_command(rec.id, CommandStatus::Failed, now, Some(&reason))
                    .await;
            }
        };
        match self.inner.transport.send(
            &device.id,
            OutboundFrame::command(&rec.id.to_string(), payload),
        ) {
            Ok(()) => Ok(rec),
            Err(e) => {
                self.finish_command(rec.id, CommandStatus::Failed, now, Some(&e.to_string()))
                    .await
            }
        }
    }

    async fn finish_command(
        &self,
        id: i64,
        status: CommandStatus,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<CommandRecord, IotError> {
        let rec = self
            .inner
            .store
            .update_command(id, status, at, error)
            .await?;
        self.command_event(&rec);
        Ok(rec)
    }

    fn command_event(&self, rec: &CommandRecord) {
        metrics::counter!("chengyun_iot_commands_total", "status" => rec.status.as_str())
            .increment(1);
        self.inner.bus.publish(Event::CommandChanged {
            command_id: rec.id,
            device_id: rec.device_id.clone(),
            command: rec.command.clone(),
            status: rec.status.as_str().into(),
            at: self.now().to_rfc3339(),
        });
    }

    /// Times out open commands whose deadline passed; answers how many.
    pub async fn sweep_commands(&self, now: DateTime<Utc>) -> Result<usize, IotError> {
        let overdue = self.inner.store.overdue_commands(now, 500).await?;
        let mut n = 0;
        for c in overdue {
            match self
                .finish_command(
                    c.id,
                    CommandStatus::TimedOut,
                    now,
                    Some("no acknowledgement before the deadline"),
                )
                .await
            {
                Ok(_) => n += 1,
                // Answered meanwhile.
                Err(IotError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// A command by id.
    pub async fn command(&self, id: i64) -> Result<Option<CommandRecord>, IotError> {
        Ok(self.inner.store.command(id).await?)
    }

    async fn command_update(
        &self,
        command_id: &str,
        status: CommandStatus,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) {
        let Ok(id) = command_id.parse::<i64>() else {
            tracing::warn!(command_id, "gateway reported a command id that is not ours");
            return;
        };
        match self.finish_command(id, status, at, error).await {
            Ok(_) | Err(IotError::Conflict(_)) => {}
            Err(e) => tracing::error!(command_id, error = %e, "command status update failed"),
        }
    }
}

#[async_trait]
impl DeviceDirectory for IotService {
    async fn authenticate(&self, request: AuthRequest) -> Result<DeviceSession, Refusal> {
        self.authenticate_terminal(&request)
    }

    /// Known terminals get a fresh auth code (its hash replaces the stored
    /// credential); unknown ones join the configured auto-registration
    /// product, or are refused with "no such terminal".
    async fn register(&self, request: Registration) -> Result<Registered, RegisterRefusal> {
        let known = {
            let reg = self.registry();
            reg.by_terminal
                .get(&(request.protocol, request.terminal_id.clone()))
                .and_then(|id| reg.devices.get(id).cloned())
        };
        let device = match known {
            Some(d) => (*d).clone(),
            None => match &self.inner.config.auto_register {
                Some(auto) => {
                    let mut d = Device::new(
                        &format!("{}-{}", request.protocol.as_str(), request.terminal_id),
                        &auto.product_key,
                        if request.plate.is_empty() {
                            &request.terminal_id
                        } else {
                            &request.plate
                        },
                        &auto.owner_department,
                    );
                    d.terminal_id = Some(request.terminal_id.clone());
                    d
                }
                None => {
                    self.inner
                        .counters
                        .refused_terminals
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(terminal = %request.terminal_id, peer = ?request.peer, "unknown terminal asked to register; no auto-registration policy");
                    return Err(RegisterRefusal {
                        kind: RegisterRefusalKind::NoSuchTerminal,
                        reason: format!(
                            "terminal {} is not registered and auto-registration is off",
                            request.terminal_id
                        ),
                    });
                }
            },
        };
        let actor = Actor::system("iot:register");
        let id = device.id.clone();
        let secret = self
            .create_device(device, &actor)
            .await
            .map_err(|e| RegisterRefusal {
                kind: RegisterRefusalKind::NoSuchTerminal,
                reason: e.to_string(),
            })?;
        Ok(Registered {
            auth_code: secret,
            device_id: id,
        })
    }
}

#[async_trait]
impl IngestSink for IotService {
    async fn deliver(&self, session: &DeviceSession, inbound: Inbound) -> Result<(), SinkError> {
        let at_now = self.now();
        match inbound {
            Inbound::Telemetry(mut t) => {
                t.device_id.clone_from(&session.device_id);
                self.ingest(t).await.map_err(sink_error)
            }
            Inbound::Event(e) => {
                let mut t = Telemetry::new(&session.device_id, e.at);
                t.events.push(e.event);
                t.location = e.location;
                self.ingest(t).await.map_err(sink_error)
            }
            Inbound::Connected { .. } => self
                .heartbeat(&session.device_id, at_now)
                .await
                .map_err(sink_error),
            Inbound::Heartbeat { at } => self
                .heartbeat(&session.device_id, at)
                .await
                .map_err(sink_error),
            Inbound::CommandSent { command_id, at, .. } => {
                self.command_update(&command_id, CommandStatus::Sent, at, None)
                    .await;
                Ok(())
            }
            Inbound::CommandFailed {
                command_id,
                reason,
                at,
            } => {
                self.command_update(&command_id, CommandStatus::Failed, at, Some(&reason))
                    .await;
                Ok(())
            }
            Inbound::CommandReply(reply) => {
                match &reply.command {
                    CommandRef::Command(id) => {
                        let (status, err) = if reply.ok {
                            (CommandStatus::Acknowledged, None)
                        } else {
                            (
                                CommandStatus::Failed,
                                Some(
                                    reply
                                        .detail
                                        .clone()
                                        .unwrap_or_else(|| "the device refused".into()),
                                ),
                            )
                        };
                        self.command_update(id, status, reply.at, err.as_deref())
                            .await;
                    }
                    other => {
                        tracing::debug!(device = %session.device_id, reply = ?other, "reply to an untracked frame");
                    }
                }
                Ok(())
            }
            Inbound::Disconnected { reason, .. } => {
                tracing::debug!(device = %session.device_id, %reason, "device disconnected");
                Ok(())
            }
            other => {
                tracing::debug!(device = %session.device_id, message = ?other, "inbound message not handled");
                Ok(())
            }
        }
    }
}

fn sink_error(e: IngestError) -> SinkError {
    match e {
        IngestError::Unavailable(m) => SinkError::Unavailable(m),
        other => SinkError::Rejected(other.to_string()),
    }
}

/// Local matter classes a pack adds, for building a case loop catalogue.
pub fn pack_matter_classes(pack: &Pack) -> Result<Vec<StandardClass>, ValidationError> {
    let mut cat = Catalogue::national();
    let before: std::collections::HashSet<String> = cat
        .iter(ClassKind::Matter)
        .map(|c| c.code.to_string())
        .collect();
    pack.extend_catalogue(&mut cat)?;
    Ok(cat
        .iter(ClassKind::Matter)
        .filter(|c| !before.contains(c.code.as_str()))
        .cloned()
        .collect())
}
