//! Scenario packs (DOMAIN.md §7) and the IoT headline figures.
//!
//! `POST /api/v1/packs/{key}/enable` installs a shipped pack: its products,
//! rules (saved as a new rule-set version), local matter classes, alarm →
//! matter mappings and dispatch rules; then the city model and the case
//! service reload so the new matters and rules take effect at once.
//!
//! `GET /api/v1/iot/overview` answers the big screen's IoT cards for the
//! devices the caller may see: devices, online and the online rate (total
//! and by product), open alarms by type, the share of components connected
//! (components watched by a device / all components) and the share of
//! matter classes connected (matter classes with an alarm mapping of an
//! enabled pack or a case reported this year / 250, the national count).

use super::alarms::visible_alarms;
use super::devices::{Viewer, visible_devices};
use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::auth::Permission;
use chengyun_domain::iot::{MatterTarget, Pack};
use chengyun_domain::page::PageRequest;
use chengyun_domain::standard::ClassKind;
use chengyun_store::{AlarmQuery, ComponentQuery, DeviceQuery};
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// The denominator of the matter-class share: the national matter classes.
pub const MATTER_CLASSES: usize = 250;

/// A pack and whether this city enabled it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackItem {
    pub key: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Product keys it brings.
    pub products: Vec<String>,
    pub rules: usize,
    /// Alarm types it maps to matters.
    pub alarm_types: Vec<String>,
}

fn pack_item(p: &Pack, enabled: bool) -> PackItem {
    PackItem {
        key: p.key.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        enabled,
        products: p.products.iter().map(|x| x.key.clone()).collect(),
        rules: p.rules.len(),
        alarm_types: p
            .alarm_mappings
            .iter()
            .map(|m| m.alarm_type.clone())
            .collect(),
    }
}

/// Every shipped pack with its enabled flag.
#[utoipa::path(get, path = "/api/v1/packs", tag = "iot",
    responses((status = 200, description = "Packs", body = [PackItem])),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<PackItem>>> {
    me.require(Permission::ReadCity)?;
    let enabled: BTreeSet<String> = state
        .store()
        .enabled_packs()
        .await?
        .into_iter()
        .map(|p| p.key)
        .collect();
    Ok(Json(
        chengyun_domain::iot::packs::all()
            .iter()
            .map(|p| pack_item(p, enabled.contains(&p.key)))
            .collect(),
    ))
}

/// Enables a shipped pack (admin); enabling again re-installs it.
#[utoipa::path(post, path = "/api/v1/packs/{key}/enable", tag = "iot",
    params(("key" = String, Path, description = "Pack key")),
    responses((status = 200, description = "The pack, enabled", body = PackItem)),
    security(("session" = []), ("token" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(key): Path<String>,
) -> ApiResult<Json<PackItem>> {
    me.require(Permission::ManageCity)?;
    let pack = chengyun_domain::iot::packs::get(&key).ok_or_else(|| {
        ApiError::not_found(format!(
            "scenario pack {key:?} (shipped: {})",
            chengyun_domain::iot::packs::keys().join(", ")
        ))
    })?;
    state.iot().enable_pack(&key, &me.actor).await?;
    state.city_changed("packs", 1).await?;
    Ok(Json(pack_item(&pack, true)))
}

/// Online figures of one product.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct ProductOnline {
    pub product_key: String,
    pub name: Option<String>,
    pub total: u64,
    pub online: u64,
    /// online / total (0 without devices).
    pub online_rate: f64,
}

/// Open alarms of one type.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct AlarmTypeCount {
    pub alarm_type: String,
    pub open: u64,
}

/// The IoT headline figures (see the module docs).
#[derive(Debug, Serialize, ToSchema)]
pub struct IotOverview {
    pub devices_total: u64,
    pub devices_online: u64,
    pub online_rate: f64,
    pub by_product: Vec<ProductOnline>,
    pub alarms_open: u64,
    pub alarms_open_by_type: Vec<AlarmTypeCount>,
    pub components_total: u64,
    /// Components watched by at least one device.
    pub components_connected: u64,
    pub components_share: f64,
    pub matter_classes_connected: u64,
    pub matter_classes_total: u64,
    pub matter_classes_share: f64,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The IoT figures for the caller's devices.
#[utoipa::path(get, path = "/api/v1/iot/overview", tag = "iot",
    responses((status = 200, description = "Figures", body = IotOverview)),
    security(("session" = []), ("token" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<IotOverview>> {
    me.require(Permission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let iot = state.iot();
    // Devices, walked page by page (the registry is the store's).
    let mut by_product: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut watched = BTreeSet::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let (items, next) = visible_devices(&state, &viewer, DeviceQuery::default(), &page).await?;
        for d in &items {
            let online = iot.latest(&d.id).is_some_and(|l| l.online);
            let e = by_product.entry(d.product_key.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(online);
            if let Some(c) = &d.component_id {
                watched.insert(c.to_string());
            }
        }
        match next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    let devices_total: u64 = by_product.values().map(|v| v.0).sum();
    let devices_online: u64 = by_product.values().map(|v| v.1).sum();
    // Open alarms by type.
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let q = AlarmQuery {
        open_only: true,
        ..AlarmQuery::default()
    };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    for _ in 0..200 {
        let (items, next) = visible_alarms(&state, &viewer, q.clone(), &page).await?;
        for a in items {
            *by_type.entry(a.alarm.alarm_type).or_default() += 1;
        }
        match next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    let components_total = state
        .store()
        .count_components(&ComponentQuery::default())
        .await?;
    // Matter classes connected: mapped by an enabled pack, or with a case this year.
    let mut matters: BTreeSet<String> = BTreeSet::new();
    for p in state.store().enabled_packs().await? {
        for m in &p.alarm_mappings {
            matters.insert(match &m.matter {
                MatterTarget::Code { code } => code.clone(),
                MatterTarget::ComponentClass { fallback } => fallback.clone(),
            });
        }
    }
    let tz = chrono_tz::Asia::Shanghai;
    let year = Utc::now().with_timezone(&tz).year();
    let year_start = tz
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc));
    if let Some(from) = year_start {
        // Only the catalogue's matter classes count (not a retired local class).
        let known: BTreeSet<String> = state
            .city()
            .catalogue
            .iter(ClassKind::Matter)
            .map(|c| c.code.to_string())
            .collect();
        for code in state.store().matters_reported_since(from).await? {
            if known.contains(&code) {
                matters.insert(code);
            }
        }
    }
    let matter_classes_connected = matters.len() as u64;
    let products = by_product
        .into_iter()
        .map(|(key, (total, online))| ProductOnline {
            name: iot.product(&key).map(|p| p.name.clone()),
            product_key: key,
            total,
            online,
            online_rate: rate(online, total),
        })
        .collect();
    let alarms_open = by_type.values().sum();
    Ok(Json(IotOverview {
        devices_total,
        devices_online,
        online_rate: rate(devices_online, devices_total),
        by_product: products,
        alarms_open,
        alarms_open_by_type: by_type
            .into_iter()
            .map(|(alarm_type, open)| AlarmTypeCount { alarm_type, open })
            .collect(),
        components_total,
        components_connected: watched.len() as u64,
        components_share: rate(watched.len() as u64, components_total),
        matter_classes_connected,
        matter_classes_total: MATTER_CLASSES as u64,
        matter_classes_share: rate(matter_classes_connected, MATTER_CLASSES as u64),
    }))
}
