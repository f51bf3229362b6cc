//! Enrols the simulated fleet in the server's own device registry through the REST API
//! (`POST /api/v1/devices`), so the devices go through the server's gateways,
//! authentication, rule engine, alarms and alarm → case mapping like real ones.
//!
//! Each device gets an owning department: the scene's usual one in the demo city
//! ([`owner_for`]) when the server has it, else the fallback the caller names (for another
//! city). Stationary devices are placed at their home position. HTTP devices receive their
//! bearer token `<terminal id>:<secret>` from the server, MQTT devices their password (their
//! username is their device id); a device that already exists (a restarted demo) gets a
//! fresh one through `POST /api/v1/devices/{id}/credential`.
//! JT/T 808 terminals learn their auth code when they register (0x0100 → 0x8100); watch
//! and GB/T 28181 devices are known by their ids.

use crate::devices::{Scene, SimDevice};
use crate::people::{ApiClient, ApiError};
use crate::runner::Targets;
use chengyun_domain::iot::Protocol;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    #[error("cannot enrol device {device}: {error}")]
    Device { device: String, error: ApiError },
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

/// Registers `devices` on the server `client` is logged in to (as an administrator), at
/// most `parallel` requests at a time, and stores each HTTP device's token in its account.
pub async fn enrol(
    client: &ApiClient,
    devices: &mut [SimDevice],
    fallback_owner: Option<&str>,
    parallel: usize,
) -> Result<Enrolled, EnrolError> {
    let known = department_codes(client)
        .await
        .map_err(EnrolError::Departments)?;
    let mut owners = Vec::with_capacity(devices.len());
    for d in devices.iter() {
        let wanted = owner_for(d.account.scene, d.account.product_key);
        let owner = if known.contains(wanted) {
            wanted.to_owned()
        } else if let Some(f) = fallback_owner {
            f.to_owned()
        } else {
            return Err(EnrolError::NoOwner {
                wanted: wanted.to_owned(),
            });
        };
        owners.push(owner);
    }
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::with_capacity(devices.len());
    for (d, owner) in devices.iter().zip(owners) {
        let (client, permits) = (client.clone(), permits.clone());
        let body = device_body(d, &owner);
        let id = d.account.device_id.clone();
        let http = d.account.protocol == Protocol::Http;
        let mqtt = d.account.protocol == Protocol::Mqtt;
        // What the device presents: HTTP the bearer token, MQTT the secret (password).
        let credential = move |v: &Value| {
            let key = if http { "token" } else { "secret" };
            v[key].as_str().map(str::to_owned)
        };
        let needs_credential = http || mqtt;
        tasks.push(tokio::spawn(async move {
            let _p = permits.acquire_owned().await;
            let created = match client.post("/api/v1/devices", &body).await {
                Ok(v) => return Ok((true, credential(&v))),
                Err(e) if e.status() == Some(409) => false,
                Err(e) => {
                    return Err(EnrolError::Device {
                        device: id,
                        error: e,
                    });
                }
            };
            // Already registered: a device that presents a secret needs a fresh one.
            let token = if needs_credential {
                let v = client
                    .post(&format!("/api/v1/devices/{id}/credential"), &json!({}))
                    .await
                    .map_err(|error| EnrolError::Device {
                        device: id.clone(),
                        error,
                    })?;
                credential(&v)
            } else {
                None
            };
            Ok((created, token))
        }));
    }
    let mut out = Enrolled::default();
    for (d, t) in devices.iter_mut().zip(tasks) {
        let (created, token) = match t.await {
            Ok(r) => r?,
            Err(e) => {
                return Err(EnrolError::Device {
                    device: d.account.device_id.clone(),
                    error: ApiError::Status {
                        method: "POST",
                        path: "/api/v1/devices".into(),
                        status: 0,
                        body: format!("enrolment task failed: {e}"),
                    },
                });
            }
        };
        if created {
            out.created += 1;
        } else {
            out.existing += 1;
        }
        if let Some(token) = token {
            d.account.secret = Some(token);
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
