//! `GET /api/v1/iot/gateways`: where devices connect to this node.
//!
//! Integrators configuring terminals (and `chengyun sim --target`) ask the
//! server instead of reading its config: the TCP gateways (JT/T 808, watch)
//! and the MQTT broker with the addresses they are bound to, and the HTTP
//! telemetry and GB/T 28181 Notify endpoints, which live on the API listener
//! itself (their `path` is relative to the API's base URL).

use crate::error::ApiResult;
use crate::extract::{CurrentUser, Json};
use crate::state::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One way in for devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Gateway {
    /// `jt808`, `watch`, `mqtt`, `http` or `gb28181`.
    pub name: String,
    /// The protocol and transport in words (`JT/T 808 over TCP` …).
    pub protocol: String,
    /// `host:port` the gateway is bound to (TCP gateways and the MQTT broker).
    pub address: Option<String>,
    /// Path on the API listener (HTTP telemetry, GB/T 28181 Notify).
    pub path: Option<String>,
    /// How a device proves who it is.
    pub credential: String,
}

/// The gateways this node serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Gateways {
    pub gateways: Vec<Gateway>,
}

/// The HTTP endpoints every node serves on its API listener.
pub fn api_listener_gateways() -> Vec<Gateway> {
    vec![
        Gateway {
            name: "http".into(),
            protocol: "HTTP JSON telemetry batches".into(),
            address: None,
            path: Some(chengyun_ingest::source::http::TELEMETRY_PATH.into()),
            credential: "Authorization: Bearer <terminal id>:<secret>".into(),
        },
        Gateway {
            name: "gb28181".into(),
            protocol: "GB/T 28181 MANSCDP Notify (alarms, keepalives)".into(),
            address: None,
            path: Some(chengyun_ingest::source::gb28181::NOTIFY_PATH.into()),
            credential: "the 20-digit DeviceID of a registered device".into(),
        },
    ]
}

/// Where devices connect: the TCP gateways and MQTT broker this node started
/// (bound addresses) and the HTTP endpoints on the API listener.
#[utoipa::path(get, path = "/api/v1/iot/gateways", tag = "iot",
    responses((status = 200, description = "The device gateways of this node", body = Gateways)),
    security(("session" = []), ("token" = [])))]
pub async fn list(State(state): State<AppState>, _me: CurrentUser) -> ApiResult<Json<Gateways>> {
    let mut gateways = state.gateways();
    gateways.sort_by(|a, b| a.name.cmp(&b.name));
    gateways.extend(api_listener_gateways());
    Ok(Json(Gateways { gateways }))
}
