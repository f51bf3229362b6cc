//! GB/T 28181 alarm `Notify` over HTTP (cameras, perimeter sensors).
//!
//! `POST` the Notify XML (GB2312/GBK/UTF-8) to [`NOTIFY_PATH`]: the DeviceID is looked up in
//! the [`DeviceDirectory`](super::DeviceDirectory) ([`Credential::None`]; GB/T 28181 devices
//! are known by their 20-digit id, SIP registration being out of scope here). Answers:
//!
//! * 200 and the `Response` XML with `Result` OK — the alarm was delivered as an
//!   [`Inbound::Event`] (id per [`super::mapping::gb28181_event_id`]);
//! * 403 and the `Response` XML with `Result` ERROR — unknown DeviceID (counted `refused`);
//! * 400 and a plain-text reason — not an alarm Notify (counted `bad_input`);
//! * 503 and the `Response` with ERROR — the sink is unavailable.
//!
//! Mount [`router`] into the API (it carries the full path), or run [`Gb28181Config`] as a
//! source on its own listener.

use std::net::SocketAddr;

use async_trait::async_trait;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chengyun_domain::iot::Protocol;
use chrono::Utc;

use super::contract::{
    AuthRequest, Credential, Inbound, Resource, SinkError, Source, SourceConfig, SourceContext,
    SourceError,
};
use super::tcp::{Counter, count, deliver};
/// The codec refuses larger documents ([`crate::gb28181`] MAX_DOCUMENT_LEN); the body limit matches.
const MAX_DOCUMENT_LEN: usize = 64 * 1024;
use crate::gb28181::{encode_response, parse_notify};

/// Source name.
pub const NAME: &str = "gb28181";
/// Where the router answers.
pub const NOTIFY_PATH: &str = "/ingest/gb28181/notify";

/// The GB/T 28181 alarm endpoint on its own listener.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gb28181Config {
    /// Listen address (port 0 = any free port).
    pub listen: SocketAddr,
}

impl Default for Gb28181Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7613)),
        }
    }
}

impl SourceConfig for Gb28181Config {
    fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(Gb28181Source {
            config: self.clone(),
        }))
    }
}

/// The endpoint as a source.
#[derive(Debug)]
pub struct Gb28181Source {
    config: Gb28181Config,
}

#[async_trait]
impl Source for Gb28181Source {
    fn name(&self) -> &str {
        NAME
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::TcpPort(self.config.listen),
            Resource::HttpPath(NOTIFY_PATH.into()),
        ]
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let app = router(ctx.clone());
        super::http_listener::serve_router(NAME, self.config.listen, app, &ctx).await
    }
}

/// The Notify endpoint at [`NOTIFY_PATH`], for mounting into the API's router (merge it).
/// The peer address is logged when the server was started with connect info.
pub fn router(ctx: SourceContext) -> Router {
    Router::new()
        .route(NOTIFY_PATH, post(notify))
        .layer(DefaultBodyLimit::max(MAX_DOCUMENT_LEN))
        .with_state(ctx)
}

fn xml(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            "Application/MANSCDP+xml; charset=GB2312",
        )],
        body,
    )
        .into_response()
}

async fn notify(
    State(ctx): State<SourceContext>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(p))| p);
    count(&ctx, NAME, Counter::Accepted, 1);
    let notify = match parse_notify(&body) {
        Ok(n) => n,
        Err(e) => {
            count(&ctx, NAME, Counter::BadInput, 1);
            tracing::warn!(source = NAME, ?peer, error = %e, "malformed Notify");
            return (
                StatusCode::BAD_REQUEST,
                format!("not an alarm Notify: {e}\n"),
            )
                .into_response();
        }
    };
    count(&ctx, NAME, Counter::Messages, 1);
    let request = AuthRequest {
        protocol: Protocol::Gb28181,
        terminal_id: notify.device_id.clone(),
        credential: Credential::None,
        peer,
    };
    let session = match ctx.directory.authenticate(request).await {
        Ok(s) => s,
        Err(refusal) => {
            count(&ctx, NAME, Counter::Refused, 1);
            tracing::warn!(source = NAME, ?peer, device = %notify.device_id, reason = %refusal.reason, "alarm from an unknown device refused");
            let status = if refusal.temporary {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::FORBIDDEN
            };
            return xml(status, encode_response(&notify, false));
        }
    };
    let report = super::mapping::gb28181_event(&notify, Utc::now());
    tracing::info!(source = NAME, device = %session.device_id, event = %report.event.id, priority = notify.priority, description = ?notify.description, "alarm");
    match deliver(&ctx, NAME, &session, Inbound::Event(report)).await {
        Ok(()) => {
            count(&ctx, NAME, Counter::Replies, 1);
            xml(StatusCode::OK, encode_response(&notify, true))
        }
        Err(SinkError::Unavailable(_)) => xml(
            StatusCode::SERVICE_UNAVAILABLE,
            encode_response(&notify, false),
        ),
        Err(_) => xml(
            StatusCode::UNPROCESSABLE_ENTITY,
            encode_response(&notify, false),
        ),
    }
}
