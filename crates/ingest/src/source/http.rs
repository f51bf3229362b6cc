//! Batched telemetry over HTTP (weigh stations and other devices that cannot hold a
//! connection).
//!
//! ```text
//! POST /ingest/http/v1/telemetry
//! Authorization: Bearer <device token>
//! Content-Type: application/json
//!
//! [ { "at": "2026-05-01T08:00:00Z", "values": { "gross_mass_t": 52.3, "axles": 6 },
//!     "location": { "lon": 117.03, "lat": 28.24 }, "events": [ { "id": "…" } ] }, … ]
//! ```
//!
//! `at` defaults to the time of receipt, `location` and `events` are optional. The token is
//! checked by [`DeviceDirectory::authenticate`](super::DeviceDirectory::authenticate) with
//! [`Protocol::Http`] and [`Credential::Token`]. Answers:
//!
//! * 200 `{ "accepted": n, "rejected": m, "results": [ { "index": i, "ok": bool, "error": … } ] }`
//!   — each item is delivered on its own; a malformed item or one the sink rejects is
//!   reported by index and does not affect the others;
//! * 400 — the body is not a JSON array (the error names line and column), or is empty;
//! * 401 — missing or malformed `Authorization`; 403 — token refused;
//! * 413 — more than `max_items` items or a body over `max_body_bytes`;
//! * 503 — the sink is unavailable (items after the first unavailable one are not tried).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_trait::async_trait;
use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chengyun_domain::iot::{EventOccurrence, GeoPoint, Protocol, Telemetry, Value};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contract::{
    AuthRequest, Credential, Inbound, Resource, SinkError, Source, SourceConfig, SourceContext,
    SourceError,
};
use super::tcp::{Counter, count, deliver};

/// Source name.
pub const NAME: &str = "http";
/// Where the router answers.
pub const TELEMETRY_PATH: &str = "/ingest/http/v1/telemetry";

/// The HTTP telemetry endpoint's limits and, when run as a source, its listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address when run on its own (port 0 = any free port).
    pub listen: SocketAddr,
    /// Most items per request.
    pub max_items: usize,
    /// Largest body.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7614)),
            max_items: 1000,
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl SourceConfig for HttpConfig {
    fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        if self.max_items == 0 || self.max_body_bytes < 64 {
            return Err(SourceError::Config {
                source_name: NAME.into(),
                reason: "max_items must be at least 1 and max_body_bytes at least 64".into(),
            });
        }
        Ok(Box::new(HttpSource {
            config: self.clone(),
        }))
    }
}

/// The endpoint as a source on its own listener.
#[derive(Debug)]
pub struct HttpSource {
    config: HttpConfig,
}

#[async_trait]
impl Source for HttpSource {
    fn name(&self) -> &str {
        NAME
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::TcpPort(self.config.listen),
            Resource::HttpPath(TELEMETRY_PATH.into()),
        ]
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let app = router_with(ctx.clone(), &self.config);
        super::http_listener::serve_router(NAME, self.config.listen, app, &ctx).await
    }
}

#[derive(Clone)]
struct AppState {
    ctx: SourceContext,
    max_items: usize,
}

/// The endpoint at [`TELEMETRY_PATH`] with default limits, for mounting into the API.
pub fn router(ctx: SourceContext) -> Router {
    router_with(ctx, &HttpConfig::default())
}

/// The endpoint with the given limits.
pub fn router_with(ctx: SourceContext, config: &HttpConfig) -> Router {
    Router::new()
        .route(TELEMETRY_PATH, post(telemetry))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(AppState {
            ctx,
            max_items: config.max_items,
        })
}

/// One item of a batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    values: BTreeMap<String, Value>,
    #[serde(default)]
    location: Option<GeoPoint>,
    #[serde(default)]
    events: Vec<EventOccurrence>,
}

/// The outcome of one item.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemResult {
    /// Position in the batch.
    pub index: usize,
    /// Delivered.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchResult {
    /// Items delivered.
    pub accepted: usize,
    /// Items refused.
    pub rejected: usize,
    /// Per item, in order.
    pub results: Vec<ItemResult>,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn telemetry(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = &state.ctx;
    let peer = peer.map(|Extension(ConnectInfo(p))| p);
    count(ctx, NAME, Counter::Accepted, 1);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        count(ctx, NAME, Counter::Refused, 1);
        tracing::warn!(source = NAME, ?peer, "request without a bearer token");
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer <device token> is required".into(),
        );
    };
    let request = AuthRequest {
        protocol: Protocol::Http,
        terminal_id: String::new(),
        credential: Credential::Token(token.to_owned()),
        peer,
    };
    let session = match ctx.directory.authenticate(request).await {
        Ok(s) => s,
        Err(refusal) if refusal.temporary => {
            return error(StatusCode::SERVICE_UNAVAILABLE, refusal.reason);
        }
        Err(refusal) => {
            count(ctx, NAME, Counter::Refused, 1);
            tracing::warn!(source = NAME, ?peer, reason = %refusal.reason, "device token refused");
            return error(
                StatusCode::FORBIDDEN,
                format!("device refused: {}", refusal.reason),
            );
        }
    };
    let items: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(items) => items,
        Err(e) => {
            count(ctx, NAME, Counter::BadInput, 1);
            tracing::warn!(source = NAME, device = %session.device_id, error = %e, "malformed batch");
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be a JSON array of telemetry items: {e}"),
            );
        }
    };
    if items.is_empty() {
        count(ctx, NAME, Counter::BadInput, 1);
        return error(StatusCode::BAD_REQUEST, "the batch is empty".into());
    }
    if items.len() > state.max_items {
        count(ctx, NAME, Counter::BadInput, 1);
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} items, at most {} per request",
                items.len(),
                state.max_items
            ),
        );
    }
    let now = Utc::now();
    let mut results = Vec::with_capacity(items.len());
    let mut accepted = 0;
    for (index, raw) in items.into_iter().enumerate() {
        let item: Item = match serde_json::from_value(raw) {
            Ok(i) => i,
            Err(e) => {
                count(ctx, NAME, Counter::BadInput, 1);
                results.push(ItemResult {
                    index,
                    ok: false,
                    error: Some(format!("item {index}: {e}")),
                });
                continue;
            }
        };
        count(ctx, NAME, Counter::Messages, 1);
        let telemetry = Telemetry {
            device_id: session.device_id.clone(),
            at: item.at.unwrap_or(now),
            values: item.values,
            events: item.events,
            location: item.location,
        };
        match deliver(ctx, NAME, &session, Inbound::Telemetry(telemetry)).await {
            Ok(()) => {
                accepted += 1;
                results.push(ItemResult {
                    index,
                    ok: true,
                    error: None,
                });
            }
            Err(SinkError::Unavailable(reason)) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("telemetry pipeline unavailable after {accepted} items: {reason}"),
                );
            }
            Err(e) => results.push(ItemResult {
                index,
                ok: false,
                error: Some(format!("item {index}: {e}")),
            }),
        }
    }
    let rejected = results.len() - accepted;
    (
        StatusCode::OK,
        Json(BatchResult {
            accepted,
            rejected,
            results,
        }),
    )
        .into_response()
}
