//! Devices of the IoT brain: the registry (list, one with its latest state,
//! create with a one-time secret, update), sharing grants, telemetry history
//! (raw and downsampled for charts) and tracks as GeoJSON.
//!
//! Who sees what (every device, alarm and command route uses [`Viewer`]):
//! whole-city viewers (admins, city-tier departments) see every device;
//! everyone else sees only the devices their department owns or was granted
//! (`read` or `command`) — a device they may not see answers **404**, as if it
//! did not exist (device ids are not public, unlike division codes). Sending a
//! command needs ownership or a `command` grant (admins may command any
//! device); a visible device without that answers **403 `forbidden`**.
//!
//! Lists merge the department's sources (owned devices, devices of granted
//! products, single granted devices), each read in id order from its own
//! cursor position, so pages are exact and `next_cursor` is the last id.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged, decode_cursor, encode_cursor};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::auth::{Permission as CityPermission, Scope};
use chengyun_domain::component::ComponentId;
use chengyun_domain::iot::{Device, GeoPoint, Grant, GrantTarget, Permission};
use chengyun_domain::page::PageRequest;
use chengyun_domain::{Invalid, ValidationError};
use chengyun_services::iot::{CommandActor, IotService};
use chengyun_store::{DeviceQuery, LatestState, StoredGrant, TelemetryBucket};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

// ── who may see and command ──────────────────────────────────────────────────

/// The caller as the device rules see them (see the module docs).
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Sees every device (admin or a city-tier department).
    pub all: bool,
    /// May command every device.
    pub admin: bool,
    pub department: Option<String>,
    pub username: String,
}

impl Viewer {
    pub fn of(me: &CurrentUser) -> Viewer {
        Viewer {
            all: matches!(me.scope, Scope::All),
            admin: me.is_admin(),
            department: me.user.department_code.clone(),
            username: me.user.username.clone(),
        }
    }

    /// Whether the caller may `permission` the device.
    pub fn may(&self, iot: &IotService, device_id: &str, permission: Permission) -> bool {
        if self.admin || (self.all && permission == Permission::Read) {
            return iot.device(device_id).is_some();
        }
        self.department
            .as_deref()
            .is_some_and(|d| iot.may(device_id, d, permission))
    }

    /// The device, or 404 when it does not exist or the caller may not see it.
    pub fn device(&self, iot: &IotService, device_id: &str) -> ApiResult<Arc<Device>> {
        match iot.device(device_id) {
            Some(d) if self.may(iot, device_id, Permission::Read) => Ok(d),
            _ => Err(ApiError::not_found(format!("device {device_id}"))),
        }
    }

    /// The device, when the caller may command it: 404 when they may not
    /// see it, 403 `forbidden` when they may only read it.
    pub fn commandable(&self, iot: &IotService, device_id: &str) -> ApiResult<Arc<Device>> {
        let d = self.device(iot, device_id)?;
        if self.may(iot, device_id, Permission::Command) {
            Ok(d)
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "your department may read device {device_id} but not command it (owner {}; ask for a command grant)",
                    d.owner_department
                ),
            ))
        }
    }

    /// Who a command is sent as: admins as the platform (any device), others
    /// as their department (ownership or a command grant is checked again).
    pub fn command_actor(&self) -> CommandActor {
        CommandActor {
            name: self.username.clone(),
            department: if self.admin {
                None
            } else {
                Some(self.department.clone().unwrap_or_default())
            },
        }
    }
}

// ── merged pages ─────────────────────────────────────────────────────────────

/// One source of a merged list: its items after the cursor in list order,
/// and `horizon`: `None` when the source has nothing beyond its items,
/// `Some(k)` when it is complete only up to the key `k`.
pub struct Part<T, K> {
    pub items: Vec<T>,
    pub horizon: Option<K>,
}

/// Merges sources ordered by the same key into one page of at most `limit`
/// items without gaps or duplicates: items beyond the earliest horizon wait
/// for the next page. Answers the items and the key to continue after.
pub fn merge_parts<T, K: Ord + Clone>(
    parts: Vec<Part<T, K>>,
    limit: usize,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<K>) {
    let horizon = parts.iter().filter_map(|p| p.horizon.clone()).min();
    let mut all: Vec<T> = parts.into_iter().flat_map(|p| p.items).collect();
    all.sort_by_key(|t| key(t));
    all.dedup_by(|a, b| key(a) == key(b));
    if let Some(h) = &horizon {
        all.retain(|t| key(t) <= *h);
    }
    let more = all.len() > limit;
    all.truncate(limit);
    let next = if more { all.last().map(&key) } else { horizon };
    (all, next)
}

// ── wire types ───────────────────────────────────────────────────────────────

/// A device as the API shows it: never its credential hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceItem {
    pub device: Device,
    /// Whether the device has a secret (MQTT, HTTP, JT/T 808 auth code).
    pub has_credential: bool,
    pub latest: Option<LatestState>,
    pub online: bool,
    /// Whether the caller may send it commands.
    pub may_command: bool,
}

/// One device with its product's name.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    #[serde(flatten)]
    pub item: DeviceItem,
    pub product_name: Option<String>,
    /// The commands the product accepts (for the command form).
    pub commands: Vec<chengyun_domain::iot::CommandDef>,
    /// The properties the product reports (for the chart picker).
    pub properties: Vec<chengyun_domain::iot::PropertyDef>,
}

pub fn item(iot: &IotService, viewer: &Viewer, device: &Device) -> DeviceItem {
    let latest = iot.latest(&device.id);
    let mut shown = device.clone();
    let has_credential = shown.credential_hash.take().is_some();
    DeviceItem {
        online: latest.as_ref().is_some_and(|l| l.online),
        latest,
        may_command: viewer.may(iot, &device.id, Permission::Command),
        has_credential,
        device: shown,
    }
}

/// Filters of the device list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Product key.
    pub product: Option<String>,
    /// Owning department code.
    pub owner: Option<String>,
    /// `true`: online only; `false`: offline (or never heard) only.
    pub online: Option<bool>,
    /// `min_lon,min_lat,max_lon,max_lat` (WGS-84).
    pub within: Option<String>,
}

fn parse_bbox(raw: &str) -> Result<[f64; 4], Invalid> {
    let bad = || {
        Invalid::new(
            "within",
            format!("{raw:?} must be min_lon,min_lat,max_lon,max_lat (four numbers, WGS-84)"),
        )
    };
    let v: Vec<f64> = raw
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match v.as_slice() {
        [a, b, c, d] if a <= c && b <= d && a.is_finite() && d.is_finite() => Ok([*a, *b, *c, *d]),
        _ => Err(bad()),
    }
}

fn matches_filter(q: &DeviceQuery, d: &Device, latest: Option<&LatestState>) -> bool {
    if q.product_key.as_ref().is_some_and(|p| p != &d.product_key) {
        return false;
    }
    if q.owner_department
        .as_ref()
        .is_some_and(|o| o != &d.owner_department)
    {
        return false;
    }
    if let Some(on) = q.online
        && latest.is_some_and(|l| l.online) != on
    {
        return false;
    }
    if let Some([x0, y0, x1, y1]) = q.within {
        let at = d.location.or_else(|| latest.and_then(|l| l.location));
        return at.is_some_and(|p| p.lon >= x0 && p.lon <= x1 && p.lat >= y0 && p.lat <= y1);
    }
    true
}

/// Grants the department holds (unrevoked).
pub async fn grants_of(state: &AppState, department: &str) -> ApiResult<Vec<StoredGrant>> {
    Ok(state.store().grants(Some(department)).await?)
}

/// One page of the devices the viewer may see, filtered.
pub async fn visible_devices(
    state: &AppState,
    viewer: &Viewer,
    q: DeviceQuery,
    page: &PageRequest,
) -> ApiResult<(Vec<Device>, Option<String>)> {
    let store = state.store();
    if viewer.all || viewer.admin {
        let p = store.list_devices(&q, page).await?;
        return Ok((p.items, p.next));
    }
    let Some(dept) = viewer.department.clone() else {
        return Ok((Vec::new(), None));
    };
    let limit = page.limit();
    let exact = |p: chengyun_domain::page::Page<Device>| Part {
        horizon: p.next.clone(),
        items: p.items,
    };
    let mut parts = Vec::new();
    if q.owner_department.as_ref().is_none_or(|o| o == &dept) {
        let mut own = q.clone();
        own.owner_department = Some(dept.clone());
        parts.push(exact(store.list_devices(&own, page).await?));
    }
    let mut single: BTreeSet<String> = BTreeSet::new();
    let mut products: BTreeSet<String> = BTreeSet::new();
    for g in grants_of(state, &dept).await? {
        match g.grant.target {
            GrantTarget::Device(id) => {
                single.insert(id);
            }
            GrantTarget::Product(p) => {
                products.insert(p);
            }
        }
    }
    for p in products {
        if q.product_key.as_ref().is_some_and(|k| k != &p) {
            continue;
        }
        let mut pq = q.clone();
        pq.product_key = Some(p);
        parts.push(exact(store.list_devices(&pq, page).await?));
    }
    let iot = state.iot();
    let mut granted = Vec::new();
    for id in single {
        if page.after.as_ref().is_some_and(|a| &id <= a) {
            continue;
        }
        if let Some(d) = iot.device(&id)
            && matches_filter(&q, &d, iot.latest(&id).as_ref())
        {
            granted.push((*d).clone());
        }
    }
    parts.push(Part {
        items: granted,
        horizon: None,
    });
    let (items, next) = merge_parts(parts, limit as usize, |d: &Device| d.id.clone());
    Ok((items, next))
}

/// Devices the caller may see, by id (server-paginated).
#[utoipa::path(get, path = "/api/v1/devices", tag = "iot",
    params(DeviceFilter, PageParams),
    responses((status = 200, description = "Devices with their latest state", body = Paged<DeviceItem>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<DeviceFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<DeviceItem>>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let q = DeviceQuery {
        product_key: filter.product.filter(|s| !s.is_empty()),
        owner_department: filter.owner.filter(|s| !s.is_empty()),
        online: filter.online,
        within: filter.within.as_deref().map(parse_bbox).transpose()?,
    };
    let req = page.to_request()?;
    let (devices, next) = visible_devices(&state, &viewer, q, &req).await?;
    let iot = state.iot();
    Ok(Json(Paged {
        items: devices.iter().map(|d| item(iot, &viewer, d)).collect(),
        next_cursor: next.as_deref().map(encode_cursor),
    }))
}

/// One device with its latest state and its product's commands.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "iot",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, description = "The device", body = DeviceDetail)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceDetail>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let iot = state.iot();
    let d = viewer.device(iot, &id)?;
    let product = iot.product(&d.product_key);
    Ok(Json(DeviceDetail {
        item: item(iot, &viewer, &d),
        product_name: product.as_ref().map(|p| p.name.clone()),
        commands: product
            .as_ref()
            .map(|p| p.commands.clone())
            .unwrap_or_default(),
        properties: product
            .as_ref()
            .map(|p| p.properties.clone())
            .unwrap_or_default(),
    }))
}

/// The fields of a device a person sets (strict).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    pub product_key: String,
    pub name: String,
    pub owner_department: String,
    #[schema(value_type = Option<String>)]
    pub component_id: Option<ComponentId>,
    /// JT/T 808 phone number, watch IMEI, GB/T 28181 DeviceID.
    pub terminal_id: Option<String>,
    #[serde(default)]
    pub armed: bool,
    pub armed_position: Option<GeoPoint>,
    pub paired_device_id: Option<String>,
    pub location: Option<GeoPoint>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

/// A new device: the [`DeviceBody`] fields plus its id and whether it gets
/// a secret (strict; serde cannot flatten into a strict struct).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceBody {
    pub id: String,
    pub product_key: String,
    pub name: String,
    pub owner_department: String,
    #[schema(value_type = Option<String>)]
    pub component_id: Option<ComponentId>,
    pub terminal_id: Option<String>,
    #[serde(default)]
    pub armed: bool,
    pub armed_position: Option<GeoPoint>,
    pub paired_device_id: Option<String>,
    pub location: Option<GeoPoint>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Issue a secret (default true). Devices identified by their terminal
    /// id alone (watch, GB/T 28181) need none.
    #[serde(default = "yes")]
    pub credential: bool,
}

impl NewDeviceBody {
    fn split(self) -> (String, bool, DeviceBody) {
        (
            self.id,
            self.credential,
            DeviceBody {
                product_key: self.product_key,
                name: self.name,
                owner_department: self.owner_department,
                component_id: self.component_id,
                terminal_id: self.terminal_id,
                armed: self.armed,
                armed_position: self.armed_position,
                paired_device_id: self.paired_device_id,
                location: self.location,
                tags: self.tags,
            },
        )
    }
}

fn yes() -> bool {
    true
}

/// The created device and its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDevice {
    pub device: DeviceItem,
    /// The device's secret (MQTT password, JT/T 808 auth code); only its
    /// hash is stored, so it is never shown again.
    pub secret: Option<String>,
    /// For HTTP devices: the bearer token of `POST /ingest/http/v1/telemetry`,
    /// `<terminal id>:<secret>`.
    pub token: Option<String>,
}

async fn device_from(state: &AppState, id: &str, b: DeviceBody) -> ApiResult<Device> {
    let mut errors = ValidationError::default();
    if state.iot().product(&b.product_key).is_none() {
        errors.push(Invalid::new(
            "product_key",
            format!("no product {:?}; see GET /api/v1/products", b.product_key),
        ));
    }
    if state
        .store()
        .department(&b.owner_department)
        .await?
        .is_none()
    {
        errors.push(Invalid::new(
            "owner_department",
            format!("no department {:?}", b.owner_department),
        ));
    }
    if let Some(p) = &b.paired_device_id
        && state.iot().device(p).is_none()
    {
        errors.push(Invalid::new(
            "paired_device_id",
            format!("no device {p:?} to pair with"),
        ));
    }
    if !errors.problems.is_empty() {
        return Err(errors.into());
    }
    Ok(device_of(id, b))
}

/// The device a body describes (no credential yet; an empty terminal id is none).
fn device_of(id: &str, b: DeviceBody) -> Device {
    Device {
        id: id.to_string(),
        product_key: b.product_key,
        name: b.name,
        owner_department: b.owner_department,
        component_id: b.component_id,
        credential_hash: None,
        terminal_id: b.terminal_id.filter(|t| !t.is_empty()),
        armed: b.armed,
        armed_position: b.armed_position,
        paired_device_id: b.paired_device_id,
        location: b.location,
        tags: b.tags,
    }
}

/// Whether a product's devices report over HTTP (and so present a bearer token).
fn is_http(iot: &IotService, product_key: &str) -> bool {
    iot.product(product_key)
        .is_some_and(|p| p.protocol == chengyun_domain::iot::Protocol::Http)
}

/// An HTTP device's bearer token `<terminal id>:<secret>`, when it has both.
fn http_token(http: bool, terminal: Option<&str>, secret: Option<&str>) -> Option<String> {
    match (terminal, secret) {
        (Some(t), Some(s)) if http => Some(format!("{t}:{s}")),
        _ => None,
    }
}

/// Registers a device (admin); answers its secret once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "iot",
    request_body = NewDeviceBody,
    responses((status = 201, description = "Created; `secret` is shown only now", body = CreatedDevice)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<NewDeviceBody>,
) -> ApiResult<(StatusCode, Json<CreatedDevice>)> {
    me.require(CityPermission::ManageCity)?;
    let iot = state.iot();
    let (id, credential, fields) = body.split();
    if iot.device(&id).is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("device {id} exists; update it with PUT"),
        ));
    }
    let mut device = device_from(&state, &id, fields).await?;
    let http = is_http(iot, &device.product_key);
    if http && device.terminal_id.is_none() {
        // The HTTP token names the terminal (see `AppState`'s directory):
        // the id's letters and digits (terminal ids allow nothing else).
        let Some(derived) = derived_terminal(&device.id) else {
            return Err(Invalid::new(
                "terminal_id",
                "an HTTP device whose id has no letters or digits needs a terminal_id",
            )
            .into());
        };
        device.terminal_id = Some(derived);
    }
    let secret = if credential {
        Some(iot.create_device(device.clone(), &me.actor).await?)
    } else {
        iot.put_device(device.clone(), &me.actor).await?;
        None
    };
    let viewer = Viewer::of(&me);
    let stored = iot
        .device(&device.id)
        .ok_or_else(|| ApiError::internal("device vanished after create"))?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDevice {
            device: item(iot, &viewer, &stored),
            token: http_token(http, stored.terminal_id.as_deref(), secret.as_deref()),
            secret,
        }),
    ))
}

/// Changes a device (admin); its credential is kept.
#[utoipa::path(put, path = "/api/v1/devices/{id}", tag = "iot",
    params(("id" = String, Path, description = "Device id")),
    request_body = DeviceBody,
    responses((status = 200, description = "The device as stored", body = DeviceItem)),
    security(("session" = []), ("token" = [])))]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<DeviceBody>,
) -> ApiResult<Json<DeviceItem>> {
    me.require(CityPermission::ManageCity)?;
    let iot = state.iot();
    let old = iot
        .device(&id)
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    let mut device = device_from(&state, &id, body).await?;
    device.credential_hash = old.credential_hash.clone();
    if device.terminal_id.is_none() {
        // Omitted: keep it (an HTTP device's token names it).
        device.terminal_id = old.terminal_id.clone();
    }
    iot.put_device(device, &me.actor).await?;
    let stored = iot
        .device(&id)
        .ok_or_else(|| ApiError::internal("device vanished after update"))?;
    Ok(Json(item(iot, &Viewer::of(&me), &stored)))
}

/// Many devices at once (`POST /api/v1/devices/batch`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeviceBatch {
    /// At most [`DeviceBatch::MAX`] devices; new ones are created, existing ones
    /// (by id) updated.
    pub devices: Vec<NewDeviceBody>,
    /// Issue devices that already exist a new secret too (their old one stops
    /// working); by default they keep theirs.
    #[serde(default)]
    pub rotate_existing: bool,
}

impl DeviceBatch {
    /// The largest batch.
    pub const MAX: usize = 10_000;
}

/// One device of a batch and its credential, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDevice {
    pub id: String,
    /// `false`: it existed and was updated.
    pub created: bool,
    /// A new secret (new devices that want one; existing ones with `rotate_existing`).
    pub secret: Option<String>,
    /// For HTTP devices with a new secret: the bearer token `<terminal id>:<secret>`.
    pub token: Option<String>,
}

/// What a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub created: usize,
    pub updated: usize,
    /// In the order given.
    pub devices: Vec<BatchDevice>,
}

/// An HTTP device's terminal id when none is given: its id's letters and
/// digits (the HTTP token names the terminal; terminal ids allow nothing else).
fn derived_terminal(id: &str) -> Option<String> {
    let t: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// Registers or updates many devices in one transaction (admin): all or
/// nothing, every problem reported under `devices[i]`. New devices get a
/// secret (unless `credential` is false), existing ones keep theirs unless
/// `rotate_existing`. For onboarding a fleet or re-enrolling one.
#[utoipa::path(post, path = "/api/v1/devices/batch", tag = "iot",
    request_body = DeviceBatch,
    responses((status = 200, description = "Stored; secrets are shown only now", body = BatchResult)),
    security(("session" = []), ("token" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<DeviceBatch>,
) -> ApiResult<Json<BatchResult>> {
    me.require(CityPermission::ManageCity)?;
    if body.devices.is_empty() || body.devices.len() > DeviceBatch::MAX {
        return Err(Invalid::new(
            "devices",
            format!(
                "send 1 to {} devices per batch (got {}); split larger fleets",
                DeviceBatch::MAX,
                body.devices.len()
            ),
        )
        .into());
    }
    let iot = state.iot();
    let ids: HashSet<&str> = body.devices.iter().map(|d| d.id.as_str()).collect();
    let mut errors = ValidationError::default();
    let mut seen = HashSet::new();
    let mut owners: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for (i, d) in body.devices.iter().enumerate() {
        let at = |e: Invalid| e.at(format!("devices[{i}]"));
        if !seen.insert(d.id.as_str()) {
            errors.push(at(Invalid::new(
                "id",
                format!("device {} appears twice in the batch", d.id),
            )));
        }
        if iot.product(&d.product_key).is_none() {
            errors.push(at(Invalid::new(
                "product_key",
                format!("no product {:?}; see GET /api/v1/products", d.product_key),
            )));
        }
        let known = match owners.get(&d.owner_department) {
            Some(k) => *k,
            None => {
                let k = state
                    .store()
                    .department(&d.owner_department)
                    .await?
                    .is_some();
                owners.insert(d.owner_department.clone(), k);
                k
            }
        };
        if !known {
            errors.push(at(Invalid::new(
                "owner_department",
                format!("no department {:?}", d.owner_department),
            )));
        }
        if let Some(p) = &d.paired_device_id
            && iot.device(p).is_none()
            && !ids.contains(p.as_str())
        {
            errors.push(at(Invalid::new(
                "paired_device_id",
                format!("no device {p:?} to pair with (here or in the batch)"),
            )));
        }
        if errors.problems.len() >= ValidationError::LIMIT {
            break;
        }
    }
    if !errors.problems.is_empty() {
        return Err(errors.into());
    }
    let mut devices = Vec::with_capacity(body.devices.len());
    let mut answers = Vec::with_capacity(body.devices.len());
    for b in body.devices {
        let (id, credential, fields) = b.split();
        let old = iot.device(&id);
        let http = is_http(iot, &fields.product_key);
        let mut device = device_of(&id, fields);
        if let Some(o) = &old {
            device.credential_hash = o.credential_hash.clone();
            if device.terminal_id.is_none() {
                device.terminal_id = o.terminal_id.clone();
            }
        }
        if http && device.terminal_id.is_none() {
            device.terminal_id = derived_terminal(&id);
        }
        let issue = credential && (old.is_none() || body.rotate_existing);
        let secret = issue.then(chengyun_services::auth::random_secret);
        if let Some(s) = &secret {
            device.credential_hash = Some(chengyun_services::auth::device_secret_hash(s));
        }
        answers.push(BatchDevice {
            token: http_token(http, device.terminal_id.as_deref(), secret.as_deref()),
            id,
            created: old.is_none(),
            secret,
        });
        devices.push(device);
    }
    iot.put_devices(devices, &me.actor).await?;
    let created = answers.iter().filter(|a| a.created).count();
    Ok(Json(BatchResult {
        created,
        updated: answers.len() - created,
        devices: answers,
    }))
}

/// A device's new credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedCredential {
    pub device_id: String,
    /// The new secret (MQTT password, JT/T 808 auth code); shown only now.
    pub secret: String,
    /// For HTTP devices: the bearer token `<terminal id>:<secret>`.
    pub token: Option<String>,
}

/// Issues a device a new secret (admin), e.g. when the old one was lost or
/// leaked; the old one stops working at once. Connections already open stay
/// open until they end.
#[utoipa::path(post, path = "/api/v1/devices/{id}/credential", tag = "iot",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, description = "The new secret, shown only now", body = RotatedCredential)),
    security(("session" = []), ("token" = [])))]
pub async fn rotate_credential(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RotatedCredential>> {
    me.require(CityPermission::ManageCity)?;
    let iot = state.iot();
    let device = iot
        .device(&id)
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    let http = is_http(iot, &device.product_key);
    let secret = iot.create_device((*device).clone(), &me.actor).await?;
    Ok(Json(RotatedCredential {
        device_id: id,
        token: http_token(http, device.terminal_id.as_deref(), Some(&secret)),
        secret,
    }))
}

// ── grants ───────────────────────────────────────────────────────────────────

/// A stored grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantItem {
    pub id: i64,
    pub grant: Grant,
    pub created_at: DateTime<Utc>,
}

/// Filters of the grant list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantFilter {
    /// Only grants to this department.
    pub department: Option<String>,
    /// Only grants covering this device (directly or by its product).
    pub device: Option<String>,
}

/// Whether the viewer administers the grant: admins every grant, a
/// department the grants on devices it owns.
fn manages_grant(state: &AppState, viewer: &Viewer, grant: &Grant) -> bool {
    if viewer.admin {
        return true;
    }
    match (&grant.target, &viewer.department) {
        (GrantTarget::Device(id), Some(dept)) => state
            .iot()
            .device(id)
            .is_some_and(|d| &d.owner_department == dept),
        _ => false,
    }
}

/// Sharing grants: admins see all; a department the grants it holds and
/// the grants on devices it owns.
#[utoipa::path(get, path = "/api/v1/grants", tag = "iot",
    params(GrantFilter),
    responses((status = 200, description = "Unrevoked grants", body = [GrantItem])),
    security(("session" = []), ("token" = [])))]
pub async fn list_grants(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(f): Query<GrantFilter>,
) -> ApiResult<Json<Vec<GrantItem>>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let device = match &f.device {
        Some(id) => Some(viewer.device(state.iot(), id)?),
        None => None,
    };
    let all = state.store().grants(f.department.as_deref()).await?;
    let items = all
        .into_iter()
        .filter(|g| {
            viewer.all
                || viewer.admin
                || viewer.department.as_ref() == Some(&g.grant.grantee_department)
                || manages_grant(&state, &viewer, &g.grant)
        })
        .filter(|g| {
            device.as_ref().is_none_or(|d| match &g.grant.target {
                GrantTarget::Device(id) => id == &d.id,
                GrantTarget::Product(p) => p == &d.product_key,
            })
        })
        .map(|g| GrantItem {
            id: g.id,
            grant: g.grant,
            created_at: g.created_at,
        })
        .collect();
    Ok(Json(items))
}

/// Grants a department read or command access to a device (its owner or
/// an admin) or to every device of a product (admin).
#[utoipa::path(post, path = "/api/v1/grants", tag = "iot",
    request_body = Grant,
    responses((status = 201, description = "Created", body = GrantItem)),
    security(("session" = []), ("token" = [])))]
pub async fn create_grant(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(grant): Json<Grant>,
) -> ApiResult<(StatusCode, Json<GrantItem>)> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    grant.validate()?;
    let mut errors = ValidationError::default();
    match &grant.target {
        GrantTarget::Device(id) => {
            // A device the caller cannot see is not found, not forbidden.
            viewer.device(state.iot(), id)?;
        }
        GrantTarget::Product(p) => {
            if state.iot().product(p).is_none() {
                errors.push(Invalid::new("target.product", format!("no product {p:?}")));
            }
        }
    }
    if state
        .store()
        .department(&grant.grantee_department)
        .await?
        .is_none()
    {
        errors.push(Invalid::new(
            "grantee_department",
            format!("no department {:?}", grant.grantee_department),
        ));
    }
    if !errors.problems.is_empty() {
        return Err(errors.into());
    }
    if !manages_grant(&state, &viewer, &grant) {
        return Err(ApiError::forbidden(
            "sharing this device (only its owning department or an administrator may)",
        ));
    }
    let id = state.iot().grant(grant.clone(), &me.actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantItem {
            id,
            grant,
            created_at: Utc::now(),
        }),
    ))
}

/// Revokes a grant (its device's owner or an admin).
#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "iot",
    params(("id" = i64, Path, description = "Grant id")),
    responses((status = 204, description = "Revoked")),
    security(("session" = []), ("token" = [])))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let found = state
        .store()
        .grants(None)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found(format!("grant {id}")))?;
    if !manages_grant(&state, &viewer, &found.grant) {
        return Err(ApiError::forbidden(
            "revoking this grant (only the device's owning department or an administrator may)",
        ));
    }
    state.iot().revoke_grant(id, &me.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ── history ──────────────────────────────────────────────────────────────────

/// A period of history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// RFC 3339; default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default now.
    pub to: Option<DateTime<Utc>>,
    /// Bucket width in seconds (1-86400): answer per-bucket count, avg,
    /// min, max and last of each numeric property (for charts).
    pub bucket: Option<u32>,
    /// Most raw samples answered (1-10000, default 1000).
    pub limit: Option<u32>,
}

impl HistoryParams {
    fn period(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ValidationError> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - chrono::Duration::hours(24));
        let mut errors = ValidationError::default();
        if from >= to {
            errors.push(Invalid::new("from", "from must be before to"));
        }
        if to - from > chrono::Duration::days(366) {
            errors.push(Invalid::new("from", "a period may span at most 366 days"));
        }
        if let Some(b) = self.bucket
            && !(1..=86_400).contains(&b)
        {
            errors.push(Invalid::new(
                "bucket",
                format!("bucket {b} must be 1-86400 seconds"),
            ));
        }
        if let Some(l) = self.limit
            && !(1..=10_000).contains(&l)
        {
            errors.push(Invalid::new("limit", format!("limit {l} must be 1-10000")));
        }
        if errors.problems.is_empty() {
            Ok((from, to))
        } else {
            Err(errors)
        }
    }
}

/// Telemetry history: raw samples, or buckets with `bucket`.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub device_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Option<u32>,
    /// Raw samples, oldest first (without `bucket`).
    #[schema(value_type = Vec<Object>)]
    pub samples: Vec<chengyun_domain::iot::Telemetry>,
    /// Downsampled numeric properties (with `bucket`).
    pub buckets: Vec<TelemetryBucket>,
}

/// A device's telemetry history.
#[utoipa::path(get, path = "/api/v1/devices/{id}/telemetry", tag = "iot",
    params(("id" = String, Path, description = "Device id"), HistoryParams),
    responses((status = 200, description = "History", body = History)),
    security(("session" = []), ("token" = [])))]
pub async fn telemetry(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> ApiResult<Json<History>> {
    me.require(CityPermission::ReadCity)?;
    let d = Viewer::of(&me).device(state.iot(), &id)?;
    let (from, to) = p.period()?;
    let store = state.store();
    let (samples, buckets) = match p.bucket {
        Some(b) => (
            Vec::new(),
            store.telemetry_downsampled(&d.id, from, to, b).await?,
        ),
        None => (
            store
                .telemetry(&d.id, from, to, p.limit.unwrap_or(1000))
                .await?,
            Vec::new(),
        ),
    };
    Ok(Json(History {
        device_id: d.id.clone(),
        from,
        to,
        bucket: p.bucket,
        samples,
        buckets,
    }))
}

/// The track of a device as a GeoJSON Feature: a LineString of its fixes in
/// time order (geometry `null` with fewer than two fixes), with the time of
/// every point in `properties.times`.
pub fn track_feature(
    device_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fixes: &[(DateTime<Utc>, GeoPoint)],
) -> serde_json::Value {
    let coordinates: Vec<[f64; 2]> = fixes.iter().map(|(_, p)| [p.lon, p.lat]).collect();
    let times: Vec<String> = fixes.iter().map(|(t, _)| t.to_rfc3339()).collect();
    let geometry = if coordinates.len() >= 2 {
        serde_json::json!({ "type": "LineString", "coordinates": coordinates })
    } else {
        serde_json::Value::Null
    };
    serde_json::json!({
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "device_id": device_id,
            "from": from.to_rfc3339(),
            "to": to.to_rfc3339(),
            "points": fixes.len(),
            "times": times,
            "last": coordinates.last(),
        }
    })
}

/// A device's track for a period (GeoJSON Feature with a LineString).
#[utoipa::path(get, path = "/api/v1/devices/{id}/track", tag = "iot",
    params(("id" = String, Path, description = "Device id"), HistoryParams),
    responses((status = 200, description = "GeoJSON Feature", body = Object)),
    security(("session" = []), ("token" = [])))]
pub async fn track(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(CityPermission::ReadCity)?;
    let d = Viewer::of(&me).device(state.iot(), &id)?;
    let (from, to) = p.period()?;
    let rows = state
        .store()
        .telemetry(&d.id, from, to, p.limit.unwrap_or(10_000))
        .await?;
    let fixes: Vec<(DateTime<Utc>, GeoPoint)> = rows
        .iter()
        .filter_map(|t| t.location.map(|l| (t.at, l)))
        .collect();
    Ok(Json(track_feature(&d.id, from, to, &fixes)))
}

/// Commands of a device, newest first.
#[utoipa::path(get, path = "/api/v1/devices/{id}/commands", tag = "iot",
    params(("id" = String, Path, description = "Device id"), PageParams),
    responses((status = 200, description = "Commands", body = Paged<chengyun_store::CommandRecord>)),
    security(("session" = []), ("token" = [])))]
pub async fn commands(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<chengyun_store::CommandRecord>>> {
    me.require(CityPermission::ReadCity)?;
    let d = Viewer::of(&me).device(state.iot(), &id)?;
    let req = page.to_request()?;
    Ok(Json(state.store().list_commands(&d.id, &req).await?.into()))
}

/// Device ids the viewer may see among `ids` (for alarm and overview filters).
pub fn visible_ids<'a>(
    iot: &IotService,
    viewer: &Viewer,
    ids: impl IntoIterator<Item = &'a str>,
) -> HashSet<String> {
    ids.into_iter()
        .filter(|id| viewer.may(iot, id, Permission::Read))
        .map(str::to_string)
        .collect()
}

/// Decodes a cursor into the store key (shared by the IoT lists).
pub fn cursor_key(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    raw.map(decode_cursor).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_pages_walk_every_source_once() {
        // Two exact sources read with limit 2 after the cursor, one complete.
        let a: Vec<String> = ["a1", "a3", "a5", "a7"].map(String::from).to_vec();
        let b: Vec<String> = ["a2", "a3", "a6"].map(String::from).to_vec();
        let c: Vec<String> = ["a4"].map(String::from).to_vec();
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let take = |v: &Vec<String>| {
                let rest: Vec<String> = v
                    .iter()
                    .filter(|x| after.as_ref().is_none_or(|a| *x > a))
                    .cloned()
                    .collect();
                let more = rest.len() > 2;
                let items: Vec<String> = rest.into_iter().take(2).collect();
                Part {
                    horizon: if more { items.last().cloned() } else { None },
                    items,
                }
            };
            let cpart = Part {
                items: c
                    .iter()
                    .filter(|x| after.as_ref().is_none_or(|a| *x > a))
                    .cloned()
                    .collect(),
                horizon: None,
            };
            let (items, next) = merge_parts(vec![take(&a), take(&b), cpart], 2, |s| s.clone());
            seen.extend(items);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]);
    }

    #[test]
    fn bbox_is_checked() {
        assert_eq!(parse_bbox("1,2,3,4").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert!(parse_bbox("3,2,1,4").is_err());
        assert!(parse_bbox("1,2,3").is_err());
        assert!(parse_bbox("a,b,c,d").is_err());
    }

    #[test]
    fn tracks_are_line_strings_in_time_order() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-10T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t1 = t0 + chrono::Duration::minutes(1);
        let f = track_feature(
            "d1",
            t0,
            t1,
            &[
                (t0, GeoPoint::new(117.0, 28.2)),
                (t1, GeoPoint::new(117.1, 28.3)),
            ],
        );
        assert_eq!(f["geometry"]["type"], "LineString");
        assert_eq!(f["geometry"]["coordinates"][1][0], 117.1);
        assert_eq!(f["properties"]["points"], 2);
        let one = track_feature("d1", t0, t1, &[(t0, GeoPoint::new(117.0, 28.2))]);
        assert!(one["geometry"].is_null());
        assert_eq!(one["properties"]["last"][1], 28.2);
    }

    #[test]
    fn history_periods_are_validated() {
        let bad = HistoryParams {
            from: Some(Utc::now()),
            to: Some(Utc::now() - chrono::Duration::hours(1)),
            bucket: Some(0),
            limit: Some(20_000),
        };
        assert_eq!(bad.period().unwrap_err().problems.len(), 3);
        assert!(HistoryParams::default().period().is_ok());
    }
}
