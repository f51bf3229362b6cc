//! Alarms of the IoT brain: the scoped list and the two actions a person
//! takes (acknowledge, clear). Visibility follows the devices (see
//! [`super::devices`]): a department sees the alarms of devices it owns or
//! was granted; an alarm of a device it may not see answers 404.
//!
//! The list is newest `last_at` first. For a department it merges the alarms
//! of its own devices (one store query by owner), of each singly granted
//! device, and — for product grants — a bounded scan of all alarms filtered
//! to the granted products; the scan's reach is a horizon, so a page may
//! hold fewer than `limit` items while `next_cursor` is still set.

use super::devices::{Part, Viewer, merge_parts};
use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged, encode_cursor};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::Invalid;
use chengyun_domain::auth::Permission as CityPermission;
use chengyun_domain::iot::{Alarm, AlarmState, GrantTarget, Permission};
use chengyun_domain::page::{Page, PageRequest};
use chengyun_store::{AlarmQuery, StoredAlarm};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// How many store pages (of 500) a product-grant scan reads per request.
const SCAN_PAGES: usize = 8;

/// An alarm as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlarmItem {
    /// The alarm: `id`, `key` {device_id, rule_id, subject}, `type`, `level`,
    /// `state`, `first_at`, `last_at`, `count`, `value`, `location`, `message`,
    /// `component_id`, `acknowledged_by`, `cleared_at`, `clear_reason`.
    #[schema(value_type = Object)]
    pub alarm: Alarm,
    pub device_id: String,
    pub device_name: Option<String>,
    pub owner_department: String,
    /// The case opened from the alarm, once there is one.
    pub case_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

fn alarm_item(state: &AppState, a: StoredAlarm) -> AlarmItem {
    let device_id = a.alarm.key.device_id.clone();
    AlarmItem {
        device_name: state.iot().device(&device_id).map(|d| d.name.clone()),
        device_id,
        owner_department: a.owner_department,
        case_id: a.case_id,
        updated_at: a.updated_at,
        alarm: a.alarm,
    }
}

/// Filters of the alarm list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlarmFilter {
    /// Only this device's alarms.
    pub device: Option<String>,
    /// Alarm type (e.g. `overload`, `intrusion`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub alarm_type: Option<String>,
    /// `active`, `acknowledged` or `cleared`.
    pub state: Option<String>,
    /// Only open (active or acknowledged) alarms.
    pub open: Option<bool>,
    /// Only alarms last seen at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

fn parse_state(raw: &str) -> Result<AlarmState, Invalid> {
    match raw {
        "active" => Ok(AlarmState::Active),
        "acknowledged" => Ok(AlarmState::Acknowledged),
        "cleared" => Ok(AlarmState::Cleared),
        other => Err(Invalid::new(
            "state",
            format!("{other:?} must be active, acknowledged or cleared"),
        )),
    }
}

type AlarmKey = (Reverse<i64>, Reverse<String>);

fn key_of(a: &StoredAlarm) -> AlarmKey {
    (
        Reverse(a.alarm.last_at.timestamp_micros()),
        Reverse(a.alarm.id.clone()),
    )
}

/// The store's cursor for a list key.
fn cursor_of(k: &AlarmKey) -> String {
    format!("{}/{}", (k.0).0, (k.1).0)
}

fn exact(p: Page<StoredAlarm>) -> Part<StoredAlarm, AlarmKey> {
    let horizon = if p.next.is_some() {
        p.items.last().map(key_of)
    } else {
        None
    };
    Part {
        items: p.items,
        horizon,
    }
}

/// One page of the alarms the viewer may see.
pub async fn visible_alarms(
    state: &AppState,
    viewer: &Viewer,
    q: AlarmQuery,
    page: &PageRequest,
) -> ApiResult<(Vec<StoredAlarm>, Option<String>)> {
    let iot = state.iot();
    if viewer.all || viewer.admin {
        let p = iot.alarms(&q, page).await?;
        return Ok((p.items, p.next));
    }
    let Some(dept) = viewer.department.clone() else {
        return Ok((Vec::new(), None));
    };
    if let Some(device) = &q.device_id {
        if !viewer.may(iot, device, Permission::Read) {
            return Ok((Vec::new(), None));
        }
        let p = iot.alarms(&q, page).await?;
        return Ok((p.items, p.next));
    }
    let mut parts = Vec::new();
    let mut own = q.clone();
    own.owners = Some(vec![dept.clone()]);
    parts.push(exact(iot.alarms(&own, page).await?));
    let mut devices = BTreeSet::new();
    let mut products = BTreeSet::new();
    for g in state.store().grants(Some(&dept)).await? {
        match g.grant.target {
            GrantTarget::Device(id) => {
                devices.insert(id);
            }
            GrantTarget::Product(p) => {
                products.insert(p);
            }
        }
    }
    for id in devices {
        let mut dq = q.clone();
        dq.device_id = Some(id);
        parts.push(exact(iot.alarms(&dq, page).await?));
    }
    if !products.is_empty() {
        // Alarms of granted products: scan every owner's alarms, keep those
        // of devices of these products, up to SCAN_PAGES store pages.
        let mut scan = PageRequest {
            after: page.after.clone(),
            limit: PageRequest::MAX_LIMIT,
        };
        let mut found = Vec::new();
        let mut horizon = None;
        for round in 0..SCAN_PAGES {
            let p = iot.alarms(&q, &scan).await?;
            let last = p.items.last().map(key_of);
            for a in p.items {
                let of_product = iot
                    .device(&a.alarm.key.device_id)
                    .is_some_and(|d| products.contains(&d.product_key));
                if of_product && a.owner_department != dept {
                    found.push(a);
                }
            }
            if found.len() > page.limit() as usize {
                horizon = found.get(page.limit() as usize).map(key_of);
                break;
            }
            match p.next {
                Some(n) if round + 1 < SCAN_PAGES => scan.after = Some(n),
                Some(_) => {
                    horizon = last;
                    break;
                }
                None => break,
            }
        }
        parts.push(Part {
            items: found,
            horizon,
        });
    }
    let (items, next) = merge_parts(parts, page.limit() as usize, key_of);
    Ok((items, next.as_ref().map(cursor_of)))
}

/// Alarms the caller may see, newest first (server-paginated).
#[utoipa::path(get, path = "/api/v1/alarms", tag = "iot",
    params(AlarmFilter, PageParams),
    responses((status = 200, description = "Alarms", body = Paged<AlarmItem>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(f): Query<AlarmFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<AlarmItem>>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let q = AlarmQuery {
        device_id: f.device.filter(|s| !s.is_empty()),
        alarm_type: f.alarm_type.filter(|s| !s.is_empty()),
        state: f.state.as_deref().map(parse_state).transpose()?,
        open_only: f.open.unwrap_or(false),
        owners: None,
        since: f.since,
    };
    let req = page.to_request()?;
    let (items, next) = visible_alarms(&state, &viewer, q, &req).await?;
    Ok(Json(Paged {
        items: items.into_iter().map(|a| alarm_item(&state, a)).collect(),
        next_cursor: next.as_deref().map(encode_cursor),
    }))
}

/// The stored alarm when the caller may see its device; 404 otherwise.
async fn visible_alarm(state: &AppState, viewer: &Viewer, id: &str) -> ApiResult<StoredAlarm> {
    let found = state
        .store()
        .alarm(id)
        .await?
        .filter(|a| viewer.may(state.iot(), &a.alarm.key.device_id, Permission::Read))
        .ok_or_else(|| ApiError::not_found(format!("alarm {id}")))?;
    Ok(found)
}

/// One alarm.
#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "iot",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, description = "The alarm", body = AlarmItem)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AlarmItem>> {
    me.require(CityPermission::ReadCity)?;
    let a = visible_alarm(&state, &Viewer::of(&me), &id).await?;
    Ok(Json(alarm_item(&state, a)))
}

async fn reread(state: &AppState, id: &str) -> ApiResult<Json<AlarmItem>> {
    let a = state
        .store()
        .alarm(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alarm {id}")))?;
    Ok(Json(alarm_item(state, a)))
}

/// Acknowledges an open alarm (anyone who sees its device); it stays open
/// until its condition clears, a person clears it or its case closes.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/acknowledge", tag = "iot",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, description = "The alarm after the action", body = AlarmItem)),
    security(("session" = []), ("token" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AlarmItem>> {
    me.require(CityPermission::ReadCity)?;
    let a = visible_alarm(&state, &Viewer::of(&me), &id).await?;
    if a.alarm.state == AlarmState::Cleared {
        return Err(ApiError::new(
            crate::error::ErrorCode::Conflict,
            format!("alarm {id} is already cleared"),
        ));
    }
    state
        .iot()
        .acknowledge_alarm(&id, &me.user.username)
        .await?;
    reread(&state, &id).await
}

/// Clears an open alarm by hand (its device's owner, a department with a
/// command grant, or a whole-city viewer).
#[utoipa::path(post, path = "/api/v1/alarms/{id}/clear", tag = "iot",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, description = "The alarm after the action", body = AlarmItem)),
    security(("session" = []), ("token" = [])))]
pub async fn clear(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AlarmItem>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let a = visible_alarm(&state, &viewer, &id).await?;
    if !(viewer.all || viewer.may(state.iot(), &a.alarm.key.device_id, Permission::Command)) {
        return Err(ApiError::forbidden(
            "clearing this alarm (its device's owner or a department with a command grant may)",
        ));
    }
    state.iot().clear_alarm(&id, &me.user.username).await?;
    reread(&state, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_and_cursors_match_the_store() {
        assert_eq!(parse_state("cleared").unwrap(), AlarmState::Cleared);
        assert!(parse_state("open").is_err());
        let k: AlarmKey = (Reverse(1_700_000_000_000_000), Reverse("d/r@1".into()));
        assert_eq!(cursor_of(&k), "1700000000000000/d/r@1");
        // Newer first: a larger time sorts earlier.
        let newer: AlarmKey = (Reverse(2), Reverse("a".into()));
        let older: AlarmKey = (Reverse(1), Reverse("z".into()));
        assert!(newer < older);
    }
}
