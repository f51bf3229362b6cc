//! The application state, built once at start and shared by every request.

use chengyun_bus::{DynBus, Event, InProcessBus, Origin, Received};
use chengyun_domain::city::Location;
use chengyun_domain::codes::{ClassCode, DivisionCode};
use chengyun_domain::standard::{Catalogue, ClassKind, StandardClass};
use chengyun_geo::Locator;
use chengyun_ingest::source::{
    AuthRequest, ConnectionRegistry, Credential, DeviceDirectory, DeviceSession, Refusal,
    RegisterRefusal, Registered, Registration, ShutdownTrigger, SourceContext, shutdown_channel,
};
use chengyun_services::case::{
    CaseConfig, CaseError, CaseService, CityView, MatterClassifier, MatterSuggestion,
};
use chengyun_services::classify::Classifier;
use chengyun_services::iot::{IotConfig, IotError, IotService};
use chengyun_store::{DynStore, StoreError};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// The largest JSON body accepted by ordinary endpoints.
    pub max_body_bytes: usize,
    /// The largest file accepted by the import endpoints.
    pub max_import_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted
    /// reverse proxy: otherwise any client could forge its address in the audit log).
    pub trust_forwarded_for: bool,
    /// Where uploaded attachments are stored (`<data_dir>/attachments`).
    pub data_dir: PathBuf,
    /// The largest attachment accepted by `POST /api/v1/attachments`.
    pub max_attachment_bytes: usize,
    /// How often the live feed sends a heartbeat comment.
    pub sse_heartbeat: Duration,
    /// How many recent events the live feed keeps for `Last-Event-ID` resumes.
    pub sse_buffer: usize,
    /// Settings of the IoT service (group commit, rate limits, offline
    /// detection, command timeouts, pack department hints).
    pub iot: IotConfig,
    /// The optional tile layer under the maps (`GET /api/v1/map/config`).
    pub map: crate::routes::map::MapConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            session_ttl: Duration::from_secs(12 * 3600),
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 256 * 1024 * 1024,
            trust_forwarded_for: false,
            data_dir: PathBuf::from("chengyun-data"),
            max_attachment_bytes: 10 * 1024 * 1024,
            sse_heartbeat: Duration::from_secs(15),
            sse_buffer: 1024,
            iot: IotConfig::default(),
            map: crate::routes::map::MapConfig::default(),
        }
    }
}

/// The parts of the city model kept in memory: the class catalogue (national
/// plus local classes) and the spatial index. Rebuilt as a whole after imports.
pub struct City {
    pub catalogue: Catalogue,
    pub locator: Locator,
    /// Matter-code suggestions for free text over this catalogue.
    pub classifier: Classifier,
}

impl City {
    /// Loads the local classes and every area and grid from the store.
    pub async fn load(store: &DynStore) -> Result<City, StoreError> {
        let mut catalogue = Catalogue::national();
        for class in store.local_classes().await? {
            let code = class.code.clone();
            if let Err(e) = catalogue.extend(class) {
                // A stored class that no longer fits (e.g. a national class was
                // added with its code) must not stop the server; it is skipped.
                tracing::warn!(%code, error = %e, "skipping a stored local class");
            }
        }
        let areas = store.all_areas().await?;
        let grids = store.all_grids().await?;
        let locator = tokio::task::spawn_blocking(move || Locator::build(&areas, &grids))
            .await
            .map_err(|e| StoreError::Database(format!("building the spatial index failed: {e}")))?;
        let classifier = Classifier::new(&catalogue);
        Ok(City {
            catalogue,
            locator,
            classifier,
        })
    }
}

/// The live city model, shared with the case service (which reads it through
/// [`CityView`]) so a reload is seen by both at once.
#[derive(Clone)]
struct LiveCity(Arc<RwLock<Arc<City>>>);

impl LiveCity {
    fn get(&self) -> Arc<City> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, city: Arc<City>) {
        match self.0.write() {
            Ok(mut guard) => *guard = city,
            Err(poisoned) => *poisoned.into_inner() = city,
        }
    }
}

impl CityView for LiveCity {
    fn locate(&self, lon: f64, lat: f64) -> Location {
        self.get().locator.locate(lon, lat)
    }

    fn matter(&self, code: &ClassCode) -> Option<StandardClass> {
        self.get().catalogue.get(ClassKind::Matter, code).cloned()
    }

    fn area_name(&self, code: &DivisionCode) -> Option<String> {
        self.get()
            .locator
            .area_by_code(code)
            .map(|(n, _)| n.to_string())
    }

    fn area_in_address(&self, address: &str) -> Option<DivisionCode> {
        self.get()
            .locator
            .area_in_address(address)
            .map(|(c, _)| c.clone())
    }
}

impl MatterClassifier for LiveCity {
    fn suggest(&self, text: &str, limit: usize) -> Vec<MatterSuggestion> {
        self.get()
            .classifier
            .suggest(text, limit)
            .into_iter()
            .map(|s| MatterSuggestion {
                code: s.code.to_string(),
                name: s.name,
                score: s.score,
                reason: s.reason,
            })
            .collect()
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the case service cannot start: {0}")]
    Cases(#[from] CaseError),
    #[error("the IoT service cannot start: {0}")]
    Iot(#[from] IotError),
}

impl From<StateError> for StoreError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Store(s) => s,
            StateError::Cases(c) => StoreError::Database(c.to_string()),
            StateError::Iot(i) => StoreError::Database(i.to_string()),
        }
    }
}

/// The device directory the ingest sources use: the IoT service, plus the
/// HTTP token form. The HTTP telemetry endpoint presents only a bearer
/// token, and the registry keeps only hashes of secrets, so an HTTP device's
/// token names its terminal: `<terminal id>:<secret>` (the API answers it in
/// `token` when it creates a device; HTTP devices get their id as terminal
/// id). Every other request passes through unchanged.
struct HttpTokens(IotService);

#[async_trait::async_trait]
impl DeviceDirectory for HttpTokens {
    async fn authenticate(&self, mut request: AuthRequest) -> Result<DeviceSession, Refusal> {
        if request.protocol == chengyun_domain::iot::Protocol::Http
            && request.terminal_id.is_empty()
            && let Credential::Token(token) = &request.credential
        {
            let Some((terminal, secret)) = token.split_once(':') else {
                return Err(Refusal::new(
                    "an HTTP device token is <terminal id>:<secret>, as answered when the device was created",
                ));
            };
            let (terminal, secret) = (terminal.to_string(), secret.to_string());
            request.terminal_id = terminal;
            request.credential = Credential::Token(secret);
        }
        self.0.authenticate(request).await
    }

    async fn register(&self, request: Registration) -> Result<Registered, RegisterRefusal> {
        self.0.register(request).await
    }
}

struct Inner {
    store: DynStore,
    config: ApiConfig,
    city: LiveCity,
    bus: DynBus,
    cases: CaseService,
    feed: Arc<crate::routes::stream::Feed>,
    iot: IotService,
    /// Live device connections (JT/T 808, watch, MQTT): the IoT service's
    /// command transport, filled by the ingest sources.
    connections: ConnectionRegistry,
    /// Stops the ingest sources (and the mounted HTTP ingest routers' work).
    ingest_stop: ShutdownTrigger,
    ingest: SourceContext,
    /// Serialises reloads so an older reload never overwrites a newer one.
    reload: tokio::sync::Mutex<()>,
    /// The device gateways this node runs, as bound (`GET /api/v1/iot/gateways`).
    gateways: RwLock<Vec<crate::routes::gateways::Gateway>>,
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Builds the state: loads the catalogue and the spatial index from
    /// `store`, starts an in-process bus and the case service (attachments
    /// under `config.data_dir`). Must run inside a Tokio runtime: the live
    /// feed's collector task is spawned here.
    pub async fn new(store: DynStore, config: ApiConfig) -> Result<AppState, StoreError> {
        Self::with_bus(store, config, Arc::new(InProcessBus::new())).await
    }

    /// [`AppState::new`] on a given bus (e.g. a `NatsBus` shared by several nodes).
    pub async fn with_bus(
        store: DynStore,
        config: ApiConfig,
        bus: DynBus,
    ) -> Result<AppState, StoreError> {
        let mut cases = CaseConfig::new(&config.data_dir);
        cases.max_attachment_bytes = config.max_attachment_bytes;
        Ok(Self::build(store, config, bus, cases, |s| s).await?)
    }

    /// [`AppState::new`] with a given bus and case configuration; `adjust`
    /// may wrap the case service (tests inject a clock this way).
    pub async fn build(
        store: DynStore,
        config: ApiConfig,
        bus: DynBus,
        case_config: CaseConfig,
        adjust: impl FnOnce(CaseService) -> CaseService,
    ) -> Result<AppState, StateError> {
        let city = LiveCity(Arc::new(RwLock::new(Arc::new(City::load(&store).await?))));
        let cases = CaseService::new(
            store.clone(),
            bus.clone(),
            Arc::new(city.clone()),
            case_config,
        )
        .await?
        .with_classifier(Arc::new(city.clone()));
        let cases = adjust(cases);
        let connections = ConnectionRegistry::new();
        let iot = IotService::new(
            store.clone(),
            bus.clone(),
            Some(cases.clone()),
            Arc::new(connections.clone()),
            config.iot.clone(),
        )
        .await?;
        let (ingest_stop, shutdown) = shutdown_channel();
        let ingest = SourceContext::new(
            Arc::new(iot.clone()),
            Arc::new(HttpTokens(iot.clone())),
            connections.clone(),
            shutdown,
        );
        let feed = crate::routes::stream::Feed::start_with_grants(
            &bus,
            store.clone(),
            Some(iot.clone()),
            config.sse_buffer,
        );
        let state = AppState {
            inner: Arc::new(Inner {
                store,
                config,
                city,
                bus,
                cases,
                feed,
                iot,
                connections,
                ingest_stop,
                ingest,
                reload: tokio::sync::Mutex::new(()),
                gateways: RwLock::new(Vec::new()),
            }),
        };
        state.follow_city_changes();
        // Registry writes and alarm actions of the other nodes (see
        // chengyun_services::iot::cluster); a no-op on the in-process bus.
        state.inner.iot.follow_bus();
        Ok(state)
    }

    /// Reloads this node when another node on the bus announces a change of
    /// the city model or the case settings ([`AppState::city_changed`]); the
    /// node's own announcements are skipped (it reloaded before announcing).
    /// On a shared bus, missed events (`Lagged`) reload too. The task ends
    /// with the state or the bus.
    fn follow_city_changes(&self) {
        let mut sub = self.inner.bus.subscribe();
        let shared = self.inner.bus.kind() != "inprocess";
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let (got, origin) = sub.recv_with_origin().await;
                let what = match got {
                    Received::Event(Event::CityChanged { what, .. })
                        if origin == Origin::Remote =>
                    {
                        what
                    }
                    Received::Lagged(n) if shared => format!("everything ({n} bus events missed)"),
                    Received::Closed => break,
                    _ => continue,
                };
                let Some(inner) = weak.upgrade() else { break };
                let state = AppState { inner };
                let done = if what == "case_settings" {
                    state.inner.cases.reload().await.map_err(|e| e.to_string())
                } else {
                    state.reload_city().await.map_err(|e| e.to_string())
                };
                match done {
                    Ok(()) => tracing::info!(%what, "reloaded after a change on another node"),
                    Err(e) => {
                        tracing::error!(%what, error = %e, "cannot reload after a change on another node")
                    }
                }
            }
        });
    }

    /// After a write to the city model (`what`: `areas`, `grids`, `classes`,
    /// `packs` …; `count` rows): reloads this node ([`AppState::reload_city`])
    /// and announces it on the bus, so the other nodes sharing it reload too.
    pub async fn city_changed(&self, what: &str, count: u64) -> Result<(), StoreError> {
        self.reload_city().await?;
        self.announce_change(what, count);
        Ok(())
    }

    /// Publishes `CityChanged { what, count }` (after this node reloaded
    /// itself); `case_settings` makes other nodes reload only the case service.
    pub fn announce_change(&self, what: &str, count: u64) {
        self.inner.bus.publish(Event::CityChanged {
            what: what.to_string(),
            count,
        });
    }

    /// The case loop service.
    pub fn cases(&self) -> &CaseService {
        &self.inner.cases
    }

    /// The internal bus the case service publishes on.
    pub fn bus(&self) -> &DynBus {
        &self.inner.bus
    }

    /// The live feed's buffer and fan-out.
    pub fn feed(&self) -> &Arc<crate::routes::stream::Feed> {
        &self.inner.feed
    }

    /// The IoT brain: registry, telemetry, rules, alarms, commands, packs.
    pub fn iot(&self) -> &IotService {
        &self.inner.iot
    }

    /// The live device connections (the IoT service's command transport).
    pub fn connections(&self) -> &ConnectionRegistry {
        &self.inner.connections
    }

    /// A context for an ingest source (fresh counters), wired to the IoT
    /// service as sink and directory, to [`AppState::connections`] and to
    /// the ingest stop signal.
    pub fn ingest_context(&self) -> SourceContext {
        let mut ctx = self.inner.ingest.clone();
        ctx.counters = Arc::new(chengyun_ingest::source::SourceCounters::default());
        ctx
    }

    /// Records a device gateway this node started (with its bound address), so
    /// integrators and the simulator can ask where to connect.
    pub fn add_gateway(&self, gateway: crate::routes::gateways::Gateway) {
        let mut g = self
            .inner
            .gateways
            .write()
            .unwrap_or_else(|p| p.into_inner());
        g.retain(|x| x.name != gateway.name);
        g.push(gateway);
    }

    /// The device gateways this node runs.
    pub fn gateways(&self) -> Vec<crate::routes::gateways::Gateway> {
        self.inner
            .gateways
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks every ingest source started with [`AppState::ingest_context`] to stop.
    pub fn stop_ingest(&self) {
        self.inner.ingest_stop.trigger();
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The current in-memory city model; requests keep the snapshot they took.
    pub fn city(&self) -> Arc<City> {
        self.inner.city.get()
    }

    /// Rebuilds the catalogue and the spatial index from the store and swaps
    /// them in at once; requests in flight finish on the old snapshot. The
    /// case service reloads its departments and rules too.
    pub async fn reload_city(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.reload.lock().await;
        let city = Arc::new(City::load(&self.inner.store).await?);
        self.inner.city.set(city);
        self.inner.cases.reload().await.map_err(|e| match e {
            CaseError::Store(s) => s,
            other => StoreError::Database(format!("reloading the case service: {other}")),
        })?;
        Ok(())
    }
}
