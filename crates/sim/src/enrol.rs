//! Enrols the simulated fleet in the server's own device registry through the REST API
//! (`POST /api/v1/devices/batch`), so the devices go through the server's gateways,
//! authentication, rule engine, alarms and alarm → case mapping like real ones.
//!
//! Each device gets an owning department: the scene's usual one in the demo city
//! ([`owner_for`]) when the server has it, else the fallback the caller names (for another
//! city). Stationary devices are placed at their home position. HTTP devices receive their
//! bearer token `<terminal id>:<secret>` from the server, MQTT devices their password (their
//! username is their device id's letters and digits); a device that already exists (a
//! restarted demo) is issued a fresh one.
//! JT/T 808 terminals learn their auth code when they register (0x0100 → 0x8100); watch
//! and GB/T 28181 devices are known by their ids.

use crate::devices::{Scene, SimDevice};
use crate::people::{ApiClient, ApiError};
use crate::runner::Targets;
use chengyun_domain::iot::Protocol;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The demo city's department for a scene's devices.
pub fn owner_for(scene: Scene, product_key: &str) -> &'static str {
    match scene {
        Scene::Ebike => "DEMO-GA",
        Scene::Elderly => "DEMO-MZ",
        Scene::Corrections => "DEMO-SF",
        Scene::Railway => "DEMO-GA",
        Scene::Weigh => "DEMO-JT",
        Scene::Kitchen => "DEMO-SCJ",
        Scene::Fire => "DEMO-XF",
        Scene::Components if product_key == "bin_fill_sensor" => "DEMO-CGJ",
        Scene::Components => "DEMO-SZ",
    }
}

/// What enrolment did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub created: usize,
    /// Already registered (kept; HTTP devices got a new token).
    pub existing: usize,
}

/// Why the fleet could not be enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(
        "the server has none of the departments the simulated devices belong to ({wanted}) and no fallback was given (--sim-owner)"
    )]
    NoOwner { wanted: String },
    #[error("cannot enrol the batch starting at device {first}: {error}")]
    Batch { first: String, error: ApiError },
    #[error("cannot list the server's departments: {0}")]
    Departments(ApiError),
}

/// Every department code the caller can see.
async fn department_codes(client: &ApiClient) -> Result<BTreeSet<String>, ApiError> {
    let mut codes = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/departments?limit=500&cursor={c}"),
            None => "/api/v1/departments?limit=500".to_owned(),
        };
        let page = client.get(&path).await?;
        for d in page["items"].as_array().into_iter().flatten() {
            if let Some(c) = d["code"].as_str() {
                codes.insert(c.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(codes),
        }
    }
}

/// The registration body of one device.
pub fn device_body(device: &SimDevice, owner: &str) -> Value {
    let a = &device.account;
    let stationary = !matches!(a.scene, Scene::Ebike | Scene::Elderly | Scene::Corrections);
    json!({
        "id": a.device_id,
        "product_key": a.product_key,
        "name": a.name,
        "owner_department": owner,
        // HTTP devices are named by a terminal id the server derives from the device id.
        "terminal_id": (a.protocol != Protocol::Http).then(|| a.terminal_id.clone()),
        "location": stationary.then(|| json!({"lon": a.home.0, "lat": a.home.1})),
        "tags": ["simulated", a.scene.as_str()],
        "credential": matches!(a.protocol, Protocol::Jt808 | Protocol::Http | Protocol::Mqtt),
    })
}

/// Devices per `POST /api/v1/devices/batch`.
pub const BATCH: usize = 2_000;

/// Registers `devices` on the server `client` is logged in to (as an administrator) through
/// `POST /api/v1/devices/batch` (each batch all or nothing), issuing every device that
/// presents a secret a fresh one (`rotate_existing`: a restarted demo's devices get new
/// credentials), and stores each HTTP device's token and each MQTT device's password in its
/// account.
pub async fn enrol(
    client: &ApiClient,
    devices: &mut [SimDevice],
    fallback_owner: Option<&str>,
) -> Result<Enrolled, EnrolError> {
    let known = department_codes(client)
        .await
        .map_err(EnrolError::Departments)?;
    let mut bodies = Vec::with_capacity(devices.len());
    for d in devices.iter() {
        let wanted = owner_for(d.account.scene, d.account.product_key);
        let owner = if known.contains(wanted) {
            wanted
        } else if let Some(f) = fallback_owner {
            f
        } else {
            return Err(EnrolError::NoOwner {
                wanted: wanted.to_owned(),
            });
        };
        bodies.push(device_body(d, owner));
    }
    let mut out = Enrolled::default();
    for (chunk, bodies) in devices.chunks_mut(BATCH).zip(bodies.chunks(BATCH)) {
        let answer = client
            .post(
                "/api/v1/devices/batch",
                &json!({"devices": bodies, "rotate_existing": true}),
            )
            .await
            .map_err(|error| EnrolError::Batch {
                first: chunk[0].account.device_id.clone(),
                error,
            })?;
        let items = answer["devices"].as_array().cloned().unwrap_or_default();
        for (d, item) in chunk.iter_mut().zip(items) {
            if item["created"].as_bool() == Some(true) {
                out.created += 1;
            } else {
                out.existing += 1;
            }
            let key = match d.account.protocol {
                Protocol::Http => "token",
                _ => "secret",
            };
            if let Some(c) = item[key].as_str() {
                d.account.secret = Some(c.to_owned());
            }
        }
    }
    Ok(out)
}

/// Why the server's gateways could not be learned.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot ask the server for its device gateways: {0}")]
    Api(ApiError),
    #[error("{0} is not an http://host:port URL")]
    Url(String),
}

/// Where the server takes device traffic, from `GET /api/v1/iot/gateways`: its TCP
/// gateways (one bound to all interfaces is reached at the API's host) and the HTTP
/// endpoints on its API listener.
pub async fn discover(admin: &ApiClient, api: &str) -> Result<Targets, DiscoverError> {
    let list = admin
        .get("/api/v1/iot/gateways")
        .await
        .map_err(DiscoverError::Api)?;
    let url = reqwest::Url::parse(api).map_err(|_| DiscoverError::Url(api.to_owned()))?;
    let host = url
        .host_str()
        .ok_or_else(|| DiscoverError::Url(api.to_owned()))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned();
    let api_ip: Option<std::net::IpAddr> = match host.parse() {
        Ok(ip) => Some(ip),
        Err(_) => tokio::net::lookup_host((host.as_str(), 0))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| a.ip()),
    };
    let mut out = Targets {
        api: Some(api.trim_end_matches('/').to_owned()),
        ..Targets::default()
    };
    for g in list["gateways"].as_array().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or_default();
        let addr = g["address"]
            .as_str()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| match (a.ip().is_unspecified(), api_ip) {
                (true, Some(ip)) => std::net::SocketAddr::new(ip, a.port()),
                _ => a,
            });
        let path = g["path"]
            .as_str()
            .map(|p| format!("{}{p}", api.trim_end_matches('/')));
        match name {
            "jt808" => out.jt808 = addr,
            "watch" => out.watch = addr,
            "mqtt" => out.mqtt = addr,
            "http" => out.http_telemetry = path,
            "gb28181" => out.gb28181 = path,
            _ => {}
        }
    }
    Ok(out)
}
